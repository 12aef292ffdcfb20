"""Tests of mlp.py alone: the maths against finite differences and hand-computed values, the
optimizers, schedules, augmentation and training loop, metrics and the gradient check (weights
files: test_mlp_files.py). It needs only NumPy, pytest and mlp.py: copy it beside mlp.py and run
pytest there. The
tests that need real MNIST read numpy_mlp/mnist beside this file and are skipped, saying so, without it."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import mlp

MNIST = Path(__file__).resolve().parent / "numpy_mlp" / "mnist"


@pytest.fixture(scope="session")
def mnist():
    """MNIST as load_mnist gives it: (x_train, y_train, x_test, y_test), images in [0, 1]."""
    if not MNIST.is_dir():
        pytest.skip(f"real MNIST is not beside this file ({MNIST})")
    return mlp.load_mnist(MNIST)


@pytest.fixture(scope="session")
def mnist_raw():
    """MNIST's four IDX files as stored: uint8 images (N, 28, 28) and labels."""
    if not MNIST.is_dir():
        pytest.skip(f"real MNIST is not beside this file ({MNIST})")
    return {k: mlp.read_idx(MNIST / (stem + ".gz")) for k, stem in mlp.MNIST_FILES.items()}


def assert_same_arrays(a, b):
    """Same keys, and for each key the same dtype, shape and bytes; a failure names the key."""
    assert list(a) == list(b), f"keys differ: {list(a)} != {list(b)}"
    for k in a:
        assert (a[k].dtype, a[k].shape) == (b[k].dtype, b[k].shape), (
            f"{k}: {a[k].dtype} {a[k].shape} != {b[k].dtype} {b[k].shape}"
        )
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
    return max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(a[k]) + np.abs(b[k]), 1e-8))) for k in a)


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


@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
@pytest.mark.parametrize("smoothing, weighted", [(0.0, False), (0.1, True)])
def test_multilabel_grads_match_finite_differences(activation, smoothing, weighted):
    rng = np.random.default_rng(3)
    params = mlp.init([5, 7, 6, 4], activation, seed=2, dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 2, (8, 4))
    kw = {"label_smoothing": smoothing, "weights": rng.uniform(0.5, 2, 8) if weighted else None, "task": "multilabel"}
    analytic = mlp.grads(params, mlp.forward(params, x, activation)[1], y, **kw)
    assert max_relative_error(analytic, numerical_grads(params, x, y, activation, **kw)) < 1e-6
    assert worst(mlp.gradcheck(params, x, y, activation, task="multilabel")) < 0.1


def test_multilabel_loss_hand_computed_and_finite_for_huge_logits():
    logits, y = np.array([[0.0, math.log(3)], [2.0, -1.0]]), np.array([[1, 0], [0, 0]])
    # -log(1/2) - log(1 - 3/4), then -log(1 - sigmoid(2)) - log(1 - sigmoid(-1)), averaged over the rows
    expected = (math.log(2) + math.log(4) + math.log(1 + math.e**2) + math.log(1 + math.e**-1)) / 2
    assert mlp.loss(logits, y, task="multilabel") == pytest.approx(expected, rel=1e-12)
    huge = np.array([[1e4, -1e4], [-1e4, 1e4]], np.float32)
    assert mlp.loss(huge, np.array([[1, 0], [0, 1]]), task="multilabel") == 0.0
    assert mlp.loss(huge, np.array([[0, 1], [0, 1]]), task="multilabel") == pytest.approx(1e4, rel=1e-6)
    with pytest.raises(ValueError, match=r"labels must be 0 or 1 in shape \(N, 2\)"):
        mlp.loss(logits, np.array([[1, 2], [0, 0]]), task="multilabel")


def test_a_multilabel_network_learns_each_label_and_scores_every_label_right():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 6)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] * x[:, 4] > 0], axis=1).astype(np.int8)
    settings = mlp.Settings(activation="relu", task="multilabel", epochs=15, optimizer="adam", batch_size=64, lr=0.01)
    params, history = mlp.train(mlp.init([6, 32, 3], "relu", seed=0), x[:2500], y[:2500], settings)
    loss, subset = mlp.evaluate(params, x[2500:], y[2500:], "relu", task="multilabel")
    predicted = mlp.label_probabilities(params, x[2500:], "relu") > 0.5
    assert subset == np.mean((predicted == (y[2500:] == 1)).all(axis=1)) > 0.95  # 0.97 measured
    assert history[-1]["accuracy"] > 0.9 and loss < history[0]["loss"]


