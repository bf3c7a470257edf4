"""draw.py: the drawing page's server, and the page itself in a real browser (headless Chromium, Debian's).

The browser tests are marked `browser` (`python -m pytest -m browser`); they are skipped where Debian's chromium
and chromedriver are not installed, unless REQUIRE_BROWSER=1 (what .ci/run sets after installing them).
DRAW_SCREENSHOT=FILE also saves a screenshot of the page with a drawn number (results/draw/page.png).
"""

import base64
import struct
import zlib
import concurrent.futures
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from mnist_norm import page as draw
from mnist_norm import reading as predict
from mnist_norm import runtimes
from mnist_norm import shift
from mnist_norm import variants

from conftest import committed, ROOT  # noqa: E402
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

WIDTH = 560  # the page's canvas: 560 x 280, room for a few digits
# Digits drawn as strokes in a 280 x 280 box of the canvas: polylines of (x, y).
STROKES = {
    "1": [[(150, 40), (145, 120), (140, 240)]],
    "7": [[(70, 50), (210, 50), (170, 130), (130, 240)]],
    "0": [[(140, 40), (90, 70), (70, 140), (90, 210), (140, 240), (190, 210), (210, 140), (190, 70), (140, 40)]],
    "4": [[(170, 240), (170, 40), (70, 170), (220, 170)]],
    "2": [[(80, 80), (120, 45), (180, 50), (195, 100), (160, 150), (80, 235), (210, 235)]],
}

# Capitals no digit resembles, drawn as a hand draws them, in the same 280 x 280 box: the judge never saw these
# strokes (it was trained on fonts' letters), nor the page's pen.
LETTER_STROKES = {
    "A": [[(60, 240), (140, 40), (220, 240)], [(95, 160), (185, 160)]],
    "E": [[(200, 40), (80, 40), (80, 240), (200, 240)], [(80, 140), (180, 140)]],
    "F": [[(200, 40), (80, 40), (80, 240)], [(80, 140), (180, 140)]],
    "H": [[(70, 40), (70, 240)], [(210, 40), (210, 240)], [(70, 140), (210, 140)]],
    "K": [[(80, 40), (80, 240)], [(200, 40), (80, 150)], [(120, 115), (210, 240)]],
    "M": [[(50, 240), (70, 40), (140, 170), (210, 40), (230, 240)]],
    "N": [[(70, 240), (70, 40), (210, 240), (210, 40)]],
    "R": [[(80, 240), (80, 40), (170, 40), (200, 70), (200, 110), (170, 140), (80, 140)], [(130, 140), (210, 240)]],
    "W": [[(40, 40), (90, 240), (140, 100), (190, 240), (240, 40)]],
    "X": [[(70, 40), (210, 240)], [(210, 40), (70, 240)]],
    "Y": [[(70, 40), (140, 140), (210, 40)], [(140, 140), (140, 240)]],
}


