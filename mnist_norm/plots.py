"""Every figure of the project: the joint test-loss / test-accuracy curves, misclassified grids, the batch-size,
learning-rate, L1, shift, group-axis and deployment studies, predictions and numbers read, the normalization axes.

Every function takes plain data (numbers already spelled, labels passed in) and returns a matplotlib Figure; nothing
is shown or saved here (the commands and the notebook decide that); it reads only constants and accessors (variants,
results, runtimes' labels), never a command or the image reader.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from . import results
from . import runtimes
from . import variants

COLORS = variants.COLORS


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
        runs: dicts with "norm", "batch_size", "seed", "final_accuracy", "final_ce" (sweep.py batch-size rows).
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
    """What each normalization averages over, as in the Group Normalization paper's Figure 2 (its order: BN, LN,
    IN, GN).

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
        ("Instance Norm", lambda n, c: n == shown - 1 and c == 0,
         f"per image and channel, over H x W = {height * width:,} values"),
        (f"Group Norm ({groups} groups)", lambda n, c: n == shown - 1 and c < per_group,
         f"per image and group, over {per_group} x {height * width:,} = {per_group * height * width:,} values"),
    )
    fig = plt.figure(figsize=(16, 4.8), dpi=110)
    for index, (name, selected, scope) in enumerate(methods):
        ax = fig.add_subplot(1, len(methods), index + 1, projection="3d")
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
        ax.set_title(f"{name}\n{scope}", fontsize=8.5)
    fig.suptitle(f"Which values one mean and variance are taken over (shaded), for this network's first "
                 f"normalization layer: batch {batch}, {height} x {width} x {channels}", fontsize=10)
    fig.subplots_adjust(left=0.0, right=0.97, bottom=0.02, top=0.8, wspace=0.05)
    return fig


