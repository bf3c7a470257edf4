"""Instance Norm's verdict: where it lands in each study."""

from .. import results
from .. import variants as variants_lib  # summaries call their entries "variants"
from .batch_size import _seed_values
from .deploy import _deploy_values
from .fmt import _mean, _pct
from .learning_rate import TRAINS, _trains_range


# The models IN is ranked among: the study's, as the GN paper's four and the control (the variants after GN have
# a verdict of their own, README section 12).
RANKED_WITH = ("bn", "gn", "ln", "in", "none")


def instance_norm(summary, shifted, rates, sizes, deployed):
    """IN's verdict for the README: where it lands, what its blindness to contrast buys and costs."""
    inst, label = variants_lib.INSTANCE, variants_lib.NORM_LABELS
    summary = {**summary, "variants": {n: e for n, e in summary["variants"].items() if n in RANKED_WITH}}
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
             + f" %), with a standard deviation across seeds of {_pct(entry['final_accuracy_std'])} against at most "
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
                                   for n in results.present(size_runs, RANKED_WITH)) for b in picks)
    span = _trains_range(rates, "adam", inst)
    spans = {n: _trains_range(rates, "adam", n) for n in results.present(rates["runs"], RANKED_WITH) if n != inst}
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


def in_invariance(summary):
    """IN's blindness to a*x + b, with its ε and the largest move measured (the shift study's in_invariance)."""
    found = summary["in_invariance"]
    def move(m):
        changed = f" ({m['answers_changed']} answers change)" if m["answers_changed"] else ""
        return f"a = {m['a']:g}, b = {m['b']:g}: {m['largest_probability_change']:.1e}{changed}"

    moves = "; ".join(move(m) for m in found["moves"])
    unchanged = all(not m["answers_changed"] for m in found["moves"])
    return (f"Exact but for its ε = {found['epsilon']:g} in √(σ² + ε), which weighs more as `a` shrinks the variance: "
            f"over the first {found['images']:,} test images, seed {found['seed']}'s largest change of any probability "
            f"when every pixel becomes a·x + b is {moves}" + ("; no answer changes." if unchanged else "."))
