"""The drawing page's server: a page to draw a digit or a number on, answered by every model as you draw.

The page draws with mouse, pen or finger (pointer events) on a canvas and sends it, as a PNG, to this server,
which reads it exactly as predict.py reads a file (`reading.decode`, `reading.answer_image`), applies the
sliders' shifts with the input-shift study's own transforms (`shift.adjusted`: fainter ink, grey paper,
noise) and returns each model's number and, for each digit, the 28 x 28 field the models see and each model's ten
probabilities. Nothing comes from
the internet: the page is one local file, draw.html, with its script and style inside.

The server listens at once and the models load behind it (the page says so until they are in): the LiteRT files
by default, which need no TensorFlow, so the page answers within a second or two of the command. Only this
machine can reach it (127.0.0.1) unless --host says otherwise. In a notebook: `page.serve(port, background=True)`
(the notebook's drawing cell).
"""

import base64
import binascii
import http.server
import io
import json
import os
import sys
import threading

import numpy as np


PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "draw.html")  # the page, shipped with the package
SLIDERS = {"contrast": 1.0, "background": 0.0, "noise": 0.0}  # shift.adjusted's settings at rest: no shift
LIMITS = {"contrast": (0.05, 1.0), "background": (0.0, 255.0), "noise": (0.0, 128.0)}
MAX_REQUEST = 5_000_000  # bytes: a canvas PNG is some kilobytes
# The page's canvas is 560 x 280; a PNG of a far larger canvas (a few hundred kilobytes can hold 81 megapixels of
# one colour) is refused from its header, before it is decoded into memory.
MAX_CANVAS_PIXELS = 4096 * 4096
# Drawings decoded and read at once; the other requests wait their turn, so memory stays bounded however many come.
WORK_IN_FLIGHT = 2


class Answerer:
    """Loads the models in a background thread and answers drawn digits once they are in."""

    def __init__(self, models_dir, runtime, judge_dir="results/judge"):
        self.models_dir, self.runtime, self.judge_dir = models_dir, runtime, judge_dir
        self.models, self.judge_fn, self.error = None, None, None
        self.ready = threading.Event()
        self.in_flight = threading.BoundedSemaphore(WORK_IN_FLIGHT)

    def load(self):
        try:
            from . import judge  # scipy and Pillow: loaded behind the page, as the models are
            from . import reading

            self.reading = reading
            self.models, self.judge_fn = judge.load_reader(self.models_dir, self.runtime, self.judge_dir)
        except Exception as error:  # shown on the page and in the terminal, not lost in a thread
            self.error = str(error)
            print(f"error: {error}", file=sys.stderr, flush=True)
        finally:
            self.ready.set()

    def status(self):
        if not self.ready.is_set():
            return {"ready": False, "message": "loading the models..."}
        if self.error:
            return {"ready": False, "error": self.error}
        from . import variants

        return {"ready": True, "models": {norm: variants.NORM_LABELS[norm] for norm in self.models},
                "colours": {norm: variants.COLORS[norm] for norm in self.models},
                "runtime": next(iter(self.models.values())).runtime}

    def answer(self, request):
        """predict.py's JSON answer for a drawn canvas (one digit or several: "number", "agreement", "digits" left to
        right with their "box", "agreement" and "models"), each digit also with the 28 x 28 "field" the models saw,
        and the sliders' "settings" and the text line's "verdict" (how far the models agree, what to check)."""
        from . import shift

        self.ready.wait()
        if self.error:
            raise ValueError(self.error)
        png = _png_bytes(request.get("image", ""))
        settings = {name: _number(request, name, default, *LIMITS[name]) for name, default in SLIDERS.items()}
        def adjust(fields):  # unmoved sliders: the fields as predict.py has them (the shift also rounds)
            return fields if settings == SLIDERS else shift.adjusted(fields[..., None], **settings)[..., 0]

        try:
            with self.in_flight:
                grey = self.reading.decode(io.BytesIO(png), "the drawing", max_pixels=MAX_CANVAS_PIXELS,
                                           reader="the drawing page")
                found = self.reading.answer_image(self.models, grey, "the drawing", adjust=adjust,
                                                  judge_fn=self.judge_fn)
        except self.reading.NoInk:  # nothing drawn yet: no answer, and no error either
            return {"number": None, "digits": [], "settings": settings}
        except self.reading.ImageError as error:  # no digit, too large, damaged, two lines: the reason to the page
            raise ValueError(str(error)) from None
        # predict.py's answer for a file (its JSON shape), with the fields the models saw and the sliders' settings
        answer = self.reading.as_json("the drawing", found)
        for digit, field in zip(answer["digits"], found.fields):
            digit["field"] = np.clip(np.rint(field), 0, 255).astype(int).tolist()
        answer.update(settings=settings, verdict=self.reading.describe_agreement(found.found))
        return answer


def _png_bytes(data_url):
    prefix = "data:image/png;base64,"
    if not isinstance(data_url, str) or not data_url.startswith(prefix):
        raise ValueError("image: expected a PNG data URL (data:image/png;base64,...)")
    try:
        return base64.b64decode(data_url[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("image: not valid base64") from None


def _number(request, name, default, low, high):
    value = request.get(name, default)
    if not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name}: {value!r} is not a number from {low:g} to {high:g}")
    return float(value)


class Handler(http.server.BaseHTTPRequestHandler):
    answerer = None  # set by make_server

    def log_message(self, *args):  # one line per drawing would drown the terminal
        pass

    def _send(self, status, body, content_type="application/json"):
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if self.path in ("/", "/index.html"):
            with open(PAGE, "rb") as handle:
                self._send(200, handle.read(), "text/html; charset=utf-8")
        elif self.path == "/status":
            self._send(200, self.answerer.status())
        else:
            self._send(404, {"error": f"{self.path}: not found"})

    def do_POST(self):
        if self.path != "/predict":
            self._send(404, {"error": f"{self.path}: not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_REQUEST:
            self._send(413 if length else 400, {"error": f"request of {length} bytes; expected 1 to {MAX_REQUEST}"})
            return
        try:
            request = json.loads(self.rfile.read(length))
            if not isinstance(request, dict):
                raise ValueError("expected a JSON object")
            self._send(200, self.answerer.answer(request))
        except ValueError as error:  # json.JSONDecodeError is one
            self._send(400, {"error": str(error)})


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # connections waiting to be accepted: several pages (or tabs) drawing at once
    daemon_threads = True


def make_server(host="127.0.0.1", port=8000, models_dir="results", runtime="auto", judge_dir="results/judge"):
    """A ThreadingHTTPServer serving the page; the models (and the judge of `judge_dir`, or none) start loading in
    a background thread."""
    answerer = Answerer(models_dir, runtime, judge_dir)
    handler = type("BoundHandler", (Handler,), {"answerer": answerer})
    server = Server((host, port), handler)
    server.answerer = answerer
    threading.Thread(target=answerer.load, daemon=True).start()
    return server


def serve(port=8000, host="127.0.0.1", models_dir="results", runtime="auto", background=False,
          judge_dir="results/judge"):
    """Serves the page; with background=True in a daemon thread (notebooks), returning the server."""
    server = make_server(host, port, models_dir, runtime, judge_dir)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    print(f"drawing page at http://{host}:{server.server_address[1]}/ (Ctrl+C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return server
