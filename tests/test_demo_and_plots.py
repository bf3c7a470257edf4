import subprocess
import pytest
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from mnist_norm import demo as normalization_demo  # noqa: E402
from mnist_norm import plots  # noqa: E402
from conftest import synthetic_digits  # noqa: E402


@pytest.mark.slow
def test_demo_prints_all_four_and_agrees_with_keras():
    result = subprocess.run([sys.executable, "normalization_demo.py"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    for title in ("## Batch normalization", "## Group normalization (2 groups)", "## Layer normalization",
                  "## Instance normalization"):
        assert title in result.stdout
    assert result.stdout.count("(OK)") == 4 and "MISMATCH" not in result.stdout
    assert "| image 1, channel c3 | -2.6, 0.5, -1.1, -1.0 | -1.0500 | 1.2025 |" in result.stdout  # IN: 4 values


def test_demo_reference_is_what_it_claims():
    x = normalization_demo.example_tensor()
    bn, _ = normalization_demo.batch_norm(x)
    ln, _ = normalization_demo.group_norm(x, 1)
    np.testing.assert_allclose(bn.mean(axis=(0, 1, 2)), 0, atol=1e-5)  # per channel over the batch
    np.testing.assert_allclose(ln.mean(axis=(1, 2, 3)), 0, atol=1e-5)  # per image over H, W, C
    assert np.abs(ln.mean(axis=(0, 1, 2))).max() > 0.01  # LN is not per-channel


def _histories():
    return {
        norm: [{"epoch": e, "val_ce": 0.1 / e + offset, "val_accuracy": 0.98 + 0.001 * e - offset}
               for e in range(1, 6)]
        for norm, offset in (("bn", 0.0), ("gn", 0.002), ("ln", 0.004))
    }


def test_curve_figures_are_annotated():
    labels = {"bn": "BN + L1", "gn": "GN (4 groups)", "ln": "LN"}
    loss = plots.plot_test_loss(_histories(), labels)
    accuracy = plots.plot_test_accuracy(_histories(), labels)
    for figure in (loss, accuracy):
        ax = figure.axes[0]
        assert [t.get_text() for t in ax.get_legend().get_texts()] == list(labels.values())
        assert ax.get_title() and ax.get_xlabel() == "epoch"
        assert len(ax.texts) == 3  # the final value at the end of each curve
    low, high = accuracy.axes[0].get_ylim()
    assert 97 < low and high <= 100  # zoomed in, in percent
    assert "no L1" in loss.axes[0].get_ylabel()
    # ln ends at 0.98 + 0.005 - 0.004 = 98.10 %
    assert sorted(t.get_text() for t in accuracy.axes[0].texts) == ["98.10", "98.30", "98.50"]


def test_several_seeds_draw_the_mean_and_a_min_max_band():
    seeds = [_histories(), _histories(), _histories()]
    for k, history in enumerate(seeds):  # seed k lifts every accuracy by k * 0.1 points
        for rows in history.values():
            for row in rows:
                row["val_accuracy"] += 0.001 * k
    labels = {"bn": "BN + L1", "gn": "GN (4 groups)", "ln": "LN"}
    figure = plots.plot_test_accuracy({norm: [h[norm] for h in seeds] for norm in labels}, labels)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"{v}, mean of 3 seeds" for v in labels.values()]
    bn_line = ax.get_lines()[0]
    np.testing.assert_allclose(bn_line.get_ydata(), [100 * (0.98 + 0.001 * e + 0.001) for e in range(1, 6)])
    assert len(ax.collections) == 3  # one band per model
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose([band.min(), band.max()], [98.1, 98.7], atol=1e-9)  # bn: seed 0 at epoch 1, seed 2 at 5
    assert sorted(t.get_text() for t in ax.texts) == ["98.20", "98.40", "98.60"]  # the means at epoch 5
    assert "lowest to highest seed" in ax.get_title()
    # One run per model stays a plain line, no band, no seed note
    single = plots.plot_test_accuracy(_histories(), labels).axes[0]
    assert not single.collections and "seed" not in single.get_title()
    # Recipe search runs say what they were evaluated on
    validation = plots.plot_test_loss(_histories(), labels, split="validation").axes[0]
    assert validation.get_title().startswith("Validation loss") and "test" not in validation.get_ylabel()


def test_misclassified_grid_is_5_by_2_with_labels():
    images, _ = synthetic_digits(20, 0)
    mistakes = [{"index": i, "true": 1, "predicted": 7, "probability": 0.9} for i in range(10)]
    figure = plots.plot_misclassified(images, mistakes, "LN: accuracy 99.00%")
    assert len(figure.axes) == 10
    assert figure.axes[0].get_subplotspec().get_gridspec().get_geometry() == (5, 2)
    assert "true 1, pred 7 (90%)" in figure.axes[3].get_title() and "#3" in figure.axes[3].get_title()
    assert all(not ax.get_xticks().size and not ax.get_yticks().size for ax in figure.axes)


def test_normalization_axes_figure_states_the_real_sizes():
    figure = plots.plot_normalization_axes(128, 8, 26, 26, groups=4)
    titles = [ax.get_title() for ax in figure.axes]
    assert len(titles) == 4  # the GN paper's order: BN, LN, IN, GN
    assert "128 x 676 = 86,528 values" in titles[0]  # BN: every image, one channel
    assert "8 x 676 = 5,408 values" in titles[1]  # LN: one image, every channel
    assert "Instance Norm" in titles[2] and "over H x W = 676 values" in titles[2]  # IN: one image, one channel
    assert "Group Norm (4 groups)" in titles[3] and "2 x 676 = 1,352 values" in titles[3]
