"""The batch-size study's blocks, and BN evaluated with test-batch statistics."""

from .. import results
from .. import studies
from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import machine_name, versions


def _seed_values(runs, norm, size, key, scale):
    return [scale * run[key] for run in runs if run["norm"] == norm and run["batch_size"] == size]


def _batch_cells(runs, norm, size, key, scale, decimals):
    values = _seed_values(runs, norm, size, key, scale)
    if not values:
        return "–"
    mean = f"{sum(values) / len(values):.{decimals}f}"
    return mean if len(values) == 1 else f"{mean} ({min(values):.{decimals}f}–{max(values):.{decimals}f})"


def batch_size(summary):
    """The batch-size study: per batch size, each model of the study's figure, its final test accuracy and
    cross-entropy over seeds (the variants after GN: their own block)."""
    runs, settings = summary["runs"], summary["settings"]
    norms = results.present(runs, studies.FIGURE_NORMS["batch-size"])
    sizes = sorted({run["batch_size"] for run in runs})
    labels = [variants_lib.NORM_LABELS[norm] for norm in norms]
    lines = ["| batch | peak lr | steps / epoch | " + " | ".join(f"{label} acc. %" for label in labels) + " | "
             + " | ".join(f"{label} CE" for label in labels) + " |", "|---|---|---|" + "---|" * 2 * len(norms)]
    for size in sizes:
        first = next(run for run in runs if run["batch_size"] == size)
        lines.append(f"| {size} | {first['lr']:.5f} | {first['steps_per_epoch']:,} | "
                     + " | ".join(_batch_cells(runs, norm, size, "final_accuracy", 100, 2) for norm in norms) + " | "
                     + " | ".join(_batch_cells(runs, norm, size, "final_ce", 1, 4) for norm in norms) + " |")
    seeds = sorted({run["seed"] for run in runs})
    shown = [run for run in runs if run["norm"] in norms]
    lines += ["", f"Mean over seeds {', '.join(map(str, seeds))} (lowest–highest in brackets), test set after "
              f"{settings['epochs']} epochs; {settings['lr_rule']}; {machine_name(summary)}, TensorFlow "
              f"{versions(summary, 'tensorflow')}; {sum(run['train_seconds'] for run in shown) / 3600:.1f} hours of "
              "training in all."]
    return "\n".join(lines)


def batch_size_headline(summary):
    """One line: each of the three's mean accuracy at the smallest and at the reference batch size."""
    runs = summary["runs"]
    sizes = sorted({run["batch_size"] for run in runs})
    picks = [sizes[0]] + ([summary["settings"]["base_batch_size"]]
                          if summary["settings"]["base_batch_size"] in sizes[1:] else sizes[-1:])
    parts = []
    for size in picks:
        means = {norm: sum(values) / len(values) for norm in results.present(runs, variants_lib.NORMS)
                 if (values := _seed_values(runs, norm, size, "final_accuracy", 100))}
        cells = [f"{variants_lib.NORM_LABELS[norm]} {mean:.2f} %" for norm, mean in means.items()]
        parts.append(f"batch {size}: " + ", ".join(cells))
    return f"test accuracy after {summary['settings']['epochs']} epochs, mean of seeds; " + "; ".join(parts)


def bn_test_time(table):
    """BN evaluated with its moving averages and with the statistics of each test batch."""
    sizes = sorted({int(size) for row in table["models"] for size in row["batch_statistics"]})
    lines = ["| BN + L1 model trained at batch | moving averages (Keras' test mode) | "
             + " | ".join(f"batch statistics, test batch {size}" for size in sizes) + " |",
             "|---|---|" + "---|" * len(sizes)]
    for row in table["models"]:
        cells = [f"{100 * row['batch_statistics'][str(size)]:.2f} %" if str(size) in row["batch_statistics"]
                 else "–" for size in sizes]
        lines.append(f"| {row['trained_batch_size']} (seed {row['seed']}) | {100 * row['moving_averages']:.2f} % | "
                     + " | ".join(cells) + " |")
    lines += ["", f"Test accuracy on all {table['test_images']:,} test images, taken in order in batches of the "
              "given size (the last batch smaller where the size does not divide 10,000)."]
    return "\n".join(lines)
