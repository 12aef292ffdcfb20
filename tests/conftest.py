"""Shared fixtures and helpers of the tests: one IDX writer, small real data sets, trained
networks, the CLI in-process and as a real process; every test runs in its own empty folder with
its own data cache."""

import contextlib
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import mlp
import test_mlp
from numpy_mlp import cli
from numpy_mlp import data as mlp_data
from test_mlp import MNIST, assert_close_arrays, assert_same_arrays  # noqa: F401 (for the other test files)

mnist, mnist_raw = test_mlp.mnist, test_mlp.mnist_raw  # the same session fixtures, for every test file

# ----------------------------------------------------------------------------- files, folders, processes
HERE = Path(__file__).resolve().parent.parent  # the checkout: README, docs, cli.py, mlp.py
runner = CliRunner()


def idx_bytes(array, dtype=">u1"):
    """The bytes of an IDX file holding `array` stored as `dtype` (one of mlp.IDX_TYPES')."""
    code = {v: k for k, v in mlp.IDX_TYPES.items()}[dtype]
    array = np.asarray(array, dtype)
    return struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path, array, gz=True, dtype=">u1"):
    """Write `array` as an IDX file of `dtype` (uint8 by default), gzipped unless gz=False."""
    raw = idx_bytes(array, dtype)
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)


def write_dataset(folder, x_train, y_train, x_test, y_test, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for stem, array in zip(mlp.MNIST_FILES.values(), (x_train, y_train, x_test, y_test)):
        write_idx(folder / (stem + suffix), array, gz)
    return folder


def random_dataset(folder, image, test_labels=None, gz=True):
    """An IDX folder of 20 training and 4 test images of `image` (rows, cols) random pixels, labels
    in 0-2 (or the test labels given), seeded: a data set of another size or with odd labels."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (20, *image)), rng.integers(0, 3, 20)
    x_test, y_test = rng.integers(0, 256, (4, *image)), rng.integers(0, 3, 4)
    return write_dataset(folder, x, y, x_test, y_test if test_labels is None else np.array(test_labels), gz=gz)


# Signals sent to a process, file modes, links, shell pipes: what these tests exercise is POSIX's;
# on Windows (the public repository's CI) they are skipped, saying so.
posix = pytest.mark.skipif(os.name != "posix", reason="POSIX signals, file modes, links or shell pipes")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own empty folder with its own data cache: a command that writes by
    default (weights.npz, plots) writes there, never into the checkout, and nothing is read from
    or written to the user's cache (~/.cache/numpy-mlp), nor sent to the user's MLflow server."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "cache"))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):  # set, they turn --mlflow on
        monkeypatch.delenv(name, raising=False)


def small_slice(raw, n_train=3000, n_test=1000):
    """The first n_train training and n_test test examples of raw MNIST (mnist_raw), as four arrays."""
    return (
        raw["train_images"][:n_train],
        raw["train_labels"][:n_train],
        raw["test_images"][:n_test],
        raw["test_labels"][:n_test],
    )


@pytest.fixture(scope="session")
def small_data(tmp_path_factory, mnist_raw):
    """A 600/200 slice of real MNIST written as IDX files, for fast CLI runs."""
    return write_dataset(tmp_path_factory.mktemp("small"), *small_slice(mnist_raw, 600, 200))


def run(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


@contextlib.contextmanager
def cli_process(*args, env=None):
    """`python cli.py ARGS` in a real process (stdout and stderr piped, as text; `env` added to
    this process's environment), killed on the way out whatever happens in the `with` block."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "cli.py"), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def wait_for_line(stream, prefix, timeout=60):
    """Read `stream` (a process's pipe) until a line starts with `prefix` and return it; an
    AssertionError with what was read when none comes within `timeout` seconds."""
    seen, found = [], threading.Event()

    def read():
        for line in stream:
            seen.append(line)
            if line.startswith(prefix):
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout):
        raise AssertionError(f"no line starting with {prefix!r} within {timeout} s; read: {''.join(seen)!r}")
    return seen[-1]


# ----------------------------------------------------------------------------- your own data: CSV, .npz, folders of pictures
@pytest.fixture(scope="session")
def digits(mnist_raw):
    """600 + 200 real MNIST digits as raw uint8 (N, 28, 28) and labels, for building files."""
    return small_slice(mnist_raw, 600, 200)


def write_csv(path, rows, header=None):
    np.savetxt(path, rows, fmt="%s", delimiter=",", header=",".join(header) if header else "", comments="")
    return path


# ----------------------------------------------------------------------------- named data sets: downloads
@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving a tiny data set "tiny" (4 files: 6 and 2 images),
    registered in mlp_data.DATASETS; `files` maps URL paths to the bytes served, `die` to paths
    whose response stops half way."""
    import http.server

    folder = write_dataset(
        tmp_path / "source", np.arange(24).reshape(6, 2, 2), [0, 1, 2] * 2, np.arange(8).reshape(2, 2, 2), [1, 0]
    )
    files = {"/m/" + p.name: p.read_bytes() for p in folder.iterdir()}
    die = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path in die else body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    sha = {
        p.name.removesuffix(".gz"): hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()
        for p in folder.iterdir()
    }
    url = f"http://127.0.0.1:{server.server_address[1]}/m/"
    monkeypatch.setitem(
        mlp_data.DATASETS, "tiny", mlp_data.Dataset(sha256=sha, mirrors=(url,), classes=("cat", "dog", "owl"))
    )
    try:
        yield {"url": url, "files": files, "die": die, "cache": tmp_path / "cache"}
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------------- the command line: predict, eval, summary, plots
@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_data):
    """Weights and history of a small model trained through the CLI on the small data."""
    folder = tmp_path_factory.mktemp("trained")
    result = run(*"train relu --hidden 32 --epochs 3 --data".split(), small_data, "--out", folder / "w.npz")
    assert result.exit_code == 0, result.output
    return folder / "w.npz"


# ----------------------------------------------------------------------------- ensembles and the live view's end of run
@pytest.fixture(scope="session")
def members(tmp_path_factory, small_data):
    """Three small networks trained on the same data (seeds 0, 1, 2)."""
    folder = tmp_path_factory.mktemp("members")
    for seed in range(3):
        result = run(
            *"train relu --hidden 16 --epochs 3 --seed".split(),
            seed,
            "--data",
            small_data,
            "--out",
            folder / f"m{seed}.npz",
        )
        assert result.exit_code == 0, result.output
    return [folder / f"m{seed}.npz" for seed in range(3)]


def trained_with_names(small_data, folder, names):
    """Weights of a small network trained one epoch on the small data with these class names
    (classes.txt), in `folder`."""
    data = folder / "named"
    shutil.copytree(small_data, data)
    (data / "classes.txt").write_text("\n".join(names), "utf-8")
    result = run(*"train relu --hidden 8 --epochs 1 --data".split(), data, "--out", folder / "w.npz")
    assert result.exit_code == 0, result.output
    return folder / "w.npz"


# ----------------------------------------------------------------------------- a PostgreSQL server of the test's own
def postgres_programs():
    """The folder of PostgreSQL's server programs (initdb, pg_ctl): Debian's newest under
    /usr/lib/postgresql/N/bin, or on the PATH; None when PostgreSQL is not installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int("0" + p.parent.parent.name))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@contextlib.contextmanager
