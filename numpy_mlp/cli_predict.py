"""The command line's commands that put a trained network to use outside training: `predict`
(pictures, a table's rows, one test example, with the reasons), `export` (ONNX) and `draw` (the
local web page). They join numpy_mlp.cli's app, whose shared helpers they use; in the order
`--help` lists them, each with its own helpers just above it."""

import errno

import numpy as np
from rich.table import Table

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import decisions as mlp_decisions
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import plot as mlp_plot
from numpy_mlp import run as mlp_run
from numpy_mlp import score as mlp_score
from numpy_mlp import view as mlp_view
from numpy_mlp.cli import HelpPage, app, data_of, fail, saved, test_set
from numpy_mlp.guard import Stop
from numpy_mlp.options import Default, Option

# ----------------------------------------------------------------------------- predict


@app.command(cls=HelpPage)
def predict(
    *,
    paths: Option.paths,
    index: Option.index = Default.index,
    top: Option.top = Default.top,
    out: Option.predict_out = Default.predict_out,
    data: Option.recorded_data = Default.recorded_data,
    explain: Option.explain = Default.explain,
    tta: Option.tta = Default.tta,
):
    """Classify pictures, the rows of a CSV, or a test example: one is shown with its top probabilities as bars, many are written as CSV."""
    n_weights = next(
        (i for i, p in enumerate(paths) if p.suffix.lower() != ".npz" or mlp_score.holds_data(p)), len(paths)
    )
    weights, inputs = paths[:n_weights], paths[n_weights:]
    if not weights:
        fail(f"{paths[0]}: give the weights (.npz) first, then what to predict", code=2)
    data_files = [p for p in inputs if p.suffix.lower() == ".npz"]
    if data_files:
        fail(
            f"{data_files[0]} holds a data set, not weights or pictures: to score its test set, "
            f"eval {weights[0]} --data {data_files[0]}; for one of its examples, predict {weights[0]} "
            f"--data {data_files[0]} --index N",
            code=2,
        )
    if bool(inputs) == (index is not None):
        fail("give INPUT files (pictures, folders of them, or a CSV) or --index N (one test example)", code=2)
    if out:
        mlp_run.check_writable(out, "--out")
    if explain:
        mlp_plot.check_picture_path(explain, "--explain")  # the extra, the folder and the format, before any work
    members = mlp_run.load_members(weights, multilabel=True)
    params, meta = members[0]
    mlp_run.check_outputs([out, explain], [*weights, *inputs])
    if mlp.task_of(meta) != "classification":
        mlp_score.check_one_network(weights, meta, explain=explain, tta=tta)
    weights = weights[0]  # messages name the first
    if explain and mlp_pictures.input_of(meta, params)["shape"] is None:
        fail(f"--explain draws pictures, and {weights} was trained on a table of features", code=2)
    mlp_score.check_tta(tta, weights, meta, params)
    if index is None and (out or len(inputs) > 1 or not inputs[0].is_file() or mlp_score.is_table(inputs[0])):
        if explain:
            fail("--explain explains one picture (or --index N): give one picture and no --out", code=2)
        text, n = mlp_score.predictions_csv(weights, members, inputs, tta)
        if out:
            mlp_run.write_outputs({out: mlp_run.text_writer(text)})
            mlp_view.console.print(f"wrote {n} predictions to {out}", highlight=False, soft_wrap=True)
        else:
            mlp_view.console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
        return
    label = None
    if index is not None:
        data, label_column = data_of(weights, meta, data)
        found = test_set(data, label_column, meta, weights, params)
        if mlp.task_of(meta) == "regression":  # its numbers for test example N, and the true ones
            return mlp_view.console.print(mlp_score.number_at(weights, params, meta, found, index), markup=False)
        if mlp.task_of(meta) == "multilabel":  # its labels for test example N, and the true ones
            return mlp_view.console.print(mlp_score.labels_at(weights, params, meta, found, index), markup=False)
        seen, probabilities, label = mlp_score.predict_index(weights, members, found, index, tta)
    else:
        seen, probabilities = mlp_score.read_picture(weights, members, inputs[0], tta)
    guess = int(mlp_decisions.decided(probabilities, meta if len(members) == 1 else None))
    shape = mlp_pictures.input_of(meta, params)["shape"]
    if shape:
        mlp_view.console.print(
            mlp_view.digit_art(
                seen, shape, color=mlp_view.console.color_system is not None and not mlp_view.console.no_color
            )
        )
    verdict = (
        ""
        if label is None
        else (" (correct)" if guess == label else f" (wrong: it is {mlp_data.class_name(meta, label)})")
    )
    mlp_view.console.print(f"prediction: {mlp_data.class_name(meta, guess)}{verdict}", markup=False, highlight=False)
    mlp_view.show(mlp_view.probability_bars(probabilities, min(top, len(probabilities)), meta))
    if tta:
        mlp_view.console.print(
            f"probabilities averaged over the picture and {tta} mild distortions of it (--tta {tta})"
        )
    if explain:
        classes = [int(c) for c in np.argsort(-probabilities)[:2]]
        names = [mlp_data.class_name(meta, c) for c in classes]
        titles = [f"why {mlp_plot.shortened(names[0], 14)}", f"why not {mlp_plot.shortened(names[1], 14)}"]
        inverted = bool(meta["preprocessing"].get("invert"))
        gradients = mlp_pictures.explained(members, seen, classes)
        saved(mlp_plot.explanation_figure(seen, gradients, titles, shape, inverted), explain)


