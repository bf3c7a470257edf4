"""Figures of the study: joint test-loss / test-accuracy curves and misclassified grids.

Every function takes data and returns a matplotlib Figure; nothing is shown or saved
here (train.py and the notebook decide that).
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

COLORS = {"bn": "tab:blue", "gn": "tab:orange", "ln": "tab:green"}


def _as_runs(histories):
    """{norm: list of runs}: each model's history is one run's rows, or a list with one row list per seed."""
    return {norm: history if history and isinstance(history[0], (list, tuple)) else [history]
            for norm, history in histories.items()}


def _curves(histories, labels, column, scale, ax):
    finals = []
    for norm, runs in histories.items():
        length = min(len(rows) for rows in runs)  # a run still in progress is shorter
        epochs = np.array([row["epoch"] for row in runs[0][:length]], dtype=int)
        values = np.array([[row[column] for row in rows[:length]] for rows in runs], dtype=float) * scale
        label = labels.get(norm, norm)
        if len(runs) > 1:
            label += f", mean of {len(runs)} seeds"
        line, = ax.plot(epochs, values.mean(axis=0), marker="o", markersize=3, label=label, color=COLORS.get(norm))
        if len(runs) > 1:  # one seed can mislead; show how far the seeds spread
            ax.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2,
                            linewidth=0)
        finals.append((values[:, -1].mean(), epochs[-1], line.get_color()))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    return finals


def _tail(histories, column, scale):
    """Every run's values after epoch 1 (which is far above the rest), for zooming the y axis."""
    return [scale * row[column] for runs in histories.values() for rows in runs for row in rows[1:]]


def _title(histories, title):
    several = any(len(runs) > 1 for runs in histories.values())
    return title + ("\n(line: mean over seeds; shaded: lowest to highest seed)" if several else "")


def _label_ends(ax, finals, decimals):
    """Writes each curve's final value at its end, spread apart so close values stay readable."""
    finals = sorted(finals)
    for rank, (value, epoch, color) in enumerate(finals):
        ax.annotate(f"{value:.{decimals}f}", (epoch, value), xytext=(5, 9 * (rank - (len(finals) - 1) / 2)),
                    textcoords="offset points", va="center", fontsize=8, color=color)


def plot_test_loss(histories, labels, ax=None, split="test"):
    """Graph 1: test cross-entropy of every model per epoch.

    Args:
        histories: {norm: [row dicts with "epoch" and "val_ce"]}, or {norm: [[rows of seed 1], [rows of seed 2],
            ...]} to draw the mean over seeds with a band from the lowest to the highest seed.
        labels: {norm: legend label}.
        ax: optional Axes to draw into.
        split: what the histories were evaluated on ("test", or "validation" while choosing the recipe).
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.2), dpi=110)
    histories = _as_runs(histories)
    finals = _curves(histories, labels, "val_ce", 1.0, ax)
    ax.set_ylabel(f"{split} cross-entropy (nats/image, no L1 term)")
    ax.set_title(_title(histories, f"{split.capitalize()} loss per epoch"))
    tail = _tail(histories, "val_ce", 1.0)
    if tail:  # zoom to where the curves differ
        ax.set_ylim(min(tail) * 0.9, max(tail) * 1.1)
    _label_ends(ax, finals, 4)
    fig.tight_layout()
    return fig


def plot_test_accuracy(histories, labels, ax=None, split="test"):
    """Graph 2: test (or validation) accuracy (%) of every model per epoch, zoomed to the curves."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.2), dpi=110)
    histories = _as_runs(histories)
    finals = _curves(histories, labels, "val_accuracy", 100.0, ax)
    ax.set_ylabel(f"{split} accuracy (%)")
    ax.set_title(_title(histories, f"{split.capitalize()} accuracy per epoch"))
    tail = _tail(histories, "val_accuracy", 100.0)
    if tail:
        low, high = min(tail), max(tail)
        ax.set_ylim(max(low - 0.1, 0), min(high + 0.1, 100))
    _label_ends(ax, finals, 2)
    fig.tight_layout()
    return fig


