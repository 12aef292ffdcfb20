"""Tests for mlp.py and cli.py: maths against finite differences and hand-computed values,
file formats against corruption, the CLI's exact behaviour, and real accuracy on MNIST."""

import contextlib
import gzip
import hashlib
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cli
import mlp


# ----------------------------------------------------------------------------- shared helpers and fixtures
HERE = Path(__file__).resolve().parent
MNIST = HERE / "data" / "mnist"
runner = CliRunner()


def write_idx(path, array, gz=True):
    """Write a uint8 array as an IDX file (the format's type code 0x08)."""
    array = np.asarray(array, np.uint8)
    raw = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.tobytes()
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)


def write_dataset(folder, x_train, y_train, x_test, y_test, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for stem, array in zip(mlp.MNIST_FILES.values(), (x_train, y_train, x_test, y_test)):
        write_idx(folder / (stem + suffix), array, gz)
    return folder


# Signals sent to a process, file modes, links, shell pipes: what these tests exercise is POSIX's;
# on Windows (the public repository's CI) they are skipped, saying so.
posix = pytest.mark.skipif(os.name != "posix", reason="POSIX signals, file modes, links or shell pipes")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own empty folder: a command that writes by default (weights.npz,
    plots) writes there, never into the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def mnist():
    return mlp.load_mnist(MNIST)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A 600/200 slice of real MNIST written as IDX files, for fast CLI runs."""
    raw = {k: mlp.read_idx(MNIST / (stem + ".gz")) for k, stem in mlp.MNIST_FILES.items()}
    return write_dataset(tmp_path_factory.mktemp("small"), raw["train_images"][:600],
                         raw["train_labels"][:600], raw["test_images"][:200], raw["test_labels"][:200])


def run(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


@contextlib.contextmanager
def cli_process(*args):
    """`python cli.py ARGS` in a real process (stdout and stderr piped, as text), killed on the
    way out whatever happens in the `with` block."""
    proc = subprocess.Popen([sys.executable, str(HERE / "cli.py"), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def assert_same_arrays(a, b):
    """Same keys, and for each key the same dtype, shape and bytes; a failure names the key."""
    assert list(a) == list(b), f"keys differ: {list(a)} != {list(b)}"
    for k in a:
        assert (a[k].dtype, a[k].shape) == (b[k].dtype, b[k].shape), f"{k}: {a[k].dtype} {a[k].shape} != {b[k].dtype} {b[k].shape}"
        assert a[k].tobytes() == b[k].tobytes(), f"{k} differs"


def assert_close_arrays(a, b, **tolerance):
    """np.testing.assert_allclose key by key; a failure names the key."""
    assert list(a) == list(b), f"keys differ: {list(a)} != {list(b)}"
    for k in a:
        np.testing.assert_allclose(a[k], b[k], err_msg=f"{k} differs", **tolerance)


# ----------------------------------------------------------------------------- the maths: init, forward, loss, grads (and gradcheck)
def numerical_grads(params, x, y, activation, **kw):
    """Central finite differences of the loss with respect to every parameter entry."""
    out = {}
    for k, p in params.items():
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            for sign in (1, -1):
                shifted = {**params, k: p.copy()}
                shifted[k][i] += sign * 1e-5
                g[i] += sign * mlp.loss(mlp.forward(shifted, x, activation)[0], y, **kw) / 2e-5
        out[k] = g
    return out


def max_relative_error(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(a[k]) + np.abs(b[k]), 1e-8)))
               for k in a)


@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
@pytest.mark.parametrize("hidden", [[7], [7, 6], [7, 6, 5]])
def test_grads_match_finite_differences(activation, hidden):
    rng = np.random.default_rng(1)
    params = mlp.init([5, *hidden, 4], activation, seed=2, dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}  # non-zero biases
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 4, 8)
    _, cache = mlp.forward(params, x, activation)
    analytic = mlp.grads(params, cache, y)
    assert list(analytic) == list(params)
    assert all(analytic[k].shape == params[k].shape for k in params)
    assert max_relative_error(analytic, numerical_grads(params, x, y, activation)) < 1e-6
    assert worst(mlp.gradcheck(params, x, y, activation)) < 0.1  # the students' tool agrees


def test_grads_with_label_smoothing_match_finite_differences():
    rng = np.random.default_rng(3)
    params = mlp.init([4, 6, 3], "tanh", seed=0, dtype=np.float64)
    x, y = rng.standard_normal((5, 4)), rng.integers(0, 3, 5)
    analytic = mlp.grads(params, mlp.forward(params, x, "tanh")[1], y, label_smoothing=0.1)
    numeric = numerical_grads(params, x, y, "tanh", label_smoothing=0.1)
    assert max_relative_error(analytic, numeric) < 1e-6


def test_grads_with_dropout_match_finite_differences():
    rng = np.random.default_rng(5)
    params = mlp.init([4, 6, 5, 3], "tanh", seed=0, dtype=np.float64)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    _, cache = mlp.forward(params, x, "tanh", dropout=0.4, rng=np.random.default_rng(9))
    analytic = mlp.grads(params, cache, y)

    def loss_with_same_masks(p):
        a = x
        for l, mask in zip((1, 2), cache["masks"]):
            a = np.tanh(a @ p[f"W{l}"] + p[f"b{l}"]) * mask
        return mlp.loss(a @ p["W3"] + p["b3"], y)
    for k, p in params.items():
        for i in np.ndindex(p.shape):
            plus, minus = {**params, k: p.copy()}, {**params, k: p.copy()}
            plus[k][i] += 1e-5
            minus[k][i] -= 1e-5
            numeric = (loss_with_same_masks(plus) - loss_with_same_masks(minus)) / 2e-5
            assert abs(numeric - analytic[k][i]) <= 1e-6 * max(abs(numeric) + abs(analytic[k][i]), 1e-8)


def test_loss_hand_computed():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    expected = (math.log(math.e + math.e**2 + math.e**3) - 1 + math.log(3)) / 2  # y = 0, then 2
    assert mlp.loss(logits, np.array([0, 2])) == pytest.approx(expected, rel=1e-12)


def test_label_smoothing_loss_hand_computed():
    logits, eps = np.array([[0.0, math.log(3)]]), 0.1
    expected = (1 - eps) * (math.log(4) - math.log(3)) + eps * (math.log(4) - math.log(3) / 2)
    assert mlp.loss(logits, np.array([1]), label_smoothing=eps) == pytest.approx(expected, rel=1e-12)


def test_loss_is_finite_for_huge_logits_in_float32():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], np.float32)
    assert mlp.loss(logits, np.array([0, 1])) == pytest.approx(math.log(2) / 2, abs=2e-3)  # float32 ulp at 1e4 is 1e-3
    assert mlp.loss(logits, np.array([1, 0])) == pytest.approx((2e4 + 2e4 + math.log(2)) / 2, rel=1e-6)


def test_forward_shapes_and_float32_end_to_end():
    params = mlp.init([784, 32, 16, 10], "relu", seed=0)
    x, y = np.random.default_rng(0).random((9, 784), dtype=np.float32), np.arange(9) % 10
    logits, cache = mlp.forward(params, x, "relu")
    assert logits.shape == (9, 10) and logits.dtype == np.float32
    g = mlp.grads(params, cache, y)
    new, state = mlp.update(params, g, {}, lr=0.1, momentum=0.9)
    assert {a.dtype for d in (g, new, state) for a in d.values()} == {np.dtype(np.float32)}


def test_init_is_deterministic_and_scaled():
    a = mlp.init([784, 512, 10], "relu", seed=7)
    b = mlp.init([784, 512, 10], "relu", seed=7)
    c = mlp.init([784, 512, 10], "relu", seed=8)
    assert_same_arrays(a, b)
    assert not np.array_equal(a["W1"], c["W1"])
    assert a["W1"].std() == pytest.approx(math.sqrt(2 / 784), rel=0.02)  # He
    t = mlp.init([784, 512, 10], "tanh", seed=7, dtype=np.float64)
    assert t["W1"].dtype == np.float64
    assert t["W1"].std() == pytest.approx(math.sqrt(2 / (784 + 512)), rel=0.02)  # Glorot
    assert not a["b1"].any()
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        mlp.init([2, 2], "swish")


def test_forward_and_grads_do_not_mutate_inputs():
    rng = np.random.default_rng(0)
    params = mlp.init([6, 5, 3], "sigmoid", seed=0)
    x, y = rng.random((4, 6), dtype=np.float32), np.array([0, 1, 2, 0])
    before = {k: v.copy() for k, v in params.items()}, x.copy(), y.copy()
    _, cache = mlp.forward(params, x, "sigmoid")
    mlp.grads(params, cache, y)
    assert_same_arrays(params, before[0])
    assert np.array_equal(x, before[1]) and np.array_equal(y, before[2])


def test_dropout_keeps_the_expected_activation_and_is_seeded():
    params = mlp.init([6, 50, 3], "relu", seed=0)
    x = np.repeat(np.random.default_rng(0).random((1, 6), dtype=np.float32), 20000, axis=0)
    _, plain = mlp.forward(params, x, "relu")
    _, dropped = mlp.forward(params, x, "relu", dropout=0.3, rng=np.random.default_rng(1))
    mask = dropped["masks"][0]
    assert (mask == 0).mean() == pytest.approx(0.3, abs=0.01)
    assert mask.max() == pytest.approx(1 / 0.7) and mask.dtype == np.float32
    hidden = dropped["inputs"][1]  # what the next layer sees
    assert hidden.mean(axis=0) == pytest.approx(plain["inputs"][1][0], rel=0.03, abs=1e-6)
    again, _ = mlp.forward(params, x[:5], "relu", dropout=0.3, rng=np.random.default_rng(1))
    assert np.array_equal(again, mlp.forward(params, x[:5], "relu", dropout=0.3, rng=np.random.default_rng(1))[0])
    # eval: no dropout. A batch of 5 and one of 20,000 may run different BLAS kernels, so the
    # same rows agree to float32 rounding (a few ulps), not bit for bit.
    np.testing.assert_allclose(mlp.forward(params, x[:5], "relu")[0], plain["logits"][:5], rtol=1e-6, atol=1e-6)


def worst(report):
    """The largest `of_tolerance` of a gradcheck report: at most 1 passes."""
    return max(e.of_tolerance for e in report.values())


def test_gradcheck_catches_a_wrong_derivative(monkeypatch):
    rng = np.random.default_rng(0)
    params = mlp.init([5, 6, 3], "tanh", seed=0, dtype=np.float64)
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    assert worst(mlp.gradcheck(params, x, y, "tanh", dropout=0.3, label_smoothing=0.1)) < 0.1
    wrong = mlp.ACTIVATIONS["tanh"]._replace(df=lambda z, a: 1 - a)  # forgot the square
    monkeypatch.setitem(mlp.ACTIVATIONS, "tanh", wrong)
    errors = mlp.gradcheck(params, x, y, "tanh")
    assert errors["W1"].of_tolerance > 100 and errors["b1"].of_tolerance > 100  # the layer below the mistake
    assert errors["W2"].of_tolerance < 0.1 and errors["b2"].of_tolerance < 0.1  # the output layer does not use it


def random_check(activation, depth, dropout, label_smoothing, seed, zero_biases):
    """gradcheck of a small random float64 network (sizes and batch drawn from the seed)."""
    rng = np.random.default_rng(seed * 7919 + depth * 31 + len(activation))
    n_in, n_classes, batch = int(rng.integers(3, 12)), int(rng.integers(2, 6)), int(rng.integers(1, 12))
    params = mlp.init([n_in, *map(int, rng.integers(2, 9, depth)), n_classes], activation, seed=rng, dtype=np.float64)
    if not zero_biases:
        params = {k: p + 0.1 * rng.standard_normal(p.shape) if k[0] == "b" else p for k, p in params.items()}
    x, y = rng.standard_normal((batch, n_in)), rng.integers(0, n_classes, batch)
    return mlp.gradcheck(params, x, y, activation, dropout, label_smoothing, seed)


def test_gradcheck_raises_no_false_alarm_over_random_networks():
    # 360 networks: every activation, 1-3 hidden layers, with and without dropout and label
    # smoothing, 6 seeds, zero biases in a third of them (relu's kinks reachable)
    reports = [random_check(a, depth, dropout, smoothing, seed, zero_biases=seed % 3 == 0)
               for a in mlp.ACTIVATIONS for depth in (1, 2, 3)
               for dropout, smoothing in ((0, 0), (0.3, 0), (0, 0.1), (0.2, 0.1)) for seed in range(6)]
    assert len(reports) == 360
    assert max(worst(r) for r in reports) < 0.1  # a tenth of the tolerance at most: a wide margin


def test_gradcheck_leaves_out_entries_at_a_kink_and_says_how_many():
    # one hidden relu unit, dropped for some examples: the next layer's input is exactly 0 there,
    # so with zero biases its pre-activation sits on relu's kink
    rng = np.random.default_rng(0)
    params = mlp.init([3, 1, 2, 2], "relu", seed=0, dtype=np.float64)
    x, y = rng.standard_normal((8, 3)), rng.integers(0, 2, 8)
    report = mlp.gradcheck(params, x, y, "relu", dropout=0.5, seed=0)
    assert sum(e.at_kink for e in report.values()) > 0 and worst(report) < 0.1
    assert report["b2"].at_kink > 0  # moving b2 moves the pre-activation sitting on the kink


@pytest.mark.parametrize("mistake", ["times 1.01", "plus 0.01", "forgotten"])
@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_gradcheck_catches_every_kind_of_wrong_derivative(monkeypatch, activation, mistake):
    right = mlp.ACTIVATIONS[activation]
    wrong = {"times 1.01": lambda z, a: right.df(z, a) * 1.01, "plus 0.01": lambda z, a: right.df(z, a) + 0.01,
             "forgotten": lambda z, a: np.ones_like(z)}[mistake]
    monkeypatch.setitem(mlp.ACTIVATIONS, activation, right._replace(df=wrong))
    assert worst(random_check(activation, 2, 0.0, 0.0, seed=1, zero_biases=False)) > 10


def test_a_new_activation_is_one_registry_entry(monkeypatch):
    softplus = mlp.Activation(lambda z: np.logaddexp(0, z), lambda z, a: 1 / (1 + np.exp(-z)),
                              mlp.he_std, ("softplus", {}))
    monkeypatch.setitem(mlp.ACTIVATIONS, "softplus", softplus)
    rng = np.random.default_rng(0)
    params = mlp.init([5, 6, 3], "softplus", seed=0, dtype=np.float64)
    assert params["W1"].std() == pytest.approx(math.sqrt(2 / 5), rel=0.5)  # its init scale
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    assert worst(mlp.gradcheck(params, x, y, "softplus")) < 0.1
    _, history = mlp.train(params, x, y, mlp.Settings("softplus", epochs=2, batch_size=2))
    assert len(history) == 2


def defined_and_used(path):
    """For each top-level statement of a Python file: (its line, the names it defines, the
    names it reads)."""
    import ast
    rows = []
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        else:
            targets = getattr(node, "targets", []) + ([node.target] if isinstance(node, ast.AnnAssign) else [])
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        local = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)} | {  # arguments and locals
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        rows.append((node.lineno, names, used - local))
    return rows


def forward_references(path):
    """'f uses g' for every top-level statement that reads a top-level name defined below it."""
    rows = defined_and_used(path)
    first = {}
    for line, names, _ in rows:
        for name in names:
            first.setdefault(name, line)
    return [f"{names or line} uses {name}" for line, names, used in rows for name in sorted(used)
            if first.get(name, 0) > line]


def test_mlp_reads_top_to_bottom_and_part_one_never_uses_part_two():
    assert forward_references(HERE / "mlp.py") == []
    lines = (HERE / "mlp.py").read_text().splitlines()
    part_two = next(i for i, line in enumerate(lines, 1) if line.startswith("# Part II"))
    where = {name: line for line, names, _ in defined_and_used(HERE / "mlp.py") for name in names}
    network = ("init", "forward", "loss", "grads", "update", "scheduled_lr", "augment", "preprocess", "train",
               "classification_report", "gradcheck")
    appendix = ("write_together", "read_idx", "fetch_dataset", "save", "load", "frame_digit", "training_memory")
    assert all(where[name] < part_two for name in network) and all(where[name] > part_two for name in appendix)


def test_cli_helpers_stand_above_the_commands_that_use_them():
    assert forward_references(HERE / "cli.py") == []


def test_train_takes_one_settings_value_and_few_parameters():
    import inspect
    assert len(inspect.signature(mlp.train).parameters) <= 10
    assert len(inspect.signature(mlp.train_epoch).parameters) <= 10
    assert cli.DEFAULTS == mlp.Settings._field_defaults  # the CLI's defaults are mlp's
    assert mlp.check_settings(mlp.Settings("relu", optimizer="adam")).lr == mlp.OPTIMIZERS["adam"].lr
    with pytest.raises(TypeError, match=r"settings must be mlp.Settings\(activation, ...\), got dict"):
        mlp.train(mlp.init([2, 2], "relu"), np.zeros((1, 2), np.float32), np.zeros(1, int), {"activation": "relu"})


def test_a_new_augmentation_is_one_registry_entry(monkeypatch):
    mirror = mlp.Augmentation(lambda images, rng, strength: images[:, :, ::-1], "left and right swapped")
    monkeypatch.setitem(mlp.AUGMENTATIONS, "mirror", mirror)
    x = np.arange(8, dtype=np.float32).reshape(2, 4) / 8
    assert mlp.augment(x, (2, 2), "mirror", np.random.default_rng(0)).tolist() == \
        (x.reshape(2, 2, 2)[:, :, ::-1].reshape(2, 4)).tolist()
    rng = np.random.default_rng(0)
    _, history = mlp.train(mlp.init([4, 3, 2], "relu"), rng.random((8, 4), dtype=np.float32), rng.integers(0, 2, 8),
                           mlp.Settings("relu", epochs=1, batch_size=4, augment_kind="mirror"))
    assert len(history) == 1


def test_a_new_schedule_that_watches_validation_is_one_registry_entry(monkeypatch):
    halving = mlp.Schedule(lambda lr, epoch, epochs, warmup: lr, False, lambda best: 0.5, "halved every epoch")
    monkeypatch.setitem(mlp.SCHEDULES, "halving", halving)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4), dtype=np.float32), rng.integers(0, 2, 16)
    settings = mlp.Settings("relu", epochs=3, lr=0.4, schedule="halving")
    _, history = mlp.train(mlp.init([4, 3, 2], "relu"), x, y, settings, val=(x[:4], y[:4]))
    assert [r["lr"] for r in history] == [0.4, 0.2, 0.1]
    with pytest.raises(ValueError, match="the halving schedule watches validation accuracy"):
        mlp.train(mlp.init([4, 3, 2], "relu"), x, y, settings)


def test_a_new_preprocessing_is_one_registry_entry(tmp_path, monkeypatch):
    centred = mlp.Preprocessing(lambda x, prep, chunk: {"mean": mlp.to_unit(x, prep, np.float64).mean(axis=0)},
                                lambda units, prep: units - prep["mean"].astype(units.dtype),
                                {"mean": mlp._finite}, "each pixel's mean removed")
    monkeypatch.setitem(mlp.PREPROCESSINGS, "centred", centred)
    x = np.array([[0, 10], [20, 30]], np.uint8)
    prep = mlp.fit_preprocessing(x, "centred")
    assert prep["mean"].tolist() == [1 / 3, 2 / 3]
    np.testing.assert_allclose(mlp.preprocess(x, prep), [[-1 / 3, -1 / 3], [1 / 3, 1 / 3]], rtol=1e-6)
    mlp.save(tmp_path / "w.npz", mlp.init([2, 2], "relu"), {"activation": "relu", "preprocessing": prep})
    assert mlp.load(tmp_path / "w.npz")[1]["preprocessing"]["mean"].tolist() == [1 / 3, 2 / 3]


def test_memory_estimate_counts_the_optimizers_state_arrays():
    n_params = 10 * 5 + 5 + 5 * 2 + 2  # 67
    sgd, adam = (mlp.training_memory([10, 5, 2], 1, name) for name in ("sgd", "adam"))
    assert (mlp.OPTIMIZERS["sgd"].state_arrays, mlp.OPTIMIZERS["adam"].state_arrays) == (1, 2)
    assert adam - sgd == n_params * 4  # one more float32 array per parameter


@pytest.mark.parametrize("labels, message", [
    ([0, 1, -1, 2], r"labels must be ints in \[0, 3\) .* got -1 to 2"),
    ([0, 1, 3, 2], r"labels must be ints in \[0, 3\) .* got 0 to 3"),
    ([0.0, 1.0, 2.0, 1.0], "labels must be a 1-D array of ints"),
    ([0, 1, 2], "4 examples but 3 labels"),
])
def test_labels_are_checked_where_mlp_starts(labels, message):
    params = mlp.init([5, 6, 3], "relu", seed=0)
    x, y = np.zeros((4, 5), np.float32), np.array(labels)
    logits, cache = mlp.forward(params, x, "relu")
    for call in (lambda: mlp.loss(logits, y), lambda: mlp.grads(params, cache, y),
                 lambda: mlp.train(params, x, y, mlp.Settings("relu", epochs=1))):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize("call, message", [
    (lambda p, x: mlp.forward(p, x, "relu", dropout=0.5), "needs rng=np.random.default_rng"),
    (lambda p, x: mlp.forward(p, x[:, :4], "relu"), r"inputs must be a \(batch, 5\) float array"),
    (lambda p, x: mlp.forward(p, x, "swish"), "unknown activation 'swish'; choose one of tanh"),
    (lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings("relu", patience=2)),
     "patience watches validation accuracy: give a validation set"),
    (lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings("relu", lr=float("inf"))),
     "lr must be greater than 0 and finite, got inf"),
    (lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings("relu", momentum=1.0)),
     r"momentum must be in \[0, 1\), got 1.0"),
    (lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings("relu", epochs=0)), "epochs must be a whole number"),
    (lambda p, x: mlp.update(p, p, {}, 0.1, optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
])
def test_mlp_refuses_bad_arguments_with_value_errors(call, message):
    params = mlp.init([5, 6, 3], "relu", seed=0)
    with pytest.raises(ValueError, match=message):
        call(params, np.zeros((4, 5), np.float32))


# ----------------------------------------------------------------------------- optimizers, clipping and schedules
def one_param(value):
    return {"W1": np.array([[value]]), "b1": np.array([value])}


def test_update_is_sgd_with_momentum_and_pure():
    params = {"W1": np.array([[1.0]]), "b1": np.array([2.0])}
    g = {"W1": np.array([[0.5]]), "b1": np.array([-1.0])}
    snapshot = {k: v.copy() for k, v in params.items()}
    p1, s1 = mlp.update(params, g, {}, lr=0.1, momentum=0.9)
    assert p1["W1"][0, 0] == pytest.approx(0.95) and s1["W1"][0, 0] == pytest.approx(0.5)
    s1_copy = {k: v.copy() for k, v in s1.items()}
    p2, s2 = mlp.update(p1, g, s1, lr=0.1, momentum=0.9)
    assert s2["W1"][0, 0] == pytest.approx(0.95)  # v = 0.9 * 0.5 + 0.5
    assert p2["W1"][0, 0] == pytest.approx(0.95 - 0.095)
    assert p2["b1"][0] == pytest.approx(2.0 + 0.1 + 0.19)
    assert_same_arrays(params, snapshot)
    assert_same_arrays(s1, s1_copy)


def test_nesterov_step_hand_computed():
    g = one_param(0.5)
    p1, s1 = mlp.sgd(one_param(1.0), g, {}, lr=0.1, momentum=0.9, nesterov=True)
    assert p1["W1"][0, 0] == pytest.approx(1 - 0.1 * (0.5 + 0.9 * 0.5))  # v = g at first
    p2, _ = mlp.sgd(p1, g, s1, lr=0.1, momentum=0.9, nesterov=True)
    v = 0.9 * 0.5 + 0.5
    assert p2["W1"][0, 0] == pytest.approx(p1["W1"][0, 0] - 0.1 * (0.5 + 0.9 * v))


def test_sgd_weight_decay_is_l2_on_weights_only():
    p, _ = mlp.update(one_param(2.0), one_param(0.0), {}, lr=0.1, momentum=0.0, weight_decay=0.5)
    assert p["W1"][0, 0] == pytest.approx(2 - 0.1 * 0.5 * 2) and p["b1"][0] == 2.0


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_two_steps_hand_computed(decoupled):
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    params, state = one_param(1.0), {}
    p, m, v = 1.0, 0.0, 0.0
    for t, g in ((1, 0.5), (2, -0.2)):
        params, state = mlp.adam(params, one_param(g), state, lr, weight_decay=wd, decoupled=decoupled)
        g_eff = g if decoupled else g + wd * p  # Adam: L2 in the gradient; AdamW: decoupled
        m = b1 * m + (1 - b1) * g_eff
        v = b2 * v + (1 - b2) * g_eff**2
        step = (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)
        p = p - lr * (step + (wd * p if decoupled else 0))
        assert params["W1"][0, 0] == pytest.approx(p, rel=1e-12)
        assert state["t"] == t
    assert params["b1"][0] != params["W1"][0, 0]  # biases are not decayed


@pytest.mark.parametrize("optimizer", mlp.OPTIMIZERS)
def test_each_optimizer_reaches_the_minimum_of_a_quadratic(optimizer):
    target = {"W1": np.array([[3.0, -2.0]]), "b1": np.array([0.5, 1.0])}
    params, state = {k: np.zeros_like(v) for k, v in target.items()}, {}
    lr = 0.1 if optimizer in ("sgd", "nesterov") else 0.05
    for _ in range(1000):  # f(p) = |p - target|^2 / 2, gradient p - target
        g = {k: params[k] - target[k] for k in params}
        params, state = mlp.update(params, g, state, lr, optimizer=optimizer)
    assert_close_arrays(params, target, rtol=0, atol=1e-3)


def test_clip_by_global_norm():
    g = {"W1": np.array([[3.0]]), "b1": np.array([4.0])}  # norm 5
    clipped = mlp.clip_by_global_norm(g, 1.0)
    assert clipped["W1"][0, 0] == pytest.approx(0.6) and clipped["b1"][0] == pytest.approx(0.8)
    assert mlp.clip_by_global_norm(g, 10.0) is g
    assert g["W1"][0, 0] == 3.0


def test_schedules_hand_computed():
    lrs = lambda name, **kw: [mlp.scheduled_lr(name, 1.0, e, 9, **kw) for e in range(9)]
    assert lrs("constant") == [1.0] * 9
    assert lrs("step") == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    cosine = [mlp.scheduled_lr("cosine", 1.0, e, 10, warmup=2) for e in range(10)]
    assert cosine[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert cosine[6] == pytest.approx(0.5)  # half way through the 8 epochs after warm-up
    assert all(a > b for a, b in zip(cosine[2:], cosine[3:]))


def test_plateau_schedule_cuts_the_rate_when_validation_stalls():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4), dtype=np.float32), rng.integers(0, 2, 64)
    val = (rng.random((8, 4), dtype=np.float32), np.full(8, 2))  # class 2 is never trained: acc stays 0
    _, history = mlp.train(mlp.init([4, 5, 3], "relu"), x, y,
                           mlp.Settings("relu", epochs=6, lr=0.1, schedule="plateau"), val=val)
    assert [r["lr"] for r in history] == pytest.approx([0.1, 0.1, 0.1, 0.02, 0.02, 0.004])


# ----------------------------------------------------------------------------- augmentation
@pytest.mark.parametrize("kind", mlp.AUGMENTATIONS)
def test_augmentation_keeps_shape_dtype_and_range(kind, mnist):
    x = mnist[0][:32]
    out = mlp.augment(x, (28, 28), kind, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    if kind != "none":
        assert not np.array_equal(out, x)
        assert np.array_equal(out, mlp.augment(x, (28, 28), kind, np.random.default_rng(0)))


@pytest.mark.parametrize("kind", ["affine", "elastic"])
def test_zero_distortion_is_the_identity(kind, mnist):
    x = mnist[0][:8]
    out = mlp.augment(x, (28, 28), kind, np.random.default_rng(0), max_shift=0, max_degrees=0,
                      max_scale=0, alpha=0.0)
    assert np.allclose(out, x, atol=1e-6)


def test_bilinear_sampling_matches_the_formula_inside_and_reads_zeros_outside():
    rng = np.random.default_rng(0)
    images = rng.random((3, 5, 6), dtype=np.float32)
    rows = rng.uniform(-3, 8, (3, 5, 6)).astype(np.float32)  # many points off the image
    cols = rng.uniform(-3, 9, (3, 5, 6)).astype(np.float32)

    def pixel(b, r, c):
        return images[b, r, c] if 0 <= r < 5 and 0 <= c < 6 else 0.0
    expected = np.zeros_like(images)
    for b, i, j in np.ndindex(images.shape):
        r, c = float(rows[b, i, j]), float(cols[b, i, j])
        r0, c0 = math.floor(r), math.floor(c)
        fr, fc = r - r0, c - c0
        expected[b, i, j] = ((1 - fr) * ((1 - fc) * pixel(b, r0, c0) + fc * pixel(b, r0, c0 + 1))
                             + fr * ((1 - fc) * pixel(b, r0 + 1, c0) + fc * pixel(b, r0 + 1, c0 + 1)))
    assert np.allclose(mlp._bilinear(images, rows, cols), expected, atol=1e-6)

def test_elastic_fields_drawn_in_the_blur_basis_match_blurred_uniform_noise():
    # The cheap draw (k x k Gaussian noise in the blur's leading eigenvectors) must give the
    # displacement fields of Simard's recipe: uniform noise blurred by the Gaussian matrix.
    rng = np.random.default_rng(0)
    n, sigma, draws = 28, 4.0, 4000
    blur = mlp._gaussian_matrix(n, sigma)
    basis = mlp.smooth_field_basis(n, sigma, dtype=np.float64)
    assert basis.shape[1] < n // 2  # the point: far fewer values to draw
    full = blur @ (rng.random((draws, n, n)) * 2 - 1) @ blur.T
    cheap = basis @ (rng.standard_normal((draws, basis.shape[1], basis.shape[1])) / np.sqrt(3)) @ basis.T
    assert np.allclose(cheap.std(axis=0), full.std(axis=0), rtol=0.08)  # per pixel, 4,000 draws
    for dr, dc in [(0, 1), (0, 4), (3, 3), (0, 10)]:  # how smooth: correlation with a neighbour
        a = np.corrcoef(full[:, 8, 8], full[:, 8 + dr, 8 + dc])[0, 1]
        b = np.corrcoef(cheap[:, 8, 8], cheap[:, 8 + dr, 8 + dc])[0, 1]
        assert abs(a - b) < 0.05, (dr, dc, a, b)


@pytest.mark.parametrize("strength", [{"sigma": 0.0}, {"alpha": -1.0}, {"max_degrees": float("nan")}])
def test_augment_refuses_impossible_strengths(strength, mnist):
    with pytest.raises(ValueError, match="distortion strengths must be >= 0 and sigma > 0"):
        mlp.augment(mnist[0][:2], (28, 28), "elastic", np.random.default_rng(0), **strength)

def test_shift_moves_the_centre_of_mass_by_the_shift(mnist):
    images = mnist[0][:6].reshape(6, 28, 28)
    dr, dc = np.array([2, -2, 1, 0, -1, 2]), np.array([-1, 2, 0, 2, -2, 1])
    moved = mlp.shift_images(images, dr, dc)
    rows, cols = np.mgrid[:28, :28]

    def centre(im):
        return np.array([(im * rows).sum(), (im * cols).sum()]) / im.sum()
    for i in range(6):  # MNIST digits sit inside a 4-pixel border, so nothing falls off
        assert centre(moved[i]) - centre(images[i]) == pytest.approx([dr[i], dc[i]], abs=1e-4)


# ----------------------------------------------------------------------------- the training loop, validation and metrics
def test_train_covers_every_example_with_a_short_last_batch_and_is_deterministic():
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 4), dtype=np.float32), rng.integers(0, 3, 10)
    params = mlp.init([4, 5, 3], "relu", seed=0)
    calls = []
    p1, history = mlp.train(params, x, y, mlp.Settings("relu", epochs=2, batch_size=4),
                            on_batch=lambda i, n, l: calls.append((i, n)))
    assert calls == [(0, 3), (1, 3), (2, 3)] * 2
    assert [r["epoch"] for r in history] == [1, 2]
    p2, _ = mlp.train(params, x, y, mlp.Settings("relu", epochs=2, batch_size=4))
    p3, _ = mlp.train(params, x, y, mlp.Settings("relu", epochs=2, batch_size=4, seed=1))
    assert_same_arrays(p1, p2)
    assert not np.array_equal(p1["W1"], p3["W1"])


def test_validation_split_is_stratified_and_seeded(mnist):
    x, y = mnist[0], mnist[1]
    xt, yt, xv, yv = mlp.split_validation(x, y, 6000, seed=0)
    assert len(yv) == 6000 and len(yt) == 54000
    assert np.abs(np.bincount(yv) / 6000 - np.bincount(y) / 60000).max() < 0.001
    assert np.array_equal(mlp.split_validation(x, y, 6000, seed=0)[3], yv)


def test_early_stopping_restores_the_best_epoch(mnist):
    x, y = mnist[0][:3000], mnist[1][:3000]
    xt, yt, xv, yv = mlp.split_validation(x, y, 500, seed=0)
    params, history = mlp.train(mlp.init([784, 32, 10], "relu"), xt, yt,
                                mlp.Settings("relu", epochs=30, lr=0.5, patience=3), val=(xv, yv))
    best = max(history, key=lambda r: r["val_accuracy"])
    assert len(history) < 30 and len(history) == best["epoch"] + 3  # stopped early
    assert mlp.evaluate(params, xv, yv, "relu")[1] == best["val_accuracy"]
    assert history[-1]["best_epoch"] == best["epoch"]  # train says which epoch it kept


def test_metrics():
    assert mlp.accuracy([1, 2, 3, 4], np.array([1, 2, 0, 4])) == 0.75
    m = mlp.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_relu_128_64_reaches_95_5_percent_in_two_epochs(mnist):
    x, y, x_test, y_test = mnist
    params = mlp.init([784, 128, 64, 10], "relu", seed=0)
    params, history = mlp.train(params, x, y, mlp.Settings("relu", epochs=2))
    test_loss, test_accuracy = mlp.evaluate(params, x_test, y_test, "relu")
    assert test_accuracy >= 0.955, test_accuracy
    assert history[1]["loss"] < history[0]["loss"]


def test_short_adamw_beats_short_plain_sgd(mnist):
    x, y, x_test, y_test = mnist
    x, y = x[:15000], y[:15000]
    scores = {}
    for name, kw in (("sgd", dict(optimizer="sgd", lr=0.05, momentum=0.0)),
                     ("adamw", dict(optimizer="adamw", lr=1e-3, weight_decay=1e-4))):
        params, _ = mlp.train(mlp.init([784, 128, 64, 10], "relu"), x, y, mlp.Settings("relu", epochs=2, **kw))
        scores[name] = mlp.evaluate(params, x_test, y_test, "relu")[1]
    assert scores["adamw"] > scores["sgd"] + 0.01, scores


def interrupt_after(k):
    def on_epoch(record, checkpoint):
        if record["epoch"] == k:
            raise KeyboardInterrupt
    return on_epoch


def resume_case(mnist, options, epochs):
    """(params, x, y, settings, val, full run's params, full run's history) for a resume test:
    1,000 MNIST images, a 784-16-10 relu, `options` for Settings (val_size holds some out)."""
    x, y = mnist[0][:1000], mnist[1][:1000]
    options = dict(options)
    val_size, val = options.pop("val_size", 0), None
    if val_size:
        x, y, xv, yv = mlp.split_validation(x, y, val_size, seed=0)
        val = (xv, yv)
    settings = mlp.Settings("relu", epochs=epochs, batch_size=64, seed=3, **options)
    params = mlp.init([784, 16, 10], "relu", seed=3)
    return (params, x, y, settings, val, *mlp.train(params, x, y, settings, val))


@pytest.mark.parametrize("options", [
    {"optimizer": "sgd"},
    {"optimizer": "adamw", "dropout": 0.2, "augment_kind": "elastic", "val_size": 100, "schedule": "plateau"},
])
def test_a_checkpoint_part_way_through_an_epoch_resumes_bit_identically(tmp_path, mnist, options):
    params, x, y, settings, val, full, full_history = resume_case(mnist, options, epochs=3)

    def stop_in_epoch_2(checkpoint):  # after batch 5 of epoch 2: saved, then a crash
        if checkpoint.epoch == 1 and checkpoint.step == 5:
            mlp.save_checkpoint(tmp_path / "c.npz", checkpoint, {"activation": "relu"})
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        mlp.train(params, x, y, settings, val, on_step=stop_in_epoch_2)
    checkpoint, _ = mlp.load_checkpoint(tmp_path / "c.npz")
    assert (checkpoint.epoch, checkpoint.step, len(checkpoint.history)) == (1, 5, 1)
    resumed, history = mlp.train(params, x, y, settings, val, resume=checkpoint)
    assert_same_arrays(resumed, full)
    assert [r["loss"] for r in history] == [r["loss"] for r in full_history]


@pytest.mark.parametrize("options", [
    {"optimizer": "sgd"},
    {"optimizer": "adamw", "weight_decay": 1e-3, "dropout": 0.2, "val_size": 100, "patience": 3},
])
def test_interrupt_checkpoint_resume_is_bit_identical(tmp_path, mnist, options):
    params, x, y, settings, val, full, full_history = resume_case(mnist, options, epochs=4)
    latest = {}

    def on_epoch(record, checkpoint):
        latest["checkpoint"] = checkpoint
        interrupt_after(2)(record, checkpoint)
    with pytest.raises(KeyboardInterrupt):
        mlp.train(params, x, y, settings, val, on_epoch=on_epoch)
    mlp.save_checkpoint(tmp_path / "c.npz", latest["checkpoint"], {"activation": "relu"})
    checkpoint, _ = mlp.load_checkpoint(tmp_path / "c.npz")
    assert checkpoint.epoch == 2
    resumed, history = mlp.train(params, x, y, settings, val, resume=checkpoint)
    assert_same_arrays(resumed, full)
    assert [r["loss"] for r in history] == [r["loss"] for r in full_history]


# ----------------------------------------------------------------------------- data: IDX files and the shipped MNIST
@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 4))
    write_idx(tmp_path / "a", images, gz)
    back = mlp.read_idx(tmp_path / "a")
    assert back.dtype == np.uint8 and np.array_equal(back, images)


def idx_bytes(array):
    array = np.asarray(array, np.uint8)
    return (struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.tobytes())


@pytest.mark.parametrize("content, message", [
    (b"", "bad magic number"),
    (b"\x01\x02\x08\x01" + b"\0" * 8, "bad magic number"),
    (b"\0\0\x07\x01\0\0\0\x01\x05", "bad magic number"),  # unknown type code
    (b"\0\0\x08\x03\0\0\0\x02", "truncated IDX header"),
    (idx_bytes(np.ones((4, 2, 2)))[:-3], "truncated"),
    (idx_bytes(np.ones((4, 2, 2))) + b"\0", "extra bytes"),
    (b"\0\0\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" + b"\0" * 16, "4 GiB"),  # absurd header
    (b"\0\0\x08\x03" + struct.pack(">3I", 60000, 28, 28) + b"\0" * 16, "truncated"),  # lying header
    (b"\x1f\x8b" + b"garbage" * 10, "cannot read"),
    (gzip.compress(idx_bytes(np.ones((4, 2, 2))))[:-12], "cannot read"),  # gzip cut short
])
def test_idx_corrupt_files_raise_value_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        mlp.read_idx(path)
    assert str(path) in str(e.value)


def test_load_mnist_checks_counts_and_folder(tmp_path):
    folder = write_dataset(tmp_path / "d", np.zeros((3, 2, 2)), np.zeros(2), np.zeros((1, 2, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        mlp.load_mnist(folder)
    with pytest.raises(ValueError, match="no such data folder"):
        mlp.load_mnist(tmp_path / "missing")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match="missing t10k-labels-idx1-ubyte"):
        mlp.load_mnist(folder)


def write_float_idx(path, array):
    array = np.asarray(array, ">f4")
    raw = struct.pack(">BBBB", 0, 0, 0x0D, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(raw + array.tobytes())


@pytest.mark.parametrize("pixels, message", [
    (np.full((3, 2, 2), np.nan), "holds NaN or infinite pixel values"),
])
def test_float_images_that_are_not_finite_are_refused(tmp_path, pixels, message):
    folder = write_dataset(tmp_path / "d", np.zeros((3, 2, 2)), [0, 1, 0], np.zeros((2, 2, 2)), [1, 0])
    (folder / "train-images-idx3-ubyte.gz").unlink()
    write_float_idx(folder / "train-images-idx3-ubyte", pixels)
    with pytest.raises(ValueError, match=message):
        mlp.load_mnist(folder)
    result = run("train", "relu", "--data", folder, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and message.split(";")[0] in result.stderr and result.stderr.count("\n") == 1


def test_label_errors_name_the_labels_file(tmp_path):
    folder = write_dataset(tmp_path / "d", np.zeros((3, 2, 2)), [0, 1, 0], np.zeros((2, 2, 2)), [1, 0])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", [1, 0, 1])
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: 2 images but 3 labels"):
        mlp.load_mnist(folder)


def test_load_mnist_accepts_other_sizes_and_raw_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = write_dataset(tmp_path / "d", rng.integers(0, 256, (20, 8, 6)), rng.integers(0, 3, 20),
                           rng.integers(0, 256, (4, 8, 6)), rng.integers(0, 3, 4), gz=False)
    x, y, xt, yt = mlp.load_mnist(folder)
    assert x.shape == (20, 48) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == np.int64 and xt.shape == (4, 48)

SHA256 = {  # of the decompressed files, from ../shared/mnist/SHA256SUMS
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
@pytest.mark.parametrize("stem", list(SHA256))
def test_shipped_mnist_is_the_canonical_one(stem):
    data = gzip.decompress((MNIST / (stem + ".gz")).read_bytes())
    assert hashlib.sha256(data).hexdigest() == SHA256[stem]


def test_shipped_mnist_label_counts(mnist):
    _, y, _, yt = mnist
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shipped_mnist_is_found_without_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not from the checkout's folder
    folder = Path(cli.data_path(cli.DEFAULT_DATA))
    assert sorted(p.name for p in folder.iterdir()) == sorted(s + ".gz" for s in mlp.MNIST_FILES.values())


def small_slice(mnist_raw, n_train=3000, n_test=1000):
    return (mnist_raw["train_images"][:n_train], mnist_raw["train_labels"][:n_train],
            mnist_raw["test_images"][:n_test], mnist_raw["test_labels"][:n_test])


@pytest.fixture(scope="session")
def mnist_raw():
    return {k: mlp.read_idx(MNIST / (stem + ".gz")) for k, stem in mlp.MNIST_FILES.items()}


def test_raw_data_stays_uint8_and_raw_files_are_memory_mapped(tmp_path, mnist_raw):
    folder = write_dataset(tmp_path / "raw", *small_slice(mnist_raw, 50, 20), gz=False)
    x, y, xt, yt = mlp.load_idx_dataset(folder)
    assert x.dtype == np.uint8 and x.shape == (50, 784) and isinstance(x.base, np.memmap)
    assert np.array_equal(x, mnist_raw["train_images"][:50].reshape(50, -1))
    x_gz = mlp.load_idx_dataset(MNIST, splits=("test",))[0]
    assert x_gz.dtype == np.uint8 and x_gz.flags.owndata is False  # one buffer, viewed, not copied


def test_range_preprocessing_of_mnist_is_the_old_division_by_255(mnist_raw):
    x = mnist_raw["test_images"].reshape(10000, -1)
    prep = mlp.fit_preprocessing(x)
    assert prep == {"kind": "range", "low": 0.0, "high": 255.0}
    before = x.copy()
    assert_same_arrays({"x": mlp.preprocess(x, prep)}, {"x": x.astype(np.float32) * np.float32(1 / 255)})
    assert np.array_equal(x, before)  # the raw pixels are not touched


@pytest.mark.parametrize("dtype, scale", [(np.uint8, 16), (np.int16, 255), (np.float32, 255.0)])
def test_other_pixel_ranges_are_scaled_to_the_unit_range(dtype, scale):
    rng = np.random.default_rng(0)
    x = (rng.random((20, 6)) * scale).astype(dtype)
    x[0, 0], x[1, 1] = 0, scale
    prep = mlp.fit_preprocessing(x)
    units = mlp.preprocess(x, prep)
    assert units.dtype == np.float32 and units.min() == 0 and units.max() == pytest.approx(1)
    np.testing.assert_allclose(units, x / scale, rtol=1e-6, atol=1e-7)


def test_standard_preprocessing_centres_and_scales_each_pixel():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (500, 5)).astype(np.uint8)
    x[:, 4] = 7  # a pixel that never varies keeps std 1
    prep = mlp.fit_preprocessing(x, "standard", chunk=64)  # chunked statistics, as for big data
    z = mlp.preprocess(x, prep, np.float64)
    np.testing.assert_allclose(z[:, :4].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :4].std(axis=0), 1, rtol=1e-12)
    assert prep["std"][4] == 1 and np.allclose(z[:, 4], 0, atol=1e-12)  # chunked mean: rounding only


def test_four_bit_scans_train_as_well_as_the_same_images_in_0_255(tmp_path, mnist_raw):
    x, y, xt, yt = small_slice(mnist_raw)
    accuracy = {}
    for name, scale in (("full", 1), ("scan", 16)):  # 0-255, and 4-bit pixels 0-15 stored as uint8
        folder = write_dataset(tmp_path / name, x // scale, y, xt // scale, yt)
        result = run("train", "relu", "--hidden", "64", "--epochs", "3", "--data", folder, "--out", tmp_path / f"{name}.npz")
        assert result.exit_code == 0, result.output
        accuracy[name] = mlp.load(tmp_path / f"{name}.npz")[1]["test_accuracy"]
    assert accuracy["scan"] > 0.8 and abs(accuracy["scan"] - accuracy["full"]) < 0.03  # unscaled: ~0.7


def test_float_images_in_0_255_train_and_the_preprocessing_is_stored(tmp_path, mnist_raw):
    x, y, xt, yt = small_slice(mnist_raw, 2000, 500)
    folder = write_dataset(tmp_path / "d", x, y, xt, yt)
    for stem, array in (("train-images-idx3-ubyte", x), ("t10k-images-idx3-ubyte", xt)):
        (folder / (stem + ".gz")).unlink()
        write_float_idx(folder / stem, array.astype(np.float32))
    result = run("train", "relu", "--hidden", "32", "--epochs", "2", "--data", folder, "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(tmp_path / "w.npz")
    assert meta["preprocessing"] == {"kind": "range", "low": 0.0, "high": 255.0} and meta["test_accuracy"] > 0.8
    result = run("eval", tmp_path / "w.npz", "--data", folder, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == pytest.approx(meta["test_accuracy"])



def test_the_saved_test_score_is_that_of_the_kept_weights_with_validation(tmp_path, small_data):
    out = tmp_path / "v.npz"
    result = run("train", "relu", "--hidden", "16", "--epochs", "6", "--val", "200", "--schedule", "constant",
                 "--lr", "0.3", "--data", small_data, "--out", out)  # a rate that makes validation wander
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(out)
    history = json.loads((tmp_path / "v.history.json").read_text())
    kept = history[-1]["best_epoch"]
    assert kept < len(history)  # an earlier epoch's weights are kept, not the last ones
    xt, yt = mlp.load_idx_dataset(small_data, splits=("test",))
    loss, accuracy = mlp.evaluate(params, xt, yt, "relu", preprocessing=meta["preprocessing"])
    assert (meta["test_loss"], meta["test_accuracy"]) == (loss, accuracy)
    assert history[kept - 1]["test_accuracy"] == accuracy

def test_standard_preprocessing_is_applied_by_eval_and_predict(tmp_path, small_data):
    out = tmp_path / "s.npz"
    result = run("train", "relu", "--hidden", "16", "--epochs", "2", "--normalize", "standard",
                 "--data", small_data, "--out", out)
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(out)
    prep = meta["preprocessing"]
    assert prep["kind"] == "standard" and prep["mean"].shape == (784,) and prep["std"].min() > 0
    xt, yt = mlp.load_idx_dataset(small_data, splits=("test",))
    expected = mlp.evaluate(params, xt, yt, "relu", preprocessing=prep)[1]
    assert expected == meta["test_accuracy"]
    run("eval", out, "--data", small_data, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == pytest.approx(expected)
    guess = int(mlp.predict(params, xt[5:6], "relu", preprocessing=prep)[0])
    assert f"prediction: {guess}" in run("predict", out, "--index", "5", "--data", small_data).stdout


def test_weights_saved_before_preprocessing_was_stored_still_load(tmp_path):
    import io
    import zipfile
    params = mlp.init([4, 3], "relu")
    meta = {"activation": "relu", "format": "mlp.py weights", "version": 1, "sizes": [4, 3], "dtype": "float32"}
    with zipfile.ZipFile(tmp_path / "old.npz", "w") as archive:  # as the previous version wrote it
        for name, array in {**params, "meta": np.array(json.dumps(meta))}.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array)
            archive.writestr(name + ".npy", buffer.getvalue())
    assert mlp.load(tmp_path / "old.npz")[1]["preprocessing"] == mlp.LEGACY_PREPROCESSING


def test_class_names_from_classes_txt_are_stored_and_shown(tmp_path, mnist_raw):
    x, y, xt, yt = small_slice(mnist_raw, 600, 200)
    folder = write_dataset(tmp_path / "d", x, y, xt, yt)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (folder / "classes.txt").write_text("\n".join(names) + "\n")
    result = run("train", "relu", "--hidden", "16", "--epochs", "1", "--data", folder, "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert mlp.load(tmp_path / "w.npz")[1]["classes"] == names
    result = run("eval", tmp_path / "w.npz", "--data", folder, "--json", tmp_path / "r.json")
    assert "seven" in result.stdout and json.loads((tmp_path / "r.json").read_text())["classes"] == names
    result = run("predict", tmp_path / "w.npz", "--index", "0", "--data", folder)
    assert re.search(r"prediction: (zero|one|two|three|four|five|six|seven|eight|nine)", result.stdout)
    assert "seven" in result.stdout  # test image 0 is a 7: named whether right or wrong
    (folder / "classes.txt").write_text("a\nb\n")
    result = run("train", "relu", "--epochs", "1", "--data", folder, "--out", tmp_path / "x.npz")
    assert result.exit_code == 1 and "2 class names for 10 classes" in result.stderr


# ----------------------------------------------------------------------------- your own data: CSV, .npz, folders of pictures
@pytest.fixture(scope="session")
def digits():
    """600 + 200 real MNIST digits as raw uint8 (N, 28, 28) and labels, for building files."""
    raw = {k: mlp.read_idx(MNIST / (stem + ".gz")) for k, stem in mlp.MNIST_FILES.items()}
    return raw["train_images"][:600], raw["train_labels"][:600], raw["test_images"][:200], raw["test_labels"][:200]


def write_csv(path, rows, header=None):
    np.savetxt(path, rows, fmt="%s", delimiter=",", header=",".join(header) if header else "", comments="")
    return path


def test_kaggle_csvs_train_hold_out_a_test_set_and_predict_a_submission(tmp_path, digits):
    x, y, xt, _ = digits
    pixels = [f"pixel{i}" for i in range(784)]
    folder = tmp_path / "kaggle"
    folder.mkdir()
    write_csv(folder / "train.csv", np.column_stack([y, x.reshape(600, -1)]), ["label", *pixels])
    write_csv(folder / "test.csv", xt.reshape(200, -1), pixels)  # no labels: for predict
    found = mlp.load_data(folder)
    assert (found.x_train.shape, found.x_test.shape, found.x_train.dtype, found.shape) == ((480, 784), (120, 784), np.uint8, (28, 28))
    assert found.test_from == "20% of train.csv held out (stratified, seed 0)"
    result = run("train", "relu", "--hidden", "16", "--epochs", "2", "--data", folder, "--out", tmp_path / "k.npz")
    assert result.exit_code == 0, result.output
    assert "test set: 20% of train.csv held out" in " ".join(result.stderr.split())
    meta = mlp.load(tmp_path / "k.npz")[1]
    assert meta["data"] == {"path": str(folder), "form": "csv", "label_column": None}
    assert meta["input"] == {"shape": [28, 28], "pictures": "framed"}
    result = run("predict", tmp_path / "k.npz", folder / "test.csv", "--out", tmp_path / "submission.csv")
    assert result.exit_code == 0 and "wrote 200 predictions" in result.stdout
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 201 and lines[1].split(",")[0] == "1"
    assert all(re.fullmatch(r"\d+,[0-9]", line) for line in lines[1:])


def test_headerless_csv_has_its_label_first(tmp_path, digits):
    x, y, _, _ = digits
    found = mlp.load_data(write_csv(tmp_path / "mnist_train.csv", np.column_stack([y, x.reshape(600, -1)])))
    assert found.x_train.shape[1] == 784 and sorted(np.concatenate([found.y_train, found.y_test])) == sorted(y)


def test_a_table_with_word_labels_and_a_named_label_column(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(90, 3)) + np.repeat(np.eye(3) * 4, 30, axis=0)  # three separable clusters
    species = np.repeat(["versicolor", "setosa", "virginica"], 30)
    path = write_csv(tmp_path / "flowers.csv", np.column_stack([species, features.round(3)]), ["Species", "a", "b", "c"])
    with pytest.raises(ValueError, match="no label column"):
        mlp.load_data(path)
    found = mlp.load_data(path, label_column="species")
    assert found.classes == ("setosa", "versicolor", "virginica") and found.shape is None  # sorted; a table
    assert found.x_train.dtype == np.float32 and found.x_train.shape == (72, 3)
    out = tmp_path / "f.npz"
    result = run("train", "relu", "--hidden", "8", "--epochs", "40", "--batch-size", "8", "--normalize", "standard",
                 "--data", path, "--label-column", "species", "--out", out)
    assert result.exit_code == 0, result.output
    assert mlp.load(out)[1]["test_accuracy"] > 0.9
    result = run("eval", out)  # the data it was trained on, with its label column
    assert result.exit_code == 0 and "virginica" in result.stdout and f"data: {path}" in result.stderr
    rows = write_csv(tmp_path / "rows.csv", features[:2].round(3), ["a", "b", "c"])
    result = run("predict", out, rows)
    assert result.exit_code == 0 and result.stdout.splitlines() == ["ImageId,Label", "1,versicolor", "2,versicolor"]
    result = run("predict", out, tmp_path / "rows.csv", "--index", "0")
    assert result.exit_code == 2
    (tmp_path / "pic.png").write_bytes(b"")
    result = run("predict", out, tmp_path / "pic.png")
    assert result.exit_code == 2 and "trained on a table of 3 features, not pictures" in result.stderr


def test_keras_npz_of_any_image_shape_everywhere(tmp_path, digits):
    Image = pytest.importorskip("PIL.Image")
    x, y, xt, yt = digits
    small = lambda images: np.stack([mlp.resize(im / 255.0, (8, 6)) for im in images]) * 255  # 8 x 6 images
    np.savez(tmp_path / "small.npz", x_train=small(x).round().astype(np.uint8), y_train=y,
             x_test=small(xt).round().astype(np.uint8), y_test=yt)
    found = mlp.load_data(tmp_path / "small.npz")
    assert found.shape == (8, 6) and found.x_train.shape == (600, 48) and found.test_from == "x_test, y_test"
    out = tmp_path / "s.npz"
    result = run("train", "relu", "--hidden", "32", "--epochs", "3", "--data", tmp_path / "small.npz", "--out", out)
    assert result.exit_code == 0, result.output
    assert mlp.load(out)[1]["input"]["shape"] == [8, 6]
    Image.fromarray(255 - x[0]).save(tmp_path / "digit.png")
    result = run("predict", out, tmp_path / "digit.png")
    assert result.exit_code == 0 and "prediction: " in result.stdout
    for plot in ("mistakes", "weights"):
        result = run("plot", plot, out, "--out", tmp_path / f"{plot}.png")
        assert result.exit_code == 0, result.output
    reply = cli.read_pad([mlp.load(out)], np.asarray(Image.fromarray(255 - x[1]).resize((280, 280))) / 255.0)
    assert (reply["rows"], reply["columns"], len(reply["seen"])) == (8, 6, 48)


def test_a_folder_of_class_folders_of_pictures(tmp_path, digits, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    x, y, xt, yt = digits
    names = "zero one two three four five six seven eight nine".split()
    for split, images, labels in (("train", x[:300], y[:300]), ("test", xt[:60], yt[:60])):
        for i, (image, label) in enumerate(zip(images, labels)):
            (tmp_path / "pics" / split / names[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(255 - image).save(tmp_path / "pics" / split / names[label] / f"{i}.png")
    (tmp_path / "pics" / "train" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "pics" / "train" / "one" / "Thumbs.db").write_bytes(b"x")
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "cache"))
    out = tmp_path / "p.npz"
    result = run("train", "relu", "--hidden", "32", "--epochs", "3", "--normalize", "standard", "--data",
                 tmp_path / "pics", "--out", out)
    assert result.exit_code == 0, result.output
    assert "2 other files passed over" in result.stderr
    meta = mlp.load(out)[1]
    assert meta["classes"] == sorted(names) and meta["input"] == {"shape": [28, 28], "pictures": "resized"}
    monkeypatch.setattr(cli, "decode_picture", lambda path: pytest.fail("decoded again"))  # the cache serves
    result = run("eval", out)
    assert result.exit_code == 0 and "images" in result.stdout
    monkeypatch.undo()
    result = run("predict", out, tmp_path / "pics" / "test" / "seven", "--out", tmp_path / "sevens.csv")
    assert result.exit_code == 0
    lines = (tmp_path / "sevens.csv").read_text().splitlines()
    assert lines[0] == "path,class,probability" and len(lines) == 1 + sum(yt[:60] == 7)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "pics" / "test" / "one" / "odd.png")
    result = run("eval", out, "--data", tmp_path / "pics")
    assert result.exit_code == 1 and re.search(r"pictures of different sizes: .*\.png is 28 x 28, .*odd\.png is 20 x 20",
                                               result.stderr)


def test_a_model_remembers_its_data_and_says_when_it_is_gone(tmp_path, small_data):
    data = tmp_path / "d"
    data.mkdir()
    for f in small_data.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "w.npz"
    assert run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", data, "--out", out).exit_code == 0
    result = run("eval", out)
    assert result.exit_code == 0 and f"data: {data} (what {out} was trained on)" in " ".join(result.stderr.split())
    assert "200" in result.stdout  # its 200 test images, not MNIST's 10,000
    for f in data.iterdir():
        f.unlink()
    data.rmdir()
    for command in (["eval", out], ["predict", out, "--index", "0"], ["plot", "confusion", out]):
        result = run(*command)
        assert result.exit_code == 1 and result.stderr == f"error: {out} was trained on {data}, which is not there any more; give --data\n"


def test_class_names_are_text_shown_literally_and_control_characters_refused(tmp_path, small_data):
    data = tmp_path / "d"
    data.mkdir()
    for f in small_data.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    (data / "classes.txt").write_text("\n".join(["fö[r]", "[bold]x[/bold]", *"abcdefgh"]))
    out = tmp_path / "w.npz"
    assert run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", data, "--out", out).exit_code == 0
    result = run("eval", out)
    assert "fö[r]" in result.stdout and "[bold]x[/bold]" in result.stdout
    (data / "classes.txt").write_text("\n".join(["a\x1b[31m", *"bcdefghij"]))
    result = run("eval", out)
    assert result.exit_code == 1 and "holds control characters; use plain text" in result.stderr


def test_training_that_learns_nothing_says_so(tmp_path, digits):
    x, y, _, _ = digits
    np.savez(tmp_path / "noise.npz", x_train=np.zeros((600, 28, 28), np.uint8), y_train=y)  # nothing to learn
    result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", tmp_path / "noise.npz",
                 "--out", tmp_path / "w.npz")
    assert result.exit_code == 0
    assert "no better than always guessing the most common class" in result.stderr
    assert "try --normalize standard" in result.stderr


# ----------------------------------------------------------------------------- named data sets: downloads
@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 serving a tiny data set "tiny" (4 files of 3 images),
    registered in mlp.DATASETS; `files` maps URL paths to the bytes served, `die` to paths
    whose response stops half way."""
    import http.server
    import threading
    folder = write_dataset(tmp_path / "source", np.arange(12).reshape(3, 2, 2), [0, 1, 2],
                           np.arange(8).reshape(2, 2, 2), [1, 0])
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
            self.wfile.write(body[:len(body) // 2] if self.path in die else body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sha = {p.name.removesuffix(".gz"): hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()
           for p in folder.iterdir()}
    url = f"http://127.0.0.1:{server.server_address[1]}/m/"
    monkeypatch.setitem(mlp.DATASETS, "tiny", mlp.Dataset(sha, (url,), ("cat", "dog", "owl")))
    yield {"url": url, "files": files, "die": die, "cache": tmp_path / "cache"}
    server.shutdown()
    server.server_close()


def test_a_named_data_set_is_downloaded_verified_and_cached(mirror):
    progress = []
    folder = mlp.fetch_dataset("tiny", str(mirror["cache"]), on_progress=lambda d, t: progress.append((d, t)))
    assert sorted(os.listdir(folder)) == sorted([mlp.VERIFIED] + [name.removeprefix("/m/") for name in mirror["files"]])
    assert progress and all(d <= t for d, t in progress)
    x, y, xt, yt = mlp.load_idx_dataset(folder)
    assert x.shape == (3, 4) and list(yt) == [1, 0]
    mirror["files"].clear()  # cached: no second download
    assert mlp.fetch_dataset("tiny", str(mirror["cache"])) == folder


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(mirror):
    name = "/m/train-labels-idx1-ubyte.gz"
    mirror["files"][name] = gzip.compress(b"\0\0\x08\x01\0\0\0\x03\x02\x02\x02")  # other labels
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz \\(checksum mismatch"):
        mlp.fetch_dataset("tiny", str(mirror["cache"]))
    assert "train-labels-idx1-ubyte.gz" not in os.listdir(mirror["cache"])
    assert not [n for n in os.listdir(mirror["cache"]) if n.startswith(".tmp-")]


def test_a_gzip_file_of_several_members_is_verified_whole(mirror):
    name = "/m/train-images-idx3-ubyte.gz"
    content = gzip.decompress(mirror["files"][name])
    mirror["files"][name] = gzip.compress(content[:7]) + gzip.compress(content[7:])  # as `cat a.gz b.gz`
    folder = mlp.fetch_dataset("tiny", str(mirror["cache"]))
    assert mlp.load_idx_dataset(folder)[0].shape == (3, 4)


def test_a_server_dying_mid_file_leaves_nothing_and_the_next_mirror_is_tried(mirror, monkeypatch):
    mirror["die"].add("/m/train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match="the connection closed after|IncompleteRead|incomplete"):
        mlp.fetch_dataset("tiny", str(mirror["cache"]))
    assert "train-images-idx3-ubyte.gz" not in os.listdir(mirror["cache"])
    assert not [n for n in os.listdir(mirror["cache"]) if n.startswith(".tmp-")]
    good = mirror["url"].replace("/m/", "/g/")
    mirror["files"].update({k.replace("/m/", "/g/"): v for k, v in list(mirror["files"].items())})
    folder = mlp.fetch_dataset("tiny", str(mirror["cache"]), mirrors=[mirror["url"], good])
    assert len(mlp.load_idx_dataset(folder)[0]) == 3


def test_no_server_at_all_says_which_url_failed_and_where_to_put_the_files(tmp_path, monkeypatch):
    import socket
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(mlp.DATASETS, "gone", mlp.Dataset({"train-images-idx3-ubyte": "0" * 64},
                                                          (f"http://127.0.0.1:{port}/x/",), ()))
    with pytest.raises(ValueError) as error:
        mlp.fetch_dataset("gone", str(tmp_path / "c"))
    message = str(error.value)
    assert f"http://127.0.0.1:{port}/x/train-images-idx3-ubyte.gz" in message and "refused" in message.lower()
    assert f"in {tmp_path / 'c'} by hand" in message and os.listdir(tmp_path / "c") == []


def test_cli_data_by_name_downloads_into_the_cache_and_shows_class_names(mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mlp.cache_folder("tiny") == str(tmp_path / "xdg" / "numpy-mlp" / "tiny")
    result = run("train", "relu", "--hidden", "4", "--epochs", "1", "--data", "tiny", "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert f"downloading {mirror['url']}train-images-idx3-ubyte.gz" in result.stderr
    assert "t10k-images-idx3-ubyte.gz" in os.listdir(tmp_path / "xdg" / "numpy-mlp" / "tiny")
    assert mlp.load(tmp_path / "w.npz")[1]["classes"] == ["cat", "dog", "owl"]
    result = run("eval", tmp_path / "w.npz", "--data", "tiny")
    assert result.exit_code == 0 and "owl" in result.stdout and "downloading" not in result.stderr


def test_shipped_mnist_is_used_by_name_without_any_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("MLP_MIRROR", "http://127.0.0.1:9/")
    assert Path(cli.data_path("mnist")) == cli.shipped_mnist()
    assert not (tmp_path / "empty").exists()


# ----------------------------------------------------------------------------- weights files: save and load
def test_save_load_round_trip(tmp_path):
    params = mlp.init([6, 5, 4, 3], "gelu", seed=0)
    mlp.save(tmp_path / "w.npz", params, {"activation": "gelu", "note": "x"})
    back, meta = mlp.load(tmp_path / "w.npz")
    assert meta["sizes"] == [6, 5, 4, 3] and meta["activation"] == "gelu" and meta["note"] == "x"
    assert list(back) == list(params)
    assert_same_arrays(back, params)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temp file left behind


def test_load_rejects_broken_files(tmp_path):
    params = mlp.init([3, 2], "relu", seed=0)
    good = tmp_path / "good.npz"
    mlp.save(good, params, {"activation": "relu"})
    cases = {
        "garbage.npz": (b"not a zip at all", "not an .npz archive"),
        "truncated.npz": (good.read_bytes()[:100], "not a readable weights file"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message):
            mlp.load(tmp_path / name)
    meta = json.dumps({"sizes": [3, 2], "activation": "relu"})
    bad_arrays = {
        "missing.npz": ({"W1": params["W1"]}, "missing array 'b1'"),
        "shape.npz": ({"W1": np.zeros((2, 3)), "b1": np.zeros(2)}, r"W1 should be a float array of shape \(3, 2\)"),
        "nan.npz": ({"W1": np.full((3, 2), np.nan), "b1": np.zeros(2)}, "NaN"),
        "object.npz": ({"W1": np.array([None] * 6, object).reshape(3, 2), "b1": np.zeros(2)}, "object .pickled. array .W1.npy., refused"),
    }
    for name, (arrays, message) in bad_arrays.items():
        np.savez(tmp_path / name, meta=np.array(meta), **arrays)
        with pytest.raises(ValueError, match=message):
            mlp.load(tmp_path / name)
    np.savez(tmp_path / "nometa.npz", **params)
    with pytest.raises(ValueError, match="no valid meta"):
        mlp.load(tmp_path / "nometa.npz")


def test_load_rejects_unknown_activation_and_extra_arrays(tmp_path):
    params = mlp.init([3, 2], "relu")
    np.savez(tmp_path / "a.npz", meta=np.array(json.dumps({"sizes": [3, 2], "activation": "os.system"})), **params)
    with pytest.raises(ValueError, match="unknown activation 'os.system'"):
        mlp.load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", meta=np.array(json.dumps({"sizes": [3, 2], "activation": "relu"})),
             W9=np.zeros(1), **params)
    with pytest.raises(ValueError, match="unexpected arrays"):
        mlp.load(tmp_path / "b.npz")
    mlp.save(tmp_path / "w.npz", params, {"activation": "relu"})
    with pytest.raises(ValueError, match="not a checkpoint"):
        mlp.load_checkpoint(tmp_path / "w.npz")


def test_bench_trains_the_same_recipe_in_pytorch_when_installed(small_data, tmp_path):
    pytest.importorskip("torch")
    result = run("bench", "--hidden", "16", "--optimizer", "nesterov", "--dropout", "0.2", "--warmup", "1",
                 "--epochs", "2", "--data", small_data, "--torch", "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert len(report["torch_epoch_seconds"]) == 2 and 0.25 < report["torch_test_accuracy"] <= 1  # chance: 0.1
    assert report["optimizer"] == "nesterov" and report["dropout"] == 0.2 and 0.5 < report["test_accuracy"] <= 1



def test_bench_fits_scikit_learns_mlp_on_the_same_split_when_installed(small_data, tmp_path):
    pytest.importorskip("sklearn")
    result = run("bench", "--hidden", "16", "--epochs", "1", "--data", small_data, "--sklearn",
                 "--sklearn-epochs", "20", "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["sklearn_epochs"] == 20 and 0.5 < report["sklearn_test_accuracy"] <= 1  # chance: 0.1
    assert report["sklearn_fit_seconds"] > 0 and "sklearn acc" in result.stdout

def test_load_refuses_an_npz_member_that_declares_more_than_it_holds(tmp_path):
    import io
    import zipfile
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**6, 10**6)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as archive:
        archive.writestr("W1.npy", header.getvalue() + b"\0" * 64)
        archive.writestr("meta.npy", b"")
    with pytest.raises(ValueError, match="declares .1000000, 1000000. of float64, more than it holds"):
        mlp.load(tmp_path / "bomb.npz")


def test_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    mlp.save(path, mlp.init([3, 2], "relu"), {"activation": "relu"})
    before = path.read_bytes()

    def disk_full(file, array, **kw):
        file.write(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(np.lib.format, "write_array", disk_full)
    with pytest.raises(OSError):
        mlp.save(path, mlp.init([3, 2], "relu", seed=1), {"activation": "relu"})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


# ----------------------------------------------------------------------------- the command line: train and its options, errors and faults
def test_expand_variadic_hidden():
    assert cli.expand_variadic(["train", "relu", "--hidden", "128", "64", "--epochs", "2"]) == \
        ["train", "relu", "--hidden", "128", "--hidden", "64", "--epochs", "2"]
    assert cli.expand_variadic(["train", "--hidden", "8", "relu"]) == ["train", "--hidden", "8", "relu"]


@pytest.mark.parametrize("spelling", [["--hidden", "16", "8"], ["--hidden", "16", "--hidden", "8"]])
def test_cli_train_then_eval(tmp_path, small_data, spelling):
    out = tmp_path / "w.npz"
    result = run("train", "relu", *spelling, "--epochs", "1", "--data", small_data, "--out", out)
    assert result.exit_code == 0, result.output
    assert "test acc" in result.stdout and f"weights saved to {out}" in result.stdout
    assert "epoch 1/1" in result.stderr  # progress on stderr, plain lines when not a terminal
    params, meta = mlp.load(out)
    assert meta["sizes"] == [784, 16, 8, 10] and meta["activation"] == "relu"
    history = json.loads((tmp_path / "w.history.json").read_text())
    assert [r["epoch"] for r in history] == [1]
    result = run("eval", out, "--data", small_data, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["n"] == 200
    x, y = mlp.load_mnist(small_data)[2:]
    assert report["accuracy"] == pytest.approx(mlp.accuracy(mlp.predict(params, x, "relu"), y))
    assert f"{100 * report['accuracy']:.2f}%" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "swish"], "'swish' is not one of"),
    (["train", "relu", "--hidden", "0"], "--hidden"),
    (["train", "relu", "--hidden", "16", "-4"], "--hidden"),
    (["train", "relu", "--epochs", "0"], "--epochs"),
    (["train", "relu", "--batch-size", "0"], "--batch-size"),
    (["train", "relu", "--lr", "0"], "'--lr': must be greater than 0"),
    (["train", "relu", "--lr", "-0.1"], "'--lr': must be greater than 0"),
    (["train", "relu", "--momentum", "1"], "'--momentum': must be in [0, 1)"),
    (["train", "relu", "--momentum", "-0.5"], "'--momentum': must be in [0, 1)"),
    (["train", "relu", "--dropout", "1"], "'--dropout': must be in [0, 1)"),
    (["train", "relu", "--label-smoothing", "-0.1"], "'--label-smoothing': must be in [0, 1)"),
    (["train", "relu", "--weight-decay", "-1"], "'--weight-decay': must be 0 or more"),
    (["train", "relu", "--clip", "-1"], "'--clip': must be 0 or more"),
    (["train", "relu", "--lr", "nan"], "'--lr': must be greater than 0"),
    (["train", "relu", "--warmup", "-1"], "--warmup"),
    (["train", "relu", "--val", "-1"], "--val"),
    (["train", "relu", "--seed", "-1"], "--seed"),
    (["train", "relu", "--optimizer", "rmsprop"], "'rmsprop' is not one of"),
    (["train", "relu", "--augment", "mixup"], "'mixup' is not one of"),
])
def test_cli_rejects_bad_options_with_one_line(tmp_path, args, message):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run(*args, "--out", out)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("args, message", [
    (["bench", "--epochs", "0"], "--epochs"),
    (["bench", "--hidden", "0"], "--hidden"),
    (["predict", "w.npz", "--index", "-1"], "--index"),
    (["predict", "w.npz", "--top", "0"], "--top"),
    (["plot", "samples", "--n", "0"], "--n"),
    (["eval", "w.npz", "--mistakes", "-1"], "--mistakes"),
])
def test_other_commands_reject_bad_options_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_cli_missing_data_folder_and_weights(tmp_path, small_data):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run("train", "relu", "--data", tmp_path / "nope", "--out", out)
    assert result.exit_code == 1 and "no such data set, file or folder" in result.stderr
    assert result.stderr.count("\n") == 1 and out.read_bytes() == b"precious"
    result = run("eval", tmp_path / "missing.npz", "--data", small_data)
    assert result.exit_code == 1 and "no such weights file" in result.stderr
    result = run("eval", out, "--data", small_data)
    assert result.exit_code == 1 and "not an .npz archive" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    result = run("train", "relu", "--data", small_data, "--out", tmp_path / "no" / "w.npz")
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_cli_eval_rejects_weights_for_other_data(tmp_path, small_data):
    rng = np.random.default_rng(0)
    other = write_dataset(tmp_path / "d", rng.integers(0, 256, (20, 5, 5)), rng.integers(0, 3, 20),
                          rng.integers(0, 256, (4, 5, 5)), rng.integers(0, 3, 4))
    mlp.save(tmp_path / "w.npz", mlp.init([784, 4, 10], "relu"), {"activation": "relu"})
    result = run("eval", tmp_path / "w.npz", "--data", other)
    assert result.exit_code == 1 and "takes 784 inputs but the data has 25" in result.stderr


def test_cli_eval_rejects_labels_outside_the_classes(tmp_path):
    rng = np.random.default_rng(0)
    data = write_dataset(tmp_path / "d", rng.integers(0, 256, (20, 2, 2)), rng.integers(0, 3, 20),
                         rng.integers(0, 256, (4, 2, 2)), np.array([0, 1, 2, 7]))
    mlp.save(tmp_path / "w.npz", mlp.init([4, 3, 3], "relu"), {"activation": "relu"})
    result = run("eval", tmp_path / "w.npz", "--data", data)
    assert result.exit_code == 1 and "3 classes but the data has label 7" in result.stderr


def test_cli_help_lists_every_option():
    result = run("train", "--help")
    assert result.exit_code == 0
    for option in ("--hidden", "--epochs", "--batch-size", "--lr", "--momentum", "--seed", "--out", "--data"):
        assert option in result.stdout


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["reproduce"], ["summary"], ["gradcheck"],
                                     ["predict"], ["draw"], ["bench"], ["plot"], ["plot", "all"], ["plot", "curves"],
                                     ["plot", "architecture"]])
def test_every_help_fits_80_columns_in_the_projects_own_words(command):
    result = runner.invoke(cli.app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "str(object" not in result.stdout and "Create a new string object" not in result.stdout
    if command == ["train"]:  # every registry's own sentence, as written there
        text = " ".join(result.stdout.replace("│", " ").split())
        for registry in (mlp.OPTIMIZERS, mlp.SCHEDULES, mlp.AUGMENTATIONS, mlp.PREPROCESSINGS):
            for name, entry in registry.items():
                assert f"{name} ({entry.about})" in text


def test_a_bare_command_line_prints_the_help_and_no_empty_error():
    result = run()
    assert "Usage:" in result.stdout and "train" in result.stdout
    assert result.stderr == "" and result.exit_code == 2  # Click's code for "no command given"


def test_messages_name_the_option_the_user_typed(trained, tmp_path):
    result = run("eval", trained, "--json", tmp_path / "missing" / "r.json")
    assert result.exit_code == 1 and result.stderr.strip().endswith("create it or choose another --json")
    result = run("plot", "all", trained, "--out-dir", tmp_path / "missing")
    assert result.exit_code == 1 and "--out-dir" in result.stderr and "--out " not in result.stderr
    assert not (tmp_path / "missing").exists()


def test_cli_train_with_the_new_options_records_validation(tmp_path, small_data):
    out = tmp_path / "w.npz"
    result = run("train", "relu", "--hidden", "16", "--epochs", "3", "--optimizer", "adamw",
                 "--weight-decay", "1e-4", "--dropout", "0.1", "--clip", "5", "--label-smoothing", "0.1",
                 "--schedule", "cosine", "--warmup", "1", "--val", "100", "--patience", "5",
                 "--augment", "shift", "--data", small_data, "--out", out)
    assert result.exit_code == 0, result.output
    assert "val acc" in result.stdout
    history = json.loads((tmp_path / "w.history.json").read_text())
    assert {"val_loss", "val_accuracy", "lr", "test_accuracy"} <= set(history[0])
    assert history[0]["lr"] == pytest.approx(0.0005)  # adamw's default 1e-3, warm-up epoch 1 of 2
    result = run("train", "relu", "--patience", "2", "--data", small_data, "--out", out)
    assert result.exit_code == 2 and "--patience needs a validation set" in result.stderr  # a bad option


@posix
def test_cli_ctrl_c_saves_a_checkpoint_and_resume_matches(tmp_path, small_data):
    common = ["train", "relu", "--hidden", "16", "--schedule", "constant", "--data", str(small_data),
              "--batch-size", "16"]
    out, checkpoint_path = tmp_path / "w.npz", tmp_path / "w.ckpt.npz"
    out.write_bytes(b"precious")
    with cli_process(*common, "--epochs", "100000", "--out", out) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err
    # the hint is the command as it was typed, ready to paste
    hint = f"run the same command again to resume: python {HERE / 'cli.py'} {' '.join(common)} --epochs 100000 --out {out}"
    assert "interrupted: epoch" in err and hint in " ".join(err.split())
    assert out.read_bytes() == b"precious"  # the weights file is only written at the end
    checkpoint, _ = mlp.load_checkpoint(checkpoint_path)
    epochs = checkpoint.epoch + 2
    result = run(*common, "--epochs", epochs, "--lr", "0.2", "--out", out, "--resume", checkpoint_path)
    assert result.exit_code == 1 and "trained with other settings: lr 0.1 (now 0.2)" in result.stderr
    result = run(*common, "--epochs", checkpoint.epoch - 1, "--out", out)  # found beside --out
    assert result.exit_code == 1 and f"has already run {checkpoint.epoch} epochs; --epochs {checkpoint.epoch - 1} is fewer" in result.stderr
    result = run(*common, "--epochs", epochs, "--out", out)  # the same command resumes by itself
    assert result.exit_code == 0, result.output
    assert f"resuming after {cli.progress_of(checkpoint)} from {checkpoint_path}" in " ".join(result.stderr.split())
    assert not checkpoint_path.exists()  # the run is finished: nothing left to resume
    result = run(*common, "--epochs", epochs, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()
    # a schedule whose rates depend on the run's length keeps it: a longer run is another run
    cosine = [a for a in common if a not in ("--schedule", "constant")]
    result = run(*cosine, "--epochs", 3, "--out", tmp_path / "c.npz")
    checkpoint = mlp.fresh_checkpoint(mlp.load(tmp_path / "c.npz")[0], 0)._replace(epoch=1)
    mlp.save_checkpoint(tmp_path / "c.ckpt.npz", checkpoint, {"activation": "relu", "settings": mlp.load(tmp_path / "c.npz")[1]["settings"]})
    result = run(*cosine, "--epochs", 5, "--out", tmp_path / "c.npz", "--resume", tmp_path / "c.ckpt.npz")
    assert result.exit_code == 1 and "epochs 3 (now 5) (the cosine schedule's rates depend on the run's length" in result.stderr


@contextlib.contextmanager
def training_process(small_data, out):
    """A long `train` in a real process, yielded once epoch 2 is reported (a checkpoint can be
    saved); killed on the way out."""
    with cli_process("train", "relu", "--hidden", "16", "--data", small_data, "--batch-size", "16",
                     "--epochs", "100000", "--out", out) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        yield proc


@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129)])
@posix
def test_sigterm_and_sighup_save_a_checkpoint_like_ctrl_c(tmp_path, small_data, name, code):
    if not hasattr(signal, name):
        pytest.skip(f"this platform has no {name}")
    out = tmp_path / "w.npz"
    with training_process(small_data, out) as proc:
        proc.send_signal(getattr(signal, name))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert "interrupted: epoch" in err and f"on {name}; run the same command again" in err and "Traceback" not in err
    checkpoint, _ = mlp.load_checkpoint(tmp_path / "w.ckpt.npz")
    assert checkpoint.epoch >= 2 and not out.exists()


@pytest.mark.parametrize("gap", [0.0, 0.02, 0.08])
@posix
def test_a_second_ctrl_c_does_not_break_the_checkpoint(tmp_path, small_data, gap):
    import time
    with training_process(small_data, tmp_path / "w.npz") as proc:
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: epoch" in err
    assert mlp.load_checkpoint(tmp_path / "w.ckpt.npz")[0].epoch >= 2


@posix
def test_ctrl_c_during_the_final_save_finishes_it(tmp_path, small_data, monkeypatch):
    monkeypatch.setattr(cli, "RECEIVED", [])  # this process's record of stop signals, for this test only
    write_outputs = cli.write_outputs

    def ctrl_c_while_writing(writers, *args):
        os.kill(os.getpid(), signal.SIGINT)  # arrives as the weights and history are being written
        return write_outputs(writers, *args)
    monkeypatch.setattr(cli, "write_outputs", ctrl_c_while_writing)
    out = tmp_path / "w.npz"
    handlers = {s: signal.getsignal(s) for s in cli.STOP_SIGNALS}
    try:
        result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", out)
    finally:  # train leaves the stop signals ignored after a stop: give pytest its Ctrl-C back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 130
    assert "SIGINT arrived during the final save, which was finished" in result.stderr
    assert mlp.load(out)[1]["epochs_run"] == 1 and json.loads((tmp_path / "w.history.json").read_text())


def test_weights_and_history_are_written_together(tmp_path, small_data):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    (tmp_path / "w.history.json").mkdir()  # the history cannot be written: refused before any work
    result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", out)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"cannot write {tmp_path / 'w.history.json'}: it is a folder" in result.stderr
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.history.json", "w.npz"]  # no temp files


def test_a_write_failing_half_way_changes_neither_file(tmp_path, small_data, monkeypatch):
    out, history = tmp_path / "w.npz", tmp_path / "w.history.json"
    out.write_bytes(b"old weights")
    history.write_text("old history")

    def disk_full(text):
        def write(f):
            raise OSError(28, "No space left on device")
        return write
    monkeypatch.setattr(cli, "text_writer", disk_full)
    result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", out)
    assert result.exit_code == 1
    assert f"cannot write {history}: No space left on device; nothing was changed, and the run is kept in " \
        f"{tmp_path / 'w.ckpt.npz'}: run the same command again to save it" in " ".join(result.stderr.split())
    assert out.read_bytes() == b"old weights" and history.read_text() == "old history"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.ckpt.npz", "w.history.json", "w.npz"]


def test_history_and_checkpoint_names_come_from_the_whole_name(tmp_path, small_data):
    for name in ("model_lr0.1", "model_lr0.05"):
        result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data,
                     "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model_lr0.05", "model_lr0.05.history.json", "model_lr0.1", "model_lr0.1.history.json"]
    assert cli.beside(Path("w.npz"), ".ckpt.npz") == Path("w.ckpt.npz")


def test_an_output_that_is_an_input_is_refused(trained, small_data, tmp_path):
    before = trained.read_bytes()
    result = run("eval", trained, "--data", small_data, "--json", trained)
    assert result.exit_code == 2 and "is also an input of this command" in result.stderr
    assert trained.read_bytes() == before


def test_long_epochs_are_saved_part_way_and_resume_to_the_same_bytes(tmp_path, small_data, monkeypatch):
    args = ["train", "relu", "--hidden", "16", "--data", small_data, "--batch-size", "16", "--schedule", "constant",
            "--epochs", "3", "--checkpoint-every", "0.000001"]  # as if every batch took a long time
    out, saves = tmp_path / "w.npz", []
    save = mlp.save_checkpoint

    def save_then_stop(path, checkpoint, meta):
        save(path, checkpoint, meta)
        saves.append((checkpoint.epoch, checkpoint.step))
        if saves.count((1, 10)) == 1 and saves[-1] == (1, 10):
            raise cli.Stop(signal.SIGTERM)  # as SIGTERM would, just after this save
    monkeypatch.setattr(mlp, "save_checkpoint", save_then_stop)
    result = run(*args, "--out", out)
    assert result.exit_code == 143, result.output
    assert (1, 9) in saves and (1, 10) in saves  # part-way through epoch 2, not only at its end
    assert "interrupted: epoch 1 and 10 batches of epoch 2 saved" in " ".join(result.stderr.split())
    monkeypatch.setattr(mlp, "save_checkpoint", save)
    result = run(*args, "--out", out)
    assert result.exit_code == 0 and "resuming after epoch 1 and 10 batches of epoch 2" in " ".join(result.stderr.split())
    result = run(*args, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()


@posix
def test_kill_9_loses_at_most_the_epoch_in_progress(tmp_path, small_data):
    args = ["train", "relu", "--hidden", "16", "--data", small_data, "--batch-size", "16", "--schedule",
            "constant", "--epochs", "6"]
    out = tmp_path / "w.npz"
    with cli_process(*args, "--out", out) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        proc.kill()  # SIGKILL: nothing runs after it, no handler, no cleanup
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    assert mlp.load_checkpoint(tmp_path / "w.ckpt.npz")[0].epoch >= 2  # written after every epoch
    assert (tmp_path / "w.lock").exists()  # left by the killed run: it must not block the next
    (tmp_path / ".tmp-999999999-w.npz").write_bytes(b"half")  # as a kill during a save leaves it
    result = run(*args, "--out", out)  # the same command again
    assert result.exit_code == 0, result.output
    assert "resuming after epoch" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.history.json", "w.npz"]  # cleaned up
    result = run(*args, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()  # as if never killed


def test_a_second_run_with_the_same_out_is_refused_naming_the_first(tmp_path, small_data):
    out = tmp_path / "w.npz"
    with training_process(small_data, out) as first:
        result = run("train", "relu", "--hidden", "8", "--data", small_data, "--out", out)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1
        assert f"{out} is being written by another run (PID {first.pid}, started " in result.stderr
        assert "choose another --out" in result.stderr
        assert first.poll() is None  # the first run goes on undisturbed


@posix
def test_outputs_never_replace_inputs_whatever_the_path(trained, small_data, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in small_data.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    (data / "classes.txt").write_text("\n".join("abcdefghij"))
    os.link(data / "train-labels-idx1-ubyte.gz", tmp_path / "hard.gz")  # the same file, another name
    (tmp_path / "link.npz").symlink_to(trained)
    before = {p: p.read_bytes() for p in [*data.iterdir(), trained]}
    for args in (["train", "relu", "--data", data, "--out", data / "train-images-idx3-ubyte.gz"],
                 ["train", "relu", "--data", data, "--out", tmp_path / "hard.gz"],
                 ["eval", trained, "--data", data, "--json", data / "t10k-labels-idx1-ubyte.gz"],
                 ["eval", trained, "--data", data, "--json", data / "classes.txt"],
                 ["eval", trained, "--data", data, "--json", tmp_path / "link.npz"],
                 ["plot", "confusion", trained, "--data", data, "--out", data / "t10k-images-idx3-ubyte.gz"],
                 ["bench", "--data", data, "--limit", "100", "--json", data / "train-images-idx3-ubyte.gz"]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "is also an input of this command" in result.stderr and result.stderr.count("\n") == 1
    assert {p: p.read_bytes() for p in before} == before


@posix
def test_resume_refuses_a_checkpoint_made_on_other_data(tmp_path, small_data):
    other = write_dataset(tmp_path / "other", *(mlp.read_idx(small_data / (stem + ".gz"))[:300]
                                                for stem in mlp.MNIST_FILES.values()))
    with training_process(small_data, tmp_path / "w.npz") as proc:  # leaves w.ckpt.npz after epoch 2
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    result = run("train", "relu", "--hidden", "16", "--data", other, "--batch-size", "16", "--epochs", "100000",
                 "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and "was trained on other data: data " in result.stderr
    assert "examples 600 (now 300)" in result.stderr and "give the --data it was made on" in result.stderr


def test_named_data_in_the_cache_is_checked_and_a_bad_file_named_with_the_fix(mirror):
    folder = mlp.fetch_dataset("tiny", str(mirror["cache"]))
    labels = os.path.join(folder, "train-labels-idx1-ubyte.gz")
    with open(labels, "wb") as f:  # another data set's file put there by hand
        f.write(gzip.compress(b"\0\0\x08\x01\0\0\0\x03\x02\x02\x02"))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.gz: not tiny's file \(SHA-256 of its content "
                                         r".*\); delete it and run again to download it afresh"):
        mlp.fetch_dataset("tiny", str(mirror["cache"]))
    images = os.path.join(folder, "train-images-idx3-ubyte.gz")
    os.unlink(labels)
    mlp.fetch_dataset("tiny", str(mirror["cache"]))  # downloaded afresh, as the message said
    with open(images, "r+b") as f:
        f.truncate(20)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: cannot be read .*; delete it and run again"):
        mlp.fetch_dataset("tiny", str(mirror["cache"]))


@posix
def test_temp_files_of_dead_processes_are_removed_and_others_kept(tmp_path):
    for name in (".tmp-999999999-a.npz", f".tmp-{os.getpid()}-b.npz", ".tmp-x-c", "w.npz"):
        (tmp_path / name).write_bytes(b"")
    assert mlp.remove_orphans(str(tmp_path)) == [".tmp-999999999-a.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tmp-{os.getpid()}-b.npz", ".tmp-x-c", "w.npz"]


def test_a_full_disk_under_json_outputs_is_one_line_and_leaves_nothing(trained, small_data, tmp_path, monkeypatch):
    def disk_full(text):
        def write(f):
            raise OSError(28, "No space left on device")
        return write
    monkeypatch.setattr(cli, "text_writer", disk_full)
    for args in (["eval", trained, "--data", small_data], ["gradcheck", "tanh"]):
        result = run(*args, "--json", tmp_path / "r.json")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr == f"error: cannot write {tmp_path / 'r.json'}: No space left on device; nothing was changed\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "w.npz"]


@posix
def test_a_signal_ends_any_command_in_one_line(trained, small_data, monkeypatch):
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # as if it arrived while the data is read
    monkeypatch.setattr(cli, "load_data", interrupted)
    monkeypatch.setattr(cli, "RECEIVED", [])
    handlers = {s: signal.getsignal(s) for s in cli.STOP_SIGNALS}
    try:
        result = run("eval", trained, "--data", small_data)
    finally:  # a stopped command leaves the stop signals ignored: give pytest its own back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 143 and result.stderr == "interrupted (SIGTERM); nothing was saved\n"


@posix
def test_ctrl_c_while_the_command_line_is_importing_is_one_line(tmp_path):
    # SIGINT sent to itself just as cli.py imports NumPy: deterministic, unlike a timer
    code = ("import builtins, os, runpy, signal, sys\nreal = builtins.__import__\n"
            "def sigint_on_numpy(name, *args, **kwargs):\n"
            "    if name == 'numpy':\n        os.kill(os.getpid(), signal.SIGINT)\n"
            "    return real(name, *args, **kwargs)\n"
            f"builtins.__import__ = sigint_on_numpy\nsys.argv = ['cli.py', '--help']\n"
            f"runpy.run_path({str(HERE / 'cli.py')!r}, run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 130 and done.stderr == "interrupted; nothing was done\n"


@posix
def test_a_closed_pipe_is_exit_0_for_every_command(trained, small_data):
    for command in (f"eval '{trained}' --data '{small_data}'", f"summary '{trained}'"):
        done = subprocess.run(["bash", "-c", f"'{sys.executable}' '{HERE / 'cli.py'}' {command} | head -1; "
                               "exit ${PIPESTATUS[0]}"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == "", (command, done.stderr)


def test_stopped_training_leaves_the_finished_epochs_on_screen(tmp_path):
    rows = [{"epoch": 1, "lr": 0.1, "loss": 0.5, "accuracy": 0.9, "test_accuracy": 0.91, "seconds": 0.2}]
    checkpoint = mlp.fresh_checkpoint(mlp.init([4, 2], "relu"), 0)._replace(epoch=1)
    with pytest.raises(cli.typer.Exit) as stop:
        with cli.err_console.capture() as screen:
            cli.save_interrupted(checkpoint, tmp_path / "w.ckpt.npz", {"activation": "relu"}, signal.SIGINT, rows, True)
    assert stop.value.exit_code == 130
    assert "Training (stopped)" in screen.get() and "91.00%" in screen.get()


def test_mlps_door_refuses_what_would_fail_later_with_what_to_do(tmp_path):
    params = mlp.init([4, 3, 2], "relu", seed=0)
    rng = np.random.default_rng(0)
    x, labels = rng.random((8, 4), dtype=np.float32), [0, 1] * 4
    _, history = mlp.train(params, x, labels, mlp.Settings("relu", epochs=1))  # a list of labels is fine
    assert len(history) == 1
    for call, message in (
            (lambda: mlp.train(params, x[:0], labels[:0], mlp.Settings("relu")), "no training examples"),
            (lambda: mlp.train(params, x.astype(np.float64), labels, mlp.Settings("relu")),
             r"inputs are float64 but the network's weights are float32: pass x.astype\(np.float32\)"),
            (lambda: mlp.evaluate(params, x[:0], labels[:0], "relu"), "no examples to evaluate"),
            (lambda: mlp.update(params, params, {}, float("nan")), "lr must be greater than 0 and finite, got nan"),
            (lambda: mlp.update(params, params, {}, 0.1, momentum=5), r"momentum must be in \[0, 1\), got 5"),
            (lambda: mlp.save(tmp_path / "w.npz", {**params, "W1": params["W1"] * np.inf}, {"activation": "relu"}),
             "W1 holds NaN or infinite values, which no weights file may hold: not saved"),
            (lambda: mlp.train(params, x, labels, mlp.Settings("relu"), preprocessing={"kind": "range", "low": 0.0,
                                                                                     "high": 1e300}),
             "pixel values range from 0 to 1e[+]300, beyond what float32 holds")):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(OSError) as error:
        mlp.save(tmp_path / "missing" / "w.npz", params, {"activation": "relu"})
    assert error.value.filename == str(tmp_path / "missing" / "w.npz")  # the target, not a temp file
    assert not (tmp_path / "missing").exists()


@posix
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path, small_data):
    old = os.umask(0o027)
    try:
        result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data,
                     "--out", tmp_path / "w.npz")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o640
        assert (tmp_path / "w.history.json").stat().st_mode & 0o777 == 0o640
        (tmp_path / "w.npz").chmod(0o604)
        result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data,
                     "--out", tmp_path / "w.npz")
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o604
        mlp.save(tmp_path / "m.npz", mlp.init([2, 2], "relu"), {"activation": "relu"})
        assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


@posix
def test_a_closed_pipe_ends_the_output_quietly_and_files_are_written(trained, small_data, tmp_path):
    done = subprocess.run(f"'{sys.executable}' '{HERE / 'cli.py'}' eval '{trained}' --data '{small_data}' "
                          f"--json '{tmp_path / 'r.json'}' | head -1", shell=True, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr and done.stderr == ""
    assert json.loads((tmp_path / "r.json").read_text())["n"] == 200


@pytest.mark.parametrize("args, message", [
    (["--lr", "inf"], "'--lr': must be greater than 0 and finite, got inf"),
    (["--weight-decay", "inf"], "'--weight-decay': must be 0 or more and finite, got inf"),
    (["--clip", "nan"], "'--clip': must be 0 or more and finite"),
    (["--out", "somewhere/"], "--out somewhere/ is a folder; give a file name"),
])
def test_non_finite_options_and_folder_outputs_are_bad_options(tmp_path, small_data, args, message):
    result = run("train", "relu", "--data", small_data, *args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # refused before any work: nothing written


def test_a_network_too_big_for_memory_is_refused_before_allocating(tmp_path, small_data):
    assert mlp.training_memory([784, 200000, 200000, 10], 128) > 590 * 2**30  # 40e9 params x 4 B x 4 copies (sgd)
    out = tmp_path / "w.npz"
    result = run("train", "relu", "--hidden", "200000", "200000", "--data", small_data, "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "training 784-200000-200000-10 needs about 599.2 GiB" in result.stderr
    assert "use smaller --hidden sizes" in result.stderr and not out.exists()


def test_cli_divergence_stops_with_a_clear_message(tmp_path, small_data):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run("train", "relu", "--lr", "1e4", "--epochs", "3", "--data", small_data, "--out", out)
    assert result.exit_code == 1
    assert "training diverged; try a lower learning rate" in result.stderr
    assert out.read_bytes() == b"precious" and not (tmp_path / "w.history.json").exists()


def test_cli_same_seed_same_bytes_other_seed_other_weights(tmp_path, small_data):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = run("train", "tanh", "--epochs", "1", "--seed", seed, "--data", small_data,
                     "--out", tmp_path / f"{name}.npz")
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert not np.array_equal(mlp.load(tmp_path / "a.npz")[0]["W1"], mlp.load(tmp_path / "c.npz")[0]["W1"])


def test_installed_console_script_is_the_cli():
    import shutil
    script = shutil.which("mlp", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the package is not installed (pip install -e .)")
    done = subprocess.run([script, "train", "swish"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: Invalid value for 'ACTIVATION': 'swish' is not one of")
    assert done.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- the command line: predict, eval, summary, plots
@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_data):
    """Weights and history of a small model trained through the CLI on the small data."""
    folder = tmp_path_factory.mktemp("trained")
    result = run("train", "relu", "--hidden", "32", "--epochs", "3", "--data", small_data,
                 "--out", folder / "w.npz")
    assert result.exit_code == 0, result.output
    return folder / "w.npz"


def draw_digit(size=(90, 120), box=(10, 60, 30, 70), light_background=True):
    """A synthetic "1"-like bar plus a blob, off-centre, as a grey PIL image."""
    Image = pytest.importorskip("PIL.Image")
    canvas = np.zeros(size, np.float32)
    top, bottom, left, right = box
    canvas[top:bottom, left:right] = 1.0
    canvas[bottom - 8:bottom, left - 10:right + 10] = 1.0  # a foot, so the mass is not symmetric
    grey = 1 - canvas if light_background else canvas
    return Image.fromarray((grey * 255).astype(np.uint8))


def framed(path):
    """A picture file framed as predict frames it for a 28 x 28 network."""
    return mlp.frame_digit(cli.read_grey(path))


@pytest.mark.parametrize("light", [True, False])
def test_image_preprocessing_centres_the_digit_mnist_style(tmp_path, light):
    draw_digit(light_background=light).save(tmp_path / "digit.png")
    x = framed(tmp_path / "digit.png").reshape(28, 28)
    rows, cols = np.indices(x.shape)
    assert (x * rows).sum() / x.sum() == pytest.approx(13.5, abs=0.6)
    assert (x * cols).sum() / x.sum() == pytest.approx(13.5, abs=0.6)
    ink_rows, ink_cols = np.nonzero(x > 0.05)
    assert ink_rows.max() - ink_rows.min() + 1 <= 21 and ink_cols.max() - ink_cols.min() + 1 <= 21
    assert x.max() == pytest.approx(1.0, abs=0.05) and x[0].max() == 0  # ink bright, border dark


def test_inverted_input_gives_the_same_digit(tmp_path):
    draw_digit(light_background=True).save(tmp_path / "light.png")
    draw_digit(light_background=False).save(tmp_path / "dark.png")
    assert np.allclose(framed(tmp_path / "light.png"), framed(tmp_path / "dark.png"), atol=1e-6)


def digit_grey(light_background=True):
    return np.asarray(draw_digit(light_background=light_background), np.float32) / 255


def test_ink_on_a_transparent_background_reads_like_ink_on_white(tmp_path):
    from PIL import Image
    canvas = digit_grey(light_background=False)  # 1 where the ink is
    rgba = np.zeros(canvas.shape + (4,), np.uint8)  # black everywhere, opaque only on the ink
    rgba[..., 3] = (canvas * 255).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    draw_digit(light_background=True).save(tmp_path / "white.png")
    np.testing.assert_allclose(framed(tmp_path / "transparent.png"), framed(tmp_path / "white.png"), atol=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image
    upright = draw_digit()
    upright.save(tmp_path / "upright.png")
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # the sensor's pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    sideways.save(tmp_path / "phone.png", exif=exif)
    np.testing.assert_allclose(framed(tmp_path / "phone.png"), framed(tmp_path / "upright.png"), atol=1e-6)


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    from PIL import Image
    grey = digit_grey(light_background=True)
    Image.fromarray((grey * 4095).astype(np.uint16)).save(tmp_path / "scan16.png")  # a 12-bit scan
    draw_digit(light_background=True).save(tmp_path / "scan8.png")
    assert Image.open(tmp_path / "scan16.png").mode.startswith("I")
    np.testing.assert_allclose(framed(tmp_path / "scan16.png"), framed(tmp_path / "scan8.png"), atol=0.02)


def test_a_huge_picture_is_reduced_while_reading(trained, tmp_path):
    from PIL import Image
    big = Image.new("L", (12000, 9000), 255)  # over Pillow's decompression-bomb limit
    big.paste(0, (5000, 2000, 6500, 7000))  # a thick "1"
    big.save(tmp_path / "big.png", compress_level=1)
    del big
    result = run("predict", trained, tmp_path / "big.png")
    assert result.exit_code == 0, result.output
    assert "prediction: " in result.stdout and "Warning" not in result.output


def test_predict_without_colour_draws_the_digit_in_ascii(trained, small_data, monkeypatch):
    from rich.console import Console
    monkeypatch.setattr(cli, "console", Console(force_terminal=True, no_color=True, width=100))
    result = run("predict", trained, "--index", "0", "--data", small_data)
    assert result.exit_code == 0 and "@" in result.stdout and "▀" not in result.stdout


@pytest.mark.parametrize("term, live", [("dumb", False), ("xterm-256color", True)])
def test_a_dumb_terminal_gets_plain_epoch_lines(monkeypatch, term, live):
    from rich.console import Console
    monkeypatch.setenv("TERM", term)
    monkeypatch.setattr(cli, "console", Console(force_terminal=True))
    monkeypatch.setattr(cli, "err_console", Console(stderr=True, force_terminal=True))
    assert cli.live_view() is live


def test_predict_a_real_test_image_matches_mlp(trained, small_data, tmp_path):
    params, meta = mlp.load(trained)
    x, y = mlp.load_mnist(small_data, splits=("test",))
    expected = int(mlp.predict(params, x[7:8], "relu")[0])
    result = run("predict", trained, "--index", 7, "--data", small_data)
    assert result.exit_code == 0, result.output
    assert f"prediction: {expected}" in result.stdout and "@" in result.stdout  # the digit, in ASCII
    pytest.importorskip("PIL")
    from PIL import Image
    Image.fromarray((x[7].reshape(28, 28) * 255).astype(np.uint8)).save(tmp_path / "seven.png")
    result = run("predict", trained, tmp_path / "seven.png")
    assert result.exit_code == 0 and "prediction: " in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--index", "200"], "--index 200 is out of range: the test set has 200 examples"),
    (["missing.png"], "missing.png: no such file or folder"),
    ([], "give INPUT files (pictures, folders of them, or a CSV) or --index N"),
])
def test_predict_bad_input(trained, small_data, tmp_path, args, message):
    args = [str(tmp_path / a) if a.endswith(".png") else a for a in args]
    result = run("predict", trained, *args, "--data", small_data)
    assert result.exit_code != 0 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_predict_unreadable_image(trained, tmp_path):
    pytest.importorskip("PIL")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    result = run("predict", trained, tmp_path / "bad.png")
    assert result.exit_code == 1 and "not a readable image" in result.stderr


def test_eval_report_agrees_with_mlp(trained, small_data, tmp_path):
    result = run("eval", trained, "--data", small_data, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "Confusion matrix" in result.stdout and "Most confident mistakes" in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    params, _ = mlp.load(trained)
    x, y = mlp.load_mnist(small_data, splits=("test",))
    predicted = mlp.predict(params, x, "relu")
    confusion = np.array(report["confusion"])
    assert confusion.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()
    assert np.array_equal(confusion, mlp.confusion_matrix(y, predicted, 10))
    assert report["accuracy"] == mlp.accuracy(predicted, y)
    recall_3 = (predicted[y == 3] == 3).mean()
    assert report["per_class"][3]["recall"] == pytest.approx(recall_3)
    for m in report["mistakes"]:
        assert y[m["index"]] == m["true"] != m["predicted"] == predicted[m["index"]]
    confidences = [m["confidence"] for m in report["mistakes"]]
    assert confidences == sorted(confidences, reverse=True)


@pytest.mark.parametrize("width", [40, 60])
def test_narrow_terminals_never_cut_a_number(trained, small_data, monkeypatch, width):
    from rich.console import Console
    monkeypatch.setattr(cli, "console", Console(width=width, force_terminal=False))
    result = run("eval", trained, "--data", small_data)
    assert result.exit_code == 0 and "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= width
    params, _ = mlp.load(trained)
    x, y = mlp.load_mnist(small_data, splits=("test",))
    report = mlp.classification_report(params, x, y, "relu")
    cells = set(result.stdout.replace("│", " ").replace("┃", " ").split())
    assert {str(n) for n in report["confusion"].ravel()} <= cells  # every count, whole
    assert {f"{100 * p:.2f}%" for p in report["precision"]} <= cells


def test_summary_lists_layers_and_parameter_counts(trained):
    result = run("summary", trained)
    assert result.exit_code == 0
    assert "784 x 32" in result.stdout and f"{784 * 32 + 32 + 32 * 10 + 10:,}" in result.stdout
    result = run("summary", trained.parent / "nope.npz")
    assert result.exit_code == 1 and "no such weights file" in result.stderr


def test_plots_write_pngs(trained, small_data, tmp_path):
    pytest.importorskip("matplotlib")
    result = run("plot", "all", trained, "--data", small_data, "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("mnist", "model-1", "model-2", "model-3", "curves", "confusion", "mistakes", "weights"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and 5_000 < len(png) < 300_000


def test_plots_go_to_the_current_folder_by_default(trained, tmp_path, monkeypatch):
    """An installed cli.py lives in site-packages: pictures must land where the user is."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    result = run("plot", "curves", trained.with_suffix(".history.json"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert "wrote curves.png" in result.stdout


def test_plot_writes_exactly_the_file_named_in_a_format_it_knows(trained, tmp_path):
    pytest.importorskip("matplotlib")
    history = trained.with_name("w.history.json")
    result = run("plot", "curves", history, "--out", tmp_path / "pic")
    assert result.exit_code == 0 and f"wrote {tmp_path / 'pic'}" in result.stdout
    assert (tmp_path / "pic").read_bytes().startswith(b"\x89PNG")
    result = run("plot", "curves", history, "--out", tmp_path / "pic.svg")
    assert result.exit_code == 0 and b"<svg" in (tmp_path / "pic.svg").read_bytes()
    result = run("plot", "curves", history, "--out", tmp_path / "pic.bmp")
    assert result.exit_code == 2 and "cannot write .bmp pictures; use one of" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "pic.bmp").exists()


def test_plot_on_a_full_disk_leaves_no_partial_picture(trained, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    (tmp_path / "c.png").write_bytes(b"old picture")

    def disk_full(path, write):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(mlp, "write_atomic", disk_full)
    result = run("plot", "curves", trained.with_name("w.history.json"), "--out", tmp_path / "c.png")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert (tmp_path / "c.png").read_bytes() == b"old picture"


def test_predict_image_without_pillow_says_how_to_install(trained, tmp_path, monkeypatch):
    (tmp_path / "d.png").write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "import PIL.Image" fail
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    result = run("predict", trained, tmp_path / "d.png")
    assert result.exit_code == 1 and "pip install -e '.[image]'" in result.stderr


def test_plot_without_matplotlib_says_how_to_install(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    result = run("plot", "weights", trained, "--out", tmp_path / "w.png")
    assert result.exit_code == 1 and "pip install -e '.[plot]'" in result.stderr
    assert not (tmp_path / "w.png").exists()


@pytest.mark.parametrize("command", [["eval"], ["summary"], ["predict", "--index", "0"],
                                     ["plot", "confusion"], ["plot", "mistakes"], ["plot", "weights"], ["plot", "all"]])
def test_every_command_says_the_same_about_a_missing_weights_file(tmp_path, command):
    result = run(*command[:2 if command[0] == "plot" else 1], tmp_path / "missing.npz",
                 *command[2 if command[0] == "plot" else 1:])
    assert result.exit_code == 1
    assert result.stderr == f"error: {tmp_path / 'missing.npz'}: no such weights file (train one with 'python cli.py train relu')\n"


def test_cli_gradcheck_prints_errors_and_writes_json(tmp_path):
    result = run("gradcheck", "gelu", "--hidden", "5", "4", "--dropout", "0.2", "--label-smoothing", "0.1",
                 "--json", tmp_path / "g.json")
    assert result.exit_code == 0, result.output
    assert "W1" in result.stdout and "passed" in result.stdout
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["sizes"] == [10, 5, 4, 4] and report["passed"] is True
    assert (report["rtol"], report["atol"]) == (mlp.GRADCHECK_RTOL, mlp.GRADCHECK_ATOL)
    assert report["max_of_tolerance"] == max(e["of_tolerance"] for e in report["errors"].values()) < 0.1


@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_cli_gradcheck_with_its_defaults_passes_for_every_activation(activation):
    # `gradcheck relu` used to fail here: a near-zero gradient (-5.1e-7) whose finite
    # difference was off by 3e-11, a relative error of 2.2e-5 against a 1e-6 threshold
    result = run("gradcheck", activation)
    assert result.exit_code == 0, result.output
    assert "passed: |analytic - numeric| <= 1e-08 + 1e-05 x |numeric|" in " ".join(result.stdout.split())


def test_cli_gradcheck_fails_on_a_wrong_backward_pass(monkeypatch):
    wrong = mlp.ACTIVATIONS["sigmoid"]._replace(df=lambda z, a: a)  # forgot (1 - a)
    monkeypatch.setitem(mlp.ACTIVATIONS, "sigmoid", wrong)
    result = run("gradcheck", "sigmoid")
    assert result.exit_code == 1
    assert re.match(r"error: gradient check failed: in (W|b)\d, a gradient misses \|analytic - numeric\| <= 1e-08 "
                    r"\+ 1e-05 x \|numeric\| by a factor of [\d.e+]+; the backward pass \(grads\) disagrees with the loss$",
                    result.stderr)
    assert result.stderr.count("\n") == 1 and "too large" in result.stdout


# ----------------------------------------------------------------------------- models in and out: ONNX export, --init
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(mlp.PREPROCESSINGS))
@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_onnx_export_matches_mlp_in_onnxruntime(activation, kind, dtype):
    onnx = pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (64, 12)).astype(np.uint8)  # raw values, as a data set stores them
    prep = mlp.fit_preprocessing(raw, kind)
    params = mlp.init([12, 9, 7, 5], activation, seed=1, dtype=dtype)
    params = {k: p + np.asarray(0.1 * rng.standard_normal(p.shape), dtype) if k[0] == "b" else p for k, p in params.items()}
    meta = {"activation": activation, "preprocessing": prep, "classes": list("abcde"), "test_accuracy": 0.5}
    model = cli.onnx_model(params, meta, onnx)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, probabilities, predicted = session.run(None, {"input": raw.astype(np.float32)})
    expected = mlp.predict_proba(params, raw, activation, preprocessing=prep)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert (predicted == expected.argmax(axis=1)).all() and logits.shape == (64, 5) and probabilities.dtype == np.float32
    assert json.loads(session.get_modelmeta().custom_metadata_map["classes"]) == list("abcde")


def test_export_command_and_the_readme_snippet_on_a_png(trained, tmp_path):
    pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    Image = pytest.importorskip("PIL.Image")
    result = run("export", trained, tmp_path / "model.onnx")
    assert result.exit_code == 0 and "wrote" in result.stdout and "'probabilities'" in result.stdout
    meta = ort.InferenceSession(str(tmp_path / "model.onnx")).get_modelmeta().custom_metadata_map
    assert json.loads(meta["training"])["activation"] == "relu" and meta["preprocessing"] == "range"
    x, y = mlp.load_idx_dataset(MNIST, splits=("test",))
    Image.fromarray(255 - x[0].reshape(28, 28)).save(tmp_path / "digit.png")  # dark ink on white, as drawn
    # the README's five lines
    pixels = np.asarray(Image.open(tmp_path / "digit.png").convert("L").resize((28, 28)), np.float32)
    pixels = 255 - pixels  # dark ink on light paper -> MNIST's light ink on black
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    logits, probabilities, predicted = session.run(None, {"input": pixels.reshape(1, 784)})
    params, meta = mlp.load(trained)
    assert predicted[0] == mlp.predict(params, x[:1], "relu", meta["preprocessing"])[0]
    result = run("export", trained, trained)
    assert result.exit_code == 2 and "is also an input" in result.stderr


def test_export_without_onnx_says_how_to_install(trained, tmp_path, monkeypatch):
    import builtins
    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("no onnx")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    monkeypatch.delitem(sys.modules, "onnx", raising=False)
    result = run("export", trained, tmp_path / "m.onnx")
    assert result.exit_code == 1
    assert result.stderr == "error: this command needs onnx: pip install -e '.[onnx]' (or pip install onnx)\n"


def test_init_continues_from_saved_weights_and_refuses_what_does_not_fit(trained, small_data, tmp_path):
    out = tmp_path / "fine.npz"
    result = run("train", "relu", "--init", trained, "--epochs", "1", "--lr", "0.001", "--data", small_data, "--out", out)
    assert result.exit_code == 0, result.output
    start_loss = json.loads((tmp_path / "fine.history.json").read_text())[0]["loss"]
    result = run("train", "relu", "--hidden", "16", "--epochs", "1", "--lr", "0.001", "--data", small_data,
                 "--out", tmp_path / "fresh.npz")
    fresh_loss = json.loads((tmp_path / "fresh.history.json").read_text())[0]["loss"]
    assert start_loss < 1.0 and fresh_loss > 1.5  # the first epoch starts from their loss, not a random init's
    params, meta = mlp.load(out)
    start_params, start_meta = mlp.load(trained)
    assert meta["init"]["path"] == str(trained) and meta["preprocessing"]["kind"] == start_meta["preprocessing"]["kind"]
    assert mlp.sizes_of(params) == mlp.sizes_of(start_params)
    assert json.loads((tmp_path / "fine.history.json").read_text())[0]["init"] == str(trained)
    for args, message in ((["tanh"], "is a relu network; train it with relu"),
                          (["relu", "--hidden", "64"], "has hidden layers 32, not 64"),
                          (["relu", "--normalize", "standard"], "keeps its own preprocessing (range)")):
        result = run("train", *args, "--init", trained, "--data", small_data, "--out", tmp_path / "x.npz")
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
    np.savez(tmp_path / "other.npz", x_train=np.zeros((20, 5, 5), np.uint8), y_train=np.arange(20) % 2)
    result = run("train", "relu", "--init", trained, "--data", tmp_path / "other.npz", "--out", tmp_path / "x.npz")
    assert result.exit_code == 1 and "takes 784 inputs, but" in result.stderr and "has 25 features" in result.stderr


# ----------------------------------------------------------------------------- ensembles and the live view's end of run
@pytest.fixture(scope="session")
def members(tmp_path_factory, small_data):
    """Three small networks trained on the same data (seeds 0, 1, 2)."""
    folder = tmp_path_factory.mktemp("members")
    for seed in range(3):
        result = run("train", "relu", "--hidden", "16", "--epochs", "3", "--seed", seed, "--data", small_data,
                     "--out", folder / f"m{seed}.npz")
        assert result.exit_code == 0, result.output
    return [folder / f"m{seed}.npz" for seed in range(3)]


def test_an_ensemble_averages_its_members_probabilities(members, small_data, tmp_path):
    result = run("eval", *members, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    assert "an ensemble of 3" in result.stdout and "Members" in result.stdout
    report = json.loads((tmp_path / "e.json").read_text())
    loaded = [mlp.load(m) for m in members]
    x, y = mlp.load_idx_dataset(small_data, splits=("test",))
    probabilities = np.mean([mlp.predict_proba(p, x, m["activation"], preprocessing=m["preprocessing"])
                             for p, m in loaded], axis=0)
    # the same average computed another way (softmax then mean, not log-space): a near-tie may
    # tip one example, so within one example, not bit for bit
    assert abs(report["accuracy"] - mlp.accuracy(probabilities.argmax(axis=1), y)) <= 1 / len(y)
    assert report["loss"] == pytest.approx(-np.log(probabilities[np.arange(len(y)), y]).mean(), rel=1e-6)
    assert [m["accuracy"] for m in report["members"]] == [mlp.evaluate(p, x, y, "relu", preprocessing=m["preprocessing"])[1]
                                                         for p, m in loaded]
    result = run("predict", *members, "--index", "0")
    assert result.exit_code == 0 and "prediction: " in result.stdout
    reply = cli.read_pad(loaded, np.kron(255 - x[0].reshape(28, 28), np.ones((10, 10))) / 255.0)
    assert not reply["blank"] and len(reply["top"]) == 5


def test_ensemble_log_probabilities_stay_finite_where_a_member_is_certain():
    params = mlp.init([2, 2], "relu", dtype=np.float64)
    sure = {"W1": np.array([[800.0, -800.0], [0.0, 0.0]]), "b1": np.zeros(2)}
    log_p = mlp.ensemble_log_proba([(sure, "relu", None), (params, "relu", None)], np.array([[1.0, 0.0]]))
    assert np.isfinite(log_p).all() and np.exp(log_p).sum() == pytest.approx(1.0)
    assert log_p[0, 1] > np.log(0.5) - 10  # the other member's share survives: no log(0)


def test_ensemble_members_must_share_data_and_classes(members, tmp_path):
    np.savez(tmp_path / "other.npz", x_train=np.zeros((40, 28, 28), np.uint8), y_train=np.arange(40) % 10)
    assert run("train", "relu", "--hidden", "16", "--epochs", "1", "--data", tmp_path / "other.npz",
               "--out", tmp_path / "o.npz").exit_code == 0
    result = run("eval", members[0], tmp_path / "o.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"{tmp_path / 'o.npz'} cannot join {members[0]} in an ensemble: other data" in result.stderr


def test_the_plain_epoch_lines_say_when_the_run_ends(small_data, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "live_view", lambda: False)
    result = run("train", "relu", "--hidden", "8", "--epochs", "3", "--data", small_data, "--out", tmp_path / "w.npz")
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(re.search(r"ends in \d+:\d\d:\d\d$", line) for line in lines) and lines[-1].endswith("ends in 0:00:00")
    assert cli.run_eta(0, 0, 10) == "?" and cli.clock_time(3725) == "1:02:05"


# ----------------------------------------------------------------------------- other platforms
NOT_POSIX = r"""
import builtins, io, os, runpy, signal, sys
real_import, real_open = builtins.__import__, io.open


def no_posix_modules(name, *args, **kwargs):
    if name.split(".")[0] in ("fcntl", "termios", "resource"):
        raise ModuleNotFoundError(f"No module named {name!r}")
    return real_import(name, *args, **kwargs)


def no_proc(file, *args, **kwargs):
    if str(file).startswith("/proc"):
        raise FileNotFoundError(2, "No such file or directory", str(file))
    return real_open(file, *args, **kwargs)


for name in ("fcntl", "termios", "resource"):
    sys.modules.pop(name, None)
builtins.__import__, builtins.open, io.open = no_posix_modules, no_proc, no_proc
import pathlib
if hasattr(pathlib, "_NormalAccessor"):  # Python 3.10's pathlib kept its own reference to io.open
    pathlib._NormalAccessor.open = staticmethod(no_proc)
del os.sysconf, signal.SIGHUP
sys.argv = ["cli.py", *sys.argv[1:]]
runpy.run_path(sys.argv.pop(1), run_name="__main__")
"""


def test_the_code_needs_no_newer_python_than_it_declares():
    pytest.importorskip("vermin", reason="the check needs vermin: pip install -e '.[test]'")
    declared = re.search(r'requires-python = ">=(\d+\.\d+)"', (HERE / "pyproject.toml").read_text()).group(1)
    files = [str(HERE / name) for name in ("mlp.py", "cli.py", "test_mlp.py", "test_properties.py")]
    import shutil
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    done = subprocess.run([vermin, "--no-tips", "--violations", f"-t={declared}-", *files],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_command_runs_without_posix_only_facilities(small_data, tmp_path):
    # /proc, os.sysconf, signal.SIGHUP, fcntl, termios and resource are absent, as on Windows
    # (--threads is left out: threadpoolctl finds libraries through /proc on a Linux kernel,
    # through the platform's own means elsewhere)
    Image = pytest.importorskip("PIL.Image")
    x, _ = mlp.load_idx_dataset(small_data, splits=("test",))
    Image.fromarray(255 - x[0].reshape(28, 28)).save(tmp_path / "digit.png")
    out = tmp_path / "w.npz"
    for args in (["train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", out],
                 ["eval", out], ["predict", out, "--index", "0"], ["predict", out, tmp_path / "digit.png"],
                 ["draw", out, "--bench", "5"], ["bench", "--limit", "200", "--epochs", "1", "--data", small_data]):
        done = subprocess.run([sys.executable, "-c", NOT_POSIX, str(HERE / "cli.py"), *map(str, args)],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
        if args[0] == "train":
            assert "note: this platform does not say how much memory is free" in done.stderr


# ----------------------------------------------------------------------------- bench
def test_bench_runs_on_a_slice_and_writes_json(tmp_path, small_data):
    result = run("bench", "--hidden", "16", "8", "--epochs", "2", "--data", small_data,
                 "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["sizes"] == [784, 16, 8, 10] and len(report["epoch_seconds"]) == 2
    assert report["epoch_seconds_median"] > 0 and report["floor_seconds"] > 0
    # 2 * (forward + weight gradient per layer, input gradient but the first) per example
    assert report["matmul_flops_per_epoch"] == 2 * 600 * (3 * (16 * 8 + 8 * 10) + 2 * 784 * 16)



def test_bench_counts_the_augmentation_in_each_epoch_and_times_the_test_evaluation(tmp_path, small_data):
    result = run("bench", "--hidden", "16", "--epochs", "1", "--data", small_data, "--augment", "elastic",
                 "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["augment"] == "elastic" and report["test_evaluation_seconds"] > 0 and report["augmentation_seconds"] > 0
    text = " ".join(result.stdout.split())
    assert "batch 128, float32, --augment elastic" in text and "eval s: scoring the test set" in text
    assert "aug s: converting and distorting one epoch's images alone" in text
    result = run("bench", "--augment", "elastic", "--torch", "--data", small_data)
    assert result.exit_code == 2
    assert result.stderr == "error: --torch has no --augment elastic of its own to compare with; leave out one of the two\n"

def test_threads_sets_the_blas_thread_count_for_several_runs_at_once(small_data, tmp_path):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    if not blas:
        pytest.skip("threadpoolctl finds no BLAS it can control in this NumPy (e.g. Accelerate on macOS)")
    with threadpoolctl.threadpool_limits(limits=blas[0]["num_threads"], user_api="blas"):  # restored after
        result = run("bench", "--threads", "1", "--limit", "300", "--epochs", "1", "--data", small_data,
                     "--json", tmp_path / "b.json")
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / "b.json").read_text())["machine"]["blas_threads"] == 1
        assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"][0] == 1
    result = run("train", "relu", "--threads", "-1")
    assert result.exit_code == 2 and "--threads" in result.stderr


# ----------------------------------------------------------------------------- against a reference framework
@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_matches_pytorch_when_installed(activation):
    """Loss, gradients and two SGD-with-momentum steps agree with PyTorch (skipped without it)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = mlp.init([12, 9, 7, 5], activation, seed=1, dtype=np.float64)
    x, y = rng.standard_normal((16, 12)), rng.integers(0, 5, 16)
    name, kwargs = mlp.ACTIVATIONS[activation].torch  # the registry names PyTorch's equivalent
    act = lambda z: getattr(torch.nn.functional, name)(z, **kwargs)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = torch.optim.SGD(tp.values(), lr=0.1, momentum=0.9)
    state = {}
    for _ in range(2):
        a = torch.tensor(x)
        for l in (1, 2):
            a = act(a @ tp[f"W{l}"] + tp[f"b{l}"])
        reference = torch.nn.functional.cross_entropy(a @ tp["W3"] + tp["b3"], torch.tensor(y))
        opt.zero_grad()
        reference.backward()
        value, g = mlp.loss_and_grads(params, mlp.forward(params, x, activation)[1], y)
        assert value == pytest.approx(reference.item(), rel=1e-12)
        assert_close_arrays(g, {k: tp[k].grad.numpy() for k in params}, rtol=1e-10, atol=1e-12)
        opt.step()
        params, state = mlp.update(params, g, state, lr=0.1, momentum=0.9)
        assert_close_arrays(params, {k: tp[k].detach().numpy() for k in params}, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- draw: the local web page
@pytest.fixture(scope="session")
def digit_model(tmp_path_factory, mnist):
    """relu 128 trained 3 epochs on all of MNIST (about 97%), saved as the CLI saves it."""
    x, y = mnist[0], mnist[1]
    params, _ = mlp.train(mlp.init([784, 128, 10], "relu", seed=0), x, y, mlp.Settings("relu", epochs=3))
    path = tmp_path_factory.mktemp("draw") / "digits.npz"
    mlp.save(path, params, {"activation": "relu", "preprocessing": mlp.LEGACY_PREPROCESSING})
    return path


@pytest.fixture
def draw_url(digit_model):
    import threading
    params, meta = mlp.load(digit_model)
    server = cli.draw_server([(params, meta)], "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def pad_body(image28, scale=10):
    """A 28 x 28 digit (uint8, ink bright) as the page posts its pad: black ink on white, 280 x 280."""
    import base64
    pad = np.kron(255 - image28.reshape(28, 28).astype(np.uint8), np.ones((scale, scale), np.uint8))
    return json.dumps({"width": 28 * scale, "height": 28 * scale,
                       "pixels": base64.b64encode(pad.tobytes()).decode()}).encode()


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


def test_draw_serves_the_page(draw_url):
    status, headers, body = fetch_url(draw_url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = body.decode()
    for element in ('id="pad"', 'id="clear"', 'id="prediction"', 'id="seen"', 'id="hidden"'):
        assert element in page
    assert "http" not in page.split("<script>")[1]  # no CDN, nothing from the network
    assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_draw_reads_test_digits_posted_as_the_pad_posts_them(draw_url, digit_model):
    params, meta = mlp.load(digit_model)
    x, y = mlp.load_idx_dataset(MNIST, splits=("test",))
    for i in range(12):
        status, _, body = fetch_url(draw_url + "/predict", pad_body(x[i]))
        result = json.loads(body)
        framed = mlp.frame_digit(1 - np.kron(x[i].reshape(28, 28) / 255, np.ones((10, 10))))
        assert status == 200 and result["class"] == int(mlp.predict(params, framed[None], "relu")[0])
        assert result["prediction"] == str(result["class"]) and len(result["seen"]) == 784
        assert len(result["hidden"]) == 128 and min(result["hidden"]) >= 0  # relu
        assert sum(t["probability"] for t in result["top"]) <= 1.0001
    right = sum(json.loads(fetch_url(draw_url + "/predict", pad_body(x[i]))[2])["class"] == y[i] for i in range(100))
    assert right >= 90  # re-framed MNIST digits, as a pad would send them
    blank = json.loads(fetch_url(draw_url + "/predict", pad_body(np.zeros(784)))[2])
    assert blank == {"blank": True}


@pytest.mark.parametrize("method, path, body, headers, status, reason", [
    ("GET", "/draw.html", None, {}, 404, "not found"),
    ("GET", "/../cli.py", None, {}, 404, "not found"),
    ("GET", "/%2e%2e/mlp.py", None, {}, 404, "not found"),
    ("GET", "/predict", None, {}, 404, "not found"),
    ("POST", "/", b"{}", {}, 404, "not found"),
    ("POST", "/predict", b"not json", {}, 400, "expected JSON"),
    ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": "@@@"}', {}, 400, "base64"),
    ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": "AAAA"}', {}, 400, "not width x height"),
    ("POST", "/predict", b'{"width": 100000, "height": 2, "pixels": ""}', {}, 400, "width and height"),
    ("POST", "/predict", b'[1, 2]', {}, 400, "expected JSON"),
    ("POST", "/predict", b"[" * 100_000 + b"]" * 100_000, {}, 400, "expected JSON"),  # nested past recursion
    ("POST", "/predict", b'{"width": 28, "height": 28, "pixels": ' + b"[" * 50_000 + b"}", {}, 400, "expected JSON"),
    ("GET", "/", None, {"Host": "evil.example:80"}, 403, "addressed to localhost"),
])
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


@posix
def test_draw_command_prints_the_url_warns_off_loopback_and_stops_on_ctrl_c(digit_model):
    for host, warning in (("127.0.0.1", False), ("0.0.0.0", True)):
        with cli_process("draw", digit_model, "--port", "0", "--no-browser", "--host", host) as proc:
            url = wait_for_line(proc.stdout, "http://", timeout=30).strip()
            port = url.rsplit(":", 1)[1].strip("/")
            assert url.startswith(f"http://{host}:") and fetch_url(f"http://127.0.0.1:{port}/")[0] == 200
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err
        assert ("anyone who can reach this machine can use the page" in err) is warning


def test_draw_on_a_port_in_use_is_a_one_line_error(digit_model):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = run("draw", digit_model, "--port", port, "--no-browser")
    assert result.exit_code == 1 and result.stderr == (
        f"error: port {port} on 127.0.0.1 is in use; choose another --port (or --port 0 for any free one)\n")


def chromium():
    """A headless Chromium driven by Selenium, or a skip saying what is missing."""
    import shutil
    webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium: pip install -e '.[test]'")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("the browser test needs Chromium: apt-get install chromium chromium-driver (.ci/run does)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,760"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def test_a_real_browser_draws_a_1_and_a_7_and_the_page_reads_them(draw_url, tmp_path):
    browser = chromium()  # first: it skips, saying what is missing, without selenium or Chromium
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        browser.get(draw_url + "/")
        pad = browser.find_element(By.ID, "pad")
        prediction = browser.find_element(By.ID, "prediction")

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
        shot = tmp_path / "draw.png"
        browser.save_screenshot(str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        if os.environ.get("MLP_UPDATE_ASSETS"):  # MLP_UPDATE_ASSETS=1 pytest -k browser: the README's picture
            import shutil
            shutil.copy(shot, HERE / "assets" / "draw.png")
    finally:
        browser.quit()
