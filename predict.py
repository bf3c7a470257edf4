"""Shows your own digit images to the exported models: each model's digit, its probability and the runner-up.

    python predict.py my_digit.jpg                         # the models that come with the clone (results/)
    python predict.py a.png b.jpg --models outputs         # the models a train.py run exported
    python predict.py a.png --runtime litert-int8          # the int8 LiteRT files (deploy.py export)
    python predict.py a.png --json                         # one JSON object per line, for scripts
    python predict.py a.png --show predictions.png         # the image as the models see it, and their probabilities

A phone photo, a scan or a drawing app's export (PNG, JPEG, BMP, GIF, ..., any size, grey or colour) is read
upright (EXIF), its paper's uneven light taken away, and its ink made MNIST-like the way MNIST itself was made:
white on black, cropped, scaled to fit 20 x 20 keeping its aspect ratio, placed in 28 x 28 by its centre of mass.
The models: <models>/<norm>/seed-1/ (the committed study and control) or <models>/<norm>/ (a one-seed train.py
run); by default their LiteRT float32 files when every model has one (the LiteRT interpreter alone: no TensorFlow
is imported), else their SavedModels (plain `tf.saved_model.load`).

An image that cannot be answered gets one line naming it and what is wrong; the others are still
answered. Exit status: 0, 1 if any image failed (or no models were found), 2 for bad flags.
"""

import collections
import json
import os
import sys
import threading

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

import quiet_tf
import rundir
import variants

FIELD, BOX = 28, 20  # MNIST: the digit scaled into 20 x 20, centred by mass in 28 x 28
INK_THRESHOLD = 0.1  # fraction of the ink's contrast that counts as ink when cropping
MAX_PIXELS = 100_000_000  # larger images are refused from their header, before any decoding
WORK_SIDE = 1024  # a larger photo is reduced to about this longest side before the ink is looked for
RUNTIMES = {"savedmodel": "saved_model", "litert": "model.tflite", "litert-int8": "model_int8.tflite"}
AUTO = "auto"  # LiteRT float32 where every model found has its model.tflite (no TensorFlow needed), else SavedModel
_OPEN_LOCK = threading.Lock()  # Pillow's own pixel limit is a module setting: lifted for one open at a time


class ImageError(ValueError):
    """An image that cannot be made into an MNIST digit, or models that cannot be loaded (the message says)."""


def find_models(models_dir, runtime="savedmodel"):
    """{norm: model path} for the models found under `models_dir` (seed 1 when several; the control too)."""
    name = RUNTIMES[runtime]
    found = {}
    for norm in variants.ALL_NORMS:
        for folder in (os.path.join(models_dir, norm, "seed-1"), os.path.join(models_dir, norm)):
            path = os.path.join(folder, name)
            if os.path.isfile(os.path.join(path, "saved_model.pb") if runtime == "savedmodel" else path):
                found[norm] = path
                break
    return found


def load_models(models_dir, runtime=AUTO):
    """{norm: function raw 0-255 pixels (N, 28, 28, 1) -> (N, 10) probabilities (NumPy)}.

    runtime: "savedmodel" (plain `tf.saved_model.load`), "litert" (model.tflite, float32) or "litert-int8"
    (model_int8.tflite), both run with the LiteRT interpreter (deploy.py writes them), or "auto": "litert" where
    every model found has its model.tflite, else "savedmodel". Only "savedmodel" imports TensorFlow.
    """
    if not os.path.isdir(models_dir):
        raise ImageError(f"--models {models_dir!r}: no such folder")
    if runtime == AUTO:
        saved, found = find_models(models_dir, "savedmodel"), find_models(models_dir, "litert")
        runtime = "litert" if found and set(found) >= set(saved) else "savedmodel"
        found = found if runtime == "litert" else saved
    else:
        found = find_models(models_dir, runtime)
    if not found:
        hint = ("train.py writes them" if runtime == "savedmodel"
                else f"`python deploy.py export --runs {models_dir}` writes them")
        raise ImageError(f"--models {models_dir!r}: no {'SavedModel' if runtime == 'savedmodel' else RUNTIMES[runtime]}"
                         f" found (expected <norm>/seed-1/{RUNTIMES[runtime]} or <norm>/{RUNTIMES[runtime]} for "
                         f"{', '.join(variants.ALL_NORMS)}; {hint})")
    if runtime != "savedmodel":
        return {norm: LiteRTModel(path) for norm, path in found.items()}
    quiet_tf.start()
    import tensorflow as tf

    def serving(path):
        serve = tf.saved_model.load(path).signatures["serve"]
        return lambda pixels: next(iter(serve(tf.constant(pixels, tf.float32)).values())).numpy()

    return {norm: serving(path) for norm, path in found.items()}


