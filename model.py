"""One small MNIST CNN, built five ways: Batch Norm + L1, Group Norm, Layer Norm, Instance Norm, no norm.

    python model.py [bn gn ln in none]     # model.summary(), the README table and multiply-adds

    from model import build_model          # the network, for the notebook and a reader
    network = build_model("gn")            # raw 0-255 pixels (batch, 28, 28, 1) in, 10 logits out

The network lives in mnist_norm.network (its docstring says how each norm is built); this command prints it.
"""

import sys

from mnist_norm import quiet_tf

quiet_tf.start()  # before keras: TensorFlow's C++ start-up lines only with --debug

from mnist_norm.network import (  # noqa: E402,F401 (the names a reader imports from here)
    ALL_NORMS, ARCHITECTURE, NORM_LABELS, NORMS, build_model, markdown_table, multiply_adds, probability_model,
)


def main(argv=None):
    for norm in (sys.argv[1:] if argv is None else argv) or ALL_NORMS:
        if norm not in ALL_NORMS:
            print(f"model.py: error: unknown norm {norm!r}; expected one of {', '.join(ALL_NORMS)}", file=sys.stderr)
            return 2
        net = build_model(norm)
        net.summary()
        print(markdown_table(net))
        print(f"multiply-adds per image: {multiply_adds(net):,}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
