"""The L1 study's table and verdict."""

from .. import results
from .fmt import _mean


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
