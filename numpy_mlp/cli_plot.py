"""The command line's `plot` commands (matplotlib): samples, curves, confusion, reliability,
scatter, mistakes, weights, architecture, sweep, all. They join numpy_mlp.cli's app as its `plot`
group; numpy_mlp.plot draws the figures."""

import json
import re
from pathlib import Path

import typer

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import plot as mlp_plot
from numpy_mlp import run as mlp_run
from numpy_mlp import score as mlp_score
from numpy_mlp import view as mlp_view
from numpy_mlp.cli import (
    ORIGINAL,
    HelpGroup,
    HelpPage,
    app,
    fail,
    load_data,
    saved,
    sweep_module,
    test_set,
    weights_and_data,
)
from numpy_mlp.options import Default, Option

# ----------------------------------------------------------------------------- plot (matplotlib)
plot_app = typer.Typer(
    cls=HelpGroup,
    no_args_is_help=True,
    help=f"Draw pictures of data and models (needs matplotlib: {mlp_run.install_hint('plot')}).",
)

app.add_typer(plot_app, name="plot")


def check_out_dir(out_dir):
    """Make --out-dir if it is missing; fail before any work unless it is a folder that can be
    written in."""
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out-dir {out_dir}: a file, not a folder; choose another --out-dir")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"--out-dir {out_dir}: cannot make the folder ({e.strerror}); choose another --out-dir")
    mlp_run.check_writable(out_dir / "x.png", "--out-dir")


def data_name(data):
    """A file name's stem for the data behind --data: the data set's name, or the file's or
    folder's own ('pictures/' gives 'pictures')."""
    stem = data if data in mlp_data.DATASETS else (Path(data).stem or Path(data).resolve().name)
    return re.sub(r"[^\w.-]+", "-", stem).strip("-.") or "samples"


def image_shape_of(shape, where):
    """`shape` (H, W), or a one-line error: the data or network is a table, with nothing to draw."""
    if shape is None:
        fail(f"{where} holds a table of features, not images: there is nothing to draw")
    return tuple(shape)


@plot_app.command("samples", cls=HelpPage)
def plot_samples(
    *,
    n: Option.plot_samples_n = Default.plot_samples_n,
    data: Option.data = Default.data,
    out: Option.plot_samples_out = Default.plot_samples_out,
):
    """Test images of every class (MNIST's unless --data), with their class names, as their files show them."""
    mlp_plot.pyplot()
    out = out or Path(f"{data_name(data)}.png")
    mlp_run.check_outputs([out], mlp_data.data_files(data))
    found = load_data(data, splits=("test",))
    x, y = found.x_test, found.y_test
    mlp_run.check_classes(data, found, mlp_data.class_count(found))
    shape = image_shape_of(found.shape, data)
    saved(
        mlp_plot.samples_figure(mlp.to_unit(x, mlp.fit_preprocessing(x)), y, n, {"classes": found.classes}, shape), out
    )


def read_history(path):
    """The epoch records of a history file written by train, or a one-line error."""
    if not path.is_file():
        fail(f"{path}: no such history file (train writes it beside the weights)")
    try:
        records = json.loads(path.read_text())
        [r["epoch"] for r in records]
    except (ValueError, KeyError, TypeError):
        fail(f"{path}: not a history file written by train")
    return records


@plot_app.command("curves", cls=HelpPage)
def plot_curves(*, history: Option.history, out: Option.plot_curves_out = Default.plot_curves_out):
    """Training curves: loss and accuracy per epoch."""
    mlp_plot.pyplot()
    if history.suffix == ".npz":  # the weights: their history is beside them, as plot all reads it
        history = mlp_run.beside(history, ".history.json")
    mlp_run.check_outputs([out], [history])
    saved(mlp_plot.curves_figure(read_history(history)), out)


def classified_test_set(weights, data, out, command):
    """(meta, report) of a classifier's weights on its test set (mlp_score.evaluated), for a plot
    command that writes `out`: a regression refused in one line naming `command`."""
    params, meta, data, label_column = weights_and_data(weights, data, [out])
    mlp_score.check_task(weights, meta, command)
    _, _, report = mlp_score.evaluated(weights, params, meta, test_set(data, label_column, meta, weights, params), 0)
    return meta, report


@plot_app.command("confusion", cls=HelpPage)
def plot_confusion(
    *,
    weights: Option.weights,
    data: Option.recorded_data = Default.recorded_data,
    out: Option.plot_confusion_out = Default.plot_confusion_out,
):
    """The test-set confusion matrix as a heat map."""
    mlp_plot.pyplot()
    meta, report = classified_test_set(weights, data, out, "plot confusion")
    saved(mlp_plot.confusion_figure(report["confusion"], meta), out)


def reliability_curves(name, meta, report):
    """[(label, calibration)] of one classifier's test-set report (mlp_score.evaluated's) for the
    reliability diagram: as it predicts, and, when it divides its logits by a fitted temperature,
    without it."""
    calibrated = mlp_score.report_calibration(report, meta)
    if report["uncalibrated"] is None:
        return [(name, calibrated)]
    return [
        (f"{name}, temperature {mlp.temperature_of(meta):.3g}", calibrated),
        (f"{name}, no temperature", mlp_score.report_calibration(report, meta, raw=True)),
    ]


@plot_app.command("reliability", cls=HelpPage)
def plot_reliability(
    *,
    weights: Option.plot_reliability_weights,
    data: Option.recorded_data = Default.recorded_data,
    out: Option.plot_reliability_out = Default.plot_reliability_out,
):
    """Reliability diagram: accuracy against confidence on the test set, in 15 bins with their counts, for one model or several (each with its ECE; weights with a fitted temperature also without it)."""
    mlp_plot.pyplot()
    curves = []
    for path in weights:
        curves += reliability_curves(str(path), *classified_test_set(path, data, out, "plot reliability"))
    saved(mlp_plot.reliability_figure(curves), out)


@plot_app.command("scatter", cls=HelpPage)
def plot_scatter(
    *,
    weights: Option.weights,
    data: Option.recorded_data = Default.recorded_data,
    out: Option.plot_scatter_out = Default.plot_scatter_out,
):
    """A regression's predicted numbers against the true ones on the test set."""
    mlp_plot.pyplot()
    params, meta, data, label_column = weights_and_data(weights, data, [out])
    mlp_score.check_task(weights, meta, "plot scatter", task="regression")
    found = test_set(data, label_column, meta, weights, params)
    saved(mlp_plot.scatter_figure(mlp_score.regression_evaluated(weights, params, meta, found, len(found.y_test))), out)


@plot_app.command("mistakes", cls=HelpPage)
def plot_mistakes(
    *,
    weights: Option.weights,
    n: Option.plot_mistakes_n = Default.plot_mistakes_n,
    data: Option.recorded_data = Default.recorded_data,
    out: Option.plot_mistakes_out = Default.plot_mistakes_out,
):
    """The most confident mistakes on the test set, with true and predicted labels."""
    mlp_plot.pyplot()
    params, meta, data, label_column = weights_and_data(weights, data, [out])
    mlp_score.check_task(weights, meta, "plot mistakes")
    shape = image_shape_of(mlp_pictures.input_of(meta, params)["shape"], weights)  # before any work
    x, _, report = mlp_score.evaluated(weights, params, meta, test_set(data, label_column, meta, weights, params), n)
    saved(mlp_plot.mistakes_figure(x, report, meta, shape), out)


@plot_app.command("weights", cls=HelpPage)
def plot_weights(
    *,
    weights: Option.weights,
    n: Option.plot_weights_n = Default.plot_weights_n,
    out: Option.plot_weights_out = Default.plot_weights_out,
):
    """The first layer's weights, one image per hidden unit (red positive, blue negative)."""
    mlp_plot.pyplot()
    mlp_run.check_outputs([out], [weights])
    params, meta = mlp_run.load_weights(weights)
    saved(
        mlp_plot.weights_figure(params, n, image_shape_of(mlp_pictures.input_of(meta, params)["shape"], weights)), out
    )