class LiteRTModel:
    """A .tflite file as a function: raw 0-255 pixels (N, 28, 28, 1) -> (N, 10) float probabilities.

    Runs with the LiteRT interpreter (`ai-edge-litert`, no TensorFlow). Quantized inputs and outputs are converted
    with the file's own scale and zero point. The interpreter is resized only when the batch size changes, as a
    server keeping one batch size would.
    """

    def __init__(self, path, threads=1):
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.interpreter import Interpreter

        if not os.path.isfile(path):
            raise ImageError(f"{path}: no such file")
        with open(path, "rb") as handle:
            content = handle.read()
        try:
            # Read through once in Python first: older LiteRT runtimes crash on a truncated file, not raise.
            self.graph = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
            with quiet_tf.cpp_lines_filtered():
                self.interpreter = Interpreter(model_content=content, num_threads=threads)
                self.interpreter.allocate_tensors()
        except Exception as error:  # struct.error, IndexError, ValueError, RuntimeError: all mean a bad file
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ImageError(f"{path}: not a LiteRT model, or a damaged one ({message})")
        self.operators = schema.BuiltinOperator
        self.path = path
        self.input, = self.interpreter.get_input_details()
        self.output, = self.interpreter.get_output_details()
        self.batch = int(self.input["shape"][0])

    def ops(self):
        """{op name: count} of the converted graph as the file holds it (before any delegate takes ops over)."""
        names = {code: name for name, code in vars(self.operators).items() if not name.startswith("_")}
        codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in self.graph.operatorCodes]
        return dict(collections.Counter(names[codes[op.opcodeIndex]] for op in self.graph.subgraphs[0].operators))

    def resize(self, batch):
        if batch != self.batch:
            self.interpreter.resize_tensor_input(self.input["index"], [batch, 28, 28, 1])
            self.interpreter.allocate_tensors()
            self.batch = batch

    def __call__(self, pixels):
        pixels = np.asarray(pixels, dtype="float32")
        self.resize(len(pixels))
        scale, zero = self.input["quantization"]
        if self.input["dtype"] != np.float32:
            info = np.iinfo(self.input["dtype"])
            pixels = np.clip(np.round(pixels / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], pixels.astype(self.input["dtype"]))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        scale, zero = self.output["quantization"]
        return (out.astype("float32") - zero) * scale if self.output["dtype"] != np.float32 else out.copy()


def _open(handle, name):
    """Pillow's image of an open file, its header read (no pixels decoded yet)."""
    with _OPEN_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # ours is checked below, with the size named
        try:
            return Image.open(handle)
        except (UnidentifiedImageError, SyntaxError, ValueError):
            raise ImageError(f"{name}: not a PNG, JPEG, BMP or GIF image")
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
        raise ImageError(f"{name}: truncated or damaged {image.format or 'image'} file ({error})")
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
        raise ImageError(f"{path}: no such file")
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file")
    except PermissionError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror or error})")


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
        raise ImageError(f"{name}: no ink found (the image is blank)")
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
                        help="folder with <norm>/seed-1/<model> or <norm>/<model> (default: %(default)s)")
    parser.add_argument("--runtime", choices=(AUTO, *RUNTIMES), default=AUTO,
                        help="savedmodel (saved_model/), litert (model.tflite, float32) or litert-int8 "
                             "(model_int8.tflite), the LiteRT files deploy.py writes; auto: litert where every "
                             "model has its model.tflite (no TensorFlow needed), else savedmodel "
                             "(default: %(default)s)")
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
        models = load_models(args.models, args.runtime)
    except ImageError as error:
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
