"""The command line's `bench`: the training loop timed against NumPy's matmul floor, and
against PyTorch and scikit-learn run on the same data (numpy_mlp.bench does the timing; this
parses, calls and renders). It joins numpy_mlp.cli's app."""

import dataclasses
import importlib
import importlib.util
import json
import time

import typer

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import options as mlp_options
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run
from numpy_mlp import view as mlp_view
from numpy_mlp.cli import HelpPage, app, fail, given_options, load_data
from numpy_mlp.options import DEFAULTS, Default, Option

# ----------------------------------------------------------------------------- bench


@app.command(cls=HelpPage)
def bench(
    ctx: typer.Context,
    *,
    bench_hidden: Option.bench_hidden = Default.bench_hidden,
    bench_activation: Option.bench_activation = Default.bench_activation,
    batch_size: Option.batch_size = Default.batch_size,
    bench_epochs: Option.bench_epochs = Default.bench_epochs,
    optimizer: Option.optimizer = Default.optimizer,
    lr: Option.lr = Default.lr,
    schedule: Option.schedule = Default.schedule,
    warmup: Option.warmup = Default.warmup,
    dropout: Option.dropout = Default.dropout,
    augment: Option.augment = Default.augment,
    ema: Option.ema = Default.ema,
    dtype: Option.dtype = Default.dtype,
    limit: Option.limit = Default.limit,
    threads: Option.threads = Default.threads,
    data: Option.data = Default.data,
    label_column: Option.label_column = Default.label_column,
    categorical: Option.categorical = Default.categorical,
    ignore: Option.ignore = Default.ignore,
    task: Option.task = Default.task,
    normalize: Option.normalize = Default.normalize,
    torch: Option.torch = Default.torch,
    busy: Option.busy = Default.busy,
    bench_seed: Option.bench_seed = Default.bench_seed,
    sklearn: Option.sklearn = Default.sklearn,
    sklearn_epochs: Option.sklearn_epochs = Default.sklearn_epochs,
    json_path: Option.json_path = Default.json_path,
):
    """Time the training loop against the matrix-product floor, and against the same recipe in PyTorch (--torch)."""
    options = {name: value for name, value in locals().items() if name in mlp_options.BENCH_OPTIONS}  # as given
    from numpy_mlp import bench as mlp_bench

    if json_path:
        mlp_run.check_writable(json_path, "--json")
        mlp_run.check_outputs([json_path], mlp_data.data_files(data))
    if torch and mlp_pictures.AUGMENTATIONS[augment.value].distort is not None:
        fail(f"--torch has no --augment {augment.value} of its own to compare with; leave out one of the two", code=2)
    if torch and ema:
        fail("--torch has no --ema of its own to compare with; leave out one of the two", code=2)
    if torch and importlib.util.find_spec("torch") is None:
        fail(
            "--torch needs PyTorch, never a dependency of this project: its CPU build is enough, "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu"
        )
    if sklearn and importlib.util.find_spec("sklearn") is None:
        fail(f"--sklearn needs scikit-learn (the sklearn extra): {mlp_run.install_hint('sklearn')}")
    if mlp.SCHEDULES[schedule.value].on_validation:
        fail(f"bench has no validation set for the {schedule.value} schedule; choose another --schedule", code=2)
    asked = mlp_run.asked_settings(bench_activation.value, options)
    mlp.check_settings(asked)
    given = given_options(ctx)
    columns = {"categorical": categorical, "ignore": ignore}
    started = time.perf_counter()
    found = load_data(data, label_column=label_column, task=task and task.value, columns=columns)
    data_seconds = time.perf_counter() - started  # reading, and a table's encoding fitted and applied
    if torch and found.task == "regression":
        fail("--torch compares classifiers; leave it out for a regression (--sklearn compares MLPRegressor)", code=2)
    if limit:
        found = found._replace(x_train=found.x_train[:limit], y_train=found.y_train[:limit])
    run = mlp_run.plan(
        asked,
        given=given,
        found=found,
        data=data,
        label_column=label_column,
        hidden=bench_hidden,
        normalize=normalize and normalize.value,
        dtype=dtype.value,
    )
    settings, preprocessing, sizes = run.settings, run.network["preprocessing"], run.network["sizes"]
    if "epochs" not in given and settings.epochs <= DEFAULTS["epochs"]:  # bench's own 3, unless small data needs more
        settings = settings._replace(epochs=asked.epochs)
        run = dataclasses.replace(run, settings=settings, transform=mlp_pictures.distortion(settings, found.shape))
    common = {"limit": limit, "data": found.path, "normalize": preprocessing["kind"], "label_column": label_column}
    common |= {"task": found.task, "columns": columns}
    measured = {"run": run, "x_test": found.x_test}
    # PyTorch's epochs in turn with ours, each of ours divided by the one after it
    spec = torch and {"settings": settings._asdict(), "sizes": sizes, "dtype": dtype.value, **common}
    result = mlp_bench.timed(measured, torch_spec=spec, busy=busy, threads=threads)
    result["data_seconds"], result["inputs"] = data_seconds, mlp_bench.inputs_held(found)
    if sklearn:
        reference = mlp_bench.reference_run(
            "sklearn", {"hidden": bench_hidden, "seed": bench_seed, "max_iter": sklearn_epochs, **common}
        )
        result["sklearn_fit_seconds"] = reference["fit_seconds"]
        result["sklearn_epochs"] = reference["epochs"]
        score = "test_r2" if found.task == "regression" else "test_accuracy"
        result[f"sklearn_{score}"] = reference[score]
    mlp_view.show(mlp_view.bench_table(result, torch, sklearn))
    mlp_view.console.print(mlp_view.bench_notes(result), highlight=False)
    if json_path:
        mlp_run.write_outputs({json_path: mlp_run.text_writer(json.dumps(result, indent=1))})
