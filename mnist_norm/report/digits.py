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


def refusals(summary, judged=None):
    """What the reader refuses and keeps (photos.py --refusals): real images without a digit, MNIST's test digits,
    photos of numbers, a digit's straight strokes; and, from the judge's summary (`judged`, judge.py), what the
    judge keeps and refuses at its rule's threshold."""
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
    blank = sum(row["refused"] == "blank" for row in refused)
    other = summary["other_images"]
    return (f"Of {len(gallery)} real images that hold no digit (scikit-image's gallery), {len(refused)} are refused, "
            f"{'none' if not blank else blank} as blank ({words})" + (f"; read: {readings}" if read else "") + ". "
            f"Of {other['images']} other real images no threshold was set on, {other['refused']} are refused "
            f"({other['blank']} as blank: flat patches) and {len(other['read'])} read. "
            f"Of MNIST's {found['digits']:,} test digits drawn large on white, {found['kept_as_one_digit']:,} are read "
            f"as one digit ({100 * found['kept_as_one_digit'] / found['digits']:.2f} %) and the models' majority reads "
            f"{found['majority_right']:,} right, in {1000 * found['median_seconds']:.0f} ms an image (median, "
            f"{summary['machine']}). Photos of 4-digit numbers read right: {generated}; a 1 drawn as one straight "
            f"line and a 7 with a ruler-straight bar (10 pixels thick, and 6 on ruled paper), on plain and ruled "
            f"paper: {len(strokes)} of "
            f"{len(summary['strokes'])} read right by every model. Numbers written small: {smallest(summary)}."
            + (f" {judge_sentence(judged)}" if judged and summary.get("judge") else "")
            + (f" {doubt_sentence(summary)}" if "doubt" in summary else ""))


def judge_sentence(judged):
    """The judge in one sentence: what it keeps of MNIST's test digits and refuses of the unseen fonts' letters."""
    threshold = f"{judged['threshold']:g}"
    sets = judged["sets"]
    kept = sets["MNIST test digits"]["kept"][threshold]
    letters = 1 - sets["letters of the unseen fonts"]["kept"][threshold]
    return (f"The judge, a small network trained against capital letters from handwriting fonts and doodles "
            f"(`judge.py`), keeps {100 * kept:.2f} % of MNIST's test digits as fields and refuses "
            f"{100 * letters:.1f} % of capital letters drawn from fonts it never saw "
            f"([how](docs/your_digits.md#a-judge-that-has-seen-what-is-not-a-digit)).")


def _chosen_row(price):
    chosen = price["chosen"]
    return next(row for row in price["rows"] if (row["doubt"], row["drawing"]) == (chosen["doubt"], chosen["drawing"]))


def doubt_sentence(summary):
    """The rule *doubt* in one sentence: when it refuses, what it costs among real digits read right, what it
    refuses of MNIST's test digits the majority reads wrong, and what it adds among real images without a digit."""
    price = summary["doubt"]
    row, of, chosen = _chosen_row(price), price["models"], price["chosen"]
    cost = ", ".join(f"{row['refused'][name]} of {count:,} ({name})" for name, count in price["digits"].items())
    judged = (f" where the judge's *drawing* is {chosen['drawing']:g} or more (else it is answered with that "
              "warning)" if chosen["drawing"] > 0 else "")
    test = "MNIST's test digits drawn large"
    refused = summary["mnist"]["refused_by_rule"].get("doubt", 0)
    return (f"A digit on which no {of - round(chosen['doubt'] * of) + 1} of the {of} models agree is refused as "
            f"\"not sure\"{judged}: of the real digits the models' majority reads right, that costs {cost}; it "
            f"refuses {refused} of MNIST's test digits, {refused - row['refused'].get(test, 0)} of them read wrong, "
            f"and {row['images_refused']} of the {price['images']} real images without a digit that the other rules "
            "leave ([its price](docs/your_digits.md#the-models-doubt)).")


def smallest(summary):
    """The smallest digit height from which numbers written small are read right as often as the photos of numbers
    at their usual size (`generated`, on the same paper), on each paper, and whether any was called blank."""
    rows = summary["small"]
    usual = {row["paper"]: row["read_right"] / row["numbers"] for row in summary["generated"]}
    papers = list(dict.fromkeys(row["paper"] for row in rows))
    parts = []
    for paper in papers:
        own = sorted((row for row in rows if row["paper"] == paper), key=lambda row: row["digit_height"])
        kept = [row["digit_height"] for k, row in enumerate(own)
                if all(later["read_right"] / later["numbers"] >= usual[paper] for later in own[k:])]
        frame = own[0]["frame_height"]
        parts.append(f"from {kept[0]} pixels ({100 * kept[0] / frame:.1f} % of the frame's height) on {paper} paper"
                     if kept else f"at no height on {paper} paper")
    blank = sum(row["blank"] for row in rows)
    rates = ", ".join(f"{100 * usual[paper]:.0f} % on {paper}" for paper in papers)
    return (f"read as often as at their usual size ({rates}) " + " and ".join(parts)
            + (f"; {blank} called blank" if blank else "; none called blank"))


