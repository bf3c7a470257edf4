"""One small MNIST CNN, built each way: Batch Norm + L1, Group Norm, Layer Norm, Instance Norm, no norm, and after
Group Norm: Batch Renorm, GN + Weight Standardization, Filter Response Norm, RMSNorm.

    python model.py [bn gn ln in none brn gnws frn rms]   # model.summary(), the README table and multiply-adds

    from model import build_model          # the network, for the notebook and a reader
    network = build_model("gn")            # raw 0-255 pixels (batch, 28, 28, 1) in, 10 logits out

The network lives in mnist_norm.network (its docstring says how each norm is built); this command prints it.
"""

import sys

from mnist_norm import rundir
from mnist_norm.variants import ALL_NORMS

# What `from model import ...` gives a reader; loaded from mnist_norm.network (TensorFlow) on first use, so that
# `python model.py --help` answers at once.
EXPORTS = ("ALL_NORMS", "ARCHITECTURE", "NORM_LABELS", "NORMS", "build_model", "markdown_table", "multiply_adds",
           "probability_model")


def __getattr__(name):
    if name not in EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    from mnist_norm import network

    return getattr(network, name)


def main(argv=None):
    parser = rundir.Parser(prog="model.py", description=__doc__.split("\n")[0])
    parser.add_argument("norms", nargs="*", metavar="NORM",
                        help=f"the variants to show, of {', '.join(ALL_NORMS)} (default: all of them)")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    for norm in args.norms:
        if norm not in ALL_NORMS:
            parser.error(f"unknown norm {norm!r}; expected one of {', '.join(ALL_NORMS)}")
    from mnist_norm.network import build_model, markdown_table, multiply_adds  # TensorFlow loads here

    for norm in args.norms or ALL_NORMS:
        net = build_model(norm)
        net.summary()
        print(markdown_table(net))
        print(f"multiply-adds per image: {multiply_adds(net):,}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
