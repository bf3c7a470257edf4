"""What is not a number: real images no one here made are refused with their reason, and real digits are kept."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mnist_norm import reading
from mnist_norm import refusals
from mnist_norm import runtimes

from conftest import ROOT, RESULTS

# Real images (scikit-image's gallery, shipped in its wheel) that hold no handwritten digit and are refused. The horse
# silhouette is not (read as a 7): see docs/your_digits.md.
NOT_DIGITS = ("page.png", "text.png", "camera.png", "coins.png", "astronaut.png", "chelsea.png", "coffee.png",
              "moon.png")


@pytest.fixture(scope="module")
def models():
    return runtimes.load_models(RESULTS, "auto")


@pytest.mark.parametrize("name", NOT_DIGITS)
def test_a_real_image_without_a_digit_is_refused_and_not_as_blank(name):
    grey = reading.read_image(os.path.join(refusals.gallery_folder(), name))
    with pytest.raises(reading.ImageError) as refused:
        reading.read_number(grey, name)
    assert reading.refusal(refused.value) in ("not a digit", "not a number"), str(refused.value)
    assert "blank" not in str(refused.value)


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


@pytest.mark.parametrize("name", ["1 plain", "7 plain", "1 ruled", "7 ruled"])
def test_a_digits_own_straight_stroke_is_not_a_rule(models, name):
    """A 1 drawn as one straight line and a 7 with a ruler-straight bar longer than half the page: read as 1 and 7
    by every model, on plain and on ruled paper (a rule repeats, as thin as the others, or runs across the page)."""
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
    """At least 99.9 % of MNIST digits drawn large on white are read as one digit each: training digits 0-2,999, which
    the rules' thresholds were not set on (they were measured on the 10,000 test digits, photos.py --refusals)."""
    from mnist_norm import data

    (images, labels), _ = data.load_bundled()
    measured = refusals.mnist(models, images[:3000], labels[:3000])
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
