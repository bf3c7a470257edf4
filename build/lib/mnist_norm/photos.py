"""Photos of MNIST test digits written the way people write them, for predict.py's tests, its benchmark and the
README's figure (no camera here: every photo is made from real test digits with the light, paper and lens
effects below, and saved as a JPEG or PNG like a phone or a drawing app would).

    photo(digits, rng)                   # a number (or one digit) on plain paper, in 1200 x 900 pixels
    photo(digits, rng, paper="ruled")    # on ruled paper with a margin line; "squared": a grid
    photo(digits, rng, table=True)       # the sheet, slightly turned, on a darker table
    canvas(digits, rng)                  # a drawing app's export: black strokes on a transparent layer

photos.py (the command) writes one, or times predict.py on a 12-megapixel one.
`digits` are 28 x 28 uint8 images (white ink on black, as MNIST stores them), written left to right.
"""

import json
import os
import sys
import time

import numpy as np
from PIL import Image, ImageFilter

from . import ROOT

PAPERS = ("plain", "ruled", "squared")


def _cropped(digit):
    """A digit's ink (0-1) cropped to its box."""
    ink = np.asarray(digit, dtype="float32") / 255.0
    rows, cols = np.nonzero(ink > 0.1)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _scaled(ink, height):
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    return np.clip(np.asarray(Image.fromarray(ink).resize((width, height), Image.BILINEAR)), 0, 1)


def layout(digits, rng, height):
    """The digits scaled to about `height` pixels and placed left to right with gaps of 15-60 % of the height and
    a little up-and-down jitter: their ink (H, W) in 0-1."""
    inks = [_scaled(_cropped(digit), max(4, round(height * rng.uniform(0.9, 1.05)))) for digit in digits]
    gaps = [round(rng.uniform(0.15, 0.6) * height) for _ in inks[1:]]
    width = sum(ink.shape[1] for ink in inks) + sum(gaps)
    jitter = round(0.12 * height)
    sheet = np.zeros((height + 2 * jitter + round(0.1 * height), width), dtype="float32")
    left = 0
    for i, ink in enumerate(inks):
        top = jitter + int(rng.integers(-jitter, jitter + 1))
        region = sheet[top : top + ink.shape[0], left : left + ink.shape[1]]
        np.maximum(region, ink, out=region)
        left += ink.shape[1] + (gaps[i] if i < len(gaps) else 0)
    return sheet


def _rules(height, width, paper, rng):
    """Darkening factors (H, W, 3) of the paper's printed lines: pale blue rules or a grid every ~4 % of the
    height, and on ruled paper a red margin line."""
    factor = np.ones((height, width, 3), dtype="float32")
    if paper == "plain":
        return factor
    step = max(6, round(height * rng.uniform(0.035, 0.05)))
    thick = max(1, round(height / 600))
    blue = np.array([0.55, 0.7, 0.95], dtype="float32")
    offset = int(rng.integers(0, step))
    for row in range(offset, height, step):
        factor[row : row + thick] = blue
    if paper == "squared":
        for col in range(offset, width, step):
            factor[:, col : col + thick] = blue
    else:
        margin = round(width * rng.uniform(0.08, 0.14))
        factor[:, margin : margin + 2 * thick] = np.array([0.95, 0.45, 0.45], dtype="float32")
    return factor


def _light(height, width, rng):
    """Light falling off by 35-55 % across the frame and a soft shadow darkening 25-40 %: a factor (H, W)."""
    rows, cols = np.mgrid[0:height, 0:width].astype("float32")
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * (cols / width - 0.5) + np.sin(angle) * (rows / height - 0.5)
    light = 1.0 - rng.uniform(0.35, 0.55) * (ramp + 0.7) / 1.4
    centre_row, centre_col, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.25, 0.5) * width
    distance = np.hypot(rows - centre_row, cols - centre_col)
    return light * (1.0 - rng.uniform(0.25, 0.4) / (1.0 + np.exp(-(radius - distance) / (0.05 * width))))


