"""The judge: a small Keras network that has seen what is not a digit (`judge.py`; the reader's rule *drawing*).

The five models were trained on digits only, so each answers a letter with a digit. The judge is trained the way
Hendrycks et al. (2019, "Deep anomaly detection with outlier exposure") train a detector: MNIST's training digits
against examples of what is not a digit, here capital letters no digit resembles and doodles, drawn by hand:
  * letters rendered from Debian's handwriting fonts (`FONTS`: the training fonts' packages; `UNSEEN_FONTS`: kept
    for measuring only), with a hand's pen width, slant, tilt and wobble (`by_hand`);
  * doodles (`DOODLES`: arrows, stars, smileys, squiggles, ticks, hearts), drawn with a pen of random width;
  * never a letter or a shape a digit may be (O, I, l, S, Z, B, G, T, a circle, a vertical arrow).
Half of each class is restyled (`restyled`: a lower resolution, blur, a lighter or heavier pen), so that the style
of a digit (another scanner, another pen) says nothing about whether it is one. It sees the same 28 x 28 field as
the five models (`reading.field`) and answers the probability that a mark is *not* a digit.

`train` trains it, `measure` measures it, `export` writes judge.keras and judge.tflite, and `load` gives it as a
function for the reader (`reading.answer_image(..., judge_fn=...)`): Keras or LiteRT, raw 0-255 fields in.
"""

import glob
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from . import quiet_tf
from . import reading
from . import runtimes

FONT_ROOT = "/usr/share/fonts"
# Debian package(s) -> their font files under FONT_ROOT. The judge trains on FONTS (handwriting, and DejaVu's print for
# more letter shapes) and is measured on UNSEEN_FONTS. Left out: fonts-kristi and fonts-ecolier-court draw joined-up
# script, not a pen's capitals. Judges trained also on fonts-sjfonts' Delphine (a pen's capitals), and on it and
# fonts-cabinsketch (hatched outlines), refused more letters and more real digits (docs/your_digits.md, the judge).
FONTS = {"fonts-bwht": "opentype/bwht/*.otf", "fonts-comic-neue": "opentype/comic-neue/*.otf",
         "fonts-dkg-handwriting": "truetype/fifthhorseman/*.ttf", "fonts-rufscript": "truetype/rufscript/*.ttf",
         "fonts-klee": "truetype/klee/*.ttf", "fonts-tomsontalks": "truetype/tomsontalks/*.ttf",
         "fonts-yusei-magic": "truetype/yusei-magic/*.ttf", "fonts-seto": "truetype/seto/setofont.ttf",
         "fonts-kiloji": "truetype/kiloji/*.ttf",
         "fonts-dejavu-core fonts-dejavu-extra": "truetype/dejavu/*.ttf"}  # one folder, two packages
UNSEEN_FONTS = {"fonts-breip": "truetype/breip/*.ttf", "fonts-femkeklaver": "truetype/femkeklaver/*.ttf",
                "fonts-sjfonts": "truetype/sjfonts/SteveHand.ttf", "fonts-humor-sans": "truetype/humor-sans/*.ttf"}
LETTERS = "AEFHKMNRWXY"  # capitals no digit resembles (C and U are an open 0 or 6 in some hands)
DIGITS = "0123456789"  # the fonts' digits: other hands' digits, which the judge must keep (measured, never trained)
DOODLES = ("arrow", "star", "smiley", "squiggle", "tick", "heart")
CANVAS, SIZE = 128, 80  # a glyph is drawn SIZE pixels high on a CANVAS-pixel square, then made a field
PEN = (-2, 4)  # a glyph's pen is eroded or dilated by this many pixels (of CANVAS), a hand's lighter or heavier pen
REPEN, REPEN_RADIUS = 0.5, (2, 8)  # the share of glyphs redrawn with one round pen, and its radius (of CANVAS)
SLANT, TILT = 0.35, 12.0  # shear and rotation (degrees) a hand adds, at most
WOBBLE, WOBBLE_SCALE = 4.0, 12.0  # an elastic displacement of this many pixels, smooth over this many
FILES = {"keras": "judge.keras", "litert": "judge.tflite"}  # its history and summary: rundir's names
FOLDER = os.path.join("results", "judge")


class FontsMissing(RuntimeError):
    """A Debian handwriting font package the judge needs is not installed."""


