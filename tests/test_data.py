"""Tests of numpy_mlp/data.py: IDX files and the shipped MNIST, data in every form users hold it (CSV,
.npz, folders of pictures), named data sets and their downloads, class names, and pictures
framed the way a network reads them."""

import csv
import gzip
import hashlib
import json
import os
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp
from conftest import (
    HERE,
    MNIST,
    idx_bytes,
    posix,
    random_dataset,
    run,
    small_slice,
    trained_with_names,
    write_csv,
    write_dataset,
    write_idx,
)
from numpy_mlp import data as mlp_data
from numpy_mlp import draw as mlp_draw
from numpy_mlp import guard as mlp_guard
from numpy_mlp import pictures as mlp_pictures


# ----------------------------------------------------------------------------- data: IDX files and the shipped MNIST
@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 4))
    write_idx(tmp_path / "a", images, gz)
    back = mlp.read_idx(tmp_path / "a")
    assert back.dtype == np.uint8 and np.array_equal(back, images)


@pytest.mark.parametrize(
    "content, message",
    [
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
    ],
)
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


@pytest.mark.parametrize("pixels, message", [(np.full((3, 2, 2), np.nan), "holds NaN or infinite pixel values")])
def test_float_images_that_are_not_finite_are_refused(tmp_path, pixels, message):
    folder = write_dataset(tmp_path / "d", np.zeros((3, 2, 2)), [0, 1, 0], np.zeros((2, 2, 2)), [1, 0])
    (folder / "train-images-idx3-ubyte.gz").unlink()
    write_idx(folder / "train-images-idx3-ubyte", pixels, gz=False, dtype=">f4")
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
    folder = random_dataset(tmp_path / "d", (8, 6), gz=False)
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


@pytest.mark.slow
def test_shipped_mnist_label_counts(mnist):
    _, y, _, yt = mnist
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shipped_mnist_is_found_without_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not from the checkout's folder
    folder = Path(mlp_data.resolve(mlp_data.DEFAULT_DATA))
    assert sorted(p.name for p in folder.iterdir()) == sorted(s + ".gz" for s in mlp.MNIST_FILES.values())


def test_raw_data_stays_uint8_and_raw_files_are_memory_mapped(tmp_path, mnist_raw):
    folder = write_dataset(tmp_path / "raw", *small_slice(mnist_raw, 50, 20), gz=False)
    x, y, xt, yt = mlp.load_idx_dataset(folder)
    assert x.dtype == np.uint8 and x.shape == (50, 784) and isinstance(x.base, np.memmap)
    assert np.array_equal(x, mnist_raw["train_images"][:50].reshape(50, -1))
    x_gz = mlp.load_idx_dataset(MNIST, splits=("test",))[0]
    assert x_gz.dtype == np.uint8 and x_gz.flags.owndata is False  # one buffer, viewed, not copied


