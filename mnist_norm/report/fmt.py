"""The report's shared formatting: percentages, means, spreads, lists in words, and reading a results file."""

import os

from .. import results
from ..results import RESULTS
from .. import rundir


# Published PyTorch solutions of the assignment at epoch 20, as quoted in issue 4: (name, params, accuracy %).
PUBLISHED = (("typical", "9,900", {"bn": 99.41, "gn": 99.46, "ln": 99.44}),
             ("best", "8,880", {"bn": 99.47, "gn": 99.54, "ln": 99.48}))


def _load(name):
    """A JSON file below results/ (benchmark.py's, bn_test_time.json), or None."""
    path = os.path.join(RESULTS, name)
    return rundir.read_json(path) if os.path.exists(path) else None


def _pct(value):
    return f"{100 * value:.2f}"


_mean = results.mean


def _and(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _spread(values, scale=1.0, decimals=2, thousands=False):
    """The seeds' mean (lowest–highest): "±" is kept for a standard deviation."""
    form = ",.0f" if thousands else f".{decimals}f"
    mean, low, high = scale * _mean(values), scale * min(values), scale * max(values)
    return f"{mean:{form}} ({low:{form}}–{high:{form}})"


def _optimizer(config):
    return {"adam": "Adam", "sgd": "SGD + Nesterov"}[config["optimizer"]]
