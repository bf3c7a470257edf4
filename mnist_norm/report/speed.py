"""The speed blocks: benchmark.py's table, and the recipe search on the validation split with its timings."""

from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import _pct


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
            lines.append(f"| {recipe} | {variants_lib.variant_label(norm, entry['config'])} | {entry['trainable_params']:,} "
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
            f"| {variants_lib.NORM_LABELS[norm]} | {entry['multiply_adds']:,} | {entry['train_img_per_s']:,.0f} "
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
            lines.append(f"| {variants_lib.NORM_LABELS[norm]} | {100 * share['conv']:.0f} % | {100 * share['norm']:.0f} % "
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
             + " | ".join(f"{variants_lib.NORM_LABELS[norm]} img/s" for norm in norms)
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


def readme_times(report):
    """How long the README's commands took (benchmark.py --readme-times), and where."""
    minutes = {name: f"{row['seconds'] / 60:.1f} minutes" for name, row in report["commands"].items()}
    return (f"Timed on {report['machine']} ({report['cores']} cores, nothing else running), {report['date']}: the "
            f"main job {minutes['main_job']}, the tests {minutes['tests']}, the edit loop (`-m \"not slow\"`) "
            f"{minutes['edit_loop']}.")

