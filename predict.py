"""Shows your own digit images to the exported models: each model's digit, its probability and the runner-up.

    python predict.py my_digit.png                         # the SavedModels that come with the clone (results/)
    python predict.py a.png b.jpg --models outputs         # the models a train.py run exported
    python predict.py a.png --json                         # one JSON object per line, for scripts
    python predict.py a.png --show predictions.png         # the image as the models see it, and their probabilities

Any PNG, JPEG, BMP or GIF (its first frame), any size, grey or colour, is made MNIST-like the way MNIST
itself was made: greyscale (transparent parts count as white paper), ink made white on black when the
background is light, cropped to the ink, scaled to fit 20 x 20 keeping its aspect ratio, and placed in a
28 x 28 field by its centre of mass. The models read <models>/<norm>/seed-1/saved_model (the committed
study) or <models>/<norm>/saved_model (a one-seed train.py run), with plain `tf.saved_model.load`.

An image that cannot be answered gets one line naming it and what is wrong; the others are still
answered. Exit status: 0, 1 if any image failed (or no models were found), 2 for bad flags.
"""

import json
import os
import sys

import quiet_tf  # noqa: E402

quiet_tf.start()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import model as model_lib  # noqa: E402
import train  # noqa: E402

FIELD, BOX = 28, 20  # MNIST: the digit scaled into 20 x 20, centred by mass in 28 x 28
INK_THRESHOLD = 0.1  # fraction of the darkest-to-lightest range that counts as ink when cropping


class ImageError(ValueError):
    """An image that cannot be made into an MNIST digit (the message names what is wrong)."""


def find_models(models_dir):
    """{norm: SavedModel folder} for the three variants found under `models_dir` (seed 1 when several)."""
    found = {}
    for norm in model_lib.NORMS:
        for candidate in (os.path.join(models_dir, norm, "seed-1", "saved_model"),
                          os.path.join(models_dir, norm, "saved_model")):
            if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
                found[norm] = candidate
                break
    return found


def load_models(models_dir):
    """{norm: serving function raw 0-255 pixels (N, 28, 28, 1) -> (N, 10) probabilities}."""
    if not os.path.isdir(models_dir):
        raise ImageError(f"--models {models_dir!r}: no such folder")
    found = find_models(models_dir)
    if not found:
        raise ImageError(f"--models {models_dir!r}: no SavedModel found (expected <norm>/seed-1/saved_model or "
                         f"<norm>/saved_model for {', '.join(model_lib.NORMS)}; train.py writes them)")
    return {norm: tf.saved_model.load(path).signatures["serve"] for norm, path in found.items()}


def read_image(path):
    """The file at `path` decoded to a float greyscale array (H, W) in 0-255 on white-as-paper terms."""
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file")
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image file")
    except OSError as error:
        raise ImageError(f"{path}: cannot be read ({error.strerror or error})")
    try:
        image = tf.io.decode_image(content, expand_animations=False).numpy().astype("float32")
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        raise ImageError(f"{path}: not a PNG, JPEG, BMP or GIF image")
    channels = image.shape[-1]
    if channels in (2, 4):  # transparency over white paper
        alpha = image[..., -1:] / 255.0
        image = image[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    if image.shape[-1] == 3:
        image = tf.image.rgb_to_grayscale(image).numpy()
    return image[..., 0]


def mnist_like(grey, name="image"):
    """A greyscale image (H, W) as an MNIST digit: (28, 28) float32 in 0-255, white ink on black.

    Raises:
        ImageError: the image has no ink (one brightness throughout, or almost).
    """
    grey = np.asarray(grey, dtype="float32")
    paper = np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]]))
    if paper > 127:  # light paper: make the ink white on black, as in MNIST
        grey, paper = 255.0 - grey, 255.0 - paper
    grey = grey - paper
    span = grey.max()
    if span < 16:  # nothing differs from the paper by more than ~6 % of the range
        raise ImageError(f"{name}: no ink found (the image is blank)")
    grey = np.clip(grey / span, 0.0, 1.0)
    rows, cols = np.nonzero(grey > INK_THRESHOLD)
    digit = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = digit.shape
    factor = BOX / max(height, width)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    digit = tf.image.resize(digit[..., None], size, method="area" if factor < 1 else "bilinear",
                            antialias=True).numpy()[..., 0]
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
    pixels = tf.constant(field[None, :, :, None], tf.float32)
    return {norm: next(iter(serve(pixels).values())).numpy()[0].astype(float) for norm, serve in models.items()}


def describe(probabilities):
    order = np.argsort(probabilities)[::-1]
    return (f"{order[0]} ({100 * probabilities[order[0]]:.1f}%, "
            f"runner-up {order[1]} {100 * probabilities[order[1]]:.1f}%)")


def parse_args(argv=None):
    parser = train._Parser(prog="predict.py", description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG, BMP or GIF files")
    parser.add_argument("--models", default="results",
                        help="folder with <norm>/seed-1/saved_model or <norm>/saved_model (default: %(default)s)")
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
        models = load_models(args.models)
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
            print(f"{path}: " + "; ".join(f"{model_lib.NORM_LABELS[n]} {describe(v)}"
                                          for n, v in probabilities.items()))
    if args.show and shown:
        import plots

        train.save_figure(plots.plot_predictions(shown, model_lib.NORM_LABELS), args.show)
        if not args.json:
            print(f"wrote {args.show}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
