"""The "Your own digits" blocks: what the models read on the README's photo, and how long a large photo takes."""

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
