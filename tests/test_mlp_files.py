"""Tests of mlp.py's Part II alone: weights files (save, load, their records and format version,
broken and hand-edited files) and IDX files. Like test_mlp.py it needs only NumPy, pytest and
mlp.py (and test_mlp.py's helpers): copy the three beside each other and run pytest there."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest

import mlp
from test_mlp import MNIST, assert_same_arrays, mnist, mnist_raw  # noqa: F401 (fixtures)


def weights_with_meta(path, params, meta):
    """A weights file as `save` lays it out, but with `meta` exactly as given."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in {**params, "meta": np.array(json.dumps(meta))}.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array)
            archive.writestr(name + ".npy", buffer.getvalue())
    return path


def test_weights_of_another_format_version_are_refused_in_one_line(tmp_path):
    params = mlp.init([4, 3], "relu")
    meta = {"activation": "relu", "format": "mlp.py weights", "version": 2, "sizes": [4, 3], "dtype": "float32"}
    with pytest.raises(ValueError, match=r"new.npz: weights of format version 2; this mlp.py reads version 1"):
        mlp.load(weights_with_meta(tmp_path / "new.npz", params, meta))
    with pytest.raises(ValueError, match="weights of format version None"):
        mlp.load(weights_with_meta(tmp_path / "none.npz", params, {**meta, "version": None}))


def test_weights_saved_without_a_preprocessing_take_mnist_pixels_as_load_mnist_scales_them(tmp_path):
    mlp.save(tmp_path / "w.npz", mlp.init([4, 3], "relu"), {"activation": "relu"})  # from your own loop
    prep = mlp.load(tmp_path / "w.npz")[1]["preprocessing"]
    assert prep == mlp.UNSTORED_PREPROCESSING == {"kind": "range", "low": 0.0, "high": 255.0, "invert": False}
    pixels = np.array([[0, 51, 255, 102]], np.uint8)
    np.testing.assert_allclose(mlp.preprocess(pixels, prep), pixels / 255, rtol=1e-6)


def test_save_load_round_trip(tmp_path):
    params = mlp.init([6, 5, 4, 3], "gelu", seed=0)
    mlp.save(tmp_path / "w.npz", params, {"activation": "gelu", "note": "x"})
    back, meta = mlp.load(tmp_path / "w.npz")
    assert meta["sizes"] == [6, 5, 4, 3] and meta["activation"] == "gelu" and meta["note"] == "x"
    assert list(back) == list(params)
    assert_same_arrays(back, params)
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]  # no temp file left behind


def newer_zip_version(archive):
    """The archive with its first member's central-directory "version needed" set to 6.4 (zipfile: NotImplementedError)."""
    at = archive.find(b"PK\x01\x02") + 6
    return archive[:at] + bytes([64]) + archive[at + 1 :]


