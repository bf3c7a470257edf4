"""Renders the result tables of README.md and docs/*.md from the files real runs wrote under results/.

Each table lives between `<!-- report:NAME -->` and `<!-- /report:NAME -->` in one of those
files; tests/test_readme.py checks that they still equal what this renders, so numbers are
never typed by hand and cannot drift from results/.
"""

import glob
import math
import os
import re
import statistics
from dataclasses import dataclass

from . import quiet_tf

quiet_tf.start()  # TensorFlow's C++ start-up lines only with --debug

from . import network as model  # noqa: E402
from . import results  # noqa: E402
from . import rundir  # noqa: E402
from . import runtimes  # noqa: E402
from . import variants as variants_lib  # noqa: E402 (summaries call their entries "variants")

ROOT, RESULTS = results.ROOT, results.RESULTS
# Published PyTorch solutions of the assignment at epoch 20, as quoted in issue 4: (name, params, accuracy %).
PUBLISHED = (("typical", "9,900", {"bn": 99.41, "gn": 99.46, "ln": 99.44}),
             ("best", "8,880", {"bn": 99.47, "gn": 99.54, "ln": 99.48}))


def _load(name):
    """A JSON file below results/ (benchmark.py's, bn_test_time.json), or None."""
    path = os.path.join(RESULTS, name)
    return rundir.read_json(path) if os.path.exists(path) else None


def _pct(value):
    return f"{100 * value:.2f}"


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
            f"| {model.variant_label(norm, entry['config'])} | {entry['trainable_params']:,} "
            f"| **{_pct(entry['final_accuracy_mean'])} ± {_pct(entry['final_accuracy_std'])} %** | {seeds} "
            f"| {_pct(entry['best_accuracy_mean'])} % | {entry['final_ce_mean']:.4f} ± {entry['final_ce_std']:.4f} "
            f"| {entry['mean_epoch_seconds_mean']:.1f} |"
        )
    first = next(iter(summary["variants"].values()))
    machine = summary["machine"]
    total = sum(run["train_seconds"] for norm, entry in summary["variants"].items() if norm in variants_lib.NORMS
                for run in entry["runs"])
    extras = [(variants_lib.NORM_LABELS[norm] if norm != variants_lib.CONTROL else "the control",
               sum(run["train_seconds"] for run in summary["variants"][norm]["runs"]))
              for norm in variants_lib.ALL_NORMS if norm not in variants_lib.NORMS and norm in summary["variants"]]
    lines.append("")
    lines.append(
        f"{first['config']['epochs']} epochs, seeds {', '.join(str(r['seed']) for r in first['runs'])}, "
        f"batch {first['config']['batch_size']}, evaluated on the {first['evaluated_on']} set; "
        f"{machine['processor']} ({machine['cpu_count']} cores{', GPU ' + ', '.join(machine['gpus']) if machine['gpus'] else ', no GPU'}), "
        f"TensorFlow {summary['versions']['tensorflow']}, Keras {summary['versions']['keras']}; "
        f"{total / 60:.1f} minutes of training for the three models"
        + "".join(f", {seconds / 60:.1f} for {label}" for label, seconds in extras) + "."
    )
    return "\n".join(lines)


def headline(summary):
    """One line for the top of the README: each model's epoch-20 test accuracy, best first."""
    ranked = sorted(summary["variants"].items(), key=lambda item: -item[1]["final_accuracy_mean"])
    return ", ".join(f"{model.NORM_LABELS[norm]} {_pct(entry['final_accuracy_mean'])} ± "
                     f"{_pct(entry['final_accuracy_std'])} %" for norm, entry in ranked)


def comparison(summary, earlier=None):
    """Our epoch-20 means next to the published numbers (and earlier networks' runs: {label: summary})."""
    norms = list(summary["variants"])
    lines = ["| | params | " + " | ".join(model.NORM_LABELS[n] for n in norms) + " |", "|---|---|" + "---|" * len(norms)]
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
            lines.append(f"| {label} | {summary['machine']['processor']} | {model.NORM_LABELS[norm]} "
                         f"| {median:.1f} | {slow} of {len(seconds)} "
                         f"| {sum(seconds) / 60:.1f} | {median * len(seconds) / len(entry['runs']) / 60:.1f} |")
    return "\n".join(lines)


def validation(summaries):
    """The recipe search on the held-out validation split: one row per recipe and model (seeds averaged)."""
    lines = ["| recipe | model | params | validation acc. @ last epoch | best (epoch) | validation CE | s/epoch |",
             "|---|---|---|---|---|---|---|"]
    for recipe, summary in summaries.items():
        for norm, entry in summary["variants"].items():
            runs = entry["runs"]
            if len(runs) == 1:
                accuracy = f"{_pct(runs[0]['final_accuracy'])} %"
                best = f"{_pct(runs[0]['best_accuracy'])} % ({runs[0]['best_epoch']})"
            else:
                seeds = ", ".join(f"{run['seed']}: {_pct(run['final_accuracy'])}" for run in runs)
                accuracy = f"{_pct(entry['final_accuracy_mean'])} % (seeds {seeds})"
                best = f"{_pct(entry['best_accuracy_mean'])} % (mean)"
            lines.append(f"| {recipe} | {model.variant_label(norm, entry['config'])} | {entry['trainable_params']:,} "
                         f"| {accuracy} | {best} | {entry['final_ce_mean']:.4f} "
                         f"| {entry['mean_epoch_seconds_mean']:.1f} |")
        means = [entry["final_accuracy_mean"] for entry in summary["variants"].values()]
        if len(means) == len(variants_lib.NORMS):  # a run of one model alone (a control) has no mean to compare
            lines.append(f"| {recipe} | **mean of the three** | | **{_pct(sum(means) / len(means))} %** | | | |")
    return "\n".join(lines)