@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
@pytest.mark.parametrize("hidden", [[7], [7, 6]])
def test_the_input_gradient_matches_finite_differences(activation, hidden):
    rng = np.random.default_rng(4)
    params = mlp.init([5, *hidden, 4], activation, seed=3, dtype=np.float64)
    params = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in params.items()}
    x, classes = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    analytic = mlp.input_gradient(params, x, activation, classes)
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):  # each pixel moved both ways; its own example's class logit read
        for sign in (1, -1):
            moved = x.copy()
            moved[i] += sign * 1e-5
            numeric[i] += sign * mlp.forward(params, moved, activation)[0][i[0], classes[i[0]]] / 2e-5
    assert analytic.shape == x.shape and analytic.dtype == np.float64
    assert np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)) < 1e-6
    before = x.copy()
    mlp.input_gradient(params, x, activation, classes)
    assert np.array_equal(x, before)  # pure


def test_the_input_gradient_of_one_layer_is_its_weights_column():
    params = mlp.init([3, 2], "relu", seed=0)  # no hidden layer: logit_c = x @ W1[:, c] + b1[c]
    x = np.ones((2, 3), np.float32)
    explained = mlp.input_gradient(params, x, "relu", np.array([1, 0]))
    assert explained.dtype == np.float32 and np.array_equal(explained, params["W1"].T[[1, 0]])
    with pytest.raises(ValueError, match=r"labels must be ints in \[0, 2\)"):
        mlp.input_gradient(params, x, "relu", np.array([0, 2]))


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


def test_fit_temperature_finds_the_worked_answer():
    # logits (4, 0) on ten rows, eight of class 0: softmax(z / T) gives class 0 sigmoid(4 / T), and the
    # likelihood is highest where that is 0.8, at T = 4 / logit(0.8) = 4 / ln 4
    logits, y = np.tile([4.0, 0.0], (10, 1)), np.array([0] * 8 + [1] * 2)
    assert mlp.fit_temperature(logits, y) == pytest.approx(4 / math.log(4), rel=1e-5)
    assert mlp.predict_proba(
        {"W1": np.eye(2), "b1": np.zeros(2)}, logits, "relu", temperature=4 / math.log(4)
    ) == pytest.approx(np.tile([0.8, 0.2], (10, 1)))


def test_fit_temperature_recovers_the_temperature_of_sampled_labels_and_mutates_nothing():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 2, (20_000, 5))
    y = (rng.uniform(size=(len(base), 1)) > np.cumsum(mlp.softmax(base), axis=1)).sum(
        axis=1
    )  # drawn from softmax(base)
    over_confident = (3 * base).astype(np.float32)
    kept = over_confident.copy()
    t = mlp.fit_temperature(over_confident, y)
    assert t == pytest.approx(3, rel=0.03) and np.array_equal(over_confident, kept)
    at = [mlp.loss(over_confident.astype(np.float64) / (t * f), y) for f in (0.99, 1, 1.01)]
    assert at[1] < at[0] and at[1] < at[2]  # a minimum