def test_load_rejects_broken_files(tmp_path):
    params = mlp.init([3, 2], "relu", seed=0)
    good = tmp_path / "good.npz"
    mlp.save(good, params, {"activation": "relu"})
    cases = {
        "garbage.npz": (b"not a zip at all", "not an .npz archive"),
        "truncated.npz": (good.read_bytes()[:100], "not a readable weights file"),
        "version.npz": (newer_zip_version(good.read_bytes()), r"not a readable weights file \(zip file version 6.4\)"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message):
            mlp.load(tmp_path / name)
    meta = json.dumps({"format": "mlp.py weights", "version": 1, "sizes": [3, 2], "activation": "relu"})
    bad_arrays = {
        "missing.npz": ({"W1": params["W1"]}, "missing array 'b1'"),
        "shape.npz": ({"W1": np.zeros((2, 3)), "b1": np.zeros(2)}, r"W1 should be a float array of shape \(3, 2\)"),
        "nan.npz": ({"W1": np.full((3, 2), np.nan), "b1": np.zeros(2)}, "NaN"),
        "object.npz": (
            {"W1": np.array([None] * 6, object).reshape(3, 2), "b1": np.zeros(2)},
            "object .pickled. array .W1.npy., refused",
        ),
    }
    for name, (arrays, message) in bad_arrays.items():
        np.savez(tmp_path / name, meta=np.array(meta), **arrays)
        with pytest.raises(ValueError, match=message):
            mlp.load(tmp_path / name)
    np.savez(tmp_path / "nometa.npz", **params)
    with pytest.raises(ValueError, match="no valid meta"):
        mlp.load(tmp_path / "nometa.npz")


@pytest.mark.parametrize("temperature", [0, -1.5, "hot", True, float("nan"), None])
def test_load_refuses_a_temperature_that_is_not_a_positive_number(tmp_path, temperature):
    params = mlp.init([3, 2], "relu", seed=0)
    mlp.save(tmp_path / "t.npz", params, {"activation": "relu", "temperature": temperature})
    with pytest.raises(ValueError, match="temperature must be a number above 0"):
        mlp.load(tmp_path / "t.npz")
    mlp.save(tmp_path / "t.npz", params, {"activation": "relu", "temperature": 1.25})
    assert mlp.temperature_of(mlp.load(tmp_path / "t.npz")[1]) == 1.25


def test_load_rejects_unknown_activation_and_extra_arrays(tmp_path):
    params = mlp.init([3, 2], "relu")
    np.savez(
        tmp_path / "a.npz",
        meta=np.array(
            json.dumps({"format": "mlp.py weights", "version": 1, "sizes": [3, 2], "activation": "os.system"})
        ),
        **params,
    )
    with pytest.raises(ValueError, match="unknown activation 'os.system'"):
        mlp.load(tmp_path / "a.npz")
    np.savez(
        tmp_path / "b.npz",
        meta=np.array(json.dumps({"format": "mlp.py weights", "version": 1, "sizes": [3, 2], "activation": "relu"})),
        W9=np.zeros(1),
        **params,
    )
    with pytest.raises(ValueError, match="unexpected arrays"):
        mlp.load(tmp_path / "b.npz")


def test_load_refuses_an_npz_member_that_declares_more_than_it_holds(tmp_path):
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
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


def test_float64_inputs_are_cast_once_to_the_weights_dtype_and_give_what_float32_inputs_give():
    params = mlp.init([6, 5, 3], "relu", seed=0)
    rng = np.random.default_rng(1)
    x64 = rng.random((40, 6))  # plain NumPy: float64
    y = (x64[:, 0] * 3).astype(int)
    logits, cache = mlp.forward(params, x64, "relu")
    assert logits.dtype == np.float32
    assert logits.tobytes() == mlp.forward(params, x64.astype(np.float32), "relu")[0].tobytes()
    assert all(g.dtype == np.float32 for g in mlp.grads(params, cache, y).values())
    settings = mlp.Settings(activation="relu", epochs=2, batch_size=8)
    trained, history = mlp.train(params, x64, y, settings)
    same, same_history = mlp.train(params, x64.astype(np.float32), y, settings)
    assert all(a.dtype == np.float32 for a in trained.values())
    assert_same_arrays(trained, same)
    assert [r["loss"] for r in history] == [r["loss"] for r in same_history]
    with pytest.raises(ValueError, match=r"inputs must be a \(batch, 6\) float array for this network, got int64"):
        mlp.forward(params, np.ones((2, 6), np.int64), "relu")


def test_train_warns_at_the_end_of_a_run_that_learnt_nothing_and_not_of_one_that_learns():
    assert mlp.judged_epoch(60000, 128, 10) == 1  # MNIST: judged after epoch 1
    assert mlp.judged_epoch(142, 32, 200) == 20  # a small table: after its first 100 steps
    assert mlp.judged_epoch(150, 128, 3) == 3  # or at the end of a short run
    y = np.array([0] * 60 + [1] * 40)
    nothing = np.zeros((100, 4), np.float32)  # inputs that say nothing about the labels
    with pytest.warns(mlp.NotLearningWarning, match=r"after epoch 8 the training accuracy \(\d+\.\d\d%\) is no better"):
        mlp.train(mlp.init([4, 8, 2], "relu"), nothing, y, mlp.Settings(activation="relu", epochs=8, batch_size=5))
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a network that learns: no warning
        mlp.train(mlp.init([4, 8, 2], "relu"), x, (x[:, 0] > 0).astype(int), mlp.Settings(activation="relu"))


def test_a_run_that_learnt_nothing_at_its_judged_epoch_but_learns_later_is_not_warned_about():
    y, settings = np.array([0] * 60 + [1] * 40), mlp.Settings(activation="relu", epochs=3, batch_size=100)
    late = [{"epoch": 1, "accuracy": 0.6}, {"epoch": 2, "accuracy": 0.6}, {"epoch": 3, "accuracy": 0.95}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mlp.warn_if_not_learning(late, y, settings, 100)
    with pytest.warns(mlp.NotLearningWarning, match="after epoch 3 the training accuracy"):
        mlp.warn_if_not_learning(late[:2] + [{"epoch": 3, "accuracy": 0.6}], y, settings, 100)


def test_mlps_door_refuses_what_would_fail_later_with_what_to_do(tmp_path):
    params = mlp.init([4, 3, 2], "relu", seed=0)
    rng = np.random.default_rng(0)
    x, labels = rng.random((8, 4), dtype=np.float32), [0, 1] * 4
    _, history = mlp.train(params, x, labels, mlp.Settings(activation="relu", epochs=1))  # a list of labels is fine
    assert len(history) == 1
    for call, message in (
        (lambda: mlp.train(params, x[:0], labels[:0], mlp.Settings(activation="relu")), "no training examples"),
        (lambda: mlp.evaluate(params, x[:0], labels[:0], "relu"), "no examples to evaluate"),
        (lambda: mlp.update(params, params, {}, float("nan")), "lr must be greater than 0 and finite, got nan"),
        (lambda: mlp.update(params, params, {}, 0.1, momentum=5), r"momentum must be in \[0, 1\), got 5"),
        (
            lambda: mlp.save(tmp_path / "w.npz", {**params, "W1": params["W1"] * np.inf}, {"activation": "relu"}),
            "W1 holds NaN or infinite values, which no weights file may hold: not saved",
        ),
        (
            lambda: mlp.train(
                params,
                x,
                labels,
                mlp.Settings(activation="relu"),
                preprocessing={"kind": "range", "low": 0.0, "high": 1e300},
            ),
            "pixel values range from 0 to 1e[+]300, beyond what float32 holds",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match=r"missing/w.npz: folder .*missing does not exist; create it first"):
        mlp.save(tmp_path / "missing" / "w.npz", params, {"activation": "relu"})
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p, x, y: mlp.init([4, 3], "relu", dtype=np.int32), "dtype must be a float type .* got int32"),
        (lambda p, x, y: mlp.evaluate(p, x, y, "relu", batch_size=-1), "batch_size must be a whole number, at least 1"),
        (lambda p, x, y: mlp.predict_proba(p, x, "relu", batch_size=0), "batch_size must be a whole number"),
        (lambda p, x, y: mlp.clip_by_global_norm(p, -1), "max_norm must be greater than 0 and finite, got -1"),
        (lambda p, x, y: mlp.gradcheck(p, x.astype(np.float64), y, "relu", eps=0), "eps must be greater than 0"),
        (
            lambda p, x, y: mlp.train(p, np.full_like(x, np.nan), y, mlp.Settings(activation="relu", epochs=1)),
            "x holds NaN or infinite values: drop or fill those rows before training",
        ),
        (
            lambda p, x, y: mlp.train(p, (x * 255).astype(np.uint8), y, mlp.Settings(activation="relu")),
            r"inputs must be a \(batch, 4\) float array for this network, got uint8 \(8, 4\)",
        ),
        (lambda p, x, y: mlp.confusion_matrix(y, y + 5, 2), r"y_pred must be ints in \[0, 2\), got 5 to 6"),
        (
            lambda p, x, y: mlp.save("w.npz", p, {"activation": "relu", "when": object()}),
            "meta must hold only JSON values",
        ),
    ],
)
def test_mlps_door_names_the_argument_and_the_fix(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = mlp.init([4, 3, 2], "relu", seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 4), dtype=np.float32), np.array([0, 1] * 4)
    with pytest.raises(ValueError, match=message):
        call(params, x, y)
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_weighted_loss_is_the_mean_of_each_examples_loss_times_its_weight():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-3.0, 4.0, 0.0]])
    y, w = np.array([0, 2, 1]), np.array([1.0, 3.0, 0.0])
    each = [mlp.loss(logits[i : i + 1], y[i : i + 1]) for i in range(3)]
    assert mlp.loss(logits, y, weights=w) == pytest.approx(sum(wi * li for wi, li in zip(w, each)) / 3, rel=1e-12)
    assert mlp.loss(logits, y, weights=np.ones(3)) == mlp.loss(logits, y)
    for bad in (np.ones(2), -np.ones(3), np.array([1.0, np.nan, 1.0])):
        with pytest.raises(ValueError, match="weights must be 3 finite non-negative numbers, one per example"):
            mlp.loss(logits, y, weights=bad)


