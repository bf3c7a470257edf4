"""Input shift as a library: the shifts (`SHIFTS`, `apply_shift`, `adjusted`), BN with test-batch statistics,
and the study (`study`: its rows, summary and figure). shift.py is the command; its docstring says what each shift is
and where the models are read from.
"""

import os
import zlib

import numpy as np

from . import machine
from . import quiet_tf
from . import results
from . import rundir
from . import variants

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
    rows, seen = [], set()
    for norm in norms:
        for seed in seeds:
            run_dir = rundir.find_run(models_dir, norm, seed, "model")  # <norm>/seed-<k>/, or <norm>/ (one seed)
            if run_dir is None:
                continue
            if run_dir in seen:  # a one-seed layout: <norm>/ answers for every seed asked; it is one model
                print(f"{norm}: only one run ({run_dir}); seed {seed} is not a model of its own")
                continue
            seen.add(run_dir)
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


# IN's blindness to every pixel becoming a*x + b (a > 0), measured on its trained model: exact but for the ε in
# its sqrt(σ² + ε), which weighs more as a shrinks the variance.
INVARIANCE_IMAGES = 1000
INVARIANCE_SETTINGS = ((0.25, 0.0), (0.3, 100.0), (0.5, 40.0), (3.0, -200.0))


def invariance(network, images, settings=INVARIANCE_SETTINGS):
    """For each (a, b): the largest change of any of the ten probabilities over `images` when every pixel becomes
    a*x + b (not clipped or rounded: the invariance itself), and how many answers change."""
    from . import network as network_lib

    before = network_lib.predict_probabilities(network, images)
    moves = []
    for a, b in settings:
        after = network_lib.predict_probabilities(network, a * images.astype("float32") + b)
        moves.append({"a": a, "b": b, "largest_probability_change": float(np.abs(after - before).max()),
                      "answers_changed": int(np.sum(after.argmax(1) != before.argmax(1)))})
    return moves


def in_invariance(models_dir, images, seed):
    """The invariance of IN's model of `seed` in `models_dir` on the first INVARIANCE_IMAGES test images, or None
    when there is no such model: {"norm", "seed", "images", "epsilon", "moves"}."""
    run_dir = rundir.find_run(models_dir, variants.INSTANCE, seed, "model")
    if run_dir is None:
        return None
    network = rundir.load_trained_model(run_dir)
    epsilon = next(layer.epsilon for layer in network.layers if layer.name.endswith("_norm"))
    images = images[:INVARIANCE_IMAGES]
    return {"norm": variants.INSTANCE, "seed": seed, "images": len(images), "epsilon": epsilon,
            "moves": invariance(network, images)}


def summarize(rows, images, source, models_dir, invariance_of_in=None):
    """The study's summary.json: the rows, what each shift does, the data, the models' folder and the machine."""
    return {"test_images": len(images), "data": source, "models": os.path.relpath(models_dir),
            "shifts": {name: SHIFTS[name].__doc__.strip() for name in SHIFTS}, "runs": rows,
            **({"in_invariance": invariance_of_in} if invariance_of_in else {}), **machine.environment()}


def figure(rows, images):
    """The study's figure (shift.png): accuracy under each shift, with each shift's first test image."""
    from . import plots

    examples = {name: apply_shift(name, images[:1])[0, :, :, 0] for name in SHIFTS}
    return plots.plot_shift(rows, variants.NORM_LABELS, examples)


class NoModels(LookupError):
    """No model.keras of the asked variants and seeds in the models' folder."""


def study(models_dir, output_dir, norms, seeds, test_batches=DEFAULT_TEST_BATCHES, data="bundled", data_dir=None,
          test_limit=None):
    """The input-shift study of the models of `norms` x `seeds` in `models_dir`: writes summary.json and shift.png in
    `output_dir` (a file of unchanged bytes is left alone, the figure drawn only when the summary changed or is
    missing) and returns the summary. Raises NoModels when there is none, data.DataError or OSError."""
    from . import data as data_lib

    _, (images, labels) = data_lib.load_mnist(data, data_dir)
    images, labels = images[:test_limit], labels[:test_limit]
    rows = evaluate(models_dir, images, labels, norms, seeds, sorted(set(test_batches)))
    if not rows:
        raise NoModels(f"no {rundir.FILES['model']} under {models_dir!r} for {', '.join(norms)} and seeds "
                       f"{', '.join(map(str, seeds))}")
    measured = in_invariance(models_dir, images, seeds[0]) if variants.INSTANCE in norms else None
    summary = summarize(rows, images, data_lib.source_name(data, data_dir), models_dir, measured)
    os.makedirs(output_dir, exist_ok=True)
    changed = rundir.write_json(rundir.summary_path(output_dir), summary)
    path = os.path.join(output_dir, "shift.png")
    if changed or not os.path.exists(path):
        rundir.save_figure(figure(rows, images), path)
    return summary
