"""Reading the studies' result files: one set of accessors and constants that report.py's tables and plots.py's
figures share, so that a number is read (and a diverged run counted) the same way in both.

Each study writes one summary.json (rundir.SUMMARY) in its folder under results/: the 20-epoch study and the
control (results/), the batch-size, learning-rate and L1 sweeps, the input shift and the deployment study.
"""

import math
import os

from . import ROOT
from . import rundir
from . import variants

RESULTS = os.path.join(ROOT, "results")
# The studies' folders under results/.
STUDY_FOLDERS = {"study": ".", "batch_size": "batch_size", "learning_rate": "learning_rate", "l1": "l1",
                 "shift": "shift", "deploy": "deploy"}

# A run whose loss became NaN predicts one class for every image: it counts as chance.
CHANCE = 0.1
# "Trains" in the learning-rate verdict: at least this test accuracy (%) after the sweep's epochs.
TRAINS = 98.0

# The input-shift study's modes: BN with its moving averages or the statistics of each test batch; the others
# compute the same either way.
MOVING = "moving_averages"
INFERENCE = "inference"
BATCH_STATISTICS = "batch_statistics_{}"


def load(name, base=RESULTS):
    """The summary.json of study `name` (a key of STUDY_FOLDERS, or a folder below `base`), or None."""
    return rundir.read_summary(os.path.normpath(os.path.join(base, STUDY_FOLDERS.get(name, name))))


def mean(values):
    return sum(values) / len(values)


def accuracy(run):
    """A sweep row's final test accuracy (0-1), chance for a diverged run."""
    return CHANCE if run.get("diverged") else run["final_accuracy"]


def inference_mode(norm):
    """The shift study's mode in which `norm` predicts as Keras does at test time."""
    return MOVING if norm in variants.BATCH_DEPENDENT else INFERENCE


def batch_statistics_mode(batch):
    return BATCH_STATISTICS.format(batch)


def body_kernel_norm(kernel_norms):
    """The L2 norm of all normalized conv kernels together (blocks 1-5: every conv but the head)."""
    return math.sqrt(sum(value ** 2 for name, value in kernel_norms.items() if name != "head_conv"))


def head_kernel_norm(kernel_norms):
    """The L2 norm of the head's kernel (no norm after it)."""
    return kernel_norms["head_conv"]


def shift_values(runs, norm, mode, shift):
    """Test accuracies (%) of `norm` in `mode` under `shift`, one per seed."""
    return [100 * r["accuracy"] for r in runs if (r["norm"], r["mode"], r["shift"]) == (norm, mode, shift)]


def lr_runs(summary, optimizer, norm, lr):
    return [r for r in summary["runs"] if (r["optimizer"], r["norm"], r["lr"]) == (optimizer, norm, lr)]


def deploy_rows(summary, norm, runtime):
    """The deploy study's rows of one model and runtime, by seed."""
    return sorted((row for row in summary["runs"] if row["norm"] == norm and row["runtime"] == runtime),
                  key=lambda row: row["seed"])


def int8_loss(summary, norm):
    """Per seed, the points of test accuracy `norm`'s int8 file loses against its float32 file (deploy study)."""
    return [100 * (f["accuracy"] - q["accuracy"])
            for f, q in zip(deploy_rows(summary, norm, "litert-f32"), deploy_rows(summary, norm, "litert-int8"))]


def present(runs, norms=variants.ALL_NORMS):
    """The variants (in their order) that have rows in `runs`."""
    return [norm for norm in norms if any(run["norm"] == norm for run in runs)]