def font_files(packages=None):
    """{package: [font file]} of `packages` (default FONTS); FontsMissing names any package without files."""
    packages = FONTS if packages is None else packages
    found = {name: sorted(glob.glob(os.path.join(FONT_ROOT, pattern))) for name, pattern in packages.items()}
    missing = [name for name, files in found.items() if not files]
    if missing:
        raise FontsMissing(f"no font files of {', '.join(missing)} under {FONT_ROOT} (install Debian's package"
                           f"{'s' * (len(missing) > 1)}: apt-get install {' '.join(missing)})")
    return found


def font_paths(packages=None):
    """The font files of `packages` (`font_files`), in one list."""
    return [path for paths in font_files(packages).values() for path in paths]


def _drawn(draw_on):
    image = Image.new("L", (CANVAS, CANVAS))
    draw_on(ImageDraw.Draw(image))
    return np.asarray(image, dtype="float32") / 255.0


def glyphs(path, characters):
    """{character: ink (CANVAS, CANVAS) in 0-1} of the font file's glyphs; a character the font lacks (no ink, or
    its missing-glyph box) is left out."""
    font = ImageFont.truetype(path, SIZE)

    def glyph(text):
        return _drawn(lambda draw: draw.text((CANVAS / 2, CANVAS / 2), text, fill=255, font=font, anchor="mm"))

    missing = glyph("\ue000")  # a private-use character: what the font draws for one it lacks
    found = {character: glyph(character) for character in characters}
    return {character: ink for character, ink in found.items()
            if ink.max() > 0.5 and not np.array_equal(ink > 0.5, missing > 0.5)}


def _disk(radius):
    span = np.arange(-radius, radius + 1)
    return span[:, None] ** 2 + span[None, :] ** 2 <= radius**2


def repenned(ink, radius):
    """A glyph's strokes drawn again with a round pen `radius` pixels wide on each side of their middle lines (its
    skeleton, scikit-image's `skeletonize`): a font's thick and thin parts become one pen's even stroke."""
    from skimage.morphology import skeletonize

    middle = skeletonize(ink > 0.5)
    drawn = ndimage.binary_dilation(middle, structure=_disk(radius)).astype("float32")
    return ndimage.gaussian_filter(drawn, 0.7)  # a pen's soft edge, as a scan has it


def by_hand(ink, rng):
    """`ink` (CANVAS, CANVAS) as a hand draws it: a lighter or heavier pen (half the time the font's strokes
    redrawn with one round pen, `repenned`), a slant, a tilt and a wobble."""
    pen = int(rng.integers(PEN[0], PEN[1] + 1))
    if rng.random() < REPEN:
        ink = repenned(ink, int(rng.integers(*REPEN_RADIUS)))
    elif pen > 0:
        ink = ndimage.grey_dilation(ink, footprint=_disk(pen))
    elif pen < 0:
        thinner = ndimage.grey_erosion(ink, footprint=_disk(-pen))
        ink = thinner if thinner.max() > 0.5 else ink
    angle = np.deg2rad(rng.uniform(-TILT, TILT))
    shear = rng.uniform(-SLANT, SLANT)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = turn @ np.array([[1.0, 0.0], [shear, 1.0]])  # (row, col): a row's columns shift with its height
    centre = np.array([CANVAS / 2, CANVAS / 2])
    ink = ndimage.affine_transform(ink, matrix, offset=centre - matrix @ centre, order=1)
    shifts = [ndimage.gaussian_filter(rng.uniform(-1, 1, ink.shape), WOBBLE_SCALE) for _ in range(2)]
    shifts = [WOBBLE * shift / max(np.abs(shift).max(), 1e-6) for shift in shifts]
    rows, cols = np.mgrid[0:CANVAS, 0:CANVAS].astype("float32")
    return ndimage.map_coordinates(ink, [rows + shifts[0], cols + shifts[1]], order=1)


def as_field(ink):
    """A drawing's ink (h, w) in 0-1 as the reader makes a mark's field (`reading.field`): cropped to its ink."""
    mask = ink > reading.INK_THRESHOLD * ink.max()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return reading.field(crop / crop.max())


