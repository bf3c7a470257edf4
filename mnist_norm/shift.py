"""Input shift: the trained models on test images that differ from the training images.

    python shift.py                                   # the committed study: results/ -> results/shift/
    python shift.py --models outputs --seeds 1 --output-dir outputs/shift   # what the notebook just trained

Every shift is made from the test images alone and is deterministic (its random draws come from a
generator seeded by the shift's name): the clean test set; contrast x0.5 and x0.25 (every pixel times
the factor: fainter ink on the same black); a grey background (128 + pixel, clipped: ink kept);
inversion; Gaussian noise (sd 48); and six corruptions in the manner of MNIST-C (Mu & Gilmer 2019,
made here, not downloaded; parameters ours): shot noise, impulse noise, translate, rotate, scale, shear.

BN is evaluated twice: with its moving averages (what Keras does at test time) and with the statistics
of each test batch ("prediction-time BN", Nado et al. 2020) at several test-batch sizes. GN, LN and the
control compute the same either way. Models are read from <models>/<norm>/seed-<k>/model.keras
(or <models>/<norm>/model.keras for a run of one seed). Writes summary.json and shift.png.
"""

import os
import sys
import zlib

import numpy as np

import machine
import quiet_tf
import results
import rundir
import variants

# TensorFlow, Keras and the data pipeline are imported where they are needed, after quiet_tf.start(): the drawing
# page (draw.py) applies this module's pixel shifts and starts without TensorFlow.

DEFAULT_TEST_BATCHES = (8, 128, 1000)


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _affine(images, matrices):
    """Applies per-image 2x3 output->input maps (bilinear, black outside), images (N, 28, 28, 1) 0-255."""
    quiet_tf.start()
    import keras

    rows = np.concatenate([matrices.reshape(len(images), 6), np.zeros((len(images), 2))], axis=1)
    out = keras.ops.image.affine_transform(images.astype("float32"), rows.astype("float32"),
                                           interpolation="bilinear", fill_mode="constant", fill_value=0)
    return keras.ops.convert_to_numpy(out)


def _about_centre(linear, offset=(0.0, 0.0)):
    """Output->input maps for `linear` (N, 2, 2, acting on (x, y) about the image centre) then a shift."""
    centre = np.array([13.5, 13.5])
    matrices = np.zeros((len(linear), 2, 3))
    matrices[:, :, :2] = linear
    matrices[:, :, 2] = centre - linear @ centre - np.asarray(offset)
    return matrices


def _random_sign(rng, count):
    return rng.choice([-1.0, 1.0], size=count)


def rotate(images, name="rotate"):
    """Each image rotated by 30-45 degrees, either way."""
    rng = _rng(name)
    angles = np.deg2rad(rng.uniform(30, 45, len(images)) * _random_sign(rng, len(images)))
    cos, sin = np.cos(angles), np.sin(angles)
    return _affine(images, _about_centre(np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)))


def shear(images, name="shear"):
    """Each image sheared horizontally by a factor 0.4-0.6, either way."""
    rng = _rng(name)
    factors = rng.uniform(0.4, 0.6, len(images)) * _random_sign(rng, len(images))
    linear = np.tile(np.eye(2), (len(images), 1, 1))
    linear[:, 0, 1] = factors
    return _affine(images, _about_centre(linear))


def scale(images, name="scale"):
    """Each image shrunk to 0.5-0.6 of its size about the centre."""
    factors = _rng(name).uniform(0.5, 0.6, len(images))
    return _affine(images, _about_centre(np.eye(2)[None] / factors[:, None, None]))


def translate(images, name="translate"):
    """Each image moved by 5-6 pixels along each axis, either way (digits partly leave the frame)."""
    rng = _rng(name)
    offsets = rng.integers(5, 7, (len(images), 2)) * rng.choice([-1, 1], (len(images), 2))
    out = np.zeros_like(images)
    for i, (dx, dy) in enumerate(offsets):
        out[i] = np.roll(images[i], (dy, dx), axis=(0, 1))
        out[i, (slice(None, dy) if dy > 0 else slice(28 + dy, None))] = 0  # what rolled in from the other side
        out[i, :, (slice(None, dx) if dx > 0 else slice(28 + dx, None))] = 0
    return out


