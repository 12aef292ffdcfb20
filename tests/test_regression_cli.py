"""Numbers as targets from the command line: a regression chosen from the data (or --task) in
each data form, trained, scored (eval), predicted (CSV with the target's name), summarised,
drawn (plot scatter, plot curves), exported (checked in onnxruntime), swept and benched
against scikit-learn's MLPRegressor; classification commands refused on it; bad targets one
line each, nothing written."""

import importlib.util
import json

import numpy as np
import pytest

import mlp
from conftest import run
from numpy_mlp import data as mlp_data


def prices(n=300, seed=0, scale=1.0):
    """(x (n, 4), y (n,)): a house price in dollars (times scale), a smooth function of four
    features plus a little noise, never a whole number."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 4))
    y = 100_000 + 50_000 * x[:, 0] + 30_000 * np.sin(3 * x[:, 1]) + 20_000 * x[:, 2] * x[:, 3]
    return x, (y + rng.normal(0, 1_000, n) + 0.25) * scale


def write_prices(path, x, y):
    rows = [",".join([*(f"{v:.6f}" for v in xi), f"{yi:.4f}"]) for xi, yi in zip(x, y)]
    path.write_text("rooms,age,area,garden,price\n" + "\n".join(rows) + "\n", "utf-8")
    return path


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    """A CSV of prices and the weights and history `train` wrote for it with no options."""
    folder = tmp_path_factory.mktemp("houses")
    data = write_prices(folder / "houses.csv", *prices())
    result = run("train", "relu", "--data", data, "--label-column", "price", "--out", folder / "w.npz")
    assert result.exit_code == 0, result.output
    return {"data": data, "weights": folder / "w.npz", "result": result, "folder": folder}


def test_a_table_of_prices_trains_as_a_regression_chosen_from_the_data(houses):
    result = houses["result"]
    assert "a table of 240 rows x 4 features: --task regression --normalize standard" in result.stderr
    assert "training 4-128-1 relu on 240 examples" in result.stderr
    assert "(spread over the targets, seed 0)" in result.stderr
    params, meta = mlp.load(houses["weights"])
    assert meta["task"] == "regression" and meta["target_names"] == ["price"] and "classes" not in meta
    assert meta["settings"]["task"] == "regression" and 0.9 < meta["test_r2"] <= 1
    assert f"test R² {meta['test_r2']:.4f}, loss {meta['test_loss']:.4f}" in result.stdout
    history = json.loads((houses["folder"] / "w.history.json").read_text())
    assert "test_r2" in history[-1] and "accuracy" not in history[-1]


def test_a_price_in_dollars_trains_as_one_in_thousands(tmp_path):
    x, y = prices(200, seed=1)
    scores = []
    for name, scale in (("dollars", 1.0), ("thousands", 1e-3)):
        data = write_prices(tmp_path / f"{name}.csv", x, y * scale)
        out = tmp_path / f"{name}.npz"
        result = run("train", "relu", "--data", data, "--label-column", "price", "--out", out)
        assert result.exit_code == 0, result.output
        scores.append(mlp.load(out)[1]["test_r2"])
    assert scores[0] > 0.8 and scores[0] == pytest.approx(scores[1], abs=1e-3)


def test_eval_reports_mse_mae_r2_in_the_targets_units_and_the_worst_rows(houses, tmp_path):
    result = run("eval", houses["weights"], "--mistakes", 3, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(houses["weights"])
    found = mlp_data.load_data(houses["data"], label_column="price", task="regression")
    predicted = mlp.predict_values(params, found.x_test, "relu", meta["preprocessing"], meta["targets"])[:, 0]
    true = found.y_test[:, 0]
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["mse"] == pytest.approx(np.mean((predicted - true) ** 2), rel=1e-9)
    assert report["mae"] == pytest.approx(np.mean(np.abs(predicted - true)), rel=1e-9)
    r2 = 1 - np.sum((predicted - true) ** 2) / np.sum((true - true.mean()) ** 2)
    assert report["r2"] == pytest.approx(r2, abs=1e-9) and report["r2"] == pytest.approx(meta["test_r2"], abs=1e-4)
    order = np.argsort(-np.abs(predicted - true), kind="stable")[:3]
    assert [w["index"] for w in report["worst"]] == order.tolist()
    assert report["targets"] == ["price"] and report["n"] == 60
    assert "test R²" in result.stdout and "Worst predicted" in result.stdout and "true price" in result.stdout


def test_a_regression_evaluated_on_class_labels_says_so_and_on_prices_says_nothing(houses, tmp_path):
    x, y = prices(100, seed=2)
    labels = write_prices(tmp_path / "labels.csv", x, (y > np.median(y)).astype(float))  # 0/1: classes
    other = write_prices(tmp_path / "other.csv", x, y)  # prices the network never saw
    result = run("eval", houses["weights"], "--data", labels)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        f"{labels}: its targets are 2 whole numbers (0, 1), as class labels are; {houses['weights']} predicts "
        "numbers, so they are scored as numbers: evaluate a classifier if they are classes"
    )
    for data in (other, None):  # another file of prices; its own training file
        result = run("eval", houses["weights"], *(["--data", data] if data else []))
        assert result.exit_code == 0 and "class labels" not in result.stderr, result.output


def test_predict_writes_the_numbers_under_the_targets_name(houses, tmp_path):
    out = tmp_path / "p.csv"
    result = run("predict", houses["weights"], houses["data"], "--out", out)
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "Id,price" and len(lines) == 301
    params, meta = mlp.load(houses["weights"])
    x, _, _ = mlp_data.read_csv(houses["data"], "price")
    expected = mlp.predict_values(params, x, "relu", meta["preprocessing"], meta["targets"])[:, 0]
    got = np.array([float(line.split(",")[1]) for line in lines[1:]])
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    one = run("predict", houses["weights"], "--index", 0)
    assert one.exit_code == 0 and one.stdout.startswith("prediction: price = "), one.output


def test_summary_plots_and_export_of_a_regression(houses, tmp_path):
    summary = run("summary", houses["weights"])
    assert summary.exit_code == 0 and "none (the numbers)" in summary.stdout
    assert "a regression of price; test R² when saved: " in summary.stdout
    pytest.importorskip("matplotlib")
    for args in (("scatter", houses["weights"]), ("curves", houses["folder"] / "w.history.json")):
        result = run("plot", *args, "--out", tmp_path / f"{args[0]}.png")
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"{args[0]}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_regression_exports_to_onnx_matching_mlp(houses, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    result = run("export", houses["weights"], tmp_path / "m.onnx")
    assert result.exit_code == 0 and "output 'values' float32 (N, 1)" in result.stdout, result.output
    params, meta = mlp.load(houses["weights"])
    x, _, _ = mlp_data.read_csv(houses["data"], "price")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (values,) = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    expected = mlp.predict_values(params, x, "relu", meta["preprocessing"], meta["targets"])
    np.testing.assert_allclose(values, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "command, message",
    [
        (["plot", "confusion"], "error: plot confusion is for classification networks, and {w} predicts numbers"),
        (["plot", "mistakes"], "error: plot mistakes is for classification networks, and {w} predicts numbers"),
        (["draw"], "error: draw is for classification networks, and {w} predicts numbers (a regression)"),
    ],
)
def test_classification_commands_refuse_a_regression_in_one_line(houses, tmp_path, command, message):
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(*command, houses["weights"], *(["--out", tmp_path / "x.png"] if command[0] == "plot" else []))
    assert result.exit_code == 1 and result.stderr.strip().endswith(result.stderr.strip().splitlines()[-1])
    assert result.stderr.splitlines()[-1].startswith(message.replace("{w}", str(houses["weights"]))), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_options_of_classes_are_refused_for_a_regression_in_one_line(houses, tmp_path):
    for args in (["predict", houses["weights"], "--index", 0, "--tta", 2], ["eval", houses["weights"], "--tta", 2]):
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert (
            result.stderr.splitlines()[-1]
            == f"error: {houses['weights']} predicts numbers: --tta is for classes; give one weights file"
        )
    for option in (["--class-weight", "balanced"], ["--label-smoothing", "0.1"]):
        result = run(
            "train", "relu", "--data", houses["data"], "--label-column", "price", "--out", tmp_path / "w.npz", *option
        )
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
        assert result.stderr.startswith(
            f"error: {option[0]} weighs classes, but {houses['data']} is trained as a regression"
        )
    assert not (tmp_path / "w.npz").exists()
    scatter = run("plot", "scatter", houses["weights"], "--data", houses["data"], "--out", tmp_path / "s.png")
    assert scatter.exit_code == 0


def test_plot_scatter_refuses_a_classifier(trained, tmp_path):
    result = run("plot", "scatter", trained, "--out", tmp_path / "s.png")
    assert result.exit_code == 1 and not (tmp_path / "s.png").exists()
    assert result.stderr.splitlines()[-1].startswith(
        f"error: plot scatter is for regression networks, and {trained} predicts classes"
    )


def test_several_targets_from_a_keras_npz(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (400, 3)).astype(np.float32)
    y = np.column_stack([x[:, 0] + 0.5 * x[:, 1], np.sin(2 * x[:, 2])]) + 0.01 * rng.standard_normal((400, 2))
    np.savez(tmp_path / "two.npz", x_train=x[:320], y_train=y[:320], x_test=x[320:], y_test=y[320:])
    result = run("train", "relu", "--data", tmp_path / "two.npz", "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(tmp_path / "w.npz")
    assert mlp.sizes_of(params)[-1] == 2 and meta["target_names"] == ["y0", "y1"] and meta["test_r2"] > 0.9
    evaluated = run("eval", tmp_path / "w.npz", "--json", tmp_path / "e.json")
    assert evaluated.exit_code == 0 and "true y0" in evaluated.stdout and "predicted y1" in evaluated.stdout


def test_whole_numbers_are_classes_unless_task_regression_says_otherwise(tmp_path, small_data):
    result = run(
        "train",
        "relu",
        "--data",
        small_data,
        "--task",
        "regression",
        "--epochs",
        2,
        "--hidden",
        32,
        "--out",
        tmp_path / "w.npz",
    )
    assert result.exit_code == 0, result.output
    assert "--task regression" not in result.stderr.splitlines()[0]  # given, not chosen
    params, meta = mlp.load(tmp_path / "w.npz")
    assert mlp.sizes_of(params) == [784, 32, 1] and meta["task"] == "regression" and meta["test_r2"] > 0.3
    x, y = prices(100)
    write_prices(tmp_path / "p.csv", x, y)
    classes = run(
        "train",
        "relu",
        "--data",
        tmp_path / "p.csv",
        "--label-column",
        "price",
        "--task",
        "classification",
        "--epochs",
        1,
        "--out",
        tmp_path / "c.npz",
    )
    assert classes.exit_code == 1, classes.output  # a hundred prices read as a hundred classes, as asked
    assert "have only one training example, too few to learn from" in classes.stderr


def test_a_picture_given_to_a_regression_of_pictures_is_refused_not_read_as_a_class(tmp_path, small_data):
    pytest.importorskip("PIL", reason="pictures need Pillow: pip install -e '.[image]'")
    from PIL import Image

    out = tmp_path / "w.npz"
    result = run("train", "relu", "--data", small_data, "--task", "regression", "--epochs", 1, "--out", out)
    assert result.exit_code == 0, result.output
    picture = tmp_path / "one.png"
    Image.fromarray(mlp.read_idx(small_data / "t10k-images-idx3-ubyte.gz")[0]).save(picture)
    result = run("predict", out, picture)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"error: {out} predicts numbers (a regression), not classes: predict gives them for the rows of a CSV "
        "or for a test example (--index N)\n"
    )


def test_init_of_another_task_is_refused(houses, trained, tmp_path):
    result = run(
        "train",
        "relu",
        "--data",
        houses["data"],
        "--label-column",
        "price",
        "--init",
        trained,
        "--out",
        tmp_path / "w.npz",
    )
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(
        f"error: --init {trained} is a classification network, but {houses['data']} is trained as a regression"
    )


def test_bench_compares_with_scikit_learns_mlp_regressor(houses, tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "b.json"
    result = run(
        "bench",
        "--data",
        houses["data"],
        "--label-column",
        "price",
        "--hidden",
        16,
        "--epochs",
        2,
        "--sklearn",
        "--sklearn-epochs",
        5,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    r = json.loads(out.read_text())
    assert "test_accuracy" not in r and r["test_r2"] <= 1 and r["sklearn_test_r2"] <= 1 and r["sklearn_epochs"] == 5
    if importlib.util.find_spec("torch"):  # without PyTorch, --torch says that first
        torch = run("bench", "--data", houses["data"], "--label-column", "price", "--torch")
        assert torch.exit_code == 2 and "--torch compares classifiers" in torch.stderr


def test_a_sweep_of_a_regression_scores_trials_by_validation_r2(houses, tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "best.npz"
    result = run(
        "sweep",
        "relu",
        "--trials",
        2,
        "--epochs",
        3,
        "--hidden",
        16,
        "--data",
        houses["data"],
        "--label-column",
        "price",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "val R²" in result.stdout and "validation R² " in result.stdout and "test R² " in result.stdout
    meta = mlp.load(out)[1]
    assert meta["task"] == "regression" and "val_r2" in meta["sweep"] and meta["test_r2"] <= 1


def header_csv(path, targets):
    rows = [f"{i % 7},{(i * 3) % 5},{t}" for i, t in enumerate(targets)]
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n", "utf-8")
    return path


FRACTIONS = [f"{0.5 + i * 1.37:.2f}" for i in range(30)]


@pytest.mark.parametrize(
    "targets, task, message",
    [
        (
            ["2.5"] * 30,
            "regression",
            "{p}: every training example has the same target (2.5), so there is nothing to learn",
        ),
        (
            ["red", "green"] * 15,
            "regression",
            "{p}: column y holds words ('red'), not numbers a regression can fit; train it as classes",
        ),
        (["2.5"], "regression", "{p}: 1 training example; a regression needs more"),
    ],
)
def test_targets_that_cannot_make_a_regression_are_one_line_and_nothing_is_written(tmp_path, targets, task, message):
    data = header_csv(tmp_path / "t.csv", targets)
    before = data.read_bytes()
    args = ["--task", task] if task else []
    result = run("train", "relu", "--data", data, "--label-column", "y", "--out", tmp_path / "w.npz", *args)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith("error: " + message.replace("{p}", str(data))), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"] and data.read_bytes() == before


@pytest.mark.parametrize("gap", ["nan", "", "n/a", "NA", "?"])
def test_rows_whose_target_is_a_gap_are_left_out_and_counted(tmp_path, gap):
    data = header_csv(tmp_path / "t.csv", FRACTIONS[:5] + [gap] + FRACTIONS[6:])
    found = mlp_data.load_data(data, label_column="y")
    assert found.task == "regression" and len(found.y_train) + len(found.y_test) == 29
    assert "1 rows without a y left out" in found.table["said"]
    assert not np.isnan(found.y_train).any() and not np.isnan(found.y_test).any()


def test_a_folder_of_class_folders_is_not_a_regression(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "pics" / "train" / name).mkdir(parents=True)
    result = run("train", "relu", "--data", tmp_path / "pics", "--task", "regression", "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and "a folder of class folders names classes, not numbers" in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_a_folder_of_train_csv_and_test_csv_is_a_regression_scored_on_test_csv(tmp_path):
    (tmp_path / "houses").mkdir()
    write_prices(tmp_path / "houses" / "train.csv", *prices(240))
    write_prices(tmp_path / "houses" / "test.csv", *prices(60, seed=1))
    trained = run(
        "train", "relu", "--data", tmp_path / "houses", "--label-column", "price", "--out", tmp_path / "w.npz"
    )
    assert trained.exit_code == 0, trained.output
    assert "test set: test.csv" in trained.output
    scored = run("eval", tmp_path / "w.npz", "--json", tmp_path / "r.json")
    assert scored.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["n"] == 60
