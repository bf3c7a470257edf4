"""Trains the judge: a small network that tells a handwritten digit from a letter or a drawing (mnist_norm.judge).

    python judge.py                              # train, measure and write results/judge/ (about 10 minutes)
    python judge.py --output /tmp/judge --epochs 1
    python judge.py --measure                    # measure results/judge/ again, without training (a minute)

MNIST's training digits against capital letters drawn from Debian's handwriting fonts (apt-get install
fonts-bwht fonts-comic-neue fonts-dkg-handwriting fonts-rufscript, and for the measurement fonts-breip
fonts-femkeklaver fonts-sjfonts) and doodles, each with a hand's pen, slant and wobble. It writes judge.keras,
judge.tflite (what predict.py, draw.py and the refusals study run by default), history.csv and summary.json: what
the judge keeps and refuses at each threshold, on digits and letters it never saw.
Exit status: 0, 1 if a font package is missing (or --measure finds no judge), 2 for bad flags.
"""

import sys

from mnist_norm import rundir


def main(argv=None):
    parser = rundir.Parser(prog="judge.py", description=__doc__.split("\n")[0])
    parser.add_argument("--output", default="results/judge", help="the judge's folder (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="the drawings' and the training's seed (default: %(default)s)")
    parser.add_argument("--measure", action="store_true",
                        help="measure the judge in --output again as it was measured (its seed), without training: "
                             "its summary's sets rewritten")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: expected a whole number of 1 or more")
    from mnist_norm import judge

    if args.measure:
        parser.require_folder("--output", args.output)
    try:
        judge.font_files({**judge.FONTS, **judge.UNSEEN_FONTS})
        if args.measure:
            summary = judge.remeasure(args.output)
        else:
            summary = judge.study(args.output, seed=args.seed, epochs=args.epochs)
    except (judge.FontsMissing, *judge.LOAD_ERRORS) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    threshold = str(summary["threshold"])
    for name, row in summary["sets"].items():
        share = row["kept"][threshold] if row["digits"] else 1 - row["kept"][threshold]
        print(f"{name}: {100 * share:.2f} % {'kept' if row['digits'] else 'refused'} of {row['count']}")
    print(f"wrote {args.output}" if args.measure else f"wrote {args.output} in {summary['seconds']['all']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
