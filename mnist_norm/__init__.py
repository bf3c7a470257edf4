"""mnist_norm: one small MNIST CNN trained with BN + L1, GN, LN, IN, no norm or the variants after GN, and
everything around it.

The library of the project; the commands at the project's root (train.py, sweep.py, shift.py, deploy.py,
predict.py, draw.py, report.py, benchmark.py, normalization_demo.py, colab.py, model.py, photos.py) parse flags
and call it. docs/architecture.md maps its modules. Importing the package loads nothing heavy: each module
imports TensorFlow, Keras or Matplotlib only where it needs them.

    from mnist_norm import network
    model = network.build_model("gn")      # raw 0-255 pixels (batch, 28, 28, 1) in, 10 logits out
"""

import importlib.abc
import importlib.util
import os
import sys

# The project's folder (of a clone): its bundled data, results/, README.md and docs/. An installed package
# has the code alone; the commands run in a clone.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _register_layers():
    """Registers the network's custom Keras layers, so that `keras.saving.load_model` reads a model.keras."""
    from . import network  # noqa: F401 (the layers register themselves when their module loads)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Registers the layers once Keras has loaded, whenever that is: `import mnist_norm` itself loads no Keras (the
    image reader and the drawing page start without TensorFlow), yet a model.keras loads once it is imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _register_layers()

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    _register_layers()
elif not any(isinstance(finder, _AfterKeras) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AfterKeras())