@pytest.mark.slow
def test_four_bit_scans_train_as_well_as_the_same_images_in_0_255(tmp_path, mnist_raw):
    x, y, xt, yt = small_slice(mnist_raw)
    accuracy = {}
    for name, scale in (("full", 1), ("scan", 16)):  # 0-255, and 4-bit pixels 0-15 stored as uint8
        folder = write_dataset(tmp_path / name, x // scale, y, xt // scale, yt)
        result = run(*"train relu --hidden 64 --epochs 3 --data".split(), folder, "--out", tmp_path / f"{name}.npz")
        assert result.exit_code == 0, result.output
        accuracy[name] = mlp.load(tmp_path / f"{name}.npz")[1]["test_accuracy"]
    assert accuracy["scan"] > 0.8 and abs(accuracy["scan"] - accuracy["full"]) < 0.03  # unscaled: ~0.7


@pytest.mark.slow
def test_float_images_in_0_255_train_and_the_preprocessing_is_stored(tmp_path, mnist_raw):
    x, y, xt, yt = small_slice(mnist_raw, 2000, 500)
    folder = write_dataset(tmp_path / "d", x, y, xt, yt)
    for stem, array in (("train-images-idx3-ubyte", x), ("t10k-images-idx3-ubyte", xt)):
        (folder / (stem + ".gz")).unlink()
        write_idx(folder / stem, array.astype(np.float32), gz=False, dtype=">f4")
    result = run(*"train relu --hidden 32 --epochs 2 --data".split(), folder, "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(tmp_path / "w.npz")
    assert (
        meta["preprocessing"] == {"kind": "range", "low": 0.0, "high": 255.0, "invert": False}
        and meta["test_accuracy"] > 0.8
    )
    result = run("eval", tmp_path / "w.npz", "--data", folder, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == pytest.approx(meta["test_accuracy"])


def test_class_names_from_classes_txt_are_stored_and_shown(tmp_path, mnist_raw):
    x, y, xt, yt = small_slice(mnist_raw, 600, 200)
    folder = write_dataset(tmp_path / "d", x, y, xt, yt)
    names = [*"zero one two three four five six seven eight nine".split()]
    (folder / "classes.txt").write_text("\n".join(names) + "\n")
    result = run(*"train relu --hidden 16 --epochs 1 --data".split(), folder, "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert mlp.load(tmp_path / "w.npz")[1]["classes"] == names
    result = run("eval", tmp_path / "w.npz", "--data", folder, "--json", tmp_path / "r.json")
    assert "seven" in result.stdout and json.loads((tmp_path / "r.json").read_text())["classes"] == names
    result = run("predict", tmp_path / "w.npz", "--index", "0", "--data", folder)
    assert re.search(r"prediction: (zero|one|two|three|four|five|six|seven|eight|nine)", result.stdout)
    assert "seven" in result.stdout  # test image 0 is a 7: named whether right or wrong
    (folder / "classes.txt").write_text("a\nb\n")
    result = run(*"train relu --epochs 1 --data".split(), folder, "--out", tmp_path / "x.npz")
    assert result.exit_code == 1 and "2 class names for 10 classes" in result.stderr


def test_kaggle_csvs_train_hold_out_a_test_set_and_predict_a_submission(tmp_path, digits):
    x, y, xt, _ = digits
    pixels = [f"pixel{i}" for i in range(784)]
    folder = tmp_path / "kaggle"
    folder.mkdir()
    write_csv(folder / "train.csv", np.column_stack([y, x.reshape(600, -1)]), ["label", *pixels])
    write_csv(folder / "test.csv", xt.reshape(200, -1), pixels)  # no labels: for predict
    found = mlp_data.load_data(folder)
    assert (found.x_train.shape, found.x_test.shape, found.x_train.dtype, found.shape) == (
        (480, 784),
        (120, 784),
        np.uint8,
        (28, 28),
    )
    assert found.test_from == "20% of train.csv held out (stratified, seed 0)"
    result = run(*"train relu --hidden 16 --epochs 2 --data".split(), folder, "--out", tmp_path / "k.npz")
    assert result.exit_code == 0, result.output
    assert "test set: 20% of train.csv held out" in " ".join(result.stderr.split())
    meta = mlp.load(tmp_path / "k.npz")[1]
    assert meta["data"] == {"path": str(folder), "form": "csv", "label_column": None}
    table = meta["input"].pop("table")  # the columns by name, each a number taken as it is
    assert table["columns"] == ["label", *pixels] and table["label"] == "label" and not table["left_out"]
    assert {part["kind"] for part in table["parts"]} == {"number"} and len(table["parts"]) == 784
    assert meta["input"] == {"shape": [28, 28], "pictures": "framed", "framing": {"box": 20, "centre": "mass"}}
    result = run("predict", tmp_path / "k.npz", folder / "test.csv", "--out", tmp_path / "submission.csv")
    assert result.exit_code == 0 and "wrote 200 predictions" in result.stdout
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 201 and lines[1].split(",")[0] == "1"
    assert all(re.fullmatch(r"\d+,[0-9]", line) for line in lines[1:])


def test_headerless_csv_has_its_label_first(tmp_path, digits):
    x, y, _, _ = digits
    found = mlp_data.load_data(write_csv(tmp_path / "mnist_train.csv", np.column_stack([y, x.reshape(600, -1)])))
    assert found.x_train.shape[1] == 784 and sorted(np.concatenate([found.y_train, found.y_test])) == sorted(y)


def test_a_table_with_word_labels_and_a_named_label_column(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(size=(90, 3)) + np.repeat(np.eye(3) * 4, 30, axis=0)  # three separable clusters
    species = np.repeat(["versicolor", "setosa", "virginica"], 30)
    path = write_csv(
        tmp_path / "flowers.csv", np.column_stack([species, features.round(3)]), [*"Species a b c".split()]
    )
    with pytest.raises(
        ValueError, match=r"no column named label, target, y or class; .* \(columns: Species, a, b, c\)"
    ):
        mlp_data.load_data(path)
    found = mlp_data.load_data(path, label_column="species")
    assert found.classes == ("setosa", "versicolor", "virginica") and found.shape is None  # sorted; a table
    assert found.x_train.dtype == np.float32 and found.x_train.shape == (72, 3)
    out = tmp_path / "f.npz"
    result = run(
        *"train relu --hidden 8 --epochs 40 --batch-size 8 --normalize standard --data".split(),
        path,
        "--label-column",
        "species",
        "--out",
        out,
    )
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
    assert result.exit_code == 1 and "trained on a table of 3 features, not pictures" in result.stderr
    for command in (["draw", out, "--no-browser"], ["plot", "mistakes", out]):  # the same refusal, the same code
        result = run(*command)
        assert (
            result.exit_code == 1
            and "trained on a table of 3 features, not pictures" in result.stderr
            or (result.exit_code == 1 and "holds a table of features, not images" in result.stderr)
        ), command
    result = run("eval", out)  # a table's rows are examples, not images
    assert "examples" in result.stdout and "images" not in result.stdout


@pytest.mark.slow
def test_keras_npz_of_any_image_shape_everywhere(tmp_path, digits):
    Image = pytest.importorskip("PIL.Image")
    x, y, xt, yt = digits
    small = lambda images: np.stack([mlp_pictures.resize(im / 255.0, (8, 6)) for im in images]) * 255  # 8 x 6 images
    np.savez(
        tmp_path / "small.npz",
        x_train=small(x).round().astype(np.uint8),
        y_train=y,
        x_test=small(xt).round().astype(np.uint8),
        y_test=yt,
    )
    found = mlp_data.load_data(tmp_path / "small.npz")
    assert found.shape == (8, 6) and found.x_train.shape == (600, 48) and found.test_from == "x_test, y_test"
    out = tmp_path / "s.npz"
    result = run(*"train relu --hidden 32 --epochs 3 --data".split(), tmp_path / "small.npz", "--out", out)
    assert result.exit_code == 0, result.output
    assert mlp.load(out)[1]["input"]["shape"] == [8, 6]
    Image.fromarray(255 - x[0]).save(tmp_path / "digit.png")
    result = run("predict", out, tmp_path / "digit.png")
    assert result.exit_code == 0 and "prediction: " in result.stdout
    for plot in ("mistakes", "weights"):
        result = run("plot", plot, out, "--out", tmp_path / f"{plot}.png")
        assert result.exit_code == 0, result.output
    reply = mlp_draw.read_pad([mlp.load(out)], np.asarray(Image.fromarray(255 - x[1]).resize((280, 280))) / 255.0)
    assert (reply["rows"], reply["columns"], len(reply["seen"])) == (8, 6, 48)


def test_a_picture_is_straightened_as_the_network_reads_its_training_set(digits):
    x, y, xt, yt = digits
    raw = xt[:1].reshape(1, -1)
    prep = mlp.fit_preprocessing(x.reshape(len(x), -1), "standard", deslant=True, width=3.5)
    params = mlp.init([784, 16, 10], "relu", seed=4)
    meta = {"activation": "relu", "preprocessing": prep, "input": {"shape": [28, 28], "pictures": "resized"}}
    seen, probabilities, _ = mlp_pictures.classify_picture([(params, meta)], xt[0] / 255)
    np.testing.assert_allclose(seen, mlp.to_unit(raw, prep)[0], atol=1e-6)  # what the page shows: straightened
    expected = mlp.predict_proba(params, raw, "relu", preprocessing=prep)[0]
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


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
    result = run(
        *"train relu --hidden 32 --epochs 3 --normalize standard --data".split(), tmp_path / "pics", "--out", out
    )
    assert result.exit_code == 0, result.output
    assert "2 other files passed over" in result.stderr
    meta = mlp.load(out)[1]
    assert meta["classes"] == sorted(names) and meta["input"] == {"shape": [28, 28], "pictures": "resized"}
    params = mlp.load(out)[0]
    assert meta["preprocessing"]["invert"]  # dark digits on white: turned over, and a picture read as they are
    grey = mlp_pictures.read_grey(tmp_path / "pics" / "test" / names[yt[0]] / "0.png")
    expected = mlp.predict_proba(params, 255 - xt[:1].reshape(1, -1), "relu", preprocessing=meta["preprocessing"])
    np.testing.assert_allclose(mlp_pictures.classify_picture([(params, meta)], grey)[1], expected[0], atol=1e-5)
    monkeypatch.setattr(mlp_pictures, "decode_picture", lambda path: pytest.fail("decoded again"))  # the cache serves
    result = run("eval", out)
    assert result.exit_code == 0 and "images" in result.stdout
    monkeypatch.undo()
    result = run("predict", out, tmp_path / "pics" / "test" / "seven", "--out", tmp_path / "sevens.csv")
    assert result.exit_code == 0
    lines = (tmp_path / "sevens.csv").read_text().splitlines()
    assert lines[0] == "path,class,probability" and len(lines) == 1 + sum(yt[:60] == 7)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "pics" / "test" / "one" / "odd.png")
    result = run("eval", out, "--data", tmp_path / "pics")
    assert result.exit_code == 1 and re.search(
        r"pictures of different sizes: .*\.png is 28 x 28, .*odd\.png is 20 x 20", result.stderr
    )


def test_a_model_remembers_its_data_and_says_when_it_is_gone(tmp_path, small_data):
    data = tmp_path / "d"
    data.mkdir()
    for f in small_data.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "w.npz"
    assert run(*"train relu --hidden 8 --epochs 1 --data".split(), data, "--out", out).exit_code == 0
    result = run("eval", out)
    assert result.exit_code == 0 and f"data: {data} (what {out} was trained on)" in " ".join(result.stderr.split())
    assert "200" in result.stdout  # its 200 test images, not MNIST's 10,000
    for f in data.iterdir():
        f.unlink()
    data.rmdir()
    for command in (["eval", out], ["predict", out, "--index", "0"], ["plot", "confusion", out]):
        result = run(*command)
        assert (
            result.exit_code == 1
            and result.stderr == f"error: {out} was trained on {data}, which is not there any more; give --data\n"
        )


def test_class_names_are_text_shown_literally_and_control_characters_refused(tmp_path, small_data):
    data = tmp_path / "d"
    data.mkdir()
    for f in small_data.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    (data / "classes.txt").write_text("\n".join(["fö[r]", "[bold]x[/bold]", *"abcdefgh"]))
    out = tmp_path / "w.npz"
    assert run(*"train relu --hidden 8 --epochs 1 --data".split(), data, "--out", out).exit_code == 0
    result = run("eval", out)
    assert "fö[r]" in result.stdout and "[bold]x[/bold]" in result.stdout
    (data / "classes.txt").write_text("\n".join(["a\x1b[31m", *"bcdefghij"]))
    result = run("eval", out)
    assert result.exit_code == 1 and "holds control characters; use plain text" in result.stderr


def test_training_that_learns_nothing_says_so(tmp_path, digits):
    x, y, _, _ = digits
    blank = np.zeros((600, 28, 28), np.uint8)
    blank[0, 0, 0] = 1  # one pixel of one picture: not quite constant (that is refused), but nothing to learn
    np.savez(tmp_path / "noise.npz", x_train=blank, y_train=y)
    result = run(
        *"train relu --hidden 8 --epochs 1 --data".split(), tmp_path / "noise.npz", "--out", tmp_path / "w.npz"
    )
    assert result.exit_code == 0
    assert "no better than always guessing the most common class" in result.stderr
    assert "try --normalize standard" in result.stderr
    assert "preprocessing=fit_preprocessing" not in result.stderr  # mlp's own words are left unsaid


def test_a_small_table_is_judged_after_its_first_hundred_steps_not_its_first_epoch(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(150) % 3
    x = rng.normal(size=(150, 4)) + 3 * np.eye(3, 4)[y]
    np.savetxt(tmp_path / "t.csv", np.column_stack([y, x]), "%g", ",")  # 120 rows to train: 4 steps an epoch
    # nothing to learn beyond the most common class: 10 of class 0's rows are marked, the rest of
    # every class look alike, so no network scores more than class 0's share (constant data is refused)
    y_flat = np.repeat([0, 1, 2], [60, 45, 45])
    flat = np.zeros((150, 4))
    flat[:10, 0] = 1.0  # at most 10 + 38 of the 120 training rows right: no more than class 0's 48
    np.savetxt(tmp_path / "flat.csv", np.column_stack([y_flat, flat]), "%g", ",")
    result = run("train", "relu", "--data", tmp_path / "t.csv", "--out", tmp_path / "w.npz")
    assert result.exit_code == 0 and "warning" not in result.stderr
    result = run("train", "relu", "--data", tmp_path / "flat.csv", "--out", tmp_path / "w.npz")
    assert result.exit_code == 0 and "warning: after epoch 25 the training accuracy" in result.stderr


def test_a_named_data_set_is_downloaded_verified_and_cached(mirror):
    progress = []
    folder = mlp_data.fetch_dataset("tiny", str(mirror["cache"]), on_progress=lambda d, t: progress.append((d, t)))
    assert sorted(os.listdir(folder)) == sorted(
        [mlp_data.VERIFIED] + [name.removeprefix("/m/") for name in mirror["files"]]
    )
    assert progress and all(d <= t for d, t in progress)
    x, y, xt, yt = mlp.load_idx_dataset(folder)
    assert x.shape == (6, 4) and list(yt) == [1, 0]
    mirror["files"].clear()  # cached: no second download
    assert mlp_data.fetch_dataset("tiny", str(mirror["cache"])) == folder


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(mirror):
    name = "/m/train-labels-idx1-ubyte.gz"
    mirror["files"][name] = gzip.compress(b"\0\0\x08\x01\0\0\0\x03\x02\x02\x02")  # other labels
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz \\(checksum mismatch"):
        mlp_data.fetch_dataset("tiny", str(mirror["cache"]))
    assert "train-labels-idx1-ubyte.gz" not in os.listdir(mirror["cache"])
    assert not [n for n in os.listdir(mirror["cache"]) if n.startswith(".tmp-")]


def test_a_gzip_file_of_several_members_is_verified_whole(mirror):
    name = "/m/train-images-idx3-ubyte.gz"
    content = gzip.decompress(mirror["files"][name])
    mirror["files"][name] = gzip.compress(content[:7]) + gzip.compress(content[7:])  # as `cat a.gz b.gz`
    folder = mlp_data.fetch_dataset("tiny", str(mirror["cache"]))
    assert mlp.load_idx_dataset(folder)[0].shape == (6, 4)


def test_a_server_dying_mid_file_leaves_nothing_and_the_next_mirror_is_tried(mirror, monkeypatch):
    mirror["die"].add("/m/train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match="the connection closed after|IncompleteRead|incomplete"):
        mlp_data.fetch_dataset("tiny", str(mirror["cache"]))
    assert "train-images-idx3-ubyte.gz" not in os.listdir(mirror["cache"])
    assert not [n for n in os.listdir(mirror["cache"]) if n.startswith(".tmp-")]
    good = mirror["url"].replace("/m/", "/g/")
    mirror["files"].update({k.replace("/m/", "/g/"): v for k, v in list(mirror["files"].items())})
    folder = mlp_data.fetch_dataset("tiny", str(mirror["cache"]), mirrors=[mirror["url"], good])
    assert len(mlp.load_idx_dataset(folder)[0]) == 6


def test_no_server_at_all_says_which_url_failed_and_where_to_put_the_files(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(
        mlp_data.DATASETS,
        "gone",
        mlp_data.Dataset({"train-images-idx3-ubyte": "0" * 64}, (f"http://127.0.0.1:{port}/x/",), ()),
    )
    with pytest.raises(ValueError) as error:
        mlp_data.fetch_dataset("gone", str(tmp_path / "c"))
    message = str(error.value)
    assert f"http://127.0.0.1:{port}/x/train-images-idx3-ubyte.gz" in message and "refused" in message.lower()
    assert f"in {tmp_path / 'c'} by hand" in message and os.listdir(tmp_path / "c") == []


def test_cli_data_by_name_downloads_into_the_cache_and_shows_class_names(mirror, tmp_path, monkeypatch):
    monkeypatch.delenv("MLP_DATA_DIR")  # the conftest cache, for this test: the XDG one instead
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mlp_data.cache_folder("tiny") == str(tmp_path / "xdg" / "numpy-mlp" / "tiny")
    result = run(*"train relu --hidden 4 --epochs 1 --data tiny --out".split(), tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert f"downloading {mirror['url']}train-images-idx3-ubyte.gz" in result.stderr
    assert "t10k-images-idx3-ubyte.gz" in os.listdir(tmp_path / "xdg" / "numpy-mlp" / "tiny")
    assert mlp.load(tmp_path / "w.npz")[1]["classes"] == ["cat", "dog", "owl"]
    result = run("eval", tmp_path / "w.npz", "--data", "tiny")
    assert result.exit_code == 0 and "owl" in result.stdout and "downloading" not in result.stderr


def test_shipped_mnist_is_used_by_name_without_any_download(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("MLP_MIRROR", "http://127.0.0.1:9/")
    assert Path(mlp_data.resolve("mnist")) == mlp_data.shipped_mnist()
    assert not (tmp_path / "empty").exists()


def test_named_data_in_the_cache_is_checked_and_a_bad_file_named_with_the_fix(mirror):
    folder = mlp_data.fetch_dataset("tiny", str(mirror["cache"]))
    labels = os.path.join(folder, "train-labels-idx1-ubyte.gz")
    with open(labels, "wb") as f:  # another data set's file put there by hand
        f.write(gzip.compress(b"\0\0\x08\x01\0\0\0\x03\x02\x02\x02"))
    with pytest.raises(
        ValueError,
        match=r"train-labels-idx1-ubyte.gz: not tiny's file \(SHA-256 of its content "
        r".*\); delete it and run again to download it afresh",
    ):
        mlp_data.fetch_dataset("tiny", str(mirror["cache"]))
    images = os.path.join(folder, "train-images-idx3-ubyte.gz")
    os.unlink(labels)
    mlp_data.fetch_dataset("tiny", str(mirror["cache"]))  # downloaded afresh, as the message said
    with open(images, "r+b") as f:
        f.truncate(20)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: cannot be read .*; delete it and run again"):
        mlp_data.fetch_dataset("tiny", str(mirror["cache"]))


def draw_digit(size=(90, 120), box=(10, 60, 30, 70), light_background=True):
    """A synthetic "1"-like bar plus a blob, off-centre, as a grey PIL image."""
    Image = pytest.importorskip("PIL.Image")
    canvas = np.zeros(size, np.float32)
    top, bottom, left, right = box
    canvas[top:bottom, left:right] = 1.0
    canvas[bottom - 8 : bottom, left - 10 : right + 10] = 1.0  # a foot, so the mass is not symmetric
    grey = 1 - canvas if light_background else canvas
    return Image.fromarray((grey * 255).astype(np.uint8))


def framed(path):
    """A picture file framed as predict frames it for a 28 x 28 network."""
    return mlp_pictures.frame_digit(mlp_pictures.read_grey(path))


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


@pytest.mark.slow
def test_a_huge_picture_is_reduced_while_reading(trained, tmp_path):
    from PIL import Image

    big = Image.new("L", (12000, 9000), 255)  # over Pillow's decompression-bomb limit
    big.paste(0, (5000, 2000, 6500, 7000))  # a thick "1"
    big.save(tmp_path / "big.png", compress_level=1)
    del big
    result = run("predict", trained, tmp_path / "big.png")
    assert result.exit_code == 0, result.output
    assert "prediction: " in result.stdout and "Warning" not in result.output


def test_a_picture_too_large_to_decode_is_refused_before_it_is_decoded(trained, tmp_path):
    from PIL import Image

    before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        Image.new("1", (12000, 12000), 1).save(tmp_path / "huge.png")  # 144 megapixels, 1 bit each here
    finally:
        Image.MAX_IMAGE_PIXELS = before
    result = run("predict", trained, tmp_path / "huge.png")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'huge.png'}: a picture of 12,000 x 12,000 pixels is more than a digit needs and would "
        "take 0.4 GB to decode; shrink it to at most 11,585 x 11,585 (or save it as JPEG)"
    )


@posix
def test_names_from_files_and_folders_reach_the_terminal_escaped(trained, digits, tmp_path):
    Image = pytest.importorskip("PIL.Image")
    x, y, _, _ = digits
    hostile = "\x1b]0;owned\x07\x1b[2J"  # retitles the terminal and clears the screen when printed raw
    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(255 - x[0]).save(folder / f"seven{hostile}.png")
    Image.fromarray(255 - x[1]).save(folder / "two.png")
    result = run("predict", trained, folder)
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "seven\\x1b]0;owned\\x07\\x1b[2J.png" in result.stdout
    pictures = tmp_path / "pictures" / "train"
    for name, size in (("a", 28), ("b", 20)):
        (pictures / name).mkdir(parents=True)
        Image.fromarray(np.zeros((size, size), np.uint8)).save(pictures / name / f"p{hostile}.png")
    result = run(*"train relu --epochs 1 --data".split(), tmp_path / "pictures", "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and "pictures of different sizes" in result.stderr
    assert "\x1b" not in result.stderr and "\\x1b]0;owned" in result.stderr


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y_train": np.array([0, 1, np.nan, 1] * 10)}, r"label 'nan' \(example 2\) is not a number a class can have"),
        ({"y_train": np.eye(2)[[0, 1] * 20]}, r"y_train is 40 x 2, one column per class; give one class per example"),
        ({"y_train": np.array([0, 10**9] * 20)}, r"labels run up to 1000000000 with only 32 training examples"),
        ({"y_train": np.zeros(40, int)}, r"every training example has the same label \(0\)"),
        ({"x_train": np.zeros((0, 8, 8), np.uint8), "y_train": np.zeros(0, int)}, "x_train holds no examples"),
    ],
)
def test_labels_and_data_that_cannot_make_a_classifier_are_one_line(tmp_path, arrays, message):
    arrays = {"x_train": np.zeros((40, 8, 8), np.uint8), **arrays}
    np.savez(tmp_path / "d.npz", **arrays)
    result = run(*"train relu --epochs 1 --data".split(), tmp_path / "d.npz", "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert re.search(message, result.stderr) and f"{tmp_path / 'd.npz'}: " in result.stderr, result.stderr
    assert not (tmp_path / "w.npz").exists()


def table_rows(n=60, seed=0):
    """A small table people hold: two features that tell three species apart, named by words."""
    rng = np.random.default_rng(seed)
    species = np.array(["Smith, John", 'C# "sharp"', "F#; major"])[np.arange(n) % 3]
    x = rng.normal(size=(n, 2)) + (np.arange(n) % 3)[:, None] * 3
    return [[f"{a:.4f}", f"{b:.4f}", s] for (a, b), s in zip(x, species)]


@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_csv_is_read_as_rfc_4180_says_in_every_quoting_and_delimiter(tmp_path, quoting, delimiter):
    path = tmp_path / "people.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:  # CRLF line ends, as the csv module writes them
        writer = csv.writer(f, delimiter=delimiter, quoting=quoting)
        writer.writerow(["height", "weight", "species"])
        writer.writerows(
            [[float(a), float(b), s] if quoting == csv.QUOTE_NONNUMERIC else [a, b, s] for a, b, s in table_rows()]
        )
    x, y, names = mlp_data.read_csv(path, label_column="species")
    assert x.shape == (60, 2) and names == ["height", "weight"]
    assert sorted(set(y)) == ['C# "sharp"', "F#; major", "Smith, John"]  # quotes, '#', delimiters kept
    data = mlp_data.load_data(path, label_column="species")
    assert data.classes == ('C# "sharp"', "F#; major", "Smith, John")


def test_a_whole_number_beyond_int64_is_read_as_the_number_it_is(tmp_path):
    # NumPy < 2's loadtxt stores such a field as -2**63 (with only a DeprecationWarning)
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n1,2,0\n1,99999999999999999999999,1\n-3,9223372036854775808,0\n")
    x, y, names = mlp_data.read_csv(path)
    assert np.array_equal(x, np.array([[1, 2], [1, 1e23], [-3, 2.0**63]], dtype=x.dtype)), x
    assert list(y) == ["0", "1", "0"] and names == ["a", "b"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"a,b,label\n1,2,0\n3,4,1,9\n", r"row 3 has 4 fields, the first row 3; give every row the same fields"),
        (b"a,b,label\n", r"no rows of data \(only a header\)"),
        ("a,b,label\n1,2,caf\xe9\n".encode("latin-1"), r"not UTF-8 text \(byte 0xe9 at offset 17.*iconv -f cp1252"),
        (b'a,b,label\n1,2,"open\n', r"line \d+: .*check the quotes there"),
        (b"a,b,label\n1,2,0\n1," + b"9" * 10_000_000 + b",1\n", r"line 3: a field longer than 131,072 characters"),
        (b'a,b,label\n1,2,0\n1,"' + b"x" * 10_000_000 + b'",1\n', r"line 3: a field longer than 131,072 characters"),
    ],
)
def test_a_broken_csv_is_one_line_naming_the_file_the_row_and_the_column(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    result = run(*"train relu --epochs 1 --data".split(), path, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"{path}: " in result.stderr and re.search(message, result.stderr), result.stderr


def test_a_csv_in_utf_16_or_with_a_bom_reads_and_a_missing_label_column_is_named(tmp_path):
    rows = "a;b;species\r\n" + "".join(f"{i};{i % 3};{'xyz'[i % 3]}\r\n" for i in range(30))
    (tmp_path / "u16.csv").write_bytes(rows.encode("utf-16"))  # Excel's "Unicode text"
    (tmp_path / "bom.csv").write_bytes(rows.encode("utf-8-sig"))
    for name in ("u16.csv", "bom.csv"):
        x, y, names = mlp_data.read_csv(tmp_path / name, label_column="species")
        assert x.shape == (30, 2) and names == ["a", "b"] and set(y) == {"x", "y", "z"}
    result = run("train", "relu", "--data", tmp_path / "bom.csv", "--label-column", "kind", "--out", tmp_path / "w.npz")
    assert result.exit_code == 2 and "no column named 'kind' (columns: a, b, species)" in result.stderr


@posix
def test_what_is_not_a_regular_file_is_passed_over_and_a_replaced_picture_is_decoded_again(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    train = tmp_path / "pictures" / "train"
    for name in ("a", "b"):
        (train / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i + (name == "b") * 100, np.uint8)).save(train / name / f"{i}.bmp")
    os.mkfifo(train / "a" / "fifo.png")  # opening it to decode would wait for a writer forever
    found, skipped = mlp_data.picture_files(train)
    assert len(found) == 6 and skipped == 1
    mlp_data.load_data(tmp_path / "pictures")  # decoded once, into the cache
    decoded = []
    monkeypatch.setattr(mlp_pictures, "decode_picture", lambda path: decoded.append(path) or np.zeros((8, 8), np.uint8))
    target = train / "a" / "0.bmp"
    info = os.stat(target)
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(target)  # another picture of the same size...
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))  # ...with its old modification time
    assert os.path.getsize(target) == info.st_size
    mlp_data.load_data(tmp_path / "pictures")
    assert len(decoded) == 6  # decoded afresh, not served from the stale cache


def test_an_ensemble_member_given_twice_and_a_label_column_for_data_without_columns_are_bad_options(
    trained, small_data
):
    result = run("eval", trained, trained)
    assert result.exit_code == 2 and f"{trained} is given twice" in result.stderr
    result = run("train", "relu", "--data", small_data, *"--label-column species --epochs 1".split())
    assert result.exit_code == 2 and "--label-column species names a CSV column, but" in result.stderr
    assert "is idx data, whose labels are its own; leave it out" in result.stderr


def test_a_terminal_that_cannot_show_a_class_name_gets_it_escaped(small_data, tmp_path):
    weights = trained_with_names(small_data, tmp_path, [*"zéro один 二 3 4 5 6 7 8 9".split()])
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(
        [sys.executable, str(HERE / "cli.py"), "eval", weights], capture_output=True, timeout=120, env=env
    )
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    assert "\\u043e\\u0434\\u0438\\u043d" in done.stdout.decode("ascii") and "z\\xe9ro" in done.stdout.decode("ascii")


# ----------------------------------------------------------------------------- defaults, preprocessing and framing fitted to the data
def filling_digits(n=60, seed=0):
    """n 8 x 8 uint8 "digits" that fill their frame top to bottom, as scikit-learn's do: a bar
    of 2, 4 or 6 columns (its label 0, 1, 2) in the middle, ink of random strength."""
    rng = np.random.default_rng(seed)
    images, labels = np.zeros((n, 8, 8), np.uint8), np.arange(n) % 3
    for image, label in zip(images, labels):
        image[:, 3 - label : 5 + label] = rng.integers(160, 256, (8, 2 + 2 * label))
    return images, labels


def test_framing_is_measured_on_the_training_pictures(mnist_raw):
    x = mnist_raw["train_images"][:2000].reshape(2000, -1)
    prep = mlp.fit_preprocessing(x, pictures=True)
    assert mlp_pictures.measure_framing(x, 28, prep) == mlp_pictures.mnist_framing(28) == {"box": 20, "centre": "mass"}
    turned = 255 - x  # dark on light: turned over by the preprocessing, so framed the same
    assert mlp_pictures.measure_framing(turned, 28, mlp.fit_preprocessing(turned, pictures=True)) == {
        "box": 20,
        "centre": "mass",
    }
    images, _ = filling_digits()
    flat = images.reshape(len(images), -1)
    assert mlp_pictures.measure_framing(flat, 8, mlp.fit_preprocessing(flat, pictures=True))["box"] == 8


def test_a_picture_is_framed_as_its_data_frames_its_digits(tmp_path):
    images, _ = filling_digits()
    image = images[5].astype(np.float64) / 255  # a bar 6 wide and 8 tall, in the middle
    grey = 1 - np.kron(image, np.ones((4, 4)))  # drawn 32 x 32, dark ink on white paper
    own = mlp_pictures.picture_units(grey, (8, 8), framing={"box": 8, "centre": "mass"}).reshape(8, 8)
    assert np.abs(own - image / image.max()).max() < 0.35 and (own[:, [0, 7]] == 0).all()
    mnist = mlp_pictures.picture_units(grey, (8, 8)).reshape(8, 8)  # MNIST's: into 6 of 8 pixels
    assert (mnist[[0, 7]] == 0).all() and np.abs(mnist - image / image.max()).sum() > 3 * np.abs(
        own - image / image.max()
    ).sum()


def test_a_network_reads_pictures_of_its_own_data_framed_its_way(tmp_path):
    images, labels = filling_digits(150)
    data = write_dataset(tmp_path / "bars", images[:120], labels[:120], images[120:], labels[120:])
    out = tmp_path / "w.npz"
    result = run("train", "relu", "--hidden", "16", "--epochs", "30", "--data", data, "--out", out)
    assert result.exit_code == 0, result.output
    meta = mlp.load(out)[1]
    assert meta["input"]["framing"]["box"] == 8  # MNIST's would fit them into 6 of 8 pixels
    pytest.importorskip("PIL", reason="pictures need Pillow: pip install -e '.[test]'")
    from PIL import Image

    for i in range(120, 150):
        Image.fromarray(255 - np.kron(images[i], np.ones((4, 4), np.uint8))).save(tmp_path / f"{i}_{labels[i]}.png")
    result = run("predict", out, *sorted(tmp_path.glob("*.png")), "--out", tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(tmp_path / "p.csv", encoding="utf-8")))
    right = sum(row["class"] == Path(row["path"]).stem.split("_")[1] for row in rows)
    assert len(rows) == 30 and right >= 27  # its test set: 100%


@pytest.mark.parametrize(
    ("labels", "names", "message"),
    [
        ([0, 1, 1, 0, 2, 1], None, "class 2 has only one training example, too few to learn from"),
        ([0, 1, 2, 3, 4, 5], None, "classes 0, 1, 2 and 3 more have only one training example"),
        ([0, 1, 0, 1, 0, 1], list("abcdefg"), "7 classes but only 6 training examples"),
        ([0, 2, 0, 2, 0, 1], ["cat", "dog", "owl"], "class dog has only one training example"),
    ],
)
def test_data_that_cannot_train_a_classifier_is_one_line(tmp_path, labels, names, message):
    data = write_dataset(tmp_path / "d", np.arange(96).reshape(6, 4, 4), labels, np.arange(32).reshape(2, 4, 4), [0, 1])
    if names:
        (data / "classes.txt").write_text("\n".join(names), "utf-8")
    result = run("train", "relu", "--data", data, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert message in result.stderr and not (tmp_path / "w.npz").exists()


# ----------------------------------------------------------------------------- CSV variants a user's file may be
VARIANT_ROWS = [(0.5, -1.25, 3.0, "yes"), (-2.0, 0.75, 1.5, "no"), (1.0, 2.0, -0.5, "yes"), (0.25, -0.5, 2.5, "no")]


def variant(kind):
    """(bytes of a CSV of VARIANT_ROWS written the `kind` way, the label column to name or None)."""
    lines = ["a,b,c,label"] + [f"{a},{b},{c},{label}" for a, b, c, label in VARIANT_ROWS]
    text = "\n".join(lines) + "\n"
    made = {
        "utf-16-le without a BOM": lambda: text.encode("utf-16-le"),
        "utf-16-be without a BOM": lambda: text.encode("utf-16-be"),
        "mixed line endings": lambda: ("\r\n".join(lines[:3]) + "\n" + "\r".join(lines[3:]) + "\n").encode(),
        "decimal commas and semicolons": lambda: "\n".join(
            line.replace(",", ";").replace(".", ",") for line in lines
        ).encode(),
        "duplicate header names": lambda: text.replace("a,b,c,label", "a,a,c,label").encode(),
        "a trailing delimiter on every row": lambda: "".join(line + ",\n" for line in lines).encode(),
        "class names holding | and ;": lambda: text.replace("yes", "y|e;s").encode(),
        "the label column in the middle": lambda: "\n".join(
            ",".join([f[0], f[3], f[1], f[2]]) for f in (line.split(",") for line in lines)
        ).encode(),
    }
    return made[kind]()


@pytest.mark.parametrize(
    "kind",
    [
        "utf-16-le without a BOM",
        "utf-16-be without a BOM",
        "mixed line endings",
        "decimal commas and semicolons",
        "duplicate header names",
        "a trailing delimiter on every row",
        "class names holding | and ;",
        "the label column in the middle",
    ],
)
def test_a_csv_written_another_way_reads_the_same_table(tmp_path, kind):
    path = tmp_path / "t.csv"
    path.write_bytes(variant(kind))
    x, y, names = mlp_data.read_csv(path)
    np.testing.assert_allclose(x, [row[:3] for row in VARIANT_ROWS], rtol=1e-6)
    assert [str(v) for v in y] == [
        row[3] if "|" not in kind else row[3].replace("yes", "y|e;s") for row in VARIANT_ROWS
    ]
    assert len(names) == 3


@pytest.mark.parametrize(
    "content, message",
    [
        (b"label\nyes\nno\nyes\nno\n", ": no column of features beside the label column label"),
        (b"a,b,label\n1,2,yes\n3,\x004,no\n", ": line 3 holds a NUL byte (\\x00), which no text field has; remove it"),
        ("a,b,label\n1,2,caf\xe9\n".encode("latin-1"), ": not UTF-8 text (byte 0xe9 at offset 17"),
    ],
)
def test_a_csv_that_cannot_be_a_table_is_one_line_and_nothing_is_written(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    result = run("train", "relu", "--data", path, "--epochs", "1", "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"error: {path}{message}"), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def write_picture_folder(root, digits, n_train=200, n_test=40):
    """digits written as DIR/train/<class>/*.png and DIR/test/<class>/*.png; returns DIR."""
    Image = pytest.importorskip("PIL.Image")
    x, y, xt, yt = digits
    for split, images, labels in (("train", x[:n_train], y[:n_train]), ("test", xt[:n_test], yt[:n_test])):
        for i, (image, label) in enumerate(zip(images, labels)):
            (root / split / str(label)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / split / str(label) / f"{i}.png")
    return root


@posix
def test_a_stop_during_the_first_decode_writes_nothing_and_the_next_run_decodes_afresh(tmp_path, digits, monkeypatch):
    pics = write_picture_folder(tmp_path / "pics", digits)
    decode, decoded = mlp_pictures.decode_picture, []

    def stopped_midway(path):
        decoded.append(path)
        if len(decoded) == 50:
            os.kill(os.getpid(), signal.SIGTERM)
        return decode(path)

    monkeypatch.setattr(mlp_pictures, "decode_picture", stopped_midway)
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run("train", "relu", "--hidden", "16", "--epochs", "1", "--data", pics, "--out", tmp_path / "p.npz")
    finally:  # a stopped command leaves the stop signals ignored: give pytest its own back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 143
    assert result.stderr.split() == "interrupted (SIGTERM) before the first batch finished; nothing was saved".split()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pics"] and len(decoded) == 50  # no cache, no weights
    monkeypatch.setattr(mlp_pictures, "decode_picture", decode)
    result = run("train", "relu", "--hidden", "16", "--epochs", "1", "--data", pics, "--out", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    assert [p.suffix for p in (tmp_path / "cache" / "pictures").iterdir()] == [".npz"] * 2  # train's and test's


def test_a_temp_file_left_by_a_decode_killed_while_saving_is_removed_by_the_next(tmp_path, digits):
    pics = write_picture_folder(tmp_path / "pics", digits, n_train=60, n_test=20)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / "cache" / "pictures" / f".tmp-{ended.stdout.strip()}-abcd1234"  # kill -9 mid-write
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half a cache")
    result = run("train", "relu", "--hidden", "16", "--epochs", "1", "--data", pics, "--out", tmp_path / "p.npz")
    assert result.exit_code == 0, result.output
    kept = list(orphan.parent.iterdir())
    assert not orphan.exists() and [p.suffix for p in kept] == [".npz"] * 2  # train's and test's pictures
