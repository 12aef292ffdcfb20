"""Numbers as targets in mlp.py alone (task="regression"): the loss and its gradient against
finite differences and hand-computed values, R^2 as scikit-learn defines it, the target
scaling, a curve and several targets fitted, early stopping on validation loss, and weights
files that say their task. Like test_mlp.py it needs only NumPy, pytest and mlp.py."""

import json

import numpy as np
import pytest

import mlp


def worst(report):
    return max(e.of_tolerance for e in report.values())


def curve(n, seed=0, noise=0.05, dtype=np.float32):
    """(x (n, 1), y (n,)): a noisy sine on [-3, 3]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, 1))
    return x.astype(dtype), (np.sin(x[:, 0]) + noise * rng.standard_normal(n)).astype(dtype)


def test_the_squared_error_is_the_mean_over_examples_and_targets_weighted_as_classes_are():
    outputs = np.array([[1.0, 2.0], [3.0, 4.0]])
    y = np.array([[0.0, 2.0], [3.0, 1.0]])  # errors 1, 0 / 0, 3
    assert mlp.loss(outputs, y, task="regression") == pytest.approx((1 + 0 + 0 + 9) / 4)
    w = np.array([3.0, 1.0])  # per-example losses 0.5 and 4.5
    assert mlp.loss(outputs, y, weights=w, task="regression") == pytest.approx((3 * 0.5 + 1 * 4.5) / 2)
    one = mlp.loss(np.array([[2.0], [0.0]]), np.array([1.0, 1.0]), task="regression")  # y (N,) for one output
    assert one == pytest.approx(1.0)


@pytest.mark.parametrize("activation", sorted(mlp.ACTIVATIONS))
@pytest.mark.parametrize("k", [1, 3])
def test_regression_gradients_match_finite_differences(activation, k):
    rng = np.random.default_rng(k)
    params = mlp.init([4, 5, 3, k], activation, seed=k, dtype=np.float64)
    x, y = rng.standard_normal((7, 4)), rng.standard_normal((7, k)) * 2
    weights = rng.uniform(0, 2, 7)
    assert worst(mlp.gradcheck(params, x, y, activation, task="regression")) < 0.1
    assert worst(mlp.gradcheck(params, x, y, activation, dropout=0.3, weights=weights, task="regression")) < 0.1


def test_a_wrong_regression_gradient_is_caught(monkeypatch):
    params = mlp.init([3, 4, 2], "tanh", seed=0, dtype=np.float64)
    x, y = np.random.default_rng(0).standard_normal((5, 3)), np.random.default_rng(1).standard_normal((5, 2))
    right = mlp.TASKS["regression"].loss_and_delta

    def halved(*args):  # the loss as it is, its gradient half of what it should be
        value, delta = right(*args)
        return value, delta / 2

    monkeypatch.setitem(mlp.TASKS, "regression", mlp.TASKS["regression"]._replace(loss_and_delta=halved))
    assert worst(mlp.gradcheck(params, x, y, "tanh", task="regression")) > 1000


def test_r2_is_scikit_learns_definition():
    y = np.array([[1.0], [2.0], [3.0]])
    assert mlp.r2_score(np.array([1.0]), y) == pytest.approx(0.5)  # 1 - 1 / 2
    two = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])  # the second target constant
    assert mlp.r2_score(np.array([1.0, 0.0]), two) == pytest.approx((0.5 + 1.0) / 2)  # predicted exactly: 1
    assert mlp.r2_score(np.array([1.0, 0.1]), two) == pytest.approx((0.5 + 0.0) / 2)  # not: 0
    assert mlp.r2_score(np.array([8.0]), y) == pytest.approx(-3.0)  # worse than the mean


def test_targets_are_standardised_and_restored_exactly_enough():
    y = np.array([[1000.0, -2.0], [3000.0, -2.0], [2000.0, -2.0]])
    targets = mlp.fit_targets(y)
    np.testing.assert_allclose(targets["mean"], [2000.0, -2.0])
    assert targets["scale"][1] == 1.0  # a constant target is not divided by 0
    scaled = mlp.scale_targets(y, targets, np.float64)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled[:, 0].std(), 1)
    np.testing.assert_allclose(mlp.unscale_targets(scaled, targets), y)
    assert mlp.fit_targets(np.array([1.0, 2.0]))["mean"].shape == (1,)  # (N,): one target


def test_targets_too_large_to_square_are_standardised_finitely():
    y = np.array([[1.0], [2.0], [1e200], [3.0]])
    targets = mlp.fit_targets(y)
    assert np.isfinite(targets["mean"]).all() and np.isfinite(targets["scale"]).all()
    np.testing.assert_allclose(targets["mean"], [0.25e200])
    np.testing.assert_allclose(targets["scale"], [1e200 * (3 / 16) ** 0.5])  # sqrt(1/4 - 1/16) of the largest
    scaled = mlp.scale_targets(y, targets)
    assert np.isfinite(scaled).all() and abs(float(scaled[2, 0]) - 3**0.5) < 1e-6  # one of four far out: sqrt(3) sds
    np.testing.assert_allclose(mlp.unscale_targets(scaled, targets)[2], [1e200], rtol=1e-6)


def fitted_curve(n=2000, epochs=60, seed=0, **settings):
    x, y = curve(n, seed=seed)
    targets = mlp.fit_targets(y)
    x_fit, y_fit, x_val, y_val = mlp.split_validation(x, mlp.scale_targets(y, targets), n // 5, seed=seed)
    params = mlp.init([1, 64, 64, 1], "tanh", seed=seed)
    s = mlp.Settings(activation="tanh", task="regression", epochs=epochs, batch_size=32, lr=0.05, **settings)
    params, history = mlp.train(params, x_fit, y_fit, s, val=(x_val, y_val))
    return params, history, targets


def test_a_noisy_sine_is_fitted_to_its_noise():
    params, history, targets = fitted_curve()
    x, y = curve(1000, seed=7)
    report = mlp.regression_report(params, x, y, "tanh", targets=targets)
    # the noise's variance (0.05^2) over the sine's (~0.48) bounds R^2 at ~0.995; a fit is near it
    assert report["r2"] > 0.98 and report["mse"] < 0.01
    assert report["mae"] == pytest.approx(np.abs(report["predicted"][:, 0] - y).mean())
    assert report["worst"].shape == (10,)
    errors = np.abs(report["predicted"][:, 0] - y)
    assert errors[report["worst"][0]] == errors.max()
    record = history[-1]
    assert "accuracy" not in record and {"loss", "val_loss", "val_r2", "best_epoch"} <= set(record)
    assert record["val_r2"] > 0.98


def test_early_stopping_keeps_the_epoch_with_the_lowest_validation_loss():
    params, history, _ = fitted_curve(n=600, epochs=40, patience=3, seed=1)
    best = min(history, key=lambda r: r["val_loss"])
    assert history[-1]["best_epoch"] == best["epoch"]
    if history[-1]["stopped"] == "patience":
        assert history[-1]["epoch"] - best["epoch"] == 3


def test_several_targets_at_once():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1500, 3)).astype(np.float32)
    y = np.stack([x[:, 0] * x[:, 1], np.cos(2 * x[:, 2]), x.sum(axis=1) * 100], axis=1)  # scales 1 to 100
    targets = mlp.fit_targets(y[:1200])
    s = mlp.Settings(activation="relu", task="regression", epochs=60, batch_size=32, lr=0.05)
    params, _ = mlp.train(mlp.init([3, 64, 3], "relu", seed=0), x[:1200], mlp.scale_targets(y[:1200], targets), s)
    predicted = mlp.predict_values(params, x[1200:], "relu", targets=targets)
    assert predicted.shape == (300, 3)
    for j in range(3):
        r2 = mlp.r2_score(((predicted[:, j] - y[1200:, j]) ** 2).sum(keepdims=True), y[1200:, j : j + 1])
        assert r2 > 0.9, (j, r2)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([1.0, np.nan, 2.0, 0.0]), "NaN or infinite"),
        (np.array([[1.0, 2.0]] * 4), r"shape \(N, 1\)"),
        (np.array(["a", "b", "c", "d"]), "numbers"),
        (np.array([1.0, 2.0]), "4 examples but 2 targets"),
    ],
)
def test_bad_targets_are_refused_naming_the_problem(y, message):
    x = np.zeros((4, 2), np.float32)
    s = mlp.Settings(activation="relu", task="regression", epochs=1)
    with pytest.raises(ValueError, match=message):
        mlp.train(mlp.init([2, 3, 1], "relu"), x, y, s)


def test_options_of_classes_are_refused_for_numbers_and_an_unknown_task_named():
    with pytest.raises(ValueError, match="label_smoothing"):
        mlp.check_settings(mlp.Settings(activation="relu", task="regression", label_smoothing=0.1))
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        mlp.check_settings(mlp.Settings(activation="relu", task="ranking"))
    with pytest.raises(ValueError, match="labels must be"):  # numbers given to a classifier
        mlp.loss(np.zeros((2, 3)), np.array([0.5, 1.5]))


def test_a_diverging_regression_says_so():
    x, y = curve(200)
    s = mlp.Settings(activation="relu", task="regression", epochs=3, lr=50.0, schedule="constant")
    with pytest.raises(FloatingPointError, match="always 0"):
        mlp.train(mlp.init([1, 32, 1], "relu"), x, y, s)


def test_float32_training_stays_float32():
    x, y = curve(64)
    params = mlp.init([1, 8, 1], "relu")
    _, cache = mlp.forward(params, x, "relu")
    assert all(
        g.dtype == np.float32 for g in mlp.grads(params, cache, y.astype(np.float64), task="regression").values()
    )


def test_a_regression_weights_file_keeps_its_task_and_target_scaling(tmp_path):
    params, _, targets = fitted_curve(n=300, epochs=2)
    path = tmp_path / "curve.npz"
    mlp.save(path, params, {"activation": "tanh", "task": "regression", "targets": targets})
    loaded, meta = mlp.load(path)
    assert mlp.task_of(meta) == "regression"
    for key in ("mean", "scale"):
        assert meta["targets"][key].tobytes() == targets[key].tobytes()  # JSON numbers round-trip exactly
    x, _ = curve(50, seed=3)
    np.testing.assert_array_equal(
        mlp.predict_values(loaded, x, "tanh", targets=meta["targets"]),
        mlp.predict_values(params, x, "tanh", targets=targets),
    )
    classifier = tmp_path / "classes.npz"
    mlp.save(classifier, mlp.init([2, 3], "relu"), {"activation": "relu"})
    assert "task" not in mlp.load(classifier)[1] and mlp.task_of(mlp.load(classifier)[1]) == "classification"


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (None, "damaged target scaling"),
        ({"mean": [0.0, 1.0], "scale": [1.0]}, "1 finite means and scales"),
        ({"mean": [0.0], "scale": [0.0]}, "greater than 0"),
        ({"mean": ["x"], "scale": [1.0]}, "damaged target scaling"),
    ],
)
def test_a_damaged_target_scaling_is_refused(tmp_path, targets, message):
    path = tmp_path / "w.npz"
    mlp.save(
        path,
        mlp.init([2, 1], "relu"),
        {"activation": "relu", "task": "regression", "targets": mlp.fit_targets([1.0, 2.0])},
    )
    arrays = mlp.read_npz(path)  # hand-edited, as a user's editor would leave it
    meta = json.loads(str(arrays.pop("meta")))
    meta.pop("targets")
    meta |= {} if targets is None else {"targets": targets}
    mlp.write_atomic(path, mlp.npz_writer({**arrays, "meta": np.array(json.dumps(meta))}))
    with pytest.raises(ValueError, match=message):
        mlp.load(path)


def test_an_unknown_task_in_a_file_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    mlp.save(path, mlp.init([2, 1], "relu"), {"activation": "relu", "task": "ranking"})
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        mlp.load(path)


def test_the_validation_split_of_numbers_spreads_over_their_range():
    x = np.arange(100, dtype=np.float32)[:, None]
    y = np.arange(100, dtype=np.float64)
    _, _, _, y_val = mlp.split_validation(x, y, 10, seed=0)
    assert len(y_val) == 10 and np.ptp(y_val) >= 80  # spread, not one end of the range
    _, _, _, two = mlp.split_validation(x, np.stack([y, -y], axis=1), 10, seed=0)
    assert two.shape == (10, 2)