def test_fit_temperature_leaves_a_network_with_no_mistakes_as_it_is():
    # every row right: the loss falls without end as T shrinks, so nothing is fitted
    assert mlp.fit_temperature(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == 1.0


def test_a_reports_loss_is_that_of_the_logits_divided_by_the_temperature():
    params = mlp.init([4, 6, 3], "tanh", seed=0, dtype=np.float64)
    x, y = np.random.default_rng(1).normal(size=(50, 4)), np.arange(50) % 3
    logits = mlp.forward(params, x, "tanh")[0]
    report = mlp.classification_report(params, x, y, "tanh", temperature=2.5)
    assert report["loss"] == pytest.approx(mlp.loss(logits / 2.5, y), rel=1e-12)
    assert np.allclose(report["probabilities"], mlp.softmax(logits / 2.5), rtol=1e-12)
    assert np.array_equal(report["predicted"], logits.argmax(axis=1))


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
    # 0.3 to 1/65536: 19,661 of the 65,536 values of 16 random bits drop a unit
    assert set(np.unique(mask)) == {0, np.float32(65536 / (65536 - 19661))} and mask.dtype == np.float32
    hidden = dropped["inputs"][1]  # what the next layer sees
    assert hidden.mean(axis=0) == pytest.approx(plain["inputs"][1][0], rel=0.03, abs=1e-6)
    again, _ = mlp.forward(params, x[:5], "relu", dropout=0.3, rng=np.random.default_rng(1))
    assert np.array_equal(again, mlp.forward(params, x[:5], "relu", dropout=0.3, rng=np.random.default_rng(1))[0])
    # eval: no dropout. A batch of 5 and one of 20,000 may run different BLAS kernels, so the
    # same rows agree to float32 rounding (a few ulps), not bit for bit.
    np.testing.assert_allclose(mlp.forward(params, x[:5], "relu")[0], plain["logits"][:5], rtol=1e-6, atol=1e-6)


def test_dropout_masks_come_from_16_random_bits_each():
    rng = np.random.default_rng(5)
    bits = np.random.default_rng(5).bit_generator.random_raw(3).view(np.uint16)[:11]  # 11 of 12
    mask = mlp.dropout_mask((1, 11), 0.5, rng, np.float32)
    assert np.array_equal(mask[0], np.where(bits >= 32768, np.float32(2), 0))
    assert set(np.unique(mlp.dropout_mask((64, 64), 0.999999, rng, np.float64))) <= {
        0,
        65536,
    }  # finite: 1 in 65,536 kept


def test_flushing_subnormals_zeroes_them_only_and_leaves_training_bit_identical(mnist, monkeypatch):
    tiny = np.finfo(np.float32).tiny
    state = {"m": {"W1": np.array([tiny / 2, -tiny / 8, tiny, -1e-30, 0.0, 3.0], np.float32)}, "t": 7}
    mlp.flush_subnormals(state)
    assert state["m"]["W1"].tolist() == np.array([0, 0, tiny, -1e-30, 0, 3], np.float32).tolist()
    assert state["t"] == 7
    # A unit that stops learning keeps a velocity stuck at the smallest subnormal (0.9 times it
    # rounds to itself), which the loop flushes; the weights come out as without the flush.
    x, y = mnist[0][:4000], mnist[1][:4000]  # 1,000 steps: enough to decay into the subnormals
    params, settings = mlp.init([784, 32, 10], "relu", seed=0), mlp.Settings("relu", epochs=4, batch_size=16)
    flushed, kept = [], []
    mlp.train(params, x, y, settings, callbacks=mlp.Callbacks(on_epoch=lambda r, ck: flushed.append(ck)))
    monkeypatch.setattr(mlp, "flush_subnormals", lambda tree: None)
    mlp.train(params, x, y, settings, callbacks=mlp.Callbacks(on_epoch=lambda r, ck: kept.append(ck)))
    subnormal = lambda ck: sum(int(((v != 0) & (np.abs(v) < tiny)).sum()) for v in ck.state.values())
    assert subnormal(kept[-1]) > 0 and subnormal(flushed[-1]) < subnormal(kept[-1]) / 10
    assert_same_arrays(flushed[-1].params, kept[-1].params)


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


@pytest.mark.slow
def test_gradcheck_raises_no_false_alarm_over_random_networks():
    # 360 networks: every activation, 1-3 hidden layers, with and without dropout and label
    # smoothing, 6 seeds, zero biases in a third of them (relu's kinks reachable)
    reports = [
        random_check(a, depth, dropout, smoothing, seed, zero_biases=seed % 3 == 0)
        for a in mlp.ACTIVATIONS
        for depth in (1, 2, 3)
        for dropout, smoothing in ((0, 0), (0.3, 0), (0, 0.1), (0.2, 0.1))
        for seed in range(6)
    ]
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
    wrong = {
        "times 1.01": lambda z, a: right.df(z, a) * 1.01,
        "plus 0.01": lambda z, a: right.df(z, a) + 0.01,
        "forgotten": lambda z, a: np.ones_like(z),
    }[mistake]
    monkeypatch.setitem(mlp.ACTIVATIONS, activation, right._replace(df=wrong))
    assert worst(random_check(activation, 2, 0.0, 0.0, seed=1, zero_biases=False)) > 10


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # toy data, a few steps
def test_a_new_activation_is_one_registry_entry(monkeypatch):
    softplus = mlp.Activation(f=lambda z: np.logaddexp(0, z), df=lambda z, a: 1 / (1 + np.exp(-z)), init_std=mlp.he_std)
    monkeypatch.setitem(mlp.ACTIVATIONS, "softplus", softplus)
    rng = np.random.default_rng(0)
    params = mlp.init([5, 6, 3], "softplus", seed=0, dtype=np.float64)
    assert params["W1"].std() == pytest.approx(math.sqrt(2 / 5), rel=0.5)  # its init scale
    x, y = rng.standard_normal((4, 5)), rng.integers(0, 3, 4)
    assert worst(mlp.gradcheck(params, x, y, "softplus")) < 0.1
    _, history = mlp.train(params, x, y, mlp.Settings(activation="softplus", epochs=2, batch_size=2))
    assert len(history) == 2


def test_train_takes_one_settings_value_and_few_parameters():
    import inspect

    assert len(inspect.signature(mlp.train).parameters) <= 12  # with the batch transform hook
    assert len(inspect.signature(mlp.train_epoch).parameters) <= 11
    assert mlp.check_settings(mlp.Settings(activation="relu", optimizer="adam")).lr == mlp.OPTIMIZERS["adam"].lr
    with pytest.raises(TypeError, match=r"settings must be mlp.Settings\(activation=..., ...\), got dict"):
        mlp.train(mlp.init([2, 2], "relu"), np.zeros((1, 2), np.float32), np.zeros(1, int), {"activation": "relu"})


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # toy data, a few steps
def test_a_new_schedule_that_watches_validation_is_one_registry_entry(monkeypatch):
    halving = mlp.Schedule(
        rate=lambda lr, epoch, epochs, warmup: lr,
        uses_run_length=False,
        on_validation=lambda best: 0.5,
        about="halved every epoch",
    )
    monkeypatch.setitem(mlp.SCHEDULES, "halving", halving)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4), dtype=np.float32), rng.integers(0, 2, 16)
    settings = mlp.Settings(activation="relu", epochs=3, lr=0.4, schedule="halving")
    _, history = mlp.train(mlp.init([4, 3, 2], "relu"), x, y, settings, val=(x[:4], y[:4]))
    assert [r["lr"] for r in history] == [0.4, 0.2, 0.1]
    with pytest.raises(ValueError, match="the halving schedule watches validation accuracy"):
        mlp.train(mlp.init([4, 3, 2], "relu"), x, y, settings)


