"""After Group Norm (issue 46): the new variants in the 20-epoch study and on shifted test images, each against the
variant it reworks and its paper's claim (the paper's setting beside ours)."""

from .. import results
from .. import variants as variants_lib  # summaries call their entries "variants"
from .fmt import _and, _mean, _pct

# Each new variant, the study's variant it reworks, and what its paper claims at large batches, in its setting.
# A claim is quoted from the paper's abstract or text; "ours" is always 7,568 parameters on MNIST, batch 128.
CLAIMS = (
    ("brn", "bn", "Ioffe 2017 (Inception v3 on ImageNet, 50 workers of 32 images): at such batches Batch Renorm "
                  "matches BN; its gain is at small or non-i.i.d. batches"),
    ("gnws", "gn", "Qiao et al. 2019 (ResNet-50 and others on ImageNet, 1-2 images per GPU): GN + WS matches or "
                   "beats BN trained with large batches"),
    ("frn", "bn", "Singh & Krishnan 2020 (InceptionV3 and ResnetV2-50 on ImageNet, large batches): FRN about 0.7 to "
                  "1.0 points of top-1 accuracy above BN"),
    ("rms", "ln", "Zhang & Sennrich 2019 (language models): RMSNorm performs comparably to LayerNorm, in less time "
                  "per step"),
)


def _present(summary):
    return [claim for claim in CLAIMS if claim[0] in summary["variants"] and claim[1] in summary["variants"]]


def _seeds(entry):
    return [run["final_accuracy"] for run in entry["runs"]]


def _compare(new, old):
    """How the mean of `new`'s seeds stands to `old`'s, in words, against the seeds' spread: within it when the
    difference is smaller than the wider of the two seed ranges."""
    difference = round(100 * (_mean(new) - _mean(old)), 2) + 0.0  # no "-0.00"
    noise = 100 * max(max(new) - min(new), max(old) - min(old))
    side = "within the seeds' range" if abs(difference) < noise else ("above" if difference > 0 else "below")
    return f"{difference:+.2f} points ({side}: the wider seed range is {noise:.2f})"


def study_verdict(summary):
    """The new variants after 20 epochs at batch 128, each against the variant it reworks and its paper."""
    variants = summary["variants"]
    present = _present(summary)
    first = variants[present[0][0]]
    seeds = ", ".join(str(run["seed"]) for run in first["runs"])
    parts = []
    for norm, old, claim in present:
        new_entry, old_entry = variants[norm], variants[old]
        label, old_label = variants_lib.NORM_LABELS[norm], variants_lib.NORM_LABELS[old]
        parts.append(f"{label} {_pct(new_entry['final_accuracy_mean'])} ± {_pct(new_entry['final_accuracy_std'])} % "
                     f"against {old_label}'s {_pct(old_entry['final_accuracy_mean'])} %: "
                     f"{_compare(_seeds(new_entry), _seeds(old_entry))}; the paper: {claim}")
    config = first["config"]
    apart = [variants_lib.NORM_LABELS[norm] for norm, old, _ in present
             if "within the seeds' range" not in _compare(_seeds(variants[norm]), _seeds(variants[old]))]
    ending = (f"The seeds tell {_and(apart)} apart from the variant reworked" if apart else
              "These seeds tell none of them apart from the variant it reworks")
    if "frn" in variants and "bn" in variants:
        frn = 100 * (variants["frn"]["final_accuracy_mean"] - variants["bn"]["final_accuracy_mean"])
        ending += f"; FRN's claimed lead over BN (0.7 to 1.0 points) is {frn:+.2f} points here"
    return (f"After {config['epochs']} epochs at batch {config['batch_size']} (test accuracy, mean ± std of seeds "
            f"{seeds}): " + ". ".join(parts) + ". " + ending + ".")


GREY, FAINT = "grey background", "contrast 0.25"


def shift_verdict(shifted, study_shift):
    """The new variants on grey paper and fainter ink (their own shift summary) beside the study's models (the
    committed input-shift study): the mean of the seeds (lowest-highest)."""
    def cells(summary, norms, name):
        out = []
        for norm in norms:
            values = results.shift_values(summary["runs"], norm, results.inference_mode(norm), name)
            out.append(f"{variants_lib.NORM_LABELS[norm]} {_mean(values):.1f} ({min(values):.1f}–{max(values):.1f})")
        return out

    new = [norm for norm, _, _ in CLAIMS if norm in results.present(shifted["runs"])]
    old = [norm for norm in ("bn", "gn", "ln", "in", "none") if norm in results.present(study_shift["runs"])]
    sentences = []
    for name, words in ((GREY, "On grey paper (+128)"), (FAINT, "on fainter ink (contrast ×0.25)")):
        sentences.append(f"{words}: {_and(cells(shifted, new, name))} %, against "
                         f"{_and(cells(study_shift, old, name))} %")
    clean = _and(cells(shifted, new, "clean"))
    text = ("; ".join(sentences) + f" (test accuracy, mean of seeds, lowest–highest; clean: {clean} %). FRN and "
            "RMSNorm divide by a root mean square without subtracting a mean, so a brightness added to every "
            "pixel, which the first conv turns into a constant per channel, is not taken away as IN takes it away.")
    if "gnws" in new:
        text += (" GN + WS's first conv has standardized kernels, which sum to zero over each window: a brightness "
                 "added to every pixel changes none of its outputs, and GN takes away the contrast, so like IN it is "
                 "blind to `a·x + b` (exactly, but for GN's ε; a test shows it), an effect its paper does not claim.")
    return text
