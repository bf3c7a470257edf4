"""shift.py: deterministic shifts of the test images, BN's batch statistics, and the committed study."""

import json
import os

import keras
import numpy as np
import pytest

from mnist_norm import data
from mnist_norm import network as model
from mnist_norm import variants
from mnist_norm import shift
import shift as shift_command
from mnist_norm import rundir  # noqa: E402

from conftest import committed, ROOT  # noqa: E402
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def digits():
    # A few real test digits (the bundled files ship with the project).
    _, (images, labels) = data.load_idx_dir(os.path.join(ROOT, "data", "mnist"))
    return images[:64], labels[:64]


@pytest.mark.parametrize("name", list(shift.SHIFTS))
def test_every_shift_is_deterministic_and_stays_an_image(name, digits):
    images = digits[0]
    first, again = shift.apply_shift(name, images), shift.apply_shift(name, images)
    np.testing.assert_array_equal(first, again)
    assert first.shape == images.shape and first.dtype == np.float32
    assert first.min() >= 0 and first.max() <= 255 and np.array_equal(first, np.rint(first))
    if name == "clean":
        np.testing.assert_array_equal(first, images)
    else:
        assert np.abs(first - images).mean() > 1.0, "a shift must change the images"
    assert shift.SHIFTS[name].__doc__, "each shift says what it does (summary.json carries it)"


def test_pixel_shifts_are_what_their_names_say(digits):
    images = digits[0].astype("float32")
    np.testing.assert_array_equal(shift.apply_shift("contrast 0.5", images), np.rint(images * 0.5))
    np.testing.assert_array_equal(shift.apply_shift("inverted", images), 255 - images)
    grey = shift.apply_shift("grey background", images)
    assert np.all(grey[images == 0] == 128) and np.all(grey[images >= 127] == 255)


def test_geometric_shifts_move_the_ink_not_remove_it(digits):
    images = digits[0].astype("float32")
    mass = images.sum(axis=(1, 2, 3))
    for name in ("rotate", "shear"):
        moved = shift.apply_shift(name, images)
        assert np.median(moved.sum(axis=(1, 2, 3)) / mass) == pytest.approx(1.0, abs=0.1), name
    scaled = shift.apply_shift("scale", images).sum(axis=(1, 2, 3)) / mass
    assert 0.2 < np.median(scaled) < 0.45  # 0.5-0.6 of the size: about a third of the ink area
    translated = shift.apply_shift("translate", images)
    rows = np.arange(28)[None, :, None, None]
    com_before = (images * rows).sum(axis=(1, 2, 3)) / mass
    com_after = (translated * rows).sum(axis=(1, 2, 3)) / np.maximum(translated.sum(axis=(1, 2, 3)), 1)
    assert np.median(np.abs(com_after - com_before)) > 3


def test_unknown_shift_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown shift 'blur'; expected one of clean, contrast 0.5"):
        shift.apply_shift("blur", np.zeros((1, 28, 28, 1)))


def _bn_with_realistic_moving_statistics(images):
    keras.utils.set_random_seed(4)
    net = model.build_model("bn")
    for _ in range(30):  # training-mode calls move the averages towards these images' statistics
        net(images, training=True)
    return net


def test_batch_statistics_undo_any_contrast_and_brightness_change_of_the_whole_batch(digits):
    # The first conv has no bias and no padding: a * x + b on the whole batch reaches BN as a per-channel scale
    # and shift, which the batch's own mean and variance remove, exactly but for BN's epsilon (which is added
    # to a variance that a shrinks by a**2). With epsilon near 0 the logits agree to float precision.
    images = digits[0].astype("float32")
    net = _bn_with_realistic_moving_statistics(images)
    changes = ((0.25, 0.0), (0.5, 100.0), (2.0, -30.0))
    for scale, offset in changes:
        # The moving averages know nothing of the change: the same images give other logits.
        moving_clean = np.asarray(net(images, training=False))
        moving_changed = np.asarray(net(images * scale + offset, training=False))
        assert np.abs(moving_changed - moving_clean).max() > 0.2 * np.abs(moving_clean).max()
    errors = {}
    for epsilon in (1e-3, 1e-7):
        for layer in net.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.epsilon = epsilon
        forward = shift.batch_statistics_forward(net)  # traced anew: a trace keeps the epsilon it saw
        clean = shift.predict_with_batch_statistics(net, images, len(images), forward)
        errors[epsilon] = max(np.abs(shift.predict_with_batch_statistics(net, images * a + b, len(images), forward)
                                     - clean).max() / np.abs(clean).max() for a, b in changes)
    assert errors[1e-7] < 1e-3 and errors[1e-7] < errors[1e-3] / 10, errors


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("models")
    for norm in variants.available():
        keras.utils.set_random_seed(1)
        net = _bn_with_realistic_moving_statistics(digits[0].astype("float32")) if norm == "bn" else \
            model.build_model(norm)
        os.makedirs(folder / norm / "seed-1")
        net.save(folder / norm / "seed-1" / "model.keras")
    return folder


