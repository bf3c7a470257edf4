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


# The batch-size question of each new variant, its paper's claim about batch size, in its setting.
BATCH_CLAIMS = {
    "brn": "Ioffe 2017 (Inception v3 on ImageNet, microbatches of 4): Batch Renorm trains substantially better than "
           "BN with small minibatches",
    "gnws": "Qiao et al. 2019 (ResNet-50 on ImageNet): GN + WS with 1-2 images per GPU matches or beats BN with large "
            "batches",
    "frn": "Singh & Krishnan 2020 (ImageNet): FRN outperforms BN at all batch sizes",
}


def _at(summary, norm, batch):
    return [run["final_accuracy"] for run in summary["runs"]
            if run["norm"] == norm and run["batch_size"] == batch and run["final_accuracy"] is not None]


def _cell(summary, norm, batch):
    values = _at(summary, norm, batch)
    return f"{variants_lib.NORM_LABELS[norm]} {_pct(_mean(values))} %"


def batch_size_verdict(summary):
    """The new variants across training batch sizes, each against the variant it reworks (and BN) at the smallest
    and the largest batch, against its paper's claim about batch size."""
    sizes = sorted({run["batch_size"] for run in summary["runs"]})
    small, large = sizes[0], sizes[-1]
    settings = summary["settings"]
    seeds = ", ".join(map(str, settings["seeds"]))
    parts = []
    if _at(summary, "brn", small):
        rows = [f"batch {b}: {_cell(summary, 'brn', b)} against {_cell(summary, 'bn', b)}, "
                f"{_compare(_at(summary, 'brn', b), _at(summary, 'bn', b))}" for b in sizes[:3]]
        fixed = _mean(_at(summary, "brn", small)) > _mean(_at(summary, "bn", small)) and \
            "within" not in _compare(_at(summary, "brn", small), _at(summary, "bn", small))
        answer = "Yes, here" if fixed else "No, not here"
        parts.append(f"**Does BRN fix small batches?** {answer}: " + "; ".join(rows)
                     + f" (GN at batch {small}: {_pct(_mean(_at(summary, 'gn', small)))} %). The paper: "
                     + BATCH_CLAIMS["brn"])
    if _at(summary, "gnws", large):
        gap = 100 * (_mean(_at(summary, "bn", large)) - _mean(_at(summary, "gn", large)))
        closed = "within" in _compare(_at(summary, "gnws", large), _at(summary, "bn", large)) or \
            _mean(_at(summary, "gnws", large)) > _mean(_at(summary, "bn", large))
        answer = "Yes, here" if closed else "No, not here"
        parts.append(f"**Does WS close GN's gap to BN at large batches?** {answer}: at batch {large} GN is {gap:.2f} points below BN ({_cell(summary, 'gn', large)}, "
                     f"{_cell(summary, 'bn', large)}); {_cell(summary, 'gnws', large)}, "
                     f"{_compare(_at(summary, 'gnws', large), _at(summary, 'bn', large))} against BN; at batch "
                     f"{small}, {_cell(summary, 'gnws', small)} against {_cell(summary, 'gn', small)}. The paper: "
                     + BATCH_CLAIMS["gnws"])
    if _at(summary, "frn", large):
        parts.append(f"**FRN** at batch {small}: {_cell(summary, 'frn', small)}, "
                     f"{_compare(_at(summary, 'frn', small), _at(summary, 'bn', small))} against BN; at batch "
                     f"{large}: {_cell(summary, 'frn', large)}, "
                     f"{_compare(_at(summary, 'frn', large), _at(summary, 'bn', large))} against BN. The paper: "
                     + BATCH_CLAIMS["frn"])
    if _at(summary, "rms", large):
        parts.append(f"**RMSNorm** against LN at batch {small}: "
                     f"{_compare(_at(summary, 'rms', small), _at(summary, 'ln', small))}; at batch {large}: "
                     f"{_compare(_at(summary, 'rms', large), _at(summary, 'ln', large))}")
    return (f"Test accuracy after {settings['epochs']} epochs, mean of seeds {seeds} ({settings['lr_rule']}):\n\n"
            + "\n".join(f"- {part}." for part in parts))


