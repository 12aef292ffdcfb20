"""Tests of scoring against the network's own classes: eval, predict --index and plot match a
test set's labels to the classes a network was trained on by name, whatever classes the test
set holds or lacks, and refuse a class the network does not know in one line."""

import json

import numpy as np
import pytest

from conftest import run

NAMES = ("cat", "dog", "emu")


def animals(path, rng, names=NAMES, n=240):
    """A CSV of n rows, 4 features, its label a word: classes of Gaussian blobs far apart, so
    that a small network tells them apart (each name keeps its blob whatever the file holds)."""
    centres = {"cat": (6, 0, 0, 0), "dog": (0, 6, 0, 0), "emu": (0, 0, 6, 0), "dingo": (0, 6, 0, 0)}
    label = [names[i % len(names)] for i in range(n)]
    x = rng.standard_normal((n, 4)) + np.array([centres[name] for name in label])
    rows = [",".join([*(f"{v:.5f}" for v in row), name]) for row, name in zip(x, label)]
    path.write_text("a,b,c,d,label\n" + "\n".join(rows) + "\n", "utf-8")
    return path


@pytest.fixture(scope="module")
def animal_net(tmp_path_factory):
    folder = tmp_path_factory.mktemp("animals")
    rng = np.random.default_rng(0)
    data = animals(folder / "train.csv", rng)
    out = folder / "w.npz"
    result = run("train", "relu", "--hidden", "8", "--data", data, "--out", out)  # epochs as the data needs
    assert result.exit_code == 0, result.output
    return out, rng


def test_a_test_set_without_one_of_the_classes_is_scored_against_the_networks_classes(animal_net, tmp_path):
    out, rng = animal_net
    no_cats = animals(tmp_path / "no-cats.csv", rng, names=("dog", "emu"), n=500)
    result = run("eval", out, "--data", no_cats, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["classes"] == list(NAMES) and report["absent"] == ["cat"]
    assert report["accuracy"] > 0.9  # dog rows scored as dogs (numbered by the file alone, they were cats)
    assert [r["support"] for r in report["per_class"]][0] == 0
    assert "not in this test set: cat" in result.stdout


def test_a_class_the_network_does_not_know_is_refused_in_one_line(animal_net, tmp_path):
    out, rng = animal_net
    renamed = animals(tmp_path / "renamed.csv", rng, names=("cat", "dingo", "emu"))
    for command in (["eval", out], ["predict", out, "--index", "0"], ["plot", "confusion", out]):
        result = run(*command, "--data", renamed)
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr == (
            f"error: {out} knows the classes 'cat', 'dog', 'emu', not 'dingo' of the test set; "
            "score it on data of its own classes\n"
        )


def test_predict_index_names_the_true_class_by_the_networks_numbering(animal_net, tmp_path):
    out, rng = animal_net
    emus = animals(tmp_path / "emus.csv", rng, names=("emu",), n=100)
    result = run("predict", out, "--index", "3", "--data", emus)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("prediction: emu (correct)\n")  # the file's only class, emu, is the network's 2


def test_a_picture_folder_with_two_of_its_three_classes_is_scored_by_name(tmp_path, digits):
    pytest.importorskip("PIL", reason="picture folders need Pillow: pip install -e '.[image]'")
    from PIL import Image

    x, y, xt, yt = digits
    kept = {1: "one", 4: "four", 7: "seven"}

    def folder(root, images, labels, classes):
        for i, (image, label) in enumerate(zip(images, labels)):
            if label in classes:
                (root / kept[label]).mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(root / kept[label] / f"{i}.png")

    folder(tmp_path / "all" / "train", x, y, kept)
    folder(tmp_path / "all" / "test", xt, yt, kept)
    out = tmp_path / "w.npz"
    result = run("train", "relu", "--hidden", "32", "--epochs", "10", "--data", tmp_path / "all", "--out", out)
    assert result.exit_code == 0, result.output
    folder(tmp_path / "two" / "train", x, y, (4, 7))  # no "four": "one" and "seven" numbered 0 and 1 here
    folder(tmp_path / "two" / "test", xt, yt, (1, 7))
    result = run("eval", out, "--data", tmp_path / "two", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["classes"] == ["four", "one", "seven"] and report["absent"] == ["four"]
    assert report["accuracy"] > 0.9
