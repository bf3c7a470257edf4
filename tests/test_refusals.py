"""What is not a number: real images no one here made are refused with their reason, and real digits are kept."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from mnist_norm import photos
from mnist_norm import reading
from mnist_norm import refusals
from mnist_norm import runtimes

from conftest import ROOT, RESULTS

# Real images (scikit-image's gallery, shipped in its wheel) that hold no handwritten digit: each is refused.
NOT_DIGITS = refusals.GALLERY


@pytest.fixture(scope="module")
def models():
    return runtimes.load_models(RESULTS, "auto")


def _judged(models, grey, name):
    """The reader's whole judgement, as predict.py makes it: the marks, then the models' part."""
    return reading.answer_image(models, grey, name).found


@pytest.mark.parametrize("name", NOT_DIGITS)
def test_a_real_image_without_a_digit_is_refused_and_not_as_blank(models, name):
    grey = reading.read_image(os.path.join(refusals.gallery_folder(), name))
    with pytest.raises(reading.ImageError) as refused:
        _judged(models, grey, name)
    assert reading.refusal(refused.value) in ("not a digit", "not a number"), str(refused.value)
    assert "blank" not in str(refused.value)


def test_real_images_no_rule_was_set_on_are_refused_and_only_flat_ones_as_blank(models):
    """Scikit-image's lfw_subset (200 patches of real photos, 100 of them faces) and the other images of its wheel
    and matplotlib's: most are refused, and an image called blank has no contrast."""
    found = refusals.other_images(models)
    assert found["refused"] >= 0.8 * found["images"], found["read"]
    for row in found["read"]:
        assert row["models"] >= 1
    folder = refusals.gallery_folder()
    for index, patch in enumerate(np.load(os.path.join(folder, "lfw_subset.npy"))):
        if float(np.ptp(np.percentile(255 * patch, [0.5, 99.5]))) >= 2 * reading.BLANK_CONTRAST:
            grey = np.kron(255 * patch, np.ones((16, 16)))
            try:
                _judged(models, grey, f"lfw_subset[{index}]")
            except reading.NoInk as error:
                raise AssertionError(f"lfw_subset[{index}] has contrast and was called blank: {error}") from None
            except reading.ImageError:
                pass


def test_the_models_refuse_an_uneven_shape_only_when_they_disagree():
    """judge: a mark with a stroke *disagreed*'s threshold times its typical width is refused when some model reads it
    otherwise;
    the same mark read alike by every model, or an even one the models disagree on, is kept."""
    def digit(uneven):
        return reading.Digit((0, 0, 28, 28), np.zeros((28, 28), np.float32), {"uneven": uneven})

    sure, other = np.eye(10)[[7]], np.eye(10)[[1]]
    split = {"bn": sure, "gn": sure, "ln": sure, "in": other, "none": sure}
    limit = reading.RULE["disagreed"].threshold
    with pytest.raises(reading.NotADigit, match=r"a shape the models do not agree on: 4 of 5 read 7") as refused:
        reading.judge([digit(limit)], split, "horse")
    assert refused.value.rule == "disagreed"
    assert reading.judge([digit(limit)], {norm: sure for norm in split})["number"] == "7"
    assert reading.judge([digit(limit - 0.5)], split)["models"] == 4


def _with_doubt(monkeypatch, drawing):
    """RULES with *doubt*'s second threshold (the judge's *drawing*) at `drawing`, whatever the study chose."""
    patched = reading.RULE["doubt"]._replace(also=("drawing", drawing))
    rules = tuple(patched if rule.name == "doubt" else rule for rule in reading.RULES)
    monkeypatch.setattr(reading, "RULES", rules)
    monkeypatch.setattr(reading, "RULE", {rule.name: rule for rule in rules})
    return patched


