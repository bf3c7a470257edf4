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
                 "shift": "shift", "deploy": "deploy", "group_axis": "group_axis"}

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


def shift_modes(runs):
    """The shift study's columns, in the order its table and its figure both show them: (norm, mode) for every
    model in the rows, as Keras predicts at test time first, then BN with test-batch statistics, largest batch
    first (whichever test batches the study ran)."""
    columns = []
    for norm in variants.ALL_NORMS:
        modes = list(dict.fromkeys(r["mode"] for r in runs if r["norm"] == norm))
        modes.sort(key=lambda m: (m.startswith("batch_statistics"), -int(m.rsplit("_", 1)[1]) if m[-1].isdigit() else 0))
        columns += [(norm, mode) for mode in modes]
    return columns


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


# The group axis: the shifts its table and figure show, beside the average over every shift but "clean".
GROUP_AXIS_SHIFTS = ("contrast 0.25", "grey background", "gaussian noise")
SHIFT_LABELS = {"contrast 0.25": "fainter ink (×0.25)", "grey background": "grey paper (+128)",
                "gaussian noise": "Gaussian noise (sd 48)"}
# The GN paper's Table 3 (Wu & He 2018, arXiv:1803.08494): ResNet-50's top-1 error (%) on ImageNet's validation
# set, by number of groups and by channels per group; the points this network shares with it.
PAPER_ERRORS = {("groups", 1): 25.3, ("groups", 2): 24.7, ("groups", 4): 24.6, ("groups", 32): 24.1,
                ("group_size", 4): 24.8, ("group_size", 2): 25.6, ("group_size", 1): 28.4}


def _span(values):
    low, high = min(values), max(values)
    return f"{low}" if low == high else f"{low}–{high}"


def group_axis_points(runs):
    """The group axis's points in the sweep's order (LN first, IN last), each {"name", "groups", "sizes", "paper",
    "runs"}: its name, its groups and channels per group over the layers (e.g. "2–4" and "4"), the paper's error at
    the same setting (None if the paper has none) and its rows, one per seed."""
    points = {}
    for run in runs:
        if "groups_per_layer" not in run:
            continue
        key = tuple(run["groups_per_layer"])
        if key not in points:
            sizes = [c // g for c, g in zip(run["channels"], run["groups_per_layer"])]
            if run["norm"] == "gn" and run.get("group_size"):
                name, setting = f"GN, {run['group_size']} ch./group", ("group_size", run["group_size"])
            elif run["norm"] == "gn":
                name, setting = f"GN, {run['groups_per_layer'][0]} groups", ("groups", run["groups_per_layer"][0])
            else:
                name = variants.NORM_LABELS[run["norm"]]
                setting = ("groups", 1) if run["norm"] == "ln" else ("group_size", 1)
            points[key] = {"name": name, "groups": _span(run["groups_per_layer"]), "sizes": _span(sizes),
                           "paper": PAPER_ERRORS.get(setting), "runs": []}
        points[key]["runs"].append(run)
    return list(points.values())


def axis_shift_values(point, shift):
    """Test accuracies (%) of a group-axis point under `shift` ("clean" too), one per seed."""
    return [100 * run["shifts"][shift] for run in point["runs"]]


def axis_shift_average(point):
    """Per seed, the test accuracy (%) averaged over every shift but "clean"."""
    return [100 * mean([value for name, value in run["shifts"].items() if name != "clean"]) for run in point["runs"]]
