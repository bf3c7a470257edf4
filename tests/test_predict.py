"""predict.py on real digit image files, the committed SavedModels, and one line for each bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import data
import model
import predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")
COUNT = 30  # test digits written as files in each form


@pytest.fixture(scope="module")
def test_set():
    _, (images, labels) = data.load_idx_dir(os.path.join(ROOT, "data", "mnist"))
    return images, labels


@pytest.fixture(scope="module")
def models():
    return predict.load_models(RESULTS)


@pytest.mark.parametrize("norm", model.NORMS)
def test_committed_saved_models_load_with_plain_tensorflow_and_match_their_result(norm, test_set):
    path = os.path.join(RESULTS, norm, "seed-1", "saved_model")
    loaded = tf.saved_model.load(path)  # no project code: what a user elsewhere does
    serve = loaded.signatures["serve"]
    spec, = serve.structured_input_signature[1].values()
    assert spec.shape.as_list() == [None, 28, 28, 1] and spec.dtype == tf.float32
    images, labels = test_set
    probabilities = np.concatenate([loaded.serve(tf.constant(images[i:i + 2500].astype("float32"))).numpy()
                                    for i in range(0, len(images), 2500)])  # raw 0-255 pixels in
    assert probabilities.shape == (10000, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    with open(os.path.join(RESULTS, norm, "seed-1", "result.json")) as handle:
        result = json.load(handle)
    # The whole test set (a second's work) against the study's numbers: its accuracy (float rounding on another
    # CPU may flip a prediction or two) and the most confident mistakes it lists.
    predicted = probabilities.argmax(axis=1)
    assert np.mean(predicted == labels) == pytest.approx(result["final_accuracy"], abs=3e-4)
    assert [int(predicted[m["index"]]) for m in result["misclassified"]] == [
        m["predicted"] for m in result["misclassified"]]


def write_forms(folder, images):
    """Each digit as files in other forms: enlarged PNG, inverted JPEG, RGB BMP, off-centre GIF."""
    forms = {}
    for i, image in enumerate(images[:, :, :, 0]):
        big = np.kron(image, np.ones((4, 4), dtype=np.uint8))  # 112 x 112
        forms.setdefault("enlarged png", []).append(_save(folder / f"big{i}.png", big))
        forms.setdefault("inverted jpeg", []).append(_save(folder / f"inv{i}.jpg", 255 - image, quality=95))
        rgb = np.stack([image, image // 2, image // 3], axis=-1)  # ink in colour on black
        forms.setdefault("rgb bmp", []).append(_save(folder / f"rgb{i}.bmp", rgb))
        canvas = np.zeros((60, 80), dtype=np.uint8)
        canvas[3:31, 45:73] = image
        forms.setdefault("off-centre gif", []).append(_save(folder / f"off{i}.gif", canvas))
    return forms


def _save(path, array, **options):
    Image.fromarray(array).save(path, **options)
    return str(path)


def test_digits_in_other_forms_get_the_models_own_answers(tmp_path, test_set, models, capsys):
    images, labels = test_set
    images = images[:COUNT]
    reference = {norm: np.argmax(next(iter(serve(tf.constant(images.astype("float32"))).values())).numpy(), axis=1)
                 for norm, serve in models.items()}
    forms = write_forms(tmp_path, images)
    agree, total = 0, 0
    for form, paths in forms.items():
        for i, path in enumerate(paths):
            probabilities = predict.predict(models, predict.mnist_like(predict.read_image(path), path))
            for norm, values in probabilities.items():
                agree += int(np.argmax(values) == reference[norm][i])
                total += 1
    # MNIST's own recipe (crop, 20 x 20, centre of mass) redone on a redrawn digit moves it by a pixel at most.
    assert total == len(forms) * COUNT * 3 and agree / total >= 0.95, f"{agree} of {total}"


def test_cli_answers_each_image_and_refuses_bad_ones_with_one_line_each(tmp_path, test_set):
    images, _ = test_set
    good = _save(tmp_path / "seven.png", 255 - images[0, :, :, 0])  # test image 0 is a 7, drawn dark on light
    blank = _save(tmp_path / "blank.png", np.full((40, 40), 200, dtype=np.uint8))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    folder = tmp_path / "a_folder.png"
    folder.mkdir()
    missing = str(tmp_path / "missing.png")
    command = [sys.executable, "predict.py", good, missing, str(text), blank, str(folder), good, "--json",
               "--show", str(tmp_path / "shown.png")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image"] for line in lines] == [good, missing, str(text), blank, str(folder), good]
    answered = [line for line in lines if "models" in line]
    assert len(answered) == 2 and set(answered[0]["models"]) == set(model.NORMS)
    for line in answered:
        for probabilities in line["models"].values():
            assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1, abs=1e-4)
            assert int(np.argmax(probabilities)) == 7
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {missing}: no such file", f"error: {text}: not a PNG, JPEG, BMP or GIF image",
                      f"error: {blank}: no ink found (the image is blank)",
                      f"error: {folder}: is a folder, not an image file"]
    assert "Traceback" not in result.stderr
    assert (tmp_path / "shown.png").read_bytes().startswith(b"\x89PNG")


def test_plain_output_names_digit_probability_and_runner_up(tmp_path, test_set, capsys):
    images, _ = test_set
    good = _save(tmp_path / "two.png", images[1, :, :, 0])  # test image 1 is a 2
    assert predict.main([good]) == 0
    line, = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{good}: BN + L1 2 (") and "runner-up" in line and "; GN 2 (" in line


def test_models_folder_without_saved_models_and_bad_flags(tmp_path, capsys):
    assert predict.main(["x.png", "--models", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--models {str(tmp_path)!r}: no SavedModel found" in err
    with pytest.raises(SystemExit) as info:
        predict.parse_args(["x.png", "--show", "figure.pdf"])
    assert info.value.code == 2 and "--show 'figure.pdf'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        predict.parse_args([])
    assert info.value.code == 2


def test_mnist_like_centres_by_mass_and_fits_twenty_pixels():
    canvas = np.full((90, 60), 255.0)
    canvas[10:70, 5:15] = 0.0  # a dark bar, 60 x 10, near the left edge of light paper
    field = predict.mnist_like(canvas)
    rows, cols = np.nonzero(field > 25)
    assert rows.max() - rows.min() + 1 == 20 and 3 <= cols.max() - cols.min() + 1 <= 5  # 20 high, aspect kept
    total = field.sum()
    centre = ((field.sum(axis=1) * np.arange(28)).sum() / total, (field.sum(axis=0) * np.arange(28)).sum() / total)
    assert centre == pytest.approx((13.5, 13.5), abs=0.6)
    assert field.max() == pytest.approx(255.0, abs=1)  # white ink on black
