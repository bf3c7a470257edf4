"""The reader's judgement, measured: what it reads and what it refuses, kind of image by kind (`photos.py --refusals`).

Six kinds: MNIST's 10,000 test digits drawn large on white (each must be read as one digit; the stroke measures of
`reading.stroke_measures` over all of them are what the rules of `reading.not_a_digit` rest on); real images no one
here made, scikit-image's data gallery, which ships inside its wheel (each should be refused, and not as blank);
photos of numbers made from test digits on plain paper, ruled paper and a sheet on a table (`photos.photo`, whose
digits' measures the rules that photos alone bring out rest on); a digit's own straight strokes (a 1 drawn as one
line, a 7 with a ruler-straight bar) on plain and ruled paper; numbers written small (digits a few percent of the
frame's height); and real images no rule's threshold was set on (`other_images`), each of which should be refused.
Over all of them and MNIST's training digits, what each pair of thresholds of the rule *doubt* would cost among the
real digits read right and buy among the real images (`doubt_price`), and the pair chosen.
"""

import os
import time
from typing import NamedTuple

import numpy as np

from . import photos
from . import reading

# Real images no one here made (scikit-image's gallery): none holds a handwritten digit.
GALLERY = ("page.png", "text.png", "camera.png", "coins.png", "astronaut.png", "chelsea.png", "coffee.png",
           "moon.png", "horse.png", "brick.png", "cell.png", "chessboard_GRAY.png", "clock_motion.png", "color.png",
           "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "logo.png", "microaneurysms.png",
           "motorcycle_left.png", "phantom.png", "retina.jpg", "rocket.jpg")
PAPERS = ("plain", "ruled", "table")
SMALL_HEIGHTS = (24, 32, 40, 48, 56, 64)  # digit heights (pixels) of the numbers written small, in a 900-pixel frame
OTHER_SKIMAGE = ("chessboard_RGB.png", "motorcycle_right.png", "no_time_for_that_tiny.gif")
MATPLOTLIB_ICONS = ("back", "forward", "filesave", "help", "home", "matplotlib", "move", "subplots", "zoom_to_rect")


def gallery_folder():
    """scikit-image's data folder (a test-only dependency; its wheel holds these images)."""
    import skimage

    return os.path.join(os.path.dirname(skimage.__file__), "data")


def on_white(digit, factor=8):
    """An MNIST test digit (28, 28) drawn large, dark on white, as a scan of it would be."""
    return 255.0 - np.kron(digit.astype("float32"), np.ones((factor, factor), "float32"))


class Refusal(NamedTuple):
    """A refused image: its kind (`reading.refusal`), the reason's words, what was seen instead in a few words
    (`_seen`), and the rule that refused it with its measure's value (None where no rule of `reading.RULES` did)."""

    kind: str
    words: str
    seen: str
    rule: str = None
    value: float = None


NO_REFUSAL = Refusal(None, None, None)


class Weighed(NamedTuple):
    """An image as it came to the models' part of the judgement (`reading.weigh`): each model's number, each digit's
    (*doubt*, *drawing*), and the rule of stage "models" other than *doubt* that refuses it, or None (what
    `doubt_price` needs to price *doubt*'s thresholds, whatever they are now)."""

    numbers: dict
    marks: list
    other: str = None


def _weighed(answer):
    others = [rule for rule in reading.RULES if rule.stage == "models" and rule.name != "doubt"]
    other = next((rule.name for rule in others if any(rule.refuses(digit.measures) for digit in answer.digits)), None)
    return Weighed({norm: reading.number(values) for norm, values in answer.probabilities.items()},
                   [(digit.measures["doubt"], digit.measures.get("drawing", 0.0)) for digit in answer.digits], other)


def _read(models, grey, name, digits_out=None, judge_fn=None, weighed_out=None):
    """(the number each model reads, or None; the `Refusal`, or None; seconds; the models' `reading.agreement`, or
    None). The digits read are appended to `digits_out` when given, each with the models' agreement on it: (Digit,
    agreement's digit); an image that reached the models' judgement to `weighed_out`, as `Weighed`."""
    started = time.perf_counter()
    try:
        answered = reading.weigh(models, grey, name, judge_fn=judge_fn)
        if weighed_out is not None:
            weighed_out.append(_weighed(answered))
        reading.judge(answered.digits, answered.probabilities, name, answered.found)
    except reading.ImageError as error:
        rule = getattr(error, "rule", None)
        value = float(error.measures[reading.RULE[rule].measure]) if rule and error.measures else None
        return None, Refusal(reading.refusal(error), str(error).split(": ", 1)[-1], _seen(error), rule, value), \
            time.perf_counter() - started, None
    numbers = {norm: reading.number(values) for norm, values in answered.probabilities.items()}
    if digits_out is not None:
        digits_out.extend(zip(answered.digits, answered.found["digits"]))
    return numbers, None, time.perf_counter() - started, answered.found


