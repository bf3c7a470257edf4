"""Shows your own digit images to the exported models: each model's digit, its probability and the runner-up.

    python predict.py my_digit.jpg                         # the models that come with the clone (results/)
    python predict.py a.png b.jpg --models outputs         # the models a train.py run exported
    python predict.py a.png --runtime litert-int8          # the int8 LiteRT files (deploy.py export; runtimes.py)
    python predict.py a.png --json                         # one JSON object per line, for scripts
    python predict.py a.png --show predictions.png         # the image as the models see it, and their probabilities
    python predict.py a.png --judge none                   # without the judge that refuses letters and drawings

A phone photo, a scan or a drawing app's export (PNG, JPEG, BMP, GIF, ..., any size, grey or colour) is read
upright (EXIF), its paper's uneven light taken away, and its ink made MNIST-like the way MNIST itself was made:
white on black, cropped, scaled to fit 20 x 20 keeping its aspect ratio, placed in 28 x 28 by its centre of mass.
The models: <models>/<norm>/seed-1/ (the committed study and control) or <models>/<norm>/ (a one-seed train.py
run), through runtimes.py: by default their LiteRT float32 files when every model has one (the LiteRT interpreter
alone: no TensorFlow is imported), else their Keras models. Beside them the judge (<judge>/judge.tflite, or
judge.keras beside Keras models; judge.py trains it) refuses a mark that is a letter or a drawing, not a digit.

An image that cannot be answered gets one line naming it and what is wrong; the others are still
answered. Exit status: 0, 1 if any image failed (or no models were found), 2 for bad flags.
"""

import json
import os
import sys

from mnist_norm import judge
from mnist_norm import reading
from mnist_norm import rundir
from mnist_norm import runtimes
from mnist_norm import variants


def parse_args(argv=None):
    parser = rundir.Parser(prog="predict.py", description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, BMP or GIF files")
    parser.add_argument("--models", default="results",
                        help=f"folder with {rundir.layout('<model>', seed=1)} (default: %(default)s)")
    parser.add_argument("--runtime", choices=(runtimes.AUTO, *runtimes.NAMES, *runtimes.ALIASES),
                        default=runtimes.AUTO,
                        help=", ".join(f"{name} ({rundir.FILES[runtimes.FILE_KINDS[name]]})" for name in runtimes.NAMES)
                        + "; the LiteRT files deploy.py writes; auto: litert-f32 where every model has its file (no "
                          "TensorFlow needed), else keras; savedmodel and litert: earlier names of keras and "
                          "litert-f32 (default: %(default)s)")
    parser.add_argument("--judge", default="results/judge",
                        help="the judge's folder (judge.py writes it; it refuses letters and drawings), or none "
                             "(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image and line")
    parser.add_argument("--show", metavar="FILE", help="write a PNG figure of the images and probabilities")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    parser.require_folder("--models", args.models)
    if args.judge != "none":
        parser.require_folder("--judge", args.judge)
    if args.show and not args.show.lower().endswith(".png"):
        parser.error(f"--show {args.show!r}: the figure is a PNG; give a file name ending in .png")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        models, judge_fn = judge.load_reader(args.models, args.runtime, args.judge)
    except judge.LOAD_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed, shown = 0, []
    for path, found in reading.answers(models, args.images, judge_fn):
        if isinstance(found, reading.ImageError):
            failed += 1
            if args.json:
                print(json.dumps(reading.refusal_json(path, found)))
            print(f"error: {found}", file=sys.stderr)
            continue
        shown.append((os.path.basename(path), found.grey, found.scale, found.digits, found.probabilities))
        if args.json:
            print(json.dumps(reading.as_json(path, found)))
        else:
            print(f"{path}: " + "; ".join(f"{variants.NORM_LABELS[n]} {reading.describe_number(v)}"
                                          for n, v in found.probabilities.items())
                  + f" | {reading.describe_agreement(found.found)}")
    if args.show and shown:
        from mnist_norm import plots

        if all(len(digits) == 1 for _, _, _, digits, _ in shown):
            figure = plots.plot_predictions([(name, digits[0].field, {n: v[0] for n, v in probabilities.items()})
                                             for name, _, _, digits, probabilities in shown], variants.NORM_LABELS)
        else:
            figure = plots.plot_numbers([(*entry, {n: reading.number(v) for n, v in entry[4].items()})
                                         for entry in shown], variants.NORM_LABELS)
        rundir.save_figure(figure, args.show)
        if not args.json:
            print(f"wrote {args.show}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