def postgres_server(folder):
    """A PostgreSQL server of its own, its files in `folder` (tmp_path), listening on a Unix
    socket there and on no network address; yields its URL; stopped in a finally. The server
    refuses to run as root, so as root it runs as the postgres user (runuser), and the folders
    above `folder` are opened to it for search only (x, never listing) while it runs."""
    programs = postgres_programs()
    if programs is None or os.name != "posix":
        pytest.skip("PostgreSQL is not installed here (Debian: apt-get install postgresql)")
    root = os.geteuid() == 0
    if root and not shutil.which("runuser"):
        pytest.skip("as root the server must run as another user, and runuser is missing")
    data, sockets = folder / "pg", folder / "s"
    data.mkdir()
    sockets.mkdir()
    as_owner, opened = [], []
    if root:
        import pwd

        user = pwd.getpwnam("postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
        for path in (data, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        for parent in [folder, *folder.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                opened.append((parent, mode))
                parent.chmod(mode | 0o001)
    env = {**os.environ, "LC_ALL": "C"}
    pg_ctl = [*as_owner, str(programs / "pg_ctl"), "-D", str(data)]
    try:
        subprocess.run(
            [
                *as_owner,
                str(programs / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
        )
        options = f"-k {sockets} -c listen_addresses='' -c fsync=off -c max_connections=50"
        subprocess.run(
            [*pg_ctl, "-l", str(sockets / "server.log"), "-o", options, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
        )
        yield f"postgresql://postgres:not-a-secret-42@/postgres?host={sockets}"
    finally:
        subprocess.run(
            [*pg_ctl, "-m", "immediate", "-w", "-t", "60", "stop"], capture_output=True, timeout=120, env=env
        )
        for parent, mode in reversed(opened):
            parent.chmod(mode)


def blobs_table(path, n=240, seed=0):
    """A CSV table of n rows: 3 classes of Gaussian blobs in 6 features on scales from 0.01 to
    1,000 (raw, as tables come), label column last."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.standard_normal((n, 6)) + 2.5 * np.eye(3)[y] @ rng.standard_normal((3, 6))
    x *= np.array([0.01, 0.1, 1, 10, 100, 1000])
    rows = [[*(f"{v:.6g}" for v in row), str(c)] for row, c in zip(x, y)]
    path.write_text("a,b,c,d,e,f,label\n" + "\n".join(",".join(r) for r in rows) + "\n", "utf-8")
    return path