def test_a_new_preprocessing_is_one_registry_entry(tmp_path, monkeypatch):
    centred = mlp.Preprocessing(
        fit=lambda x, prep, chunk: {"mean": mlp.to_unit(x, prep, np.float64).mean(axis=0)},
        apply=lambda units, prep: units - prep["mean"].astype(units.dtype),
        arrays={"mean": mlp._finite},
        about="each pixel's mean removed",
    )
    monkeypatch.setitem(mlp.PREPROCESSINGS, "centred", centred)
    x = np.array([[0, 10], [20, 30]], np.uint8)
    prep = mlp.fit_preprocessing(x, "centred")
    assert prep["mean"].tolist() == [1 / 3, 2 / 3]
    np.testing.assert_allclose(mlp.preprocess(x, prep), [[-1 / 3, -1 / 3], [1 / 3, 1 / 3]], rtol=1e-6)
    mlp.save(tmp_path / "w.npz", mlp.init([2, 2], "relu"), {"activation": "relu", "preprocessing": prep})
    assert mlp.load(tmp_path / "w.npz")[1]["preprocessing"]["mean"].tolist() == [1 / 3, 2 / 3]


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1, -1, 2], r"labels must be ints in \[0, 3\) .* got -1 to 2"),
        ([0, 1, 3, 2], r"labels must be ints in \[0, 3\) .* got 0 to 3"),
        ([0.0, 1.0, 2.0, 1.0], "labels must be a 1-D array of ints"),
        ([0, 1, 2], "4 examples but 3 labels"),
    ],
)
def test_labels_are_checked_where_mlp_starts(labels, message):
    params = mlp.init([5, 6, 3], "relu", seed=0)
    x, y = np.zeros((4, 5), np.float32), np.array(labels)
    logits, cache = mlp.forward(params, x, "relu")
    for call in (
        lambda: mlp.loss(logits, y),
        lambda: mlp.grads(params, cache, y),
        lambda: mlp.train(params, x, y, mlp.Settings(activation="relu", epochs=1)),
    ):
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p, x: mlp.forward(p, x, "relu", dropout=0.5), "needs rng=np.random.default_rng"),
        (lambda p, x: mlp.forward(p, x[:, :4], "relu"), r"inputs must be a \(batch, 5\) float array"),
        (lambda p, x: mlp.forward(p, x, "swish"), "unknown activation 'swish'; choose one of tanh"),
        (
            lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings(activation="relu", patience=2)),
            "patience watches validation accuracy: give a validation set",
        ),
        (
            lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings(activation="relu", lr=float("inf"))),
            "lr must be greater than 0 and finite, got inf",
        ),
        (
            lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings(activation="relu", momentum=1.0)),
            r"momentum must be in \[0, 1\), got 1.0",
        ),
        (
            lambda p, x: mlp.train(p, x, np.zeros(4, int), mlp.Settings(activation="relu", epochs=0)),
            "epochs must be a whole number",
        ),
        (lambda p, x: mlp.update(p, p, {}, 0.1, optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
    ],
)
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


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_in_place_is_the_formula_bit_for_bit(nesterov):
    rng = np.random.default_rng(0)
    shapes = {"W1": (300, 500), "b1": (500,)}
    params = {k: rng.standard_normal(shape, dtype=np.float32) for k, shape in shapes.items()}
    params["W1"] = np.asfortranarray(params["W1"])  # a caller's layout is the caller's
    g, v = ({k: rng.standard_normal(shape, dtype=np.float32) for k, shape in shapes.items()} for _ in range(2))
    new_params, new_state = mlp.sgd(params, g, v, lr=0.2, momentum=0.9, nesterov=nesterov)
    velocity = {k: 0.9 * v[k] + g[k] for k in params}
    step = {k: g[k] + 0.9 * velocity[k] if nesterov else velocity[k] for k in params}
    assert_same_arrays(new_state, velocity)
    assert_same_arrays(new_params, {k: step[k] * -0.2 + params[k] for k in params})


