"""Decisions from probabilities: ROC-AUC, average precision, F1, balanced accuracy and the tuned
threshold checked against scikit-learn's definitions; several labels per example from the
command line (label columns of a CSV, (N, k) labels in an .npz): trained, scored (eval),
predicted (a column per label), refused in one line where they do not fit."""

import json

import numpy as np
import pytest

from conftest import run
from numpy_mlp import decisions as mlp_decisions

metrics = pytest.importorskip("sklearn.metrics")


def rounded_scores(rng, n):
    """Scores with ties (rounded to one or two decimals) and a truth of a random share of positives."""
    scores = np.round(rng.random(n), rng.integers(1, 3))
    return scores, rng.random(n) < rng.uniform(0.05, 0.95)


def test_rankings_and_binary_scores_are_scikit_learns():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        scores, positive = rounded_scores(rng, int(rng.integers(2, 80)))
        if positive.all() or not positive.any():
            assert mlp_decisions.roc_auc(scores, positive) is None
            continue
        checked += 1
        assert mlp_decisions.roc_auc(scores, positive) == pytest.approx(metrics.roc_auc_score(positive, scores), 1e-12)
        assert mlp_decisions.average_precision(scores, positive) == pytest.approx(
            metrics.average_precision_score(positive, scores), 1e-12
        )
        cut = rng.random()
        said, given = mlp_decisions.binary_scores(scores, positive, cut), scores >= cut
        assert said["f1"] == pytest.approx(metrics.f1_score(positive, given, zero_division=0), abs=1e-12)
        assert said["balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(positive, given), 1e-12)
        assert said["precision"] == pytest.approx(metrics.precision_score(positive, given, zero_division=0), 1e-12)
        assert said["recall"] == pytest.approx(metrics.recall_score(positive, given), 1e-12)
    assert checked > 250


@pytest.mark.parametrize("metric", ["f1", "balanced-accuracy"])
def test_the_tuned_threshold_is_the_best_cut_on_the_examples_it_is_tuned_on(metric):
    score = {"f1": lambda t, g: metrics.f1_score(t, g, zero_division=0), "balanced-accuracy": None}[metric]
    score = score or metrics.balanced_accuracy_score
    rng = np.random.default_rng(1)
    for _ in range(100):
        scores, positive = rounded_scores(rng, int(rng.integers(5, 60)))
        if positive.all() or not positive.any():
            assert mlp_decisions.tuned_threshold(scores, positive, metric) == 0.5
            continue
        cut = mlp_decisions.tuned_threshold(scores, positive, metric)
        best = max(score(positive, scores >= c) for c in [*np.unique(scores), 2.0])  # every cut there is
        assert score(positive, scores >= cut) == pytest.approx(best, abs=1e-12)
        assert cut == 0 or not np.isin(cut, scores)  # halfway between two scores (0: every example a yes)


def test_a_rare_positive_class_tunes_a_lower_cut_and_a_higher_f1_than_one_half():
    """A known answer: positives score 0.3 to 0.45, negatives below 0.3 but for two at 0.4."""
    positive = np.r_[np.ones(10, bool), np.zeros(90, bool)]
    scores = np.r_[np.linspace(0.3, 0.45, 10), np.linspace(0.0, 0.29, 88), 0.4, 0.4]
    cut = mlp_decisions.tuned_threshold(scores, positive, "f1")
    assert cut == pytest.approx((0.3 + 0.29) / 2)
    assert mlp_decisions.binary_scores(scores, positive, cut)["f1"] == pytest.approx(2 * 10 / (2 * 10 + 2))
    assert mlp_decisions.binary_scores(scores, positive, 0.5)["f1"] == 0.0


def test_the_multilabel_report_is_scikit_learns():
    rng = np.random.default_rng(2)
    y = (rng.random((80, 4)) < [0.1, 0.3, 0.5, 0.0]).astype(int)  # the last label absent: its AUCs undefined
    probabilities = np.clip(0.6 * y + rng.random((80, 4)) * 0.7, 0, 1)
    cuts = np.array([0.5, 0.4, 0.6, 0.5])
    report = mlp_decisions.multilabel_report(probabilities, y, list("abcd"), cuts)
    given = (probabilities >= cuts).astype(int)
    assert report["subset_accuracy"] == metrics.accuracy_score(y, given)
    assert report["hamming_loss"] == pytest.approx(metrics.hamming_loss(y, given), 1e-12)
    for average in ("micro", "macro"):
        for name, measure in (("precision", metrics.precision_score), ("recall", metrics.recall_score)):
            expected = measure(y, given, average=average, zero_division=0)
            assert report[average][name] == pytest.approx(expected, 1e-12)
        assert report[average]["f1"] == pytest.approx(metrics.f1_score(y, given, average=average, zero_division=0))
    for j, label in enumerate(report["per_label"][:3]):
        assert label["roc_auc"] == pytest.approx(metrics.roc_auc_score(y[:, j], probabilities[:, j]), 1e-12)
        assert label["pr_auc"] == pytest.approx(metrics.average_precision_score(y[:, j], probabilities[:, j]))
        assert label["support"] == y[:, j].sum() and label["cut"] == cuts[j]
    assert report["per_label"][3]["roc_auc"] is None and report["per_label"][3]["pr_auc"] is None


# ----------------------------------------------------------------------------- several labels from the command line


def tagged(n, seed=0):
    """(x (n, 5), labels (n, 3) of 0 and 1): three labels, each a simple rule of the features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    labels = np.column_stack([x[:, 0] + x[:, 1] > 0, x[:, 2] > 0.8, x[:, 3] * x[:, 4] > 0]).astype(int)
    return x, labels


def write_tagged(path, x, labels, words=("0", "1")):
    header = "f0,f1,f2,f3,f4,sport,music,news\n"
    rows = [",".join([*(f"{v:.5f}" for v in xi), *(words[v] for v in li)]) for xi, li in zip(x, labels)]
    path.write_text(header + "\n".join(rows) + "\n", "utf-8")
    return path


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tags")
    train = write_tagged(folder / "tags.csv", *tagged(800), words=("no", "yes"))
    test = write_tagged(folder / "test.csv", *tagged(300, seed=1))
    trained = run(
        "train",
        "relu",
        "--data",
        train,
        "--label-column",
        "sport,music,news",
        "--epochs",
        "30",
        "--out",
        folder / "w.npz",
    )
    assert trained.exit_code == 0, trained.output
    return {"folder": folder, "train": train, "test": test, "weights": folder / "w.npz", "trained": trained}


def test_label_columns_train_a_sigmoid_per_label_said_on_the_defaults_line(tagged_run):
    said = tagged_run["trained"].output
    assert "a table of 640 rows x 5 features (columns: 5 numbers; labels: sport, music, news)" in said
    assert "test subset accuracy" in said.splitlines()[-1]
    summary = run("summary", tagged_run["weights"])
    assert summary.exit_code == 0 and "a sigmoid per label" in summary.stdout
    assert "test subset accuracy" in summary.stdout


def test_eval_of_a_test_file_matches_the_labels_predict_writes(tagged_run):
    folder = tagged_run["folder"]
    scored = run("eval", tagged_run["weights"], "--data", tagged_run["test"], "--json", folder / "r.json")
    assert scored.exit_code == 0, scored.output
    report = json.loads((folder / "r.json").read_text())
    assert report["n"] == 300 and report["labels"] == ["sport", "music", "news"]
    assert report["subset_accuracy"] > 0.8 and report["micro"]["f1"] > 0.85  # three simple rules, learnt
    predicted = run("predict", tagged_run["weights"], tagged_run["test"])
    assert predicted.exit_code == 0 and predicted.stdout.splitlines()[0] == "Id,sport,music,news"
    given = np.array([line.split(",")[1:] for line in predicted.stdout.splitlines()[1:]], int)
    truth = tagged(300, seed=1)[1]
    assert report["subset_accuracy"] == metrics.accuracy_score(truth, given)  # the same probabilities, the same cut
    assert report["hamming_loss"] == pytest.approx(metrics.hamming_loss(truth, given), 1e-12)
    assert report["macro"]["f1"] == pytest.approx(metrics.f1_score(truth, given, average="macro"), 1e-12)
    assert "subset accuracy" in scored.stdout and "PR-AUC" in scored.stdout
    one = run("predict", tagged_run["weights"], "--index", "0")  # of the held-out fifth of its training file
    lines = one.stdout.splitlines()
    assert one.exit_code == 0 and [line.split(":")[0] for line in lines] == [
        "sport",
        "music",
        "news",
        "every label right",
    ]


def test_a_multilabel_network_trains_on_from_its_own_weights(tagged_run, tmp_path):
    again = run(
        "train", "relu", "--data", tagged_run["train"], "--label-column", "sport,music,news", "--epochs", "2",
        "--init", tagged_run["weights"], "--out", tmp_path / "w.npz",
    )  # fmt: skip
    assert again.exit_code == 0, again.output


def test_an_npz_of_several_labels_per_example_trains_and_one_hot_rows_are_refused(tmp_path):
    x, labels = tagged(400)
    np.savez(tmp_path / "tags.npz", x_train=x[:300], y_train=labels[:300], x_test=x[300:], y_test=labels[300:])
    trained = run("train", "relu", "--data", tmp_path / "tags.npz", "--epochs", "3", "--out", tmp_path / "w.npz")
    assert trained.exit_code == 0, trained.output
    scored = run("eval", tmp_path / "w.npz", "--json", tmp_path / "r.json")
    assert scored.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["labels"] == ["0", "1", "2"]
    one_hot = np.eye(3, dtype=int)[np.arange(300) % 3]
    np.savez(tmp_path / "hot.npz", x_train=x[:300], y_train=one_hot)
    refused = run("train", "relu", "--data", tmp_path / "hot.npz", "--out", tmp_path / "h.npz")
    assert refused.exit_code == 1 and refused.stderr == (
        f"error: {tmp_path / 'hot.npz'}: y_train is 300 x 3, one column per class; give one class per example, e.g. "
        "y_train=y.argmax(axis=1) (or --task multilabel: each column a label of its own, 0 or 1)\n"
    )
    taken = run(
        "train",
        "relu",
        "--data",
        tmp_path / "hot.npz",
        "--task",
        "multilabel",
        "--epochs",
        "1",
        "--out",
        tmp_path / "m.npz",
    )
    assert taken.exit_code == 0 and "sigmoid per label" in taken.output


@pytest.mark.parametrize(
    "options, code, message",
    [
        (["--label-column", "sport"], 0, None),  # one 0/1 column: classes, as before
        (["--label-column", "sport", "--task", "multilabel"], 2, "--task multilabel takes several label columns"),
        (["--label-column", "sport,music", "--task", "regression"], 2, "several label columns are several labels"),
        (["--label-column", "sport,music", "--class-weight", "balanced"], 2, "--class-weight weighs one class"),
        (["--label-column", "sport,nope"], 2, "no column named 'nope'"),
    ],
)
def test_label_columns_that_do_not_fit_are_refused_in_one_line(tmp_path, options, code, message):
    data = write_tagged(tmp_path / "t.csv", *tagged(120))
    result = run("train", "relu", "--data", data, *options, "--epochs", "1", "--out", tmp_path / "w.npz")
    assert result.exit_code == code, result.output
    if message:
        assert message in result.stderr and len(result.stderr.splitlines()) == 1
        assert not (tmp_path / "w.npz").exists()


def test_a_label_that_is_not_0_or_1_or_never_changes_is_named(tmp_path):
    x, labels = tagged(120)
    data = write_tagged(tmp_path / "t.csv", x, labels)
    text = data.read_text().splitlines()
    text[5] = text[5][: text[5].rindex(",")] + ",maybe"
    data.write_text("\n".join(text) + "\n")
    result = run("train", "relu", "--data", data, "--label-column", "sport,news", "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr == (
        f"error: {data}: data row 5, column news: 'maybe' is not 0 or 1; each label column of several holds 0 or 1 "
        "(or yes/no) per row\n"
    )
    labels[:, 1] = 0
    write_tagged(data, x, labels)
    result = run("train", "relu", "--data", data, "--label-column", "sport,music", "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and "music is 0 in every training example" in result.stderr
    assert not (tmp_path / "w.npz").exists()


# ----------------------------------------------------------------------------- a decision threshold, tuned


def write_rare(path, n=1500, seed=0):
    """A table whose positive class (label 1) is about 7% of the rows: the top of a noisy score."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    score = x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.7, n)
    labels = (score > np.quantile(score, 0.93)).astype(int)
    rows = [",".join([*(f"{v:.5f}" for v in xi), str(li)]) for xi, li in zip(x, labels)]
    path.write_text("a,b,c,d,label\n" + "\n".join(rows) + "\n", "utf-8")
    return path, x, labels


@pytest.fixture(scope="module")
def rare_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rare")
    data, x, labels = write_rare(folder / "rare.csv")
    trained = run("train", "relu", "--data", data, "--val", "300", "--epochs", "10", "--out", folder / "w.npz")
    assert trained.exit_code == 0, trained.output
    return {"folder": folder, "data": data, "x": x, "weights": folder / "w.npz", "trained": trained}


def test_a_rare_positive_class_with_a_validation_split_tunes_a_threshold_for_f1(rare_run):
    import mlp

    assert "a decision threshold tuned for F1 of the positive class on the validation examples" in (
        rare_run["trained"].stderr
    )
    _, meta = mlp.load(rare_run["weights"])
    tuned = meta["threshold"]
    assert tuned["metric"] == "f1" and len(tuned["cuts"]) == 1 and tuned["examples"] == 300
    assert tuned["validation"]["tuned"] >= tuned["validation"]["at_half"]  # the best cut there, 0.5 among them
    said = f"decision threshold {tuned['cuts'][0]:.3g}, tuned for f1 on the 300 validation examples"
    assert said in rare_run["trained"].stdout


def test_eval_predict_and_export_apply_the_tuned_threshold(rare_run):
    import mlp

    folder, cut = rare_run["folder"], mlp.load(rare_run["weights"])[1]["threshold"]["cuts"][0]
    scored = run("eval", rare_run["weights"], "--json", folder / "r.json")
    assert scored.exit_code == 0 and "tuned for f1" in scored.stdout
    binary = json.loads((folder / "r.json").read_text())["binary"]
    assert binary["positive"] == "1" and binary["tuned"]["cut"] == cut and binary["at_half"]["cut"] == 0.5
    assert 0.5 < binary["roc_auc"] <= 1 and 0 < binary["pr_auc"] <= 1
    rows = folder / "rows.csv"
    rows.write_text("a,b,c,d\n" + "\n".join(",".join(f"{v:.5f}" for v in r) for r in rare_run["x"]) + "\n")
    predicted = run("predict", rare_run["weights"], rows)
    said = np.array([line.split(",")[1] for line in predicted.stdout.splitlines()[1:]], int)
    params, meta = mlp.load(rare_run["weights"])
    x = np.loadtxt(rows, delimiter=",", skiprows=1)
    p = mlp.predict_proba(
        params, x, meta["activation"], preprocessing=meta["preprocessing"], temperature=mlp.temperature_of(meta)
    )[:, 1]
    clear = np.abs(p - cut) > 1e-5  # another computation of the same probability: no near-tie compared
    assert np.array_equal(said[clear], (p >= cut)[clear]) and clear.mean() > 0.99
    assert (said != (p >= 0.5)).any()  # the cut changed some decisions
    ort = pytest.importorskip("onnxruntime")
    assert run("export", rare_run["weights"], folder / "w.onnx").exit_code == 0
    session = ort.InferenceSession(str(folder / "w.onnx"), providers=["CPUExecutionProvider"])
    (classes,) = session.run(["class"], {session.get_inputs()[0].name: x.astype(np.float32)})
    assert np.array_equal(classes[clear], said[clear])


@pytest.mark.parametrize(
    "options, code, message",
    [
        (["--threshold-for", "f1"], 2, "--threshold-for tunes the cut on a validation split: add --val N"),
        (["--val", "300", "--threshold-for", "none"], 0, None),
        ([], 0, "class 1 is 7.0% of the training examples: with --val N a decision threshold is tuned for F1"),
    ],
)
def test_threshold_options_and_notes(tmp_path, options, code, message):
    import mlp

    data, _, _ = write_rare(tmp_path / "rare.csv")
    result = run("train", "relu", "--data", data, "--epochs", "2", *options, "--out", tmp_path / "w.npz")
    assert result.exit_code == code, result.output
    if message:
        assert message in result.stderr
    if code == 0:
        assert "threshold" not in mlp.load(tmp_path / "w.npz")[1]
    else:
        assert not (tmp_path / "w.npz").exists() and len(result.stderr.splitlines()) == 1


def test_a_threshold_is_refused_for_more_than_two_classes(tmp_path):
    from conftest import blobs_table

    data = blobs_table(tmp_path / "blobs.csv")
    result = run("train", "relu", "--data", data, "--val", "40", "--threshold-for", "f1", "--out", tmp_path / "w.npz")
    assert result.exit_code == 2 and "--threshold-for tunes when to say yes: for two classes" in result.stderr


def test_several_labels_tune_a_cut_each_applied_by_eval_and_export(tagged_run, tmp_path):
    import mlp

    trained = run(
        "train", "relu", "--data", tagged_run["train"], "--label-column", "sport,music,news", "--val", "200",
        "--threshold-for", "balanced-accuracy", "--epochs", "10", "--out", tmp_path / "w.npz",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    params, meta = mlp.load(tmp_path / "w.npz")
    cuts = meta["threshold"]["cuts"]
    assert meta["threshold"]["metric"] == "balanced-accuracy" and len(cuts) == 3
    scored = run("eval", tmp_path / "w.npz", "--data", tagged_run["test"], "--json", tmp_path / "r.json")
    assert (
        scored.exit_code == 0 and [r["cut"] for r in json.loads((tmp_path / "r.json").read_text())["per_label"]] == cuts
    )
    ort = pytest.importorskip("onnxruntime")
    assert run("export", tmp_path / "w.npz", tmp_path / "w.onnx").exit_code == 0
    session = ort.InferenceSession(str(tmp_path / "w.onnx"), providers=["CPUExecutionProvider"])
    x = np.round(tagged(300, seed=1)[0], 5)  # as the test file writes them
    probabilities, labels = session.run(
        ["probabilities", "labels"], {session.get_inputs()[0].name: x.astype(np.float32)}
    )
    predicted = run("predict", tmp_path / "w.npz", tagged_run["test"])
    given = np.array([line.split(",")[1:] for line in predicted.stdout.splitlines()[1:]], int)
    clear = np.abs(probabilities - np.asarray(cuts)) > 1e-5
    assert np.array_equal(labels[clear], given.astype(bool)[clear]) and clear.mean() > 0.99