def doodle(kind, rng):
    """A doodle of `kind` (DOODLES) drawn with a pen of random width: ink (CANVAS, CANVAS) in 0-1."""
    width = int(rng.integers(5, 14))
    middle, reach = CANVAS / 2, CANVAS * rng.uniform(0.3, 0.42)

    def line(draw, points, closed=False):
        points = [tuple(map(float, point)) for point in points]
        draw.line(points + points[:1] * closed, fill=255, width=width, joint="curve")
        for x, y in points:  # a pen's round ends
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)

    def draw_on(draw):
        if kind == "arrow":  # never near upright: an upright arrow is a 1 with a flag
            angle = rng.uniform(-55, 55) + 180 * rng.integers(0, 2)
            direction = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
            tail, tip = middle - reach * direction, middle + reach * direction
            for side in (-1, 1):
                back = np.deg2rad(angle + 180 + side * rng.uniform(25, 40))
                head = tip + 0.4 * reach * np.array([np.cos(back), np.sin(back)])
                line(draw, [tip, head])
            line(draw, [tail, tip])
        elif kind == "star":
            turn = rng.uniform(0, 2 * np.pi)
            radii = np.tile([reach, reach * rng.uniform(0.35, 0.5)], 5)
            angles = turn + np.arange(10) * np.pi / 5
            line(draw, np.stack([middle + radii * np.cos(angles), middle + radii * np.sin(angles)], 1), closed=True)
        elif kind == "smiley":
            draw.ellipse((middle - reach, middle - reach, middle + reach, middle + reach), outline=255, width=width)
            for side in (-1, 1):
                eye = (middle + side * 0.35 * reach, middle - 0.3 * reach)
                draw.ellipse((eye[0] - width, eye[1] - width, eye[0] + width, eye[1] + width), fill=255)
            draw.arc((middle - 0.55 * reach, middle - 0.45 * reach, middle + 0.55 * reach, middle + 0.55 * reach),
                     20, 160, fill=255, width=width)
        elif kind == "squiggle":
            x = np.linspace(-reach, reach, 40)
            y = 0.35 * reach * np.sin(x / reach * np.pi * rng.uniform(1.5, 3.5) + rng.uniform(0, 2 * np.pi))
            turn = np.deg2rad(rng.uniform(-30, 30))
            line(draw, np.stack([middle + x * np.cos(turn) - y * np.sin(turn),
                                 middle + x * np.sin(turn) + y * np.cos(turn)], 1))
        elif kind == "tick":
            low = (middle - 0.2 * reach, middle + 0.6 * reach)
            line(draw, [(middle - 0.7 * reach, middle + rng.uniform(-0.1, 0.2) * reach), low,
                        (middle + reach, middle - reach * rng.uniform(0.6, 1.0))])
        elif kind == "heart":
            t = np.linspace(0, 2 * np.pi, 60)
            x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
            line(draw, np.stack([middle + reach * x / 17, middle + reach * y / 17], 1), closed=True)
        else:
            raise ValueError(f"doodle {kind!r}: expected one of {', '.join(DOODLES)}")

    return _drawn(draw_on)


STYLES = ("low resolution", "blurred", "light pen", "heavy pen")


def restyled(field, rng, style=None, strength=1.0):
    """A field (28, 28) in 0-255 in another hand's or scanner's style (`style`, one of STYLES; random if None),
    made a field again. `strength` > 1 goes further than training does (the styles it is measured on)."""
    style = STYLES[rng.integers(len(STYLES))] if style is None else style
    ink = np.asarray(field, "float32") / 255.0
    if style == "low resolution":  # a digit 8 to 14 pixels high, scaled up again as the reader does
        side = max(4, int(round(rng.integers(8, 15) / strength)))
        small = np.asarray(Image.fromarray(ink).resize((side, side), Image.BILINEAR))
        ink = np.asarray(Image.fromarray(small).resize((28, 28), Image.BILINEAR))
    elif style == "blurred":
        ink = ndimage.gaussian_filter(ink, rng.uniform(0.5, 1.0) * strength)
    elif style == "light pen":
        ink = ndimage.grey_erosion(ink, size=(2, 2))
        if strength > 1:  # further than training: its grey edges fainter still
            ink = ink**2
    elif style == "heavy pen":
        ink = ndimage.grey_dilation(ink, footprint=_disk(int(round(strength))))
    else:
        raise ValueError(f"style {style!r}: expected one of {', '.join(STYLES)}")
    return as_field(ink) if ink.max() > 0.2 else np.asarray(field, "float32")