def _highest(found):
    """The highest value of each stroke measure over [(Digit, agreement), ...], and the highest *uneven* among the
    digits the models do not all read alike (what the rule *disagreed* must stay above)."""
    highest = {}
    for digit, _ in found:
        for name, value in digit.measures.items():
            highest[name] = round(float(max(highest.get(name, value), value)), 3)
    disagreed = [digit.measures["uneven"] for digit, read in found if read["doubt"] > 0]
    return highest, {"digits": len(disagreed), "highest_uneven": round(float(max(disagreed, default=0.0)), 3)}


def _seen(error):
    """What the reader saw instead of a number, in a few words (the refusals' groups)."""
    if isinstance(error, reading.NotADigit):
        return error.seen.split(":")[0]
    return "several lines of marks" if isinstance(error, reading.NotANumber) else reading.refusal(error)


def _read_right(numbers, truth):
    """Whether the models' majority (`reading.majority`, a tie being none) reads `truth`; False for a refusal."""
    if not numbers:
        return False
    chosen, _, tied = reading.majority(list(numbers.values()))
    return not tied and chosen == truth


def _priced(priced, weighed, truth):
    """`weighed` (the one image `_read` weighed, if it came so far) with its `truth` onto `priced`, when given."""
    if priced is not None and weighed:
        priced.append((weighed.pop(), truth))


def mnist(models, images, labels, judge_fn=None, priced=None):
    """MNIST's digits (its test digits, or training digits for the rules' evidence) drawn large: how many are read
    as one digit, how many the models' majority reads right,
    the refusals' words, the stroke measures' highest values, and the seconds per image. Each image that came to
    the models' judgement is appended to `priced` as (`Weighed`, its label), when given."""
    kept = right = 0
    refused, by_rule, seconds, found = {}, {}, [], []
    for index, (image, label) in enumerate(zip(images[:, :, :, 0], labels)):
        weighed = []
        numbers, refusal, took, _ = _read(models, on_white(image), f"digit {index}", found, judge_fn, weighed)
        _priced(priced, weighed, str(label))
        seconds.append(took)
        if refusal:
            refused[refusal.words] = refused.get(refusal.words, 0) + 1
            if refusal.rule:
                by_rule[refusal.rule] = by_rule.get(refusal.rule, 0) + 1
            continue
        if all(len(number) == 1 for number in numbers.values()):
            kept += 1
            right += _read_right(numbers, str(label))
    highest, disagreed = _highest(found)
    return {"digits": len(labels), "kept_as_one_digit": kept, "majority_right": right, "refused": refused,
            "refused_by_rule": by_rule, "highest_measures": highest, "models_disagree": disagreed,
            "median_seconds": round(float(np.median(seconds)), 4)}


def gallery(models, folder=None, judge_fn=None, priced=None):
    """Each gallery image: read (each model's number) or refused (its kind and words), and the seconds it took."""
    folder = folder or gallery_folder()
    return [gallery_row(models, os.path.join(folder, name), judge_fn, priced) for name in GALLERY]


def gallery_row(models, path, judge_fn=None, priced=None):
    """One image of the gallery: its size, each model's number or the refusal (its kind, what was seen, its words,
    the rule that refused it and its measure's value), and the seconds it took."""
    grey = reading.read_image(path)
    weighed = []
    numbers, refusal, took, _ = _read(models, grey, os.path.basename(path), judge_fn=judge_fn, weighed_out=weighed)
    _priced(priced, weighed, None)
    refusal = refusal or NO_REFUSAL
    return {"image": os.path.basename(path), "size": list(grey.shape[::-1]), "numbers": numbers,
            "refused": refusal.kind, "seen": refusal.seen, "words": refusal.words, "rule": refusal.rule,
            "measured": None if refusal.value is None else round(refusal.value, 3), "seconds": round(took, 4)}


