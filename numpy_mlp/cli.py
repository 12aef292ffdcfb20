"""Command line for mlp.py: train, evaluate and compare MLPs (classes or numbers) on MNIST or your own data.

    python cli.py train relu --hidden 128 64
    python cli.py eval weights.npz

The command line only (Typer): it parses options, calls the toolkit, and renders. The network
is mlp.py's; data in every form, numpy_mlp/data.py's; pictures, numpy_mlp/pictures.py's; a run's plan,
signals, locks, resuming and output checks, numpy_mlp/run.py's; eval's and predict's decisions,
numpy_mlp/score.py's; the options, numpy_mlp/options.py's, and the help pages, numpy_mlp/help.py's; what is
drawn on the terminal, numpy_mlp/view.py's; figures, numpy_mlp/plot.py's; sweeps, numpy_mlp/sweep.py's; the
draw server, numpy_mlp/draw.py's; ONNX export, numpy_mlp/export.py's; bench's timing, numpy_mlp/bench.py's. Its
rooms, in order:
  app and errors       the Typer app: one-line errors, `--hidden 128 64`
  data and weights     --data (a name or a path) with progress bars, weights' recorded data
  figures              a figure saved, and said
then one room per command, each with its own helpers just above it: train (interrupted runs),
eval, reproduce, summary, gradcheck; then sweep (numpy_mlp/cli_sweep.py), predict, export and draw (numpy_mlp/cli_predict.py), bench
(numpy_mlp/cli_bench.py) and plot (numpy_mlp/cli_plot.py), rooms of their own that add their
commands to this app.
"""

import os
import signal


def stopped_while_starting(signum, frame):
    """Ctrl-C or SIGTERM while the imports below run (a fraction of a second): one line, no traceback."""
    os.write(2, b"interrupted; nothing was done\n")
    os._exit(128 + signum)


handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
for signum in handlers:
    signal.signal(signum, stopped_while_starting)

import contextlib  # noqa: E402 (the handler above covers these imports)
import importlib
import importlib.util
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import decisions as mlp_decisions
from numpy_mlp import guard as mlp_guard
from numpy_mlp import logs as mlp_logs
from numpy_mlp import options as mlp_options
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import plot as mlp_plot
from numpy_mlp import run as mlp_run
from numpy_mlp import score as mlp_score
from numpy_mlp import trackers as mlp_trackers
from numpy_mlp import view as mlp_view
from numpy_mlp.guard import Stop, stop_signals
from numpy_mlp.help import help_page
from numpy_mlp.options import ActivationArgument, Default, Option

for signum, handler in handlers.items():  # imports done: Ctrl-C is KeyboardInterrupt again
    signal.signal(signum, handler)


# ----------------------------------------------------------------------------- app and errors
def print_error(message):
    mlp_view.err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True, style="red")


def fail(message, code=1):
    """Print a one-line error on stderr and exit with `code` (no traceback)."""
    print_error(message)
    raise typer.Exit(code=code)


def expand_variadic(args, options=("--hidden",)):
    """Rewrite `--hidden 128 64` (or `--hidden 128,64`) as `--hidden 128 --hidden 64`, which
    Click understands."""
    out, option, i = [], None, 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return out + list(args[i:])
        if option and re.fullmatch(r"-?\d+(,-?\d+)*", arg):
            out += [part for value in arg.split(",") for part in (option, value)]  # more values of the option
        elif arg in options and i + 1 < len(args) and re.fullmatch(r"-?\d+(,-?\d+)*", args[i + 1]):
            option = arg
        elif arg in options and i + 1 < len(args):
            out += [arg, args[i + 1]]  # not a size: Click says what is wrong with it
            option, i = None, i + 1
        else:
            out.append(arg)
            option = None
        i += 1
    return out


TYPER_WORDS = {  # Typer's (pydantic's) wording of a bad value: what a reader of --help calls it
    "Value error, ": "",
    "Input should be a valid integer, unable to parse string as an integer": "not a whole number",
    "Input should be a valid number, unable to parse string as a number": "not a number",
}


def plain_words(message):
    for words, plain in TYPER_WORDS.items():
        message = message.replace(words, plain)
    return message


class OneLineErrors(typer.core.TyperGroup):
    """Typer group that accepts `--hidden 128 64` and prints usage errors as one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = expand_variadic(sys.argv[1:] if args is None else list(args))
        try:
            with stop_signals() as signals:  # a signal ends any command in one line (train saves a checkpoint first)
                try:
                    rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                except (ValueError, OSError, FloatingPointError):
                    raise  # what went wrong, said below, signal or not
                except Exception:
                    # the Stop a signal raised inside a library's C loop can come out as another
                    # error (NumPy's string functions make it a TypeError): it is still that signal
                    if signals["received"]:
                        raise Stop(signals["received"][0]) from None
                    raise
        except Stop as stop:
            mlp_view.err_console.print(f"interrupted ({stop}); nothing was saved", style="yellow", highlight=False)
            rv = 128 + stop.signum
        except typer.TyperException as e:  # Typer's (vendored Click's) usage errors
            message = " ".join(e.format_message().split())  # Click may wrap a choice list
            if message:  # empty when the help was shown instead (a bare `cli.py`)
                hint = f" (see '{e.ctx.command_path} --help')" if getattr(e, "ctx", None) else ""
                print_error(plain_words(message) + hint)
            rv = e.exit_code
        except typer.Abort:  # Click's word for Ctrl-C outside training
            mlp_view.err_console.print("interrupted; nothing was saved", style="yellow", highlight=False)
            rv = 130
        except mlp_run.BadOption as e:  # a bad option found once the data or weights were read
            print_error(e)
            rv = 2
        except (ValueError, FloatingPointError) as e:  # mlp says what is wrong (or that training diverged)
            print_error(e)
            rv = 1
        except BrokenPipeError:  # the reader left (| head): the end of output, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
            rv = 0
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


class HelpPage(typer.core.TyperCommand):
    def format_help(self, ctx, formatter):
        mlp_view.console.print(help_page(ctx, self), highlight=False)


class HelpGroup(typer.core.TyperGroup):
    def format_help(self, ctx, formatter):
        mlp_view.console.print(help_page(ctx, self), highlight=False)


OneLineErrors.format_help = HelpGroup.format_help


def show_version(value):
    if value:
        mlp_view.console.print(f"numpy-mlp {mlp.__version__}", highlight=False)
        raise typer.Exit()


app = typer.Typer(
    cls=OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Train, evaluate, explain and export NumPy multi-layer perceptrons, on MNIST (shipped), named data "
    "sets, CSV tables, .npz files and folders of pictures.",
)


@app.callback()
def options(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Show the version and exit.")
    ] = False,
):
    """Train, evaluate, explain and export NumPy multi-layer perceptrons, on MNIST (shipped), named
    data sets, CSV tables, .npz files and folders of pictures."""


# ----------------------------------------------------------------------------- data and weights
# A ValueError from mlp (bad data, bad weights file, bad option value) reaches OneLineErrors,
# which prints it as one line; these helpers add only what mlp cannot know (the CLI's words).


def downloading():
    """(on_file, on_download, stop) for mlp_data.resolve: a download's progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    update, stop = mlp_view.lazy_progress(*columns)

    def on_file(stem, url):
        update(0, None, description=f"downloading {url}")
        mlp_view.err_console.print(f"downloading {url}", highlight=False, soft_wrap=True)

    return on_file, update, stop