@pytest.mark.parametrize("optimizer", sorted(mlp.OPTIMIZERS))
def test_the_loops_trusted_calls_are_the_checked_ones_bit_for_bit(optimizer):
    """train checks once per run and its loop passes checked=True: the same numbers, no checks."""
    params = mlp.init([6, 5, 3], "tanh", seed=1)
    x, y = np.random.default_rng(2).standard_normal((8, 6), dtype=np.float32), np.arange(8) % 3
    _, cache = mlp.forward(params, x, "tanh")
    weights = np.linspace(0.5, 1.5, 8)
    loss, g = mlp.loss_and_grads(params, cache, y, 0.1, weights)
    trusted_loss, trusted_g = mlp.loss_and_grads(params, cache, y, 0.1, weights, checked=True)
    assert loss == trusted_loss and all(g[k].tobytes() == trusted_g[k].tobytes() for k in g)
    options = dict(lr=0.05, momentum=0.5, weight_decay=0.01, optimizer=optimizer)
    step, state = mlp.update(params, g, {}, **options)
    trusted_step, trusted_state = mlp.update(params, g, {}, **options, checked=True)
    assert all(step[k].tobytes() == trusted_step[k].tobytes() for k in step)
    with pytest.raises(ValueError, match="labels must be ints in"):
        mlp.loss_and_grads(params, cache, y + 5)  # unchecked, the checks hold


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
    # the clip point itself: a norm just under the limit, at it and just over it
    assert mlp.clip_by_global_norm(g, 5.0 + 1e-9) is g and mlp.clip_by_global_norm(g, 5.0) is g
    over = mlp.clip_by_global_norm(g, 5.0 - 1e-6)
    assert over is not g and math.hypot(over["W1"][0, 0], over["b1"][0]) == pytest.approx(5.0 - 1e-6, rel=1e-12)


def test_schedules_hand_computed():
    lrs = lambda name, **kw: [mlp.scheduled_lr(name, 1.0, e, 9, **kw) for e in range(9)]
    assert lrs("constant") == [1.0] * 9
    assert lrs("step") == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    cosine = [mlp.scheduled_lr("cosine", 1.0, e, 10, warmup=2) for e in range(10)]
    assert cosine[:3] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert cosine[6] == pytest.approx(0.5)  # half way through the 8 epochs after warm-up
    assert all(a > b for a, b in zip(cosine[2:], cosine[3:]))
    assert [mlp.scheduled_lr("onecycle", 1.0, e, 10) for e in range(10)] == pytest.approx(
        [1 / 3, 2 / 3, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]  # up over 30% of 10 epochs, then down
    )
    assert lrs("onecycle") == pytest.approx([1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7])


def test_plateau_schedule_cuts_the_rate_when_validation_stalls():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 4), dtype=np.float32), rng.integers(0, 2, 64)
    val = (rng.random((8, 4), dtype=np.float32), np.full(8, 2))  # class 2 is never trained: acc stays 0
    _, history = mlp.train(
        mlp.init([4, 5, 3], "relu"),
        x,
        y,
        mlp.Settings(activation="relu", epochs=6, lr=0.1, schedule="plateau"),
        val=val,
    )
    assert [r["lr"] for r in history] == pytest.approx([0.1, 0.1, 0.1, 0.02, 0.02, 0.004])


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # toy data, a few steps
# ----------------------------------------------------------------------------- the training loop, validation and metrics
def test_train_covers_every_example_with_a_short_last_batch_and_is_deterministic():
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 4), dtype=np.float32), rng.integers(0, 3, 10)
    params = mlp.init([4, 5, 3], "relu", seed=0)
    calls = []
    p1, history = mlp.train(
        params,
        x,
        y,
        mlp.Settings(activation="relu", epochs=2, batch_size=4),
        callbacks=mlp.Callbacks(on_batch=lambda i, n, l: calls.append((i, n))),
    )
    assert calls == [(0, 3), (1, 3), (2, 3)] * 2
    assert [r["epoch"] for r in history] == [1, 2]
    p2, _ = mlp.train(params, x, y, mlp.Settings(activation="relu", epochs=2, batch_size=4))
    p3, _ = mlp.train(params, x, y, mlp.Settings(activation="relu", epochs=2, batch_size=4, seed=1))
    assert_same_arrays(p1, p2)
    assert not np.array_equal(p1["W1"], p3["W1"])


@pytest.mark.slow
def test_validation_split_is_stratified_and_seeded(mnist):
    x, y = mnist[0], mnist[1]
    xt, yt, xv, yv = mlp.split_validation(x, y, 6000, seed=0)
    assert len(yv) == 6000 and len(yt) == 54000
    assert np.abs(np.bincount(yv) / 6000 - np.bincount(y) / 60000).max() < 0.001
    assert np.array_equal(mlp.split_validation(x, y, 6000, seed=0)[3], yv)


