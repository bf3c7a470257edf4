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

import math
import os
import sys

from mnist_norm import config as config_lib
from mnist_norm import data as data_lib
from mnist_norm import rundir
from mnist_norm import studies
from mnist_norm import variants


def parse_args(argv=None):
    parser = rundir.Parser(prog="sweep.py", description=__doc__.split("\n")[0], allow_abbrev=False,
                           epilog="studies:\n" + "\n".join(f"  {n:14} {s.about}" for n, s in studies.STUDIES.items()))
    parser.add_argument("study", choices=tuple(studies.STUDIES))
    parser.add_argument("--vary", nargs="+", action="append", default=[], metavar=("FLAG", "VALUE"),
                        help="a train.py option and its values, e.g. --vary lr 0.01 0.1 (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", help="(default: the study's)")
    parser.add_argument("--norm", choices=(*variants.ALL_NORMS, config_lib.ALL, "all+none"),
                        help="all: bn, gn, ln; all+none: and the control (default: the study's)")
    parser.add_argument("--epochs", type=int, help="the same for every point (default: the study's)")
    parser.add_argument("--base-lr", type=float, default=0.01, help="peak learning rate at --base-batch-size")
    parser.add_argument("--base-batch-size", type=int, default=128,
                        help="the batch size at which the peak learning rate is --base-lr")
    parser.add_argument("--lr-scaling", choices=tuple(studies.LR_SCALINGS), default="sqrt",
                        help="how the peak learning rate follows a varied batch size")
    parser.add_argument("--test-time-batches", type=int, nargs="+", default=list(studies.TEST_TIME_BATCHES),
                        help="batch-size study: test-batch sizes for BN with batch statistics")
    parser.add_argument("--output-dir", help="default: outputs/<study>")
    parser.add_argument("--reuse-dir", default="results",
                        help="group-axis: the 20-epoch study's folder whose ln, gn and in runs are reused when they "
                             "finished with the same settings (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="retrain finished points")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                        help="Keras fit verbosity: 0 silent, 1 progress bars, 2 one line per epoch")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args, train_flags = parser.parse_known_args(argv)
    study = studies.STUDIES[args.study]
    types = config_lib.TrainConfig.field_types()
    axes = dict(study.axes)
    for flag, *values in args.vary:
        flag = flag.lstrip("-")
        if types.get(flag.replace("-", "_")) not in (int, float, str) or flag in studies.NOT_SWEPT:
            parser.error(f"--vary {flag}: not a train.py setting that can be swept "
                         f"(not {', '.join(studies.NOT_SWEPT)} or an on/off flag; see python train.py --help)")
        if not values:
            parser.error(f"--vary {flag}: give at least one value")
        axes[flag] = tuple(dict.fromkeys(values))
    if not axes and args.study != "group-axis":
        parser.error(f"the {args.study} study has no grid: give one with --vary FLAG VALUE...")
    if min(args.test_time_batches) < 1:
        parser.error(f"--test-time-batches must all be >= 1; received {min(args.test_time_batches)}")
    if args.base_batch_size < 1:
        parser.error(f"--base-batch-size must be >= 1; received {args.base_batch_size}")
    if not (args.base_lr > 0 and math.isfinite(args.base_lr)):
        parser.error(f"--base-lr must be > 0; received {args.base_lr}")
    norms = {None: study.norms, config_lib.ALL: variants.NORMS, "all+none": variants.ALL_NORMS}.get(
        args.norm, (args.norm,))
    try:
        # The plan: every point's configuration, checked before anything trains.
        plan = studies.sweep_plan(
            args.study, axes, list(dict.fromkeys(args.seeds or study.seeds)), norms,
            study.epochs if args.epochs is None else args.epochs, train_flags,
            args.output_dir or os.path.join("outputs", args.study.replace("-", "_")), base_lr=args.base_lr,
            base_batch_size=args.base_batch_size, lr_scaling=args.lr_scaling,
            test_time_batches=args.test_time_batches, reuse_dir=args.reuse_dir, verbose=args.verbose,
            force=args.force)
        config_lib.check_folders([(point.config, point.run_dir) for point in plan.points])
    except config_lib.ConfigError as error:
        parser.error(str(error))
    if not plan.points:
        norm, why = next(iter(plan.left_out.items()))
        parser.error(f"--norm {norm}: {why}")
    for norm, why in plan.left_out.items():
        print(f"notice: {norm} left out of this sweep: {why}", file=sys.stderr)
    return plan


def main(argv=None):
    plan = parse_args(argv)
    from mnist_norm import quiet_tf

    quiet_tf.start(argv)  # the flags are read: TensorFlow loads now, without its C++ start-up lines
    from mnist_norm import sweep

    try:
        return sweep.run(plan)
    except (data_lib.DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished points and epochs are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