@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_weighted_grads_match_finite_differences(activation):
    rng = np.random.default_rng(3)
    params = mlp.init([5, 4, 3], activation, seed=1, dtype=np.float64)
    x, y = rng.normal(size=(6, 5)), rng.integers(0, 3, 6)
    weights = rng.uniform(0, 3, 6)
    report = mlp.gradcheck(params, x, y, activation, weights=weights, label_smoothing=0.1)
    assert all(r.of_tolerance <= 1 for r in report.values()), report


@pytest.mark.filterwarnings("ignore::mlp.NotLearningWarning")  # the plain run stays near the majority's 90%
def test_train_with_weights_of_one_is_train_without_and_balanced_weights_lift_the_minority():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.1).astype(int)  # 10% minority
    x = (rng.normal(size=(600, 4)) + 1.2 * y[:, None]).astype(np.float32)  # overlapping classes
    settings = mlp.Settings(activation="relu", epochs=5, batch_size=32)
    plain, _ = mlp.train(mlp.init([4, 8, 2], "relu"), x, y, settings)
    ones, _ = mlp.train(mlp.init([4, 8, 2], "relu"), x, y, settings, sample_weight=np.ones(600))
    assert_same_arrays(plain, ones)
    balanced, _ = mlp.train(
        mlp.init([4, 8, 2], "relu"), x, y, settings, sample_weight=(len(y) / (2 * np.bincount(y)))[y]
    )  # balanced
    recall = lambda p: float((mlp.predict(p, x, "relu")[y == 1] == 1).mean())
    assert recall(balanced) > recall(plain) + 0.2
    with pytest.raises(ValueError, match="weights must be 600 finite non-negative numbers"):
        mlp.train(mlp.init([4, 8, 2], "relu"), x, y, settings, sample_weight=np.ones(5))


