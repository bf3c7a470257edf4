"""Trains the MNIST CNN with BN + L1, GN and/or LN (or IN, or the control) and writes histories, models and figures.

    python train.py                                   # all three, 20 epochs, the bundled MNIST (offline)
    python train.py --data tfds                       # MNIST through tensorflow-datasets instead
    python train.py --data-dir DIR                    # any folder of the 4 MNIST IDX files
    python train.py --norm gn --epochs 2 --train-limit 2000 --test-limit 500 --output-dir outputs/quick
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
last completed epoch and skips finished ones (--force retrains). A folder holding a run of other
settings (finished, or with epochs done) is never replaced: train.py stops with one line naming it,
before anything is written; give another --output-dir, or --force to replace it.
"""

import sys

from mnist_norm import config as config_lib
from mnist_norm import data as data_lib


def parse_args(argv=None):
    """(the parsed flags, [one validated TrainConfig per variant and seed]); exit 2 with one line on a bad value."""
    parser = config_lib.flag_parser("train.py", __doc__.split("\n")[0])
    args = parser.parse_args(argv)
    try:
        return args, config_lib.configs(args)
    except config_lib.ConfigError as error:
        parser.error(str(error))


def main(argv=None):
    args, plan = parse_args(argv)
    try:  # before TensorFlow loads: a folder holding a run of other settings is one line, nothing changed
        config_lib.check_folders(config_lib.run_dirs(plan))
    except config_lib.RunConflict as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    from mnist_norm import quiet_tf

    quiet_tf.start(argv)  # the flags are read: TensorFlow loads now, without its C++ start-up lines (--debug: with)
    from mnist_norm import training

    try:
        return training.train_all(plan)
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