def test_early_stopping_restores_the_best_epoch(mnist):
    x, y = mnist[0][:3000], mnist[1][:3000]
    xt, yt, xv, yv = mlp.split_validation(x, y, 500, seed=0)
    params, history = mlp.train(
        mlp.init([784, 32, 10], "relu"),
        xt,
        yt,
        mlp.Settings(activation="relu", epochs=30, lr=0.5, patience=3),
        val=(xv, yv),
    )
    best = max(history, key=lambda r: r["val_accuracy"])
    assert len(history) < 30 and len(history) == best["epoch"] + 3  # stopped early
    assert mlp.evaluate(params, xv, yv, "relu")[1] == best["val_accuracy"]
    assert history[-1]["best_epoch"] == best["epoch"]  # train says which epoch it kept


def test_metrics():
    assert mlp.accuracy([1, 2, 3, 4], np.array([1, 2, 0, 4])) == 0.75
    m = mlp.confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


@pytest.mark.slow
def test_relu_128_64_reaches_95_5_percent_in_two_epochs(mnist):
    x, y, x_test, y_test = mnist
    params = mlp.init([784, 128, 64, 10], "relu", seed=0)
    params, history = mlp.train(params, x, y, mlp.Settings(activation="relu", epochs=2))
    test_loss, test_accuracy = mlp.evaluate(params, x_test, y_test, "relu")
    assert test_accuracy >= 0.955, test_accuracy
    assert history[1]["loss"] < history[0]["loss"]


@pytest.mark.slow
def test_short_adamw_beats_short_plain_sgd(mnist):
    x, y, x_test, y_test = mnist
    x, y = x[:15000], y[:15000]
    scores = {}
    for name, kw in (
        ("sgd", dict(optimizer="sgd", lr=0.05, momentum=0.0)),
        ("adamw", dict(optimizer="adamw", lr=1e-3, weight_decay=1e-4)),
    ):
        params, _ = mlp.train(
            mlp.init([784, 128, 64, 10], "relu"), x, y, mlp.Settings(activation="relu", epochs=2, **kw)
        )
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
    settings = mlp.Settings(activation="relu", epochs=epochs, batch_size=64, seed=3, **options)
    params = mlp.init([784, 16, 10], "relu", seed=3)
    return (params, x, y, settings, val, *mlp.train(params, x, y, settings, val))


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd"},
        {"optimizer": "adamw", "dropout": 0.2, "val_size": 100, "schedule": "plateau"},
        {"optimizer": "nesterov", "ema": 0.9, "val_size": 100},
    ],
)
def test_a_checkpoint_part_way_through_an_epoch_resumes_bit_identically(tmp_path, mnist, options):
    params, x, y, settings, val, full, full_history = resume_case(mnist, options, epochs=3)
    kept = {}

    def stop_in_epoch_2(checkpoint):  # after batch 5 of epoch 2: saved, then a crash
        if checkpoint.epoch == 1 and checkpoint.step == 5:
            kept["checkpoint"] = checkpoint  # (mlp_guard.save_checkpoint writes one: test_run.py)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mlp.train(params, x, y, settings, val, callbacks=mlp.Callbacks(on_step=stop_in_epoch_2))
    checkpoint = kept["checkpoint"]
    assert (checkpoint.epoch, checkpoint.step, len(checkpoint.history)) == (1, 5, 1)
    resumed, history = mlp.train(params, x, y, settings, val, resume=checkpoint)
    assert_same_arrays(resumed, full)
    assert [r["loss"] for r in history] == [r["loss"] for r in full_history]


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd"},
        {"optimizer": "adamw", "weight_decay": 1e-3, "dropout": 0.2, "val_size": 100, "patience": 3},
        {"optimizer": "sgd", "ema": 0.99},
    ],
)
def test_interrupt_checkpoint_resume_is_bit_identical(tmp_path, mnist, options):
    params, x, y, settings, val, full, full_history = resume_case(mnist, options, epochs=4)
    latest = {}

    def on_epoch(record, checkpoint):
        latest["checkpoint"] = checkpoint
        interrupt_after(2)(record, checkpoint)

    with pytest.raises(KeyboardInterrupt):
        mlp.train(params, x, y, settings, val, callbacks=mlp.Callbacks(on_epoch=on_epoch))
    checkpoint = latest["checkpoint"]
    assert checkpoint.epoch == 2
    resumed, history = mlp.train(params, x, y, settings, val, resume=checkpoint)
    assert_same_arrays(resumed, full)
    assert [r["loss"] for r in history] == [r["loss"] for r in full_history]


