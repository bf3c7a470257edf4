"""Reading an image as the models see it: decoding (`decode`, `read_image`), the sheet on a table
(`on_the_sheet`), the ink (`ink`), a paper's rules (`without_rules`), the digits of a number (`read_number`, with
scipy.ndimage), each judged a handwritten digit's or not (`not_a_digit`, and with the models' answers `judge`) and
made an MNIST field (`field`), and the models' answers and how they are spelled (`answer`, `number`,
`describe_number`, `as_json`). predict.py and the drawing page's server call it; no TensorFlow here.
"""

import threading
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage


FIELD, BOX = 28, 20  # MNIST: the digit scaled into 20 x 20, centred by mass in 28 x 28
INK_THRESHOLD = 0.1  # fraction of the ink's contrast that counts as ink when cropping
MAX_PIXELS = 100_000_000  # larger images are refused from their header, before any decoding
MAX_DIGITS = 12  # more marks in one line than a number of this many digits: not read as one number
BLANK_CONTRAST = 24.0  # grey levels: an image whose brightness spans less (but for 1 % of its pixels) is blank
THICK = 0.25  # stroke_measures' *soft* counts for a mark whose typical stroke is this share of its height or more:
#               a thinner stroke is all edge, soft throughout when blurred (the rule *soft* says why)
WORK_SIDE = 1024  # a larger photo is reduced to about this longest side before the ink is looked for
_OPEN_LOCK = threading.Lock()  # Pillow's own pixel limit is a module setting: lifted for one open at a time


class Rule(NamedTuple):
    """A rule of what a handwritten digit's mark is not: it refuses a mark whose `measure` (a key of
    `stroke_measures`) is `threshold` or more, and, where it has `also` (measure, threshold), that one too."""

    name: str  # how the refusals study, the report and the tests find it: never its words
    measure: str
    threshold: float
    about: str  # what the measure is, in words (the table of rules)
    message: str  # the refusal's words; format fields: the mark's measures, and `lines` and `s` for letters
    also: tuple = ()
    stage: str = "mark"  # "marks": on the image's marks together (`_marks`); "mark": on each mark's measures
    #                      (`not_a_digit`); "models": with the models' answers too (`judge`)

    def refuses(self, measures):
        limits = [(self.measure, self.threshold)] + ([self.also] if self.also else [])
        return all(measures.get(key, 0.0) >= limit for key, limit in limits)

    def says(self, measures, **more):
        fields = {**measures, **more}
        return self.message.format(**fields, s="s" * (fields.get("lines", 1) > 1))


# The thresholds sit above the highest values among MNIST's digits drawn large and the photos' digits; what each
# rule keeps and refuses is measured by the refusals study (`refusals.evidence`, results/refusals/summary.json's
# "rules", rendered in docs/your_digits.md), not written here.
RULES = (
    Rule("writing", "dashes", 2, "marks three times wider than high (letters joined into words; a digit is none)",
         "text: {lines} line{s} of letters", stage="marks"),
    Rule("print", "small letters", 1, "marks of a small letter's height, level with each other, on the baseline of "
         "three or more marks of one height (type)", "text: a line of print, not a handwritten number", stage="marks"),
    Rule("letters", "pieces", 6, "separate pieces in one mark (a digit has 1 or 2)",
         "text: {lines} line{s} of letters"),
    Rule("filled", "width", 0.7, "typical stroke width / the mark's height", "a filled shape, not strokes"),
    # A blotted digit's thickest stroke can be many times its typical one: *uneven* refuses only with a photo's
    # mid-grey tones (a pen's ink is dark or absent), or where the models disagree (*disagreed*).
    Rule("uneven", "uneven", 3.5, "thickest stroke / its typical stroke, with *tones*",
         "a photo's shapes: thick and thin parts in grey tones, not strokes of one pen", also=("tones", 0.85)),
    Rule("wide", "wide", 2.8, "width / height", "a mark far wider than a digit"),
    Rule("holes", "holes", 7, "holes it encloses (an 8 has 2)", "a pattern with {holes} holes"),
    Rule("soft", "soft", 0.65,
         "share of its ink under half its contrast, for strokes a quarter of its height or thicker",
         "a shaded shape with soft edges, not a pen's strokes"),
    Rule("faint", "faint", 0.8, "share of its middle lines under a third of its strong ink",
         "an outline around a faint region, not strokes"),
    Rule("surround", "surround", 0.6, "spread of the paper around it / the ink's contrast",
         "the edge of a brighter region, not a stroke on paper"),
    Rule("drawing", "drawing", 0.7, "the judge's probability that the mark is a letter or a drawing (mnist_norm.judge)",
         "a letter or a drawing, not a digit", stage="models"),
    # *doubt*'s two thresholds are chosen by the refusals study (`refusals.doubt_price`, its "doubt" in
    # results/refusals/summary.json): the pair that refuses the most real images the reader otherwise answers, of
    # those that refuse at most DOUBT_PRICE of the real digits the models' majority reads right. Below *drawing*'s
    # second threshold such a digit is answered with the same words as a warning (`agreement`'s flag).
    Rule("doubt", "doubt", 0.6, "share of the models that do not read the digit most of them read, with the judge's "
         "*drawing*", "not sure: the models read it as {reads}", also=("drawing", 0.01), stage="models"),
    Rule("disagreed", "uneven", 3.0, "*uneven*, when some model reads it otherwise (*doubt*)",
         "a shape the models do not agree on: {models} of {of} read {digit}, and its thick and thin parts are no "
         "strokes of one pen", also=("doubt", 0.1), stage="models"),
)
DOUBT_PRICE = 0.002  # the issue's bound: *doubt* refuses at most 0.2 % of the real digits the models read right
RULE = {rule.name: rule for rule in RULES}


class ImageError(ValueError):
    """An image that cannot be made into an MNIST digit (the message says why)."""


class NoInk(ImageError):
    """A readable image with nothing drawn or written on it: one brightness throughout (no contrast)."""


class NotADigit(ImageError):
    """Ink, or an image with contrast, that holds no handwritten digit; `seen` says what was seen instead, `rule` the
    name of the rule (RULES) that refused it, where one did, and `measures` the refused mark's measures."""

    def __init__(self, name, seen, rule=None, measures=None):
        super().__init__(f"{name}: no handwritten digit found ({seen})")
        self.seen, self.rule, self.measures = seen, rule, measures


def refusal(error):
    """The kind of a refused image, for --json and the page: "blank", "not a digit", "not a number" or
    "unreadable" (a file that cannot be decoded, or too large)."""
    return {NoInk: "blank", NotADigit: "not a digit", NotANumber: "not a number"}.get(type(error), "unreadable")


