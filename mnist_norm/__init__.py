"""mnist_norm: one small MNIST CNN trained with BN + L1, GN, LN, IN or no norm, and everything around it.

The library of the project; the commands at the project's root (train.py, sweep.py, shift.py, deploy.py,
predict.py, draw.py, report.py, benchmark.py, normalization_demo.py, colab.py, model.py, photos.py) parse flags
and call it. docs/architecture.md maps its modules. Importing the package loads nothing heavy: each module
imports TensorFlow, Keras or Matplotlib only where it needs them.

    from mnist_norm import network
    model = network.build_model("gn")      # raw 0-255 pixels (batch, 28, 28, 1) in, 10 logits out
"""

import os

# The project's folder (of a clone): its bundled data, results/, README.md and docs/. An installed package
# has the code alone; the commands run in a clone.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
