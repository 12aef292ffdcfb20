"""Tests of the options a run takes from its data when they are left out (mlp_run.fitted_defaults
and FITTED_DEFAULTS): tables, MNIST, dark digits on light paper, bench as train, said on one line."""

import json

import numpy as np
import pytest

import mlp
from conftest import blobs_table, run, write_dataset


def test_a_table_with_no_options_trains_with_the_options_that_fit_it(tmp_path):
    data, out = blobs_table(tmp_path / "blobs.csv"), tmp_path / "w.npz"
    result = run("train", "relu", "--data", data, "--out", out)
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert first == (
        "a table of 192 rows x 6 features: --normalize standard --optimizer adam --lr 0.001 --batch-size 32 "
        "--weight-decay 0.001 --epochs 200 (chosen from the data; an option you give wins)"
    )
    meta = mlp.load(out)[1]
    s = meta["settings"]
    assert (s["normalize"], s["optimizer"], s["lr"], s["batch_size"], s["weight_decay"], s["epochs"]) == (
        "standard",
        "adam",
        0.001,
        32,
        0.001,
        200,
    )
    assert meta["defaults"] == {
        "for": "a table of 192 rows x 6 features",
        "chosen": {
            "normalize": "standard",
            "optimizer": "adam",
            "lr": 0.001,
            "batch_size": 32,
            "weight_decay": 0.001,
            "epochs": 200,
        },
    }
    assert meta["preprocessing"]["kind"] == "standard" and meta["test_accuracy"] >= 0.95
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("ran 200 epochs, chosen for a table of 192 rows x 6 features (a run aims at 4,000 steps")
    assert "Training (26 of 200 epochs; all in the history file)" in result.stdout
    history = json.loads((tmp_path / "w.history.json").read_text())
    assert len(history) == 200 and history[-1]["stopped"] == "epochs" and "stopped" not in history[-2]


def test_an_option_given_wins_over_the_one_the_data_would_choose(tmp_path):
    data, out = blobs_table(tmp_path / "blobs.csv"), tmp_path / "w.npz"
    result = run(
        "train", "relu", "--data", data, "--optimizer", "sgd", "--epochs", "3", "--normalize", "range", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        "a table of 192 rows x 6 features: --batch-size 32 --weight-decay 0.001 (chosen from the data; an option you give wins)"
    )
    s = mlp.load(out)[1]["settings"]
    assert (s["optimizer"], s["lr"], s["epochs"], s["normalize"], s["batch_size"]) == ("sgd", 0.1, 3, "range", 32)
    assert result.stdout.strip().splitlines()[-1].startswith("ran all 3 epochs; test accuracy")


def test_mnist_gets_its_usual_defaults_and_no_defaults_line(tmp_path, small_data):
    result = run(
        "train",
        "relu",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "128",
        "--data",
        small_data,
        "--out",
        tmp_path / "w.npz",
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("training 784-8-10 relu on 600 images")  # nothing chosen: no line
    assert mlp.load(tmp_path / "w.npz")[1]["defaults"] == {"for": "600 pictures of 28 x 28", "chosen": {}}


def test_dark_digits_on_light_paper_train_exactly_as_mnist_does(tmp_path, small_data, digits):
    x, y, xt, yt = digits
    light = write_dataset(tmp_path / "light", 255 - x, y, 255 - xt, yt)
    for name, data in (("dark", small_data), ("light", light)):
        result = run(
            "train", "relu", "--hidden", "16", "--epochs", "2", "--data", data, "--out", tmp_path / f"{name}.npz"
        )
        assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == (
        "600 pictures of 28 x 28: dark on light, so turned over to light ink on dark, as the network reads them "
        "(chosen from the data; an option you give wins)"
    )
    (dark, dark_meta), (turned, meta) = mlp.load(tmp_path / "dark.npz"), mlp.load(tmp_path / "light.npz")
    assert meta["preprocessing"]["invert"] is True and dark_meta["preprocessing"]["invert"] is False
    assert (
        all(dark[k].tobytes() == turned[k].tobytes() for k in dark)
        and meta["test_accuracy"] == dark_meta["test_accuracy"]
    )
    for name in ("dark", "light"):  # eval reads the light test set as train did
        result = run("eval", tmp_path / f"{name}.npz", "--json", tmp_path / f"{name}.json")
        assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "dark.json").read_text())["accuracy"]
        == json.loads((tmp_path / "light.json").read_text())["accuracy"]
    )
    pytest.importorskip("PIL", reason="pictures need Pillow: pip install -e '.[test]'")
    from PIL import Image

    Image.fromarray(255 - np.kron(xt[0], np.ones((3, 3), np.uint8))).save(tmp_path / "digit.png")  # dark on white
    said = [run("predict", tmp_path / f"{name}.npz", tmp_path / "digit.png").stdout for name in ("dark", "light")]
    assert said[0] == said[1] and said[0]


