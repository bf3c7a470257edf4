"""The "Your own digits" blocks: what the models read on the README's photo, how long a large photo takes, and
what the reader refuses and keeps (the refusals study and its rules)."""

from .. import variants as variants_lib
from .fmt import _and


def photo_timing(timing):
    """predict.py on a 12-megapixel photo (photos.py --time): the median of its runs, command included."""
    agree = len(set(timing["answers"].values())) == 1 and timing["answers"] and \
        next(iter(timing["answers"].values())) == timing["truth"]
    return (f"{timing['median_seconds']:.2f} s, the median of {len(timing['seconds'])} runs of the whole command "
            f"(start included) on a {timing['photo']} (every model reading {timing['truth']}"
            + ("" if agree else ", not all of them right") + f"), {timing['machine']}")


def predict_number(answer):
    """Each model's number on the README's photo (predict.py --json), grouped by what they read; a model that reads
    another number than the most common one is named with its least sure digit."""
    numbers = answer["number"]
    readings = {}
    for norm, number in numbers.items():
        readings.setdefault(number, []).append(variants_lib.NORM_LABELS[norm])
    common = max(readings, key=lambda number: len(readings[number]))
    parts = [f"{_and(labels)} read{'s' if len(labels) == 1 else ''} {number}"
             for number, labels in sorted(readings.items(), key=lambda item: -len(item[1]))]
    odd = []
    for norm, number in numbers.items():
        if number != common:
            position = next(k for k, (a, b) in enumerate(zip(number, common)) if a != b)
            probability = max(answer["digits"][position]["models"][norm])
            odd.append(f"{variants_lib.NORM_LABELS[norm]}'s digit {position + 1} is a {number[position]} at "
                       f"{100 * probability:.0f} %")
    return "; ".join(parts) + (" (" + "; ".join(odd) + ")" if odd else "")


def refusals(summary):
    """What the reader refuses and keeps (photos.py --refusals): real images without a digit, MNIST's test digits,
    photos of numbers, a digit's straight strokes."""
    found = summary["mnist"]
    gallery = summary["gallery"]
    refused = [row for row in gallery if row["refused"]]
    read = [row for row in gallery if not row["refused"]]
    kinds = {}
    for row in refused:
        kinds.setdefault(row["seen"], []).append(row["image"])
    words = "; ".join(f"{what}: {', '.join(names)}" for what, names in kinds.items())
    readings = ", ".join(f"{row['image']} (as {max(row['numbers'].values(), key=list(row['numbers'].values()).count)})"
                        for row in read)
    generated = ", ".join(f"{row['read_right']} of {row['numbers']} on {row['paper']} paper"
                          if row["paper"] != "table" else f"{row['read_right']} of {row['numbers']} on a sheet on a "
                          "table" for row in summary["generated"])
    strokes = [row for row in summary["strokes"] if row["numbers"]
               and set(row["numbers"].values()) == {row["image"][0]}]
    return (f"Of {len(gallery)} real images that hold no digit (scikit-image's gallery), {len(refused)} are refused, "
            f"none as blank ({words})" + (f"; read: {readings}" if read else "") + ". "
            f"Of MNIST's {found['digits']:,} test digits drawn large on white, {found['kept_as_one_digit']:,} are read "
            f"as one digit ({100 * found['kept_as_one_digit'] / found['digits']:.2f} %) and the models' majority reads "
            f"{found['majority_right']:,} right, in {1000 * found['median_seconds']:.0f} ms an image (median, "
            f"{summary['machine']}). Photos of 4-digit numbers read right: {generated}; a 1 drawn as one straight "
            f"line and a 7 with a ruler-straight bar, on plain and ruled paper: {len(strokes)} of "
            f"{len(summary['strokes'])} read right by every model.")


RULES = (("pieces", "letters", "separate pieces in one mark", "text"),
         ("width", "filled", "stroke width / the mark's height", "a filled shape, not strokes"),
         ("uneven", "uneven", "thickest stroke / its typical stroke", "a photo's shapes"),
         ("tones", "tones", "share of its ink in mid-grey (with *uneven*)", "a photo's shapes"),
         ("wide", "wide", "width / height", "a mark far wider than a digit"),
         ("holes", "holes", "holes it encloses", "a pattern with"))


def refusal_rules(summary):
    """Each rule of reading.not_a_digit: its measure, the threshold, the highest value among MNIST's test digits
    drawn large (what the threshold must stay above), and the gallery images it refuses."""
    highest = summary["mnist"]["highest_measures"]
    lines = ["| rule | measure | refused from | highest among MNIST's test digits | gallery images it refuses |",
             "|---|---|---|---|---|"]
    for measure, rule, about, words in RULES:
        refused = [row["image"] for row in summary["gallery"] if row["seen"] and row["seen"].startswith(words)]
        lines.append(f"| {rule} | {about} | {summary['rules'][rule]:g} | {highest[measure]:g} | "
                     f"{', '.join(refused) or '–'} |")
    found = summary["mnist"]
    lines += ["", f"Over all {found['digits']:,} test digits, each drawn 8x on white; a digit counts when read as one "
              "digit. Before these, an image whose brightness spans under 24 grey levels is blank, and one with "
              "contrast but no strokes standing out of its texture is \"a photo or a texture\"."]
    return "\n".join(lines)


def page_answers(page):
    """What the models answer in the README's screenshot of the drawing page (its browser test wrote the file)."""
    readings = {}
    for norm, number in page["numbers"].items():
        readings.setdefault(number, []).append(variants_lib.NORM_LABELS[norm])
    kept = readings.pop(page["drawn"], [])
    others = "; ".join(f"{_and(labels)} read{'s' if len(labels) == 1 else ''} {number}"
                       for number, labels in sorted(readings.items(), key=lambda item: -len(item[1])))
    return (f"{page['drawn']} drawn, on grey paper (+{page['background']:g})" + (f": {others}" if others else "")
            + (f"; {_and(kept)} keep{'s' if len(kept) == 1 else ''} {page['drawn']}" if kept else ""))