def evidence(found, photos_highest, gallery_rows):
    """Each rule of `reading.RULES` and what the data say of it: {"name", "measure", "threshold", "also", "about",
    "message", "stage", "mnist_highest": the highest value of its measure among MNIST's digits the reader kept
    (for *disagreed*, among those the models do not all read alike; a measure of the number's line, *writing*'s
    and *print*'s, is recorded with each of its digits), "also_highest": the same of its second measure,
    "photos_highest": among the photos' digits, "mnist_refused": MNIST digits it refuses, "refuses": [{"image",
    "value"}] the gallery images it refuses, with their value}. `found`: `mnist`'s result; `photos_highest`:
    `generated`'s highest measures; `gallery_rows`: `gallery`'s rows."""
    highest = found["highest_measures"]
    rows = []
    for rule in reading.RULES:
        also = list(rule.also) if rule.also else None
        rows.append({
            "name": rule.name, "measure": rule.measure, "threshold": rule.threshold, "also": also,
            "about": rule.about, "message": rule.message, "stage": rule.stage,
            "mnist_highest": (found["models_disagree"]["highest_uneven"] if rule is reading.RULE["disagreed"]
                              else highest.get(rule.measure)),
            "also_highest": highest.get(also[0]) if also else None,
            "photos_highest": photos_highest.get(rule.measure),
            "mnist_refused": found["refused_by_rule"].get(rule.name, 0),
            "refuses": [{"image": row["image"], "value": row["measured"]} for row in gallery_rows
                        if row["rule"] == rule.name]})
    return rows


def generated(models, images, labels, first=1000, count=10, digits=4, judge_fn=None, priced=None):
    """Photos of numbers made from test digits (from index `first`) on each paper: numbers the models' majority
    reads right, of `count`."""
    rows, found = [], []
    rng = np.random.default_rng(7)
    for paper in PAPERS:
        right, seconds = 0, []
        for k in range(count):
            chosen = images[first + k * digits : first + (k + 1) * digits, :, :, 0]
            truth = "".join(str(int(label)) for label in labels[first + k * digits : first + (k + 1) * digits])
            image = photos.photo(chosen, rng, paper="plain" if paper == "table" else paper, table=paper == "table")
            weighed = []
            numbers, _, took, _ = _read(models, np.asarray(image.convert("L"), dtype="float32"), paper, found,
                                        judge_fn, weighed)
            _priced(priced, weighed, truth)
            right += _read_right(numbers, truth)
            seconds.append(took)
        rows.append({"paper": paper, "numbers": count, "read_right": right,
                     "median_seconds": round(float(np.median(seconds)), 4)})
    return rows, _highest(found)[0]


def small(models, images, labels, heights=SMALL_HEIGHTS, count=20, first=2000, digits=4, judge_fn=None, priced=None):
    """Numbers written small: photos (1200 x 900) of `count` 4-digit numbers (test digits from index `first`) whose
    digits are `heights` pixels tall, on plain and on ruled paper (rules every 32-45 pixels): for each, how many the
    models' majority reads right, how many are refused (and how many of those as blank), and what was seen instead."""
    rows = []
    for paper in ("plain", "ruled"):
        for height in heights:
            rng = np.random.default_rng(11)
            right = blank = 0
            seen = {}
            for k in range(count):
                start = first + k * digits
                truth = "".join(str(int(label)) for label in labels[start : start + digits])
                image = photos.photo(images[start : start + digits, :, :, 0], rng, paper=paper, digit_height=height)
                grey = np.asarray(image.convert("L"), dtype="float32")
                weighed = []
                numbers, refusal, _, _ = _read(models, grey, paper, judge_fn=judge_fn, weighed_out=weighed)
                _priced(priced, weighed, truth)
                right += _read_right(numbers, truth)
                if refusal:
                    seen[refusal.seen] = seen.get(refusal.seen, 0) + 1
                    blank += refusal.kind == "blank"
            rows.append({"paper": paper, "digit_height": height, "frame_height": 900, "numbers": count,
                         "read_right": right, "refused": sum(seen.values()), "blank": blank, "seen": seen})
    return rows


