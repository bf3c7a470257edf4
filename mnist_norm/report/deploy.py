"""The deployment study's tables and verdict."""

from .. import results
from .. import runtimes
from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import _and, _mean, _spread


_deploy_rows = results.deploy_rows


def _deploy_values(summary, norm, runtime, key):
    return [row[key] for row in _deploy_rows(summary, norm, runtime)]


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
                f"| {variants_lib.NORM_LABELS[norm]} | {name} | {_spread([r['accuracy'] for r in rows], 100)} "
                f"| {_spread([r['latency_ms_batch1'] for r in rows], decimals=4)} "
                f"| {_spread([r['images_per_s_batch256'] for r in rows], thousands=True)} "
                f"| {100 * _mean([r['fraction_of_ceiling'] for r in rows]):.0f} % | {first['bytes'] / 1024:.0f} KiB "
                f"| {flipped} |")
    ceiling, method = summary["ceiling"], summary["method"]
    seeds = ", ".join(str(seed) for seed in sorted({r["seed"] for r in summary["runs"]}))
    machine = summary["machine"]
    lines += ["", f"Mean (lowest–highest) of seeds {seeds}; {machine['processor']} ({machine['cpu_count']} cores), "
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
    for norm in variants_lib.ALL_NORMS:
        cells = []
        for runtime in ("litert-f32", "litert-int8"):
            rows = _deploy_rows(summary, norm, runtime)
            if not rows:
                break
            ops = rows[0]["ops"]
            cells.append(", ".join(f"{op} ×{count}" if count > 1 else op for op, count in sorted(ops.items())))
        if cells:
            lines.append(f"| {variants_lib.NORM_LABELS[norm]} | {cells[0]} | {cells[1]} |")
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
        lines.append(f"| {variants_lib.NORM_LABELS[norm]} | {largest} | {logits} |")
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
    bn_ops, none_ops = (set(_deploy_rows(summary, n, "litert-f32")[0]["ops"]) for n in ("bn", variants_lib.CONTROL))
    machine = summary["machine"]["processor"]

    def spread(norm):  # the seeds' mean (lowest–highest) float32 latency
        return _spread(_deploy_values(summary, norm, "litert-f32", "latency_ms_batch1"), decimals=3)

    # Which models int8 speeds up at batch 256 is read off the numbers, not assumed.
    faster = {n for n in norms if rate[n, "litert-int8"] > rate[n, "litert-f32"]}
    if faster == {"bn", variants_lib.CONTROL}:
        effect = ("int8 speeds up the plain conv graphs and slows down "
                  + _and([variants_lib.NORM_LABELS[n] for n in norms if n not in faster]))
    else:
        effect = (f"int8 is faster than float32 for {', '.join(variants_lib.NORM_LABELS[n] for n in sorted(faster)) or 'none'}"
                  f" and slower for the others")
    text = (f"On one thread of the {machine}, LiteRT float32 answers one image in {spread('bn')} ms with BN + L1 "
            f"and {spread('none')} ms without normalization, against {spread('gn')} ms with GN and "
            f"{spread('ln')} ms with LN (mean of the seeds, lowest–highest in brackets; {latency['gn'] / latency['bn']:.1f}x and "
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
                 f"{'every model' if len(slower) == len(latency) else ', '.join(variants_lib.NORM_LABELS[n] for n in slower)}"
                 f" "
                 f"({', '.join(f'{variants_lib.NORM_LABELS[n]} {int8_latency[n]:.3f} ms' for n in slower)}). ")
    text += ("BN's converted graph holds the control's ops and no normalization at all "
             if bn_ops == none_ops else "BN's converted graph differs from the control's ")
    text += ("(its statistics folded into the conv), while GN's and LN's hold MEAN, SQUARE, SUB, RSQRT and MUL per "
             f"norm. int8 moves test accuracy by at most {max(drift):.2f} points against float32 for any of these "
             "models and seeds (IN: section 10).")
    if statistics_error:
        text += (f" Its largest error sits in GN's and LN's statistics ({max(statistics_error.values()):.1f} "
                 f"quantization steps, against at most {conv_error:.2f} anywhere in BN's folded graph).")
    return text