def test_the_moving_average_of_the_weights_is_kept_after_every_step_and_saved_raw_beside(mnist, tmp_path):
    one, three = {"W1": np.float32([1.0, -2.0])}, {"W1": np.float32([3.0, 2.0])}
    assert mlp.averaged(None, one, 0.5) is one
    assert mlp.averaged(one, three, 0.75)["W1"].tolist() == [1.5, -1.0]  # 0.75 * one + 0.25 * three
    x, y = mnist[0][:640], mnist[1][:640]
    settings = mlp.Settings(activation="relu", epochs=2, batch_size=64, ema=0.9, schedule="constant")
    params = mlp.init([784, 16, 10], "relu", seed=0)
    stepped, ends = [], []  # each step's raw weights, and each epoch's checkpoint
    trained, history = mlp.train(
        params,
        x,
        y,
        settings,
        callbacks=mlp.Callbacks(on_step=lambda ck: stepped.append(ck.params), on_epoch=lambda r, ck: ends.append(ck)),
    )
    expected = stepped[0]
    for weights in stepped[1:]:  # the same recurrence, by hand: 0.9 of the average, 0.1 of the weights
        expected = {k: w + np.float32(0.9) * (expected[k] - w) for k, w in weights.items()}
    assert len(stepped) == 20 and all(v.dtype == np.float32 for v in trained.values())
    assert_same_arrays(trained, expected)
    assert_same_arrays(ends[-1].params, stepped[-1])  # training goes on from the raw weights
    assert_same_arrays(ends[-1].weights, trained)
    assert not np.array_equal(trained["W1"], stepped[-1]["W1"])
    raw = mlp.train(params, x, y, settings._replace(ema=0.0))[0]
    assert_same_arrays(raw, stepped[-1])  # averaging changes nothing of the training itself
    assert_same_arrays(ends[-1].average, trained)  # the checkpoint keeps both (a file: test_run.py)
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        mlp.train(params, x, y, settings._replace(ema=1.0))


def test_range_preprocessing_of_mnist_is_the_old_division_by_255(mnist_raw):
    x = mnist_raw["test_images"].reshape(10000, -1)
    prep = mlp.fit_preprocessing(x)
    assert prep == {"kind": "range", "low": 0.0, "high": 255.0, "invert": False}
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


def test_pictures_on_a_light_background_are_turned_over_bit_for_bit():
    rng = np.random.default_rng(2)
    dark = rng.integers(0, 256, (50, 16)).astype(np.uint8)
    dark[:, :12] = rng.integers(0, 40, (50, 12))  # mostly background near 0: light ink on dark
    light = 255 - dark
    assert not mlp.light_background(dark, 0, 255) and mlp.light_background(light, 0, 255, chunk=7)
    assert mlp.fit_preprocessing(light)["invert"] is False  # only pictures are turned over
    prep = mlp.fit_preprocessing(light, pictures=True)
    assert prep["invert"] is True and (prep["low"], prep["high"]) == (float(light.min()), float(light.max()))
    before = light.copy()
    turned = mlp.to_unit(light, prep)
    plain = mlp.to_unit(255 - light, {"kind": "range", "low": 255 - prep["high"], "high": 255 - prep["low"]})
    assert turned.tobytes() == plain.tobytes() and np.array_equal(light, before)
    np.testing.assert_allclose(mlp.to_unit(np.array([[255.0, 0.0]]), {**prep, "low": 0.0, "high": 255.0}), [[0, 1]])
    assert mlp.fit_preprocessing(dark, pictures=True)["invert"] is False


def strokes(points, shape=(9, 9)):
    """A (1, H * W) float32 image with ink 1 at the (row, column) points."""
    image = np.zeros(shape, np.float32)
    for r, c in points:
        image[r, c] = 1
    return image.reshape(1, -1)


