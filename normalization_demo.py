"""Batch, Group, Layer and Instance normalization worked by hand on a tiny tensor, checked against Keras.

    python normalization_demo.py > demo.md
    python normalization_demo.py --figure docs/normalization_axes.png   # what each norm averages over

Prints mnist_norm.demo's worked example as Markdown; exits non-zero if any result differs from Keras by 1e-5 or more.
"""

import sys

from mnist_norm import demo


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    import keras

    keras.utils.set_random_seed(0)
    if argv[:1] == ["--figure"] and len(argv) == 2:
        demo.axes_figure(argv[1])
        return 0
    if argv:
        print("usage: python normalization_demo.py [--figure PATH.png]", file=sys.stderr)
        return 2
    return demo.worked_example()


if __name__ == "__main__":
    sys.exit(main())