@pytest.mark.slow
def test_evaluate_covers_every_model_mode_and_shift(tiny_models, digits):
    images, labels = digits
    rows = shift.evaluate(str(tiny_models), images, labels, model.ALL_NORMS, [1, 2], [8, 32])
    modes = {(r["norm"], r["mode"]) for r in rows}
    batch = ("moving_averages", "batch_statistics_8", "batch_statistics_32")
    assert modes == {(norm, mode) for norm in variants.available()
                     for mode in (batch if norm in variants.BATCH_DEPENDENT else ("inference",))}
    assert {"bn", "gn", "ln", "in", "none"} <= {norm for norm, _ in modes}
    assert len(rows) == len(modes) * len(shift.SHIFTS)  # seed 2 has no model: skipped, not an error
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and row["seed"] == 1
    # Batch statistics at batch 32 on the clean images equal the model in training mode, batch by batch.
    net = keras.saving.load_model(tiny_models / "bn" / "seed-1" / "model.keras")
    expected = np.mean(np.concatenate([np.asarray(net(images[i:i + 32].astype("float32"), training=True)).argmax(1)
                                       for i in range(0, 64, 32)]) == labels)
    got = next(r["accuracy"] for r in rows if r["mode"] == "batch_statistics_32" and r["shift"] == "clean")
    assert got == pytest.approx(expected)


@pytest.mark.slow
def test_cli_writes_summary_and_figure_and_refuses_a_missing_models_folder(tiny_models, tmp_path, capsys):
    from conftest import write_mnist_dir

    os.makedirs(tmp_path / "mnist")
    mnist = write_mnist_dir(tmp_path / "mnist", train_count=16, test_count=40)
    out = tmp_path / "shift"
    assert shift_command.main(["--models", str(tiny_models), "--seeds", "1", "--data-dir", mnist, "--output-dir", str(out),
                       "--test-batches", "8"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_images"] == 40 and set(summary["shifts"]) == set(shift.SHIFTS)
    assert {r["norm"] for r in summary["runs"]} == set(variants.available())
    assert (out / "shift.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(SystemExit) as info:
        shift_command.parse_args(["--models", str(tmp_path / "nowhere")])
    assert info.value.code == 2 and "is not a folder" in capsys.readouterr().err
    assert shift_command.main(["--models", str(tmp_path), "--data-dir", mnist, "--output-dir", str(tmp_path / "x")]) == 1
    assert "no model.keras under" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert shift_command.main(["--models", str(tiny_models), "--seeds", "1", "--data-dir", mnist, "--output-dir",
                       str(blocker / "shift"), "--test-batches", "8", "--norm", "gn"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: cannot write in {blocker / 'shift'}: Not a directory"], errors


def test_committed_study_covers_everything_and_recomputes_from_the_committed_models():
    with open(os.path.join(ROOT, "results", "shift", "summary.json")) as handle:
        summary = json.load(handle)
    runs = summary["runs"]
    assert len(summary["shifts"]) >= 10 and "clean" in summary["shifts"]
    # The study's models (the variants after GN have a shift summary of their own: results/after_gn/shift/).
    studied = {r["norm"] for r in runs}
    assert {"bn", "gn", "ln", "in", "none"} <= studied <= set(committed())
    for norm in studied:
        assert {r["seed"] for r in runs if r["norm"] == norm} == {1, 2, 3}, norm
    assert {r["mode"] for r in runs if r["norm"] == "bn"} >= {"moving_averages", "batch_statistics_8",
                                                               "batch_statistics_128", "batch_statistics_1000"}
    assert summary["test_images"] == 10000 and summary["models"] == "results"
    # Recompute a few numbers from the committed models on the bundled test set (float rounding may flip a few
    # of the 10,000 predictions on another CPU: 0.1 point allowed).
    _, (images, labels) = data.load_idx_dir(os.path.join(ROOT, "data", "mnist"))
    checks = [("bn", 1, "moving_averages", "contrast 0.25"), ("bn", 1, "batch_statistics_1000", "contrast 0.25"),
              ("none", 2, "inference", "grey background")]
    for norm, seed, mode, name in checks:
        recorded = next(r["accuracy"] for r in runs
                        if (r["norm"], r["seed"], r["mode"], r["shift"]) == (norm, seed, mode, name))
        net = rundir.load_trained_model(os.path.join(ROOT, "results", norm, f"seed-{seed}"))
        x = shift.apply_shift(name, images)
        logits = (shift.predict_with_batch_statistics(net, x, 1000) if mode.startswith("batch")
                  else net.predict(x, batch_size=1000, verbose=0))
        assert shift.accuracy(logits, labels) == pytest.approx(recorded, abs=1e-3), (norm, seed, mode, name)


def test_the_drawing_pages_sliders_are_the_studys_own_shifts(digits):
    images = digits[0][:20]
    assert np.array_equal(shift.adjusted(images, contrast=0.25), shift.apply_shift("contrast 0.25", images))
    assert np.array_equal(shift.adjusted(images, background=128), shift.apply_shift("grey background", images))
    assert np.array_equal(shift.adjusted(images, noise=48), shift.apply_shift("gaussian noise", images))
    assert np.array_equal(shift.adjusted(images), shift.apply_shift("clean", images))
