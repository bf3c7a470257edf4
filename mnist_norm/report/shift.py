"""The input-shift study's table and verdict."""


from .. import plan as plan_lib
from .. import results
from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import _mean


def _shift_label(norm, mode):
    label = variants_lib.NORM_LABELS[norm]
    if mode.startswith("batch_statistics_"):
        return f"{label}, test-batch stats ({mode.rsplit('_', 1)[1]})"
    return f"{label}, moving avg." if mode == "moving_averages" else label


_shift_values = results.shift_values


def shift_table(summary):
    """Every shift x model and mode: mean test accuracy over seeds (lowest-highest)."""
    runs = summary["runs"]
    modes = results.shift_modes(runs)
    lines = ["| shift | " + " | ".join(_shift_label(*m) for m in modes) + " |", "|---|" + "---|" * len(modes)]
    for name in summary["shifts"]:
        cells = []
        for mode in modes:
            values = _shift_values(runs, *mode, name)
            cells.append(f"{_mean(values):.1f} ({min(values):.1f}–{max(values):.1f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in runs})
    lines += ["", f"Test accuracy in %, mean of seeds {', '.join(map(str, seeds))} (lowest–highest), on all "
              f"{summary['test_images']:,} test images; the models of the "
              f"{plan_lib.study_name(summary.get('models', plan_lib.RESULTS))} "
              "study and the control. "
              "What each shift does: " + "; ".join(f"*{n}*: {about.rstrip('.')}" for n, about in
                                                   summary["shifts"].items() if n != "clean") + "."]
    return "\n".join(lines)


def shift_verdict(summary):
    """Three sentences for the README from results/shift/summary.json."""
    runs = summary["runs"]

    def acc(norm, mode, name):
        return _mean(_shift_values(runs, norm, mode, name))

    inference = {norm: results.inference_mode(norm) for norm in results.present(runs)}
    shifted = [n for n in summary["shifts"] if n != "clean"]
    average = {norm: _mean([acc(norm, mode, n) for n in shifted]) for norm, mode in inference.items()}
    batch = _mean([acc("bn", "batch_statistics_1000", n) for n in shifted])
    ranked = sorted(average.items(), key=lambda item: -item[1])

    def listing(name, decimals=1):
        cells = []
        for norm, mode in inference.items():
            values = _shift_values(runs, norm, mode, name)
            label = variants_lib.NORM_LABELS[norm] + (" (moving averages)" if norm == "bn" else "")
            cells.append(f"{label} {_mean(values):.{decimals}f}" + (f" ({min(values):.{decimals}f}–{max(values):.{decimals}f})"
                                                                    if len(values) > 1 else ""))
        return ", ".join(cells)

    clean = ", ".join(f"{variants_lib.NORM_LABELS[n]} {acc(n, m, 'clean'):.2f}" for n, m in inference.items())

    return (f"Fainter ink (contrast ×0.25): {listing('contrast 0.25')} %; a grey background: "
            f"{listing('grey background')} % (mean of the seeds, lowest–highest in brackets). "
            f"Averaged over the {len(shifted)} shifts, the models rank {', '.join(f'{variants_lib.NORM_LABELS[n]} {v:.1f}' for n, v in ranked)} % "
            f"(clean: {clean} %). "
            f"The same BN models normalizing with each 1,000-image test batch's own statistics instead of their moving "
            f"averages reach {acc('bn', 'batch_statistics_1000', 'contrast 0.25'):.1f} % on fainter ink, "
            f"{acc('bn', 'batch_statistics_1000', 'grey background'):.1f} % on grey paper and {batch:.1f} % on average "
            f"({_mean([acc('bn', 'batch_statistics_8', n) for n in shifted]):.1f} % with test batches of 8).")
