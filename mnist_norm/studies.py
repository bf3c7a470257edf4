"""The sweeps' studies as data, without TensorFlow: each study's preset grid (`STUDIES`, the group axis `GROUP_AXIS`)
and a sweep's plan (`SweepPlan`: its settings and every point's validated configuration and folder). A plan is made
from settings alone (`sweep_plan`): sweep.py's flags give them, and a committed summary.json records them under
"settings", so `plan_from_settings` remakes the plan of a committed study with no second list of its runs.
sweep.py and reproduce.py check a plan before TensorFlow loads; mnist_norm.sweep runs it.
"""

import dataclasses
import itertools
import os
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
    "batch-size": Study((("batch-size", ("2", "4", "8", "32", "128", "512")),),
                        ("bn", "gn", "ln", "in", "brn", "gnws", "frn", "rms"), (1, 2, 3), 2,
                        "the normalized models over training batch sizes, lr following the batch size"),
    "learning-rate": Study((("optimizer", ("adam", "sgd")),
                            ("lr", ("0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"))),
                           ("bn", "gn", "ln", "in", "none", "brn", "gnws", "frn", "rms"), (1, 2), 2,
                           "every model, the control too, over peak learning rates, Adam and SGD"),
    "l1": Study((("l1", ("0", "1e-5", "1e-4", "1e-3")),), ("bn",), (1, 2, 3), 20,
                "BN at several L1 factors, with per-epoch kernel norms"),
    "group-axis": Study((), ("ln", "gn", "in"), (1, 2, 3), 20,
                        "from LN (one group) to IN (one channel per group), 20 epochs, with the shifts"),
    "grid": Study((), variants.NORMS, (1,), 2, "any grid given with --vary"),
}
# A study's figure shows the models it was made with; the variants after GN, named to a study later, get a figure of
# their own beside the ones they rework (<study>_after_gn.png).
FIGURE_NORMS = {"batch-size": ("bn", "gn", "ln", "in"), "learning-rate": ("bn", "gn", "ln", "in", "none")}
AFTER_GN_NORMS = ("bn", "brn", "gn", "gnws", "ln", "rms", "frn")
# The deployment study's models (deploy.py study): the study's five, as committed in results/deploy.
DEPLOY_NORMS = ("bn", "gn", "ln", "in", "none")
# The group axis (the GN paper's Table 3), from all channels in one group to one channel per group: (norm, setting)
# in that order. The plain ln, gn (4 groups) and in points are the 20-epoch study's runs, reused when they finished
# with the same settings (--reuse-dir).
GROUP_AXIS = (("ln", ()), ("gn", (("groups", "2"),)), ("gn", (("group-size", "4"),)), ("gn", ()),
              ("gn", (("group-size", "2"),)), ("in", ()))


# The settings a sweep's plan is made from, as summary.json's "settings" records them (with other descriptive keys).
PLAN_KEYS = ("study", "grid", "seeds", "norms", "epochs", "other_flags", "base_lr", "base_batch_size", "lr_scaling")


@dataclass
class SweepPlan:
    """One sweep: its settings (the attribute names are sweep.py's flags) and its points (`grid_points`)."""

    study: str
    axes: tuple  # ((flag, (value strings...)), ...), outermost first
    seeds: list
    norms: tuple
    epochs: int
    train_flags: list  # train.py's flags applied to every point
    base: config_lib.TrainConfig  # their configuration
    output_dir: str
    base_lr: float = 0.01
    base_batch_size: int = 128
    lr_scaling: str = "sqrt"
    test_time_batches: tuple = TEST_TIME_BATCHES
    reuse_dir: str = "results"
    verbose: int = 2
    force: bool = False
    points: list = dataclasses.field(default_factory=list)
    # {run folder: run record} of runs another plan will make: a group-axis point reuses such a run too.
    reuse_planned: dict = dataclasses.field(default_factory=dict)
    # {variant: why} of the study's variants this Keras cannot build: their unfinished points are left out.
    left_out: dict = dataclasses.field(default_factory=dict)

    def settings(self):
        """The plan's settings as summary.json records them (`plan_from_settings` reads them back)."""
        out = {"study": self.study, "grid": {flag: list(values) for flag, values in self.axes},
               "seeds": list(self.seeds), "norms": list(self.norms), "epochs": self.epochs,
               "other_flags": list(self.train_flags)}
        if lr_follows_batch(self):
            out.update(base_lr=self.base_lr, base_batch_size=self.base_batch_size, lr_scaling=self.lr_scaling)
        return out


