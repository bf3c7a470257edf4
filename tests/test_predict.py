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
from PIL import Image, ImageDraw, ImageFont

from mnist_norm import network as model
from mnist_norm import photos
from mnist_norm import reading as predict
import predict as predict_command
from mnist_norm import runtimes
from mnist_norm import variants

from conftest import committed, fonts, RESULTS, ROOT  # noqa: E402
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
            digits = predict.read_number(predict.read_image(path), path)  # what predict.py reads
            probabilities = predict.predict(models, digits[0].field)
            for norm, values in probabilities.items():
                agree += int(len(digits) == 1 and np.argmax(values) == reference[norm][i])
                total += 1
    # MNIST's own recipe (crop, 20 x 20, centre of mass) redone on a redrawn digit moves it by a pixel at most.
    assert total == len(forms) * COUNT * len(committed(variants.READERS)) and agree / total >= 0.95, f"{agree} of {total}"


def test_cli_answers_each_image_and_refuses_bad_ones_with_one_line_each(tmp_path, test_set):
    images, _ = test_set
    good = _save(tmp_path / "seven.png", 255 - images[0, :, :, 0])  # test image 0 is a 7, drawn dark on light
    blank = _save(tmp_path / "blank.png", np.full((40, 40), 200, dtype=np.uint8))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    folder = tmp_path / "a_folder.png"
    folder.mkdir()
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = str(tmp_path / "missing.png")
    command = [sys.executable, "predict.py", good, missing, str(text), blank, str(folder), str(empty), good, "--json",
               "--show", str(tmp_path / "shown.png")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["image"] for line in lines] == [good, missing, str(text), blank, str(folder), str(empty), good]
    answered = [line for line in lines if "models" in line]
    assert len(answered) == 2 and set(answered[0]["models"]) == set(committed(variants.READERS))
    for line in answered:
        for probabilities in line["models"].values():
            assert len(probabilities) == 10 and sum(probabilities) == pytest.approx(1, abs=1e-4)
            assert int(np.argmax(probabilities)) == 7
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {missing}: no such file", f"error: {text}: not a PNG, JPEG, BMP or GIF image",
                      f"error: {blank}: no ink found (the image is blank)",
                      f"error: {folder}: is a folder, not an image file", f"error: {empty}: the file is empty (0 bytes)"]
    assert "Traceback" not in result.stderr
    assert (tmp_path / "shown.png").read_bytes().startswith(b"\x89PNG")