def test_bench_chooses_the_options_train_chooses(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv")
    result = run("bench", "--data", data, "--hidden", "8", "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    r = json.loads((tmp_path / "b.json").read_text())
    assert (r["optimizer"], r["batch_size"], len(r["epoch_seconds"])) == ("adam", 32, 200)
    assert "s/epoch is the median of 200 epochs, " in " ".join(result.stdout.split())


def odd_table(path, kind):
    """A CSV of an odd shape: five rows, a hundred thousand rows of three features, 0/1 features."""
    rng = np.random.default_rng(0)
    n, d = {"five rows": (5, 2), "100,000 rows x 3": (100_000, 3), "0/1 features": (300, 8)}[kind]
    x = rng.integers(0, 2, (n, d)) if kind == "0/1 features" else rng.normal(size=(n, d)).round(4)
    y = (x[:, 0] + x[:, 1] > (1 if kind == "0/1 features" else 0)).astype(int)
    y[:2] = [0, 1]  # both classes, however few the rows
    np.savetxt(path, np.column_stack([x, y]), "%g", ",", header=",".join([*"abcdefgh"[:d], "label"]), comments="")
    return path


@pytest.mark.parametrize(
    "kind, train_rows, epochs", [("five rows", 4, 200), ("100,000 rows x 3", 72_000, 80), ("0/1 features", 240, 200)]
)
def test_odd_tables_get_defaults_fitted_to_their_size_and_train(tmp_path, kind, train_rows, epochs):
    data = odd_table(tmp_path / "t.csv", kind)
    d = {"five rows": 2, "100,000 rows x 3": 3, "0/1 features": 8}[kind]
    big = train_rows > 10_000  # a tenth of its 80,000 training rows held out to stop on
    given = ["--epochs", "1"] if big else []  # the defaults line is what is checked there
    result = run("train", "relu", "--data", data, "--out", tmp_path / "w.npz", *given)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith(
        f"a table of {train_rows:,} rows x {d} features: {'--val 8000 ' if big else ''}--normalize standard "
        f"--optimizer adam --lr 0.001 --batch-size 32 --weight-decay {'0.0001 --patience 20' if big else '0.001'}"
        f"{f' --epochs {epochs}' if not given else ''}"
    ), result.stderr
    meta = mlp.load(tmp_path / "w.npz")[1]
    assert np.isfinite(meta["test_loss"]) and meta["settings"]["epochs"] == (1 if given else epochs)
    assert meta["settings"]["val"] == (8000 if big else 0)


def big_noisy_table(path, rows=12_500):
    """A CSV of `rows` rows of 10 features whose label is a noisy sign of the first: learnt by heart, not stopped."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 10)).round(3)
    y = ((x[:, 0] + rng.normal(0, 1.0, rows)) > 0).astype(int)
    np.savetxt(path, np.column_stack([x, y]), "%g", ",", header=",".join([*"abcdefghij", "label"]), comments="")
    return path


def test_a_table_of_more_than_10000_rows_stops_early_on_a_tenth_and_val_0_turns_it_off(tmp_path):
    data = big_noisy_table(tmp_path / "t.csv")  # 10,000 training rows after the test fifth: not more
    small = run("train", "relu", "--data", data, "--hidden", "8", "--epochs", "2", "--out", tmp_path / "s.npz")
    assert small.exit_code == 0, small.output
    assert "--val" not in small.stderr.splitlines()[0] and "--weight-decay 0.001 " in small.stderr
    data = big_noisy_table(tmp_path / "t.csv", rows=20_000)  # 16,000: 1,600 held out, stopped on them
    result = run("train", "relu", "--data", data, "--hidden", "64", "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("a table of 14,400 rows x 10 features: --val 1600 "), result.stderr
    meta = mlp.load(tmp_path / "w.npz")[1]
    history = json.loads((tmp_path / "w.history.json").read_text())
    val_accuracy = [r["val_accuracy"] for r in history]
    assert history[-1]["stopped"] == "patience" and len(history) < 80  # the noise is learnt by heart, then stopped
    assert history[-1]["best_epoch"] == 1 + int(np.argmax(val_accuracy))  # the best epoch's weights kept
    assert meta["settings"]["patience"] == 20 and meta["settings"]["weight_decay"] == 1e-4
    off = run(
        "train", "relu", "--data", data, "--hidden", "8", "--epochs", "1", "--val", "0", "--out", tmp_path / "o.npz"
    )
    assert off.exit_code == 0, off.output  # no validation split: the ordinary table's defaults
    assert off.stderr.splitlines()[0].startswith("a table of 16,000 rows x 10 features: --normalize standard ")
    assert "--weight-decay 0.001 " in off.stderr and "--patience" not in off.stderr


def test_pictures_that_are_not_square_train_with_their_shape_kept(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(400) % 2
    x = np.zeros((400, 6, 14), np.uint8)
    x[y == 1, :, :7] = 200  # one class lit on the left, the other on the right
    x[y == 0, :, 7:] = 200
    x = np.clip(x.astype(int) + rng.integers(0, 40, x.shape), 0, 255).astype(np.uint8)
    np.savez(tmp_path / "wide.npz", x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    result = run("train", "relu", "--hidden", "16", "--data", tmp_path / "wide.npz", "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(tmp_path / "w.npz")
    assert mlp.sizes_of(params)[0] == 84 and meta["input"]["shape"] == [6, 14]
    assert meta["test_accuracy"] == 1.0