@pytest.fixture(scope="module")
def server():
    server = draw.make_server(port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    assert server.answerer.ready.wait(300) and server.answerer.error is None, server.answerer.error
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _post(url, payload):
    request = urllib.request.Request(url + "/predict", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _data_url(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_page_is_one_file_with_nothing_from_the_internet():
    with open(draw.PAGE) as handle:
        page = handle.read()
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert "<script src" not in page and "<link" not in page and "@import" not in page


def test_server_answers_a_drawing_as_predict_reads_it_with_the_studys_shifts(server):
    digit = np.full((280, 280), 255, np.uint8)
    digit[40:240, 130:150] = 0  # a "1", dark on white as the page draws
    status, answer = _post(server, {"image": _data_url(digit), "contrast": 0.25, "background": 64, "noise": 0})
    assert status == 200
    found, = predict.read_number(predict.decode(io.BytesIO(base64.b64decode(_data_url(digit).split(",")[1]))))
    shifted = shift.adjusted(found.field[None, :, :, None], contrast=0.25, background=64)[0, :, :, 0]
    drawn, = answer["digits"]
    assert np.array_equal(np.array(drawn["field"]), shifted.astype(int))  # the study's shifts round to integers
    assert drawn["box"] == list(found.box)
    expected = predict.predict(runtimes.load_models(os.path.join(ROOT, "results")), shifted)
    assert set(drawn["models"]) == set(expected) == set(committed(variants.READERS))
    for norm, values in expected.items():
        np.testing.assert_allclose(drawn["models"][norm], values, atol=1e-6)
        assert answer["number"][norm] == str(int(np.argmax(values)))


def test_concurrent_clients_each_get_the_answer_to_their_own_drawing(server, test_set):
    # The page's server answers each request in its own thread: 8 clients post 256 drawn test digits at once, and
    # every answer must be the one that digit gets alone (a shared LiteRT interpreter dropped or mixed them up).
    digits = [np.kron(255 - image[:, :, 0], np.ones((10, 10), np.uint8)) for image in test_set[0][:64]]
    payloads = [{"image": _data_url(digit)} for digit in digits]
    alone = [_post(server, payload) for payload in payloads]
    assert all(status == 200 and len(answer["digits"]) == 1 for status, answer in alone)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda payload: _post(server, payload), payloads * 4))
    for k, (status, answer) in enumerate(together):
        assert status == 200, answer
        for norm, values in alone[k % len(payloads)][1]["digits"][0]["models"].items():
            np.testing.assert_allclose(answer["digits"][0]["models"][norm], values, atol=1e-6,
                                       err_msg=f"request {k}, {norm}")


def _chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_an_image_the_server_cannot_read_gets_its_reason_not_a_blank_answer(server):
    # A PNG whose header says 20000 x 20000 (a few hundred bytes: its pixels never come)
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    status, answer = _post(server, {"image": "data:image/png;base64," + base64.b64encode(png).decode()})
    assert status == 400 and "20000 x 20000 pixels (400 megapixels)" in answer["error"], answer
    noise = np.random.default_rng(0).integers(0, 256, (280, 280), dtype=np.uint8)
    whole = base64.b64decode(_data_url(noise).split(",")[1])
    damaged = "data:image/png;base64," + base64.b64encode(whole[: len(whole) // 2]).decode()
    status, answer = _post(server, {"image": damaged})
    assert status == 400 and "the drawing" in answer["error"] and "damaged" in answer["error"], answer


def test_server_refuses_bad_requests_with_a_reason(server):
    blank = np.full((50, 50), 255, np.uint8)
    status, answer = _post(server, {"image": _data_url(blank)})
    assert status == 200 and answer["number"] is None and answer["digits"] == []  # nothing drawn: no answer, no error
    for payload, message in (({"image": "data:image/jpeg;base64,AAAA"}, "expected a PNG data URL"),
                             ({"image": "data:image/png;base64,@@@"}, "not valid base64"),
                             ({"image": _data_url(blank), "contrast": 3}, "contrast: 3 is not a number from 0.05 to 1"),
                             ({"image": _data_url(blank), "noise": "lots"}, "noise: 'lots' is not a number")):
        status, answer = _post(server, payload)
        assert status == 400 and message in answer["error"], (payload, answer)


def test_cli_refuses_bad_flags_with_one_line():
    for argv, message in ((["--port", "70000"], "--port 70000: expected 0 to 65535"),
                          (["--models", "/no/such/folder"], "no such folder")):
        result = subprocess.run([sys.executable, "draw.py", *argv], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr


def test_the_page_opens_at_once_and_answers_without_tensorflow(tmp_path):
    started = time.perf_counter()
    # -X importtime writes more than a pipe holds unread
    with open(tmp_path / "stderr.txt", "w+") as log:
        process = subprocess.Popen([sys.executable, "-X", "importtime", "draw.py", "--port", "0"], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            line = process.stdout.readline()  # printed once the server listens
            listening = time.perf_counter() - started
            url = line.split(" at ")[1].split()[0]
            with urllib.request.urlopen(url, timeout=10) as response:
                assert b"<canvas" in response.read()
            deadline = time.time() + 60
            while not json.loads(urllib.request.urlopen(url + "status", timeout=10).read())["ready"]:
                assert time.time() < deadline
                time.sleep(0.1)
            digit = np.full((280, 280), 255, np.uint8)
            digit[40:240, 130:150] = 0
            status, answer = _post(url.rstrip("/"), {"image": _data_url(digit)})
            assert status == 200 and set(answer["number"]) == set(committed(variants.READERS))
        finally:
            process.terminate()
            process.wait(30)
            log.seek(0)
            imports = log.read()
    # The LiteRT files answer: TensorFlow is never imported (-X importtime lists every module the process loaded).
    imported = [line.split("|")[-1].strip() for line in imports.splitlines() if line.startswith("import time:")]
    assert "ai_edge_litert" in imported and not any(name.split(".")[0] == "tensorflow" for name in imported)
    # Listening comes before a fresh `import tensorflow` alone could finish (a ratio on this machine, not a time).
    importing = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, timeout=300)
    assert listening < time.perf_counter() - importing


# ----------------------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but /usr/bin/chromium or /usr/bin/chromedriver is missing "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,1100"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # no driver is downloaded
    yield driver
    driver.quit()


def _draw(driver, strokes, pointer="mouse", left=140):
    """Draws `strokes` (in a 280 x 280 box) with their box `left` pixels from the canvas's left edge."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.interaction import POINTER_MOUSE, POINTER_TOUCH
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = driver.find_element("id", "pad")
    kind = POINTER_TOUCH if pointer == "touch" else POINTER_MOUSE
    actions = ActionBuilder(driver, mouse=PointerInput(kind, pointer))
    for line in strokes:
        (x, y), rest = line[0], line[1:]
        actions.pointer_action.move_to(pad, int(left + x - WIDTH / 2), int(y - 140)).pointer_down()
        for (x0, y0), (x1, y1) in zip(line, rest):
            for t in np.linspace(0, 1, 6)[1:]:  # several moves per segment, as a hand sends them
                actions.pointer_action.move_to(pad, int(left + x0 + t * (x1 - x0) - WIDTH / 2),
                                               int(y0 + t * (y1 - y0) - 140))
        actions.pointer_action.pointer_up()
    actions.perform()


def _answers(driver):
    """The page's answers once it is idle: {norm: (number, [probabilities of each digit])} and the canvas as a
    PNG."""
    deadline = time.time() + 60
    while driver.execute_script("return document.body.dataset.idle") != "true" and time.time() < deadline:
        time.sleep(0.05)
    rows = driver.find_elements("css selector", ".model")
    answers = {row.get_attribute("data-norm"): (row.get_attribute("data-digit"),
                                                json.loads(row.get_attribute("data-probabilities") or "null"))
               for row in rows}
    png = base64.b64decode(driver.execute_script("return pad.toDataURL('image/png')").split(",")[1])
    return answers, png


def _open(driver, server):
    driver.get(server + "/")
    deadline = time.time() + 60
    while driver.execute_script("return document.body.dataset.ready") != "true" and time.time() < deadline:
        time.sleep(0.05)
    assert driver.execute_script("return document.body.dataset.ready") == "true"


@pytest.mark.browser
def test_drawn_digits_get_the_answers_predict_gives_for_the_same_strokes(browser, server, tmp_path):
    _open(browser, server)
    drawn = []
    for index, (label, strokes) in enumerate(STROKES.items()):
        browser.find_element("id", "clear").click()
        _draw(browser, strokes, pointer="touch" if index == 0 else "mouse")
        answers, png = _answers(browser)
        path = tmp_path / f"drawn-{label}.png"
        path.write_bytes(png)
        drawn.append((label, str(path), answers))
    # predict.py itself, on the canvases the page sent
    result = subprocess.run([sys.executable, "predict.py", *[path for _, path, _ in drawn], "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    right = 0
    for (label, path, answers), line in zip(drawn, lines):
        assert line["image"] == path and set(answers) == set(line["models"]) == set(committed(variants.READERS))
        for norm, expected in line["models"].items():
            digit, probabilities = answers[norm]
            assert digit == str(int(np.argmax(expected))) == line["number"][norm]
            np.testing.assert_allclose(probabilities, [expected], atol=2e-6)
            right += int(digit) == int(label)
    assert right >= 0.8 * len(committed(variants.READERS)) * len(STROKES), f"{right} answers equal the drawn digit"  # hand-drawn


@pytest.mark.browser
def test_letters_drawn_with_the_pages_pen_are_refused_as_letters(browser, server):
    _open(browser, server)
    refused = []
    for letter, strokes in LETTER_STROKES.items():
        browser.find_element("id", "clear").click()
        _draw(browser, strokes)
        answers, _ = _answers(browser)
        status = browser.find_element("id", "status").text
        if "a letter or a drawing, not a digit" in status:
            refused.append(letter)
            assert not any(digit for digit, _ in answers.values()), (letter, answers)  # no digit left shown
    assert len(refused) >= 0.9 * len(LETTER_STROKES), f"refused only {refused}"


@pytest.mark.browser
def test_sliders_apply_the_shift_to_what_the_models_see(browser, server):
    _open(browser, server)
    _draw(browser, STROKES["7"])
    plain, png = _answers(browser)
    browser.execute_script("const s = document.getElementById('background'); s.value = 128;"
                           "s.dispatchEvent(new Event('input'));")
    shifted, _ = _answers(browser)
    found, = predict.read_number(predict.decode(io.BytesIO(png)))
    grey = shift.adjusted(found.field[None, :, :, None], background=128)[0, :, :, 0]
    expected = predict.predict(runtimes.load_models(os.path.join(ROOT, "results")), grey)
    for norm, values in expected.items():
        np.testing.assert_allclose(shifted[norm][1], [values], atol=2e-6)
    assert shifted["bn"][1] != plain["bn"][1]
    assert browser.find_element("id", "background-value").text == "+128"
    browser.find_element("id", "reset").click()
    again, _ = _answers(browser)
    np.testing.assert_allclose(again["bn"][1], plain["bn"][1], atol=1e-9)


@pytest.mark.browser
def test_a_drawn_number_gets_each_models_number_as_predict_reads_the_canvas(browser, server, tmp_path):
    _open(browser, server)
    browser.find_element("id", "clear").click()
    _draw(browser, STROKES["7"], left=-50)  # at 20-160 of the 560 pixels
    _draw(browser, STROKES["4"], left=130)  # 200-350
    _draw(browser, STROKES["0"], left=330)  # 400-540
    answers, png = _answers(browser)
    path = tmp_path / "number.png"
    path.write_bytes(png)
    result = subprocess.run([sys.executable, "predict.py", str(path), "--json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert len(line["digits"]) == 3
    for norm, (number, probabilities) in answers.items():
        assert number == line["number"][norm] and len(number) == 3
        np.testing.assert_allclose(probabilities, [digit["models"][norm] for digit in line["digits"]], atol=2e-6)
    assert sum(number == "740" for number, _ in answers.values()) >= 0.8 * len(answers)  # hand-drawn
    seen = browser.execute_script("return document.getElementById('seen').width")
    assert seen == 3 * 28  # the three fields the models saw, side by side
    shot = os.environ.get("DRAW_SCREENSHOT")
    if shot:  # the README's picture: the drawn number on grey paper (the shift study's +128)
        browser.execute_script("const s = document.getElementById('background'); s.value = 128;"
                               "s.dispatchEvent(new Event('input'));")
        grey, _ = _answers(browser)
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        browser.save_screenshot(shot)
        # What the screenshot shows, for the README's sentence about it (report.py renders it from this file).
        with open(os.path.splitext(shot)[0] + ".json", "w") as handle:
            json.dump({"drawn": "740", "background": 128, "numbers": {norm: number for norm, (number, _) in grey.items()}},
                      handle, indent=2)
            handle.write("\n")


def _line_on_a_huge_canvas(side=9000):
    """One line drawn on a side x side transparent canvas: a PNG of a few hundred kilobytes holding 81 megapixels."""
    rows = np.zeros((side, side // 8 + 1), np.uint8)  # 1-bit greyscale rows: a filter byte, then side bits
    rows[side // 2, 1:] = 0xFF
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) \
        + _chunk(b"IEND", b"")


def test_a_canvas_far_larger_than_the_page_is_refused_from_its_header(server):
    png = _line_on_a_huge_canvas()
    assert len(png) < draw.MAX_REQUEST
    payload = {"image": "data:image/png;base64," + base64.b64encode(png).decode()}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(server, payload), range(8)))
    for status, answer in answers:
        assert status == 400 and "9000 x 9000 pixels (81 megapixels) is more than the drawing page reads" \
            in answer["error"], answer


def test_work_in_flight_is_bounded(server, monkeypatch, test_set):
    """However many drawings come at once, at most WORK_IN_FLIGHT are decoded and read at a time."""
    busy, most, lock = [0], [0], threading.Lock()
    original = predict.read_number

    def counting(*args, **kwargs):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.05)
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                busy[0] -= 1

    monkeypatch.setattr(predict, "read_number", counting)
    digit = np.kron(test_set[0][0, :, :, 0], np.ones((4, 4), np.uint8))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(server, {"image": _data_url(digit)}), range(16)))
    assert all(status == 200 and answer["digits"] for status, answer in answers), answers[0]
    assert 1 <= most[0] <= draw.WORK_IN_FLIGHT, most[0]
