"""Shows your own digit images to the exported models: each model's digit, its probability and the runner-up.

    python predict.py my_digit.jpg                         # the models that come with the clone (results/)
    python predict.py a.png b.jpg --models outputs         # the models a train.py run exported
    python predict.py a.png --runtime litert-int8          # the int8 LiteRT files (deploy.py export; runtimes.py)
    python predict.py a.png --json                         # one JSON object per line, for scripts
    python predict.py a.png --show predictions.png         # the image as the models see it, and their probabilities

A phone photo, a scan or a drawing app's export (PNG, JPEG, BMP, GIF, ..., any size, grey or colour) is read
upright (EXIF), its paper's uneven light taken away, and its ink made MNIST-like the way MNIST itself was made:
white on black, cropped, scaled to fit 20 x 20 keeping its aspect ratio, placed in 28 x 28 by its centre of mass.
The models: <models>/<norm>/seed-1/ (the committed study and control) or <models>/<norm>/ (a one-seed train.py
run), through runtimes.py: by default their LiteRT float32 files when every model has one (the LiteRT interpreter
alone: no TensorFlow is imported), else their Keras models.

An image that cannot be answered gets one line naming it and what is wrong; the others are still
answered. Exit status: 0, 1 if any image failed (or no models were found), 2 for bad flags.
"""

import json
import os
import sys
import threading

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import rundir
import runtimes
import variants

FIELD, BOX = 28, 20  # MNIST: the digit scaled into 20 x 20, centred by mass in 28 x 28
INK_THRESHOLD = 0.1  # fraction of the ink's contrast that counts as ink when cropping
MAX_PIXELS = 100_000_000  # larger images are refused from their header, before any decoding
WORK_SIDE = 1024  # a larger photo is reduced to about this longest side before the ink is looked for
_OPEN_LOCK = threading.Lock()  # Pillow's own pixel limit is a module setting: lifted for one open at a time


class ImageError(ValueError):
    """An image that cannot be made into an MNIST digit (the message says why)."""


class NoInk(ImageError):
    """A readable image with nothing drawn or written on it."""


def _open(handle, name):
    """Pillow's image of an open file, its header read (no pixels decoded yet)."""
    with _OPEN_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # ours is checked below, with the size named
        try:
            return Image.open(handle)
        except (UnidentifiedImageError, SyntaxError, ValueError):
            raise ImageError(f"{name}: not a PNG, JPEG, BMP or GIF image") from None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def decode(handle, name="image"):
    """An image file (an open binary file) as a float greyscale array (H, W) in 0-255, upright.

    Photos larger than about WORK_SIDE are reduced while decoding (a JPEG at a DCT scale, then a box filter):
    MNIST's 20 x 20 box needs far fewer pixels, and a 12-megapixel photo is then read in a fraction of a
    second. The JPEG's EXIF orientation is applied. Transparent images: the ink is what is opaque, whatever
    its colour, laid on paper of the opposite brightness.
    """
    image = _open(handle, name)
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: {width} x {height} pixels ({width * height / 1e6:,.0f} megapixels) is more than "
                         f"predict.py reads ({MAX_PIXELS / 1e6:.0f} megapixels); scale it down first")
    try:
        if image.format == "JPEG" and max(width, height) > 2 * WORK_SIDE:
            image.draft("RGB" if image.mode not in ("L", "1") else "L",
                        (width * WORK_SIDE // max(width, height), height * WORK_SIDE // max(width, height)))
        image.load()  # a truncated or damaged file fails here
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{name}: truncated or damaged {image.format or 'image'} file ({error})") from error
    factor = max(image.size) // WORK_SIDE
    if factor > 1:
        image = image.reduce(factor)
    if image.mode.startswith("I"):  # 16- or 32-bit integer greyscale (16-bit scans)
        grey = np.asarray(image, dtype="float32")
        return grey * (255.0 / 65535.0) if grey.max() > 255 else grey
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    pixels = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype="float32")
    grey = pixels[..., :3] @ np.array([0.299, 0.587, 0.114], dtype="float32")  # ITU-R 601 luma, as MNIST's scans
    if has_alpha:
        alpha = pixels[..., 3] / 255.0
        if alpha.min() < 0.5:  # drawn on a transparent layer: the alpha channel holds the ink
            ink_colour = float((grey * alpha).sum() / max(alpha.sum(), 1e-6))
            paper = 0.0 if ink_colour > 127 else 255.0
            grey = grey * alpha + paper * (1.0 - alpha)
    return grey


def read_image(path):
    """The file at `path` decoded by `decode`: (H, W) float greyscale in 0-255."""
    try:
        with open(path, "rb") as handle:
            return decode(handle, path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file") from None
    except PermissionError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror or error})") from error


