"""Trains the MNIST CNN with BN + L1, GN and/or LN and writes histories, models and figures.

    python train.py                                   # all three, 20 epochs, the bundled MNIST (offline)
    python train.py --data tfds                       # MNIST through tensorflow-datasets instead
    python train.py --data-dir DIR                    # any folder of the 4 MNIST IDX files
    python train.py --norm gn --epochs 2 --train-limit 2000 --test-limit 500
    python train.py --norm none --seeds 1 2 3         # the control without normalization (not part of "all")

Layout of --output-dir (default outputs/), for one seed:
    <norm>/history.csv       one row per finished epoch (rewritten atomically each epoch)
    <norm>/model.keras       the trained Keras model
    <norm>/saved_model/      SavedModel: raw 0-255 pixels (batch, 28, 28, 1) -> 10 probabilities
    <norm>/result.json       this run's numbers; its presence marks the run as finished
    <norm>/kernels.json      per epoch, each conv kernel's L2 norm and fraction of weights with |w| < 1e-3
    tensorboard/<norm>/      TensorBoard logs: `tensorboard --logdir <output-dir>/tensorboard`
    summary.json, test_loss.png, test_accuracy.png, misclassified_<norm>.png
With several seeds (--seeds 1 2 3) each run lives in <norm>/seed-<k>/ instead; the curves then show the
mean over seeds with a band from the lowest to the highest seed, the grids the first seed's model.

Killing the script and rerunning the same command resumes each unfinished run from its
last completed epoch and skips finished ones (--force retrains).
"""

import sys

import quiet_tf

quiet_tf.start()  # before keras: TensorFlow's C++ start-up lines only with --debug

import data as data_lib  # noqa: E402
import rundir  # noqa: E402
import training  # noqa: E402
import variants  # noqa: E402

ALL = "all"
DEFAULTS = training.TrainConfig()  # every flag's default is the configuration's


def build_parser():
    parser = rundir.Parser(prog="train.py", description=__doc__.split("\n")[0])
    parser.add_argument("--norm", default=ALL, choices=(*variants.ALL_NORMS, ALL),
                        help="variant(s) to train; all: bn, gn and ln (none, the control, only by name)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="per replica")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--seeds", type=int, nargs="+", help="several seeds; runs go to <norm>/seed-<k>/")
    parser.add_argument("--data", choices=data_lib.SOURCES, default=DEFAULTS.data,
                        help="bundled: the checksum-guarded IDX files in data/mnist/ (offline); "
                             "tfds: tensorflow-datasets (its cache, or a download)")
    parser.add_argument("--data-dir", help="folder with the 4 MNIST IDX files (.gz or not); replaces --data")
    parser.add_argument("--output-dir", default=DEFAULTS.output_dir)
    parser.add_argument("--train-limit", type=int, help="use only the first N training images")
    parser.add_argument("--test-limit", type=int, help="use only the first N test images")
    parser.add_argument("--validation-size", type=int, default=DEFAULTS.validation_size,
                        help="hold out the last N training images and evaluate on them instead of the test set "
                             "(for choosing the recipe; the test set is then never touched)")
    parser.add_argument("--l1", type=float, default=DEFAULTS.l1, help="L1 factor on conv kernels (bn only)")
    parser.add_argument("--groups", type=int, default=DEFAULTS.groups, help="groups for gn")
    parser.add_argument("--group-size", type=int, default=DEFAULTS.group_size,
                        help="gn: channels per group in every layer instead of a number of groups (1: IN)")
    parser.add_argument("--dropout", type=float, default=DEFAULTS.dropout)
    parser.add_argument("--optimizer", choices=training.OPTIMIZERS, default=DEFAULTS.optimizer)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="peak learning rate")
    parser.add_argument("--warmup-fraction", type=float, default=DEFAULTS.warmup_fraction,
                        help="fraction of all steps spent warming the learning rate up (then cosine to zero)")
    parser.add_argument("--ema", type=float, default=DEFAULTS.ema, metavar="MOMENTUM",
                        help="evaluate and export an exponential moving average of the weights with this "
                             "momentum, e.g. 0.999 (Keras' use_ema); 0: off")
    parser.add_argument("--architecture", default=DEFAULTS.architecture,
                        help="conv blocks as <filters>[k<kernel>][p],... (p: 2x2 max-pool after it); "
                             "default: %(default)s")
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--rotation", type=float, default=DEFAULTS.rotation, help="augmentation: max rotation, degrees")
    parser.add_argument("--shift", type=float, default=DEFAULTS.shift, help="augmentation: max shift, pixels")
    parser.add_argument("--zoom", type=float, default=DEFAULTS.zoom, help="augmentation: scale by 1 +- up to this")
    parser.add_argument("--shear", type=float, default=DEFAULTS.shear, help="augmentation: shear factor up to this")
    parser.add_argument("--force", action="store_true", help="retrain runs that already finished")
    parser.add_argument("--deterministic", action="store_true", help="enable TF op determinism")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU (mixed_bfloat16 on CPU); logits stay float32")
    parser.add_argument("--xla", action="store_true", help="compile train/eval steps with XLA")
    parser.add_argument("--strategy", choices=training.STRATEGIES, default=DEFAULTS.strategy,
                        help="mirrored: tf.distribute.MirroredStrategy over the visible GPUs")
    parser.add_argument("--steps-per-execution", type=int, default=DEFAULTS.steps_per_execution)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=DEFAULTS.verbose, help="Keras fit verbosity")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's C++ log lines")
    return parser