def other_images(models, judge_fn=None, priced=None):
    """Real images that no rule was set on: the 200 patches of scikit-image's `lfw_subset` (100 faces, 100 other
    parts of the same photos, 25 x 25 pixels, enlarged 16 times), its other images (chessboard_RGB,
    motorcycle_right, no_time_for_that_tiny.gif), and matplotlib's sample photo and toolbar icons (from its wheel):
    {"images", "refused", "blank", "seen": {what: count}, "read": [{"image", "number", "models"}]}."""
    import matplotlib
    from PIL import Image

    folder = gallery_folder()
    greys = []
    for index, patch in enumerate(np.load(os.path.join(folder, "lfw_subset.npy"))):
        enlarged = Image.fromarray((255 * patch).astype("float32")).resize((400, 400), Image.BICUBIC)
        greys.append((f"lfw_subset[{index}]", np.clip(np.asarray(enlarged), 0, 255)))
    mpl = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data")
    paths = [os.path.join(folder, name) for name in OTHER_SKIMAGE]
    paths += [os.path.join(mpl, "sample_data", "Minduka_Present_Blue_Pack.png")]
    paths += [os.path.join(mpl, "images", f"{name}_large.png") for name in MATPLOTLIB_ICONS]
    greys += [(os.path.basename(path), reading.read_image(path)) for path in paths]
    seen, read, blank = {}, [], 0
    for name, grey in greys:
        weighed = []
        _, refusal, _, found = _read(models, grey, name, judge_fn=judge_fn, weighed_out=weighed)
        _priced(priced, weighed, None)
        if refusal:
            seen[refusal.seen] = seen.get(refusal.seen, 0) + 1
            blank += refusal.kind == "blank"
        else:
            read.append({"image": name, "number": found["number"], "models": found["models"]})
    return {"images": len(greys), "refused": len(greys) - len(read), "blank": blank, "seen": seen, "read": read}


