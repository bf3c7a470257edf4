"""The 20-epoch study's blocks: the findings table, the headline, the comparison with earlier networks and
published solutions, the timing, the worked example, the control, and what normalization buys."""

import os
import statistics

from .. import results
from ..results import RESULTS
from .. import rundir
from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import PUBLISHED, _mean, _optimizer, _pct, machine_name, versions
from .learning_rate import TRAINS, _trains_range
from .shift import _shift_values


def findings(summary):
    """Per model: params, epoch-20 and best test accuracy (mean ± std, each seed), CE, time."""
    lines = [
        "| model | trainable params | test acc. @ last epoch, mean ± std | per seed | best epoch acc. (mean) "
        "| test CE @ last epoch | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for norm, entry in summary["variants"].items():
        seeds = ", ".join(f"{run['seed']}: {_pct(run['final_accuracy'])}" for run in entry["runs"])
        lines.append(
            f"| {variants_lib.variant_label(norm, entry['config'])} | {entry['trainable_params']:,} "
            f"| **{_pct(entry['final_accuracy_mean'])} ± {_pct(entry['final_accuracy_std'])} %** | {seeds} "
            f"| {_pct(entry['best_accuracy_mean'])} % | {entry['final_ce_mean']:.4f} ± {entry['final_ce_std']:.4f} "
            f"| {entry['mean_epoch_seconds_mean']:.1f} |"
        )
    first = next(iter(summary["variants"].values()))
    machines = [entry["machine"] for entry in summary.get("environments", []) if isinstance(entry.get("machine"), dict)]
    machine = summary.get("machine") or machines[0]
    gpus = f"GPU {', '.join(machine['gpus'])}" if machine["gpus"] else "no GPU"
    where = (f"{machine['processor']} ({machine['cpu_count']} cores, {gpus})" if "machine" in summary
             else f"{machine_name(summary)}, {gpus}")
    total = sum(run["train_seconds"] for norm, entry in summary["variants"].items() if norm in variants_lib.NORMS
                for run in entry["runs"])
    extras = [(variants_lib.NORM_LABELS[norm] if norm != variants_lib.CONTROL else "the control",
               sum(run["train_seconds"] for run in summary["variants"][norm]["runs"]))
              for norm in variants_lib.ALL_NORMS if norm not in variants_lib.NORMS and norm in summary["variants"]]
    lines.append("")
    lines.append(
        f"{first['config']['epochs']} epochs, seeds {', '.join(str(r['seed']) for r in first['runs'])}, "
        f"batch {first['config']['batch_size']}, evaluated on the {first['evaluated_on']} set; "
        f"{where}, TensorFlow {versions(summary, 'tensorflow')}, Keras {versions(summary, 'keras')}; "
        f"{total / 60:.1f} minutes of training for the three models"
        + "".join(f", {seconds / 60:.1f} for {label}" for label, seconds in extras) + "."
    )
    return "\n".join(lines)


def headline(summary):
    """One line for the top of the README: each model's epoch-20 test accuracy, best first."""
    ranked = sorted(summary["variants"].items(), key=lambda item: -item[1]["final_accuracy_mean"])
    return ", ".join(f"{variants_lib.NORM_LABELS[norm]} {_pct(entry['final_accuracy_mean'])} ± "
                     f"{_pct(entry['final_accuracy_std'])} %" for norm, entry in ranked)


def comparison(summary, earlier=None):
    """Our epoch-20 means next to the published numbers (and earlier networks' runs: {label: summary})."""
    norms = list(summary["variants"])
    lines = ["| | params | " + " | ".join(variants_lib.NORM_LABELS[n] for n in norms) + " |", "|---|---|" + "---|" * len(norms)]
    for name, params, values in PUBLISHED:
        lines.append(f"| published PyTorch, {name} | {params} | "
                     + " | ".join(f"{values[n]:.2f}" for n in norms) + " |")
    sources = [(f"{label} (earlier run), ", source, False) for label, source in (earlier or {}).items()]
    for label, source, bold in sources + [("", summary, True)]:
        mark = "**" if bold else ""
        params = max(entry["trainable_params"] for entry in source["variants"].values())
        seeds = len(next(iter(source["variants"].values()))["runs"])
        lines.append(f"| {mark}this project, {label}mean of {seeds} seeds{mark} | {params:,} | "
                     + " | ".join(f"{mark}{_pct(source['variants'][n]['final_accuracy_mean'])}{mark}" for n in norms)
                     + " |")
    return "\n".join(lines)


def timing(runs):
    """Epoch times from the per-epoch histories: {label: results folder} -> one row per model and run set."""
    lines = ["| run | machine | model | median s/epoch | epochs > 1.5x median | training minutes (all seeds) "
             "| minutes per seed at the median |", "|---|---|---|---|---|---|---|"]
    for label, folder in runs.items():
        summary = results.load(folder)
        for norm, entry in summary["variants"].items():
            seconds = []
            for run in entry["runs"]:
                run_dir = rundir.run_dir_for(os.path.join(RESULTS, folder), norm, run["seed"])
                seconds += [row["epoch_seconds"] for row in rundir.read_history(rundir.file(run_dir, "history"))]
            median = statistics.median(seconds)
            slow = sum(s > 1.5 * median for s in seconds)
            processor = summary["machine"]["processor"] if "machine" in summary else " and ".join(dict.fromkeys(
                entry["machine"]["processor"] for entry in summary["environments"]))
            lines.append(f"| {label} | {processor} | {variants_lib.NORM_LABELS[norm]} "
                         f"| {median:.1f} | {slow} of {len(seconds)} "
                         f"| {sum(seconds) / 60:.1f} | {median * len(seconds) / len(entry['runs']) / 60:.1f} |")
    return "\n".join(lines)


def demo():
    """normalization_demo.py's worked example, as printed."""
    import contextlib
    import io

    from .. import demo as normalization_demo

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        if normalization_demo.worked_example() != 0:
            raise RuntimeError("normalization_demo.py found a mismatch with Keras")
    return buffer.getvalue().rstrip("\n")


def _three(summary):
    """The summary with only the assignment's three models (results/ also holds IN and the control)."""
    return {**summary, "variants": {n: e for n, e in summary["variants"].items() if n in variants_lib.NORMS}}


def control(summary):
    """What the control without normalization reaches in the same 20 epochs, beside the three."""
    variants = summary["variants"]
    none = variants[variants_lib.CONTROL]
    three = {n: variants[n]["final_accuracy_mean"] for n in variants_lib.NORMS if n in variants}
    config = none["config"]
    low, high = min(three.values()), max(three.values())
    mine = none["final_accuracy_mean"]
    if mine < low:
        gap = f"a gap of {100 * (low - mine):.2f} to {100 * (high - mine):.2f} points"
    else:
        gap = "no gap at all" if mine <= high else "the control is ahead"
    return (f"After {none['config']['epochs']} epochs the control without normalization reaches "
            f"**{_pct(none['final_accuracy_mean'])} ± {_pct(none['final_accuracy_std'])} %** test accuracy "
            f"(test cross-entropy {none['final_ce_mean']:.4f}), against {_pct(low)}–{_pct(high)} % "
            f"({min(variants[n]['final_ce_mean'] for n in three):.4f}–"
            f"{max(variants[n]['final_ce_mean'] for n in three):.4f}) for the three normalized models: "
            f"{gap} with this recipe ({_optimizer(config)}, peak learning rate {config['lr']:g}), "
            f"seeds {', '.join(str(r['seed']) for r in none['runs'])}.")




def buys_headline(summary, shifted, rates):
    """One line for the top of the README: the control, fainter ink, and the learning rates that train."""
    variants = summary["variants"]
    three = [variants[n]["final_accuracy_mean"] for n in variants_lib.NORMS]

    def faint(norm, mode):
        return _mean(_shift_values(shifted["runs"], norm, mode, "contrast 0.25"))

    spans = {n: _trains_range(rates, "adam", n) for n in (variants_lib.CONTROL, *variants_lib.NORMS)}
    epochs = variants[variants_lib.CONTROL]["config"]["epochs"]
    faint_ink = ", ".join(f"{variants_lib.NORM_LABELS[n]} {faint(n, results.inference_mode(n)):.1f} %"
                          for n in variants_lib.NORMS)
    return (f"after {epochs} epochs the control reaches {_pct(variants['none']['final_accuracy_mean'])} % "
            f"(the three {_pct(min(three))}–{_pct(max(three))} %); on fainter ink (contrast ×0.25) {faint_ink}, "
            f"the control {faint('none', 'inference'):.1f} %; with Adam, the peak "
            f"learning rates that reach {TRAINS:g} % in {rates['settings']['epochs']} epochs: "
            + ", ".join(f"{variants_lib.NORM_LABELS[n]} " + (f"{span[0]:g}–{span[1]:g}" if span else "none")
                        for n, span in spans.items()))


EARLIER = (("course-network", "course network", "course_network"),
           ("block2-pool", "pool after block 2", "block2_pool"))


def _earlier():
    """{label: (folder, summary)} of the studies of earlier default networks that are in results/."""
    found = {label: (folder, results.load(folder)) for folder, label, _ in EARLIER}
    return {label: entry for label, entry in found.items() if entry[1]}


def comparison_block(summary):
    """The three against the earlier default networks and the published solutions."""
    return comparison(_three(summary), {label: found for label, (_, found) in _earlier().items()})


def headline_block(summary):
    return headline(_three(summary))


def timing_block(summary):
    """Epoch times of this network beside the earlier networks' (each read from its own folder)."""
    return timing({"this network": ".", **{f"{label} (earlier)": folder for label, (folder, _) in _earlier().items()}})
