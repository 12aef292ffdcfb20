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


def test_an_exported_model_divides_its_logits_by_the_fitted_temperature_before_the_softmax():
    pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    rng = np.random.default_rng(4)
    raw = rng.integers(0, 256, (64, 12)).astype(np.uint8)
    prep = mlp.fit_preprocessing(raw)
    params = mlp.init([12, 9, 4], "relu", seed=3)
    meta = {"activation": "relu", "preprocessing": prep, "temperature": 2.75}
    model = mlp_onnx.onnx_model(params, meta)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, probabilities, predicted = session.run(None, {session.get_inputs()[0].name: raw.astype(np.float32)})
    expected = mlp.predict_proba(params, raw, "relu", preprocessing=prep, temperature=2.75)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(logits, next(mlp.logits_in_chunks(params, raw, "relu", prep)), atol=1e-5)  # raw
    assert np.array_equal(predicted, logits.argmax(axis=1))
    assert session.get_modelmeta().custom_metadata_map["temperature"] == "2.75"
    assert "divide the logits by the temperature 2.75" in mlp_onnx.described(params, meta)


# ----------------------------------------------------------------------------- a table's raw columns
def mixed_rows(n, seed, unseen=False):
    """A table's text rows: a number with gaps, 40 makes (past the one-hot cap: frequencies), a
    colour with gaps, yes/no in any case, ISO dates (with times, and gaps) and a label; `unseen`:
    makes and colours training never saw, and gaps written as other words."""
    rng = np.random.default_rng(seed)
    gaps = ["NA", "", "n/a", "?", "NULL"] if unseen else ["NA", ""]
    rows = ["price,make,colour,used,sold,label"]
    for i in range(n):
        price = rng.choice(gaps) if i % 7 == 0 else f"{rng.normal(100, 30):.2f}"
        make = f"make{rng.integers(0, 45 if unseen else 40)}"
        colour = rng.choice(gaps) if i % 5 == 0 else rng.choice(["red", "blue", "green", *(["teal"] if unseen else [])])
        used = rng.choice(["yes", "no", "YES", "No", *gaps])
        day = f"20{rng.integers(10, 30)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
        sold = rng.choice([day, f"{day}T10:30:00", f"{day} 08:00", *gaps])
        rows.append(f"{price},{make},{colour},{used},{sold},{'ab'[i % 2]}")
    return "\n".join(rows) + "\n"


def test_an_exported_table_model_takes_the_raw_columns_and_encodes_them_as_mlp_does(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the export test needs onnx: pip install -e '.[test]'")
    ort = pytest.importorskip("onnxruntime", reason="the export test needs onnxruntime: pip install -e '.[test]'")
    from numpy_mlp import columns as mlp_columns
    from numpy_mlp import tables as mlp_tables

    (tmp_path / "t.csv").write_text(mixed_rows(400, 0))
    (tmp_path / "new.csv").write_text(mixed_rows(200, 1, unseen=True))
    weights, model = tmp_path / "w.npz", tmp_path / "w.onnx"
    assert run("train", "relu", "--data", tmp_path / "t.csv", "--epochs", "3", "--out", weights).exit_code == 0
    result = run("export", weights, model)
    assert result.exit_code == 0, result.stderr
    assert "5 inputs, one per column (N, 1): float32 numbers (NaN a gap), strings for make, colour, used, sold" in (
        " ".join(result.stdout.split())
    )
    params, meta = mlp.load(weights)
    encoding = meta["input"]["table"]
    assert {p["kind"] for p in encoding["parts"]} == {"number", "words", "boolean", "date"}
    assert "frequency" in encoding["parts"][1]  # 40 makes: past the cap
    table = mlp_tables.read_table(tmp_path / "new.csv", as_words=mlp_columns.word_columns(encoding))
    feeds = {}
    for part in encoding["parts"]:
        column = table.columns[table.names.index(part["column"])]
        if part["kind"] == "number":
            feeds[part["column"]] = mlp_columns.numbers_of(column, part["column"], "t")[:, None].astype(np.float32)
        else:  # the fields as written, a gap's word included
            feeds[part["column"]] = np.array([[w] for w in mlp_columns.words_of(column)], object)
    raw = (tmp_path / "new.csv").read_text().splitlines()[1:]
    for k, name in enumerate(("make", "colour", "used", "sold")):  # gaps as the file writes them, not None
        feeds[name] = np.array([[row.split(",")[k + 1]] for row in raw], object)
    proto = onnx.load(model)
    encoded = next(node.output[0] for node in proto.graph.node if node.op_type == "Concat" and len(node.input) > 3)
    proto.graph.output.append(onnx.helper.make_tensor_value_info(encoded, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, probabilities, predicted, x = session.run(None, feeds)
    expected_x, _ = mlp_columns.encode(table, encoding)
    np.testing.assert_allclose(x, expected_x, rtol=1e-6)  # every slot: other, gap, frequency, weekday
    expected = mlp.predict_proba(params, expected_x, meta["activation"], preprocessing=meta["preprocessing"])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    shown = run("predict", weights, tmp_path / "new.csv").stdout.splitlines()[1:]
    top = np.sort(expected, axis=1)
    clear = top[:, -1] - top[:, -2] > 1e-3  # a near tie may go either way in another computation
    assert clear.mean() > 0.9
    shown = np.array([line.split(",")[1] for line in shown])
    np.testing.assert_array_equal(np.array(meta["classes"])[predicted][clear], shown[clear])
