"""Tests of ONNX export (numpy_mlp/export.py): the model computes mlp's probabilities in onnxruntime for
every activation, preprocessing and dtype, and the export command."""

import json
import sys

import numpy as np
import pytest

import mlp
from conftest import MNIST, run
from numpy_mlp import export as mlp_onnx


# ----------------------------------------------------------------------------- models in and out: ONNX export, --init
@pytest.mark.slow
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
    params = {
        k: p + np.asarray(0.1 * rng.standard_normal(p.shape), dtype) if k[0] == "b" else p for k, p in params.items()
    }
    meta = {"activation": activation, "preprocessing": prep, "classes": list("abcde"), "test_accuracy": 0.5}
    model = mlp_onnx.onnx_model(params, meta)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, probabilities, predicted = session.run(None, {session.get_inputs()[0].name: raw.astype(np.float32)})
    expected = mlp.predict_proba(params, raw, activation, preprocessing=prep)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert (
        (predicted == expected.argmax(axis=1)).all() and logits.shape == (64, 5) and probabilities.dtype == np.float32
    )
    assert json.loads(session.get_modelmeta().custom_metadata_map["classes"]) == list("abcde")


@pytest.mark.parametrize("kind", list(mlp.PREPROCESSINGS))
@pytest.mark.parametrize("deslant, width, light", [(True, 0.0, False), (False, 3.5, False), (True, 3.5, True)])
def test_an_exported_model_straightens_pictures_as_mlp_does(mnist_raw, kind, deslant, width, light):
    pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    raw = mnist_raw["test_images"][:300].reshape(300, -1).copy()  # the session's array is not touched
    raw = 255 - raw if light else raw  # dark ink on light paper: turned over, then straightened
    raw[3] = 255 if light else 0  # a blank picture
    prep = mlp.fit_preprocessing(raw, kind, pictures=True, deslant=deslant, width=width)
    assert prep["invert"] is light and mlp.straightens(prep)
    params = mlp.init([784, 32, 10], "relu", seed=1)
    model = mlp_onnx.onnx_model(params, {"activation": "relu", "preprocessing": prep})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], {session.get_inputs()[0].name: raw.astype(np.float32)})[0]
    np.testing.assert_allclose(probabilities, mlp.predict_proba(params, raw, "relu", preprocessing=prep), atol=1e-5)


@pytest.mark.slow
def test_export_command_and_the_readme_snippet_on_a_png(trained, tmp_path):
    pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    Image = pytest.importorskip("PIL.Image")
    result = run("export", trained, tmp_path / "model.onnx")
    assert result.exit_code == 0 and "wrote" in result.stdout and "'probabilities'" in result.stdout
    meta = ort.InferenceSession(str(tmp_path / "model.onnx")).get_modelmeta().custom_metadata_map
    assert json.loads(meta["training"])["activation"] == "relu" and meta["preprocessing"] == "range"
    assert meta["input_range"].startswith("raw values as stored in the data, 0 to 255")  # not [0, 1] floats
    assert "'raw_0_to_255' float32 (N, 784)" in result.stdout
    x, y = mlp.load_idx_dataset(MNIST, splits=("test",))
    Image.fromarray(255 - x[0].reshape(28, 28)).save(tmp_path / "digit.png")  # dark ink on white, as drawn
    # the README's five lines
    pixels = np.asarray(Image.open(tmp_path / "digit.png").convert("L").resize((28, 28)), np.float32)
    pixels = 255 - pixels  # dark ink on light paper -> MNIST's light ink on black
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["raw_0_to_255"]  # the range it takes, in its name
    logits, probabilities, predicted = session.run(None, {"raw_0_to_255": pixels.reshape(1, 784)})
    params, meta = mlp.load(trained)
    assert predicted[0] == mlp.predict(params, x[:1], "relu", meta["preprocessing"])[0]
    before = trained.read_bytes()
    result = run("export", trained, trained)  # never over its input: not even an ONNX file's name
    assert result.exit_code == 2 and "an ONNX model is written to a .onnx file" in result.stderr
    assert trained.read_bytes() == before


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
    assert result.stderr == "error: this command needs onnx (the onnx extra): pip install -e '.[onnx]'\n"


def test_an_exported_model_turns_a_light_background_over_as_mlp_does():
    pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    rng = np.random.default_rng(3)
    raw = (255 - rng.integers(0, 60, (64, 16))).astype(np.uint8)  # dark on light
    prep = mlp.fit_preprocessing(raw, pictures=True)
    params = mlp.init([16, 8, 3], "relu", seed=2)
    assert prep["invert"]
    model = mlp_onnx.onnx_model(params, {"activation": "relu", "preprocessing": prep})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], {session.get_inputs()[0].name: raw.astype(np.float32)})[0]
    np.testing.assert_allclose(probabilities, mlp.predict_proba(params, raw, "relu", preprocessing=prep), atol=1e-5)