def plot_learning_rate(runs, labels, epochs, warmup_fraction):
    """Final test error against the peak learning rate (both log scales), one panel per optimizer.

    Args:
        runs: sweep.py's learning-rate rows: "norm", "optimizer", "lr", "seed", "final_accuracy", "diverged".
        labels: {norm: legend label}.
        epochs: epochs every point trained for (for the title).
        warmup_fraction: of the steps spent warming the learning rate up (for the title).

    A diverged run (loss NaN) predicts one class for every image: it is drawn at chance (90 % error)
    with an x, and counts as chance in the mean.
    """
    optimizers = list(dict.fromkeys(run["optimizer"] for run in runs))
    fig, axes = plt.subplots(1, len(optimizers), figsize=(5.6 * len(optimizers), 4.4), dpi=110, sharey=True,
                             squeeze=False)
    for ax, optimizer in zip(axes[0], optimizers):
        mine = [run for run in runs if run["optimizer"] == optimizer]
        for norm in dict.fromkeys(run["norm"] for run in mine):
            rates = sorted({run["lr"] for run in mine if run["norm"] == norm})
            errors = [[100.0 * (1 - results.accuracy(run))
                       for run in mine if run["norm"] == norm and run["lr"] == rate] for rate in rates]
            seeds = max(len(e) for e in errors)
            label = labels.get(norm, norm) + (f", mean of {seeds} seeds" if seeds > 1 else "")
            line, = ax.plot(rates, [np.mean(e) for e in errors], marker="o", label=label, color=COLORS.get(norm),
                            linestyle="--" if norm == variants.CONTROL else "-")
            if seeds > 1:
                ax.fill_between(rates, [min(e) for e in errors], [max(e) for e in errors],
                                color=line.get_color(), alpha=0.15, linewidth=0)
            diverged = [run["lr"] for run in mine if run["norm"] == norm and run["diverged"]]
            if diverged:
                ax.plot(diverged, [100.0 * (1 - results.CHANCE)] * len(diverged), "x", markersize=10,
                        color=line.get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("peak learning rate (log scale)")
        ax.set_title(f"{optimizer.upper() if optimizer == 'sgd' else optimizer.capitalize()}"
                     f"{' (Nesterov momentum 0.9)' if optimizer == 'sgd' else ''}")
        ax.axhline(90.0, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel("test error (%, log scale; 90 % = chance)")
    axes[0][0].legend(fontsize=8)
    several = any(len({r["seed"] for r in runs if r["norm"] == n and r["lr"] == runs[0]["lr"]}) > 1
                  for n in {r["norm"] for r in runs})
    fig.suptitle(f"Which peak learning rates train, after {epochs} epoch{'s' if epochs != 1 else ''} "
                 f"(warm-up {100 * warmup_fraction:g} %, cosine to 0)"
                 + ("\nline: mean over seeds; shaded: lowest to highest seed" if several else "")
                 + ("; x: loss became NaN" if any(run["diverged"] for run in runs) else ""),
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_l1(runs):
    """BN + L1 at several L1 factors: test accuracy, near-zero weights, kernel norms over the epochs.

    Args:
        runs: sweep.py's l1 rows: "l1", "seed", "final_accuracy", and per epoch "kernel_norms"
            ({conv layer: L2 norm}) and "near_zero_all" (fraction of conv weights with |w| < 1e-3).
    """
    factors = sorted({run["l1"] for run in runs})
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(factors)))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=110)
    accuracy, zero, body, head = axes.flat
    finals = [[100 * r["final_accuracy"] for r in runs if r["l1"] == f] for f in factors]
    positions = np.arange(len(factors))
    accuracy.plot(positions, [np.mean(v) for v in finals], marker="o", color="#1f77b4")
    for x, values in zip(positions, finals):
        accuracy.plot([x] * len(values), values, ".", color="#1f77b4", alpha=0.5)
    accuracy.set_xticks(positions, [f"{f:g}" for f in factors])
    accuracy.set_xlabel("L1 factor λ on every conv kernel")
    accuracy.set_ylabel("test accuracy (%)")
    accuracy.set_title("Final test accuracy (line: mean; dots: seeds)")

    def per_epoch(ax, value, title, ylabel):
        for factor, color in zip(factors, colors):
            mine = [r for r in runs if r["l1"] == factor]
            curves = np.array([[value(r, e) for e in range(len(r["kernel_norms"]))] for r in mine], dtype=float)
            epochs = np.arange(1, curves.shape[1] + 1)
            ax.plot(epochs, curves.mean(axis=0), color=color, label=f"λ = {factor:g}")
            if len(mine) > 1:
                ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.2, linewidth=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)

    per_epoch(zero, lambda r, e: 100 * r["near_zero_all"][e], "Conv weights with |w| < 0.001", "% of all conv weights")
    per_epoch(body, lambda r, e: results.body_kernel_norm(r["kernel_norms"][e]),
              "L2 norm of the normalized conv kernels (blocks 1-5)", "L2 norm")
    per_epoch(head, lambda r, e: results.head_kernel_norm(r["kernel_norms"][e]),
              "L2 norm of the head's kernel (no norm after it)", "L2 norm")
    zero.legend(fontsize=8)
    fig.suptitle("What L1 does beside batch normalization (line: mean over seeds; shaded: lowest to highest)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def shift_columns(rows, labels):
    """The heatmap's columns (results.shift_modes, as the table has them): (norm, mode, label)."""
    columns = []
    for norm, mode in results.shift_modes(rows):
        label = labels.get(norm, norm)
        if mode.startswith("batch_statistics_"):
            label += f"\ntest-batch stats\n(batch {mode.rsplit('_', 1)[1]})"
        elif mode == "moving_averages":
            label += "\nmoving averages"
        columns.append((norm, mode, label))
    return columns


def plot_shift(rows, labels, examples):
    """Test accuracy (mean over seeds) of every model and mode under every input shift, as a heatmap.

    Args:
        rows: shift.py's rows: "norm", "seed", "mode", "shift", "accuracy".
        labels: {norm: label}.
        examples: {shift: a 28x28 test image under that shift}, drawn beside its row.
    """
    shifts = list(dict.fromkeys(r["shift"] for r in rows))
    columns = shift_columns(rows, labels)
    table = np.full((len(shifts), len(columns)), np.nan)
    spread = np.zeros_like(table)
    for i, name in enumerate(shifts):
        for j, (norm, mode, _) in enumerate(columns):
            values = [100 * r["accuracy"] for r in rows if r["shift"] == name and r["norm"] == norm and r["mode"] == mode]
            table[i, j], spread[i, j] = np.mean(values), np.ptp(values)
    seeds = len({r["seed"] for r in rows})
    fig = plt.figure(figsize=(1.3 * len(columns) + 3.2, 0.52 * len(shifts) + 2.2), dpi=110)
    grid = fig.add_gridspec(len(shifts), 2, width_ratios=(0.6, 1.3 * len(columns)), wspace=0.02, hspace=0.08)
    for i, name in enumerate(shifts):
        ax = fig.add_subplot(grid[i, 0])
        ax.imshow(examples[name], cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    ax = fig.add_subplot(grid[:, 1])
    image = ax.imshow(table, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for i in range(len(shifts)):
        for j in range(len(columns)):
            text = f"{table[i, j]:.1f}" + (f"\n±{spread[i, j] / 2:.1f}" if seeds > 1 and spread[i, j] >= 0.05 else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5,
                    color="white" if table[i, j] <= 25 else "black")
    ax.set_xticks(range(len(columns)), [c[2] for c in columns], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([])
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="test accuracy (%)")
    fig.suptitle(f"Test accuracy under input shifts (%, mean of {seeds} seed{'s' if seeds > 1 else ''}"
                 + ("; ± half the range over seeds" if seeds > 1 else "") + "); left: the first test image so shifted",
                 fontsize=10, y=0.995)
    return fig


def plot_predictions(shown, labels):
    """Each image as the models see it (28 x 28) beside every model's ten probabilities.

    Args:
        shown: [(name, 28x28 field in 0-255, {norm: 10 probabilities}), ...].
        labels: {norm: legend label}.
    """
    fig, axes = plt.subplots(len(shown), 2, figsize=(8.5, 2.3 * len(shown)), dpi=110, squeeze=False,
                             gridspec_kw={"width_ratios": (1, 3.2)})
    for (name, field, probabilities), (left, right) in zip(shown, axes):
        left.imshow(field, cmap="gray", vmin=0, vmax=255)
        left.set_xticks([])
        left.set_yticks([])
        left.set_title(name if len(name) <= 32 else name[:31] + "…", fontsize=8)
        width = 0.8 / len(probabilities)
        for k, (norm, values) in enumerate(probabilities.items()):
            guess = int(np.argmax(values))
            right.bar(np.arange(10) + (k - (len(probabilities) - 1) / 2) * width, 100 * np.asarray(values), width,
                      color=COLORS.get(norm), label=f"{labels.get(norm, norm)}: {guess} ({100 * values[guess]:.1f}%)")
        right.set_xticks(range(10))
        right.set_ylim(0, 100)
        right.set_ylabel("probability (%)")
        right.legend(fontsize=7, loc="upper left" if int(np.argmax(next(iter(probabilities.values())))) > 4
                     else "upper right")
        right.grid(alpha=0.3, axis="y")
    axes[-1][1].set_xlabel("digit")
    fig.suptitle("What the models see (left: made MNIST-like) and what they say", fontsize=10)
    fig.tight_layout()
    return fig


def plot_numbers(shown, labels):
    """Each image with the boxes of the digits found in it, each model's number, and the 28 x 28 fields the models
    saw with each model's digit and probability under them.

    Args:
        shown: [(name, greyscale image (H, W), file pixels per its pixel, [reading.Digit],
                 {norm: (n, 10) probabilities}, {norm: the number it reads, spelled}), ...].
        labels: {norm: legend label}.
    """
    fig = plt.figure(figsize=(9, 5.2 * len(shown)), dpi=110)
    grid = fig.add_gridspec(2 * len(shown), 1, height_ratios=[3, 1.3] * len(shown))
    for row, (name, grey, scale, digits, probabilities, numbers) in enumerate(shown):
        top = fig.add_subplot(grid[2 * row])
        top.imshow(grey, cmap="gray", vmin=0, vmax=255)
        for k, digit in enumerate(digits):
            left, upper, right, lower = (value / scale for value in digit.box)
            top.add_patch(plt.Rectangle((left, upper), right - left, lower - upper, fill=False, color="#d62728",
                                        linewidth=1.5))
            top.text(left, upper - 4, str(k + 1), color="#d62728", fontsize=8, va="bottom")
        top.set_xticks([])
        top.set_yticks([])
        answers = " · ".join(f"{labels.get(norm, norm)} {numbers[norm]}" for norm in probabilities)
        top.set_title(f"{name if len(name) <= 40 else name[:39] + '…'}\n{answers}", fontsize=9)
        bottom = fig.add_subplot(grid[2 * row + 1])
        strip = np.concatenate([np.pad(digit.field, ((0, 0), (2, 2))) for digit in digits], axis=1)
        bottom.imshow(strip, cmap="gray", vmin=0, vmax=255, extent=(0, strip.shape[1], 28, 0))
        for k in range(len(digits)):
            for m, (norm, values) in enumerate(probabilities.items()):
                guess = int(np.argmax(values[k]))
                bottom.text(32 * k + 16, 33 + 7 * m, f"{guess} {100 * values[k, guess]:.0f}%", ha="center",
                            va="top", fontsize=7, color=COLORS.get(norm))
        bottom.set_xlim(0, strip.shape[1])
        bottom.set_ylim(33 + 7 * len(probabilities), 0)
        bottom.axis("off")
        bottom.set_title("what the models saw (28 x 28), and each model's digit", fontsize=8)
    fig.tight_layout()
    return fig


def plot_group_axis(points, shifts, epochs):
    """The group axis, from LN (all channels in one group) to IN (one channel per group): clean test accuracy, and
    accuracy under the shifts, each point's mean over seeds with a bar from the lowest to the highest seed.

    Args:
        points: results.group_axis_points(runs).
        shifts: {label: [per point, the per-seed accuracies (%)]}, drawn in the right panel in this order.
        epochs: the epochs every point trained.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110)
    x = np.arange(len(points))
    ticks = [f"{p['name']}\nG {p['groups']} · {p['sizes']} ch." for p in points]

    def draw(ax, per_point, label, color, marker="o"):
        means = np.array([np.mean(v) for v in per_point])
        low = means - np.array([min(v) for v in per_point])
        high = np.array([max(v) for v in per_point]) - means
        ax.errorbar(x, means, yerr=[low, high], color=color, marker=marker, capsize=3, label=label)
        return means

    clean = draw(left, [[100 * r["final_accuracy"] for r in p["runs"]] for p in points], "clean test set", "#2ca02c")
    for xi, value in zip(x, clean):
        left.annotate(f"{value:.2f}", (xi, value), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    left.set_title("Clean test accuracy (mean; bar: lowest to highest seed)", fontsize=10)
    left.set_ylabel("test accuracy (%)")
    for (label, per_point), color, marker in zip(shifts.items(), ("#ff7f0e", "#7f7f7f", "#9467bd", "#1f77b4"),
                                                 ("o", "s", "^", "D")):
        draw(right, per_point, label, color, marker)
    right.set_title("Under input shifts (mean; bar: lowest to highest seed)", fontsize=10)
    right.set_ylabel("test accuracy (%)")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.set_xticks(x, ticks, fontsize=7)
        ax.grid(alpha=0.3)
    seeds = max(len(p["runs"]) for p in points)
    fig.suptitle(f"The group axis: from all channels in one group (LN) to one channel per group (IN); "
                 f"{epochs} epochs, {seeds} seeds; G: groups per layer, ch.: channels per group (8, 12, 16-channel "
                 "layers)", fontsize=9)
    fig.tight_layout()
    return fig


RUNTIME_COLORS = {"keras": "#7f7f7f", "litert-f32": "#1f77b4", "litert-int8": "#d62728"}
DEPLOY_RUNTIMES = tuple((name, runtimes.LABELS[name], RUNTIME_COLORS[name]) for name in runtimes.NAMES)


def plot_deploy(summary, labels):
    """deploy.py's study: latency (batch 1), throughput (batch 256) and test accuracy per model and runtime.

    Bars are the mean over seeds, the black ticks run from the lowest to the highest seed; the throughput panel
    draws one core's ceiling (the network's multiply-adds at the measured matmul peak). `labels`: {norm: label},
    in the order the models are drawn.
    """
    norms = [n for n in labels if any(r["norm"] == n for r in summary["runs"])]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), dpi=110)
    width = 0.8 / len(DEPLOY_RUNTIMES)
    panels = (("latency_ms_batch1", 1, "ms per image (batch 1, median)", "Latency, one image", True),
              ("images_per_s_batch256", 1, "images per second (batch 256)", "Throughput", True),
              ("accuracy", 100, "test accuracy (%)", "Test accuracy", False))
    for ax, (key, scale, ylabel, title, log) in zip(axes, panels):
        for offset, (runtime, name, color) in enumerate(DEPLOY_RUNTIMES):
            values = [[scale * r[key] for r in summary["runs"] if r["norm"] == n and r["runtime"] == runtime]
                      for n in norms]
            x = np.arange(len(norms)) + (offset - (len(DEPLOY_RUNTIMES) - 1) / 2) * width
            means = [np.mean(v) for v in values]
            ax.bar(x, means, width, color=color, label=name)
            ax.vlines(x, [min(v) for v in values], [max(v) for v in values], color="black", linewidth=1.2)
            if key == "accuracy":
                for xi, mean, spread in zip(x, means, values):
                    ax.text(xi, max(spread) + 0.01, f"{mean:.2f}", ha="center", va="bottom", fontsize=6.5,
                            rotation=90)
        ax.set_xticks(np.arange(len(norms)), [labels[n] for n in norms])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(axis="y", alpha=0.3, which="both")
    ceiling = summary.get("ceiling")
    if ceiling:
        axes[1].axhline(ceiling["images_per_s"], color="black", linestyle="--", linewidth=1)
        axes[1].text(len(norms) - 0.5, ceiling["images_per_s"], "one core's ceiling", ha="right", va="bottom",
                     fontsize=8)
    accuracies = [100 * r["accuracy"] for r in summary["runs"]]
    axes[2].set_ylim(min(accuracies) - 0.15, max(accuracies) + 0.2)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, 0.94), frameon=False)
    threads = summary.get("method", {}).get("threads", 1)
    fig.suptitle(f"What each normalization costs at inference ({threads} thread; bars: mean of seeds, "
                 f"ticks: lowest to highest seed)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig
