"""Trained weights at work: scored on a test set (eval), their predictions for the rows of a
CSV and for pictures (predict), one test example classified, and the JSON form of a report;
a regression network's (numbers, not classes) likewise.

cli.py loads the weights and the data (mlp_run) and draws the tables; what is decided and
computed between is here. Problems are raised as ValueError (mlp_run.BadOption for an
option) with one line naming the problem and the fix.
"""

import contextlib
import csv
import io
import os
import zipfile

import numpy as np

import mlp
from numpy_mlp import columns as mlp_columns
from numpy_mlp import data as mlp_data
from numpy_mlp import decisions as mlp_decisions
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run
from numpy_mlp import tables as mlp_tables


def absent_classes(report, meta):
    """The names of the network's classes that no test example has (their recall is not defined)."""
    return [mlp_data.class_name(meta, c) for c in np.flatnonzero(np.asarray(report["support"]) == 0)]


# ----------------------------------------------------------------------------- calibration
# Whether a network's probabilities can be trusted: the negative log-likelihood, the Brier score
# and the expected calibration error of Guo et al. (2017, "On Calibration of Modern Neural
# Networks"): confidences in M equal-width bins ((m-1)/M, m/M], ECE the bins' gaps between
# accuracy and mean confidence, weighted by their share of the examples.
CALIBRATION_BINS = 15
PER_CLASS_CALIBRATION = 20  # classes at most for each class's own calibration error


def reliability_bins(confidence, hit, bins=CALIBRATION_BINS):
    """The M equal-width bins of `confidence` (N,) in [0, 1] (bin m holds ((m-1)/M, m/M]; a
    confidence of 0 goes to the first): a list of {"low", "high", "count", "confidence",
    "accuracy"}, the last two the bin's mean confidence and mean of `hit` (N,) 0/1 (None when
    the bin is empty)."""
    confidence, hit = np.asarray(confidence, np.float64), np.asarray(hit, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)  # a confidence on an edge belongs to the bin below it
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    mean_confidence = np.bincount(index, confidence, minlength=bins) / np.maximum(count, 1)
    mean_hit = np.bincount(index, hit, minlength=bins) / np.maximum(count, 1)
    return [
        {
            "low": float(edges[m]),
            "high": float(edges[m + 1]),
            "count": int(count[m]),
            "confidence": float(mean_confidence[m]) if count[m] else None,
            "accuracy": float(mean_hit[m]) if count[m] else None,
        }
        for m in range(bins)
    ]


def calibration_error(binned):
    """The expected calibration error of `reliability_bins`' bins: sum over bins of
    count / N x |accuracy - confidence|."""
    n = sum(b["count"] for b in binned)
    return sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in binned if b["count"])


def calibration(probabilities, y, names):
    """How far probabilities (N, C) can be trusted on labels y (N,) ints: {"nll" (mean negative
    log-likelihood of the true class), "brier" (mean over examples of the squared distance to
    the one-hot truth, summed over classes), "ece" (top label: the largest probability as the
    confidence, the prediction being right as the hit), "bins" (its reliability_bins), and
    "class_ece" ({name: ECE of that class's probability against its being the true class},
    for at most PER_CLASS_CALIBRATION classes; else empty)}."""
    p, y = np.asarray(probabilities, np.float64), np.asarray(y)
    rows = np.arange(len(y))
    truth = np.zeros_like(p)
    truth[rows, y] = 1.0
    top = reliability_bins(p.max(axis=1), p.argmax(axis=1) == y)
    per_class = p.shape[1] <= PER_CLASS_CALIBRATION
    return {
        "nll": float(-np.log(np.maximum(p[rows, y], np.finfo(np.float64).tiny)).mean()),
        "brier": float(((p - truth) ** 2).sum(axis=1).mean()),
        "ece": calibration_error(top),
        "bins": top,
        "class_ece": {
            names[c]: calibration_error(reliability_bins(p[:, c], y == c)) for c in range(p.shape[1]) if per_class
        },
    }


def report_calibration(report, meta, raw=False):
    """`calibration` of an mlp.classification_report whose "true" labels were added (evaluated,
    ensemble_evaluated), its classes named as the weights' meta names them; raw: of its
    "uncalibrated" probabilities (the weights without their temperatures), with their accuracy."""
    names = [mlp_data.class_name(meta, c) for c in range(len(report["confusion"]))]
    if not raw:
        return calibration(report["probabilities"], report["true"], names)
    p, y = report["uncalibrated"], report["true"]
    return calibration(p, y, names) | {"accuracy": mlp.accuracy(p.argmax(axis=1), y)}


# ----------------------------------------------------------------------------- reports


def binary_decisions(report, meta, cut=None):
    """A two-class report's decisions (None for more classes): how well the probability of class 1
    (the positive one) ranks the examples ("roc_auc", "pr_auc"), and the decisions at 0.5
    ("at_half") and, given a tuned `cut`, at it ("tuned", with its "metric")."""
    if report["probabilities"].shape[1] != 2:
        return None
    scores, positive = report["probabilities"][:, 1], np.asarray(report["true"]) == 1
    decided = {
        "positive": mlp_data.class_name(meta, 1),
        "roc_auc": mlp_decisions.roc_auc(scores, positive),
        "pr_auc": mlp_decisions.average_precision(scores, positive),
        "at_half": mlp_decisions.binary_scores(scores, positive, mlp_decisions.DEFAULT_CUT),
    }
    if cut is not None:
        decided["tuned"] = {**mlp_decisions.binary_scores(scores, positive, cut), "metric": meta["threshold"]["metric"]}
    return decided


def report_json(report, n, meta=None, cut=None):
    """The JSON form of mlp.classification_report (accuracy as a fraction, lists for arrays;
    class names from the weights, where they have them): its "calibration", the "uncalibrated"
    probabilities' (with their accuracy) when the weights have fitted temperatures, the
    "balanced_accuracy" (the mean recall of the classes present) and, for two classes, the
    "binary" decisions (`binary_decisions`, at the tuned `cut` too when given)."""
    meta = meta or {}
    y_pred, probabilities = report["predicted"], report["probabilities"]
    calibrated = report.get("uncalibrated") is not None  # fitted temperatures applied: the raw ones beside
    present = np.asarray(report["support"]) > 0
    binary = binary_decisions(report, meta, cut)
    return {
        "accuracy": report["accuracy"],
        "balanced_accuracy": float(np.mean(np.asarray(report["recall"])[present])),
        **({"binary": binary} if binary else {}),
        "loss": report["loss"],
        "n": n,
        "calibration": report_calibration(report, meta),
        **({"uncalibrated": report_calibration(report, meta, raw=True)} if calibrated else {}),
        "classes": [mlp_data.class_name(meta, c) for c in range(len(report["confusion"]))],
        "absent": absent_classes(report, meta),
        "confusion": report["confusion"].tolist(),
        "per_class": [
            {
                "class": c,
                "name": mlp_data.class_name(meta, c),
                "precision": float(report["precision"][c]),
                "recall": float(report["recall"][c]),
                "f1": float(report["f1"][c]),
                "support": int(report["support"][c]),
            }
            for c in range(len(report["confusion"]))
        ],
        "mistakes": [
            {
                "index": int(i),
                "true": int(report["true"][i]),
                "predicted": int(y_pred[i]),
                "true_name": mlp_data.class_name(meta, int(report["true"][i])),
                "predicted_name": mlp_data.class_name(meta, int(y_pred[i])),
                "confidence": float(probabilities[i, y_pred[i]]),
            }
            for i in report["mistakes"]
        ],
    }


def recorded_data(weights, meta, data):
    """(data, label column, note) for a command on trained weights: --data when given, else the
    data the weights recorded, with a note saying so (weights saved by mlp.save alone record
    none: mnist)."""
    record = meta.get("data") or {"name": mlp_data.DEFAULT_DATA}
    if data is not None:
        return data, record.get("label_column"), None
    source = mlp_data.source_of(record)
    if "path" in record and not os.path.exists(source):
        raise ValueError(f"{weights} was trained on {source}, which is not there any more; give --data")
    why = (
        f"what {weights} was trained on"
        if meta.get("data")
        else f"{weights} records no data: give --data for other data"
    )
    return source, record.get("label_column"), f"data: {source} ({why})"


TASK_HINTS = {  # what a network of each task is scored with, for check_task's refusals
    "regression": "eval scores it (MSE, MAE, R²), predict gives its numbers, plot scatter draws them",
    "classification": "eval scores it (accuracy, confusion matrix), predict gives its classes",
    "multilabel": "eval scores it (subset accuracy, F1 per label), predict gives its labels",
}


def check_task(weights, meta, what, task="classification"):
    """Fail in one line unless the network at `weights` is of `task` (mlp.TASKS): `what` (a
    command or option, e.g. "plot confusion") is for such networks only."""
    its = mlp.task_of(meta)
    if its != task:
        does = {"regression": "numbers (a regression)", "multilabel": "several labels per example"}.get(its, "classes")
        raise ValueError(f"{what} is for {task} networks, and {weights} predicts {does}; {TASK_HINTS[its]}")


def network_classes(meta, n_classes):
    """The names of a network's n_classes classes, in its output order: its meta's, else its
    numbers as text ('0', '1', ...)."""
    return [mlp_data.class_name(meta, c) for c in range(n_classes)]


def onto_network_classes(weights, meta, n_classes, found):
    """`found` with its test labels numbered as the network at `weights` numbers its classes,
    matched by name when the data names its classes (a test set may lack some of the network's
    classes, and number the rest otherwise); unnamed labels are taken as the network's numbers.
    ValueError naming a test class the network does not have."""
    if found.classes is None or found.y_test is None or mlp.task_of(meta) != "classification":
        return found
    theirs = network_classes(meta, n_classes)
    present = [found.classes[c] for c in np.unique(found.y_test) if c < len(found.classes)]
    unknown = [name for name in present if name not in theirs]
    if unknown:
        listed = ", ".join(repr(n) for n in theirs[:10]) + (", ..." if len(theirs) > 10 else "")
        raise ValueError(
            f"{weights} knows the classes {listed}, not {', '.join(repr(n) for n in unknown[:5])} of the test set; "
            "score it on data of its own classes"
        )
    number = np.array([theirs.index(name) if name in theirs else -1 for name in found.classes], np.int64)
    return found._replace(y_test=number[found.y_test], classes=tuple(theirs))


def regression_evaluated(weights, params, meta, found, n_worst):
    """The JSON-able report of a regression network on the test set `found` holds, in the
    targets' own units (mlp.regression_report): r2, mse, mae, n, the targets' names, and the
    n_worst rows predicted furthest off (index, true, predicted numbers), worst first."""
    x, y = found.x_test, found.y_test.reshape(len(found.y_test), -1)
    if x.shape[1] != params["W1"].shape[0] or y.shape[1] != mlp.sizes_of(params)[-1]:
        raise ValueError(
            f"{weights}: the network takes {params['W1'].shape[0]} features and predicts {mlp.sizes_of(params)[-1]} "
            f"numbers, but the data has {x.shape[1]} and {y.shape[1]}; use the data it was trained on"
        )
    report = mlp.regression_report(
        params, x, y, meta["activation"], n_worst, preprocessing=meta["preprocessing"], targets=meta["targets"]
    )
    worst = [
        {"index": int(i), "true": y[i].tolist(), "predicted": report["predicted"][i].tolist()} for i in report["worst"]
    ]
    fields = {k: report[k] for k in ("r2", "mse", "mae")}
    return {"task": "regression", **fields, "n": len(y), "targets": mlp_data.target_names(meta), "worst": worst}


def classes_as_numbers(weights, y, data):
    """The warning for a regression network scored on a file whose targets look like class
    labels (a few whole numbers: what a table's reader takes as classes), or '' (y: (n, k))."""
    values = np.unique(y)
    if y.shape[1] != 1 or not (values == np.round(values)).all() or len(values) > mlp_tables.CLASS_LIMIT:
        return ""
    shown = ", ".join(f"{v:g}" for v in values[:5]) + (", ..." if len(values) > 5 else "")
    return (
        f"{data}: its targets are {len(values)} whole numbers ({shown}), as class labels are; {weights} predicts "
        "numbers, so they are scored as numbers: evaluate a classifier if they are classes"
    )


def number_at(weights, params, meta, found, index):
    """predict --index N of a regression network, in words: its numbers for test example N of
    `found` and the true ones, a line a target."""
    result = regression_evaluated(weights, params, meta, found, 0)  # checks the network fits the data
    if index >= result["n"]:
        raise ValueError(
            f"--index {index} is out of range: the test set has {result['n']} examples (0 to {result['n'] - 1})"
        )
    row, true = found.x_test[index : index + 1], found.y_test.reshape(result["n"], -1)[index]
    predicted = mlp.predict_values(params, row, meta["activation"], meta["preprocessing"], meta["targets"])[0]
    lines = zip(result["targets"], predicted, true)
    return "\n".join(f"prediction: {n} = {p:.6g} (true {t:.6g}, off by {p - t:+.3g})" for n, p, t in lines)


def check_one_network(weights, meta, **options):
    """BadOption, before any work, for a regression or multilabel network (weights: WEIGHTS... as
    given) asked for an ensemble or for `options` (explain, tta) that are about one class's
    probability per example."""
    given = [f"--{name}" for name, value in options.items() if value]
    if len(weights) > 1 or given:
        refused = " or ".join(given + (["several weights files"] if len(weights) > 1 else []))
        regression = mlp.task_of(meta) == "regression"
        does, takes = ("numbers", "classes") if regression else ("several labels per example", "one class per example")
        raise mlp_run.BadOption(f"{weights[0]} predicts {does}: {refused} is for {takes}; give one weights file")


def label_probabilities(weights, params, meta, x, y=None):
    """(N, k) each label's probability of a multilabel network for x's rows, checked to fit (x:
    its inputs; y: (N, k) 0/1 labels, when scored)."""
    k = mlp.sizes_of(params)[-1]
    if x.shape[1] != params["W1"].shape[0] or (y is not None and (y.ndim != 2 or y.shape[1] != k)):
        got = f"{x.shape[1]} features" + ("" if y is None else f" and {y.shape[1] if y.ndim == 2 else 1} labels")
        raise ValueError(
            f"{weights}: the network takes {params['W1'].shape[0]} features and gives {k} labels, but the data has "
            f"{got}; use data of its columns"
        )
    return mlp.label_probabilities(params, x, meta["activation"], preprocessing=meta["preprocessing"])


def labels_evaluated(weights, params, meta, found):
    """The JSON-able report of a multilabel network on the test set `found` holds
    (mlp_decisions.multilabel_report, at its cuts), with its loss (the binary cross-entropy summed
    over the labels, per example) and its labels' names."""
    x, y = found.x_test, found.y_test
    k = mlp.sizes_of(params)[-1]
    names = network_classes(meta, k)
    if found.classes and list(found.classes) != names:
        raise ValueError(
            f"{weights} gives the labels {', '.join(names)}, but the data's are {', '.join(found.classes)}; "
            "score it on data with its label columns"
        )
    probabilities = label_probabilities(weights, params, meta, x, y)
    report = mlp_decisions.multilabel_report(probabilities, y, names, mlp_decisions.cuts_of(meta, k))
    loss, _ = mlp.evaluate(params, x, y, meta["activation"], preprocessing=meta["preprocessing"], task="multilabel")
    return {**report, "loss": loss, "labels": names}


def labels_at(weights, params, meta, found, index):
    """predict --index N of a multilabel network, in words: a line per label with its probability,
    whether it is given (at the cut) and the truth."""
    x, y = found.x_test, found.y_test
    if index >= len(y):
        raise ValueError(f"--index {index} is out of range: the test set has {len(y)} examples (0 to {len(y) - 1})")
    k = mlp.sizes_of(params)[-1]
    probabilities = label_probabilities(weights, params, meta, x[index : index + 1], y[index : index + 1])[0]
    cuts, names = mlp_decisions.cuts_of(meta, k), network_classes(meta, k)
    said = {True: "yes", False: "no"}
    lines = [
        f"{mlp_data.shown(name)}: {said[bool(p >= c)]} ({p:.3f}; true: {said[bool(t)]})"
        for name, p, c, t in zip(names, probabilities, cuts, y[index])
    ]
    right = bool(((probabilities >= cuts) == (y[index] == 1)).all())
    return "\n".join(lines + [f"every label right: {said[right]}"])


def check_tta(tta, weights, meta, params):
    """Fail in one line, before any work, when --tta is asked of weights that take no square pictures."""
    shape = mlp_pictures.input_of(meta, params)["shape"]
    if tta and not (shape and shape[0] == shape[1]):
        takes = f"pictures of {shape[0]}x{shape[1]}" if shape else "a table's rows"
        raise mlp_run.BadOption(f"--tta distorts square pictures; {weights} takes {takes}")


def uncalibrated_probabilities(members, x):
    """(N, C) the probabilities of x's rows that `members` would give without the temperatures
    fitted when they were trained (eval shows the calibration before and after), or None when
    none has one."""
    if all(mlp.temperature_of(meta) == 1.0 for _, meta in members):
        return None
    return np.exp(mlp_pictures.ensemble_log_proba(mlp_pictures.uncalibrated(members), x))


def ensemble_evaluated(weights, members, found, n_mistakes):
    """(x_test, y_test, report, member accuracies) of an ensemble on the test set `found` holds."""
    for path, (params, _) in zip(weights, members):
        mlp_run.check_fits(path, params, found.x_test, found.y_test)
    report = mlp_pictures.ensemble_report(members, found.x_test, found.y_test, n_mistakes)
    report["true"], report["uncalibrated"] = found.y_test, uncalibrated_probabilities(members, found.x_test)
    own = [
        mlp.evaluate(p, found.x_test, found.y_test, m["activation"], preprocessing=m["preprocessing"])[1]
        for p, m in members
    ]
    return found.x_test, found.y_test, report, own


def evaluated(weights, params, meta, found, n_mistakes):
    """(x_test, y_test, report) for weights on the test set `found` holds: checked to fit,
    scored by mlp.classification_report (one forward pass)."""
    x_test, y_test = found.x_test, found.y_test
    mlp_run.check_fits(weights, params, x_test, y_test)
    report = mlp.classification_report(
        params,
        x_test,
        y_test,
        meta["activation"],
        n_mistakes,
        preprocessing=meta["preprocessing"],
        temperature=mlp.temperature_of(meta),
    )
    report["true"], report["uncalibrated"] = y_test, uncalibrated_probabilities([(params, meta)], x_test)
    return x_test, y_test, report


def read_grey(path):
    """A picture to classify as (h, w) grey levels in [0, 1] (mlp_pictures.read_grey, huge ones
    reduced while decoding), or a one-line error."""
    mlp_run.require("PIL.Image", "image")
    try:
        return mlp_pictures.read_grey(path, reduce=True)
    except ValueError as e:
        raise ValueError(str(e)) from None


def predict_index(weights, members, found, index, views=0):
    """(seen in [0, 1], probabilities, true label) of the test example `index` of `found`."""
    params, meta = members[0]
    mlp_run.check_fits(weights, params, found.x_test, found.y_test)
    if index >= len(found.x_test):
        raise ValueError(
            f"--index {index} is out of range: the test set has {len(found.x_test)} examples (0 to {len(found.x_test) - 1})"
        )
    row = found.x_test[index : index + 1]
    probabilities = np.exp(mlp_pictures.ensemble_log_proba(members, row, views=views))[0]
    return mlp.to_unit(row, meta["preprocessing"])[0], probabilities, int(found.y_test[index])


def picture_paths(inputs):
    """The pictures among INPUT...: files as given, folders searched through (sorted)."""
    paths = []
    for path in inputs:
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix.lower() in mlp_data.PICTURE_SUFFIXES and p.is_file())
        elif not path.is_file():
            raise ValueError(f"{path}: no such file or folder")
        else:
            paths.append(path)
    if not paths:
        raise ValueError(f"no pictures in {', '.join(map(str, inputs))} ({', '.join(mlp_data.PICTURE_SUFFIXES)})")
    return paths


def read_picture(weights, members, path, views=0):
    """(seen, probabilities) of one picture file, as the network (or the ensemble's first
    member, with the probabilities averaged) reads it (mlp.classify_picture)."""
    params, meta = members[0]
    taken = mlp_pictures.input_of(meta, params)
    if mlp.task_of(meta) == "regression":  # a picture is read as classes' probabilities
        raise ValueError(
            f"{weights} predicts numbers (a regression), not classes: predict gives them for the rows of a CSV "
            "or for a test example (--index N)"
        )
    if taken["shape"] is None:
        raise ValueError(
            f"{weights} was trained on a table of {params['W1'].shape[0]} features, not pictures; "
            "give a CSV of rows to predict"
        )
    grey = read_grey(path)
    try:
        seen, probabilities, _ = mlp_pictures.classify_picture(members, grey, views)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return seen, probabilities


def holds_data(path):
    """True for a Keras-style data file (.npz of x_train, y_train, ...), which is not weights."""
    with contextlib.suppress(OSError, zipfile.BadZipFile, NotImplementedError):  # a newer zip version: not data
        with zipfile.ZipFile(path) as z:
            return bool({"x_train.npy", "x_test.npy"} & set(z.namelist()))
    return False


def is_table(path):
    """Whether a path names a table file (.csv, .tsv, .data, or one of them .gz)."""
    return str(path).lower().endswith(mlp_data.TABLE_SUFFIXES)


def table_rows(path, meta, params):
    """(N, n_in) inputs of a table's rows as the network at hand takes them: its columns matched
    by name and encoded as in training (mlp_columns.encode), or, for weights that keep no table
    encoding, the numbers of every column but the label, by position."""
    encoding = (meta.get("input") or {}).get("table")
    if encoding is None:
        label_column = (meta.get("data") or {}).get("label_column")
        return mlp_data.read_csv(path, label_column, n_features=params["W1"].shape[0])[0]
    table = mlp_tables.read_table(path, as_words=mlp_columns.word_columns(encoding))
    return mlp_columns.encode(table, encoding)[0]  # a label column, if the rows have one, is passed over


def predictions_csv(weights, members, inputs, views=0):
    """The predictions for INPUT... as CSV text: Kaggle's submission format (ImageId,Label, ids
    from 1, class names as labels) for a CSV of rows; path,class,probability for pictures."""
    table = io.StringIO()
    rows = csv.writer(table, lineterminator="\n")
    params, meta = members[0]
    if len(inputs) == 1 and is_table(inputs[0]) and inputs[0].is_file():
        x = table_rows(inputs[0], meta, params)
        if x.shape[1] != params["W1"].shape[0]:
            raise ValueError(f"{inputs[0]}: {x.shape[1]} feature columns, but {weights} takes {params['W1'].shape[0]}")
        if mlp.task_of(meta) == "regression":  # Id, then each target by its name, in its own units
            values = mlp.predict_values(params, x, meta["activation"], meta["preprocessing"], meta["targets"])
            rows.writerow(["Id", *mlp_data.target_names(meta)])
            rows.writerows([i, *(f"{v:.9g}" for v in row)] for i, row in enumerate(values, start=1))
            return table.getvalue(), len(values)
        if mlp.task_of(meta) == "multilabel":  # Id, then a column of 0 and 1 per label, by its name
            given = label_probabilities(weights, params, meta, x) >= mlp_decisions.cuts_of(
                meta, mlp.sizes_of(params)[-1]
            )
            rows.writerow(["Id", *network_classes(meta, given.shape[1])])
            rows.writerows([i, *row.astype(int)] for i, row in enumerate(given, start=1))
            return table.getvalue(), len(given)
        probabilities = np.exp(mlp_pictures.ensemble_log_proba(members, x, views=views))
        predicted = mlp_decisions.decided(probabilities, meta if len(members) == 1 else None)
        rows.writerow(["ImageId", "Label"])
        rows.writerows([i, mlp_data.class_name(meta, int(c))] for i, c in enumerate(predicted, start=1))
        return table.getvalue(), len(predicted)
    if any(is_table(p) for p in inputs):
        raise mlp_run.BadOption("give one CSV of rows, or pictures and folders of pictures, not both")
    check_task(weights, meta, "predict on pictures")
    paths = picture_paths(inputs)
    rows.writerow(["path", "class", "probability"])
    for path in paths:
        _, probabilities = read_picture(weights, members, path, views)
        best = int(mlp_decisions.decided(probabilities, meta if len(members) == 1 else None))
        rows.writerow([mlp_data.shown(str(path)), mlp_data.class_name(meta, best), f"{probabilities[best]:.5f}"])
    return table.getvalue(), len(paths)
