"""Input shift: the trained models on test images that differ from the training images.

    python shift.py                                   # the committed models -> outputs/shift/
    python shift.py --output-dir results/shift        # the committed study, redone on this machine
    python shift.py --models outputs --seeds 1 --output-dir outputs/shift   # what the notebook just trained

Every shift is made from the test images alone and is deterministic (its random draws come from a
generator seeded by the shift's name): the clean test set; contrast x0.5 and x0.25 (every pixel times
the factor: fainter ink on the same black); a grey background (128 + pixel, clipped: ink kept);
inversion; Gaussian noise (sd 48); and six corruptions in the manner of MNIST-C (Mu & Gilmer 2019,
made here, not downloaded; parameters ours): shot noise, impulse noise, translate, rotate, scale, shear.

BN is evaluated twice: with its moving averages (what Keras does at test time) and with the statistics
of each test batch ("prediction-time BN", Nado et al. 2020) at several test-batch sizes. GN, LN and the
control compute the same either way. Models are read from <models>/<norm>/seed-<k>/model.keras
(or <models>/<norm>/model.keras for a run of one seed). Writes summary.json and shift.png.
"""

import os
import sys

from mnist_norm import quiet_tf
from mnist_norm import rundir
from mnist_norm import shift
from mnist_norm import variants


def parse_args(argv=None):
    from mnist_norm import data as data_lib

    parser = rundir.Parser(prog="shift.py", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="results", help=f"folder with {rundir.layout(rundir.FILES['model'])}")
    parser.add_argument("--output-dir", default=os.path.join("outputs", "shift"),
                        help="where summary.json and shift.png go (the committed study: results/shift)")
    parser.add_argument("--norm", nargs="+", choices=variants.ALL_NORMS, default=list(variants.available()),
                        help="the variants to evaluate (those whose models are there)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="the seeds' runs to evaluate")
    parser.add_argument("--test-batches", type=int, nargs="+", default=list(shift.DEFAULT_TEST_BATCHES),
                        help="test-batch sizes for BN with batch statistics")
    parser.add_argument("--data", choices=data_lib.SOURCES, default="bundled", help="as in train.py")
    parser.add_argument("--data-dir", help="MNIST IDX folder; replaces --data")
    parser.add_argument("--test-limit", type=int, help="only the first N test images (default: all)")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if min(args.test_batches) < 1:
        parser.error(f"--test-batches must all be >= 1; received {min(args.test_batches)}")
    if args.test_limit is not None and args.test_limit < 1:
        parser.error(f"--test-limit must be >= 1; received {args.test_limit}")
    if not os.path.isdir(args.models):
        parser.error(f"--models {args.models!r} is not a folder")
    parser.require_buildable(args.norm)
    parser.require_folder("--data-dir", args.data_dir)
    return args


def main(argv=None):
    args = parse_args(argv)
    quiet_tf.start(argv)  # the flags are read: TensorFlow loads now, without its C++ start-up lines
    from mnist_norm import data as data_lib

    try:  # a full disk or a folder that cannot be written: one line, as every command ends
        shift.study(args.models, args.output_dir, args.norm, args.seeds, args.test_batches, args.data, args.data_dir,
                    args.test_limit)
    except (data_lib.DataError, shift.NoModels) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: cannot write in {args.output_dir}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"wrote {rundir.summary_path(args.output_dir)} and shift.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