@pytest.mark.parametrize(
    "damage", [{"deslant": "yes"}, {"shape": [27, 28]}, {"width": -2.0}, {"shape": None}, {"width": float("nan")}]
)
def test_a_damaged_straightening_is_refused_on_load(tmp_path, damage):
    params = mlp.init([16, 3], "relu")
    prep = {"kind": "range", "low": 0.0, "high": 255.0, "invert": False, "deslant": True, "width": 0.0, "shape": [4, 4]}
    mlp.save(tmp_path / "ok.npz", params, {"activation": "relu", "preprocessing": prep})
    assert mlp.load(tmp_path / "ok.npz")[1]["preprocessing"] == prep
    if "shape" in damage and damage["shape"]:
        damage = {"shape": [3, 4]}  # 12 pixels, not the network's 16
    mlp.save(tmp_path / "bad.npz", params, {"activation": "relu", "preprocessing": {**prep, **damage}})
    with pytest.raises(ValueError, match="damaged straightening"):
        mlp.load(tmp_path / "bad.npz")


def test_a_light_background_is_kept_in_the_weights_file_and_checked(tmp_path):
    params = mlp.init([4, 3], "relu")
    prep = {"kind": "range", "low": 0.0, "high": 255.0, "invert": True}
    mlp.save(tmp_path / "w.npz", params, {"activation": "relu", "preprocessing": prep})
    assert mlp.load(tmp_path / "w.npz")[1]["preprocessing"] == prep
    old = {"kind": "range", "low": 0.0, "high": 255.0}  # a file from before: not turned over
    mlp.save(tmp_path / "old.npz", params, {"activation": "relu", "preprocessing": old})
    assert mlp.load(tmp_path / "old.npz")[1]["preprocessing"]["invert"] is False
    meta = {"activation": "relu", "format": "mlp.py weights", "version": mlp.WEIGHTS_VERSION, "sizes": [4, 3]}
    bad = weights_with_meta(
        tmp_path / "bad.npz", params, {**meta, "dtype": "float32", "preprocessing": {**prep, "invert": "yes"}}
    )
    with pytest.raises(ValueError, match="bad.npz: unknown or damaged preprocessing"):
        mlp.load(bad)


def bomb_member(archive, name, n_floats):
    """A member `name` of n_floats float32 zeros, streamed in: tens of kilobytes stored, its
    declared size unpacked."""
    with archive.open(name, "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n_floats,)})
        zeros = bytes(1 << 20)
        for _ in range(n_floats * 4 // len(zeros)):
            f.write(zeros)


@pytest.mark.parametrize("name", ["bomb.npy", "W1.npy", "ckpt/state/W1.npy"])
def test_a_weights_file_holding_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, name):
    path = tmp_path / "w.npz"
    mlp.save(path, mlp.init([4, 3, 2], "relu"), {"activation": "relu"})
    with zipfile.ZipFile(path) as original:
        kept = {i.filename: original.read(i) for i in original.infolist() if i.filename != name}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in kept.items():
            archive.writestr(member, data)
        bomb_member(archive, name, 64 << 20)  # 256 MiB of zeros in about 250 KB
    assert path.stat().st_size < 2 << 20
    with pytest.raises(ValueError) as refused:
        mlp.load(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and ("refused unread" in message), message