def test_straighten_makes_a_slanted_stroke_upright_and_a_wide_one_narrower():
    slanted = strokes([(r, 2 + r // 2) for r in range(0, 9, 2)])  # slant 1/2: columns 2..6 down the rows
    upright = strokes([(r, 4) for r in range(0, 9, 2)])
    assert mlp.straighten(slanted, (9, 9)).tobytes() == upright.tobytes()  # whole source columns: exact
    assert mlp.straighten(upright, (9, 9)).tobytes() == upright.tobytes()
    assert mlp.straighten(slanted, (9, 9), deslant=False).tobytes() == slanted.tobytes()
    wide = strokes([(r, c) for r in range(3, 6) for c in (2, 6)])  # spread 2 pixels across columns
    # width 1 asks for a squeeze by 2, held at WIDTH_STRETCH's 1.5: output column 4 +- 1 reads
    # source 4 +- 1.5, half ink; 4 +- 2 reads 4 +- 3, none
    expected = np.zeros((9, 9), np.float32)
    expected[3:6, [3, 5]] = 0.5
    np.testing.assert_array_equal(mlp.straighten(wide, (9, 9), deslant=False, width=1.0).reshape(9, 9), expected)
    np.testing.assert_allclose(mlp.straighten(wide, (9, 9), deslant=False, width=2.0), wide, atol=1e-6)


def test_straighten_is_each_image_alone_and_keeps_blank_ones_blank(mnist_raw):
    units = mnist_raw["train_images"][:300].reshape(300, -1).astype(np.float32) / 255
    units[7] = 0
    before = units.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = mlp.straighten(units, (28, 28), width=3.5)
    parts = np.concatenate([mlp.straighten(units[i : i + 7], (28, 28), width=3.5) for i in range(0, 300, 7)])
    assert whole.tobytes() == parts.tobytes() and np.array_equal(units, before)
    assert not whole[7].any() and whole.dtype == np.float32 and 0 <= whole.min() and whole.max() <= 1
    cx, cy, mu20, mu02, mu11 = mlp._moments(whole.reshape(-1, 28, 28).astype(np.float64))
    slants = np.abs(mu11 / np.maximum(mu02, 1))[np.arange(300) != 7]
    assert np.median(slants) < 0.02 < np.median(np.abs(mlp._moments(units.reshape(-1, 28, 28).astype(float))[4]))


def test_a_straightening_preprocessing_is_fitted_stored_and_trains_as_straightened_units(tmp_path, mnist_raw):
    x = mnist_raw["train_images"][:400].reshape(400, -1)
    y = mnist_raw["train_labels"][:400]
    prep = mlp.fit_preprocessing(x, "standard", deslant=True, width=3.5)
    assert (prep["deslant"], prep["width"], prep["shape"]) == (True, 3.5, [28, 28])
    units = mlp.straighten(x.astype(np.float32) / np.float32(255), (28, 28), width=3.5)
    np.testing.assert_allclose(prep["mean"], units.mean(axis=0), atol=1e-6)  # fitted to straightened images
    assert mlp.fit_preprocessing(x) == {"kind": "range", "low": 0.0, "high": 255.0, "invert": False}
    params = mlp.init([784, 16, 10], "relu", seed=3)
    mlp.save(tmp_path / "w.npz", params, {"activation": "relu", "preprocessing": prep})
    loaded = mlp.load(tmp_path / "w.npz")[1]["preprocessing"]
    assert {k: v for k, v in loaded.items() if k not in ("mean", "std")} == {
        k: v for k, v in prep.items() if k not in ("mean", "std")
    }
    expected = mlp.predict_proba(params, x[:50], "relu", preprocessing=prep)
    assert mlp.predict_proba(params, x[:50], "relu", preprocessing=loaded).tobytes() == expected.tobytes()
    # train straightens x once (mlp.prepared): the same bits as per batch, and as units given as inputs
    settings = mlp.Settings(activation="relu", epochs=2, batch_size=64)
    noise = lambda units, rng, epoch: np.clip(units + rng.normal(0, 0.05, units.shape).astype(units.dtype), 0, 1)
    range_prep = mlp.fit_preprocessing(x, deslant=True)
    once, _ = mlp.train(params, x, y, settings, preprocessing=range_prep, val=(x[:40], y[:40]), transform=noise)
    units, val = mlp.to_unit(x, range_prep), (mlp.to_unit(x[:40], range_prep), y[:40])
    given, _ = mlp.train(params, units, y, settings, val=val, transform=noise)
    units_x, units_prep = mlp.prepared(x, range_prep, np.float32)
    assert units_x.tobytes() == mlp.to_unit(x, range_prep).tobytes() and not mlp.straightens(units_prep)
    start = mlp.fresh_checkpoint(params, 0)
    per_batch = mlp.train_epoch(start, x, y, 0.1, settings, range_prep, transform=noise)[0].params
    each_time = mlp.train_epoch(start, units_x, y, 0.1, settings, units_prep, transform=noise)[0].params
    assert_same_arrays(per_batch, each_time)
    assert_same_arrays(once, given)
    with pytest.raises(ValueError, match="features are not a square"):
        mlp.fit_preprocessing(x[:, :700], deslant=True)
    with pytest.raises(ValueError, match="width must be 0"):
        mlp.fit_preprocessing(x, width=-1.0)


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # toy data, a few steps
def test_the_last_record_says_why_training_stopped():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((40, 4)).astype(np.float32), np.arange(40) % 2
    _, history = mlp.train(mlp.init([4, 3, 2], "relu"), x, y, mlp.Settings(activation="relu", epochs=3))
    assert [r.get("stopped") for r in history] == [None, None, "epochs"]
    settings = mlp.Settings(activation="relu", epochs=50, patience=1, lr=1e-9)  # nothing changes: no better epoch
    _, history = mlp.train(mlp.init([4, 3, 2], "relu"), x, y, settings, val=(x[:10], y[:10]))
    assert [r.get("stopped") for r in history] == [None, "patience"]