# ----------------------------------------------------------------------------- export


@app.command(cls=HelpPage)
def export(*, weights: Option.weights, model: Option.model = Default.model):
    """Export weights as an ONNX model (preprocessing included) for onnxruntime and every ONNX runtime; needs onnx."""
    if model.suffix.lower() != ".onnx":
        fail(f"{model}: an ONNX model is written to a .onnx file; name it {model.with_suffix('.onnx')}", code=2)
    onnx = mlp_run.require("onnx", "onnx")
    from numpy_mlp import export as mlp_onnx

    mlp_run.check_writable(model, "MODEL")
    mlp_run.check_outputs([model], [weights])
    params, meta = mlp_run.load_weights(weights, multilabel=True)
    proto = mlp_onnx.onnx_model(params, meta)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        fail(f"the exported model does not pass onnx.checker ({str(e).splitlines()[0]}); please report it")
    mlp_run.write_outputs({model: lambda f: f.write(proto.SerializeToString())})
    mlp_view.console.print(f"wrote {model}: {mlp_onnx.described(params, meta)}", highlight=False, soft_wrap=True)


# ----------------------------------------------------------------------------- draw (a local web page)
def draw_bench(server, n):
    """Time POST /predict (mlp_draw.time_predictions) and show the latencies."""
    from numpy_mlp import draw as mlp_draw

    size, runs = mlp_draw.time_predictions(server, n)
    table = Table(title=f"POST /predict, a 280 x 280 pad ({size:,} bytes)")
    for header in ("clients", "requests", "median ms", "95th percentile ms", "requests/s"):
        table.add_column(header, justify="right")
    for clients, times, seconds in runs:
        table.add_row(
            str(clients),
            str(len(times)),
            f"{1000 * np.median(times):.2f}",
            f"{1000 * np.percentile(times, 95):.2f}",
            f"{len(times) / seconds:,.0f}",
        )
    mlp_view.show(table)


@app.command(cls=HelpPage)
def draw(
    *,
    weights: Option.draw_weights,
    host: Option.host = Default.host,
    port: Option.port = Default.port,
    no_browser: Option.no_browser = Default.no_browser,
    bench: Option.bench = Default.bench,
):
    """Draw a digit in the browser and watch the network read it (a local web page)."""
    from numpy_mlp import draw as mlp_draw

    members = mlp_run.load_members(weights)
    (params, meta), weights = members[0], weights[0]
    mlp_score.check_task(weights, meta, "draw")
    if not mlp_data.shipped("draw.html").is_file():
        fail(f"the page draw.html is missing (looked for {mlp_data.shipped('draw.html')}); reinstall numpy-mlp")
    if mlp_pictures.input_of(meta, params)["shape"] is None:
        fail(
            f"{weights} was trained on a table of {params['W1'].shape[0]} features, not pictures: there is nothing "
            "to draw"
        )
    try:
        server = mlp_draw.draw_server(members, host, 0 if bench else port)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is in use; choose another --port (or --port 0 for any free one)")
        fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    if bench:
        return draw_bench(server, bench)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_address[1]}/"
    if host not in mlp_draw.LOOPBACK:
        mlp_view.err_console.print(
            f"warning: listening on {host}: anyone who can reach this machine can use the page",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
    mlp_view.console.print(url, highlight=False)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except Stop:  # Ctrl-C, or SIGTERM from a service manager: the normal way to end a server
        mlp_view.err_console.print("stopped", highlight=False)
    finally:
        server.server_close()