def shot_noise(images, name="shot noise"):
    """Poisson noise: each pixel a photon count with 60 photons for full ink."""
    return _rng(name).poisson(images / 255.0 * 60) / 60 * 255.0


def impulse_noise(images, name="impulse noise"):
    """Salt and pepper: 10 % of the pixels set to 0 or 255."""
    rng = _rng(name)
    out = images.astype("float64").copy()
    hit = rng.random(images.shape) < 0.10
    out[hit] = 255.0 * (rng.random(int(hit.sum())) < 0.5)
    return out


def gaussian_noise(images, name="gaussian noise"):
    """Additive Gaussian noise, standard deviation 48 (of 255)."""
    return images + _rng(name).normal(0.0, 48.0, images.shape)


def _described(about, function):
    function.__doc__ = about
    return function


SHIFTS = {
    "clean": _described("The test images as they are.", lambda x: x),
    "contrast 0.5": _described("Every pixel times 0.5: fainter ink on the same black.", lambda x: x * 0.5),
    "contrast 0.25": _described("Every pixel times 0.25.", lambda x: x * 0.25),
    "grey background": _described("128 added to every pixel, clipped at 255: grey paper, ink kept.",
                                  lambda x: x + 128.0),
    "inverted": _described("255 minus every pixel: dark ink on white.", lambda x: 255.0 - x),
    "gaussian noise": gaussian_noise,
    "shot noise": shot_noise,
    "impulse noise": impulse_noise,
    "translate": translate,
    "rotate": rotate,
    "scale": scale,
    "shear": shear,
}


def adjusted(images, contrast=1.0, background=0.0, noise=0.0):
    """The study's pixel shifts at any strength, as draw.py's sliders apply them: every pixel times `contrast`
    (fainter ink), plus `background` (grey paper), plus Gaussian noise of standard deviation `noise` (drawn as
    the study's "gaussian noise" draws it); rounded and clipped to 0-255 like `apply_shift`."""
    shifted = np.asarray(images, dtype="float64") * contrast + background
    if noise:
        shifted = shifted + _rng("gaussian noise").normal(0.0, noise, shifted.shape)
    return np.clip(np.rint(shifted), 0, 255).astype("float32")


def apply_shift(name, images):
    """The test images (N, 28, 28, 1), 0-255, under shift `name`, as float32 pixels rounded to 0-255 integers."""
    if name not in SHIFTS:
        raise ValueError(f"unknown shift {name!r}; expected one of {', '.join(SHIFTS)}")
    shifted = SHIFTS[name](np.asarray(images, dtype="float64"))
    return np.clip(np.rint(shifted), 0, 255).astype("float32")


def batch_statistics_forward(network):
    """The network in training mode, traced once, for `predict_with_batch_statistics`."""
    import tensorflow as tf

    return tf.function(lambda x: network(x, training=True), reduce_retracing=True)


