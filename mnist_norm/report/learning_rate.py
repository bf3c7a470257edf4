"""The learning-rate study's table and verdict."""

import math

from .. import results
from .. import studies
from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import _mean
from .fmt import _optimizer
from .fmt import machine_name


_lr_runs = results.lr_runs


TRAINS = results.TRAINS


def _lr_accuracy(run):
    return 100 * results.accuracy(run)


def learning_rate_table(summary):
    runs = summary["runs"]
    optimizers = list(dict.fromkeys(r["optimizer"] for r in runs))
    norms = results.present(runs, studies.FIGURE_NORMS["learning-rate"])  # the variants after GN: their own block
    rates = sorted({r["lr"] for r in runs})
    lines = ["| optimizer | peak lr | " + " | ".join(variants_lib.NORM_LABELS[n] for n in norms) + " |",
             "|---|---|" + "---|" * len(norms)]
    for optimizer in optimizers:
        for lr in rates:
            cells = []
            for norm in norms:
                mine = _lr_runs(summary, optimizer, norm, lr)
                values = [_lr_accuracy(r) for r in mine]
                if not values:  # a sweep still under way
                    cells.append("–")
                    continue
                diverged = sum(r["diverged"] for r in mine)
                cell = f"{_mean(values):.2f} ({min(values):.2f}–{max(values):.2f})"
                cells.append(cell + (f", {diverged} of {len(mine)} diverged" if diverged else ""))
            lines.append(f"| {optimizer} | {lr:g} | " + " | ".join(cells) + " |")
    settings = summary["settings"]
    lines += ["", f"Test accuracy in % after {settings['epochs']} epochs at batch {settings['batch_size']} (warm-up "
              f"{100 * settings['warmup_fraction']:g} %, cosine to 0), "
              f"mean of seeds {', '.join(map(str, settings['seeds']))} (lowest–highest); a diverged run (loss NaN) "
              f"counts as chance ({100 * results.CHANCE:g} %). {machine_name(summary)}, "
              f"{sum(r.get('train_seconds', 0) for r in runs if r['norm'] in norms) / 60:.0f} minutes of training "
              "in all."]
    return "\n".join(lines)


def _trains_range(summary, optimizer, norm):
    rates = sorted({r["lr"] for r in summary["runs"] if r["optimizer"] == optimizer and r["norm"] == norm})
    trains = [_mean([_lr_accuracy(r) for r in _lr_runs(summary, optimizer, norm, lr)]) >= TRAINS for lr in rates]
    best, start = None, None  # the widest run of neighbouring rates that all train
    for k, ok in enumerate(trains + [False]):
        if ok and start is None:
            start = k
        elif not ok and start is not None:
            if best is None or k - start > best[1] - best[0] + 1:
                best = (start, k - 1)
            start = None
    return (rates[best[0]], rates[best[1]]) if best else None


def learning_rate_verdict(summary):
    runs = summary["runs"]
    epochs = summary["settings"]["epochs"]
    parts = []
    for optimizer in dict.fromkeys(r["optimizer"] for r in runs):
        cells = []
        for norm in results.present(runs, studies.FIGURE_NORMS["learning-rate"]):
            span = _trains_range(summary, optimizer, norm)
            if span is None:
                cells.append(f"{variants_lib.NORM_LABELS[norm]} at no rate")
            else:
                cells.append(f"{variants_lib.NORM_LABELS[norm]} {span[0]:g}–{span[1]:g}"
                             f" ({math.log10(span[1] / span[0]):.1f} decades)")
        parts.append(f"with {_optimizer({'optimizer': optimizer})}: " + ", ".join(cells))
    diverged = sorted({(r["norm"], r["optimizer"]) for r in runs
                       if r["diverged"] and r["norm"] in studies.FIGURE_NORMS["learning-rate"]})
    rates = sorted({r["lr"] for r in runs})
    return (f"Peak learning rates (of {', '.join(f'{lr:g}' for lr in rates)}) at which the mean test accuracy after "
            f"{epochs} epochs is at least {TRAINS:g} %: " + "; ".join(parts) + ". "
            + (f"Runs whose loss became NaN: {', '.join(f'{variants_lib.NORM_LABELS[n]} ({o})' for n, o in diverged)}."
               if diverged else "No run's loss became NaN."))