def drawn_fields(files, characters, per_glyph, rng):
    """Fields of each font file's `characters`, `per_glyph` hand-drawn versions of each: (fields, characters,
    fonts: each field's font, its file's name without the extension)."""
    fields, names, fonts = [], [], []
    for path in files:
        font = os.path.splitext(os.path.basename(path))[0]
        for character, ink in glyphs(path, characters).items():
            for _ in range(per_glyph):
                fields.append(as_field(by_hand(ink, rng)))
                names.append(character)
                fonts.append(font)
    return np.stack(fields).astype("float32"), names, fonts


def doodle_fields(count, rng):
    """`count` hand-drawn doodles' fields, the kinds in turn: (fields, kinds)."""
    kinds = [DOODLES[k % len(DOODLES)] for k in range(count)]
    return np.stack([as_field(by_hand(doodle(kind, rng), rng)) for kind in kinds]).astype("float32"), kinds


PHOTO_SIZE = (600, 800)  # the photos `photographed` takes: smaller than a phone's, so that training stays minutes
PHOTO_HEIGHTS = (24, 80)  # the written marks' height in them (pixels), or the photos' own 15-35 % of the frame


def photographed(fields, rng):
    """`fields` (n, 28, 28) written four at a time on a photo of paper (`photos.photo`: plain or ruled, a sheet on a
    table, light, shadow, blur, noise, some written small) and read back by the reader (`reading.read_number`): the
    fields it makes of them, where it reads four marks (none of a photo it refuses)."""
    from . import photos

    found = []
    for start in range(0, len(fields) - 3, 4):
        height = int(rng.integers(*PHOTO_HEIGHTS)) if rng.random() < 0.5 else None
        image = photos.photo(fields[start : start + 4], rng, size=PHOTO_SIZE, paper=["plain", "ruled"][rng.integers(2)],
                             table=bool(rng.random() < 0.3), digit_height=height)
        try:
            digits = reading.read_number(np.asarray(image.convert("L"), dtype="float32"))
        except reading.ImageError:
            continue
        if len(digits) == 4:
            found.extend(digit.field for digit in digits)
    return np.stack(found).astype("float32")


def _half_restyled(fields, rng):
    chosen = rng.random(len(fields)) < 0.5
    return np.stack([restyled(field, rng) if pick else field for field, pick in zip(fields, chosen)])


def training_set(digits, rng, per_glyph=100, doodles=9000, photographs=0):
    """(fields (N, 28, 28, 1) in 0-255, labels: 1 for not a digit) of `digits` (MNIST training fields) and the
    training fonts' digits against the same fonts' letters and doodles, half of each class restyled, shuffled. The
    fonts' digits are drawn by the same hand (`by_hand`) as their letters: only a glyph's shape tells them apart,
    not how it was drawn. With `photographs`, that many of `digits` and as many letters and doodles are also
    written on photos and read back (`photographed`), so that a photo's fields are not a class of their own."""
    files = font_paths(FONTS)
    letters = drawn_fields(files, LETTERS, per_glyph, rng)[0]
    font_digits = drawn_fields(files, DIGITS, per_glyph, rng)[0]
    drawings, _ = doodle_fields(doodles, rng)
    digits = np.asarray(digits, "float32").reshape(-1, 28, 28)
    others = _half_restyled(np.concatenate([letters, drawings]), rng)
    photo_digits = photo_others = np.zeros((0, 28, 28), "float32")
    if photographs:
        photo_digits = photographed(digits[rng.permutation(len(digits))[:photographs]], rng)
        photo_others = photographed(others[rng.permutation(len(others))[:photographs]], rng)
    others = np.concatenate([others, photo_others])
    digits = np.concatenate([_half_restyled(np.concatenate([digits, font_digits]), rng), photo_digits])
    fields = np.concatenate([digits, others])[..., None]
    labels = np.concatenate([np.zeros(len(digits)), np.ones(len(others))]).astype("float32")
    order = rng.permutation(len(fields))
    return fields[order], labels[order]


def build():
    """The judge's network: three conv blocks and a dense layer, raw 0-255 fields in, P(not a digit) out."""
    quiet_tf.start()
    import keras

    layers = [keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255)]
    for filters in (16, 32, 64):
        layers += [keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
                   keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.MaxPooling2D()]
    layers += [keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"), keras.layers.Dropout(0.3),
               keras.layers.Dense(1, activation="sigmoid")]
    return keras.Sequential(layers, name="judge")