def photo(digits, rng, size=(900, 1200), paper="plain", table=False, digit_height=None):
    """A phone photo (a PIL RGB image, to be saved as JPEG) of `digits` written dark on paper, left to right.

    The number is 15-35 % of the frame's height (a single digit 25-45 %), anywhere on the page; the light falls
    off, a soft shadow lies across, the light is warm, the lens blurs and the sensor adds noise. With `table`,
    the sheet fills about 65 % of the frame, turned by 2-6 degrees, on a darker, grainy table.
    """
    if paper not in PAPERS:
        raise ValueError(f"paper={paper!r}: one of {', '.join(PAPERS)}")
    height, width = size
    page_size = (round(height * 0.8), round(width * 0.8)) if table else size
    page_height, page_width = page_size
    default = (0.25, 0.45) if len(digits) == 1 else (0.15, 0.35)
    written = digit_height or int(rng.uniform(*default) * page_height)
    ink = layout(digits, rng, written)
    while ink.shape[1] > 0.85 * page_width:  # a long number: smaller, so that it fits the page
        written = int(written * 0.8 * page_width / ink.shape[1])
        ink = layout(digits, rng, written)
    page = np.ones((page_height, page_width, 3), dtype="float32") * rng.uniform(205, 240)
    page *= _rules(page_height, page_width, paper, rng)
    top = int(rng.uniform(0.05 * page_height, 0.95 * page_height - ink.shape[0]))
    left = int(rng.uniform(0.05 * page_width, 0.95 * page_width - ink.shape[1]))
    strength = rng.uniform(0.7, 0.9)
    pen = np.array([1.0, 1.0, rng.uniform(1.0, 1.6)], dtype="float32")  # black or a dark blue ballpoint
    region = page[top : top + ink.shape[0], left : left + ink.shape[1]]
    region *= 1.0 - np.clip(strength * ink[..., None] * np.array([1.0, 1.0, 1.0 / pen[2]]), 0, 1)
    if table:
        frame = _table(height, width, rng)
        sheet = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
        mask = Image.new("L", sheet.size, 255)
        angle = rng.uniform(2, 6) * rng.choice([-1, 1])
        sheet = sheet.rotate(angle, resample=Image.BILINEAR, expand=True)
        mask = np.asarray(mask.rotate(angle, resample=Image.BILINEAR, expand=True), dtype="float32")[..., None] / 255
        top = int(rng.integers(0, max(1, height - sheet.size[1])))
        left = int(rng.integers(0, max(1, width - sheet.size[0])))
        area = frame[top : top + sheet.size[1], left : left + sheet.size[0]]
        rows, cols = area.shape[:2]
        area[:] = area * (1 - mask[:rows, :cols]) + np.asarray(sheet, "float32")[:rows, :cols] * mask[:rows, :cols]
        page = frame
    page *= _light(height, width, rng)[..., None]
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0) * max(size) / 1200))
    pixels = np.asarray(image, dtype="float32") + rng.normal(0, rng.uniform(3, 8), (height, width, 1))
    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 0.95)], dtype="float32")
    return Image.fromarray(np.clip(pixels * tint, 0, 255).astype(np.uint8))


def _table(height, width, rng):
    """A wooden or dark table top (H, W, 3): 25-50 % of the paper's brightness, with grain."""
    level = rng.uniform(0.25, 0.5) * 225
    colour = np.array([1.0, 0.8, 0.6], dtype="float32") * level
    grain = rng.normal(0, 1, (height, 1)).astype("float32")
    grain = np.asarray(Image.fromarray(grain).resize((width, height), Image.BILINEAR))
    return colour * (1 + 0.08 * np.tanh(grain))[..., None] * np.ones((height, width, 1), "float32")


def canvas(digits, rng, height=120):
    """A drawing app's export of `digits`: black strokes on a transparent layer (an RGBA PIL image), the number
    `height` pixels high with a margin around it."""
    ink = layout(digits, rng, height)
    margin = round(0.3 * height)
    alpha = np.pad(ink, margin)
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[..., 3] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def time_predict(folder, repeats=5, seed=12):
    """Seconds `python predict.py photo.jpg` takes, start included, on a 12-megapixel (4000 x 3000) photo of a
    4-digit number (test digits 0-3): each of `repeats` runs, one after another, and their median."""
    import statistics
    import subprocess

    from . import data

    _, (images, labels) = data.load_bundled()
    path = os.path.join(folder, "twelve_megapixels.jpg")
    photo(images[:4, :, :, 0], np.random.default_rng(seed), size=(3000, 4000)).save(path, quality=90)
    seconds, answers = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "predict.py", path, "--json"], capture_output=True, text=True,
                                cwd=ROOT, check=True)
        seconds.append(round(time.perf_counter() - start, 3))
        answers = json.loads(result.stdout)["number"]
    return {"photo": "4000 x 3000 JPEG, quality 90, test digits 0-3", "truth": "".join(map(str, labels[:4])),
            "answers": answers, "seconds": seconds, "median_seconds": statistics.median(seconds)}
