"""predict.py on real digit image files, the committed SavedModels, and one line for each bad input."""

import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageFilter

import model
import predict
import runtimes

from conftest import RESULTS, ROOT  # noqa: E402
COUNT = 30  # test digits written as files in each form



@pytest.fixture(scope="module")
def models():
    return runtimes.load_models(RESULTS)


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
    reference = {norm: np.argmax(run(images.astype("float32")), axis=1) for norm, run in models.items()}
    forms = write_forms(tmp_path, images)
    agree, total = 0, 0
    for paths in forms.values():
        for i, path in enumerate(paths):
            probabilities = predict.predict(models, predict.mnist_like(predict.read_image(path), path))
            for norm, values in probabilities.items():
                agree += int(np.argmax(values) == reference[norm][i])
                total += 1
    # MNIST's own recipe (crop, 20 x 20, centre of mass) redone on a redrawn digit moves it by a pixel at most.
    assert total == len(forms) * COUNT * len(model.ALL_NORMS) and agree / total >= 0.95, f"{agree} of {total}"


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
    assert len(answered) == 2 and set(answered[0]["models"]) == set(model.ALL_NORMS)
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
    assert err.count("\n") == 1 and f"--models {str(tmp_path)!r}: no model.keras found" in err
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


def photo(digit, rng, size=(900, 1200), digit_height=None):
    """A phone photo of `digit` (28 x 28, white on black) written dark on paper: light falling off across the
    page, a soft shadow, warm light, blur, noise; the digit off-centre (a PIL RGB image, to be saved as JPEG)."""
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width].astype("float32")
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * (cols / width - 0.5) + np.sin(angle) * (rows / height - 0.5)
    light = 1.0 - rng.uniform(0.35, 0.55) * (ramp + 0.7) / 1.4
    centre_row, centre_col, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0.25, 0.5) * width
    distance = np.hypot(rows - centre_row, cols - centre_col)
    shadow = 1.0 - rng.uniform(0.25, 0.4) / (1.0 + np.exp(-(radius - distance) / (0.05 * width)))
    page = rng.uniform(190, 235) * light * shadow
    side = digit_height or int(rng.uniform(0.25, 0.45) * height)
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.BILINEAR), dtype="float32") / 255.0
    top = int(rng.uniform(0.05 * height, 0.95 * height - side))
    left = int(rng.uniform(0.05 * width, 0.95 * width - side))
    page[top:top + side, left:left + side] *= 1.0 - rng.uniform(0.7, 0.9) * ink
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).convert("RGB")
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0) * max(size) / 1200))
    pixels = np.asarray(image, dtype="float32") + rng.normal(0, rng.uniform(3, 8), (height, width, 1))
    tint = np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.85, 0.95)], dtype="float32")
    return Image.fromarray(np.clip(pixels * tint, 0, 255).astype(np.uint8))


@pytest.mark.slow
def test_phone_photos_of_test_digits_are_read_right(tmp_path, test_set, models):
    images, labels = test_set
    rng = np.random.default_rng(26)
    right, total = 0, 0
    for i in range(COUNT):
        path = str(tmp_path / f"photo{i}.jpg")
        photo(images[i, :, :, 0], rng).save(path, quality=85)
        probabilities = predict.predict(models, predict.mnist_like(predict.read_image(path), path))
        right += sum(int(np.argmax(values) == labels[i]) for values in probabilities.values())
        total += len(probabilities)
    assert right / total >= 0.95, f"{right} of {total}"


@pytest.mark.slow
def test_a_twelve_megapixel_photo_is_read_at_reduced_size_and_right(tmp_path, test_set, models):
    images, labels = test_set
    path = str(tmp_path / "page.jpg")
    photo(images[3, :, :, 0], np.random.default_rng(3), size=(3000, 4000), digit_height=900).save(path, quality=90)
    grey = predict.read_image(path)
    assert max(grey.shape) <= 2 * predict.WORK_SIDE  # decoded at a DCT scale, not as 12 million pixels
    answers = {int(np.argmax(v)) for v in predict.predict(models, predict.mnist_like(grey, path)).values()}
    assert answers == {int(labels[3])}


def _field(path):
    return predict.mnist_like(predict.read_image(str(path)), str(path))


