"""The draw page's server: a drawing in, what the network sees and says out.

    server = mlp_draw.draw_server([mlp.load("weights.npz")], "127.0.0.1", 8000)
    server.serve_forever()

GET / is the page (draw.html, shipped beside this file or in the wheel's data), POST /predict
reads one drawing through mlp_pictures.classify_picture, the same path as `predict IMAGE`.
Everything else is 404; bodies over MAX_REQUEST_BYTES are 413 without being read, malformed
ones 400; bound to loopback, it answers only requests addressed to loopback (no DNS rebinding).
"""

import base64
import binascii
import http.server
import json
import socket
import threading
import time
import urllib.parse
import urllib.request

import numpy as np

from numpy_mlp import data as mlp_data
from numpy_mlp import pictures as mlp_pictures

MAX_REQUEST_BYTES = 2 << 20  # a 1024 x 1024 pad, base64 in JSON, is 1.4 MB

MAX_PAD_SIDE = 1024

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

CONNECTION_SECONDS = 10  # a connection that sends nothing for this long is closed (slow or half-open clients)

MAX_CONNECTIONS = 32  # connections served at once, a thread each; more wait in the listen backlog


def pad_grey(body):
    """The pad's pixels from a request body {"width": W, "height": H, "pixels": base64 of W * H
    grey bytes} as (H, W) floats in [0, 1]; ValueError with a short reason otherwise."""
    try:
        request = json.loads(body)
        width, height, pixels = request["width"], request["height"], request["pixels"]
    except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: JSON nested too deep
        raise ValueError('expected JSON {"width": W, "height": H, "pixels": base64 grey bytes}') from None
    if not all(isinstance(n, int) and 8 <= n <= MAX_PAD_SIDE for n in (width, height)):
        raise ValueError(f"width and height must be whole numbers from 8 to {MAX_PAD_SIDE}")
    try:
        raw = base64.b64decode(pixels, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValueError("pixels must be base64") from None
    if len(raw) != width * height:
        raise ValueError(f"pixels hold {len(raw)} bytes, not width x height = {width * height}")
    return np.frombuffer(raw, np.uint8).reshape(height, width) / 255.0


def read_pad(members, grey):
    """What the page shows for a drawing: the framed image the network sees, its first hidden
    layer, the top classes and why, each one's input gradient over what it sees
    (mlp_pictures.classify_picture and explained: the same path as predict IMAGE --explain; for an
    ensemble, its members' probabilities and gradients averaged, the first member's layer)."""
    params, meta = members[0]
    taken = mlp_pictures.input_of(meta, params)
    sizes = {"rows": taken["shape"][0], "columns": taken["shape"][1], "units": int(params["W1"].shape[1])}
    try:
        seen, probabilities, hidden = mlp_pictures.classify_picture(members, grey)
    except ValueError:  # nothing drawn: the sizes, for the page's empty panels
        return {"blank": True, **sizes}
    top = np.argsort(-probabilities, kind="stable")[:5]
    best = int(top[0])
    why = mlp_pictures.explained(members, seen, top)  # each top class's input gradient: the page's heat map
    name = lambda c: mlp_data.class_name(meta, int(c))
    return {
        "blank": False,
        "prediction": name(best),
        "class": best,
        "top": [{"class": int(c), "name": name(c), "probability": round(float(probabilities[c]), 5)} for c in top],
        "seen": [round(float(v), 3) for v in seen],
        "hidden": [round(float(v), 4) for v in hidden],
        "why": [[float(f"{v:.3g}") for v in gradient] for gradient in why],  # aligned with "top"
        **sizes,
    }


def draw_server(members, host, port):
    """A threaded HTTP server for the draw page: GET / is the page, POST /predict reads a
    drawing; everything else is 404. Requests over MAX_REQUEST_BYTES are 413, malformed ones
    400; bound to loopback it answers only requests addressed to loopback (no DNS rebinding)."""
    page = mlp_data.shipped("draw.html").read_bytes()
    loopback_only = host in LOOPBACK
    compute = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "mlp-draw"
        sys_version = ""
        timeout = CONNECTION_SECONDS  # socket timeout of every read: a silent client is let go

        def reply(self, status, body, kind="application/json"):
            if isinstance(body, dict):
                body = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:",
            )
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def refused(self):
            """403 for a request not addressed to loopback when serving loopback only."""
            try:  # "localhost:8000", "[::1]:8000", "[::1]": the name as a URL's host is read
                name = urllib.parse.urlsplit("//" + (self.headers.get("Host") or "")).hostname
            except ValueError:
                name = None
            if loopback_only and name not in LOOPBACK:
                self.reply(403, {"error": "this server answers only requests addressed to localhost"})
                return True
            return False

        def do_GET(self):
            if self.refused():
                return
            if urllib.parse.urlsplit(self.path).path in ("/", "/index.html"):  # a query string changes nothing
                self.reply(200, page, "text/html; charset=utf-8")
            else:
                self.reply(404, {"error": "not found"})

        do_HEAD = do_GET

        def do_POST(self):
            if self.refused():
                return
            if urllib.parse.urlsplit(self.path).path != "/predict":
                self.reply(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                self.close_connection = True
                self.reply(411, {"error": "a Content-Length header is required"})
                return
            if not 0 <= length <= MAX_REQUEST_BYTES:
                self.close_connection = True  # the body is not read
                self.reply(413, {"error": f"request bodies are limited to {MAX_REQUEST_BYTES} bytes"})
                return
            try:
                grey = pad_grey(self.rfile.read(length))
            except ValueError as e:
                self.reply(400, {"error": str(e)})
                return
            with compute:  # one at a time: concurrent tiny BLAS calls only fight over the cores
                result = read_pad(members, grey)
            self.reply(200, result)

        def log_message(self, *args):  # quiet: the terminal shows only the URL
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64  # the listen backlog: a burst of drawings waits, none is reset
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

        def process_request(self, request, client_address):  # a thread per connection, MAX_CONNECTIONS at most
            self.slots.acquire()
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise

        def process_request_thread(self, request, client_address):
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

        def handle_error(self, request, client_address):  # a client that went away, say: no traceback
            pass

    return Server((host, port), Handler)


def time_predictions(server, n):
    """Time POST /predict with a real test digit drawn as the page would send it: n requests
    from one client, then n from 8 clients at once. Returns (body bytes, [(clients, seconds of
    each request, wall seconds)]); the server is shut down afterwards."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/predict"
    x = mlp_data.load_data(mlp_data.shipped_mnist(), splits=("test",)).x_test
    pad = np.kron(255 - x[0].reshape(28, 28), np.ones((10, 10), np.uint8))  # black ink on white, 280 x 280
    body = json.dumps({"width": 280, "height": 280, "pixels": base64.b64encode(pad.tobytes()).decode()}).encode()

    def timed(count, out):
        for _ in range(count):
            start = time.perf_counter()
            with urllib.request.urlopen(urllib.request.Request(url, body)) as reply:
                reply.read()
            out.append(time.perf_counter() - start)

    alone, together = [], []
    timed(n, alone)
    workers = [threading.Thread(target=timed, args=(-(-n // 8), together)) for _ in range(8)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    server.shutdown()
    server.server_close()
    return len(body), [(1, alone, sum(alone)), (8, together, wall)]
