"""Batch, Group, Layer and Instance normalization worked by hand on a tiny tensor, checked against Keras.

    python normalization_demo.py > demo.md
    python normalization_demo.py --figure docs/normalization_axes.png   # what each norm averages over

Prints mnist_norm.demo's worked example as Markdown; exits non-zero if any result differs from Keras by 1e-5 or more.
"""

import sys

from mnist_norm import rundir


def main(argv=None):
    parser = rundir.Parser(prog="normalization_demo.py", description=__doc__.split("\n")[0])
    parser.add_argument("--figure", metavar="PATH.png",
                        help="write the figure of what each norm averages over instead of the worked example")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if args.figure is not None and not args.figure.lower().endswith(".png"):
        parser.error(f"--figure {args.figure!r}: the figure is a PNG; give a file name ending in .png")
    from mnist_norm import demo  # TensorFlow loads here, once the flags are read

    import keras

    keras.utils.set_random_seed(0)
    if args.figure is not None:
        demo.axes_figure(args.figure)
        return 0
    return demo.worked_example()


if __name__ == "__main__":
    sys.exit(main())