def test_exif_orientation_is_honoured(tmp_path, test_set):
    digit = 255 - np.kron(test_set[0][0, :, :, 0], np.ones((8, 8), np.uint8))  # a 7, dark on light
    upright = tmp_path / "upright.jpg"
    Image.fromarray(digit).save(upright, quality=95)
    sideways = tmp_path / "sideways.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show": stored turned a quarter anticlockwise
    Image.fromarray(digit).rotate(90, expand=True).save(sideways, quality=95, exif=exif.tobytes())
    untagged = tmp_path / "untagged.jpg"
    Image.fromarray(digit).rotate(90, expand=True).save(untagged, quality=95)
    assert np.abs(_field(sideways) - _field(upright)).mean() < 3
    assert np.abs(_field(untagged) - _field(upright)).mean() > 20  # the tag is what turned it


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (200, 30, 30), (250, 230, 40)])
def test_ink_drawn_in_the_alpha_channel_is_read_whatever_its_colour(tmp_path, test_set, models, colour):
    image, label = test_set[0][1, :, :, 0], test_set[1][1]  # a 2
    big = np.kron(image, np.ones((6, 6), np.uint8))
    rgba = np.zeros((*big.shape, 4), np.uint8)
    rgba[..., :3] = colour  # one colour everywhere, as a drawing app stores it; the alpha holds the strokes
    rgba[..., 3] = big
    path = tmp_path / "drawn.png"
    Image.fromarray(rgba, "RGBA").save(path)
    answers = {int(np.argmax(v)) for v in predict.predict(models, _field(path)).values()}
    assert answers == {int(label)}


def test_sixteen_bit_scans_and_palette_images_read_as_the_eight_bit_digit(tmp_path, test_set):
    image = test_set[0][4, :, :, 0]
    eight = tmp_path / "eight.png"
    Image.fromarray(image).save(eight)
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray(image.astype(np.uint16) * 257).save(sixteen)
    palette = tmp_path / "palette.gif"
    Image.fromarray(image).convert("P").save(palette)
    for other in (sixteen, palette):
        np.testing.assert_allclose(_field(other), _field(eight), atol=2.0)


def _png_header(width, height):
    chunk = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def test_huge_and_truncated_files_are_refused_with_their_reason(tmp_path, test_set):
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png_header(30000, 30000))  # a header alone: nothing is decoded to refuse it
    with pytest.raises(predict.ImageError, match=r"30000 x 30000 pixels \(900 megapixels\) is more than"):
        predict.read_image(str(huge))
    digit = np.kron(test_set[0][0, :, :, 0], np.ones((10, 10), np.uint8))
    for name, options in (("cut.jpg", {"quality": 90}), ("cut.png", {})):
        whole = tmp_path / f"whole-{name}"
        Image.fromarray(digit).save(whole, **options)
        cut = tmp_path / name
        cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
        with pytest.raises(predict.ImageError, match="truncated or damaged (JPEG|PNG) file"):
            predict.read_image(str(cut))


def test_the_litert_files_answer_a_photo_without_tensorflow(tmp_path, test_set):
    images, labels = test_set
    path = tmp_path / "photo.jpg"
    photo(images[5, :, :, 0], np.random.default_rng(5)).save(path, quality=85)
    result = subprocess.run([sys.executable, "-X", "importtime", "predict.py", str(path), "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {int(np.argmax(v)) for v in answer["models"].values()} == {int(labels[5])}
    # The committed models have their model.tflite: the default runtime takes them, and TensorFlow never loads.
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "ai_edge_litert" in imported and not any(name.split(".")[0] == "tensorflow" for name in imported)


def test_auto_takes_the_keras_models_where_a_tflite_file_is_missing(tmp_path):
    for norm in ("bn", "gn"):
        (tmp_path / norm).mkdir()
        for name in ("model.keras", "config.json"):
            os.symlink(os.path.join(RESULTS, norm, "seed-1", name), tmp_path / norm / name)
    os.symlink(os.path.join(RESULTS, "bn", "seed-1", "model.tflite"), tmp_path / "bn" / "model.tflite")
    models = runtimes.load_models(str(tmp_path))  # gn has no model.tflite: both from their Keras models
    assert set(models) == {"bn", "gn"} and not any(isinstance(m, runtimes.LiteRTModel) for m in models.values())
    assert all(isinstance(m, runtimes.LiteRTModel) for m in runtimes.load_models(str(tmp_path), "litert").values())
