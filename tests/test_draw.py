"""Tests of the draw page's server (numpy_mlp/draw.py): what it serves and refuses, answers under load,
and a real headless Chromium drawing digits on the page."""

import contextlib
import json
import os
import signal
import socket
import threading
import time

import numpy as np
import pytest

import mlp
from conftest import HERE, MNIST, cli_process, posix, run, wait_for_line
from numpy_mlp import draw as mlp_draw
from numpy_mlp import pictures as mlp_pictures


# ----------------------------------------------------------------------------- draw: the local web page
@pytest.fixture(scope="session")
def digit_model(tmp_path_factory, mnist):
    """relu 128 trained 3 epochs on all of MNIST (about 97%), saved as the CLI saves it."""
    x, y = mnist[0], mnist[1]
    params, _ = mlp.train(mlp.init([784, 128, 10], "relu", seed=0), x, y, mlp.Settings(activation="relu", epochs=3))
    path = tmp_path_factory.mktemp("draw") / "digits.npz"
    mlp.save(path, params, {"activation": "relu", "preprocessing": mlp.UNSTORED_PREPROCESSING})
    return path


@pytest.fixture
def draw_url(digit_model):
    import threading

    params, meta = mlp.load(digit_model)
    server = mlp_draw.draw_server([(params, meta)], "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pad_body(image28, scale=10):
    """A 28 x 28 digit (uint8, ink bright) as the page posts its pad: black ink on white, 280 x 280."""
    import base64

    pad = np.kron(255 - image28.reshape(28, 28).astype(np.uint8), np.ones((scale, scale), np.uint8))
    return json.dumps(
        {"width": 28 * scale, "height": 28 * scale, "pixels": base64.b64encode(pad.tobytes()).decode()}
    ).encode()


def fetch_url(url, body=None, headers=None, method=None):
    """(status, headers, body bytes) of one request, errors included."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, body, headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.mark.slow
def test_draw_serves_the_page(draw_url):
    status, headers, body = fetch_url(draw_url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    for element in ('id="pad"', 'id="clear"', 'id="prediction"', 'id="seen"', 'id="hidden"'):
        assert element in page
    assert "http" not in page.split("<script>")[1]  # no CDN, nothing from the network
    assert "default-src 'self'" in headers["Content-Security-Policy"]


@pytest.mark.slow
def test_draw_reads_test_digits_posted_as_the_pad_posts_them(draw_url, digit_model):
    params, meta = mlp.load(digit_model)
    x, y = mlp.load_idx_dataset(MNIST, splits=("test",))
    for i in range(12):
        status, _, body = fetch_url(draw_url + "/predict", pad_body(x[i]))
        result = json.loads(body)
        framed = mlp_pictures.frame_digit(1 - np.kron(x[i].reshape(28, 28) / 255, np.ones((10, 10))))
        assert status == 200 and result["class"] == int(mlp.predict(params, framed[None], "relu")[0])
        assert result["prediction"] == str(result["class"]) and len(result["seen"]) == 784
        assert len(result["hidden"]) == 128 and min(result["hidden"]) >= 0  # relu
        assert sum(t["probability"] for t in result["top"]) <= 1.0001
        if i < 3:  # why: each top class's input gradient over what it sees, to 3 significant digits
            seen = mlp_pictures.classify_picture([(params, meta)], mlp_draw.pad_grey(pad_body(x[i])))[0]
            classes = np.array([t["class"] for t in result["top"]])
            why = mlp.input_gradient(params, np.repeat(seen[None], 5, axis=0), "relu", classes)
            assert np.array(result["why"]).shape == (5, 784)
            assert np.allclose(result["why"], why, rtol=5e-3, atol=1e-12)
    right = sum(json.loads(fetch_url(draw_url + "/predict", pad_body(x[i]))[2])["class"] == y[i] for i in range(100))
    assert right >= 90  # re-framed MNIST digits, as a pad would send them
    blank = json.loads(fetch_url(draw_url + "/predict", pad_body(np.zeros(784)))[2])
    assert blank == {"blank": True, "rows": 28, "columns": 28, "units": 128}  # the empty page's sizes


@pytest.mark.slow
@pytest.mark.parametrize(
    "method, path, body, headers, status, reason",
    [
        ("GET", "/draw.html", None, {}, 404, "not found"),
        ("GET", "/../cli.py", None, {}, 404, "not found"),
        ("GET", "/%2e%2e/mlp.py", None, {}, 404, "not found"),
        ("GET", "/predict", None, {}, 404, "not found"),
        ("POST", "/", b"{}", {}, 404, "not found"),
        ("POST", "/predict", b"not json", {}, 400, "expected JSON"),
        ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": "@@@"}', {}, 400, "base64"),
        ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": "AAAA"}', {}, 400, "not width x height"),
        ("POST", "/predict", b'{"width": 100000, "height": 2, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b"[1, 2]", {}, 400, "expected JSON"),
        ("POST", "/predict", b"[" * 100_000 + b"]" * 100_000, {}, 400, "expected JSON"),  # nested past recursion
        (
            "POST",
            "/predict",
            b'{"width": 28, "height": 28, "pixels": ' + b"[" * 50_000 + b"}",
            {},
            400,
            "expected JSON",
        ),
        ("GET", "/", None, {"Host": "evil.example:80"}, 403, "addressed to localhost"),
        ("POST", "/predict", b'{"width": NaN, "height": 28, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b'{"width": 1e400, "height": 28, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b'{"width": "28", "height": 28, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b'{"width": 28.0, "height": 28, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b'{"width": true, "height": 28, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b'{"width": [28], "height": 28, "pixels": ""}', {}, 400, "width and height"),
        ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": {"a": [1]}}', {}, 400, "base64"),
        ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": ["AAAA"]}', {}, 400, "base64"),
        ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": 7}', {}, 400, "base64"),
        ("POST", "/predict", '{"width": 8, "height": 8, "pixels": "\u00e9\u00e9"}'.encode(), {}, 400, "base64"),
        ("POST", "/predict", b'{"width": 28, "height": 28}', {}, 400, "expected JSON"),
        ("POST", "/predict", b"null", {}, 400, "expected JSON"),
        ("POST", "/predict", b'"pixels"', {}, 400, "expected JSON"),
        ("POST", "/predict", b"\xff\xfe{", {}, 400, "expected JSON"),
    ],
)
def test_draw_refuses_what_it_does_not_serve(draw_url, method, path, body, headers, status, reason):
    import http.client

    host, port = draw_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest(method, path, skip_host="Host" in headers)
    for name, value in {**headers, **({"Content-Length": str(len(body))} if body is not None else {})}.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    reply = connection.getresponse()
    assert reply.status == status and reason in json.loads(reply.read())["error"]
    assert fetch_url(draw_url + "/")[0] == 200  # still serving


@pytest.mark.slow
def test_draw_refuses_large_bodies_without_reading_them(draw_url):
    import http.client
    import socket

    host, port = draw_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Length", str(50 << 20))  # 50 MB announced, a few bytes sent
    connection.endheaders(b"{")
    reply = connection.getresponse()
    assert reply.status == 413 and "limited to" in json.loads(reply.read())["error"]
    with socket.create_connection((host, int(port))) as s:  # no Content-Length at all
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.0 411")
    assert fetch_url(draw_url + "/")[0] == 200


@pytest.mark.slow
def test_draw_answers_eight_clients_at_once_correctly(draw_url):
    import threading

    x, _ = mlp.load_idx_dataset(MNIST, splits=("test",))
    bodies = [pad_body(x[i]) for i in range(8)]
    expected = [json.loads(fetch_url(draw_url + "/predict", b)[2])["class"] for b in bodies]
    wrong = []

    def client(k):
        for _ in range(200):
            status, _, body = fetch_url(draw_url + "/predict", bodies[k])
            if status != 200 or json.loads(body)["class"] != expected[k]:
                wrong.append((k, status))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


@pytest.mark.slow
def test_draw_answers_a_burst_of_30_drawings_in_full(draw_url):
    x, _ = mlp.load_idx_dataset(MNIST, splits=("test",))
    body, start, answers = pad_body(x[0]), threading.Barrier(30), []

    def client():
        start.wait()  # all 30 connect at the same moment
        try:
            answers.append(fetch_url(draw_url + "/predict", body)[0])
        except OSError as e:  # a reset connection: what a short listen backlog did
            answers.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert answers == [200] * 30


@pytest.mark.slow
@posix
def test_draw_command_prints_the_url_warns_off_loopback_and_stops_on_ctrl_c(digit_model):
    for host, warning in (("127.0.0.1", False), ("0.0.0.0", True)):
        with cli_process("draw", digit_model, *"--port 0 --no-browser --host".split(), host) as proc:
            url = wait_for_line(proc.stdout, "http://", timeout=30).strip()
            port = url.rsplit(":", 1)[1].strip("/")
            assert url.startswith(f"http://{host}:") and fetch_url(f"http://127.0.0.1:{port}/")[0] == 200
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
        assert ("anyone who can reach this machine can use the page" in err) is warning


@pytest.mark.slow
def test_draw_on_a_port_in_use_is_a_one_line_error(digit_model):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run("draw", digit_model, "--port", port, "--no-browser")
    assert result.exit_code == 1 and result.stderr == (
        f"error: port {port} on 127.0.0.1 is in use; choose another --port (or --port 0 for any free one)\n"
    )


def chromium():
    """A headless Chromium driven by Selenium, or a skip saying what is missing."""
    import shutil

    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser test needs selenium: pip install -e '.[test]'"
    )
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("the browser test needs Chromium: apt-get install chromium chromium-driver (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1100,760",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


@pytest.mark.slow
def test_a_real_browser_draws_a_1_and_a_7_and_the_page_reads_them(draw_url, tmp_path):
    browser = chromium()  # first: it skips, saying what is missing, without selenium or Chromium
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        browser.get(draw_url + "/")
        pad = browser.find_element(By.ID, "pad")
        prediction = browser.find_element(By.ID, "prediction")
        units = browser.find_element(By.ID, "units")
        WebDriverWait(browser, 10).until(lambda _: units.text == "128 units")  # before the first stroke
        notes = [e.text for e in browser.find_elements(By.CLASS_NAME, "empty-note") if e.is_displayed()]
        assert len(notes) == 4 and all(note.startswith("Draw a digit") for note in notes)  # one in each panel
        assert browser.find_element(By.ID, "seen-label").text == "What it sees: 28 \u00d7 28"
        seen = browser.execute_script("const c = document.getElementById('seen'); return [c.width, c.height]")
        hidden = browser.execute_script("const c = document.getElementById('hidden'); return [c.width, c.height]")
        assert seen == [28, 28] and hidden == [12, 11]  # the real sizes: 784 pixels, 128 units in a square
        browser.save_screenshot(str(tmp_path / "empty.png"))

        def draw(strokes):  # offsets from the pad's centre, in CSS pixels (the pad is 300 x 300)
            for stroke in strokes:
                actions = ActionChains(browser).move_to_element_with_offset(pad, *stroke[0]).click_and_hold()
                for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
                    for t in np.linspace(0, 1, 8)[1:]:
                        actions.move_to_element_with_offset(pad, round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0)))
                actions.release().perform()

        def reads(digit):
            WebDriverWait(browser, 10).until(lambda _: prediction.text == digit)
            return prediction.text

        draw([[(5, -90), (5, 90)]])  # a "1": one stroke down
        assert reads("1") == "1"
        browser.find_element(By.ID, "clear").click()
        WebDriverWait(browser, 5).until(lambda _: prediction.text == "")
        draw([[(-60, -80), (60, -80), (-10, 90)]])  # a "7": across, then down to the left
        assert reads("7") == "7"
        assert browser.execute_script("return document.getElementById('bars').children.length") == 5
        assert not [e for e in browser.find_elements(By.CLASS_NAME, "empty-note") if e.is_displayed()]
        why = browser.find_element(By.ID, "why-label")
        assert why.text == "Why 7"

        def heat():  # (reddish, bluish) pixels of the heat map, and the class it shows
            return browser.execute_script(
                "const c = document.getElementById('why'); const d = c.getContext('2d')"
                ".getImageData(0, 0, c.width, c.height).data; let red = 0, blue = 0;"
                "for (let i = 0; i < d.length; i += 4) { if (d[i] > d[i + 2] + 40) red++;"
                " if (d[i + 2] > d[i] + 40) blue++; } return [red, blue, c.dataset.shows];"
            )

        red, blue, shows = heat()
        assert red > 20 and blue > 20 and shows == "7"  # pixels that raise the score of 7, and lower it
        shot = tmp_path / "draw.png"
        browser.save_screenshot(str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("MLP_UPDATE_ASSETS"):  # MLP_UPDATE_ASSETS=1 pytest -k browser: the README's picture
            import shutil

            shutil.copy(shot, HERE / "assets" / "draw.png")
        second = browser.find_elements(By.CLASS_NAME, "bar")[1]
        other = second.find_element(By.CLASS_NAME, "name").text
        second.click()  # "why not 3?"
        WebDriverWait(browser, 5).until(lambda _: why.text == f"Why not {other}?")
        assert heat()[2] == other and "chosen" in second.get_attribute("class")
    finally:
        browser.quit()


def strict_json(body):
    """body parsed as JSON as a browser parses it: NaN and Infinity are not JSON."""
    return json.loads(body, parse_constant=lambda word: pytest.fail(f"{word} in a reply"))


@pytest.mark.slow
def test_draw_answers_50_hostile_and_plain_requests_at_once_and_serves_on(draw_url):
    """50 clients at one moment, each posting a drawing, an empty, a full or a one-dot pad, or
    hostile JSON: each gets its answer (200 with finite, strict JSON, or 400 naming the problem),
    and the server serves on."""
    x, _ = mlp.load_idx_dataset(MNIST, splits=("test",))
    dot = np.zeros(784, np.uint8)
    dot[400] = 255
    plain = [pad_body(x[0]), pad_body(np.zeros(784, np.uint8)), pad_body(np.full(784, 255, np.uint8)), pad_body(dot)]
    hostile = [b'{"width": NaN}', b"[" * 10_000, b'{"width": 28, "height": 28, "pixels": [[[[]]]]}', b"{}"]
    bodies = [(plain + hostile)[k % 8] for k in range(50)]
    start, answers = threading.Barrier(50), {}

    def client(k):
        start.wait()
        try:
            status, _, body = fetch_url(draw_url + "/predict", bodies[k])
            answers[k] = (status, strict_json(body))
        except OSError as e:
            answers[k] = (repr(e), None)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for k, (status, reply) in sorted(answers.items()):
        if bodies[k] in hostile:
            assert status == 400 and reply["error"], k
        else:
            assert status == 200, (k, status)
            assert reply["blank"] or all(np.isfinite(v) for why in reply["why"] for v in why)
    assert len(answers) == 50
    assert answers[0][1]["prediction"] == answers[8][1]["prediction"]  # the same drawing, the same answer
    assert fetch_url(draw_url + "/")[0] == 200


@pytest.mark.parametrize("host", ["[::1]", "[::1]:8000", "localhost", "127.0.0.1:80"])
def test_draw_answers_loopback_hosts_in_every_form_and_pages_with_a_query(draw_url, host):
    status, _, body = fetch_url(draw_url + "/?v=2", headers={"Host": host})
    assert status == 200 and body.lower().startswith(b"<!doctype html>")


@contextlib.contextmanager
def draw_server_with(digit_model, monkeypatch, **limits):
    for name, value in limits.items():
        monkeypatch.setattr(mlp_draw, name, value)
    server = mlp_draw.draw_server([mlp.load(digit_model)], "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_draw_lets_a_silent_connection_go_after_its_time(digit_model, monkeypatch):
    with draw_server_with(digit_model, monkeypatch, CONNECTION_SECONDS=0.5) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as silent:
            started = time.monotonic()
            assert silent.recv(1) == b""  # closed by the server, not by our 30 s
            assert time.monotonic() - started < 10


@pytest.mark.slow
def test_draw_serves_at_most_its_connections_at_once_and_answers_again_when_they_go(digit_model, monkeypatch):
    before = threading.active_count()
    with draw_server_with(digit_model, monkeypatch, CONNECTION_SECONDS=1.0, MAX_CONNECTIONS=4) as port:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(40)]  # half-open
        try:
            time.sleep(0.5)
            assert threading.active_count() <= before + 1 + 4  # the accept loop and four handlers
            status, _, _ = fetch_url(f"http://127.0.0.1:{port}/")  # served once the silent ones time out
            assert status == 200
        finally:
            for connection in idle:
                connection.close()