def test_a_digit_most_models_read_otherwise_is_refused_unless_the_judge_finds_it_a_digit(monkeypatch):
    """judge: two read 4, two 9, one 1 (most of five read it otherwise than the majority's 4): refused as not sure,
    with what they read, where the judge's *drawing* is the rule's threshold or more; below it, answered with the
    same words as the digit's warning. Three of five reading it alike is no doubt of the rule's."""
    rule = _with_doubt(monkeypatch, 0.3)

    def digit(drawing):
        return reading.Digit((0, 0, 28, 28), np.zeros((28, 28), np.float32), {"uneven": 1.0, "drawing": drawing})

    four, nine, one = np.eye(10)[[4]], np.eye(10)[[9]], np.eye(10)[[1]]
    split = {"bn": four, "gn": nine, "ln": four, "in": nine, "none": one}
    with pytest.raises(reading.NotADigit, match=r"\(not sure: the models read it as 4 \(2 of 5\), 9 \(2 of 5\) or 1\)$") \
            as refused:
        reading.judge([digit(0.3)], split, "a scribble")
    assert refused.value.rule == "doubt" and refused.value.measures["doubt"] == 0.6
    assert refusals._seen(refused.value) == "not sure"
    found = reading.judge([digit(0.29)], split)
    assert found["digits"][0]["flag"] == "not sure: the models read it as 4 (2 of 5), 9 (2 of 5) or 1"
    assert "check digit 1: not sure" in reading.describe_agreement(found)
    mostly = {**split, "gn": four}  # 3 of 5 read 4
    found = reading.judge([digit(0.9 * reading.RULE["drawing"].threshold)], mostly)
    assert found["digits"][0] | {"confidence": None} == {"digit": 4, "models": 3, "confidence": None, "doubt": 0.4,
                                                         "flag": "models disagree"}
    assert rule.threshold == 0.6  # the words: most of the five models do not read it alike


def test_doubts_price_is_what_each_pair_of_thresholds_refuses_and_the_lowest_within_the_bound_is_chosen():
    """doubt_price: 1,000 single real digits read right, two of which most models read otherwise, the judge's
    *drawing* on them 0.05 and 0.3; and a number of four digits, three read right, whose fourth (drawing 0.15) most
    models read otherwise: refusing it costs its three. From 0.2 the price is 1 digit of 1,003 (within 0.2 %), from
    0.1 it is 4: 0.2 is chosen. An image without a digit that another rule refuses already is no gain of *doubt*'s."""
    marks = np.zeros((1004, 2))
    marks[:2] = [(0.6, 0.05), (0.6, 0.3)]
    marks[2:10, 0] = 0.4  # 3 of 5 read alike: under the rule's own doubt
    marks[1003] = (0.6, 0.15)  # the number's fourth digit (1000-1003)
    owner = np.r_[np.arange(1000), np.full(4, 1000)]
    right = np.r_[np.ones(1000, int), 3]
    digits = refusals.Priced(marks, owner, right)
    assert digits.split(0.6, 0.1) == (4, 1) and digits.split(0.6, 0.2) == (1, 2)
    images = [refusals.Weighed({}, [(0.0, 0.0), (0.8, 0.25)]), refusals.Weighed({}, [(0.6, 0.9)], other="drawing"),
              refusals.Weighed({}, [(0.4, 0.5)])]
    price = refusals.doubt_price({"digits": digits}, images, doubts=(0.4, 0.6), drawings=(0.0, 0.05, 0.1, 0.2, 0.5),
                                 bound=0.002, doubt=0.6)
    assert price["chosen"] == {"doubt": 0.6, "drawing": 0.2} and price["digits"] == {"digits": 1003}
    assert price["images"] == 2
    row = {(row["doubt"], row["drawing"]): row for row in price["rows"]}
    assert row[0.6, 0.2] == {"doubt": 0.6, "drawing": 0.2, "refused": {"digits": 1}, "warned": {"digits": 2},
                             "images_refused": 1, "images_warned": 0}
    assert row[0.4, 0.0]["refused"] == {"digits": 13} and row[0.4, 0.0]["images_refused"] == 2
    assert row[0.6, 0.5]["images_refused"] == 0 and row[0.6, 0.5]["images_warned"] == 1
    strict = refusals.doubt_price({"digits": digits}, images, doubts=(0.6,), drawings=(0.0, 0.5), bound=0.0, doubt=0.6)
    assert strict["chosen"]["drawing"] == 0.5  # none within the bound: the highest, the warning nearly always
    weighed = refusals.Weighed({"bn": "6426", "gn": "6421", "ln": "5426", "in": "5420", "none": "0426"}, [])
    assert refusals._right_digits(weighed, "6426") == 3 and refusals._right_digits(weighed, "642") == 0