def learning_rate_verdict(summary):
    """The new variants' range of peak learning rates that train, each beside the variant it reworks."""
    from .learning_rate import TRAINS, _trains_range

    runs = summary["runs"]
    present = results.present(runs)
    parts = []
    for optimizer in dict.fromkeys(run["optimizer"] for run in runs):
        cells = []
        for norm, old, _ in CLAIMS:
            if norm not in present or old not in present:
                continue
            spans = [_trains_range(summary, optimizer, name) for name in (norm, old)]
            words = [f"{span[0]:g}–{span[1]:g}" if span else "no rate" for span in spans]
            cells.append(f"{variants_lib.NORM_LABELS[norm]} {words[0]} ({variants_lib.NORM_LABELS[old]} {words[1]})")
        parts.append(f"with {'Adam' if optimizer == 'adam' else 'SGD + Nesterov'}: " + ", ".join(cells))
    new = [norm for norm, _, _ in CLAIMS if norm in present]
    diverged = sorted({(run["norm"], run["optimizer"], run["lr"]) for run in runs
                       if run["diverged"] and run["norm"] in new})
    rates = sorted({run["lr"] for run in runs})
    return (f"Peak learning rates (of {', '.join(f'{lr:g}' for lr in rates)}) at which the mean test accuracy after "
            f"{summary['settings']['epochs']} epochs is at least {TRAINS:g} %, each beside the variant it reworks: "
            + "; ".join(parts) + ". "
            + (f"Runs whose loss became NaN: "
               f"{', '.join(f'{variants_lib.NORM_LABELS[n]} ({o}, lr {lr:g})' for n, o, lr in diverged)}."
               if diverged else "None of the four's runs became NaN."))


# Each new variant and the variant whose inference it should cost, had it the property its paper gives it.
INFERENCE_PAIRS = (("brn", "bn", "at inference BN with its moving statistics: it should fold into its conv"),
                   ("gnws", "gn", "the standardized kernel is a constant of the graph: it should cost what GN costs"),
                   ("frn", "gn", "per image and channel, with a threshold in place of the ReLU"),
                   ("rms", "ln", "LN without the mean and without the shift"))


def deploy_verdict(deployed):
    """Whether BRN folds and GN + WS costs GN at inference, from the LiteRT graphs and their timings (seed 1's ops,
    the mean latency of the seeds), each beside the variant it reworks, measured in the same sitting."""
    def latency(norm, runtime="litert-f32"):
        return _mean([row["latency_ms_batch1"] for row in results.deploy_rows(deployed, norm, runtime)])

    def ops(norm):
        return results.deploy_rows(deployed, norm, "litert-f32")[0]["ops"]

    present = results.present(deployed["runs"])
    parts = []
    for norm, old, expected in INFERENCE_PAIRS:
        if norm not in present or old not in present:
            continue
        label, old_label = variants_lib.NORM_LABELS[norm], variants_lib.NORM_LABELS[old]
        same = ops(norm) == ops(old)
        extra = {op: count - ops(old).get(op, 0) for op, count in ops(norm).items() if count > ops(old).get(op, 0)}
        graph = (f"its LiteRT float32 graph has exactly {old_label}'s ops" if same else
                 f"its LiteRT float32 graph has {sum(ops(norm).values())} ops against {old_label}'s "
                 f"{sum(ops(old).values())}" + (" (beyond them: " + ", ".join(f"{op} +{n}" for op, n in extra.items())
                                                 + ")" if extra else ""))
        parts.append(f"{label} ({expected}): {graph}; one image in {latency(norm):.3f} ms against "
                     f"{latency(old):.3f} ms, int8 {latency(norm, 'litert-int8'):.3f} against "
                     f"{latency(old, 'litert-int8'):.3f} ms")
    seeds = ", ".join(map(str, sorted({row["seed"] for row in deployed["runs"]})))
    return ("At inference (LiteRT, one thread, mean latency of seeds " + seeds + ", every model timed in the same "
            "sitting): " + "; ".join(parts) + ".")