def train(fields, labels, validation, epochs=6, batch_size=128, seed=1, history_path=None):
    """The judge trained on (fields, labels) with Adam, its epochs logged to `history_path` (CSV) when given."""
    quiet_tf.start()
    import keras

    keras.utils.set_random_seed(seed)
    network = build()
    network.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                    metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])
    callbacks = [keras.callbacks.CSVLogger(history_path)] if history_path else []
    others = float(np.mean(labels))  # digits and non-digits weigh the same in the loss, whatever their counts
    network.fit(fields, labels, batch_size=batch_size, epochs=epochs, validation_data=validation,
                callbacks=callbacks, verbose=2, class_weight={0: 0.5 / (1 - others), 1: 0.5 / others})
    return network


def export(network, folder):
    """judge.keras and judge.tflite (float32, the LiteRT converter from its SavedModel) in `folder`."""
    import tempfile

    import tensorflow as tf

    from . import rundir

    os.makedirs(folder, exist_ok=True)
    rundir.atomic_write(os.path.join(folder, FILES["keras"]), network.save)
    with tempfile.TemporaryDirectory() as saved:
        network.export(saved, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        with quiet_tf.cpp_lines_filtered():
            rundir.write_bytes(os.path.join(folder, FILES["litert"]), converter.convert())


class JudgeError(ValueError):
    """A judge that cannot be found or loaded (the message names the file)."""


def load(folder=FOLDER, runtime="litert"):
    """The judge of `folder` as a function: fields (N, 28, 28, 1) raw 0-255 -> (N,) P(not a digit). `runtime`:
    "litert" (judge.tflite, no TensorFlow) or "keras" (judge.keras)."""
    if runtime not in ("litert", "keras"):
        raise JudgeError(f"judge runtime {runtime!r}: expected litert or keras")
    path = os.path.join(folder, FILES[runtime])
    if not os.path.isfile(path):
        raise JudgeError(f"{path}: no such file (judge.py writes it; --judge none reads without the judge)")
    if runtime == "litert":
        model = runtimes.LiteRTModel(path)
        return lambda fields: np.asarray(model(np.asarray(fields, "float32").reshape(-1, 28, 28, 1))).reshape(-1)
    quiet_tf.start()
    import tensorflow as tf

    # Rebuilt and its weights read, not `keras.saving.load_model`: Keras 3.10 cannot deserialize the initializer
    # configs Keras 3.15 writes (as `rundir.load_trained_model` does for the study's models).
    network = build()
    network.load_weights(path)
    serve = tf.function(lambda x: network(x, training=False),
                        input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)])
    return lambda fields: serve(tf.constant(np.asarray(fields, "float32").reshape(-1, 28, 28, 1))).numpy().reshape(-1)


def load_for(folder, models):
    """The judge of `folder` in the runtime of `models` (`runtimes.load_models`): Keras beside Keras models, else
    LiteRT (float32; the judge has no int8 file); None where `folder` is NONE."""
    if folder == NONE:
        return None
    keras_models = any(getattr(model, "runtime", None) == "keras" for model in models.values())
    return load(folder, "keras" if keras_models else "litert")


NONE = "none"  # --judge none: read without the judge
LOAD_ERRORS = (runtimes.ModelError, JudgeError)  # what `load_reader` raises for a bad folder or file


def load_reader(models_dir, runtime, folder):
    """The reader's networks: (the five models, `runtimes.load_models`; the judge of `folder` in their runtime,
    `load_for`, or None). Raises one of LOAD_ERRORS, its message one line."""
    models = runtimes.load_models(models_dir, runtime)
    return models, load_for(folder, models)
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)  # the price of each is measured


def measured_sets(test_digits, rng, per_glyph=8):
    """The fields the judge is measured on, none of them trained on: {name: (fields, is a digit[, characters, fonts])}:
    MNIST's test digits, the same in styles further than training went (thick, blurred, lower resolution), the
    unseen fonts' digits (other hands' digits) and letters, doodles of a new draw."""
    test_digits = np.asarray(test_digits, "float32").reshape(-1, 28, 28)
    unseen = font_paths(UNSEEN_FONTS)
    some = test_digits[:2000]
    digit_drawn = drawn_fields(unseen, DIGITS, per_glyph, rng)
    letter_drawn = drawn_fields(unseen, LETTERS, per_glyph, rng)
    return {
        "MNIST test digits": (test_digits, True),
        "MNIST thick (a pen twice as heavy)": (np.stack([restyled(f, rng, "heavy pen", 2) for f in some]), True),
        "MNIST blurred further": (np.stack([restyled(f, rng, "blurred", 1.8) for f in some]), True),
        "MNIST at 6 to 9 pixels": (np.stack([restyled(f, rng, "low resolution", 1.6) for f in some]), True),
        "digits of the unseen fonts": (digit_drawn[0], True, *digit_drawn[1:]),
        "letters of the unseen fonts": (letter_drawn[0], False, *letter_drawn[1:]),
        "doodles (a new draw)": (doodle_fields(600, rng)[0], False),
    }