def predict_with_batch_statistics(network, images, batch_size, forward=None):
    """Logits when every BN layer normalizes with the statistics of the test batch it sits in.

    Test batches are taken in order; the last one may be smaller. Calling the model in training
    mode also moves BN's moving averages (which training mode never reads), so evaluate with the
    moving averages before this, not after. Pass `forward` (batch_statistics_forward) when calling
    this for many image sets of one network.
    """
    import tensorflow as tf

    forward = forward or batch_statistics_forward(network)
    return np.concatenate([forward(tf.constant(images[start : start + batch_size], tf.float32)).numpy()
                           for start in range(0, len(images), batch_size)])


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def evaluate(models_dir, images, labels, norms, seeds, test_batches, shifts=tuple(SHIFTS)):
    """Rows {"norm", "seed", "mode", "shift", "accuracy"} for every model found."""
    shifted = {name: apply_shift(name, images) for name in shifts}
    rows = []
    for norm in norms:
        for seed in seeds:
            run_dir = rundir.find_run(models_dir, norm, seed, "model")  # <norm>/seed-<k>/, or <norm>/ (one seed)
            if run_dir is None:
                continue
            network = rundir.load_trained_model(run_dir)
            mode = results.inference_mode(norm)  # moving averages for BN; the others: no batch dependence
            for name, x in shifted.items():  # moving averages first: batch statistics move them
                logits = network.predict(x, batch_size=1000, verbose=0)
                rows.append({"norm": norm, "seed": seed, "mode": mode, "shift": name,
                             "accuracy": accuracy(logits, labels)})
            if norm in variants.BATCH_DEPENDENT:
                forward = batch_statistics_forward(network)
                for batch in test_batches:
                    for name, x in shifted.items():
                        rows.append({"norm": norm, "seed": seed, "mode": results.batch_statistics_mode(batch),
                                     "shift": name,
                                     "accuracy": accuracy(predict_with_batch_statistics(network, x, batch, forward),
                                                             labels)})
            clean = [r["accuracy"] for r in rows if r["norm"] == norm and r["seed"] == seed and r["shift"] == "clean"]
            print(f"{norm} seed {seed} ({rundir.file(run_dir, 'model')}): clean {100 * clean[0]:.2f}%, "
                  + ", ".join(f"{r['shift']} {100 * r['accuracy']:.1f}%" for r in rows
                              if r["norm"] == norm and r["seed"] == seed and r["mode"] == mode
                              and r["shift"] != "clean"), flush=True)
    return rows


def parse_args(argv=None):
    import data as data_lib

    parser = rundir.Parser(prog="shift.py", description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="results", help=f"folder with {rundir.layout(rundir.FILES['model'])}")
    parser.add_argument("--output-dir", default=os.path.join("results", "shift"))
    parser.add_argument("--norm", nargs="+", choices=variants.ALL_NORMS, default=list(variants.ALL_NORMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--test-batches", type=int, nargs="+", default=list(DEFAULT_TEST_BATCHES),
                        help="test-batch sizes for BN with batch statistics")
    parser.add_argument("--data", choices=data_lib.SOURCES, default="bundled")
    parser.add_argument("--data-dir")
    parser.add_argument("--test-limit", type=int, help="only the first N test images")
    parser.add_argument("--debug", action="store_true", help="show TensorFlow's C++ log lines")
    args = parser.parse_args(argv)
    if min(args.test_batches) < 1:
        parser.error(f"--test-batches must all be >= 1; received {min(args.test_batches)}")
    if args.test_limit is not None and args.test_limit < 1:
        parser.error(f"--test-limit must be >= 1; received {args.test_limit}")
    if not os.path.isdir(args.models):
        parser.error(f"--models {args.models!r} is not a folder")
    return args


def main(argv=None):
    quiet_tf.start()
    import data as data_lib
    import plots

    args = parse_args(argv)
    try:
        _, (images, labels) = data_lib.load_mnist(args.data, args.data_dir)
    except (data_lib.DataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    images, labels = images[: args.test_limit], labels[: args.test_limit]
    rows = evaluate(args.models, images, labels, args.norm, args.seeds, sorted(set(args.test_batches)))
    if not rows:
        print(f"error: no {rundir.FILES['model']} under {args.models!r} for {', '.join(args.norm)} and seeds "
              f"{', '.join(map(str, args.seeds))}", file=sys.stderr)
        return 1
    summary = {"test_images": len(images), "data": data_lib.source_name(args.data, args.data_dir),
               "models": os.path.relpath(args.models), "shifts": {name: SHIFTS[name].__doc__.strip() for name in SHIFTS},
               "runs": rows, **machine.environment()}
    examples = {name: apply_shift(name, images[:1])[0, :, :, 0] for name in SHIFTS}
    try:  # a full disk or a folder that cannot be written: one line, as every command ends
        os.makedirs(args.output_dir, exist_ok=True)
        rundir.write_json(rundir.summary_path(args.output_dir), summary)
        rundir.save_figure(plots.plot_shift(rows, variants.NORM_LABELS, examples),
                           os.path.join(args.output_dir, "shift.png"))
    except OSError as error:
        print(f"error: cannot write in {args.output_dir}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"wrote {rundir.summary_path(args.output_dir)} and shift.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