def test_plain_output_names_digit_probability_and_runner_up(tmp_path, test_set, capsys):
    images, _ = test_set
    good = _save(tmp_path / "two.png", images[1, :, :, 0])  # test image 1 is a 2
    assert predict_command.main([good]) == 0
    line, = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{good}: BN + L1 2 (") and "runner-up" in line and "; GN 2 (" in line


def test_models_folder_without_saved_models_and_bad_flags(tmp_path, capsys):
    assert predict_command.main(["x.png", "--models", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--models {str(tmp_path)!r}: no model.keras found" in err
    with pytest.raises(SystemExit) as info:
        predict_command.parse_args(["x.png", "--show", "figure.pdf"])
    assert info.value.code == 2 and "--show 'figure.pdf'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        predict_command.parse_args([])
    assert info.value.code == 2


def test_a_digit_is_centred_by_mass_in_twenty_pixels():
    canvas = np.full((90, 60), 255.0)
    canvas[10:70, 5:15] = 0.0  # a dark bar, 60 x 10, near the left edge of light paper
    digit, = predict.read_number(canvas)
    assert digit.box == (5, 10, 15, 70)  # left, top, right, bottom
    field = digit.field
    rows, cols = np.nonzero(field > 25)
    assert rows.max() - rows.min() + 1 == 20 and 3 <= cols.max() - cols.min() + 1 <= 5  # 20 high, aspect kept
    total = field.sum()
    centre = ((field.sum(axis=1) * np.arange(28)).sum() / total, (field.sum(axis=0) * np.arange(28)).sum() / total)
    assert centre == pytest.approx((13.5, 13.5), abs=0.6)
    assert field.max() == pytest.approx(255.0, abs=1)  # white ink on black


@pytest.mark.slow
def test_phone_photos_of_test_digits_are_read_right(tmp_path, test_set, models):
    images, labels = test_set
    rng = np.random.default_rng(26)
    right, total = 0, 0
    for i in range(COUNT):
        path = str(tmp_path / f"photo{i}.jpg")
        photos.photo(images[i : i + 1, :, :, 0], rng).save(path, quality=85)
        probabilities = predict.answer(models, path).probabilities
        right += sum(int(predict.number(values) == str(labels[i])) for values in probabilities.values())
        total += len(probabilities)
    assert right / total >= 0.95, f"{right} of {total}"


@pytest.mark.slow
def test_a_twelve_megapixel_photo_is_read_at_reduced_size_and_right(tmp_path, test_set, models):
    images, labels = test_set
    path = str(tmp_path / "page.jpg")
    photos.photo(images[3:4, :, :, 0], np.random.default_rng(3), size=(3000, 4000), digit_height=900).save(
        path, quality=90)
    grey = predict.read_image(path)
    assert max(grey.shape) <= 2 * predict.WORK_SIDE  # decoded at a DCT scale, not as 12 million pixels
    answers = {predict.number(v) for v in predict.answer(models, path).probabilities.values()}
    assert answers == {str(labels[3])}


def _field(path):
    digit, = predict.read_number(predict.read_image(str(path)), str(path))
    return digit.field


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
    photos.photo(images[5:6, :, :, 0], np.random.default_rng(5)).save(path, quality=85)
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


FORMS = {  # how each form is written: (number of digits, paper, on a table, a drawing app's export)
    "number on plain paper": ((2, 6), "plain", False, False),
    "number on ruled paper": ((2, 6), "ruled", False, False),
    "number on squared paper": ((2, 6), "squared", False, False),
    "number on a sheet on a table": ((2, 6), "plain", True, False),
    "number from a drawing app": ((2, 6), "plain", False, True),
    "one digit on ruled paper": ((1, 2), "ruled", False, False),
}


def write_number(folder, name, digits, rng, paper="plain", table=False, drawn=False):
    path = folder / (name + (".png" if drawn else ".jpg"))
    if drawn:
        photos.canvas(digits, rng).save(path)
    else:
        photos.photo(digits, rng, paper=paper, table=table).save(path, quality=85)
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("form", FORMS)
def test_numbers_in_every_form_are_read_digit_by_digit(tmp_path, test_set, models, form):
    images, labels = test_set
    sizes, paper, table, drawn = FORMS[form]
    rng = np.random.default_rng(sorted(FORMS).index(form))
    start = 1000 * (1 + sorted(FORMS).index(form))  # other test digits for each form
    digits_right = digits_total = numbers_right = numbers_total = 0
    for i in range(10):
        count = int(rng.integers(*sizes))
        chosen = np.arange(start, start + count)
        start += count
        truth = "".join(str(label) for label in labels[chosen])
        path = write_number(tmp_path, f"n{i}", images[chosen, :, :, 0], rng, paper, table, drawn)
        try:
            probabilities = predict.answer(models, path).probabilities
            found = {norm: predict.number(values) for norm, values in probabilities.items()}
        except predict.ImageError:
            found = {norm: "" for norm in models}
        for number in found.values():
            numbers_right += number == truth
            numbers_total += 1
            digits_right += sum(a == b for a, b in zip(number, truth)) if len(number) == len(truth) else 0
            digits_total += len(truth)
    assert digits_right / digits_total >= 0.95 and numbers_right / numbers_total >= 0.85, (
        f"{form}: {digits_right} of {digits_total} digits, {numbers_right} of {numbers_total} numbers")


def test_a_number_gets_each_models_number_boxes_and_probabilities(tmp_path, test_set):
    images, labels = test_set
    digits = images[[0, 1, 2, 3], :, :, 0]  # 7, 2, 1, 0
    path = write_number(tmp_path, "drawn", digits, np.random.default_rng(1), drawn=True)
    speckled = np.array(Image.open(path))
    speckled[3:6, 3:6, 3] = 255  # a speck in a corner
    speckled[-12:-8, 20:-20, 3] = 255  # a line under the number
    Image.fromarray(speckled).save(path)
    figure = tmp_path / "number.png"
    result = subprocess.run([sys.executable, "predict.py", path, "--json", "--show", str(figure)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    models = runtimes.load_models(RESULTS)
    # Each model's number: its own answers on the four test digits, left to right (the speck and the line ignored).
    for norm, run in models.items():
        assert line["number"][norm] == "".join(str(d) for d in np.argmax(run(digits[..., None].astype("float32")),
                                                                          axis=1))
    boxes = [digit["box"] for digit in line["digits"]]
    width, height = Image.open(path).size
    assert len(boxes) == 4 and all(0 <= l < r <= width and 0 <= t < b <= height for l, t, r, b in boxes)
    assert all(before[2] <= after[0] for before, after in zip(boxes, boxes[1:]))  # left to right, apart
    for digit in line["digits"]:
        assert set(digit["models"]) == set(committed(variants.READERS))
        assert all(sum(p) == pytest.approx(1, abs=1e-4) for p in digit["models"].values())
    assert "models" not in line  # only an image of one digit keeps the single-digit "models" of old
    assert figure.read_bytes().startswith(b"\x89PNG")
    result = subprocess.run([sys.executable, "predict.py", path], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert f"BN + L1 {line['number']['bn']} (least sure: digit " in result.stdout


def test_a_page_of_text_or_a_page_without_digits_is_refused_with_one_line(tmp_path, test_set):
    page = Image.new("L", (1200, 900), 235)
    draw = ImageDraw.Draw(page)
    try:
        font = ImageFont.load_default(size=36)
    except TypeError:  # Pillow before 10.1 has only its small bitmap font
        font = ImageFont.load_default()
    for row in range(8):
        draw.text((60, 60 + 100 * row), "Normalization keeps 1 2 3 in line", fill=30, font=font)
    text = _save(tmp_path / "text.png", np.asarray(page))
    ruled = np.full((600, 800), 230, np.uint8)
    ruled[::30] = 150  # ruled paper, nothing written on it
    ruled[:, 80:82] = 120
    empty = _save(tmp_path / "ruled.png", ruled)
    good = write_number(tmp_path, "good", test_set[0][[0, 1], :, :, 0], np.random.default_rng(2), drawn=True)
    result = subprocess.run([sys.executable, "predict.py", text, empty, good], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and "Traceback" not in result.stderr
    assert errors[0].startswith(f"error: {text}: ") and ": no handwritten digit found (text: 8 lines of letters)" in errors[0]
    assert errors[1].startswith(f"error: {empty}: no ")
    assert result.stdout.startswith(f"{good}: BN + L1 ")


def test_rules_are_taken_away_and_strokes_along_them_stay():
    strength = np.zeros((300, 400), np.float32)
    strength[10::20, :] = 0.3  # a ruled page's lines, one pixel thick
    strength[:, 40] = 0.35  # its margin line
    strength[60:200, 200:208] = 1.0  # a digit's upright stroke
    strength[90:96, 120:200] = 1.0  # a bar lying along the rule at row 90 and crossing others
    cleaned = predict.without_rules(strength)
    stroke = np.zeros_like(strength, bool)
    stroke[60:200, 200:208] = stroke[90:96, 120:200] = True
    assert cleaned[~stroke].max() < 0.05  # the rules are gone
    assert cleaned[stroke].min() > 0.5  # the strokes keep their ink where they cross or lie on a rule
    tight = np.zeros((120, 100), np.float32)
    tight[5:15, 2:98] = 1.0  # a 7's bar across a tightly cropped drawing: thick for its length, not a rule
    tight[15:115, 60:70] = 1.0
    assert predict.without_rules(tight) is tight


def test_a_stroke_as_thin_as_the_rules_keeps_its_ink_and_faded_rules_go():
    """A number written small has a pen as thick as the paper's rules: what stands between the rules is left whole
    (a square opening as wide as the rules erased a thin slanted stroke), and rules that fade and break where the
    light falls off are taken away with the others."""
    strength = np.zeros((400, 600), np.float32)
    rows = np.arange(20, 400, 30)
    for k, row in enumerate(rows):
        strength[row : row + 3, :] = 0.3 if k < 7 else np.where(np.arange(600) < 260, 0.25, 0.0)  # faded
    stroke = np.zeros_like(strength, bool)
    for y in range(58, 76):  # a slanted stroke 3 pixels wide, between the rules at rows 50 and 80
        stroke[y, 300 + (y - 58) // 2 : 303 + (y - 58) // 2] = True
    strength[stroke] = 1.0
    cleaned = predict.without_rules(strength)
    assert cleaned[stroke].min() > 0.9
    assert cleaned[~stroke].max() < 0.1


def test_the_sheet_is_found_on_a_darker_table_and_a_shadow_is_not_a_table(test_set):
    digits = test_set[0][[0, 1], :, :, 0]
    for seed in range(4):
        on_table = np.asarray(photos.photo(digits, np.random.default_rng(seed), table=True).convert("L"), np.float32)
        cleared = predict.on_the_sheet(on_table)
        assert cleared is not on_table
        corners = [cleared[:20, :20], cleared[:20, -20:], cleared[-20:, :20], cleared[-20:, -20:]]
        # the table's corners (the sheet fills about 65 % of the frame) now hold paper, far brighter than table
        assert sum(float(corner.mean()) > 1.3 * float(on_table[corner_index].mean())
                   for corner, corner_index in zip(corners, [np.s_[:20, :20], np.s_[:20, -20:], np.s_[-20:, :20],
                                                             np.s_[-20:, -20:]])) >= 2
        page = np.asarray(photos.photo(digits, np.random.default_rng(seed)).convert("L"), np.float32)
        assert predict.on_the_sheet(page) is page  # its shadow and falling light are soft: no table


def _dejavu_faces():
    """DejaVu's faces (Debian's fonts-dejavu-core and -extra, which .ci/run installs): type *print* was not set on."""
    from mnist_norm import judge

    return fonts({name: pattern for name, pattern in judge.FONTS.items() if "dejavu" in name})


def _refused_by(grey):
    try:
        predict.read_number(grey)
    except predict.NotADigit as error:
        return error.rule or "not a digit"
    except predict.ImageError as error:
        return type(error).__name__
    return None


def test_a_line_of_print_is_text_and_a_printed_number_is_not():
    from mnist_norm import refusals

    faces = _dejavu_faces()[::2]  # half of its 22 faces keep the test to seconds
    words = [_refused_by(refusals.printed_line(text, face, 80)) for text in refusals.PRINTED[:6] for face in faces]
    numbers = [_refused_by(refusals.printed_line(text, face, 80)) for text in refusals.PRINTED_NUMBERS[:2]
               for face in faces]
    assert words.count("print") >= 0.3 * len(words)  # the others: other rules, the judge, or read (the docs' count)
    assert "print" not in numbers
    assert not predict.RULE["print"].refuses({"small letters": 0})
    with pytest.raises(predict.NotADigit, match=r"\(text: a line of print, not a handwritten number\)"):
        predict.read_number(refusals.printed_line("Total 12.50", [f for f in _dejavu_faces() if "SansMono.ttf" in f][0], 80))


def test_handwritten_numbers_on_a_baseline_are_not_print(test_set):
    """MNIST's digits written as numbers on photos, on plain and ruled paper, some small: *print* refuses none, nor a
    number whose digits stand level on one baseline, one of them a small 0 (hands vary in height more than type)."""
    images = test_set[0][:, :, :, 0]
    rng = np.random.default_rng(45)
    for k in range(24):
        image = photos.photo(images[4000 + 4 * k : 4004 + 4 * k], rng, size=(600, 800), paper=["plain", "ruled"][k % 2],
                             digit_height=[None, 40][k // 12])
        assert _refused_by(np.asarray(image.convert("L"), "float32")) != "print"
    marks = [predict.Mark(10, 69, 10 + 50 * k, 40 + 50 * k, (k,), 500) for k in range(3)]
    assert predict.small_letters(marks) == 0  # three of one height: no small mark
    assert predict.small_letters(marks + [predict.Mark(27, 69, 160, 190, (3,), 300)]) == 1  # a small letter on them
    uneven = [predict.Mark(10, 69, 10, 40, (0,), 500), predict.Mark(4, 66, 60, 90, (1,), 500),
              predict.Mark(14, 71, 110, 140, (2,), 500), predict.Mark(27, 69, 160, 190, (3,), 300)]
    assert predict.small_letters(uneven) == 0  # heights 60, 63, 58 and baselines 69, 66, 71: a hand's
