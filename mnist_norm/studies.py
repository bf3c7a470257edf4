"""The sweeps' studies as data, without TensorFlow: each study's grid (`STUDIES`, the group axis `GROUP_AXIS`) and
every point's validated configuration and folder (`grid_points`). sweep.py parses and checks a sweep with it before
TensorFlow loads; mnist_norm.sweep runs the points.
"""

import itertools
from dataclasses import dataclass

from . import config as config_lib
from . import data as data_lib
from . import rundir
from . import variants

LR_SCALINGS = {"sqrt": 0.5, "linear": 1.0, "none": 0.0}  # lr = base_lr * (batch / base_batch) ** power
TEST_TIME_BATCHES = (1, 2, 8, 128, 1000)
NOT_SWEPT = ("norm", "seed", "seeds", "epochs", "output-dir", "force", "verbose", "debug")


@dataclass(frozen=True)
class Study:
    axes: tuple  # ((train.py flag without dashes, (values as strings, ...)), ...), outermost first
    norms: tuple
    seeds: tuple
    epochs: int
    about: str


STUDIES = {
    # A study's models are named, not "every variant": a variant added later joins a study by being named here.
    "batch-size": Study((("batch-size", ("2", "4", "8", "32", "128", "512")),), ("bn", "gn", "ln", "in"), (1, 2, 3), 2,
                        "the normalized models over training batch sizes, lr following the batch size"),
    "learning-rate": Study((("optimizer", ("adam", "sgd")),
                            ("lr", ("0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"))),
                           ("bn", "gn", "ln", "in", "none"), (1, 2), 2,
                           "every model, the control too, over peak learning rates, Adam and SGD"),
    "l1": Study((("l1", ("0", "1e-5", "1e-4", "1e-3")),), ("bn",), (1, 2, 3), 20,
                "BN at several L1 factors, with per-epoch kernel norms"),
    "group-axis": Study((), ("ln", "gn", "in"), (1, 2, 3), 20,
                        "from LN (one group) to IN (one channel per group), 20 epochs, with the shifts"),
    "grid": Study((), variants.NORMS, (1,), 2, "any grid given with --vary"),
}
# The group axis (the GN paper's Table 3), from all channels in one group to one channel per group: (norm, setting)
# in that order. The plain ln, gn (4 groups) and in points are the 20-epoch study's runs, reused when they finished
# with the same settings (--reuse-dir).
GROUP_AXIS = (("ln", ()), ("gn", (("groups", "2"),)), ("gn", (("group-size", "4"),)), ("gn", ()),
              ("gn", (("group-size", "2"),)), ("in", ()))


def lr_follows_batch(args):
    names = [flag for flag, _ in args.axes]
    given = {flag.split("=")[0] for flag in args.train_flags}
    return "batch-size" in names and "lr" not in names and "--lr" not in given


def learning_rate(args, batch_size):
    return args.base_lr * (batch_size / args.base_batch_size) ** LR_SCALINGS[args.lr_scaling]


@dataclass
class Point:
    norm: str
    seed: int
    setting: tuple  # ((flag, value string), ...)
    config: config_lib.TrainConfig
    run_dir: str

    def describe(self):
        return " ".join([self.norm, *(f"{flag} {value}" for flag, value in self.setting), f"seed {self.seed}"])


def setting_value(flag, text):
    """A --vary value as its setting's type; ConfigError naming it when it is not one."""
    kind = config_lib.TrainConfig.field_types()[flag.replace("-", "_")]
    try:
        return kind(text)
    except ValueError:
        raise config_lib.ConfigError(f"--vary {flag} {text!r}: not {'an integer' if kind is int else 'a number'}") \
            from None


def group_axis_points(args):
    """The group axis's points, seed by seed, each with its validated configuration; a plain ln, gn or in point
    is the run in --reuse-dir when that finished with the same settings."""
    points = []
    for seed in args.seeds:
        for norm, setting in GROUP_AXIS:
            changes = {flag.replace("-", "_"): setting_value(flag, value) for flag, value in setting}
            config = args.base.replace(**changes, norm=norm, seed=seed, epochs=args.epochs,
                                       output_dir=args.output_dir, verbose=args.verbose,
                                       force=args.force).validate()
            run_dir = rundir.run_dir_for(args.output_dir, norm, seed, setting=setting)
            reused = rundir.run_dir_for(args.reuse_dir, norm, seed)
            if not setting and config_lib.finished(config, reused, data_lib.source_name(config.data, config.data_dir)):
                run_dir = reused
            points.append(Point(norm, seed, setting, config, run_dir))
    return points


def grid_points(args):
    """Every (setting, seed, norm) point in training order (outer axes first, then seeds, then models), each with
    its validated configuration."""
    if args.study == "group-axis":
        return group_axis_points(args)
    points = []
    flags = [flag for flag, _ in args.axes]
    for values in itertools.product(*(values for _, values in args.axes)):
        setting = tuple(zip(flags, values))
        changes = {flag.replace("-", "_"): setting_value(flag, value) for flag, value in setting}
        if lr_follows_batch(args):
            changes["lr"] = learning_rate(args, changes["batch_size"])
        for seed in args.seeds:
            for norm in args.norms:
                config = args.base.replace(**changes, norm=norm, seed=seed, epochs=args.epochs,
                                           output_dir=args.output_dir, verbose=args.verbose,
                                           force=args.force).validate()
                run_dir = rundir.run_dir_for(args.output_dir, norm, seed, setting=setting)
                points.append(Point(norm, seed, setting, config, run_dir))
    return points