def parse_args(argv=None):
    """(the parsed flags, [one validated TrainConfig per variant and seed]); exit 2 with one line on a bad value."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args, configs(args)
    except training.ConfigError as error:
        parser.error(str(error))


def configs(args):
    """One validated TrainConfig per (variant, seed) the flags ask for, variants first."""
    norms = variants.NORMS if args.norm == ALL else (args.norm,)
    seeds = list(dict.fromkeys(args.seeds)) if args.seeds else [args.seed]
    settings = {name: getattr(args, name) for name in training.TrainConfig.field_types() if hasattr(args, name)}
    return [training.TrainConfig(**{**settings, "norm": norm, "seed": seed}).validate()
            for norm in norms for seed in seeds]


def run(configs):
    """Trains every config's run (each in <output-dir>/<norm>/[seed-<k>/]), then writes the summary and figures."""
    first = configs[0]
    strategy = training.configure(first)
    splits = training.load_splits(first)
    several = len({config.seed for config in configs}) > 1
    failures = []
    for config in configs:
        norm, seed = config.norm, config.seed
        run_dir = rundir.run_dir_for(config.output_dir, norm, seed, several)
        if training.finished(config, run_dir, splits[2]):
            print(f"{norm} seed {seed}: already finished in {run_dir} (use --force to retrain)")
            continue
        print(f"{norm} seed {seed}: training {config.epochs} epochs on {len(splits[0][0])} images -> {run_dir}")
        try:
            result, _ = training.train_run(config, splits, run_dir, strategy)
        except training.TrainingDiverged as error:
            print(f"error: {error}; keeping the other variants' results", file=sys.stderr)
            failures.append(str(error))
            continue
        print(
            f"{norm} seed {seed}: {result['evaluated_on']} accuracy {100 * result['final_accuracy']:.2f}% "
            f"(best {100 * result['best_accuracy']:.2f}% at epoch {result['best_epoch']}), "
            f"ce {result['final_ce']:.4f}, {result['trainable_params']} params, "
            f"{result['mean_epoch_seconds']:.1f} s/epoch"
        )
    results = rundir.collect_results(first.output_dir)
    if results:
        training.summarize(first.output_dir, results)
        training.write_figures(first.output_dir, results, splits[1][0])
    return 1 if failures else 0


def main(argv=None):
    args, plan = parse_args(argv)
    try:
        return run(plan)
    except (data_lib.DataError, OSError) as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished epochs are kept; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