def sweep_plan(study, grid, seeds, norms, epochs, other_flags, output_dir, base_lr=0.01, base_batch_size=128,
               lr_scaling="sqrt", test_time_batches=TEST_TIME_BATCHES, reuse_dir="results", verbose=2, force=False,
               reuse_planned=None):
    """A sweep's plan, every point's configuration validated; raises config.ConfigError naming a bad setting.
    `grid`: {flag: [values as text]}; `other_flags`: train.py's flags for every point."""
    train_args, unknown = config_lib.flag_parser().parse_known_args(list(other_flags))
    if unknown:
        raise config_lib.ConfigError(f"unrecognized argument {unknown[0]}: neither a sweep.py nor a train.py option")
    base = config_lib.TrainConfig(**config_lib.flag_settings(train_args, tuple(norms)))
    plan = SweepPlan(study, tuple((flag, tuple(values)) for flag, values in grid.items()), list(seeds), tuple(norms),
                     epochs, list(other_flags), base, output_dir, base_lr, base_batch_size, lr_scaling,
                     tuple(sorted(set(test_time_batches))), reuse_dir, verbose, force,
                     reuse_planned=dict(reuse_planned or {}))
    plan.points = grid_points(plan)
    return plan


def plan_from_settings(settings, output_dir=None, **options):
    """The plan of the sweep a summary's "settings" record (into `output_dir`, default the folder they name)."""
    given = {key: settings[key] for key in PLAN_KEYS if key in settings}
    return sweep_plan(**given, output_dir=output_dir or settings["output_dir"], **options)


def lr_follows_batch(plan):
    names = [flag for flag, _ in plan.axes]
    given = {flag.split("=")[0] for flag in plan.train_flags}
    return "batch-size" in names and "lr" not in names and "--lr" not in given


def learning_rate(plan, batch_size):
    return plan.base_lr * (batch_size / plan.base_batch_size) ** LR_SCALINGS[plan.lr_scaling]


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


def group_axis_points(plan):
    """The group axis's points, seed by seed, each with its validated configuration; a plain ln, gn or in point
    is the run in --reuse-dir when that finished with the same settings (or another plan makes it)."""
    points = []
    for seed in plan.seeds:
        for norm, setting in GROUP_AXIS:
            changes = {flag.replace("-", "_"): setting_value(flag, value) for flag, value in setting}
            config = plan.base.replace(**changes, norm=norm, seed=seed, epochs=plan.epochs,
                                       output_dir=plan.output_dir, verbose=plan.verbose,
                                       force=plan.force).validate(buildable=False)
            run_dir = rundir.run_dir_for(plan.output_dir, norm, seed, setting=setting)
            reused = os.path.normpath(rundir.run_dir_for(plan.reuse_dir, norm, seed))
            source = data_lib.source_name(config.data, config.data_dir)
            if not setting and (config_lib.finished(config, reused, source)
                                or plan.reuse_planned.get(reused) == config.record(source)):
                run_dir = reused
            points.append(Point(norm, seed, setting, config, run_dir))
    return points


def _unbuildable(plan, config, run_dir):
    """Whether a point is of a variant this Keras cannot build and must be trained: then it is left out, and
    plan.left_out says why (a finished run of it is kept: reading it builds nothing)."""
    missing = variants.missing_keras(config.norm)
    if not missing or config_lib.finished(config, run_dir, data_lib.source_name(config.data, config.data_dir)):
        return False
    plan.left_out[config.norm] = missing
    return True


def grid_points(plan):
    """Every (setting, seed, norm) point in training order (outer axes first, then seeds, then models), each with
    its validated configuration."""
    if plan.study == "group-axis":
        return group_axis_points(plan)
    points = []
    flags = [flag for flag, _ in plan.axes]
    for values in itertools.product(*(values for _, values in plan.axes)):
        setting = tuple(zip(flags, values))
        changes = {flag.replace("-", "_"): setting_value(flag, value) for flag, value in setting}
        if lr_follows_batch(plan):
            changes["lr"] = learning_rate(plan, changes["batch_size"])
        for seed in plan.seeds:
            for norm in plan.norms:
                config = plan.base.replace(**changes, norm=norm, seed=seed, epochs=plan.epochs,
                                           output_dir=plan.output_dir, verbose=plan.verbose,
                                           force=plan.force).validate(buildable=False)
                run_dir = rundir.run_dir_for(plan.output_dir, norm, seed, setting=setting)
                if _unbuildable(plan, config, run_dir):
                    continue
                points.append(Point(norm, seed, setting, config, run_dir))
    return points
