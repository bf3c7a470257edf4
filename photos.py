"""Writes a photo of MNIST test digits (mnist_norm.photos makes them), times predict.py on a 12-megapixel one, or
measures what the reader reads and refuses (mnist_norm.refusals).

    python photos.py number.jpg --digits 18 19 20 21 --paper ruled    # one to try predict.py on
    python photos.py --time results/predict/photo_timing.json        # predict.py on a 12-megapixel photo
    python photos.py --refusals results/refusals/summary.json        # MNIST kept, real images refused (minutes)

--refusals prints lines of words in Debian's fonts-freefont-otf and fonts-liberation (apt-get install them).
Exit status: 0, 1 for missing models, judge or fonts, 2 for bad flags.
"""

import io
import os
import sys
import tempfile

import numpy as np

from mnist_norm import data
from mnist_norm import machine
from mnist_norm import photos
from mnist_norm import rundir


def main(argv=None):
    parser = rundir.Parser(prog="photos.py", description="Writes a photo of MNIST test digits, or times "
                                     "predict.py on a 12-megapixel one.")
    parser.add_argument("output", help="the photo to write (.jpg or .png), or with --time the timing's JSON file")
    parser.add_argument("--digits", type=int, nargs="+", default=[18, 19, 20, 21], metavar="INDEX",
                        help="test-set indices of the digits, left to right (default: %(default)s)")
    parser.add_argument("--paper", choices=photos.PAPERS, default="ruled", help="plain, ruled or squared paper")
    parser.add_argument("--table", action="store_true", help="the sheet on a darker table")
    parser.add_argument("--seed", type=int, default=4, help="the photo's random draws (light, tilt, noise)")
    parser.add_argument("--time", action="store_true", help="time predict.py on a 12-megapixel photo instead")
    parser.add_argument("--refusals", action="store_true",
                        help="measure what the reader reads and refuses instead (needs scikit-image's gallery)")
    parser.add_argument("--models", default="results", help="--refusals: the models' folder (default: %(default)s)")
    parser.add_argument("--judge", default="results/judge",
                        help="--refusals: the judge's folder, or none (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.refusals and args.judge != "none":
        parser.require_folder("--judge", args.judge)
    wanted = (".json",) if args.time or args.refusals else (".jpg", ".jpeg", ".png")
    if not args.output.lower().endswith(wanted):
        parser.error(f"{args.output!r}: the output is a {' or '.join(wanted)} file here")

    if args.refusals:
        from mnist_norm import judge
        from mnist_norm import refusals
        from mnist_norm import runtimes

        try:
            judge.font_files(refusals.PRINT_FONTS)
            models, judge_fn = judge.load_reader(args.models, runtimes.AUTO, args.judge)
        except (judge.FontsMissing, *judge.LOAD_ERRORS) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        (train_images, train_labels), (images, labels) = data.load_bundled()
        training = train_images[: refusals.TRAINING_PRICED], train_labels[: refusals.TRAINING_PRICED]
        summary = {**refusals.study(models, images, labels, judge_fn=judge_fn, training=training),
                   "machine": machine.cpu_name()}
        os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
        rundir.write_json(args.output, summary)
        found = summary["mnist"]
        refused = sum(row["refused"] is not None for row in summary["gallery"])
        print(f"MNIST: {found['kept_as_one_digit']} of {found['digits']} kept; gallery: {refused} of "
              f"{len(summary['gallery'])} refused; wrote {args.output}")
        return 0
    if args.time:
        with tempfile.TemporaryDirectory() as folder:
            timing = photos.time_predict(folder)
        timing["machine"] = machine.cpu_name()
        rundir.write_json(args.output, timing)
        print(f"{timing['median_seconds']:.2f} s (median of {len(timing['seconds'])}) on {timing['machine']}")
        return 0
    _, (images, labels) = data.load_bundled()
    bad = [index for index in args.digits if not 0 <= index < len(images)]
    if bad:
        parser.error(f"--digits {bad[0]}: test-set indices run from 0 to {len(images) - 1}")
    image = photos.photo(images[args.digits, :, :, 0], np.random.default_rng(args.seed), paper=args.paper, table=args.table)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if args.output.lower().endswith(".png") else "JPEG", quality=85)
    rundir.write_bytes(args.output, buffer.getvalue())
    print(f"wrote {args.output}: {''.join(str(labels[i]) for i in args.digits)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