def plot_misclassified(images, mistakes, title, rows=5, cols=2):
    """A rows x cols grid of misclassified test images.

    Args:
        images: the test images, (N, 28, 28[, 1]).
        mistakes: dicts with "index", "true", "predicted", "probability".
        title: figure title (model and its test accuracy).
    """
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols + 0.4, 2.0 * rows + 0.6), dpi=110)
    for ax, mistake in zip(axes.flat, mistakes):
        ax.imshow(np.squeeze(images[mistake["index"]]), cmap="gray_r")
        ax.set_title(
            f"true {mistake['true']}, pred {mistake['predicted']} "
            f"({100 * mistake['probability']:.0f}%)\ntest #{mistake['index']}",
            fontsize=8,
        )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_batch_size(runs, labels, epochs, lr_rule):
    """Final test accuracy and test cross-entropy against the training batch size (log-2 axis).

    Args:
        runs: dicts with "norm", "batch_size", "seed", "final_accuracy", "final_ce" (batch_size_study.py's).
        labels: {norm: legend label}.
        epochs: epochs every point trained for (for the title).
        lr_rule: how the learning rate followed the batch size (for the title).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=110)
    for ax, column, scale, name in ((axes[0], "final_accuracy", 100.0, "test accuracy (%)"),
                                    (axes[1], "final_ce", 1.0, "test cross-entropy (nats/image)")):
        for norm in dict.fromkeys(run["norm"] for run in runs):
            sizes = sorted({run["batch_size"] for run in runs if run["norm"] == norm})
            values = [[scale * run[column] for run in runs if run["norm"] == norm and run["batch_size"] == size]
                      for size in sizes]
            seeds = max(len(v) for v in values)
            label = labels.get(norm, norm) + (f", mean of {seeds} seeds" if seeds > 1 else "")
            line, = ax.plot(sizes, [np.mean(v) for v in values], marker="o", label=label, color=COLORS.get(norm))
            if seeds > 1:
                ax.fill_between(sizes, [min(v) for v in values], [max(v) for v in values],
                                color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log", base=2)
        every_size = sorted({run["batch_size"] for run in runs})
        ax.set_xticks(every_size, [str(size) for size in every_size])
        ax.set_xlabel("training batch size (log scale)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend()
    after = f"after {epochs} epoch{'s' if epochs != 1 else ''}"
    axes[0].set_title(f"Test accuracy {after}")
    axes[1].set_title(f"Test cross-entropy {after}")
    several = any(len({r["seed"] for r in runs if r["norm"] == n}) > 1 for n in {r["norm"] for r in runs})
    fig.suptitle(f"Batch size vs. normalization on MNIST ({lr_rule})"
                 + ("\nline: mean over seeds; shaded: lowest to highest seed" if several else ""), fontsize=10)
    fig.tight_layout()
    return fig


def plot_normalization_axes(batch, channels, height, width, groups, shown_images=6):
    """What each normalization averages over, as in the Group Normalization paper's Figure 2.

    One cube per method over (N, C, H x W); the shaded cells are the values one mean and
    variance is computed from. The cube shows `shown_images` of the `batch` images and every
    channel; the axis labels and titles give the real sizes.

    Args:
        batch, channels, height, width: the activation's shape (N, C, H, W).
        groups: GN's number of groups (LN is one group).
        shown_images: how many images the drawing shows along N.
    """
    shown = min(batch, shown_images)
    spatial_cells = 4  # H x W drawn as one axis of a few cells
    per_group = channels // groups
    methods = (
        ("Batch Norm", lambda n, c: c == 0, f"per channel, over N x H x W = {batch} x {height * width:,} "
                                            f"= {batch * height * width:,} values"),
        ("Layer Norm", lambda n, c: n == shown - 1, f"per image, over C x H x W = {channels} x {height * width:,} "
                                            f"= {channels * height * width:,} values"),
        (f"Group Norm ({groups} groups)", lambda n, c: n == shown - 1 and c < per_group,
         f"per image and group, over {per_group} x {height * width:,} = {per_group * height * width:,} values"),
    )
    fig = plt.figure(figsize=(12, 4.6), dpi=110)
    for index, (name, selected, scope) in enumerate(methods):
        ax = fig.add_subplot(1, 3, index + 1, projection="3d")
        filled = np.ones((shown, channels, spatial_cells), dtype=bool)
        colors = np.empty(filled.shape, dtype=object)
        for n in range(shown):
            for c in range(channels):
                colors[n, c, :] = "#3b75af" if selected(n, c) else "#f2f2f2"
        ax.voxels(filled, facecolors=colors, edgecolor="#9a9a9a", linewidth=0.3, shade=False)
        ax.set_xlabel(f"N (images: {shown} of {batch} drawn)", fontsize=8, labelpad=-8)
        ax.set_ylabel(f"C (channels: {channels})", fontsize=8, labelpad=-8)
        ax.set_zlabel(f"H x W ({height} x {width})", fontsize=8, labelpad=-10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.set_box_aspect((shown, channels, spatial_cells * 1.5))
        ax.view_init(elev=22, azim=-58)
        ax.set_title(f"{name}\n{scope}", fontsize=9)
    fig.suptitle(f"Which values one mean and variance are taken over (shaded), for this network's first "
                 f"normalization layer: batch {batch}, {height} x {width} x {channels}", fontsize=10)
    fig.subplots_adjust(left=0.0, right=0.97, bottom=0.02, top=0.8, wspace=0.05)
    return fig