def _pool(values, size, kind):
    """A size x size sliding max, min or mean of a 2-D array (same shape; `size` odd; the edges repeat)."""
    padded = np.pad(np.asarray(values, dtype="float32"), size // 2, mode="edge")
    reduce = {"mean": np.mean, "max": np.max, "min": np.min}[kind]
    for axis in (0, 1):  # separable: along the rows, then the columns
        padded = reduce(np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis), axis=-1)
    return padded


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
    grid = _pool(_pool(grid, window, "min"), window, "max")
    grid = _pool(grid, 3, "mean")
    level = _resize(grid, (rows * block, cols * block))
    return level[:height, :width]


def ink(grey, name="image"):
    """The ink of a greyscale image (H, W) as a map in 0-1 (1: the darkest ink against its own paper).

    Which side is ink is tried both ways (the ink lies further from the median brightness). The paper's own
    brightness is estimated locally (`paper_level`) and taken away, so light that falls off across a page or a
    shadow is not taken for ink; what remains is kept where it stands out of the paper's noise, and scaled by
    the ink's contrast.

    Raises:
        ImageError: no ink stands out (one brightness throughout, or noise only).
    """
    grey = np.asarray(grey, dtype="float32")
    # A photo's noise is averaged over 3 x 3 pixels (a stroke is wider than that once the photo is this large).
    grey = _pool(grey, 3, "mean") if min(grey.shape) >= 64 else grey
    # Which side is ink: tried both ways, each finds what stands out of its paper; on the wrong side that is
    # the paper around and inside the strokes, on the right side the ink, which lies further from the image's
    # median brightness (the paper's, as ink is the minority).
    middle = float(np.median(grey))
    candidates = []
    for sign, ink_up in ((1.0, grey), (-1.0, 255.0 - grey)):
        raised = ink_up - paper_level(ink_up)
        contrast = float(np.percentile(raised, 99.9))
        standing_out = raised > 0.5 * contrast
        distance = sign * (float(grey[standing_out].mean()) - middle) if standing_out.any() else 0.0
        candidates.append((distance, contrast, raised))
    _, contrast, raised = max(candidates, key=lambda candidate: candidate[0])
    noise = 1.4826 * float(np.median(np.abs(raised)))  # the paper's spread (ink is a minority of pixels)
    if contrast < max(16.0, 8.0 * noise):  # nothing stands out of the paper by more than ~6 % of the range
        raise NoInk(f"{name}: no ink found (the image is blank)")
    floor = 3.0 * noise
    return np.clip((raised - floor) / (contrast - floor), 0.0, 1.0)


def ink_box(mask):
    """(top, bottom, left, right) of the digit in a boolean ink mask: the box holding all but 1 % of the ink
    at each side, grown for as long as the next row or column still holds ink. A speck of noise or a mark at
    the page's edge, apart from the digit, stays out; the digit's own faint ends stay in."""
    top, bottom, left, right = 0, mask.shape[0] - 1, 0, mask.shape[1] - 1
    for _ in range(2):  # rows within the digit's columns, then columns within its rows
        top, bottom = _bounds(mask[:, left : right + 1].sum(axis=1))
        left, right = _bounds(mask[top : bottom + 1].sum(axis=0))
    return top, bottom, left, right