@plot_app.command("architecture", cls=HelpPage)
def plot_architecture(*, out_dir: Option.plot_architecture_out_dir = Default.plot_architecture_out_dir):
    """Diagrams of the original's three models (tanh 128, sigmoid 128, relu 128-64)."""
    mlp_plot.pyplot()
    check_out_dir(out_dir)
    for name, (activation, hidden, _) in ORIGINAL.items():
        sizes = [784, *hidden, 10]
        title = f"{name}: {'-'.join(map(str, sizes))}, {activation}"
        saved(mlp_plot.draw_architecture(sizes, activation, title), out_dir / f"{name}.png", "--out-dir")


@plot_app.command("sweep", cls=HelpPage)
def plot_sweep(
    *,
    study: Option.plot_sweep_study = Default.plot_sweep_study,
    storage: Option.storage = Default.storage,
    out: Option.plot_sweep_out = Default.plot_sweep_out,
):
    """A sweep's validation accuracy against each option it searched."""
    mlp_plot.pyplot()
    sweep = sweep_module()
    url, storage_ = sweep.sweep_storage(storage, Path("sweep.npz"), heartbeat=10, must_exist=True)
    names = sweep.study_names(storage_)  # in the order they were made
    if not names:
        fail(f"{sweep.masked(url)} holds no study yet: run a sweep first")
    name = study or names[-1]
    found = sweep.stored_study(storage_, url, name)
    mlp_run.check_outputs([out], [])
    rows = sweep.trial_rows(found)
    if not any(r["value"] is not None and r["state"] in ("complete", "pruned") for r in rows):
        fail(f"study '{name}' has no finished trial to draw yet")
    words = mlp_view.scored_as(found.user_attrs.get("task"))[0]
    saved(mlp_plot.sweep_figure(rows, found.user_attrs["space"], f"Study '{name}': {words}", words), out)


@plot_app.command("all", cls=HelpPage)
def plot_all(
    *,
    weights: Option.weights,
    data: Option.recorded_data = Default.recorded_data,
    out_dir: Option.plot_all_out_dir = Default.plot_all_out_dir,
):
    """Every picture of the README, from one weights file and the history beside it."""
    mlp_plot.pyplot()
    check_out_dir(out_dir)
    params, meta, data, label_column = weights_and_data(weights, data)
    mlp_score.check_task(weights, meta, "plot all")
    samples = data_name(data)
    names = (samples, "curves", "confusion", "reliability", "mistakes", "weights", *ORIGINAL)
    pictures = [out_dir / f"{name}.png" for name in names]
    mlp_run.check_outputs(pictures, [weights, mlp_run.beside(weights, ".history.json"), *mlp_data.data_files(data)])
    shape = image_shape_of(mlp_pictures.input_of(meta, params)["shape"], weights)
    x, y, report = mlp_score.evaluated(
        weights, params, meta, test_set(data, label_column, meta, weights, params), 30
    )  # weights and test set loaded once
    history = mlp_run.beside(weights, ".history.json")
    if not history.is_file():
        fail(f"{history}: no history beside the weights; train writes it")
    records = read_history(history)
    here = lambda name: out_dir / name
    inverted = meta["preprocessing"].get("invert", False)
    units = mlp.to_unit(x, meta["preprocessing"])
    saved(mlp_plot.samples_figure(units, y, 40, meta, shape, inverted), here(f"{samples}.png"), "--out-dir")
    plot_architecture(out_dir=out_dir)
    saved(mlp_plot.curves_figure(records), here("curves.png"), "--out-dir")
    saved(mlp_plot.confusion_figure(report["confusion"], meta), here("confusion.png"), "--out-dir")
    curves = reliability_curves(weights.name, meta, report)
    saved(mlp_plot.reliability_figure(curves), here("reliability.png"), "--out-dir")
    saved(mlp_plot.mistakes_figure(x, report, meta, shape), here("mistakes.png"), "--out-dir")
    saved(mlp_plot.weights_figure(params, 48, shape), here("weights.png"), "--out-dir")