def _open(handle, name):
    """Pillow's image of an open file, its header read (no pixels decoded yet)."""
    start = handle.tell()
    if not handle.read(1):  # Pillow would call it "not an image"; the user needs to know it holds nothing
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    handle.seek(start)
    with _OPEN_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # ours is checked below, with the size named
        try:
            return Image.open(handle)
        except (UnidentifiedImageError, SyntaxError, ValueError):
            raise ImageError(f"{name}: not a PNG, JPEG, BMP or GIF image") from None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def decode(handle, name="image", scaled=False, max_pixels=MAX_PIXELS, reader="predict.py"):
    """An image file (an open binary file) as a float greyscale array (H, W) in 0-255, upright; with `scaled`,
    (that array, the file's pixels per pixel of it).

    Photos larger than about WORK_SIDE are reduced while decoding (a JPEG at a DCT scale, then a box filter):
    MNIST's 20 x 20 box needs far fewer pixels, and a 12-megapixel photo is then read in a fraction of a
    second. The JPEG's EXIF orientation is applied. Transparent images: the ink is what is opaque, whatever
    its colour, laid on paper of the opposite brightness. An image of more than `max_pixels` is refused from its
    header, before any pixel is decoded (the message names `reader`).
    """
    image = _open(handle, name)
    width, height = image.size
    if width * height > max_pixels:
        limit = f"{max_pixels / 1e6:.0f} megapixels" if max_pixels >= 1e6 else f"{max_pixels:,} pixels"
        raise ImageError(f"{name}: {width} x {height} pixels ({width * height / 1e6:,.0f} megapixels) is more than "
                         f"{reader} reads ({limit}); scale it down first")
    try:
        if image.format == "JPEG" and max(width, height) > 2 * WORK_SIDE:
            image.draft("RGB" if image.mode not in ("L", "1") else "L",
                        (width * WORK_SIDE // max(width, height), height * WORK_SIDE // max(width, height)))
        image.load()  # a truncated or damaged file fails here
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: truncated or damaged {image.format or 'image'} file ({error})") from error
    factor = round(max(image.size) / WORK_SIDE)  # the longer side within about 0.7-1.5 x WORK_SIDE
    if factor > 1:
        image = image.reduce(factor)
    if image.mode.startswith("I"):  # 16- or 32-bit integer greyscale (16-bit scans)
        grey = np.asarray(image, dtype="float32")
        grey = grey * (255.0 / 65535.0) if grey.max() > 255 else grey
        return (grey, max(width, height) / max(grey.shape)) if scaled else grey
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    pixels = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype="float32")
    grey = pixels[..., :3] @ np.array([0.299, 0.587, 0.114], dtype="float32")  # ITU-R 601 luma, as MNIST's scans
    if has_alpha:
        alpha = pixels[..., 3] / 255.0
        if alpha.min() < 0.5:  # drawn on a transparent layer: the alpha channel holds the ink
            ink_colour = float((grey * alpha).sum() / max(alpha.sum(), 1e-6))
            paper = 0.0 if ink_colour > 127 else 255.0
            grey = grey * alpha + paper * (1.0 - alpha)
    return (grey, max(width, height) / max(grey.shape)) if scaled else grey


def read_image(path, scaled=False):
    """The file at `path` decoded by `decode`: (H, W) float greyscale in 0-255 (with `scaled`, and its scale)."""
    try:
        with open(path, "rb") as handle:
            return decode(handle, path, scaled)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file") from None
    except PermissionError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror or error})") from error


def _resize(values, size):
    """A float 2-D array resized to `size` (rows, columns) with Pillow: area-averaged (BOX) when shrinking,
    bilinear when enlarging."""
    image = Image.fromarray(np.asarray(values, dtype="float32"))  # mode "F"
    shrinking = size[0] < values.shape[0] or size[1] < values.shape[1]
    return np.asarray(image.resize((size[1], size[0]), Image.BOX if shrinking else Image.BILINEAR))