def straight_strokes(size=600, ruled_every=44):
    """A 1 drawn as one straight line 8 pixels wide and a 7 whose bar is a ruler-straight line 10 pixels thick,
    dark on white, on plain paper and on paper ruled every `ruled_every` pixels; and on the ruled paper a 7 whose bar
    is 6 pixels thick, three times its rules (the issue's): {name: greyscale image}."""
    one = np.full((size, size), 255.0, "float32")
    one[size // 6 : 5 * size // 6, size // 2 - 4 : size // 2 + 4] = 0

    def seven(bar):
        grey = np.full((size, size), 255.0, "float32")
        grey[size // 4 : size // 4 + bar, size // 4 : 5 * size // 6] = 0  # the bar: more than half the page wide
        for t in range(size // 2):  # the stem, down to the left
            y, x = size // 4 + bar + t, int(5 * size // 6 - 0.55 * t)
            grey[y, x - 5 : x + 5] = 0
        return grey

    def ruled(grey):
        return np.where((np.arange(size) % ruled_every < 2)[:, None], np.minimum(grey, 170.0), grey)

    return {"1 plain": one, "7 plain": seven(10), "1 ruled": ruled(one), "7 ruled": ruled(seven(10)),
            "7 ruled, 6-pixel bar": ruled(seven(6))}


def strokes(models, judge_fn=None):
    """What each model reads on `straight_strokes`' images (or the refusal's words)."""
    rows = []
    for name, grey in straight_strokes().items():
        numbers, refusal, _, _ = _read(models, grey, name, judge_fn=judge_fn)
        rows.append({"image": name, "numbers": numbers, "words": refusal and refusal.words})
    return rows


# Lines of print in typefaces that no rule and not the judge were set on (Debian's packages).
PRINT_FONTS = {"fonts-freefont-otf": "opentype/freefont/*.otf", "fonts-liberation": "truetype/liberation/*.ttf"}
PRINTED = ("Total 12.50", "EXIT", "Room 214", "No. 4711", "Fig 3", "Tel 5550123", "Aug 2026", "Price 3.99", "Gate 12",
           "exit 4", "Serial 0042", "open", "Sale", "km 42")  # words on labels and price lines, most with a number
PRINTED_NUMBERS = ("1984", "2026", "350", "7")
PRINT_SIZES = (30, 80)  # the type's size in points on a 1400 x 260 page: capitals 22 and 60 pixels high


def printed_line(text, font_file, size):
    """`text` in black type of `size` points on a white page (260, 1400): a greyscale image."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("L", (1400, 260), 255)
    ImageDraw.Draw(page).text((30, 60), text, font=ImageFont.truetype(font_file, size), fill=0)
    return np.asarray(page, "float32")


def printed(models, judge_fn=None):
    """Lines of print (PRINTED, PRINTED_NUMBERS) in every face of PRINT_FONTS at PRINT_SIZES: {"fonts",
    "lines", "refused": {rule or kind: count}, "read": [{"text", "font", "size", "number"}] the lines of words read
    as a number, "numbers": {"lines", "read_right", "refused": {rule or kind: count}}}."""
    from . import judge

    files = judge.font_paths(PRINT_FONTS)
    words = {"fonts": list(PRINT_FONTS), "lines": 0, "refused": {}, "read": []}
    numbers = {"lines": 0, "read_right": 0, "refused": {}}
    for text in PRINTED + PRINTED_NUMBERS:
        row = numbers if text in PRINTED_NUMBERS else words
        for path in files:
            for size in PRINT_SIZES:
                found, refusal, _, _ = _read(models, printed_line(text, path, size), text, judge_fn=judge_fn)
                row["lines"] += 1
                if refusal:
                    key = refusal.rule or refusal.seen
                    row["refused"][key] = row["refused"].get(key, 0) + 1
                elif row is numbers:
                    numbers["read_right"] += _read_right(found, text)
                else:
                    words["read"].append({"text": text, "font": os.path.basename(path), "size": size,
                                          "number": reading.majority(list(found.values()))[0]})
    return {**words, "numbers": numbers}


TRAINING_PRICED = 55_000  # MNIST's training digits *doubt*'s price counts; the tests hold out the rest
TRAINING_EVIDENCE = 10_000  # MNIST's first training digits drawn large whose measures are the rules' evidence (minutes)
DOUBTS = (0.2, 0.4, 0.6, 0.8)  # *doubt*'s thresholds priced: 1, 2, 3 or 4 of five models read otherwise
DRAWINGS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # *doubt*'s second threshold, on the judge's *drawing*
#                                                          (1.0: never refused, always answered with the warning)


class Priced(NamedTuple):
    """A set of images of real digits, as *doubt*'s price needs it: each digit's (doubt, drawing) (`marks`, (n, 2)),
    the image it stands in (`owner`, (n,)) and each image's digits that the models' majority reads right (`right`,
    (m,)). A rule that refuses one digit refuses its image, and with it every digit read right there."""

    marks: np.ndarray
    owner: np.ndarray
    right: np.ndarray

    def split(self, doubt, drawing):
        """The digits read right in the images *doubt* refuses at these thresholds, and the images it answers with
        its warning (a doubtful digit the judge finds a digit, none refused)."""
        refused, warned = _split(self.marks, doubt, drawing)
        images = np.zeros((2, len(self.right)), bool)
        np.logical_or.at(images[0], self.owner, refused)
        np.logical_or.at(images[1], self.owner, warned)
        return int(self.right[images[0]].sum()), int((images[1] & ~images[0]).sum())


def training_digits(models, images, labels, judge_fn=None, batch=2000):
    """MNIST's training digits as the models see them (their 28 x 28 fields, not drawn large: 60,000 through the
    whole reader would take most of an hour), those the models' majority reads right and the rule *drawing* keeps,
    each an image of its own: `Priced`."""
    marks = []
    for start in range(0, len(images), batch):
        fields = np.asarray(images[start : start + batch], dtype="float32").reshape(-1, reading.FIELD, reading.FIELD)
        probabilities = reading.predict(models, fields)
        drawing = (np.asarray(judge_fn(fields[..., None])).reshape(-1) if judge_fn is not None
                   else np.zeros(len(fields)))
        reads = np.stack([np.argmax(values, axis=1) for values in probabilities.values()], axis=1)
        for row, label, doubtful in zip(reads, labels[start : start + batch], drawing):
            chosen, count, tied = reading.majority(row.tolist())
            if not tied and chosen == int(label) and not reading.RULE["drawing"].refuses({"drawing": doubtful}):
                marks.append((round(1 - count / len(row), 4), float(doubtful)))
    marks = np.array(marks, dtype=float).reshape(-1, 2)
    return Priced(marks, np.arange(len(marks)), np.ones(len(marks), int))


def _right_digits(weighed, truth):
    """How many digits of an image the models' majority reads right, digit by digit (none, where the models read
    another count of digits than `truth` has)."""
    numbers = list(weighed.numbers.values())
    if len(numbers[0]) != len(truth):
        return 0
    found = [reading.majority([number[k] for number in numbers]) for k in range(len(truth))]
    return sum(not tied and chosen == digit for (chosen, _, tied), digit in zip(found, truth))


def priced_set(priced):
    """The images of `priced` ([(Weighed, truth)]) that no other rule of stage "models" refuses, as `Priced`."""
    kept = [(weighed, truth) for weighed, truth in priced if weighed.other is None]
    marks = [mark for weighed, _ in kept for mark in weighed.marks]
    owner = [k for k, (weighed, _) in enumerate(kept) for _ in weighed.marks]
    return Priced(np.array(marks, dtype=float).reshape(-1, 2), np.array(owner, int),
                  np.array([_right_digits(weighed, truth) for weighed, truth in kept], int))


def _split(marks, doubt, drawing):
    """Which of `marks` ((n, 2) doubt, drawing) *doubt* refuses at these thresholds, and which it answers with its
    warning (the judge finds them digits)."""
    doubtful = marks[:, 0] >= doubt
    return doubtful & (marks[:, 1] >= drawing), doubtful & (marks[:, 1] < drawing)


def doubt_price(real_digits, real_images, doubts=DOUBTS, drawings=DRAWINGS, bound=reading.DOUBT_PRICE, doubt=None):
    """What each pair of *doubt*'s thresholds (doubt, drawing) costs and buys: {"bound", "digits": {set: digits
    read right}, "images": real images without a digit that the other rules leave to be answered, "rows": [{"doubt",
    "drawing", "refused": {set: digits read right in the images it refuses}, "warned": {set: images answered with
    the warning}, "images_refused", "images_warned"}], "chosen": {"doubt", "drawing"}}. At *doubt*'s own threshold
    (`doubt`, the rule's: most of the models do not read the digit alike), the *drawing* chosen is the lowest that
    refuses at most `bound` of every set's digits read right: the most refusals the issue's price allows.
    `real_digits`: {set: `Priced`}; `real_images`: [Weighed] of images that hold no digit."""
    images = [np.array(weighed.marks, dtype=float).reshape(-1, 2) for weighed in real_images if weighed.other is None]
    rows = []
    for least in doubts:
        for drawing in drawings:
            split = {name: found.split(least, drawing) for name, found in real_digits.items()}
            seen = [_split(marks, least, drawing) for marks in images]
            rows.append({"doubt": least, "drawing": drawing,
                         "refused": {name: refused for name, (refused, _) in split.items()},
                         "warned": {name: warned for name, (_, warned) in split.items()},
                         "images_refused": sum(bool(refused.any()) for refused, _ in seen),
                         "images_warned": sum(bool(warned.any() and not refused.any()) for refused, warned in seen)})
    counts = {name: int(found.right.sum()) for name, found in real_digits.items()}
    doubt = reading.RULE["doubt"].threshold if doubt is None else doubt
    within = [row["drawing"] for row in rows if row["doubt"] == doubt
              and all(row["refused"][name] <= bound * counts[name] for name in counts)]
    return {"bound": bound, "digits": counts, "images": len(images), "rows": rows,
            "chosen": {"doubt": doubt, "drawing": min(within, default=max(drawings))}}


def study(models, images, labels, folder=None, judge_fn=None, training=None):
    """Every kind's rows: the refusals study's summary (without the machine, which the command adds). `training`:
    MNIST's training (images, labels), whose digits *doubt*'s price counts too and whose first TRAINING_EVIDENCE,
    drawn large, are the rules' evidence (without them, the test digits are)."""
    priced = {"photos' digits": [], "MNIST's test digits drawn large": [], "numbers written small": [], "real": []}
    made, highest = generated(models, images, labels, judge_fn=judge_fn, priced=priced["photos' digits"])
    found = mnist(models, images, labels, judge_fn, priced["MNIST's test digits drawn large"])
    rows = gallery(models, folder, judge_fn, priced["real"])
    written_small = small(models, images, labels, judge_fn=judge_fn, priced=priced["numbers written small"])
    other = other_images(models, judge_fn, priced["real"])
    real = {name: priced_set(pairs) for name, pairs in priced.items() if name != "real"}
    drawn = {}
    if training is not None:
        real = {"MNIST's training digits": training_digits(models, *training, judge_fn), **real}
        images_, labels_ = (values[:TRAINING_EVIDENCE] for values in training)
        drawn = {"training_drawn": mnist(models, np.asarray(images_).reshape(-1, 28, 28, 1), labels_, judge_fn)}
    return {"mnist": found, **drawn, "gallery": rows, "generated": made, "generated_highest_measures": highest,
            "strokes": strokes(models, judge_fn), "small": written_small, "other_images": other,
            "printed": printed(models, judge_fn),
            "rules": evidence(drawn.get("training_drawn", found), highest, rows), "judge": judge_fn is not None,
            "doubt": {**doubt_price(real, [weighed for weighed, _ in priced["real"]]), "models": len(models)}}