def benchmark(report):
    """benchmark.py's table."""
    settings = report["settings"]
    lines = [
        benchmark_setting(report),
        "",
        "| variant | MACs / image | train img/s (train.py pipeline) | train img/s (no augmentation) "
        "| inference img/s | GFLOP/s (% of matmul) | PyTorch train img/s, course network | Keras / PyTorch course "
        "| PyTorch train img/s, same network | Keras / PyTorch same |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for norm, entry in report["variants"].items():
        references = []
        for suffix in ("", "_same_network"):
            torch_rate = entry.get(f"pytorch{suffix}_train_img_per_s")
            references.append(f"{torch_rate:,.0f} | {entry[f'ratio_vs_pytorch{suffix}']:.2f}x" if torch_rate
                              else "n/a | n/a")
        reference = " | ".join(references)
        lines.append(
            f"| {model.NORM_LABELS[norm]} | {entry['multiply_adds']:,} | {entry['train_img_per_s']:,.0f} "
            f"| {entry['train_no_augment_img_per_s']:,.0f} | {entry['inference_img_per_s']:,.0f} "
            f"| {entry['train_gflops']:.1f} ({100 * entry['train_gflops'] / report['matmul_gflops']:.0f} %) "
            f"| {reference} |"
        )
    if report.get("profile"):
        lines += ["", "Where the time goes: each layer timed alone, forward + backward, batch "
                  f"{settings['batch_size']} (share of the summed layer times):", "",
                  "| variant | convolutions | normalizations | ReLU | pool, GAP, rest | slowest layer |",
                  "|---|---|---|---|---|---|"]
        for norm, rows in report["profile"].items():
            share = {kind: 0.0 for kind in ("conv", "norm", "relu", "rest")}
            for row in rows:
                kind = row["layer"].rsplit("_", 1)[-1]
                share[kind if kind in share else "rest"] += row["share"]
            slowest = max(rows, key=lambda row: row["ms"])
            lines.append(f"| {model.NORM_LABELS[norm]} | {100 * share['conv']:.0f} % | {100 * share['norm']:.0f} % "
                         f"| {100 * share['relu']:.0f} % | {100 * share['rest']:.0f} % "
                         f"| {slowest['layer']} ({slowest['ms']:.1f} ms) |")
    if report.get("candidates"):
        lines += ["", *candidates(report)]
    return "\n".join(lines)


def benchmark_setting(report):
    """The line that says where and how a benchmark.py run measured."""
    settings = report["settings"]
    return (
        f"{report['machine']['processor']}, {report['machine']['cpu_count']} cores; float32 matmul ceiling "
        f"{report['matmul_gflops']:.0f} GFLOP/s; batch {settings['batch_size']}, {settings['images']:,} real "
        f"MNIST images per pass, median of {settings['repeats']} passes; TensorFlow {report['versions']['tensorflow']}"
        + (f", PyTorch {report['pytorch']['torch']}" if report.get("pytorch") else "") + "."
    )


def candidates(report):
    """Each timed recipe's training img/s and its epoch of all three variants, against PyTorch's three."""
    norms = list(report["variants"])
    pytorch = report.get("pytorch") or {}
    lines = ["One 60,000-image training epoch of all three variants (a `train.py --norm all` epoch without its "
             "evaluation), from each recipe's training img/s through train.py's pipeline"
             + (f"; the PyTorch course network's three trainings: **{pytorch['epoch_seconds_all']:.1f} s**"
                if "epoch_seconds_all" in pytorch else "") + ":", "",
             "| recipe | network | augmentation | batch | params | "
             + " | ".join(f"{model.NORM_LABELS[norm]} img/s" for norm in norms)
             + " | epoch of all three | vs PyTorch's three |",
             "|---|---|---|---|---|" + "---|" * len(norms) + "---|---|"]
    for name, entry in report["candidates"].items():
        augment = entry["augment"]
        augmentation = "none" if augment is False else ", ".join(
            f"{label} {augment[key]:g}" for key, label in
            (("rotation_degrees", "±°"), ("shift_pixels", "±px"), ("zoom", "zoom"), ("shear", "shear"))
            if augment[key])
        params = entry["variants"][norms[0]]["trainable_params"]
        speedup = entry.get("speedup_vs_pytorch")
        # Runs made before recipes could set their own batch size timed every recipe at the run's batch size.
        batch = entry.get("batch_size", report["settings"]["batch_size"])
        lines.append(f"| {name} | `{entry['architecture']}` | {augmentation} | {batch} | {params:,} | "
                     + " | ".join(f"{entry['variants'][norm]['train_img_per_s']:,.0f}" for norm in norms)
                     + f" | {entry['epoch_seconds_all']:.1f} s | "
                     + (f"{speedup:.2f}x" if speedup else "n/a") + " |")
    return lines


def _seed_values(runs, norm, size, key, scale):
    return [scale * run[key] for run in runs if run["norm"] == norm and run["batch_size"] == size]


def _batch_cells(runs, norm, size, key, scale, decimals):
    values = _seed_values(runs, norm, size, key, scale)
    if not values:
        return "–"
    mean = f"{sum(values) / len(values):.{decimals}f}"
    return mean if len(values) == 1 else f"{mean} ({min(values):.{decimals}f}–{max(values):.{decimals}f})"


def batch_size(summary):
    """The batch-size study: per batch size, each model's final test accuracy and cross-entropy over seeds."""
    runs, settings = summary["runs"], summary["settings"]
    norms = results.present(runs)
    sizes = sorted({run["batch_size"] for run in runs})
    labels = [model.NORM_LABELS[norm] for norm in norms]
    lines = ["| batch | peak lr | steps / epoch | " + " | ".join(f"{label} acc. %" for label in labels) + " | "
             + " | ".join(f"{label} CE" for label in labels) + " |", "|---|---|---|" + "---|" * 2 * len(norms)]
    for size in sizes:
        first = next(run for run in runs if run["batch_size"] == size)
        lines.append(f"| {size} | {first['lr']:.5f} | {first['steps_per_epoch']:,} | "
                     + " | ".join(_batch_cells(runs, norm, size, "final_accuracy", 100, 2) for norm in norms) + " | "
                     + " | ".join(_batch_cells(runs, norm, size, "final_ce", 1, 4) for norm in norms) + " |")
    machine = summary["machine"]
    seeds = sorted({run["seed"] for run in runs})
    lines += ["", f"Mean over seeds {', '.join(map(str, seeds))} (lowest–highest in brackets), test set after "
              f"{settings['epochs']} epochs; {settings['lr_rule']}; {machine['processor']} ({machine['cpu_count']} "
              f"cores), TensorFlow {summary['versions']['tensorflow']}; "
              f"{sum(run['train_seconds'] for run in runs) / 3600:.1f} hours of training in all."]
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
        cells = [f"{model.NORM_LABELS[norm]} {mean:.2f} %" for norm, mean in means.items()]
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


def demo():
    """normalization_demo.py's worked example, as printed."""
    import contextlib
    import io

    from . import demo as normalization_demo

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        if normalization_demo.worked_example() != 0:
            raise RuntimeError("normalization_demo.py found a mismatch with Keras")
    return buffer.getvalue().rstrip("\n")


_mean = results.mean


def _three(summary):
    """The summary with only the assignment's three models (results/ also holds IN and the control)."""
    return {**summary, "variants": {n: e for n, e in summary["variants"].items() if n in variants_lib.NORMS}}


def control(summary):
    """What the control without normalization reaches in the same 20 epochs, beside the three."""
    variants = summary["variants"]
    none = variants["none"]
    three = {n: variants[n]["final_accuracy_mean"] for n in model.NORMS if n in variants}
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


def _optimizer(config):
    return {"adam": "Adam", "sgd": "SGD + Nesterov"}[config["optimizer"]]


# The columns of the shift table: every model as Keras predicts at test time, BN also with test-batch statistics.
SHIFT_MODES = tuple((norm, mode) for norm in variants_lib.ALL_NORMS for mode in (
    results.inference_mode(norm),
    *(results.batch_statistics_mode(b) for b in ((1000, 128, 8) if norm in variants_lib.BATCH_DEPENDENT else ()))))


def _shift_label(norm, mode):
    label = model.NORM_LABELS[norm]
    if mode.startswith("batch_statistics_"):
        return f"{label}, test-batch stats ({mode.rsplit('_', 1)[1]})"
    return f"{label}, moving avg." if mode == "moving_averages" else label


_shift_values = results.shift_values


def shift_table(summary):
    """Every shift x model and mode: mean test accuracy over seeds (lowest-highest)."""
    runs = summary["runs"]
    modes = [m for m in SHIFT_MODES if _shift_values(runs, *m, "clean")]
    lines = ["| shift | " + " | ".join(_shift_label(*m) for m in modes) + " |", "|---|" + "---|" * len(modes)]
    for name in summary["shifts"]:
        cells = []
        for mode in modes:
            values = _shift_values(runs, *mode, name)
            cells.append(f"{_mean(values):.1f} ({min(values):.1f}–{max(values):.1f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    seeds = sorted({r["seed"] for r in runs})
    lines += ["", f"Test accuracy in %, mean of seeds {', '.join(map(str, seeds))} (lowest–highest), on all "
              f"{summary['test_images']:,} test images; the models of the 20-epoch study and the control. "
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
            label = model.NORM_LABELS[norm] + (" (moving averages)" if norm == "bn" else "")
            cells.append(f"{label} {_mean(values):.{decimals}f}" + (f" ± {(max(values) - min(values)) / 2:.{decimals}f}"
                                                                    if len(values) > 1 else ""))
        return ", ".join(cells)

    clean = ", ".join(f"{model.NORM_LABELS[n]} {acc(n, m, 'clean'):.2f}" for n, m in inference.items())

    return (f"Fainter ink (contrast ×0.25): {listing('contrast 0.25')} %; a grey background: "
            f"{listing('grey background')} % (mean ± half the range of the seeds). "
            f"Averaged over the {len(shifted)} shifts, the models rank {', '.join(f'{model.NORM_LABELS[n]} {v:.1f}' for n, v in ranked)} % "
            f"(clean: {clean} %). "
            f"The same BN models normalizing with each 1,000-image test batch's own statistics instead of their moving "
            f"averages reach {acc('bn', 'batch_statistics_1000', 'contrast 0.25'):.1f} % on fainter ink, "
            f"{acc('bn', 'batch_statistics_1000', 'grey background'):.1f} % on grey paper and {batch:.1f} % on average "
            f"({_mean([acc('bn', 'batch_statistics_8', n) for n in shifted]):.1f} % with test batches of 8).")


_lr_runs = results.lr_runs
TRAINS = results.TRAINS


def _lr_accuracy(run):
    return 100 * results.accuracy(run)


def learning_rate_table(summary):
    runs = summary["runs"]
    optimizers = list(dict.fromkeys(r["optimizer"] for r in runs))
    norms = results.present(runs)
    rates = sorted({r["lr"] for r in runs})
    lines = ["| optimizer | peak lr | " + " | ".join(model.NORM_LABELS[n] for n in norms) + " |",
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
              f"counts as chance ({100 * results.CHANCE:g} %). {summary['machine']['processor']}, "
              f"{sum(r.get('train_seconds', 0) for r in runs) / 60:.0f} minutes of training in all."]
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
        for norm in results.present(runs):
            span = _trains_range(summary, optimizer, norm)
            if span is None:
                cells.append(f"{model.NORM_LABELS[norm]} at no rate")
            else:
                cells.append(f"{model.NORM_LABELS[norm]} {span[0]:g}–{span[1]:g}"
                             f" ({math.log10(span[1] / span[0]):.1f} decades)")
        parts.append(f"with {_optimizer({'optimizer': optimizer})}: " + ", ".join(cells))
    diverged = sorted({(r["norm"], r["optimizer"]) for r in runs if r["diverged"]})
    rates = sorted({r["lr"] for r in runs})
    return (f"Peak learning rates (of {', '.join(f'{lr:g}' for lr in rates)}) at which the mean test accuracy after "
            f"{epochs} epochs is at least {TRAINS:g} %: " + "; ".join(parts) + ". "
            + (f"Runs whose loss became NaN: {', '.join(f'{model.NORM_LABELS[n]} ({o})' for n, o in diverged)}."
               if diverged else "No run's loss became NaN."))


def l1_table(summary):
    runs = summary["runs"]
    factors = sorted({r["l1"] for r in runs})
    lines = ["| λ | test acc. % (lowest–highest) | test CE | conv weights with \\|w\\| < 0.001 | "
             "L2 norm, blocks 1–5 kernels | L2 norm, head kernel |", "|---|---|---|---|---|---|"]
    for factor in factors:
        mine = [r for r in runs if r["l1"] == factor]
        accuracy = [100 * r["final_accuracy"] for r in mine]
        zero = [100 * r["near_zero_all"][-1] for r in mine]
        body = [results.body_kernel_norm(r["kernel_norms"][-1]) for r in mine]
        head = [results.head_kernel_norm(r["kernel_norms"][-1]) for r in mine]
        lines.append(f"| {factor:g} | {_mean(accuracy):.2f} ({min(accuracy):.2f}–{max(accuracy):.2f}) "
                     f"| {_mean([r['final_ce'] for r in mine]):.4f} | {_mean(zero):.1f} % "
                     f"| {_mean(body):.2f} | {_mean(head):.2f} |")
    seeds = sorted({r["seed"] for r in runs})
    lines += ["", f"BN + L1 with λ on every conv kernel, {summary['settings']['epochs']} epochs, the study's recipe; "
              f"after the last epoch, mean of seeds {', '.join(map(str, seeds))}."]
    return "\n".join(lines)


def l1_verdict(summary):
    runs = summary["runs"]
    factors = sorted({r["l1"] for r in runs})

    def stat(factor, value):
        return _mean([value(r) for r in runs if r["l1"] == factor])

    accuracy = {f: stat(f, lambda r: 100 * r["final_accuracy"]) for f in factors}
    spread = {f: max(100 * r["final_accuracy"] for r in runs if r["l1"] == f)
              - min(100 * r["final_accuracy"] for r in runs if r["l1"] == f) for f in factors}
    zero = {f: stat(f, lambda r: 100 * r["near_zero_all"][-1]) for f in factors}
    head = {f: stat(f, lambda r: results.head_kernel_norm(r["kernel_norms"][-1])) for f in factors}
    body = {f: stat(f, lambda r: results.body_kernel_norm(r["kernel_norms"][-1])) for f in factors}
    low, high = factors[0], factors[-1]
    return ("Test accuracy by λ: " + ", ".join(f"{f:g}: {accuracy[f]:.2f} % (seed range {spread[f]:.2f})"
                                                for f in factors) + ". "
            "Conv weights with |w| < 0.001 after the last epoch: " + ", ".join(f"{zero[f]:.1f} %" for f in factors)
            + f"; the normalized kernels' L2 norm goes from {body[low]:.2f} (λ = {low:g}) to {body[high]:.2f} "
            f"(λ = {high:g}), the head's from {head[low]:.2f} to {head[high]:.2f}.")


def buys_headline(summary, shifted, rates):
    """One line for the top of the README: the control, fainter ink, and the learning rates that train."""
    variants = summary["variants"]
    three = [variants[n]["final_accuracy_mean"] for n in variants_lib.NORMS]

    def faint(norm, mode):
        return _mean(_shift_values(shifted["runs"], norm, mode, "contrast 0.25"))

    spans = {n: _trains_range(rates, "adam", n) for n in (variants_lib.CONTROL, *variants_lib.NORMS)}
    epochs = variants["none"]["config"]["epochs"]
    faint_ink = ", ".join(f"{model.NORM_LABELS[n]} {faint(n, results.inference_mode(n)):.1f} %"
                          for n in variants_lib.NORMS)
    return (f"after {epochs} epochs the control reaches {_pct(variants['none']['final_accuracy_mean'])} % "
            f"(the three {_pct(min(three))}–{_pct(max(three))} %); on fainter ink (contrast ×0.25) {faint_ink}, "
            f"the control {faint('none', 'inference'):.1f} %; with Adam, the peak "
            f"learning rates that reach {TRAINS:g} % in {rates['settings']['epochs']} epochs: "
            + ", ".join(f"{model.NORM_LABELS[n]} " + (f"{span[0]:g}–{span[1]:g}" if span else "none")
                        for n, span in spans.items()))


_deploy_rows = results.deploy_rows


def _and(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _deploy_values(summary, norm, runtime, key):
    return [row[key] for row in _deploy_rows(summary, norm, runtime)]


def _spread(values, scale=1.0, decimals=2, thousands=False):
    """mean ± half the seed range."""
    mean, half = scale * _mean(values), scale * (max(values) - min(values)) / 2
    if thousands:
        return f"{mean:,.0f} ± {half:,.0f}"
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def deploy_table(summary):
    """Per model and runtime: accuracy, latency, throughput and its fraction of one core's ceiling, file size."""
    norms = results.present(summary["runs"])
    lines = ["| model | runtime | test accuracy (%) | ms per image, batch 1 | images/s, batch 256 | of one core's "
             "ceiling | file | int8 against float32 (seed 1): lost / gained |",
             "|---|---|---|---|---|---|---|---|"]
    for norm in norms:
        for runtime in runtimes.NAMES:
            name = runtimes.LABELS[runtime]
            rows = _deploy_rows(summary, norm, runtime)
            first = rows[0]
            flips = first.get("int8_vs_float")
            flipped = f"{flips['lost']} / {flips['gained']}" if flips else ""
            lines.append(
                f"| {model.NORM_LABELS[norm]} | {name} | {_spread([r['accuracy'] for r in rows], 100)} "
                f"| {_spread([r['latency_ms_batch1'] for r in rows], decimals=4)} "
                f"| {_spread([r['images_per_s_batch256'] for r in rows], thousands=True)} "
                f"| {100 * _mean([r['fraction_of_ceiling'] for r in rows]):.0f} % | {first['bytes'] / 1024:.0f} KiB "
                f"| {flipped} |")
    ceiling, method = summary["ceiling"], summary["method"]
    seeds = ", ".join(str(seed) for seed in sorted({r["seed"] for r in summary["runs"]}))
    machine = summary["machine"]
    lines += ["", f"Mean ± half the range of seeds {seeds}; {machine['processor']} ({machine['cpu_count']} cores), "
              f"one thread, TensorFlow {summary['versions']['tensorflow']}, "
              f"ai-edge-litert {summary['versions']['ai_edge_litert']}. "
              f"Latency: the median of {method['latency_calls']} single-image calls, throughput: of "
              f"{method['throughput_calls']} batches of {method['throughput_batch']}, every model and runtime "
              f"interleaved in {method['rounds']} rounds. Ceiling: {ceiling['multiply_adds_per_image']:,} "
              f"multiply-adds per image at one thread's float32 matrix-multiply peak "
              f"({ceiling['matmul_gflops_one_thread']:.0f} GFLOP/s, measured in the same run) = "
              f"{ceiling['images_per_s']:,.0f} images/s. File: model.keras, or the .tflite file. Lost / gained: "
              "test images the int8 file answers wrongly that the float32 file answers rightly, and the reverse."
              + (f" The study took {summary['study_seconds'] / 60:.1f} minutes." if "study_seconds" in summary else "")]
    return "\n".join(lines)


def deploy_ops(summary):
    """The LiteRT op list of each model's graphs (seed 1), float32 and int8."""
    lines = ["| model | LiteRT float32 graph | LiteRT int8 graph |", "|---|---|---|"]
    for norm in model.ALL_NORMS:
        cells = []
        for runtime in ("litert-f32", "litert-int8"):
            rows = _deploy_rows(summary, norm, runtime)
            if not rows:
                break
            ops = rows[0]["ops"]
            cells.append(", ".join(f"{op} ×{count}" if count > 1 else op for op, count in sorted(ops.items())))
        if cells:
            lines.append(f"| {model.NORM_LABELS[norm]} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def int8_layers(summary):
    """Per model (seed 1): the int8 graph's tensors whose error against float32 is largest, in quantization steps."""
    lines = ["| model | largest int8 errors against float32 (in quantization steps; rounding alone: 0.29) | "
             "logits (head) |", "|---|---|---|"]
    for norm, rows in summary.get("int8_layers", {}).items():
        scored = [r for r in rows if r["rmse_steps"] is not None]
        worst = sorted(scored, key=lambda r: -r["rmse_steps"])[:3]
        head = [r for r in scored if r["tensor"].startswith("head_conv")]
        largest = ", ".join(f"{r['tensor']} ({r['op']}) {r['rmse_steps']:.2f}" for r in worst)
        logits = f"{head[0]['rmse_steps']:.2f}" if head else ""
        lines.append(f"| {model.NORM_LABELS[norm]} | {largest} | {logits} |")
    return "\n".join(lines)


def deploy_verdict(summary):
    """Sentences for the README from results/deploy/summary.json."""
    def mean(norm, runtime, key):
        return _mean(_deploy_values(summary, norm, runtime, key))

    norms = results.present(summary["runs"])
    latency = {n: mean(n, "litert-f32", "latency_ms_batch1") for n in norms}
    litert = ("litert-f32", "litert-int8")
    rate = {(n, r): mean(n, r, "images_per_s_batch256") for n in norms for r in litert}
    share = {(n, r): mean(n, r, "fraction_of_ceiling") for n in norms for r in litert}
    keras = {n: mean(n, "keras", "latency_ms_batch1") for n in norms}
    drift = [abs(points) for n in norms if n != variants_lib.INSTANCE for points in results.int8_loss(summary, n)]
    statistics_error = {n: max((r["rmse_steps"] or 0) for r in rows if "_norm" in r["tensor"])
                        for n, rows in summary.get("int8_layers", {}).items() if n in ("gn", "ln")}
    conv_error = max((r["rmse_steps"] or 0) for r in summary.get("int8_layers", {}).get("bn", [{"rmse_steps": 0}]))
    bn_ops, none_ops = (set(_deploy_rows(summary, n, "litert-f32")[0]["ops"]) for n in ("bn", "none"))
    machine = summary["machine"]["processor"]

    def spread(norm):  # mean ± half the seed range of the float32 latency
        return _spread(_deploy_values(summary, norm, "litert-f32", "latency_ms_batch1"), decimals=3)

    # Which models int8 speeds up at batch 256 is read off the numbers, not assumed.
    faster = {n for n in norms if rate[n, "litert-int8"] > rate[n, "litert-f32"]}
    if faster == {"bn", "none"}:
        effect = ("int8 speeds up the plain conv graphs and slows down "
                  + _and([model.NORM_LABELS[n] for n in norms if n not in faster]))
    else:
        effect = (f"int8 is faster than float32 for {', '.join(model.NORM_LABELS[n] for n in sorted(faster)) or 'none'}"
                  f" and slower for the others")
    text = (f"On one thread of the {machine}, LiteRT float32 answers one image in {spread('bn')} ms with BN + L1 "
            f"and {spread('none')} ms without normalization, against {spread('gn')} ms with GN and "
            f"{spread('ln')} ms with LN (mean ± half the seed range; {latency['gn'] / latency['bn']:.1f}x and "
            f"{latency['ln'] / latency['bn']:.1f}x BN's); the Keras model under tf.function takes "
            f"{min(keras.values()):.2f}–{max(keras.values()):.2f} ms. In batches of 256, BN + L1 runs "
            f"{rate['bn', 'litert-f32']:,.0f} images/s in float32 and {rate['bn', 'litert-int8']:,.0f} in int8 "
            f"({100 * share['bn', 'litert-f32']:.0f} and {100 * share['bn', 'litert-int8']:.0f} % of one core's "
            f"ceiling), GN {rate['gn', 'litert-f32']:,.0f} and {rate['gn', 'litert-int8']:,.0f}, LN "
            f"{rate['ln', 'litert-f32']:,.0f} and {rate['ln', 'litert-int8']:,.0f}: {effect}. ")
    int8_latency = {n: mean(n, "litert-int8", "latency_ms_batch1") for n in norms}
    slower = [n for n in norms if int8_latency[n] > latency[n]]
    if slower:
        text += (f"One image at a time, int8 is slower than float32 for "
                 f"{'every model' if len(slower) == len(latency) else ', '.join(model.NORM_LABELS[n] for n in slower)}"
                 f" "
                 f"({', '.join(f'{model.NORM_LABELS[n]} {int8_latency[n]:.3f} ms' for n in slower)}). ")
    text += ("BN's converted graph holds the control's ops and no normalization at all "
             if bn_ops == none_ops else "BN's converted graph differs from the control's ")
    text += ("(its statistics folded into the conv), while GN's and LN's hold MEAN, SQUARE, SUB, RSQRT and MUL per "
             f"norm. int8 moves test accuracy by at most {max(drift):.2f} points against float32 for any of these "
             "models and seeds (IN: section 10).")
    if statistics_error:
        text += (f" Its largest error sits in GN's and LN's statistics ({max(statistics_error.values()):.1f} "
                 f"quantization steps, against at most {conv_error:.2f} anywhere in BN's folded graph).")
    return text


def instance_norm(summary, shifted, rates, sizes, deployed):
    """IN's verdict for the README: where it lands, what its blindness to contrast buys and costs."""
    inst, label = variants_lib.INSTANCE, model.NORM_LABELS
    others = [n for n in summary["variants"] if n != inst]
    entry = summary["variants"][inst]
    ranked = sorted(summary["variants"], key=lambda n: -summary["variants"][n]["final_accuracy_mean"])
    place = ("the lowest of the" if ranked[-1] == inst else f"number {ranked.index(inst) + 1} of the")
    widest = max(others, key=lambda n: summary["variants"][n]["final_accuracy_std"])
    clean = (f"After {entry['config']['epochs']} epochs IN reaches **{_pct(entry['final_accuracy_mean'])} ± "
             f"{_pct(entry['final_accuracy_std'])} %** (mean ± std of seeds "
             f"{', '.join(str(r['seed']) for r in entry['runs'])}), {place} {len(ranked)} models ("
             + ", ".join(f"{label[n]} {_pct(summary['variants'][n]['final_accuracy_mean'])}" for n in ranked
                         if n != inst)
             + f" %), with a seed spread of {_pct(entry['final_accuracy_std'])} against at most "
             f"{_pct(summary['variants'][widest]['final_accuracy_std'])} for the others ({label[widest]}).")

    def shift(norm, name):
        return _mean(results.shift_values(shifted["runs"], norm, results.inference_mode(norm), name))

    def beside(name, norms):
        return ", ".join(f"{label[n]} {shift(n, name):.1f}" for n in norms)

    compared = [n for n in results.present(shifted["runs"]) if n != inst]
    # Which shifts are a*x + b with a > 0 (IN is blind to them) is a fact of the shifts, not of the numbers.
    blind, not_blind = ("contrast 0.25", "grey background"), ("inverted", "translate", "rotate")
    noisy = ("gaussian noise", "impulse noise")
    shifts = (f"Under the input shifts (test accuracy in %, mean of seeds), fainter ink (contrast ×0.25) and grey "
              f"paper leave IN where it was clean ({shift(inst, 'clean'):.1f}): "
              + "; ".join(f"{name} {shift(inst, name):.1f} against {beside(name, compared)}" for name in blind)
              + ". It is no help where the change is not `a·x + b` with a > 0: "
              + "; ".join(f"{name} {shift(inst, name):.1f} against {beside(name, compared)}" for name in not_blind)
              + ". Noise is not such a change either: "
              + "; ".join(f"{name} {shift(inst, name):.1f} against {beside(name, compared)}" for name in noisy)
              + ".")
    size_runs = sizes["runs"]
    batches = sorted({r["batch_size"] for r in size_runs})
    picks = [batches[0], sizes["settings"]["base_batch_size"]]
    by_batch = "; ".join(
        f"batch {b}: " + ", ".join(f"{label[n]} {_mean(_seed_values(size_runs, n, b, 'final_accuracy', 100)):.2f}"
                                   for n in results.present(size_runs)) for b in picks)
    span = _trains_range(rates, "adam", inst)
    spans = {n: _trains_range(rates, "adam", n) for n in results.present(rates["runs"]) if n != inst}
    rate = (f"With Adam it reaches {TRAINS:g} % in {rates['settings']['epochs']} epochs at peak rates "
            + (f"{span[0]:g}–{span[1]:g}" if span else "none of those tried") + " ("
            + ", ".join(f"{label[n]} " + (f"{s[0]:g}–{s[1]:g}" if s else "none") for n, s in spans.items()) + ").")

    def latency(norm, runtime):
        return _mean(_deploy_values(deployed, norm, runtime, "latency_ms_batch1"))

    loss = results.int8_loss(deployed, inst)
    others = [abs(v) for n in results.present(deployed["runs"]) if n != inst for v in results.int8_loss(deployed, n)]
    worst = max(deployed.get("int8_layers", {}).get(inst, []), key=lambda r: r["rmse_steps"] or 0, default=None)
    cost = (f"At inference it measures every image again, like GN and LN: LiteRT float32 answers one image in "
            f"{latency(inst, 'litert-f32'):.3f} ms, against {latency('bn', 'litert-f32'):.3f} ms for BN + L1 "
            f"(folded into its conv), {latency('gn', 'litert-f32'):.3f} ms for GN and "
            f"{latency('ln', 'litert-f32'):.3f} ms for LN; in int8 {latency(inst, 'litert-int8'):.3f} ms. "
            f"int8 costs it {min(loss):.2f}–{max(loss):.2f} points of test accuracy (the "
            f"others move by at most {max(others):.2f})"
            + (f"; its largest int8 error is {worst['rmse_steps']:.0f} quantization steps, in {worst['tensor']}"
               if worst else "") + ".")
    return (f"{clean} {shifts} Test accuracy after {sizes['settings']['epochs']} epochs by training batch size, "
            f"mean of seeds: {by_batch}. {rate} {cost}")


EARLIER = (("course-network", "course network", "course_network"),
           ("block2-pool", "pool after block 2", "block2_pool"))


def _earlier():
    """{label: (folder, summary)} of the studies of earlier default networks that are in results/."""
    found = {label: (folder, results.load(folder)) for folder, label, _ in EARLIER}
    return {label: entry for label, entry in found.items() if entry[1]}


@dataclass(frozen=True)
class Block:
    """A marked block of README.md or docs/*.md: its name, the results it is rendered from (a study of
    results.STUDY_FOLDERS, another folder's summary, or a JSON file under results/), and its renderer, called with
    them in that order. A block whose inputs are missing (or hold no runs yet) is not rendered."""

    name: str
    inputs: tuple
    render: object
    when: object = None  # another condition on the inputs


def _input(name):
    found = _load(name) if name.endswith(".json") else results.load(name)
    if found is None or not (found.get("runs") or found.get("variants") or found.get("models")):
        return None
    return found


BLOCKS = (
    Block("architecture", (), lambda: model.markdown_table(model.build_model("gn"))),
    Block("demo", (), lambda: demo()),
    *(Block(name, (folder,), findings) for folder, _, name in EARLIER),
    Block("findings", ("study",), findings),
    Block("control", ("study",), lambda s: control(s), lambda s: variants_lib.CONTROL in s["variants"]),
    Block("comparison", ("study",),
          lambda s: comparison(_three(s), {label: found for label, (_, found) in _earlier().items()})),
    Block("headline", ("study",), lambda s: headline(_three(s))),
    Block("timing", ("study",), lambda s: timing(
        {"this network": ".", **{f"{label} (earlier)": folder for label, (folder, _) in _earlier().items()}})),
    Block("benchmark", ("benchmark.json",), lambda b: benchmark(b)),
    Block("batch_size", ("batch_size",), lambda s: batch_size(s)),
    Block("batch_size_headline", ("batch_size",), lambda s: batch_size_headline(s)),
    Block("shift", ("shift",), lambda s: shift_table(s)),
    Block("shift_verdict", ("shift",), lambda s: shift_verdict(s)),
    Block("learning_rate", ("learning_rate",), lambda s: learning_rate_table(s)),
    Block("learning_rate_verdict", ("learning_rate",), lambda s: learning_rate_verdict(s)),
    Block("l1", ("l1",), lambda s: l1_table(s)),
    Block("l1_verdict", ("l1",), lambda s: l1_verdict(s)),
    Block("buys_headline", ("study", "shift", "learning_rate"), lambda *inputs: buys_headline(*inputs),
          lambda s, *_: variants_lib.CONTROL in s["variants"]),
    Block("instance_norm", ("study", "shift", "learning_rate", "batch_size", "deploy"),
          lambda *inputs: instance_norm(*inputs),
          lambda *inputs: all(variants_lib.INSTANCE in (found.get("variants") or results.present(found["runs"]))
                              for found in inputs)),
    Block("deploy_table", ("deploy",), lambda s: deploy_table(s)),
    Block("deploy_ops", ("deploy",), lambda s: deploy_ops(s)),
    Block("int8_layers", ("deploy",), lambda s: int8_layers(s)),
    Block("deploy_verdict", ("deploy",), lambda s: deploy_verdict(s)),
    Block("bn_test_time", (os.path.join("batch_size", "bn_test_time.json"),), lambda t: bn_test_time(t)),
)


def validation_blocks():
    """The recipe search's blocks: one table of every recipe's validation run, and one per benchmark.py run of
    the search (benchmark-candidates<-suffix>.json renders as candidate_speed<_suffix>)."""
    folder = os.path.join(RESULTS, "validation")
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    summaries = {name: results.load(os.path.join("validation", name)) for name in names}
    rendered = {}
    if any(summaries.values()):
        rendered["validation"] = validation({name: found for name, found in summaries.items() if found})
    for name in names:
        match = re.fullmatch(r"benchmark-candidates((?:-[\w]+)*)\.json", name)
        searched = _load(os.path.join("validation", name)) if match else None
        if searched:
            rendered["candidate_speed" + match[1].replace("-", "_")] = "\n".join(
                [benchmark_setting(searched), "", *candidates(searched)])
    return rendered


def blocks():
    """{block name: rendered Markdown}: every block of BLOCKS whose inputs exist, and the recipe search's."""
    rendered = {}
    for block in BLOCKS:
        inputs = [_input(name) for name in block.inputs]
        if all(found is not None for found in inputs) and (block.when is None or block.when(*inputs)):
            rendered[block.name] = block.render(*inputs)
    rendered.update(validation_blocks())
    return rendered


def documents():
    """The Markdown files whose marked blocks report.py renders: README.md and docs/*.md."""
    return [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def block_pattern(name):
    return re.compile(rf"(<!-- report:{name} -->\n)(.*?)(\n?<!-- /report:{name} -->)", re.S)


def update(text, rendered):
    """Rewrites every marked block of `text` that can be rendered; returns (text, names of the others)."""
    missing = []
    for name in re.findall(r"<!-- report:(\w+) -->", text):
        if name not in rendered:
            missing.append(name)
            continue
        closing = f"\n<!-- /report:{name} -->"
        text = block_pattern(name).sub(lambda m, body=rendered[name] + closing: m.group(1) + body, text)
    return text, missing