def small_writing(summary):
    """Numbers written small, height by height: read right, refused (as blank) of the numbers, on each paper."""
    rows = summary["small"]
    heights = sorted({row["digit_height"] for row in rows})
    frame = rows[0]["frame_height"]
    cells = {(row["paper"], row["digit_height"]): row for row in rows}
    lines = ["| paper | " + " | ".join(f"{height} px ({100 * height / frame:.1f} %)" for height in heights) + " |",
             "|---|" + "---|" * len(heights)]
    for paper in dict.fromkeys(row["paper"] for row in rows):
        lines.append(f"| {paper} | " + " | ".join(
            f"{cells[paper, height]['read_right']} / {cells[paper, height]['numbers']}"
            + (f" ({cells[paper, height]['refused']} refused)" if cells[paper, height]["refused"] else "")
            for height in heights) + " |")
    seen = {}
    for row in rows:
        for what, count in row["seen"].items():
            seen[what] = seen.get(what, 0) + count
    said = _most_first(seen)
    lines += ["", f"Numbers read right by the models' majority, of those written, in a 1200 x {frame} photo, and how "
              f"many were refused; the digits' height in pixels and as a share of the frame's height. Numbers "
              f"{smallest(summary)}." + (f" The refusals: {said}." if said else "")]
    return "\n".join(lines)


def _most_first(seen):
    """What the reader saw instead of a number, {what: count}, as "what: count; ..." the most seen first."""
    return "; ".join(f"{what}: {count}" for what, count in sorted(seen.items(), key=lambda item: -item[1]))


def other_images(summary):
    """The real images no rule was set on: what the reader saw in those it refused, and what it read."""
    other = summary["other_images"]
    seen = _most_first(other["seen"])
    read = ", ".join(f"{row['image']} ({row['number']}, {row['models']} of 5)" for row in other["read"])
    return (f"Of {other['images']} images, {other['refused']} are refused ({seen}) and {len(other['read'])} read"
            + (f": {read}" if read else "") + ".")


def printed(summary):
    """Lines of print in faces no rule was set on: what the reader refused (by which rule) and read of the lines of
    words, and of the printed numbers."""
    words, numbers = summary["printed"], summary["printed"]["numbers"]
    refused = sum(words["refused"].values())
    read = "; ".join(f"\"{row['text']}\" in {row['font'].rsplit('.', 1)[0]} at {row['size']} pt as {row['number']}"
                     for row in words["read"])
    by_print = numbers["refused"].get("print", 0)
    return (f"Of {words['lines']} lines of printed words ({', '.join(words['fonts'])}), {refused} are refused "
            f"(by rule or kind: {_most_first(words['refused'])}) and {len(words['read'])} read as a number"
            + (f": {read}" if read else "") + f". Of {numbers['lines']} printed numbers, {numbers['read_right']} are "
            f"read right and {sum(numbers['refused'].values())} refused ({_most_first(numbers['refused']) or 'none'});"
            f" *print* refuses {by_print}.")


def _value(value):
    return "–" if value is None else f"{value:g}"


def refusal_rules(summary):
    """Each rule of reading.RULES as the refusals study recorded it (found by its name, never its words): its
    measure, the threshold, the highest value among MNIST's training digits kept (its test digits in a summary
    without them) and among the photos' digits (what the threshold must stay above), the MNIST digits it refuses
    and the gallery images it refuses, with their value."""
    found = summary.get("training_drawn", summary["mnist"])
    which = "training" if "training_drawn" in summary else "test"
    disagreed = found["models_disagree"]
    lines = [f"| rule | measure | refused from | highest among MNIST's {which} digits kept | MNIST's {which} digits it "
             "refuses | highest among the photos' digits | gallery images it refuses (their value) |",
             "|---|---|---|---|---|---|---|"]
    for rule in summary["rules"]:
        refuses = ", ".join(f"{row['image']} ({row['value']:g})" for row in rule["refuses"]) or "–"
        lines.append(f"| {rule['name']} | {rule['about']} | {rule['threshold']:g} | {_value(rule['mnist_highest'])} | "
                     f"{rule['mnist_refused']} | {_value(rule['photos_highest'])} | {refuses} |")
        if rule["also"]:
            measure, threshold = rule["also"]
            lines.append(f"| | with *{measure}* | {threshold:g} | {rule['also_highest']:g} | | "
                         f"{summary['generated_highest_measures'][measure]:g} | |")
    first = "the first " if which == "training" else "all "
    lines += ["", f"Over {first}{found['digits']:,} {which} digits, each drawn 8x on white; a digit counts when read as one "
              f"digit ({disagreed['digits']} of them are read differently by some model: *disagreed*'s column is "
              "their highest *uneven*); the photos: 10 numbers of 4 digits on each paper. A rule refuses a mark "
              "whose measure is its threshold or more (*uneven* only with *tones*; *writing* counts the image's "
              "marks together, before each mark is measured, and *print* the number's line). Before these, an image "
              "whose brightness spans under 24 grey levels is blank, and one with contrast but no strokes standing "
              "out of its texture is \"a photo or a texture\"."]
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