def test_the_committed_price_chose_the_rules_thresholds_and_held_out_digits_stay_within_it(models):
    """The refusals study committed chose *doubt*'s thresholds as RULES has them; and MNIST's training digits
    55,000 on, which its price did not count, lose at most the issue's 0.2 % of those read right."""
    from mnist_norm import data, judge

    with open(os.path.join(RESULTS, "refusals", "summary.json"), encoding="utf-8") as handle:
        chosen = json.load(handle)["doubt"]["chosen"]
    rule = reading.RULE["doubt"]
    assert (chosen["doubt"], chosen["drawing"]) == (rule.threshold, rule.also[1])
    (images, labels), _ = data.load_bundled()
    found = refusals.training_digits(models, images[55000:], labels[55000:],
                                     judge.load_for(os.path.join(RESULTS, "judge"), models))
    refused, _ = found.split(rule.threshold, rule.also[1])
    assert found.right.sum() > 4900 and refused <= reading.DOUBT_PRICE * found.right.sum()


def test_the_rules_evidence_is_measured_on_training_digits_and_no_rule_of_a_mark_refuses_them():
    """The committed study's evidence for each rule is its measure's highest among MNIST's first TRAINING_EVIDENCE
    training digits drawn large (not the test digits the thresholds were set on), the table of rules says so, and
    each rule of a mark, or of the number's line, stays above it, as docs/your_digits.md states."""
    from mnist_norm.report import digits as report_digits

    with open(os.path.join(RESULTS, "refusals", "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    drawn = summary["training_drawn"]
    assert drawn["digits"] == refusals.TRAINING_EVIDENCE
    for row in summary["rules"]:
        rule = reading.RULE[row["name"]]
        if rule.name != "disagreed":
            assert row["mnist_highest"] == drawn["highest_measures"].get(rule.measure)
        if rule.stage in ("mark", "marks"):  # the line's measures (*writing*, *print*) are recorded with its digits
            assert row["mnist_highest"] < rule.threshold and row["mnist_refused"] == 0
    assert "| highest among MNIST's training digits kept |" in report_digits.refusal_rules(summary)


def test_more_than_one_number_only_where_two_lines_of_digit_like_marks_stand(test_set):
    """Two lines of handwritten digits, or fourteen in one, are more than one number; a line of digits over a line of
    filled blots, or a real face patch whose marks stand in two lines (lfw_subset[193]), is what the rules saw."""
    from PIL import Image

    images = test_set[0][:, :, :, 0]

    def row(first, count=4):
        return np.hstack([refusals.on_white(images[k], 4) for k in range(first, first + count)])

    gap = np.full((60, 4 * 112), 255.0)
    with pytest.raises(reading.NotANumber, match="8 marks in 2 lines: more than one number holds"):
        reading.read_number(np.vstack([row(3000), gap, row(3004)]), "two numbers")
    with pytest.raises(reading.NotANumber, match="14 marks in 1 line"):
        reading.read_number(row(3010, 14), "fourteen digits")
    blots = np.full((112, 4 * 112), 255.0)
    yy, xx = np.mgrid[:112, :4 * 112]
    for k in range(4):
        blots[(yy - 56) ** 2 + (xx - 56 - 112 * k) ** 2 < 35 ** 2] = 0.0
    with pytest.raises(reading.NotADigit, match=r"\(a filled shape, not strokes\)$") as seen:
        reading.read_number(np.vstack([row(3020), gap, blots]), "digits over blots")
    assert seen.value.rule == "filled"
    patch = np.load(os.path.join(refusals.gallery_folder(), "lfw_subset.npy"))[193]
    grey = np.clip(np.asarray(Image.fromarray((255 * patch).astype("float32")).resize((400, 400), Image.BICUBIC)), 0, 255)
    with pytest.raises(reading.NotADigit) as seen:
        reading.read_number(grey, "lfw_subset[193]")
    assert seen.value.rule is not None


def test_a_rule_is_found_by_its_name_whatever_its_words(monkeypatch):
    """The refusals study and the report find a rule by its name: reworded, *holes* still refuses the chessboard,
    the study records it under *holes* with its value, and the table of rules lists the image on its row."""
    from mnist_norm.report import digits as report_digits

    reworded = reading.RULE["holes"]._replace(message="squares: {holes} of them")
    rules = tuple(reworded if rule.name == "holes" else rule for rule in reading.RULES)
    monkeypatch.setattr(reading, "RULES", rules)
    monkeypatch.setattr(reading, "RULE", {rule.name: rule for rule in rules})
    # refused from its marks, before any model is asked: no models needed
    row = refusals.gallery_row(None, os.path.join(refusals.gallery_folder(), "chessboard_GRAY.png"))
    assert row["rule"] == "holes" and row["words"].startswith("no handwritten digit found (squares: ")
    assert row["measured"] >= reworded.threshold
    found = {"digits": 1, "highest_measures": {rule.measure: 0.0 for rule in rules} | {"tones": 0.0},
             "models_disagree": {"digits": 0, "highest_uneven": 0.0}, "refused_by_rule": {}}
    photos = {rule.measure: 0.0 for rule in rules} | {"tones": 0.0}
    table = report_digits.refusal_rules({"mnist": found, "generated_highest_measures": photos,
                                         "rules": refusals.evidence(found, photos, [row])})
    holes_row = next(line for line in table.splitlines() if line.startswith("| holes |"))
    assert f"chessboard_GRAY.png ({row['measured']:g})" in holes_row


def test_an_outline_around_a_faint_region_and_a_bright_regions_edge_are_no_digits():
    """faint: a grey ring drawn round with bright outlines (as phantom.png's shapes) has its middle line in the grey,
    the same ring in a pen's even ink is a 0; surround: a band of "ink" along the edge of a bright region has bright
    paper on one side and dark on the other, a stroke on paper the same paper on both."""
    radius = np.hypot(*np.mgrid[-80:81, -80:81])
    band = (radius >= 50) & (radius <= 74)
    outlined = np.where(band, 0.3, 0.0).astype(np.float32)
    outlined[band & ((radius < 53) | (radius > 71))] = 1.0
    assert reading.not_a_digit(reading.stroke_measures(band, outlined)) == "an outline around a faint region, not strokes"
    assert reading.not_a_digit(reading.stroke_measures(band, band.astype(np.float32))) is None
    grey = np.full((300, 400), 60.0, np.float32)
    grey[60:240, 150:] = 200.0  # a bright region reaching the right edge, its edges soft as a lens makes them
    with pytest.raises(reading.NotADigit) as refused:
        reading.read_number(ndimage.gaussian_filter(grey, 2), "edge")
    assert refused.value.seen == "the edge of a brighter region, not a stroke on paper"
    stroke = np.full((300, 400), 230.0, np.float32)  # a stroke on paper has the same paper on both sides: kept
    stroke[60:240, 197:205] = 40.0
    assert reading.read_number(ndimage.gaussian_filter(stroke, 2), "stroke")[0].measures["surround"] < 0.1


def test_a_shaded_shape_is_no_digit_and_a_thick_or_blurred_pen_stroke_is():
    """soft: a thick cross whose ink fades from a bright middle (as the lit part of color.png's shaded sphere) is
    mostly weak ink; the same cross in a pen's even ink has soft edges only, and a thin stroke blurred until it is
    weak throughout is kept (it is all edge)."""
    rows, cols = np.mgrid[-60:61, -60:61]
    cross = (abs(rows) < 20) | (abs(cols) < 20)  # strokes a third of its height thick

    def measured(ink):
        return reading.stroke_measures(ink > reading.INK_THRESHOLD, ink)

    shaded = np.where(cross, np.exp(-np.hypot(rows, cols) / 25), 0.0).astype(np.float32)
    inked = ndimage.gaussian_filter(cross.astype(np.float32), 2)
    assert measured(shaded)["width"] >= reading.THICK and measured(inked)["width"] >= reading.THICK
    assert reading.not_a_digit(measured(shaded)) == "a shaded shape with soft edges, not a pen's strokes"
    assert reading.not_a_digit(measured(inked)) is None
    line = np.zeros((121, 121), np.float32)
    line[10:110, 56:64] = 0.45  # a pale stroke: weak throughout, but thin
    line = ndimage.gaussian_filter(line, 2)
    assert measured(line)["soft"] == 0.0 and reading.not_a_digit(measured(line)) is None


def test_a_page_of_printed_text_is_called_text():
    grey = reading.read_image(os.path.join(refusals.gallery_folder(), "page.png"))
    with pytest.raises(reading.NotADigit, match=r"no handwritten digit found \(text: \d+ lines of letters\)"):
        reading.read_number(grey, "page.png")


def test_blank_is_only_an_image_without_contrast():
    with pytest.raises(reading.NoInk, match="the image is blank"):
        reading.read_number(np.full((300, 400), 230.0), "paper")
    noise = np.random.default_rng(0).normal(128, 40, (300, 400)).clip(0, 255)
    with pytest.raises(reading.ImageError) as refused:
        reading.read_number(noise, "noise")
    assert "blank" not in str(refused.value)


@pytest.mark.parametrize("name", ["1 plain", "7 plain", "1 ruled", "7 ruled", "7 ruled, 6-pixel bar"])
def test_a_digits_own_straight_stroke_is_not_a_rule(models, name):
    """A 1 drawn as one straight line and a 7 with a ruler-straight bar longer than half the page (10 pixels thick,
    and on ruled paper 6, three times the rules): read as 1 and 7 by every model, on plain and on ruled paper (a rule
    repeats, as thin as the others, or runs across the page; one half again as thick that stops short is a stroke)."""
    digits = reading.read_number(refusals.straight_strokes()[name], name)
    probabilities = reading.predict(models, np.stack([digit.field for digit in digits]))
    assert {norm: reading.number(values) for norm, values in probabilities.items()} == \
        {norm: name[0] for norm in probabilities}


def test_a_filled_shape_and_a_pattern_of_holes_are_no_digits():
    disk = np.hypot(*np.mgrid[-60:61, -60:61]) <= 60  # its own box, as read_number measures a mark
    assert reading.not_a_digit(reading.stroke_measures(disk)) == "a filled shape, not strokes"
    board = (np.add.outer(np.arange(160) // 20, np.arange(160) // 20) % 2 == 0)
    board = np.pad(board, 1)[1:-1, 1:-1] | (np.arange(160)[:, None] % 20 == 0)  # lines join the squares
    assert reading.not_a_digit(reading.stroke_measures(board)).startswith("a pattern with")


@pytest.mark.slow
def test_mnist_digits_the_rules_were_not_set_on_are_kept(models):
    """At least 99.9 % of MNIST digits drawn large on white are read as one digit each: training digits 3,000-5,999,
    which the rules' thresholds were not set on (they were measured on the 10,000 test digits, photos.py --refusals;
    digits 0-2,999, this test's earlier set, showed that *faint* at 0.6 refused two thin 7s and 6s, so it is 0.8)."""
    from mnist_norm import data

    (images, labels), _ = data.load_bundled()
    measured = refusals.mnist(models, images[3000:6000], labels[3000:6000])
    assert measured["kept_as_one_digit"] >= 0.999 * 3000, measured["refused"]
    assert measured["majority_right"] >= 0.99 * 3000


def test_json_gives_the_models_agreement_and_a_refusals_kind(tmp_path):
    from PIL import Image

    number = os.path.join(ROOT, "results", "predict", "number.jpg")
    shape = os.path.join(refusals.gallery_folder(), "cell.png")
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 40), 200, np.uint8)).save(blank)
    out = subprocess.run([sys.executable, "predict.py", number, shape, str(blank), "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    read, shape, empty = (json.loads(line) for line in out.stdout.splitlines())
    assert read["agreement"]["of"] == 5 and read["agreement"]["models"] <= 5
    assert read["agreement"]["number"] == max(read["number"].values(), key=list(read["number"].values()).count)
    assert [d["agreement"]["models"] for d in read["digits"]][0] <= 5
    flagged = [d["agreement"]["flag"] for d in read["digits"]]
    assert any(flagged) == (read["agreement"]["models"] < 5 or any(
        d["agreement"]["confidence"] < reading.UNSURE for d in read["digits"]))
    assert shape["refused"] == "not a digit" and shape["seen"] and empty["refused"] == "blank"
    text = subprocess.run([sys.executable, "predict.py", number], cwd=ROOT, capture_output=True, text=True,
                          timeout=300).stdout
    assert f"| {read['agreement']['models']} of 5 models read {read['agreement']['number']}" in text


def test_a_number_written_small_is_read_and_never_called_blank(models, test_set):
    """Digits 64 pixels tall in a 1200 x 900 photo (7 % of its height), on plain and ruled paper, are read like large
    ones; at 32 pixels (3.6 %) a number may be missed but is never called blank. Test digits from 7,000 on: the
    refusals study measured heights on digits 2,000-2,039."""
    images, labels = test_set
    right, written = 0, 0
    for paper in ("plain", "ruled"):
        rng = np.random.default_rng(23)
        for k in range(4):
            start = 7000 + 16 * k + (8 if paper == "ruled" else 0)
            truth = "".join(str(int(label)) for label in labels[start : start + 4])
            for height in (64, 32):
                image = photos.photo(images[start : start + 4, :, :, 0], rng, paper=paper, digit_height=height)
                grey = np.asarray(image.convert("L"), dtype="float32")
                try:
                    found = _judged(models, grey, f"{paper} {height}")
                except reading.NoInk as error:
                    raise AssertionError(f"a number {height} pixels tall called blank: {error}") from None
                except reading.ImageError:
                    found = None
                if height == 64:
                    written += 1
                    right += found is not None and found["number"] == truth
    assert right >= written - 1, f"{right} of {written} read right"


def test_a_notebook_page_with_digits_40_pixels_tall_is_read_as_the_forms_are(models, test_set):
    """The issue's notebook page: digits 40 pixels tall (4.4 % of a 1200 x 900 frame) standing on rules 32-45 pixels
    apart are read right as often as numbers at their usual size on ruled paper (8 of 10), on test digits 7,500 on
    (the study measured 2,000 on; the rules' cleaning was probed on 6,000 on)."""
    images, labels = test_set
    rng = np.random.default_rng(29)
    right = 0
    for k in range(10):
        start = 7500 + 4 * k
        truth = "".join(str(int(label)) for label in labels[start : start + 4])
        image = photos.photo(images[start : start + 4, :, :, 0], rng, paper="ruled", digit_height=40)
        try:
            found = _judged(models, np.asarray(image.convert("L"), dtype="float32"), f"ruled 40 px {k}")
        except reading.ImageError:
            continue
        right += found["number"] == truth
    assert right >= 8, f"{right} of 10 read right"


def test_one_majority_rule_names_the_smaller_of_a_tie_and_counts_it_as_no_majority():
    assert reading.majority(["3", "3", "8", "3", "1"]) == ("3", 3, False)
    assert reading.majority(["17", "12", "17", "12", "11"]) == ("12", 2, True)
    tie = {"bn": "17", "gn": "12", "ln": "17", "in": "12", "none": "11"}
    assert not refusals._read_right(tie, "12") and not refusals._read_right(None, "12")
    assert refusals._read_right({**tie, "none": "12"}, "12")
    found = reading.agreement({norm: np.eye(10)[[int(d) for d in number]] for norm, number in tie.items()})
    assert (found["number"], found["models"]) == ("12", 2)