def load_data(data, splits=("train", "test"), label_column=None, task=None, table=None, columns=None):
    """mlp_run.load_data with progress bars on stderr (a download; pictures decoded, once, then
    read from the cache), and its note on the files it passed over."""
    on_file, on_download, stop_download = downloading()
    bar = (TextColumn("reading pictures"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    on_pictures, stop_decoding = mlp_view.lazy_progress(*bar)
    try:
        found = mlp_run.load_data(
            data,
            splits,
            label_column,
            task=task,
            on_file=on_file,
            on_download=on_download,
            on_pictures=on_pictures,
            table=table,
            columns=columns,
        )
    finally:
        stop_download(), stop_decoding()
    if "other files passed over" in found.test_from:
        mlp_view.err_console.print(
            f"{data}: {found.test_from.split('(')[1].rstrip(')')}", highlight=False, soft_wrap=True
        )
    return found


def data_of(weights, meta, data):
    """(data, label column) of a command on trained weights (mlp_score.recorded_data), the
    data it chose said on stderr."""
    data, label_column, note = mlp_score.recorded_data(weights, meta, data)
    if note:
        mlp_view.err_console.print(note, highlight=False, soft_wrap=True)
    return data, label_column


def test_set(data, label_column, meta, weights, params):
    """The test split of --data, read with its progress bars (load_data), its labels read as the
    weights' `meta` takes them (classes, or a regression's numbers) and its classes numbered as
    the network at `weights` numbers them, matched by name."""
    table = (meta.get("input") or {}).get("table")
    whole_file = mlp_data.source_of(meta.get("data")) != mlp_data.source_of(
        mlp_data.source_record(data, label_column)
    )  # a file the network did not train on is all for testing
    found = load_data(
        data, ("test",), label_column, mlp.task_of(meta), table={"encoding": table, "whole_file": whole_file}
    )
    return mlp_score.onto_network_classes(weights, meta, mlp.sizes_of(params)[-1], found)


# ----------------------------------------------------------------------------- figures


def saved(fig, path, option="--out"):
    """mlp_plot.save_figure, saying what it wrote (and its note on missing glyphs, once)."""
    note = mlp_plot.save_figure(fig, path, option)
    if note:
        mlp_view.err_console.print(note, style="yellow", highlight=False, soft_wrap=True)
    mlp_view.console.print(f"wrote {path}", highlight=False)


# ----------------------------------------------------------------------------- train


def the_same_command():
    """The command line this process was started with, as the user can type it again: `mlp ...`
    for the installed command, `python cli.py ...` for the file (without any --resume)."""
    args = sys.argv[1:]
    if "--resume" in args:  # a checkpoint beside --out is found without it
        del args[args.index("--resume") : args.index("--resume") + 2]
    program = f"python {sys.argv[0]}" if sys.argv[0].endswith(".py") else Path(sys.argv[0]).name.removesuffix(".exe")
    return f"{program} {shlex.join(args)}"


def progress_of(checkpoint):
    """What a checkpoint holds, in words: 'epoch 3', or 'epoch 3 and 120 batches of epoch 4'."""
    done = f"epoch {checkpoint.epoch}"
    return done + (f" and {checkpoint.step} batches of epoch {checkpoint.epoch + 1}" if checkpoint.step else "")


def save_interrupted(checkpoint, path, meta, signum, rows, shown_live):
    """After a stop signal: make sure the last finished epoch's checkpoint is at `path`, leave
    the finished epochs on screen, say how to resume, and exit with 128 + the signal's number
    (130 for Ctrl-C)."""
    name = signal.Signals(signum).name
    if shown_live and rows:  # the live view vanished with the stop: keep the epochs on screen
        mlp_view.show(mlp_view.history_table(rows, title="Training (stopped)"), mlp_view.err_console)
    if checkpoint is None or (checkpoint.epoch == 0 and checkpoint.step == 0):
        mlp_view.err_console.print(
            f"interrupted ({name}) before the first batch finished; nothing was saved", style="yellow", highlight=False
        )
        raise typer.Exit(code=128 + signum)
    try:
        mlp_guard.save_checkpoint(path, checkpoint, meta)
    except OSError as e:
        fail(
            f"interrupted ({name}), and the checkpoint could not be written to {path}: {e.strerror or e}",
            code=128 + signum,
        )
    mlp_view.err_console.print(
        f"interrupted: {progress_of(checkpoint)} saved to {path} on {name}; run the same command "
        f"again to resume: {the_same_command()}",
        highlight=False,
        soft_wrap=True,
        style="yellow",
    )
    raise typer.Exit(code=128 + signum)


def warn_if_not_learning(record, y, settings, normalize):
    """After the epoch mlp judges a run by (mlp.judged_epoch): a line on stderr when the training
    accuracy is no better than always guessing the most common class (mlp.not_learning), with
    what to try in options. mlp's own warning, in library words, is left unsaid."""
    if settings.task != "classification" or record["epoch"] != mlp.judged_epoch(
        len(y), settings.batch_size, settings.epochs
    ):
        return
    stuck, guess = mlp.not_learning(record["accuracy"], y)
    if stuck:
        hint = "try --normalize standard, or a lower --lr" if normalize != "standard" else "try a lower --lr"
        mlp_view.err_console.print(
            f"warning: after epoch {record['epoch']} the training accuracy ({mlp_view.percent(record['accuracy'])}) is no "
            f"better than always guessing the most common class ({mlp_view.percent(guess)}): the network is not learning; {hint}",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )


def say_warning(line):
    """A warning on stderr, for a part of a run that failed while the training goes on."""
    mlp_view.err_console.print(line, style="yellow", highlight=False, soft_wrap=True)


def warn_checkpoint_failed(path):
    """What checkpoint_saver says when a checkpoint cannot be written: once, and training goes on."""
    return lambda e: say_warning(
        f"warning: cannot write the checkpoint {path} ({e.strerror or e}); training goes on, "
        "but a crash now would lose the run"
    )


def given_options(ctx):
    """Which of mlp_run.FITTED the user gave on the command line (the others are chosen from the
    data); bench's own --epochs (bench_epochs) counts as epochs."""
    given = {n for n in ctx.params if ctx.get_parameter_source(n).name not in ("DEFAULT", "DEFAULT_MAP")}
    return {n.removeprefix("bench_") for n in given} & set(mlp_run.FITTED)


def say_defaults(defaults, preprocessing):
    """The one line on stderr that names what was chosen for the user from the data (`defaults`,
    as the weights record it, and the preprocessing's turning over); nothing for MNIST, whose
    defaults are mlp.Settings'."""
    flags = " ".join(
        f"--{k.replace('_', '-')} {f'{v:g}' if isinstance(v, float) else v}" for k, v in defaults["chosen"].items()
    )
    turned = "dark on light, so turned over to light ink on dark, as the network reads them"
    calibrated = defaults.get("calibration") and (
        f"a temperature fitted on the {defaults['calibration']:,} validation examples after training "
        "(--no-calibrate: none)"
    )
    tuned = defaults.get("threshold") and (
        f"a decision threshold tuned for {mlp_decisions.THRESHOLD_METRICS[defaults['threshold']].said} on the "
        "validation examples (--threshold-for none: 0.5)"
    )
    said = "; ".join(filter(None, [flags, preprocessing.get("invert") and turned, calibrated, tuned]))
    columns = f" ({defaults['columns']})" if defaults.get("columns") else ""  # a table's, read as the data says
    if said:
        mlp_view.err_console.print(
            f"{defaults['for']}{columns}: {said} (chosen from the data; an option you give wins)",
            highlight=False,
            soft_wrap=True,
        )


def say_training(plan, activation, y, found, data, checkpoint, resume):
    """The line and the model table that open a run, on stderr."""
    resuming = f", resuming after {progress_of(checkpoint)} from {resume}" if checkpoint else ""
    test_from = found.test_from.split(" (")[0] if "other files" in found.test_from else found.test_from
    mlp_view.err_console.print(
        f"training {'-'.join(map(str, plan['sizes']))} {activation} on {len(y)} "
        f"{'images' if found.shape else 'examples'} from {data}{resuming}; test set: {test_from}",
        highlight=False,
        soft_wrap=True,
    )


def planned(asked, *, data, resume=None, **options):
    """mlp_run.plan, said on stderr as train says it: the memory note, the options chosen from
    the data, the run's first line and its model table."""
    run = mlp_run.plan(asked, data=data, resume=resume, **options)
    for note in run.notes:
        mlp_view.err_console.print(note, highlight=False, soft_wrap=True)
    say_defaults(run.defaults, run.network["preprocessing"])
    say_training(run.network, run.settings.activation, run.y, run.found, data, run.checkpoint, resume)
    summary = mlp_view.summary_table(run.params, run.settings.activation, task=run.settings.task)
    mlp_view.show(summary, mlp_view.err_console)
    return run


@contextlib.contextmanager
def epoch_logger(path, run, test_every):
    """An on_epoch(rows, checkpoint) appending the last record to the --log file at `path` (after
    writing again those a resumed run has done), closed on leaving; one that does nothing without
    --log. A log that cannot be written warns once on stderr, and the training goes on."""
    if not path:
        yield lambda rows, checkpoint: None
        return
    log = mlp_logs.EpochLog(path, mlp_logs.run_keys(run.settings.task, run.validation, test_every), say_warning)
    log.start(run.rows)
    try:
        yield lambda rows, checkpoint: log.add(rows[-1])
    finally:
        log.close()


def check_trackers(tensorboard, mlflow):
    """The trackers asked for, ["tensorboard", "mlflow"] or fewer, each refused in one line naming
    its install command when its extra is missing. `mlflow`: --mlflow's value (None: not given)."""
    wanted = [name for name, on in (("tensorboard", tensorboard), ("mlflow", mlflow)) if on]
    for extra in mlp_trackers.missing_extras(wanted):
        fail(f"--{extra} needs {mlp_run.EXTRAS[extra]} (the {extra} extra): {mlp_run.install_hint(extra)}")
    return wanted


def run_params(run, data):
    """What MLflow records of a run as its params: the settings it trains with (those given and
    those chosen from the data), the layer sizes, the data and its number of training examples."""
    sizes = "-".join(map(str, run.network["sizes"]))
    return {**run.settings._asdict(), "sizes": sizes, "data": data, "train_examples": len(run.x)}


def run_trackers(wanted, run, *, data, tensorboard, experiment, resume):
    """The trackers (numpy_mlp.trackers) of a planned run that `wanted` names."""
    trackers = [mlp_trackers.TensorBoard(tensorboard)] if "tensorboard" in wanted else []
    if "mlflow" in wanted:
        tags = {"numpy_mlp.command": shlex.join(sys.argv)} | ({"numpy_mlp.resumed_from": str(resume)} if resume else {})
        params = run_params(run, data)
        name = f"{run.settings.activation} {params['sizes']}"
        experiment = mlp_trackers.experiment_name(experiment, os.environ)
        figures = mlp_plot.run_figures if importlib.util.find_spec("matplotlib") else None  # mlflow-skinny lacks it
        trackers.append(
            mlp_trackers.MLflow(experiment=experiment, run_name=name, params=params, tags=tags, figures=figures)
        )
    return trackers


def in_turn(*callbacks):
    """One callback that calls each of `callbacks` with the same arguments, in order."""

    def each(*args):
        for callback in callbacks:
            callback(*args)

    return each


def run_products(run, test_every):
    """mlp_run.run_products of a planned run: its training batches, and the validation and test
    sets it scores."""
    scored = [len(run.validation[0]) if run.validation else 0, len(run.found.x_test) if test_every else 0]
    return mlp_run.run_products(
        run.network["sizes"], run.settings.batch_size, len(run.x), scored, run.params["W1"].dtype
    )


def checkpoint_keepers(run, latest, path, every):
    """(on_checkpoint(rows, checkpoint), on_step(checkpoint)) for mlp_run.execute: after every epoch
    the checkpoint is saved (and the judged epoch checked for learning); after every batch it is kept
    for a stop signal to save, and saved every `every` seconds of a long epoch. `latest` holds what a
    stop signal saves."""
    save = mlp_guard.checkpoint_saver(path, run.meta, warn_checkpoint_failed(path))
    saved = {"at": time.perf_counter()}

    def on_checkpoint(rows, checkpoint):
        latest.update(checkpoint=checkpoint, rows=rows)
        save(checkpoint, rows)
        saved["at"] = time.perf_counter()
        warn_if_not_learning(rows[-1], run.y, run.settings, run.network["preprocessing"]["kind"])

    def on_step(checkpoint):
        latest["checkpoint"] = checkpoint
        if every and time.perf_counter() - saved["at"] >= every:
            save(checkpoint, latest["rows"])
            saved["at"] = time.perf_counter()

    return on_checkpoint, on_step


def why_stopped(history, settings, defaults):
    """Why the run ended, in words: all its epochs ran (as many as chosen for the data), or
    --patience stopped it."""
    last = history[-1]
    if last.get("stopped") == "patience":
        return (
            f"stopped after epoch {last['epoch']} of {settings.epochs}: no better validation "
            f"{'loss' if settings.task == 'regression' else 'accuracy'} "
            f"in {settings.patience} epochs (--patience)"
        )
    if "epochs" in defaults["chosen"]:
        form = "big table" if "patience" in defaults["chosen"] else "table"  # only a big table's patience is chosen
        return (
            f"ran {settings.epochs} epochs, chosen for {defaults['for']} (a run aims at "
            f"{mlp_run.STEPS_FOR[settings.task]:,} steps of {settings.batch_size}, in at most {mlp_run.MAX_FITTED_EPOCHS} epochs"
            f"{f', a {form} in {mlp_run.MIN_FITTED_EPOCHS[form]} at least' if defaults['for'].startswith('a table') else ''})"
        )
    return f"ran all {settings.epochs} epochs" if settings.epochs > 1 else "ran its one epoch"


def say_trained(history, meta, settings, validation, out, history_path):
    """The epochs table and the closing lines, on stdout."""
    mlp_view.show(mlp_view.history_table(history))
    if validation:
        kept = history[-1]["best_epoch"]
        best = mlp_view.score_words(history[kept - 1], "val", settings.task)
        mlp_view.console.print(f"kept the weights of epoch {kept} (best validation {best})", highlight=False)
    if "calibration" in meta:
        before, after = meta["calibration"]["validation_nll"]
        mlp_view.console.print(
            f"temperature {meta['temperature']:.4g}, fitted on the {meta['calibration']['examples']:,} validation "
            f"examples: their loss (NLL) {before:.4f} -> {after:.4f}; eval shows the calibration it gives",
            highlight=False,
            soft_wrap=True,
        )
    if "threshold" in meta:
        tuned = meta["threshold"]
        cuts = ", ".join(f"{c:.3g}" for c in tuned["cuts"])
        mlp_view.console.print(
            f"decision threshold {cuts}, tuned for {tuned['metric']} on the {tuned['examples']:,} validation examples: "
            f"{tuned['metric']} {tuned['validation']['at_half']:.4f} at 0.5 -> {tuned['validation']['tuned']:.4f}",
            highlight=False,
            soft_wrap=True,
        )
    mlp_view.console.print(
        f"{why_stopped(history, settings, meta['defaults'])}; "
        f"test {mlp_view.score_words(meta, 'test', settings.task)}, loss {meta['test_loss']:.4f}; "
        f"weights saved to {out}, history to {history_path}",
        highlight=False,
        soft_wrap=True,
    )


@app.command(cls=HelpPage)
def train(
    ctx: typer.Context,
    activation: ActivationArgument,
    *,
    hidden: Option.hidden = Default.hidden,
    epochs: Option.epochs = Default.epochs,
    batch_size: Option.batch_size = Default.batch_size,
    lr: Option.lr = Default.lr,
    momentum: Option.momentum = Default.momentum,
    optimizer: Option.optimizer = Default.optimizer,
    weight_decay: Option.weight_decay = Default.weight_decay,
    dropout: Option.dropout = Default.dropout,
    clip: Option.clip = Default.clip,
    label_smoothing: Option.label_smoothing = Default.label_smoothing,
    schedule: Option.schedule = Default.schedule,
    warmup: Option.warmup = Default.warmup,
    val: Option.val = Default.val,
    patience: Option.patience = Default.patience,
    calibrate: Option.calibrate = Default.calibrate,
    threshold_for: Option.threshold_for = Default.threshold_for,
    augment: Option.augment = Default.augment,
    augment_end: Option.augment_end = Default.augment_end,
    ema: Option.ema = Default.ema,
    seed: Option.seed = Default.seed,
    threads: Option.threads = Default.threads,
    normalize: Option.normalize = Default.normalize,
    deslant: Option.deslant = Default.deslant,
    width: Option.width = Default.width,
    dtype: Option.dtype = Default.dtype,
    out: Option.out = Default.out,
    resume: Option.resume = Default.resume,
    data: Option.data = Default.data,
    label_column: Option.label_column = Default.label_column,
    categorical: Option.categorical = Default.categorical,
    ignore: Option.ignore = Default.ignore,
    task: Option.task = Default.task,
    checkpoint_every: Option.checkpoint_every = Default.checkpoint_every,
    test_every: Option.test_every = Default.test_every,
    init: Option.init = Default.init,
    class_weight: Option.class_weight = Default.class_weight,
    log: Option.log = Default.log,
    tensorboard: Option.tensorboard = Default.tensorboard,
    mlflow: Option.mlflow = Default.mlflow,
    mlflow_experiment: Option.mlflow_experiment = Default.mlflow_experiment,
):
    """Train an MLP (classes, or numbers: a regression) and save its weights (a checkpoint after every epoch: run the command again to resume)."""
    options = {name: value for name, value in locals().items() if name in mlp_options.TRAIN_OPTIONS}  # as given
    out, history_path, checkpoint_path, lock_path = mlp_run.train_paths(out)
    if log:
        try:
            mlp_logs.log_form(log)  # the form, then the folder, before any work
        except ValueError as e:
            fail(str(e), code=2)
        mlp_run.check_writable(log, "--log")
    tracked = check_trackers(tensorboard, mlp_trackers.mlflow_wanted(mlflow, os.environ))
    mlp_run.check_outputs(
        [out, history_path, checkpoint_path, log], [*mlp_data.data_files(data), resume, init], same_run=checkpoint_path
    )
    asked = mlp_run.asked_settings(activation.value, options)
    settings = mlp.check_settings(asked)  # as asked; the options not given are chosen once the data is read
    given = given_options(ctx)
    mlp_run.check_validation_needs(settings, val)
    latest = {"checkpoint": None, "rows": [], "meta": {}}
    with (
        mlp_guard.one_run_per_output(lock_path, out),
        stop_signals() as signals,
        contextlib.ExitStack() as watched,  # the trackers, told the run's end once its outputs are written
    ):  # a stop signal saves what can be saved
        mlp_data.remove_orphans(str(out.parent))  # temp files of a run killed while saving
        if resume is None and checkpoint_path.is_file():  # an unfinished run of this --out: continue it
            resume = checkpoint_path
        watch = mlp_trackers.Watch([])  # the trackers', once the run is planned
        try:
            run = planned(
                asked,
                found=load_data(
                    data,
                    label_column=label_column,
                    task=task and task.value,
                    columns={"categorical": categorical, "ignore": ignore},
                ),
                given=given,
                data=data,
                label_column=label_column,
                val=val,
                hidden=hidden,
                normalize=normalize and normalize.value,
                init=init,
                dtype=dtype.value,
                resume=resume,
                class_weight=class_weight.value,
                straighten={"deslant": deslant, "width": width},
                calibrate=calibrate,
                threshold_for=threshold_for and threshold_for.value,
            )
            settings = run.settings
            trackers = run_trackers(
                tracked, run, data=data, tensorboard=tensorboard, experiment=mlflow_experiment, resume=resume
            )
            watch = watched.enter_context(mlp_trackers.watching(trackers, run.rows, say_warning))
            latest.update(checkpoint=run.checkpoint, rows=run.rows, meta=run.meta)
            on_checkpoint, on_step = checkpoint_keepers(run, latest, checkpoint_path, checkpoint_every)
            show = mlp_view.live_view()
            with (
                mlp_run.steering(threads, products=run_products(run, test_every)) as steer,
                epoch_logger(log, run, test_every) as on_log,
                mlp_view.training_view(settings, len(run.x), run.rows, show_progress=show, steer=steer) as shown,
            ):
                tracked_epoch = lambda rows, checkpoint: watch.epoch(rows[-1])
                kept_and_shown = shown._replace(
                    on_step=on_step, on_epoch=in_turn(on_checkpoint, on_log, tracked_epoch, shown.on_epoch)
                )  # checkpoint first: a log line never runs ahead of what a resumed run would find
                params, history = mlp_run.execute(run, kept_and_shown, test_every=test_every)
            signals["disarm"]()  # from here on the weights are saved whatever arrives
        except FloatingPointError as e:
            watch.failed()
            fail(f"{e}; nothing was saved")
        except Stop as stop:
            save_interrupted(
                latest["checkpoint"],
                checkpoint_path,
                {**latest["meta"], "rows": latest["rows"]},
                stop.signum,
                latest["rows"],
                mlp_view.live_view(),
            )
        meta, history = mlp_run.weights_meta(history, run, params, init=init)
        kept = (
            f", and the run is kept in {checkpoint_path}: run the same command again to save it"
            if checkpoint_path.is_file()
            else ""
        )
        remade = mlp_run.write_outputs(
            {out: mlp.weights_writer(params, meta), history_path: mlp_run.text_writer(json.dumps(history, indent=1))},
            kept,
            remake_folders=True,
        )
        watch.finished(params, [out, history_path])
        for folder in remade:
            mlp_view.err_console.print(
                f"warning: the folder {folder} was removed during the run; made it again to save the run in it",
                style="yellow",
                highlight=False,
                soft_wrap=True,
            )
        with contextlib.suppress(FileNotFoundError):
            checkpoint_path.unlink()  # the run is finished: nothing left to resume
        if not signals["received"]:  # said while a signal is still only recorded: it cannot say "nothing saved"
            say_trained(history, meta, settings, run.validation, out, history_path)
    if signals["received"]:
        name = signal.Signals(signals["received"][0]).name
        mlp_view.err_console.print(
            f"{name} arrived after training, whose end was saved: weights saved to {out}, history to {history_path}",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=128 + signals["received"][0])


# ----------------------------------------------------------------------------- the sweep extra


def sweep_module():
    """numpy_mlp.sweep, once Optuna is found installed (else one line naming the extra): for
    `sweep` (numpy_mlp/cli_sweep.py) and `plot sweep`."""
    mlp_run.require("optuna", "sweep")
    from numpy_mlp import sweep as mlp_sweep

    mlp_sweep.quiet_optuna()
    return mlp_sweep


# ----------------------------------------------------------------------------- eval


def weights_and_data(weights, data, outputs=()):
    """(params, meta, data, label column) for a command on trained weights: the weights loaded,
    the data resolved (--data, else what they were trained on), and `outputs` checked not to
    be any of the files read, before any work."""
    params, meta = mlp_run.load_weights(weights)
    data, label_column = data_of(weights, meta, data)
    mlp_run.check_outputs([o for o in outputs if o is not None], [weights, *mlp_data.data_files(data)])
    return params, meta, data, label_column


def evaluate_numbers(weights, members, data, n_worst, json_path, tta):
    """eval of a regression network: R², MSE and MAE on the test set, in the targets' units,
    and the rows predicted furthest off."""
    mlp_score.check_one_network(weights, members[0][1], tta=tta)
    (params, meta), weights = members[0], weights[0]
    data, label_column = data_of(weights, meta, data)
    mlp_run.check_outputs([json_path], [weights, *mlp_data.data_files(data)])
    found = test_set(data, label_column, meta, weights, params)
    result = mlp_score.regression_evaluated(weights, params, meta, found, n_worst)
    if mlp_data.source_of(meta.get("data")) != mlp_data.source_of(mlp_data.source_record(data, label_column)):
        warned = mlp_score.classes_as_numbers(weights, found.y_test.reshape(len(found.y_test), -1), data)
        if warned:  # its own training file's targets are what it was trained on
            mlp_view.err_console.print(warned, style="yellow", highlight=False, soft_wrap=True)
    if json_path:  # the file first: the printing below may stop at a closed pipe (| head)
        mlp_run.write_outputs({json_path: mlp_run.text_writer(json.dumps(result, indent=1))})
    network = f"{weights}: {'-'.join(map(str, mlp.sizes_of(params)))} {meta['activation']}, regression"
    for table in mlp_view.regression_tables(result, network):
        mlp_view.show(table)


def evaluate_labels(weights, members, data, json_path, tta):
    """eval of a network of several labels per example: subset accuracy, Hamming loss, micro and
    macro F1, and each label's precision, recall, F1, ROC-AUC and PR-AUC."""
    mlp_score.check_one_network(weights, members[0][1], tta=tta)
    (params, meta), weights = members[0], weights[0]
    data, label_column = data_of(weights, meta, data)
    mlp_run.check_outputs([json_path], [weights, *mlp_data.data_files(data)])
    found = test_set(data, label_column, meta, weights, params)
    result = mlp_score.labels_evaluated(weights, params, meta, found)
    if json_path:  # the file first: the printing below may stop at a closed pipe (| head)
        mlp_run.write_outputs({json_path: mlp_run.text_writer(json.dumps(result, indent=1))})
    network = f"{weights}: {'-'.join(map(str, mlp.sizes_of(params)))} {meta['activation']}, a sigmoid per label"
    for table in mlp_view.label_tables(result, network):
        mlp_view.show(table)


@app.command("eval", cls=HelpPage)
def evaluate(
    *,
    weights: Option.evaluate_weights,
    data: Option.recorded_data = Default.recorded_data,
    mistakes: Option.mistakes = Default.mistakes,
    tta: Option.tta = Default.tta,
    json_path: Option.json_path = Default.json_path,
):
    """Score saved weights (or an ensemble of them) on the test set: accuracy, loss, confusion matrix, per-class precision/recall/F1, confident mistakes."""
    if json_path:
        mlp_run.check_writable(json_path, "--json")
    members = mlp_run.load_members(weights, multilabel=True)
    (params, meta), own = members[0], None
    if mlp.task_of(meta) == "regression":
        return evaluate_numbers(weights, members, data, mistakes, json_path, tta)
    if mlp.task_of(meta) == "multilabel":
        return evaluate_labels(weights, members, data, json_path, tta)
    mlp_score.check_tta(tta, weights[0], meta, params)
    data, label_column = data_of(weights[0], meta, data)
    mlp_run.check_outputs([json_path], [*weights, *mlp_data.data_files(data)])
    if len(members) == 1:
        x_test, y_test, report = mlp_score.evaluated(
            weights[0], params, meta, test_set(data, label_column, meta, weights[0], params), mistakes
        )
    else:
        found = test_set(data, label_column, meta, weights[0], params)
        x_test, y_test, report, own = mlp_score.ensemble_evaluated(weights, members, found, mistakes)
    tuned = "threshold" in meta and not own  # an ensemble's members' cuts are their own: it says yes at 0.5
    result = mlp_score.report_json(report, len(y_test), meta, cut=meta["threshold"]["cuts"][0] if tuned else None)
    temperatures = [mlp.temperature_of(m) for _, m in members]
    if own:
        result["members"] = [
            {"weights": str(w), "accuracy": a, "temperature": t} for w, a, t in zip(weights, own, temperatures)
        ]
    else:
        result["temperature"] = temperatures[0]
    if tta:
        augmented = mlp_pictures.ensemble_report(members, x_test, y_test, 0, views=tta)
        result["tta"] = {"views": tta, "accuracy": augmented["accuracy"], "loss": augmented["loss"]}
    if json_path:  # the file first: the printing below may stop at a closed pipe (| head)
        mlp_run.write_outputs({json_path: mlp_run.text_writer(json.dumps(result, indent=1))})
    name = (
        f"{weights[0]}: {'-'.join(map(str, mlp.sizes_of(params)))} {meta['activation']}"
        if not own
        else f"an ensemble of {len(own)}"
    )
    counted = "images" if mlp_pictures.input_of(meta, params)["shape"] else "examples"  # a table's rows are examples
    mlp_view.show(mlp_view.scores_table(result, name, counted, temperatures))
    if tta:
        tested = Table(
            title=f"With test-time augmentation: each of the {counted} and {tta} distortions of it, averaged"
        )
        for header in ("test accuracy", "loss", "plain accuracy"):
            tested.add_column(header, justify="right")
        tested.add_row(
            mlp_view.percent(result["tta"]["accuracy"]),
            f"{result['tta']['loss']:.4f}",
            mlp_view.percent(result["accuracy"]),
        )
        mlp_view.show(tested)
    if own:
        each = Table(title="Members")
        for header in ("weights", "network", "test accuracy"):
            each.add_column(header, justify="right")
        for path, (p, m), accuracy in zip(weights, members, own):
            each.add_row(
                mlp_view.literal(path),
                f"{'-'.join(map(str, mlp.sizes_of(p)))} {m['activation']}",
                mlp_view.percent(accuracy),
            )
        mlp_view.show(each)
    if "binary" in result:
        mlp_view.show(mlp_view.decisions_table(result["binary"]))
    mlp_view.show(mlp_view.confusion_table(result["confusion"], result["classes"]))
    per_class, class_ece = Table(title="Per class"), result["calibration"]["class_ece"]
    for header in ("class", "precision", "recall", "F1", *(["ECE"] if class_ece else []), counted):
        per_class.add_column(header, justify="right")
    for r in result["per_class"]:
        per_class.add_row(
            mlp_view.literal(r["name"]),
            mlp_view.percent(r["precision"]),
            mlp_view.percent(r["recall"]),
            mlp_view.percent(r["f1"]),
            *([mlp_view.percent(class_ece[r["name"]])] if class_ece else []),
            str(r["support"]),
        )
    mlp_view.show(per_class)
    if result["absent"]:  # the network's classes this test set lacks: scored as they are, said
        absent = ", ".join(result["absent"])
        mlp_view.console.print(f"not in this test set: {absent} (no recall; any prediction of them is a mistake)")
    if result["mistakes"]:
        wrong = Table(title="Most confident mistakes")
        for header in ("index", "true", "predicted", "confidence"):
            wrong.add_column(header, justify="right")
        for m in result["mistakes"]:
            wrong.add_row(
                str(m["index"]),
                mlp_view.literal(m["true_name"]),
                mlp_view.literal(m["predicted_name"]),
                mlp_view.percent(m["confidence"]),
            )
        mlp_view.show(wrong)


# ----------------------------------------------------------------------------- reproduce
ORIGINAL = {  # the original work's three models and reported test accuracy (%)
    "model-1": ("tanh", [128], 85.81),
    "model-2": ("sigmoid", [128], 87.25),
    "model-3": ("relu", [128, 64], 96.49),
}

ORIGINAL_SETTINGS = {"lr": 0.01, "momentum": 1e-3, "batch_size": 128, "schedule": "constant"}  # and 10 epochs


@app.command(cls=HelpPage)
def reproduce(
    *,
    epochs: Option.reproduce_epochs = Default.reproduce_epochs,
    seed: Option.reproduce_seed = Default.reproduce_seed,
    data: Option.data = Default.data,
    json_path: Option.json_path = Default.json_path,
):
    """Train the original's three models with its settings and with ours, and compare."""
    if json_path:
        mlp_run.check_writable(json_path, "--json")
        mlp_run.check_outputs([json_path], mlp_data.data_files(data))
    found = load_data(data)
    given, framings = set(mlp_run.FITTED), {}  # its settings and ours as they are: none chosen from the data
    rows = []
    for activation, hidden, reported in ORIGINAL.values():
        name = f"{activation} {'-'.join(map(str, hidden))}"
        row = {"model": name, "original_reported": reported / 100}
        for label, options in (("original_settings", ORIGINAL_SETTINGS), ("our_defaults", {})):
            asked = mlp.Settings(activation=activation, epochs=epochs, seed=seed, **options)
            run = mlp_run.plan(
                asked, given=given, found=found, data=data, hidden=hidden, normalize="range", framings=framings
            )
            mlp_view.err_console.print(f"{name}, {label.replace('_', ' ')} ...", highlight=False)
            params, _ = mlp_run.execute(run)
            scaling = run.network["preprocessing"]
            row[label] = mlp.evaluate(params, found.x_test, found.y_test, activation, preprocessing=scaling)[1]
        rows.append(row)
    table = Table(title=f"Test accuracy after {epochs} epochs (seed {seed})")
    for header in ("model", "original (reported)", "ours, its settings", "ours, our defaults"):
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(
            r["model"],
            mlp_view.percent(r["original_reported"]),
            mlp_view.percent(r["original_settings"]),
            mlp_view.percent(r["our_defaults"]),
        )
    mlp_view.show(table)
    describe = lambda s: f"lr {s.lr:g} ({s.schedule}), momentum {s.momentum:g}, batch {s.batch_size}"
    theirs, ours = (
        mlp.check_settings(mlp.Settings(activation="relu", **options)) for options in (ORIGINAL_SETTINGS, {})
    )
    mlp_view.console.print(f"its settings: {describe(theirs)}\nour defaults: {describe(ours)}", highlight=False)
    if json_path:
        mlp_run.write_outputs(
            {json_path: mlp_run.text_writer(json.dumps({"epochs": epochs, "seed": seed, "rows": rows}, indent=1))}
        )


# ----------------------------------------------------------------------------- summary


@app.command(cls=HelpPage)
def summary(*, weights: Option.weights):
    """Show a model's layers, shapes, activation and parameter counts, and a table model's columns and how each is encoded."""
    params, meta = mlp_run.load_weights(weights, multilabel=True)
    mlp_view.show(mlp_view.summary_table(params, meta["activation"], title=f"{weights}", task=mlp.task_of(meta)))
    encoding = (meta.get("input") or {}).get("table")
    if encoding:  # a table's columns and what the network gets of each
        from numpy_mlp import columns as mlp_columns

        mlp_view.show(mlp_view.columns_table(mlp_columns.encoding_rows(encoding)))
    if "test_accuracy" in meta:
        said = mlp_view.score_words(meta, "test", mlp.task_of(meta))
        mlp_view.console.print(f"test {said} when saved", highlight=False)
    if "temperature" in meta:  # its probabilities divide the logits by it
        mlp_view.console.print(
            f"temperature {meta['temperature']:.4g}: the logits are divided by it before the softmax", highlight=False
        )
    if "test_r2" in meta:
        names = ", ".join(mlp_data.target_names(meta))
        mlp_view.console.print(f"a regression of {names}; test R² when saved: {meta['test_r2']:.4f}", highlight=False)


# ----------------------------------------------------------------------------- gradcheck


@app.command(cls=HelpPage)
def gradcheck(
    *,
    activation: Option.activation,
    hidden: Option.gradcheck_hidden = Default.gradcheck_hidden,
    inputs: Option.inputs = Default.inputs,
    classes: Option.classes = Default.classes,
    batch: Option.batch = Default.batch,
    dropout: Option.gradcheck_dropout = Default.gradcheck_dropout,
    label_smoothing: Option.gradcheck_label_smoothing = Default.gradcheck_label_smoothing,
    task: Option.gradcheck_task = Default.gradcheck_task,
    seed: Option.gradcheck_seed = Default.gradcheck_seed,
    rtol: Option.rtol = Default.rtol,
    atol: Option.atol = Default.atol,
    json_path: Option.json_path = Default.json_path,
):
    """Check mlp.py's backward pass against finite differences on a small float64 network (exit 1 if wrong)."""
    if json_path:
        mlp_run.check_writable(json_path, "--json")
    if task.value == "regression" and label_smoothing:
        fail("--label-smoothing smooths classes; leave it out with --task regression", code=2)
    rng = np.random.default_rng(seed)
    sizes = [inputs, *hidden, classes]
    params = mlp.init(sizes, activation.value, seed=rng, dtype=np.float64)
    # Small random biases: with zero biases a unit dropped or dead for a whole example sits
    # exactly on relu's kink (z = 0), where gradcheck has to leave the entry out.
    params = {k: p + 0.1 * rng.standard_normal(p.shape) if k[0] == "b" else p for k, p in params.items()}
    x = rng.standard_normal((batch, inputs))
    y = rng.standard_normal((batch, classes)) if task.value == "regression" else rng.integers(0, classes, batch)
    errors = mlp.gradcheck(
        params,
        x,
        y,
        activation.value,
        dropout=dropout,
        label_smoothing=label_smoothing,
        seed=seed,
        rtol=rtol,
        atol=atol,
        task=task.value,
    )
    worst = max(errors, key=lambda k: errors[k].of_tolerance)
    passed = errors[worst].of_tolerance <= 1
    kinks = any(e.at_kink for e in errors.values())  # a column only when there are any
    of = ", regression" if task.value == "regression" else ""
    table = Table(title=f"Gradient check, {'-'.join(map(str, sizes))} {activation.value}{of}, batch {batch}")
    for header in ("parameter", "shape", "max |a - n|", "relative", "of tolerance", *(["at a kink"] * kinks), ""):
        table.add_column(header, justify="right")
    for key, e in errors.items():
        table.add_row(
            key,
            " x ".join(map(str, params[key].shape)),
            f"{e.abs_error:.2e}",
            f"{e.relative_error:.2e}",
            f"{e.of_tolerance:.2e}",
            *([str(e.at_kink)] * kinks),
            "[green]ok[/]" if e.of_tolerance <= 1 else "[red]too large[/]",
        )
    mlp_view.show(table)
    criterion = f"|analytic - numeric| <= {atol:g} + {rtol:g} x |numeric|"
    if json_path:
        mlp_run.write_outputs(
            {
                json_path: mlp_run.text_writer(
                    json.dumps(
                        {
                            "activation": activation.value,
                            "sizes": sizes,
                            "batch": batch,
                            "dropout": dropout,
                            "label_smoothing": label_smoothing,
                            "task": task.value,
                            "seed": seed,
                            "rtol": rtol,
                            "atol": atol,
                            "criterion": "|analytic - numeric| <= atol + rtol * |numeric|, entry by entry",
                            "errors": {k: e._asdict() for k, e in errors.items()},
                            "max_of_tolerance": errors[worst].of_tolerance,
                            "max_relative_error": max(e.relative_error for e in errors.values()),
                            "passed": passed,
                        },
                        indent=1,
                    )
                )
            }
        )
    if not passed:
        fail(
            f"gradient check failed: in {worst}, a gradient misses {criterion} by a factor of "
            f"{errors[worst].of_tolerance:.3g}; the backward pass (grads) disagrees with the loss"
        )
    mlp_view.console.print(
        f"passed: {criterion} for every gradient (the worst uses "
        f"{100 * errors[worst].of_tolerance:.2g}% of its tolerance)",
        highlight=False,
    )


# ----------------------------------------------------------------------------- the other commands
# sweep, predict, export, draw, bench and plot live in rooms of their own, which add them to `app`;
# `--help` lists the commands in this order (the plot group after them).
COMMAND_ORDER = ("train", "sweep", "eval", "reproduce", "summary", "gradcheck", "predict", "export", "draw", "bench")
for room in ("cli_sweep", "cli_predict", "cli_bench", "cli_plot"):
    importlib.import_module(f"numpy_mlp.{room}")
app.registered_commands.sort(key=lambda info: COMMAND_ORDER.index(info.name or info.callback.__name__))


# ----------------------------------------------------------------------------- entry point
def main():
    """The `mlp` command: a terminal that cannot show a character (an ASCII-only locale, a class
    named in another script) gets it escaped rather than the command breaking half-way."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")
    app()


if __name__ == "__main__":
    main()