def judge_table(summary):
    """The judge's measurement (judge.py): each set it was measured on, none trained on, and the share it keeps
    (digits) or refuses (letters, doodles) at each threshold of *drawing*, the rule's own in bold."""
    chosen = f"{summary['threshold']:g}"
    thresholds = list(next(iter(summary["sets"].values()))["kept"])
    head = " | ".join(f"**{t}**" if t == chosen else t for t in thresholds)
    lines = [f"| set | fields | what counts | {head} |", "|---|---|---|" + "---|" * len(thresholds)]
    for name, row in summary["sets"].items():
        shares = [row["kept"][t] if row["digits"] else 1 - row["kept"][t] for t in thresholds]
        cells = " | ".join(f"**{100 * v:.2f}**" if t == chosen else f"{100 * v:.2f}" for t, v in zip(thresholds, shares))
        lines.append(f"| {name} | {row['count']:,} | {'kept' if row['digits'] else 'refused'} (%) | {cells} |")
    letters = summary["sets"]["letters of the unseen fonts"]
    settings = summary["settings"]

    def refused(shares):
        return ", ".join(f"{name} {100 * (1 - kept):.0f} %" for name, kept in shares.items())

    lines += ["", f"Per cent kept or refused as *drawing*'s threshold (the judge's P(not a digit)) varies; in bold the "
              f"rule's own, {chosen}. Letters of the unseen fonts ({', '.join(settings['unseen_fonts'])}) refused "
              f"at it, letter by letter: {refused(letters['by_character'])}; font by font: {refused(letters['by_font'])}"
              + f". Drawn and trained ({settings['epochs']} epochs) on {settings['training_fields']:,} fields "
              f"({settings['not_digits']:,} not digits) in {summary['seconds']['training'] / 60:.0f} minutes "
              f"({summary['machine']})."]
    return "\n".join(lines)


def _share(count, of):
    return f"{count} ({100 * count / of:.2f} %)" if of else "–"


def doubt_table(summary):
    """What *doubt*'s thresholds cost and buy (the refusals study's "doubt"): at the rule's own *doubt*, each
    threshold of the judge's *drawing* from which a doubtful digit is refused rather than answered with the warning
    (the rule's own in bold); then what refusing every digit at each *doubt* would cost."""
    price = summary["doubt"]
    chosen, digits, of = price["chosen"], price["digits"], price["models"]
    names = list(digits)
    lines = ["| refused from *drawing* | " + " | ".join(f"{name} ({digits[name]:,})" for name in names)
             + f" | real images refused (of {price['images']}) | images of digits answered with the warning |",
             "|---|" + "---|" * (len(names) + 2)]
    for row in (row for row in price["rows"] if row["doubt"] == chosen["doubt"]):
        bold = "**" if row["drawing"] == chosen["drawing"] else ""
        cells = [f"{bold}{row['drawing']:g}{bold}", *(_share(row["refused"][name], digits[name]) for name in names),
                 str(row["images_refused"]), str(sum(row["warned"].values()))]
        lines.append("| " + " | ".join(cells) + " |")
    everything = "; ".join(
        f"no {of - round(row['doubt'] * of) + 1} agree: " + ", ".join(f"{row['refused'][name]}" for name in names)
        + f" real digits, {row['images_refused']} real image{'s' * (row['images_refused'] != 1)}"
        for row in price["rows"] if row["drawing"] == 0)
    agree = of - round(chosen["doubt"] * of) + 1
    lines += ["", f"Real digits the models' majority reads right that *doubt* refuses, with the other digits of their number "
              f"(its bound: "
              f"{100 * price['bound']:.1f} % of each set), where no {agree} of the {of} models agree on a digit and "
              f"the judge's *drawing* is the first column's threshold or more (below it the digit is answered with "
              f"the warning), and the real images without a digit, left to be answered by the other rules, that it "
              f"refuses; in bold the threshold the study chose. Refusing a digit whatever the judge says, at each "
              f"agreement ({', '.join(names)}; real images): {everything}."]
    return "\n".join(lines)
