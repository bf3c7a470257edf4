"""One resumable sweep over train.py settings: the batch-size, learning-rate and L1 studies, or any grid.

    python sweep.py batch-size --output-dir results/batch_size        # the committed batch-size study
    python sweep.py learning-rate --output-dir results/learning_rate  # peak lr x optimizer, the 3 models and the control
    python sweep.py l1 --output-dir results/l1                        # BN's L1 factor, 20 epochs
    python sweep.py group-axis --output-dir results/group_axis        # LN -> GN -> IN, 20 epochs, with shifts
    python sweep.py batch-size --vary batch-size 4 64 --seeds 1 --epochs 1 --output-dir outputs/bs
    python sweep.py grid --vary dropout 0 0.1 --norm gn --optimizer sgd --output-dir outputs/dropout

A study is a preset grid; `--vary FLAG VALUE...` sets or adds an axis (any train.py option), and every
other train.py option given (here `--optimizer sgd`) applies to every point. Each point (setting values,
model, seed) is an ordinary train.py run in <output-dir>/<norm>/<setting>-<value>/.../seed-<k>/. Killing
the sweep and rerunning the same command resumes the unfinished point from its last epoch and skips
finished ones; a point whose loss becomes NaN is recorded as diverged, not a crash of the sweep. Every
point prints "point k of n", the time so far and an estimate of the time left; summary.json and the
study's figure are rewritten after every point.

When the grid varies the batch size but not the learning rate, the peak learning rate follows it:
lr = base_lr * (batch / base_batch) ** power (`--lr-scaling`: sqrt, linear or none). The batch-size
study then also evaluates its BN models with the statistics of each test batch (bn_test_time.json).
"""

import argparse
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass

import quiet_tf  # noqa: E402

quiet_tf.start()