def _bounds(profile):
    cumulative = np.cumsum(profile) / max(profile.sum(), 1)
    low, high = int(np.searchsorted(cumulative, 0.01)), int(np.searchsorted(cumulative, 0.99))
    while low > 0 and profile[low - 1] > 0:
        low -= 1
    while high < len(profile) - 1 and profile[high + 1] > 0:
        high += 1
    return low, high


def mnist_like(grey, name="image"):
    """A greyscale image (H, W) as an MNIST digit: (28, 28) float32 in 0-255, white ink on black.

    The ink (`ink`) cropped to where it exceeds INK_THRESHOLD, scaled to fit 20 x 20 keeping its aspect ratio,
    and placed in 28 x 28 by its centre of mass, as MNIST was made.

    Raises:
        ImageError: the image has no ink.
    """
    strength = ink(grey, name)
    top, bottom, left, right = ink_box(strength > INK_THRESHOLD)
    digit = strength[top : bottom + 1, left : right + 1]
    height, width = digit.shape
    factor = BOX / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    digit = _resize(digit, size)
    digit = np.clip(digit, 0.0, 1.0)
    total = digit.sum()
    centre_row = (digit.sum(axis=1) * np.arange(digit.shape[0])).sum() / total
    centre_col = (digit.sum(axis=0) * np.arange(digit.shape[1])).sum() / total
    top = int(np.clip(round((FIELD - 1) / 2 - centre_row), 0, FIELD - digit.shape[0]))
    left = int(np.clip(round((FIELD - 1) / 2 - centre_col), 0, FIELD - digit.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype="float32")
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return field * 255.0


def predict(models, field):
    """{norm: 10 probabilities} for one MNIST-like field (28, 28)."""
    pixels = np.asarray(field, dtype="float32")[None, :, :, None]
    return {norm: np.asarray(run(pixels))[0].astype(float) for norm, run in models.items()}


def describe(probabilities):
    order = np.argsort(probabilities)[::-1]
    return (f"{order[0]} ({100 * probabilities[order[0]]:.1f}%, "
            f"runner-up {order[1]} {100 * probabilities[order[1]]:.1f}%)")


def parse_args(argv=None):
    parser = rundir.Parser(prog="predict.py", description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, BMP or GIF files")
    parser.add_argument("--models", default="results",
                        help=f"folder with {rundir.layout('<model>', seed=1)} (default: %(default)s)")
    parser.add_argument("--runtime", choices=(runtimes.AUTO, *runtimes.NAMES, *runtimes.ALIASES),
                        default=runtimes.AUTO,
                        help=", ".join(f"{name} ({rundir.FILES[runtimes.FILE_KINDS[name]]})" for name in runtimes.NAMES)
                        + "; the LiteRT files deploy.py writes; auto: litert-f32 where every model has its file (no "
                          "TensorFlow needed), else keras; savedmodel and litert: earlier names of keras and "
                          "litert-f32 (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image and line")
    parser.add_argument("--show", metavar="FILE", help="write a PNG figure of the images and probabilities")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if args.show and not args.show.lower().endswith(".png"):
        parser.error(f"--show {args.show!r}: the figure is a PNG; give a file name ending in .png")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        models = runtimes.load_models(args.models, args.runtime)
    except runtimes.ModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed, shown = 0, []
    for path in args.images:
        try:
            field = mnist_like(read_image(path), path)
        except ImageError as error:
            failed += 1
            if args.json:
                print(json.dumps({"image": path, "error": str(error)}))
            print(f"error: {error}", file=sys.stderr)
            continue
        probabilities = predict(models, field)
        shown.append((os.path.basename(path), field, probabilities))
        if args.json:
            print(json.dumps({"image": path, "models": {n: [round(p, 6) for p in v.tolist()]
                                                        for n, v in probabilities.items()}}))
        else:
            print(f"{path}: " + "; ".join(f"{variants.NORM_LABELS[n]} {describe(v)}"
                                          for n, v in probabilities.items()))
    if args.show and shown:
        import plots

        rundir.save_figure(plots.plot_predictions(shown, variants.NORM_LABELS), args.show)
        if not args.json:
            print(f"wrote {args.show}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