def measure(judge_fn, sets, thresholds=THRESHOLDS):
    """{set: {"count", "digits": bool, "kept": {threshold: share of fields judged digits}, and where a set names
    its characters and fonts, "by_character" and "by_font": {character or font: share kept at the rule's threshold}}}
    (kept: P(not a digit) below the threshold)."""
    rows = {}
    threshold = reading.RULE["drawing"].threshold
    for name, (fields, digits, *named) in sets.items():
        doubt = np.concatenate([judge_fn(fields[k : k + 1000]) for k in range(0, len(fields), 1000)])
        rows[name] = {"count": int(len(fields)), "digits": bool(digits),
                      "kept": {str(t): round(float(np.mean(doubt < t)), 5) for t in thresholds}}
        for key, names in zip(("by_character", "by_font"), map(np.array, named)):
            rows[name][key] = {str(n): round(float(np.mean(doubt[names == n] < threshold)), 4) for n in sorted(set(names))}
    return rows


def measured(folder, test_digits, seed):
    """The LiteRT judge of `folder` measured (`measure`) on `measured_sets` drawn with `seed`'s own draw."""
    return measure(load(folder, "litert"), measured_sets(test_digits, np.random.default_rng(seed + 2000)))


def remeasure(folder=FOLDER):
    """The judge of `folder` measured again as `study` measured it (its seed), without training: its summary's sets
    rewritten, for a change to what the judge is measured on. Returns the summary."""
    from . import data
    from . import rundir

    path = rundir.summary_path(folder)
    try:
        summary = rundir.read_json(path)
    except (OSError, ValueError) as error:
        raise JudgeError(f"{path}: no judge's summary to measure again ({error.__class__.__name__})") from None
    _, (test_images, _) = data.load_bundled()
    summary["sets"] = measured(folder, test_images, summary["settings"]["seed"])
    rundir.write_json(path, summary)
    return summary


def study(output=FOLDER, seed=1, epochs=10, validation_digits=5000, photographs=3000, log=print):
    """Trains the judge on MNIST's training digits (less the last `validation_digits`, its validation split) against
    the training fonts' letters and doodles, measures it (`measured_sets`, `measure`) and writes judge.keras,
    judge.tflite, history.csv and summary.json to `output`. Returns the summary."""
    import time

    from . import data
    from . import machine
    from . import rundir

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    (train_images, _), (test_images, _) = data.load_bundled()
    train_images = np.asarray(train_images, "float32").reshape(-1, 28, 28)
    log(f"drawing the training set: {len(train_images) - validation_digits} digits against letters and doodles")
    fields, labels = training_set(train_images[:-validation_digits], rng, photographs=photographs)
    held, held_labels = training_set(train_images[-validation_digits:], np.random.default_rng(seed + 1000),
                                     per_glyph=10, doodles=1000)
    log(f"{len(fields)} fields ({int(labels.sum())} not digits); training {epochs} epochs")
    os.makedirs(output, exist_ok=True)
    network = train(fields, labels, (held, held_labels), epochs=epochs, seed=seed,
                    history_path=rundir.file(output, "history"))
    trained = time.perf_counter() - started
    export(network, output)
    rows = measured(output, test_images, seed)
    summary = {"settings": {"seed": seed, "epochs": epochs, "training_fields": int(len(fields)),
                            "photographed": photographs,
                            "not_digits": int(labels.sum()), "letters": LETTERS, "doodles": list(DOODLES),
                            "fonts": FONTS, "unseen_fonts": UNSEEN_FONTS, "styles": list(STYLES)},
               "sets": rows, "threshold": reading.RULE["drawing"].threshold,
               "seconds": {"training": round(trained, 1), "all": round(time.perf_counter() - started, 1)},
               "machine": machine.cpu_name(), "environment": machine.environment()}
    rundir.write_json(rundir.summary_path(output), summary)
    return summary