import data as data_lib  # noqa: E402
import machine  # noqa: E402
import model as model_lib  # noqa: E402
import plots  # noqa: E402
import shift  # noqa: E402
import rundir  # noqa: E402
import train  # noqa: E402
import training  # noqa: E402
import variants  # noqa: E402

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
    "batch-size": Study((("batch-size", ("2", "4", "8", "32", "128", "512")),), variants.NORMALIZED, (1, 2, 3), 2,
                        "the normalized models over training batch sizes, lr following the batch size"),
    "learning-rate": Study((("optimizer", ("adam", "sgd")),
                            ("lr", ("0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"))),
                           variants.ALL_NORMS, (1, 2), 2,
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
# The shifts every group-axis point is evaluated on (all of shift.py's; their average leaves out "clean").


def parse_args(argv=None):
    parser = rundir.Parser(prog="sweep.py", description=__doc__.split("\n")[0], allow_abbrev=False,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog="studies:\n" + "\n".join(f"  {n:14} {s.about}" for n, s in STUDIES.items()))
    parser.add_argument("study", choices=tuple(STUDIES))
    parser.add_argument("--vary", nargs="+", action="append", default=[], metavar=("FLAG", "VALUE"),
                        help="a train.py option and its values, e.g. --vary lr 0.01 0.1 (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--norm", choices=(*variants.ALL_NORMS, train.ALL, "all+none"),
                        help="all: bn, gn, ln; all+none: and the control (default: the study's)")
    parser.add_argument("--epochs", type=int, help="the same for every point (default: the study's)")
    parser.add_argument("--base-lr", type=float, default=0.01, help="peak learning rate at --base-batch-size")
    parser.add_argument("--base-batch-size", type=int, default=128)
    parser.add_argument("--lr-scaling", choices=tuple(LR_SCALINGS), default="sqrt",
                        help="how the peak learning rate follows a varied batch size")
    parser.add_argument("--test-time-batches", type=int, nargs="+", default=list(TEST_TIME_BATCHES),
                        help="batch-size study: test-batch sizes for BN with batch statistics")
    parser.add_argument("--output-dir", help="default: outputs/<study>")
    parser.add_argument("--reuse-dir", default="results",
                        help="group-axis: the 20-epoch study's folder whose ln, gn and in runs are reused when they "
                             "finished with the same settings (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="retrain finished points")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2)
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args, args.train_flags = parser.parse_known_args(argv)
    study = STUDIES[args.study]
    # The other flags are train.py's, for every point: parsed by train.py's own parser.
    train_args, unknown = train.build_parser().parse_known_args(args.train_flags)
    for flag in unknown:
        parser.error(f"unrecognized argument {flag}: neither a sweep.py nor a train.py option")
    types = training.TrainConfig.field_types()
    args.base = training.TrainConfig(**{name: getattr(train_args, name) for name in types})
    axes = dict(study.axes)
    for flag, *values in args.vary:
        flag = flag.lstrip("-")
        if types.get(flag.replace("-", "_")) not in (int, float, str) or flag in NOT_SWEPT:
            parser.error(f"--vary {flag}: not a train.py setting that can be swept "
                         f"(not {', '.join(NOT_SWEPT)} or an on/off flag; see python train.py --help)")
        if not values:
            parser.error(f"--vary {flag}: give at least one value")
        axes[flag] = tuple(dict.fromkeys(values))
    if not axes and args.study != "group-axis":
        parser.error(f"the {args.study} study has no grid: give one with --vary FLAG VALUE...")
    args.axes = tuple(axes.items())
    args.seeds = list(dict.fromkeys(args.seeds or study.seeds))
    args.epochs = study.epochs if args.epochs is None else args.epochs
    args.norms = {None: study.norms, train.ALL: variants.NORMS, "all+none": variants.ALL_NORMS}.get(
        args.norm, (args.norm,))
    args.output_dir = args.output_dir or os.path.join("outputs", args.study.replace("-", "_"))
    if min(args.test_time_batches) < 1:
        parser.error(f"--test-time-batches must all be >= 1; received {min(args.test_time_batches)}")
    args.test_time_batches = sorted(set(args.test_time_batches))
    if args.base_batch_size < 1:
        parser.error(f"--base-batch-size must be >= 1; received {args.base_batch_size}")
    if not (args.base_lr > 0 and math.isfinite(args.base_lr)):
        parser.error(f"--base-lr must be > 0; received {args.base_lr}")
    try:
        args.points = grid_points(args)  # every point's configuration, checked before anything trains
    except training.ConfigError as error:
        parser.error(str(error))
    return args


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
    config: training.TrainConfig
    run_dir: str

    def describe(self):
        return " ".join([self.norm, *(f"{flag} {value}" for flag, value in self.setting), f"seed {self.seed}"])


def setting_value(flag, text):
    """A --vary value as its setting's type; ConfigError naming it when it is not one."""
    kind = training.TrainConfig.field_types()[flag.replace("-", "_")]
    try:
        return kind(text)
    except ValueError:
        raise training.ConfigError(f"--vary {flag} {text!r}: not {'an integer' if kind is int else 'a number'}") \
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
            if not setting and training.finished(config, reused, data_lib.source_name(config.data, config.data_dir)):
                run_dir = reused
            points.append(Point(norm, seed, setting, config, run_dir))
    return points


def group_axis_row(point, splits):
    """Where a group-axis point sits (groups and channels of each normalized layer), the run it read, and its
    trained model's test accuracy under every shift of shift.py."""
    config = point.config
    images, labels = splits[1]
    network = rundir.load_trained_model(point.run_dir)
    return {"groups_per_layer": model_lib.groups_per_layer(config.norm, config.network, config.groups,
                                                           config.group_size),
            "channels": [spec.filters for spec in config.network],
            "run_dir": os.path.relpath(point.run_dir),
            "shifts": {name: shift.accuracy(network.predict(shift.apply_shift(name, images), batch_size=1000,
                                                            verbose=0), labels)
                       for name in shift.SHIFTS}}


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


def run_point(point, splits, strategy):
    """Trains (or reuses) one point; returns (its summary row, whether it trained now)."""
    config = point.config
    try:
        result, trained = training.train_run(config, splits, point.run_dir, strategy, export=False)
    except training.TrainingDiverged as error:
        # A result like any other: marks the point finished, so a rerun does not train it again.
        result, trained = {"norm": point.norm, "seed": point.seed, "diverged": True,
                           "diverged_epoch": error.epoch, "epochs": error.epoch,
                           "final_accuracy": None, "final_ce": None, "config": config.record(splits[2])}, True
        rundir.write_json(rundir.file(point.run_dir, "result"), result)
    row = {"norm": point.norm, "seed": point.seed,
           **{flag.replace("-", "_"): getattr(config, flag.replace("-", "_")) for flag, _ in point.setting},
           "lr": config.lr, "batch_size": config.batch_size, "optimizer": config.optimizer,
           "steps_per_epoch": math.ceil(len(splits[0][0]) / config.batch_size),
           "diverged": bool(result.get("diverged", False))}
    for key in ("epochs", "final_accuracy", "final_ce", "best_accuracy", "best_epoch", "train_seconds",
                "mean_epoch_seconds", "trainable_params", "diverged_epoch"):
        if key in result:
            row[key] = result[key]
    row["l1"] = config.l1 if point.norm == "bn" else None
    kernels = rundir.file(point.run_dir, "kernels")
    if os.path.exists(kernels) and any(flag == "l1" for flag, _ in point.setting):
        epochs = rundir.read_json(kernels)
        row["kernel_norms"] = [e["kernel_norms"] for e in epochs]
        row["near_zero"] = [e["near_zero"] for e in epochs]
        row["near_zero_all"] = [e["near_zero_all"] for e in epochs]
    return row, trained


def settings(args, source):
    first = args.points[0].config
    out = {"study": args.study, "epochs": args.epochs, "seeds": args.seeds, "norms": list(args.norms),
           "grid": {flag: list(values) for flag, values in args.axes}, "other_flags": args.train_flags,
           "data": source, "train_limit": first.train_limit, "test_limit": first.test_limit,
           "evaluated_on": "validation" if first.validation_size else "test",
           # The recipe's settings that no axis varies (report.py's sentences take them from here).
           **{name: getattr(first, name) for name in ("optimizer", "lr", "batch_size", "warmup_fraction")
              if name.replace("_", "-") not in dict(args.axes)
              and not (name == "lr" and lr_follows_batch(args))}}
    if lr_follows_batch(args):
        out.update(batch_sizes=sorted(int(v) for v in dict(args.axes)["batch-size"]),
                   lr_rule=f"peak lr = {args.base_lr:g} * (batch / {args.base_batch_size}) ** "
                           f"{LR_SCALINGS[args.lr_scaling]:g} ({args.lr_scaling} scaling); "
                           f"warm-up {100 * first.warmup_fraction:g} %, cosine to 0",
                   base_lr=args.base_lr, base_batch_size=args.base_batch_size, lr_scaling=args.lr_scaling)
    return out


def write_summary(args, runs, source):
    summary = {"settings": settings(args, source), "runs": runs, **machine.environment()}
    os.makedirs(args.output_dir, exist_ok=True)  # its first points may be runs of another folder, reused
    rundir.write_json(rundir.summary_path(args.output_dir), summary)
    figure = study_figure(args, runs, summary["settings"])
    if figure is not None:
        rundir.save_figure(figure, os.path.join(args.output_dir, f"{args.study.replace('-', '_')}.png"))
    return summary


def study_figure(args, runs, settings):
    if not runs or args.study == "grid":
        return None
    if args.study == "batch-size" and "lr_rule" in settings:
        return plots.plot_batch_size(runs, model_lib.NORM_LABELS, args.epochs, settings["lr_rule"])
    if args.study == "learning-rate":
        return plots.plot_learning_rate(runs, model_lib.NORM_LABELS, args.epochs, settings["warmup_fraction"])
    if args.study == "l1" and any("kernel_norms" in run for run in runs):
        return plots.plot_l1(runs)
    return None


def accuracy_with_batch_statistics(network, images, labels, batch_size):
    """Test accuracy when every BN layer normalizes with the statistics of its test batch (see shift.py)."""
    return shift.accuracy(shift.predict_with_batch_statistics(network, images, batch_size), labels)


def bn_test_time(args, test_split):
    """Batch-size study: BN models evaluated with moving averages and with test-batch statistics."""
    images, labels = test_split
    rows = []
    sizes = sorted(int(v) for v in dict(args.axes)["batch-size"])
    for batch_size in sorted({sizes[0], args.base_batch_size} & set(sizes)):
        run_dir = rundir.run_dir_for(args.output_dir, "bn", args.seeds[0], setting=(("batch-size", batch_size),))
        if not os.path.exists(rundir.file(run_dir, "model")):
            continue
        network = rundir.load_trained_model(run_dir)
        row = {"trained_batch_size": batch_size, "seed": args.seeds[0],
               "moving_averages": shift.accuracy(model_lib.predict_probabilities(network, images), labels),
               "batch_statistics": {}}
        for test_batch in args.test_time_batches:
            if test_batch > len(images):
                continue
            row["batch_statistics"][str(test_batch)] = accuracy_with_batch_statistics(network, images, labels,
                                                                                      test_batch)
            print(f"bn trained at batch {batch_size}: test batch {test_batch}, batch statistics: "
                  f"{100 * row['batch_statistics'][str(test_batch)]:.2f}%")
        print(f"bn trained at batch {batch_size}: moving averages: {100 * row['moving_averages']:.2f}%")
        rows.append(row)
    payload = {"test_images": len(images), "models": rows}
    path = os.path.join(args.output_dir, "bn_test_time.json")
    if not rows and os.path.exists(path):
        # Models are not committed: a clone that reruns the finished sweep keeps the table their run wrote.
        print(f"no BN model.keras in {args.output_dir} to evaluate; {path} left as it was")
        return rundir.read_json(path)
    rundir.write_json(path, payload)
    return payload


def clock(seconds):
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{seconds:02d}s"


def run(args):
    first = args.points[0].config
    strategy = training.configure(first)
    splits = training.load_splits(first)
    runs, trained, started, training_seconds = [], 0, time.perf_counter(), 0.0
    total = len(args.points)
    for k, point in enumerate(args.points, 1):
        print(f"point {k} of {total}: {point.describe()} ({args.epochs} epochs, peak lr {point.config.lr:.5g}) "
              f"-> {point.run_dir}", flush=True)
        point_started = time.perf_counter()
        row, was_trained = run_point(point, splits, strategy)
        if args.study == "group-axis" and not row["diverged"]:
            row.update(group_axis_row(point, splits))
        runs.append(row)
        write_summary(args, runs, splits[2])  # a killed sweep still leaves what it finished
        if was_trained:
            trained += 1
            training_seconds += time.perf_counter() - point_started
        left = training_seconds / trained * (total - k) if trained else float("nan")
        outcome = ("" if was_trained else "already finished; ") + (
            f"diverged in epoch {row['diverged_epoch']}" if row["diverged"]
            else f"accuracy {100 * row['final_accuracy']:.2f}%")
        print(f"point {k} of {total}: {point.describe()}: {outcome} | elapsed {clock(time.perf_counter() - started)}"
              + (f", about {clock(left)} left" if math.isfinite(left) and k < total else ""), flush=True)
    if args.study == "batch-size" and "bn" in args.norms and "batch-size" in dict(args.axes):
        bn_test_time(args, splits[1])
    return 0


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (data_lib.DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished points and epochs are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