def paper_level(ink_up):
    """The paper's brightness around each pixel of an image whose ink is the bright part (H, W).

    On a grid of blocks (about 64 across the shorter side), each block's 25th percentile (the paper, unless ink
    covers most of the block), then a grey opening wider than a third of the image, which takes away whatever
    ink still fills blocks and keeps slow light fall-off and the edges of wide shadows; smoothed and scaled back.
    """
    height, width = ink_up.shape
    block = max(1, min(height, width) // 64)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(ink_up, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    grid = np.percentile(padded.reshape(rows, block, cols, block), 25, axis=(1, 3)).astype("float32")
    window = max(3, min(rows, cols) // 3) | 1
    grid = ndimage.grey_opening(grid, size=(window, window), mode="nearest")
    grid = ndimage.uniform_filter(grid, 3, mode="nearest")
    level = _resize(grid, (rows * block, cols * block))
    return level[:height, :width]


def _flattened(grey):
    """The image (H, W) over its brightness smoothed across a quarter of the image: light that falls off across a
    page divided away, while a stroke, or a blot however large, stays darker (or brighter) than the paper around it
    (a local median would take a large blot's own ink for its paper)."""
    height, width = grey.shape
    block = max(1, min(height, width) // 32)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(grey, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    grid = padded.reshape(rows, block, cols, block).mean(axis=(1, 3)).astype("float32")
    grid = ndimage.gaussian_filter(grid, sigma=max(1.0, min(rows, cols) / 4), mode="nearest")
    return grey / (_resize(grid, (rows * block, cols * block))[:height, :width] + 1.0)


def _standing_out(noise):
    """The least contrast that stands out of paper whose noise spreads by `noise` (~6 % of the range at least)."""
    return max(16.0, 8.0 * noise)


def _contrast(raised):
    """(How far the ink stands out of its paper, the paper's noise): the 99.9th percentile of `raised` (the top
    thousandth of the pixels is ink wherever there is ink enough), or, for a little ink (a number written small in
    a large frame: a few hundred pixels in a million), the 99.98th percentile when that stands out of the paper's
    noise by far more; the noise is the spread of `raised` (ink is a minority of pixels)."""
    top, few = np.percentile(raised, [99.9, 99.98])
    noise = 1.4826 * float(np.median(np.abs(raised)))
    least = _standing_out(noise)
    return float(top if top >= least or few < 2.0 * least else few), noise


def _otsu(values):
    """The brightness that splits `values` into two classes with the largest variance between them (Otsu)."""
    counts, edges = np.histogram(values, bins=128)
    centres = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(counts)
    above = below[-1] - below
    mean_below = np.cumsum(counts * centres) / np.maximum(below, 1)
    mean_above = ((counts * centres).sum() - np.cumsum(counts * centres)) / np.maximum(above, 1)
    return float(edges[1:][np.argmax(below * above * (mean_below - mean_above) ** 2)])


def on_the_sheet(grey):
    """The image (H, W) with whatever lies around a sheet of paper on a darker surface (a table) replaced by the
    sheet's own paper, so that neither the table nor the sheet's edge is taken for ink.

    On a copy about 256 pixels across, ink removed by a median filter: the two brightness classes (Otsu) give
    the step between paper and table; the sheet is the brightest wide region that no sharp edge crosses (one
    where the log brightness changes by a tenth of that step per pixel or more, wherever the light falls; a
    shadow's or the light's edge is soft and stays inside), its holes filled. It is taken for a sheet only if it
    covers 50-95 % of the frame (more than half: white ink on black is no sheet on a table), the rest covers a
    quarter of the frame's edge or more (a digit's stroke reaching the edge is no table) and is darker than 70 %
    of its paper; the image is returned unchanged otherwise.
    Outside the sheet, less a pixel, each pixel takes the paper of the nearest point on the sheet.
    """
    height, width = grey.shape
    step = max(1, max(height, width) // 256)
    if min(height, width) // step < 16:
        return grey
    small = _resize(grey, (height // step, width // step))
    smooth = ndimage.median_filter(small, size=5, mode="nearest")
    bright = smooth > _otsu(smooth)
    if not 0.2 <= bright.mean() <= 0.95:
        return grey
    paper, table = float(np.median(smooth[bright])), float(np.median(smooth[~bright]))
    if table > 0.7 * paper:
        return grey
    # The sheet: the brightest wide region that no sharp edge crosses (a shadow's or the light's edge is soft:
    # it changes by far less than a tenth of the step between paper and table per pixel).
    # In log brightness, as light multiplies: the step is the same wherever the light falls.
    flat = ndimage.gaussian_gradient_magnitude(np.log1p(smooth), 1.0) < 0.1 * np.log1p(paper) - 0.1 * np.log1p(table)
    labels, count = ndimage.label(flat)
    sizes = np.bincount(labels.ravel())[1:]
    levels = ndimage.median(smooth, labels, np.arange(1, count + 1))
    wide = [k for k in range(count) if sizes[k] >= 0.1 * smooth.size]
    if not wide:
        return grey
    sheet = labels == 1 + max(wide, key=lambda k: levels[k])
    sheet = ndimage.binary_fill_holes(sheet)
    border = np.concatenate([sheet[0], sheet[-1], sheet[:, 0], sheet[:, -1]])
    if (not 0.5 <= sheet.mean() <= 0.95 or border.mean() > 0.75  # a table lies around the sheet, at the frame
            or float(np.median(smooth[~sheet])) > 0.7 * float(np.median(smooth[sheet]))):
        return grey
    # The sheet less the edge's blur (already a pixel or two off the flat region); the nearest paper fills the rest.
    inside = ndimage.distance_transform_edt(sheet) > 1
    nearest = ndimage.distance_transform_edt(~inside, return_distances=False, return_indices=True)
    filled = _resize(smooth[tuple(nearest)], (height, width))
    keep = _resize(inside.astype("float32"), (height, width)) > 0.99
    return np.where(keep, grey, filled)


def ink(grey, name="image"):
    """The ink of a greyscale image (H, W): (its map in 0-1, 1 the darkest ink against its own paper; the same map
    before the paper's noise floor is taken away; the paper's noise on that map's scale).

    Which side is ink is tried both ways (the ink lies further from the median brightness, once the light's fall-off
    across the image is divided away: `_flattened`). The paper's own
    brightness is estimated locally (`paper_level`) and taken away, so light that falls off across a page or a
    shadow is not taken for ink; what remains is kept where it stands out of the paper's noise by three times
    its spread, and scaled by the ink's contrast.

    Raises:
        NoInk: no ink stands out (one brightness throughout, or noise only).
    """
    grey = np.asarray(grey, dtype="float32")
    # A photo's noise is averaged over 3 x 3 pixels (a stroke is wider than that once the photo is this large).
    grey = ndimage.uniform_filter(grey, 3, mode="nearest") if min(grey.shape) >= 64 else grey
    # Which side is ink: tried both ways, each finds what stands out of its paper; on the wrong side that is
    # the paper around and inside the strokes, on the right side the ink, which lies further from the image's
    # median brightness (the paper's, as ink is the minority) once the light's fall-off is divided away.
    flat = _flattened(grey)
    middle = float(np.median(flat))
    candidates = []
    for sign, ink_up in ((1.0, grey), (-1.0, 255.0 - grey)):
        raised = ink_up - paper_level(ink_up)
        contrast, noise = _contrast(raised)
        standing_out = raised > 0.5 * contrast
        distance = sign * (float(flat[standing_out].mean()) - middle) if standing_out.any() else 0.0
        candidates.append((distance, contrast, noise, raised))
    _, contrast, noise, raised = max(candidates, key=lambda candidate: candidate[0])
    if contrast < _standing_out(noise):  # nothing stands out of the paper
        low, high = np.percentile(grey, [0.5, 99.5])
        if high - low < BLANK_CONTRAST:
            raise NoInk(f"{name}: no ink found (the image is blank)")
        raise NotADigit(name, "a photo or a texture: no strokes of ink stand out of it")
    floor = 3.0 * noise
    return (np.clip((raised - floor) / (contrast - floor), 0.0, 1.0), np.clip(raised / contrast, 0.0, 1.0),
            noise / contrast)


def without_rules(strength, faint=None, noise=0.0):
    """The ink map (H, W) less the printed lines of ruled or squared paper and its margin line. `faint`: the same
    map without the noise floor taken away (where faint rules are still whole), to find the rules in, and `noise`:
    the paper's noise on its scale (a rule stands out of it by twice as much all along).

    A grey opening with a line a sixth of the image long keeps only straight horizontal (then vertical) runs of
    ink; runs in one line, across gaps shorter than that (where a shadow or the noise broke a faint rule), that
    together span half the image or more and are at least 25 times longer than thick are a paper's rules (a
    digit's stroke is never that thin for its length); on a page with three rules or more, so are those that span a
    quarter of it and are no thicker than twice the usual rule (where the light falls off, a rule fades and breaks).
    They are subtracted at their strongest within 15 pixels along them and a pixel either side (the lens blurs them,
    the noise varies along them) but never by more than half again their usual strength, so a stroke that crosses a
    rule, or runs along one, keeps its own ink there, less the rule's; what was under 0.5 and is left under 0.3 along
    a rule is taken away too, and then, along the rules only, whatever is no thicker than they are across them (a
    grey opening across them as long as the median thickness of the rules in that direction, 3 to 7 pixels: a
    margin line is thicker than the rules). A stroke away from the rules is left whole, however thin: a number
    written small, with a pen as thick as the rules, keeps its strokes.
    """
    cleaned, bands = strength, []
    for axis in (1, 0):
        extent = strength.shape[axis]
        length = max(3, extent // 6)
        along = (1, length) if axis == 1 else (length, 1)
        lines = ndimage.grey_opening(strength, size=along, mode="nearest")
        whole = lines if faint is None else ndimage.grey_opening(faint, size=along, mode="nearest")
        runs = whole > max(0.25 * INK_THRESHOLD, 2.0 * noise)  # a faint rule is still a rule
        labels, count = ndimage.label(ndimage.maximum_filter1d(runs.view(np.uint8), length, axis=axis))
        if not count:
            continue
        areas = np.bincount(labels[runs], minlength=count + 1)[1:]
        spans = [box[axis].stop - box[axis].start - (length - 1) for box in ndimage.find_objects(labels)]
        straight = [k + 1 for k in range(count) if spans[k] >= 0.5 * extent and areas[k] * 25 <= spans[k] ** 2]
        rules = _printed(straight, areas, spans, extent)
        if not rules:
            continue
        thickness = float(np.median([areas[k - 1] / spans[k - 1] for k in rules]))
        banded = rules
        if len(rules) >= 3:  # a ruled page: rules the light left faint, and so broken, are its rules too
            rules = rules + [k + 1 for k in range(count) if 0.25 * extent <= spans[k] < 0.5 * extent
                             and areas[k] <= 2.0 * thickness * spans[k]]
            # A rule that a stroke runs along is thicker than the others: not subtracted (the stroke would go with
            # it), but what is left of it is taken away along it as along the others.
            banded = rules + [k for k in straight if k not in rules]
        # Each rule at most half again its usual strength (its lower quartile: a stroke along it is stronger),
        # so that where a stroke runs along a rule, the stroke stays.
        typical = np.zeros(count + 1, dtype="float32")
        typical[rules] = ndimage.labeled_comprehension(lines, np.where(runs, labels, 0), rules,
                                                       lambda values: np.percentile(values, 25), "float32", 0.0)
        found = np.where(runs, np.minimum(lines, 1.5 * typical[labels]), 0.0)
        spread = ndimage.grey_dilation(found, size=(3, 15) if axis == 1 else (15, 3))
        cleaned = cleaned - spread
        # Where a rule was (along all of it, and two pixels either side: a faint rule's runs are broken and
        # thinner than its ink), what was weak (under 0.5) and stays weak (under 0.3) is the rule's remainder;
        # a stroke across it was strong.
        band = np.isin(labels, banded) & ndimage.binary_dilation(runs, structure=np.ones(_across(axis, 5), bool))
        cleaned = np.where((band | (spread > 0)) & (cleaned < 0.3) & (strength < 0.5), 0.0, cleaned)
        bands.append((band, _across(axis, min(7, max(3, int(np.ceil(thickness)) | 1)))))
    if cleaned is strength:
        return strength
    # What is left of the rules is no thicker than the rules, and runs along them: along the rules only, an opening
    # across them as long as they are thick (a stroke elsewhere, however thin, is left whole; one that crosses a
    # rule stays).
    cleaned = np.clip(cleaned, 0.0, 1.0)
    for band, across in bands:
        opened = ndimage.grey_opening(cleaned, size=across, mode="nearest")
        cleaned = np.where(ndimage.binary_dilation(band, structure=np.ones(across, bool)), opened, cleaned)
    return cleaned


def _across(axis, length):
    """The shape of a line `length` pixels long across rules that run along `axis` (1: horizontal rules)."""
    return (length, 1) if axis == 1 else (1, length)


def _printed(lines, areas, spans, extent):
    """Of long thin straight lines (labels into `areas`, `spans`), those a paper printed: a rule repeats, as thin as
    the others (a digit's stroke drawn straight along a ruler is thicker than the rules, a pen's rather than a
    printer's), or, alone, runs across the paper (a margin line); a single straight stroke that stops short of the
    paper's edges is a digit's (a 1, a 7's bar)."""
    thickness = {k: areas[k - 1] / spans[k - 1] for k in lines}
    if len(lines) >= 3:
        usual = float(np.median(list(thickness.values())))
        across = float(np.median([spans[k - 1] for k in lines if thickness[k] <= 2.0 * usual]))
        # Up to twice the usual thickness (a photo's rules thicken towards the camera) where it runs as far as the
        # rules do; a line half again as thick that stops short of them is a digit's stroke (a 7's bar drawn along
        # a ruler, 6 pixels thick against rules of 2, blurred into 8 against 5).
        return [k for k in lines if thickness[k] <= 1.5 * usual
                or (thickness[k] <= 2.0 * usual and spans[k - 1] >= 0.9 * across)]
    # Two lines are rules when both run most of the way across (two strokes of a "11" do not); one, all the way
    # (a span is measured less the opening's length, a sixth of the image: a line across the page spans 5/6 of it).
    return [k for k in lines if spans[k - 1] >= (0.7 if len(lines) == 2 else 0.8) * extent]


def field(digit):
    """A digit's ink (h, w) in 0-1, cropped to it, as MNIST's 28 x 28 field in 0-255: scaled to fit 20 x 20
    keeping its aspect ratio and placed by its centre of mass, as MNIST was made."""
    height, width = digit.shape
    factor = BOX / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    digit = _resize(digit, size)
    digit = np.clip(digit, 0.0, 1.0)
    total = max(float(digit.sum()), 1e-6)
    centre_row = (digit.sum(axis=1) * np.arange(digit.shape[0])).sum() / total
    centre_col = (digit.sum(axis=0) * np.arange(digit.shape[1])).sum() / total
    top = int(np.clip(round((FIELD - 1) / 2 - centre_row), 0, FIELD - digit.shape[0]))
    left = int(np.clip(round((FIELD - 1) / 2 - centre_col), 0, FIELD - digit.shape[1]))
    placed = np.zeros((FIELD, FIELD), dtype="float32")
    placed[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return placed * 255.0


class Digit(NamedTuple):
    box: tuple  # (left, top, right, bottom) in the image's pixels, right and bottom exclusive (PIL's crop box)
    field: np.ndarray  # (28, 28) float32 in 0-255, what the models see
    measures: dict = None  # its mark's stroke_measures, on which it was judged a digit


class NotANumber(ImageError):
    """Marks that no number could hold: several lines of digit-like marks, or more than MAX_DIGITS in one.
    `lines`: the lines' marks ([[Mark]], the number's line first) and `labels` the ink's pieces, where `_marks` found
    them (read_number measures them before it says so)."""

    def __init__(self, message, lines=None, labels=None):
        super().__init__(message)
        self.lines, self.labels = lines, labels


def _stroke_width(mask):
    """The typical stroke width of an ink mask, in pixels: twice the median distance to the paper along the
    strokes' middle lines (the ridge of `distance_transform_edt`)."""
    distance = ndimage.distance_transform_edt(mask)
    ridge = mask & (distance == ndimage.maximum_filter(distance, 3))
    return 2.0 * float(np.median(distance[ridge])) if ridge.any() else 0.0


class Mark(NamedTuple):
    """A mark of ink: its box in the ink map (rows `top` to `bottom`, columns `left` to `right`, inclusive), the
    connected components (labels of the map) it is made of, and its ink in pixels."""

    top: int
    bottom: int
    left: int
    right: int
    labels: tuple
    ink: int

    @property
    def tall(self):
        return self.bottom - self.top + 1

    @property
    def wide(self):
        return self.right - self.left + 1

    @property
    def middle(self):
        return (self.top + self.bottom) / 2

    def joined(self, other):
        """One mark of both: the box around both, their labels and their ink."""
        return Mark(min(self.top, other.top), max(self.bottom, other.bottom), min(self.left, other.left),
                    max(self.right, other.right), self.labels + other.labels, self.ink + other.ink)


# The steps of `_marks` and their numbers. Each was set by hand on the photos of numbers (photos.py: plain, ruled
# and squared paper, a sheet on a table, numbers written small) and on MNIST's test digits drawn large, and is
# tested there (tests/test_predict.py, tests/test_refusals.py); the refusals study measures what they keep.
# 1. Pieces: ink a stroke cut in two (by a rule, a faint spot) is one piece again.
JOIN = 0.25  # pieces this share of a stroke width apart on each side are joined (half a stroke width in all) ...
JOIN_PIXELS = (1, 3)  # ... but 1 to 3 pixels a side: digits written small stand closer than 6 pixels
SPECK = 0.01  # a piece with less ink than this share of the largest piece's is a speck
STRONG = 0.3  # a piece with no ink this strong anywhere (the ink map's 0-1) is a smudge
# 2. Stacking: pieces above each other are one mark (a 5's flag, a 4 written in two strokes).
STACK_OVERLAP = 0.5  # side by side they overlap by at least this share of the narrower one ...
STACK_GAP = 0.3  # ... and the gap between them is at most this share of the taller one
# 3. Lines and specks: what no digit is.
RULE_THIN = 25  # a mark whose ink is at most its longer side squared over this is as thin as a paper's rule ...
ALONG = 0.5  # ... and a rule when it spans the image, or runs from an edge along this share of it
WRITING = 3  # a mark this many times wider than high is a dash of letters joined in writing
SPECK_SIZE = 0.3  # a mark whose longer side is under this share of the tallest mark's height is a speck ...
SPECK_INK = 0.04  # ... or whose ink is under this share of the most ink in one mark
# 4. The number's line: the line of marks with the most ink.
NEW_LINE = 0.6  # marks whose middles lie further apart than this share of a typical mark's height: a new line
DIGIT_SIZED = 0.6  # a mark off the number's line at least this share of the number's height is another line
# 5. Ticks: a stroke broken off a digit (a 1's flag or foot written apart, a 9's tail) is part of it.
TICK_HEIGHT = 0.6  # under this share of its neighbour's height ...
TICK_INK = 0.25  # ... with under this share of its ink ...
TICK_GAP = 0.15  # ... within this share of that height beside it
# 6. Print (the rule *print*): type sets marks of one height on one baseline, a hand does not. Set on lines printed
# in FreeFont's and Liberation's faces (tests/test_predict.py checks DejaVu's, which they were not set on).
TYPE_EVEN = 0.04  # marks of one size in type differ in height and baseline by this share of it (a round overshoot) ...
TYPE_PIXELS = 1.5  # ... or by this many pixels, in small type
TYPE_MARKS = 3  # this many marks of one height on one baseline are type
X_HEIGHT = (0.5, 0.82)  # a small letter's height (its x-height) as a share of capitals' and digits' in Latin type


def _pieces(strength, name):
    """Step 1: the ink's pieces ([Mark] of one label each, unsorted) and the labels array (0 off the ink)."""
    mask = strength > INK_THRESHOLD
    joined = int(np.clip(round(JOIN * _stroke_width(mask)), *JOIN_PIXELS))
    labels, count = ndimage.label(ndimage.binary_dilation(mask, iterations=joined), structure=np.ones((3, 3), bool))
    labels[~mask] = 0
    if not count:  # ink() found contrast, so the image is not blank
        raise NotADigit(name, "only specks: nothing stands out as strokes")
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    pieces = [Mark(box[0].start, box[0].stop - 1, box[1].start, box[1].stop - 1, (k + 1,), int(areas[k]))
              for k, box in enumerate(ndimage.find_objects(labels))
              if box is not None and areas[k] >= SPECK * areas.max()
              and strength[box][labels[box] == k + 1].max() >= STRONG]
    return pieces, labels


def _stacked(pieces):
    """Step 2: pieces, left to right, each joined to the first mark it stands above or below."""
    marks = []
    for piece in sorted(pieces, key=lambda piece: piece.left):
        for index, mark in enumerate(marks):
            overlap = min(mark.right, piece.right) - max(mark.left, piece.left) + 1
            gap = max(mark.top, piece.top) - min(mark.bottom, piece.bottom)
            if overlap >= STACK_OVERLAP * min(mark.wide, piece.wide) and gap <= STACK_GAP * max(mark.tall, piece.tall):
                marks[index] = mark.joined(piece)
                break
        else:
            marks.append(piece)
    return marks


def _line_or_writing(mark, height, width):
    """"edge" for a paper's rule or margin, "writing" for a dash of joined letters, None for neither."""
    edges = (mark.top == 0, mark.bottom == height - 1, mark.left == 0, mark.right == width - 1)
    thin = mark.ink * RULE_THIN <= max(mark.tall, mark.wide) ** 2
    if thin and ((edges[0] and edges[1]) or (edges[2] and edges[3])
                 or (any(edges) and (mark.tall > ALONG * height or mark.wide > ALONG * width))):
        return "edge"
    return "writing" if mark.wide > WRITING * mark.tall else None


def _without_lines_and_specks(marks, strength, name):
    """Step 3: the marks that are neither a paper's lines, nor writing, nor specks, and how many were writing (the
    measure of the rule *writing*)."""
    kinds = [_line_or_writing(mark, *strength.shape) for mark in marks]
    rule, measured = RULE["writing"], {"dashes": kinds.count("writing")}
    if rule.refuses(measured):  # letters joined into words, in lines: a page of text
        raise NotADigit(name, rule.says(measured, lines=_text_lines(strength)), rule.name, measured)
    marks = [mark for mark, kind in zip(marks, kinds) if not kind]
    if not marks:
        raise NotADigit(name, "only lines or specks")
    tallest = max(mark.tall for mark in marks)
    most = max(mark.ink for mark in marks)
    return ([mark for mark in marks if max(mark.tall, mark.wide) >= SPECK_SIZE * tallest and mark.ink >= SPECK_INK * most],
            measured["dashes"])


def _the_number(marks, name):
    """Step 4: the line of marks with the most ink, left to right; a smaller mark off it is a speck, a digit-sized
    one another line of writing (NotANumber, as more than MAX_DIGITS marks are)."""
    marks = sorted(marks, key=lambda mark: mark.top + mark.bottom)
    typical = float(np.median([mark.tall for mark in marks]))
    rows = [[marks[0]]]
    for before, mark in zip(marks, marks[1:]):
        if mark.middle - before.middle > NEW_LINE * typical:
            rows.append([])
        rows[-1].append(mark)
    number = max(rows, key=lambda row: sum(mark.ink for mark in row))
    height = float(np.median([mark.tall for mark in number]))
    lines = 1 + sum(any(mark.tall >= DIGIT_SIZED * height for mark in row) for row in rows if row is not number)
    if lines > 1 or len(number) > MAX_DIGITS:
        count = sum(len(row) for row in rows)
        others = [[mark for mark in row if mark.tall >= DIGIT_SIZED * height] for row in rows if row is not number]
        raise NotANumber(f"{name}: {count} marks in {lines} line{'s' * (lines > 1)}: more than one number "
                         f"holds (one line of at most {MAX_DIGITS} digits); crop the image to the number",
                         [number] + [row for row in others if row])
    return sorted(number, key=lambda mark: mark.left)


def _with_ticks_joined(marks):
    """Step 5: a small mark just beside a digit, with little ink (TICK_*), is part of it."""
    joined = marks[:1]
    for mark in marks[1:]:
        before = joined[-1]
        small, big = sorted((before, mark), key=lambda m: m.tall)
        if (small.tall < TICK_HEIGHT * big.tall and small.ink < TICK_INK * big.ink
                and mark.left - before.right <= TICK_GAP * big.tall):
            joined[-1] = before.joined(mark)
        else:
            joined.append(mark)
    return joined


def small_letters(marks):
    """Rule *print*'s measure of a line of marks: how many are of a small letter's height (X_HEIGHT of the others')
    with their tops and bottoms level, on the baseline of TYPE_MARKS or more marks of one height (within TYPE_EVEN);
    0 where no marks stand as evenly as type sets them. Handwritten digits vary in height and baseline more."""
    tall = np.array([mark.tall for mark in marks], float)
    tops = np.array([mark.top for mark in marks], float)
    bottoms = np.array([mark.bottom for mark in marks], float)
    most = 0
    for height in sorted(set(tall)):
        even = max(TYPE_EVEN * height, TYPE_PIXELS)
        same = np.abs(tall - height) <= even
        if same.sum() < TYPE_MARKS:
            continue
        on_line = np.abs(bottoms - np.median(bottoms[same])) <= even
        if np.sum(same & on_line) < TYPE_MARKS:
            continue
        small = on_line & (tall >= X_HEIGHT[0] * height) & (tall <= X_HEIGHT[1] * height)
        for top in tops[small]:
            most = max(most, int(np.sum(small & (np.abs(tops - top) <= even))))
    return most


def _marks(strength, name):
    """The digit-like marks of an ink map, left to right ([Mark]), the labels array and the dashes of writing left
    out (the measure of *writing*): the ink's pieces
    (`_pieces`), stacked pieces joined (`_stacked`), a paper's lines, writing and specks left out
    (`_without_lines_and_specks`), the number's line (`_the_number`), and ticks joined to their digits
    (`_with_ticks_joined`).

    Raises:
        NotADigit: nothing digit-like (only lines or specks), or words (dashes of joined letters) in several
            lines; NotANumber: digit-sized marks in several lines, or more than MAX_DIGITS.
    """
    pieces, labels = _pieces(strength, name)
    marks, dashes = _without_lines_and_specks(_stacked(pieces), strength, name)
    try:
        return _with_ticks_joined(_the_number(marks, name)), labels, dashes
    except NotANumber as error:
        error.labels = labels
        raise


def stroke_measures(mine, strength=None):
    """A mark's shape as a pen draws it (`mine`: its ink, a boolean array of its box; `strength`: the ink map of the
    same box): {"pieces": separate pieces of 2 % or more of its ink, "width": its typical stroke width over its
    height, "uneven": its thickest stroke over its typical one, "wide": its width over its height, "holes": pieces of
    paper it encloses, "tones": the share of its ink that is mid-grey, "faint": the share of its strokes' middle lines
    fainter than a third of its strong ink (its 95th percentile), "soft": the share of its ink under half the ink's
    contrast if its typical stroke is THICK of its height or more, else 0 (a thin stroke is all edge: blurred, it is
    soft throughout; a thick one is soft only at its edges)}. Stroke widths are twice the distance transform
    on the strokes' middle lines (the ridge of `distance_transform_edt`)."""
    height, width = mine.shape
    distance = ndimage.distance_transform_edt(np.pad(mine, 1))[1:-1, 1:-1]
    ridge = mine & (distance > 0) & (distance == ndimage.maximum_filter(distance, 3))
    typical = float(np.median(distance[ridge])) if ridge.any() else 0.0
    thickest = float(np.percentile(distance[ridge], 95)) if ridge.any() else 0.0
    pieces, count = ndimage.label(mine, structure=np.ones((3, 3), bool))
    sizes = np.bincount(pieces.ravel())[1:] if count else np.zeros(1)
    # Holes: pieces of the paper inside the mark that do not reach its box's edge (and hold more than a speck).
    paper, count = ndimage.label(np.pad(~mine, 1, constant_values=True))
    areas = np.bincount(paper.ravel())[1:]
    holes = int(np.sum(areas[1:] >= max(4, 0.002 * mine.size))) if count > 1 else 0  # label 1: the outside
    values = strength[mine] if strength is not None and mine.any() else np.ones(1)
    middle = strength[ridge] if strength is not None and ridge.any() else np.ones(1)
    return {"pieces": int(np.sum(sizes >= 0.02 * sizes.max())), "width": 2 * typical / height,
            "uneven": thickest / typical if typical else 0.0, "wide": width / height, "holes": holes,
            "tones": float(np.mean((values > 0.15) & (values < 0.85))),
            "faint": float(np.mean(middle < 0.35 * np.percentile(values, 95))),
            "soft": float(np.mean(values < 0.5)) if 2 * typical / height >= THICK else 0.0}


def refused_by(measures):
    """The first rule of the mark alone (RULES, in order) that refuses a mark of these `stroke_measures`, or None
    for a digit."""
    return next((rule for rule in RULES if rule.stage == "mark" and rule.refuses(measures)), None)


def not_a_digit(measures, lines=1):
    """What a mark is instead of a handwritten digit (words for the refusal), or None for a digit."""
    rule = refused_by(measures)
    return rule.says(measures, lines=lines) if rule else None


def judge(digits, probabilities, name="image", found=None):
    """The models' part of the judgement (after `read_number` and `predict`): each rule of stage "models" in turn
    (RULES), over the digits' measures with each digit's *doubt* (`agreement`) written into them where `weigh` has
    not (it measures the fields before the page's sliders change them). A mark the judge
    network finds a letter or a drawing (*drawing*, where `answer_image` was given the judge) is no digit; nor is
    one most of the models do not read alike that the judge does not find a digit's beyond doubt (*doubt*); nor one
    whose strokes are uneven and that some model reads otherwise (*disagreed*). Each measure alone happens in real
    digits; the refusals study measures what each pair of thresholds costs (docs/your_digits.md).

    `found`: the models' `agreement` on `probabilities` where the caller has it (`weigh`'s `Answer`).

    Raises:
        NotADigit: such a mark.
    """
    found = agreement(probabilities) if found is None else found
    for digit, read in zip(digits, found["digits"]):
        if digit.measures is not None:
            digit.measures.setdefault("doubt", read["doubt"])
    for rule in RULES:
        if rule.stage != "models":
            continue
        for k, (digit, read) in enumerate(zip(digits, found["digits"])):
            if digit.measures and rule.refuses(digit.measures):
                raise NotADigit(name, rule.says(digit.measures, models=read["models"], of=found["of"],
                                                digit=read["digit"], reads=_read_as(probabilities, k)),
                                rule.name, digit.measures)
    return found


def _surround(sheet, strength, labels, box, own):
    """How uneven the paper around a mark is, against the ink's contrast: the spread (interquartile range) of the
    brightness in a band a stroke wide just outside its ink, over how far its ink lies from that band's median.
    A pen's stroke has paper on both sides (a shadow's edge or the light's fall-off moves it a little); the edge
    of a bright region in a photo, which the paper's level leaves behind as a band of "ink", has the bright
    region on one side and the dark one on the other."""
    top, bottom, left, right = box
    margin = max(4, (bottom - top + 1) // 4)
    rows = slice(max(0, top - margin), bottom + 1 + margin)
    cols = slice(max(0, left - margin), right + 1 + margin)
    window = strength[rows, cols]
    mine = np.isin(labels[rows, cols], own) & (window > INK_THRESHOLD)
    # Outside the ink and whatever it encloses: a 0's paper inside it, or a blot's middle that the paper's level
    # (a third of the image wide) took for paper.
    inked = ndimage.binary_fill_holes(window > INK_THRESHOLD)
    wide = max(2, int(round(_stroke_width(mine))))
    band = ndimage.binary_dilation(mine, iterations=2 + wide) & ~ndimage.binary_dilation(inked, iterations=2)
    core = mine & (window > 0.5)
    if not band.any() or not core.any():
        return 0.0
    paper = sheet[rows, cols][band]
    low, middle, high = np.percentile(paper, [25, 50, 75])
    contrast = abs(middle - float(np.median(sheet[rows, cols][core])))
    return float((high - low) / contrast) if contrast else 0.0


def _text_lines(strength):
    """How many lines the small pieces of ink of an image stand in (letters' lines on a page of text)."""
    pieces, count = ndimage.label(strength > INK_THRESHOLD, structure=np.ones((3, 3), bool))
    if not count:
        return 0
    boxes = [box for box in ndimage.find_objects(pieces) if box is not None]
    middles = sorted((box[0].start + box[0].stop) / 2 for box in boxes)
    typical = float(np.median([box[0].stop - box[0].start for box in boxes]))
    return 1 + sum(after - before > 0.6 * typical for before, after in zip(middles, middles[1:]))


def _measured(mark, sheet, strength, labels):
    """A mark's `stroke_measures`, with its *surround*."""
    top, bottom, left, right, own = mark.top, mark.bottom, mark.left, mark.right, list(mark.labels)
    crop = strength[top : bottom + 1, left : right + 1]
    mine = np.isin(labels[top : bottom + 1, left : right + 1], own)
    measures = stroke_measures(mine & (crop > INK_THRESHOLD), crop)
    measures["surround"] = _surround(sheet, strength, labels, (top, bottom, left, right), own)
    return measures


LINE_MARKS = 12  # the largest marks of a line measured to tell whether it is a line of digits (it is if most are)


def _several_lines(error, sheet, strength, name):
    """What several lines of marks (or one of more than MAX_DIGITS) are: `error` itself (NotANumber) where two
    lines, or the one, are of digit-like marks (most of each line's largest LINE_MARKS pass the rules of a mark);
    else NotADigit with what the rules saw in most of the marks that are not digit-like (a piano's keys, the stars
    of a sky: no numbers there to crop to)."""
    digit_lines, refused = 0, []
    for line in error.lines:
        largest = sorted(line, key=lambda mark: -mark.ink)[:LINE_MARKS]
        found = [(refused_by(measures), measures) for measures in
                 (_measured(mark, sheet, strength, error.labels) for mark in largest)]
        found = [(rule, measures) for rule, measures in found if rule]
        digit_lines += len(found) < len(largest) / 2
        refused += found
    if digit_lines >= min(2, len(error.lines)) or not refused:
        return error
    names = [rule.name for rule, _ in refused]
    most = max(dict.fromkeys(names), key=names.count)  # of equals, the first seen
    return _not_a_digit(name, *next(found for found in refused if found[0].name == most), strength)


def _not_a_digit(name, rule, measures, strength):
    """The refusal `rule` makes of a mark of these `measures` (a mark of letters: with the lines of letters counted
    over the whole ink map)."""
    return NotADigit(name, rule.says(measures, lines=_text_lines(strength) if rule.name == "letters" else 1),
                     rule.name, measures)


def read_number(grey, name="image", scale=1.0):
    """The digits of a greyscale image (H, W) that holds one number (or one digit), left to right: [Digit].

    The sheet's surroundings are taken away (`on_the_sheet`), the ink found (`ink`), a paper's printed rules
    taken away (`without_rules`), the digit-like marks found (`_marks`), and each made an MNIST field (`field`):
    its own ink in its box, other marks' ink left out. `scale`: the image's pixels per pixel of `grey` (the
    boxes are given in the image's pixels).

    Before it is answered, each mark must be a handwritten digit's (`stroke_measures`, `not_a_digit`): strokes of
    one width, a small part of its height, not a filled or uneven shape, not letters, not far wider than high, not
    an outline around a faint middle, with the same paper on both sides (`_surround`). The models' part of the
    judgement comes after they answer (`judge`).

    Raises:
        NoInk: an image without contrast; NotADigit: ink that is no handwritten digit (the message says what it is
        instead); NotANumber: more than one number could hold.
    """
    sheet = on_the_sheet(np.asarray(grey, dtype="float32"))
    strength = without_rules(*ink(sheet, name))
    try:
        marks, labels, dashes = _marks(strength, name)
    except NotANumber as error:
        raise _several_lines(error, sheet, strength, name) from None
    # the measures of the number's line, kept with each digit's own as the rules' evidence (the refusals study)
    line = {RULE["writing"].measure: dashes, RULE["print"].measure: small_letters(marks)}
    if RULE["print"].refuses(line):
        raise NotADigit(name, RULE["print"].says(line), "print", line)
    digits = []
    for mark in marks:
        top, bottom, left, right = mark.top, mark.bottom, mark.left, mark.right
        crop = strength[top : bottom + 1, left : right + 1]
        region = labels[top : bottom + 1, left : right + 1]
        mine = np.isin(region, list(mark.labels))
        measures = {**_measured(mark, sheet, strength, labels), **line}
        rule = refused_by(measures)
        if rule:
            raise _not_a_digit(name, rule, measures, strength)
        crop = np.where(ndimage.binary_dilation((region > 0) & ~mine, iterations=2) & ~mine, 0.0, crop)
        box = tuple(int(round(value * scale)) for value in (left, top, right + 1, bottom + 1))
        digits.append(Digit(box, field(crop), measures))
    return digits


def predict(models, fields):
    """{norm: probabilities} for one MNIST-like field (28, 28): 10 each; for several (n, 28, 28): (n, 10) each."""
    pixels = np.asarray(fields, dtype="float32")
    many = pixels.ndim == 3
    answers = {norm: np.asarray(run(pixels.reshape(-1, FIELD, FIELD, 1))).astype(float) for norm, run in models.items()}
    return answers if many else {norm: values[0] for norm, values in answers.items()}


def number(probabilities):
    """The number (a string) that (n, 10) probabilities spell, left to right."""
    return "".join(str(int(digit)) for digit in np.argmax(probabilities, axis=1))


def describe(probabilities):
    order = np.argsort(probabilities)[::-1]
    return (f"{order[0]} ({100 * probabilities[order[0]]:.1f}%, "
            f"runner-up {order[1]} {100 * probabilities[order[1]]:.1f}%)")


def describe_number(probabilities):
    """One model's answer for a number: the number and its least sure digit (`describe` for a single digit)."""
    if len(probabilities) == 1:
        return describe(probabilities[0])
    least = int(np.argmin(probabilities.max(axis=1)))
    order = np.argsort(probabilities[least])[::-1]
    return (f"{number(probabilities)} (least sure: digit {least + 1}, {order[0]} at "
            f"{100 * probabilities[least, order[0]]:.1f}%, runner-up {order[1]} {100 * probabilities[least, order[1]]:.1f}%)")


UNSURE = 0.6  # a digit whose most-read answer the models give with less than this (median) probability is unsure


def majority(answers):
    """The models' one majority rule: (the answer most of `answers` give, how many give it, whether another answer
    is given as often). Where two tie, the smaller is named, so that the same answers always give the same number;
    a tied answer is no majority's (the refusals study counts it as not read right)."""
    counts = {answer: answers.count(answer) for answer in answers}
    chosen = max(sorted(counts), key=counts.get)
    return chosen, counts[chosen], sum(count == counts[chosen] for count in counts.values()) > 1


def _read_as(probabilities, k):
    """What the models read digit `k` as, in words, the most read first: "4 (3 of 5), 9 or 1"."""
    reads = [int(np.argmax(values[k])) for values in probabilities.values()]
    order = sorted(set(reads), key=lambda digit: (-reads.count(digit), digit))
    words = [f"{digit} ({reads.count(digit)} of {len(reads)})" if reads.count(digit) > 1 else str(digit)
             for digit in order]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def agreement(probabilities):
    """How far the models agree: {"number": the number most of them read, "models": how many read it, "of": how many
    models, "digits": [{"digit", "models", "confidence": the median probability those models give it, "doubt": the
    share of the models that read it otherwise (the rule *doubt*'s measure), "flag": *doubt*'s words, "models
    disagree", "unsure" or None}]} for {norm: (n, 10) probabilities}."""
    numbers = [number(values) for values in probabilities.values()]
    common = majority(numbers)[0]
    doubtful = RULE["doubt"]
    digits = []
    for k in range(len(common)):
        reads = [int(np.argmax(values[k])) for values in probabilities.values()]
        digit = majority(reads)[0]
        confidence = float(np.median([values[k][digit] for values in probabilities.values()
                                      if int(np.argmax(values[k])) == digit]))
        doubt = round(1 - reads.count(digit) / len(reads), 4)
        flag = (doubtful.says({}, reads=_read_as(probabilities, k)) if doubt >= doubtful.threshold
                else "models disagree" if doubt else "unsure" if confidence < UNSURE else None)
        digits.append({"digit": digit, "models": reads.count(digit), "confidence": round(confidence, 4),
                       "doubt": doubt, "flag": flag})
    return {"number": common, "models": numbers.count(common), "of": len(numbers), "digits": digits}


def describe_agreement(found):
    """The text line's verdict: "5 of 5 models read 3496", with the digits to check flagged."""
    flags = [f"digit {k + 1}: {digit['flag']}" for k, digit in enumerate(found["digits"]) if digit["flag"]]
    return f"{found['models']} of {found['of']} models read {found['number']}" + (
        f" (check {'; '.join(flags)})" if flags else "")


class Answer(NamedTuple):
    """What the reader made of an image: its greyscale and scale (the file's pixels per pixel of it), the digits left
    to right ([Digit]), the fields the models saw ((n, 28, 28)), each model's probabilities ({norm: (n, 10)}) and the
    models' `agreement`."""

    grey: np.ndarray
    scale: float
    digits: list
    fields: np.ndarray
    probabilities: dict
    found: dict


def weigh(models, grey, name="image", scale=1.0, adjust=None, judge_fn=None):
    """An image's digits (`read_number`), the judge's and the models' answers on them, before the models' part of
    the judgement (`judge`): the `Answer` the image gets if no rule of stage "models" refuses it, each digit's
    measures holding its *drawing* (with `judge_fn`) and *doubt*. `adjust`: a function of the fields (n, 28, 28)
    before the models see them (the page's sliders). `judge_fn`: the judge network (`mnist_norm.judge.load`),
    fields (n, 28, 28, 1) -> P(not a digit) (n,), which sees each field as the reader made it, as *doubt* does.

    Raises:
        ImageError: refused before the models answer (NoInk, NotADigit with what was seen, NotANumber).
    """
    digits = read_number(grey, name, scale)
    fields = np.stack([digit.field for digit in digits])
    if judge_fn is not None:
        for digit, doubt in zip(digits, np.asarray(judge_fn(fields[..., None])).reshape(-1)):
            digit.measures["drawing"] = float(doubt)
    probabilities = predict(models, fields)
    for digit, read in zip(digits, agreement(probabilities)["digits"]):
        digit.measures["doubt"] = read["doubt"]
    if adjust is not None:  # the rules judge the mark as drawn; the sliders change only what the models are shown
        fields = adjust(fields)
        probabilities = predict(models, fields)
    return Answer(grey, scale, digits, fields, probabilities, agreement(probabilities))


def answer_image(models, grey, name="image", scale=1.0, adjust=None, judge_fn=None):
    """The one way from an image to an answer (predict.py, the drawing page, the refusals study and the tests): the
    image weighed (`weigh`: its digits, the judge's and the models' answers) and judged (`judge`).

    Raises:
        ImageError: refused (NoInk, NotADigit with what was seen, NotANumber), the reason in its message.
    """
    weighed = weigh(models, grey, name, scale, adjust, judge_fn)
    judge(weighed.digits, weighed.probabilities, name, weighed.found)
    return weighed


def answer(models, path, judge_fn=None):
    """`answer_image` for the image file at `path`.

    Raises:
        ImageError: the file cannot be read, holds no digit, or more than one number could hold.
    """
    grey, scale = read_image(path, scaled=True)
    return answer_image(models, grey, path, scale, judge_fn=judge_fn)


def answers(models, paths, judge_fn=None):
    """(path, Answer or the ImageError that refused it) for each image file, in order."""
    for path in paths:
        try:
            yield path, answer(models, path, judge_fn)
        except ImageError as error:
            yield path, error


def refusal_json(path, error):
    """The JSON object of one refused image: its error, the refusal's kind and, for no digit, what was seen."""
    return {"image": path, "error": str(error), "refused": refusal(error),
            **({"seen": error.seen} if isinstance(error, NotADigit) else {})}


def as_json(path, answered):
    """The JSON object of one answered image (an `Answer`): each model's number, each digit's box and probabilities,
    and for an image of one digit each model's probabilities under "models" as well (as before numbers were read)."""
    digits, probabilities, found = answered.digits, answered.probabilities, answered.found
    line = {"image": path, "number": {norm: number(values) for norm, values in probabilities.items()},
            "agreement": {key: found[key] for key in ("number", "models", "of")},
            "digits": [{"box": list(digit.box), "agreement": found["digits"][k],
                        "models": {norm: [round(p, 6) for p in values[k].tolist()] for norm, values in probabilities.items()}}
                       for k, digit in enumerate(digits)]}
    if len(digits) == 1:
        line["models"] = line["digits"][0]["models"]
    return line
