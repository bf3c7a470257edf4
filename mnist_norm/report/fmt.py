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


def versions(summary, name):
    """The version of package `name` a summary's runs were made with ("2.21.0"), or each of them, joined."""
    found = [entry.get("versions", {}).get(name) for entry in summary.get("environments", [])] or \
        [summary.get("versions", {}).get(name)]
    return " and ".join(dict.fromkeys(str(version) for version in found if version)) or "an unrecorded version"


def machine_name(summary):
    """The machine a summary's runs were made on, in words: "AMD EPYC (2 cores)", or each where they were several."""
    machines = [entry.get("machine", {}) for entry in summary.get("environments", [])] or [summary.get("machine", {})]
    names = list(dict.fromkeys(f"{m.get('processor', 'an unrecorded machine')}"
                               + (f" ({m['cpu_count']} cores)" if "cpu_count" in m else "") for m in machines))
    if len(machines) > 1 and len(names) == 1:
        return f"{len(machines)} machines of one kind, {names[0]}"
    return " and ".join(names)
