"""Command line for mlp.py: train, evaluate and compare MLP classifiers on MNIST or your own data.

    python cli.py train relu --hidden 128 64
    python cli.py eval weights.npz

Presentation only (Typer + rich): it parses options, calls the toolkit, and draws progress
bars and tables. The network is mlp.py's; data in every form and pictures, mlp_data.py's; a
run's plan, signals, locks, resuming and output checks, mlp_run.py's; the options and help
pages, mlp_options.py's; figures, mlp_plot.py's; the draw server, mlp_draw.py's; ONNX export,
mlp_onnx.py's; bench's timing and reference runs, mlp_bench.py's. Its rooms, in order:
  app and errors       the Typer app: one-line errors, `--hidden 128 64`
  data and weights     --data (a name or a path) with progress bars, weights files
  tables               rich tables that never cut a number
then one room per command, in the order `--help` lists them, each with its own helpers
just above it: train (the live view, interrupted runs), eval, reproduce, summary, gradcheck,
predict, export, draw, bench, plot.
"""

import os
import signal


def stopped_while_starting(signum, frame):
    """Ctrl-C while the imports below run (a fraction of a second): one line, no traceback."""
    os.write(2, b"interrupted; nothing was done\n")
    os._exit(128 + signum)


with_handler = signal.getsignal(signal.SIGINT)
signal.signal(signal.SIGINT, stopped_while_starting)

import contextlib  # noqa: E402 (the handler above covers these imports)
import errno
import importlib
import importlib.util
import json
import re
import shlex
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import numpy as np
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

import mlp
import mlp_data
import mlp_options
import mlp_pictures
import mlp_plot
import mlp_run
import mlp_score
from mlp_help import help_page, program
from mlp_options import DEFAULTS, ActivationArgument, set_threads
from mlp_run import Stop, stop_signals

signal.signal(signal.SIGINT, with_handler)  # imports done: Ctrl-C is KeyboardInterrupt again


class Terminal(Console):
    """rich's Console, but a reader that leaves (| head) ends the output quietly, exit 0: rich's
    own handling exits with 1 before the command can say otherwise."""

    def on_broken_pipe(self):
        self.quiet = True
        raise BrokenPipeError  # OneLineErrors turns it into exit 0

    def print(self, *objects, **options):
        """Console.print, with control characters in text escaped (file names from the user's
        folders reach messages): only the line breaks we print ourselves pass."""
        super().print(*(mlp_data.shown(o, keep="\n") if isinstance(o, str) else o for o in objects), **options)


console = Terminal()

err_console = Terminal(stderr=True)


# ----------------------------------------------------------------------------- app and errors
def print_error(message):
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True, style="red")


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
            with stop_signals():  # a signal ends any command in one line (train saves a checkpoint first)
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Stop as stop:
            err_console.print(f"interrupted ({stop}); nothing was saved", style="yellow", highlight=False)
            rv = 128 + stop.signum
        except typer.TyperException as e:  # Typer's (vendored Click's) usage errors
            message = " ".join(e.format_message().split())  # Click may wrap a choice list
            if message:  # empty when the help was shown instead (a bare `cli.py`)
                hint = f" (see '{e.ctx.command_path} --help')" if getattr(e, "ctx", None) else ""
                print_error(plain_words(message) + hint)
            rv = e.exit_code
        except typer.Abort:  # Click's word for Ctrl-C outside training
            err_console.print("interrupted; nothing was saved", style="yellow", highlight=False)
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
        console.print(help_page(ctx, self), highlight=False)


class HelpGroup(typer.core.TyperGroup):
    def format_help(self, ctx, formatter):
        console.print(help_page(ctx, self), highlight=False)


OneLineErrors.format_help = HelpGroup.format_help


def show_version(value):
    if value:
        console.print(f"numpy-mlp {mlp.__version__}", highlight=False)
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


def lazy_progress(*columns):
    """(update, stop): a progress bar on stderr, shown from the first update(completed, total,
    description) on, and removed by stop()."""
    progress = Progress(*columns, console=err_console, transient=True)
    task = progress.add_task("", total=None)

    def update(completed, total, **fields):
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=completed, total=total or None, **fields)

    return update, lambda: progress.live.is_started and progress.stop()


def downloading():
    """(on_file, on_download, stop) for mlp_data.resolve: a download's progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    update, stop = lazy_progress(*columns)

    def on_file(stem, url):
        update(0, None, description=f"downloading {url}")
        err_console.print(f"downloading {url}", highlight=False, soft_wrap=True)

    return on_file, update, stop


def data_path(data):
    """The file or folder behind --data (mlp_data.resolve), a download shown as it goes."""
    on_file, on_download, stop = downloading()
    try:
        return mlp_data.resolve(data, on_file, on_download)
    finally:
        stop()


def load_data(data, splits=("train", "test"), label_column=None):
    """mlp_run.load_data with progress bars on stderr (a download; pictures decoded, once, then
    read from the cache), and its note on the files it passed over."""
    on_file, on_download, stop_download = downloading()
    columns = (TextColumn("reading pictures"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    on_pictures, stop_decoding = lazy_progress(*columns)
    try:
        found = mlp_run.load_data(
            data, splits, label_column, on_file=on_file, on_download=on_download, on_pictures=on_pictures
        )
    finally:
        stop_download(), stop_decoding()
    if "other files passed over" in found.test_from:
        err_console.print(f"{data}: {found.test_from.split('(')[1].rstrip(')')}", highlight=False, soft_wrap=True)
    return found


def data_of(weights, meta, data):
    """(data, label column) of a command on trained weights (mlp_score.recorded_data), the
    data it chose said on stderr."""
    data, label_column, note = mlp_score.recorded_data(weights, meta, data)
    if note:
        err_console.print(note, highlight=False, soft_wrap=True)
    return data, label_column


def test_set(data, label_column):
    """The test split of --data, read with its progress bars (load_data)."""
    return load_data(data, splits=("test",), label_column=label_column)


def literal(text):
    """Text shown exactly as it is: a class name like 'fö[r]' is not rich markup, and control
    characters are shown escaped (mlp_data.shown)."""
    return Text(mlp_data.shown(str(text)))


# ----------------------------------------------------------------------------- figures (mlp_plot)


def saved(fig, path, option="--out"):
    """mlp_plot.save_figure, saying what it wrote (and its note on missing glyphs, once)."""
    note = mlp_plot.save_figure(fig, path, option)
    if note:
        err_console.print(note, style="yellow", highlight=False, soft_wrap=True)
    console.print(f"wrote {path}", highlight=False)


# ----------------------------------------------------------------------------- tables


def show(table, to=None):
    """Print a rich Table without ever cutting a cell: when it is wider than the terminal, it
    is printed as several tables of consecutive columns, each repeating the first (the row
    labels), so that every number stays whole (COLUMNS=40 included)."""
    to = to or console
    columns = table.columns
    cells = [list(c.cells) for c in columns]

    def width(cell):  # a Text is shown as it is; a str is markup
        return cell.cell_len if isinstance(cell, Text) else Text.from_markup(str(cell)).cell_len

    widths = [max([width(c.header)] + [width(v) for v in column]) for c, column in zip(columns, cells)]
    edge = 4 if table.box else 2  # outer borders and the first column's padding
    if sum(w + 3 for w in widths) + 1 <= to.width or len(columns) <= 2:
        to.print(table)
        return
    chunks, current, used = [], [], widths[0] + edge
    for i in range(1, len(columns)):
        if current and used + widths[i] + 3 > to.width:
            chunks.append(current)
            current, used = [], widths[0] + edge
        current.append(i)
        used += widths[i] + 3
    chunks.append(current)
    for n, chunk in enumerate(chunks):
        part = Table(title=table.title if n == 0 else None, box=table.box, show_header=table.show_header)
        for i in (0, *chunk):
            c = columns[i]
            part.add_column(c.header, justify=c.justify, style=c.style, no_wrap=True, min_width=widths[i])
        for r in range(table.row_count):
            part.add_row(*(cells[i][r] for i in (0, *chunk)))
        to.print(part)


def percent(fraction):
    return f"{100 * fraction:.2f}%"


MOST_EPOCH_ROWS = 25  # a history table of a longer run shows this many of its epochs, evenly spread


def shown_epochs(n, most=MOST_EPOCH_ROWS):
    """Indexes of the epochs the table of an n-epoch run shows: all of them up to `most`, else
    every k-th, the first and the last always."""
    if n <= most:
        return list(range(n))
    k = -(-n // most)
    return sorted({0, n - 1, *range(k - 1, n, k)})


def history_table(history, title="Training"):
    """A rich Table of per-epoch records (columns appear when the records have them); a run of
    more than MOST_EPOCH_ROWS epochs shows every k-th (the history file holds them all)."""
    picked = shown_epochs(len(history))
    if len(picked) < len(history):
        title = f"{title} ({len(picked)} of {len(history)} epochs; all in the history file)"
    table = Table(title=title)
    columns = [
        ("epoch", "epoch", str),
        ("lr", "lr", "{:.4g}".format),
        ("loss", "loss", "{:.4f}".format),
        ("accuracy", "train acc", percent),
        ("val_loss", "val loss", "{:.4f}".format),
        ("val_accuracy", "val acc", percent),
        ("test_accuracy", "test acc", percent),
        ("seconds", "seconds", "{:.2f}".format),
    ]
    present = [c for c in columns if any(c[0] in r for r in history)] or columns
    for _, header, _ in present:
        table.add_column(header, justify="right")
    for i in picked:
        table.add_row(*(fmt(history[i][key]) if key in history[i] else "" for key, _, fmt in present))
    return table


def summary_table(params, activation, title="Model"):
    """Keras-style summary: one row per layer with its shapes and parameter count."""
    table = Table(title=title)
    for header, justify in (
        ("layer", "left"),
        ("weights", "right"),
        ("bias", "right"),
        ("activation", "left"),
        ("parameters", "right"),
    ):
        table.add_column(header, justify=justify)
    L = mlp.n_layers(params)
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]
        table.add_row(
            f"dense {l}",
            " x ".join(map(str, W.shape)),
            str(b.shape[0]),
            activation if l < L else "softmax (in the loss)",
            f"{W.size + b.size:,}",
        )
    table.add_section()
    table.add_row("total", "", "", "", f"{sum(p.size for p in params.values()):,}")
    return table


# ----------------------------------------------------------------------------- train


def recent_table(rows):
    """The epochs table cut to the rows that fit the terminal above the progress bar (a live
    view taller than the terminal cannot be redrawn in place)."""
    keep = max(3, err_console.size.height - 8)
    title = "Training" if len(rows) <= keep else f"Training (last {keep} of {len(rows)} epochs)"
    return history_table(rows[-keep:], title=title)


def clock_time(seconds):
    """Seconds as H:MM:SS."""
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def run_eta(started, done, total):
    """H:MM:SS left of a run that began at `started` (time.perf_counter()) and has done `done`
    of `total` epochs (fractions included), at the pace so far; "?" before any progress."""
    if done <= 0:
        return "?"
    return clock_time((time.perf_counter() - started) * (total - done) / done)


def epoch_line(r, epochs, eta):
    parts = [
        f"epoch {r['epoch']}/{epochs}",
        f"lr {r['lr']:.4g}",
        f"loss {r['loss']:.4f}",
        f"train {percent(r['accuracy'])}",
    ]
    if "val_accuracy" in r:
        parts.append(f"val {percent(r['val_accuracy'])}")
    if "test_accuracy" in r:
        parts.append(f"test {percent(r['test_accuracy'])}")
    parts += [f"{r['seconds']:.2f}s", f"ends in {eta}"]
    return "  ".join(parts)


def live_view():
    """The live table and progress bar need a real terminal on both streams (TERM=dumb cannot
    redraw in place, so it gets the plain epoch lines)."""
    return console.is_terminal and err_console.is_terminal and not err_console.is_dumb_terminal


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
        show(history_table(rows, title="Training (stopped)"), err_console)
    if checkpoint is None or (checkpoint.epoch == 0 and checkpoint.step == 0):
        err_console.print(
            f"interrupted ({name}) before the first batch finished; nothing was saved", style="yellow", highlight=False
        )
        raise typer.Exit(code=128 + signum)
    try:
        mlp_run.save_checkpoint(path, checkpoint, meta)
    except OSError as e:
        fail(
            f"interrupted ({name}), and the checkpoint could not be written to {path}: {e.strerror or e}",
            code=128 + signum,
        )
    err_console.print(
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
    if record["epoch"] != mlp.judged_epoch(len(y), settings.batch_size, settings.epochs):
        return
    stuck, guess = mlp.not_learning(record["accuracy"], y)
    if stuck:
        hint = "try --normalize standard, or a lower --lr" if normalize != "standard" else "try a lower --lr"
        err_console.print(
            f"warning: after epoch {record['epoch']} the training accuracy ({percent(record['accuracy'])}) is no "
            f"better than always guessing the most common class ({percent(guess)}): the network is not learning; {hint}",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )


def warn_checkpoint_failed(path):
    """What checkpoint_saver says when a checkpoint cannot be written: once, and training goes on."""

    def warn(e):
        err_console.print(
            f"warning: cannot write the checkpoint {path} ({e.strerror or e}); training goes on, "
            "but a crash now would lose the run",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )

    return warn


def scores_test(record, every):
    """Whether train scores the test set after this epoch: every `every`-th, the last, and each
    new best on validation (so that the kept epoch always has its score)."""
    return record["epoch"] % every == 0 or "stopped" in record or record.get("best_epoch") == record["epoch"]


def run_training(
    params,
    x,
    y,
    x_test,
    y_test,
    *,
    settings,
    show_progress,
    val=None,
    preprocessing=None,
    resume=None,
    rows=(),
    on_checkpoint=None,
    on_step=None,
    sample_weight=None,
    test_every=1,
    transform=None,
):
    """Train with a rich live view (table above a progress bar) on a terminal, plain lines
    otherwise; every display goes to stderr. Returns (params, rows): the rows are mlp's
    epoch records plus the test loss and accuracy after each epoch that `scores_test`."""
    n_batches = -(-len(x) // settings.batch_size)
    test_x, test_prep = mlp.prepared(x_test, preprocessing, params["W1"].dtype)  # straightened once
    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:,.0f} samples/s"),
        TextColumn("ends in {task.fields[eta]}"),
        console=err_console,
    )
    rows = list(rows)  # a resumed run shows its earlier epochs too
    first = len(rows)  # epochs finished before this run (a resumed one)
    task = progress.add_task(
        "train", total=n_batches, epoch=first + 1, epochs=settings.epochs, loss=float("nan"), rate=0.0, eta="?"
    )
    clock = {"start": time.perf_counter(), "drawn": 0.0, "run": time.perf_counter()}

    def on_batch(i, n, batch_loss):
        now = time.perf_counter()
        if i == 0:
            clock["start"] = now
        # Redraw from this thread at most 10 times a second: a background refresh thread
        # would fight OpenBLAS's threads for the two cores and slow training ~10x.
        if now - clock["drawn"] > 0.1 or i == n - 1:
            done = min((i + 1) * settings.batch_size, len(x))
            epochs_done = len(rows) - first + (i + 1) / n  # of this run, the current one's part included
            progress.update(
                task,
                completed=i + 1,
                loss=batch_loss,
                rate=done / max(now - clock["start"], 1e-9),
                eta=run_eta(clock["run"], epochs_done, settings.epochs - first),
            )
            live.refresh()
            clock["drawn"] = now

    def on_epoch(record, checkpoint):
        rows.append(dict(record))
        if scores_test(record, test_every):
            rows[-1]["test_loss"], rows[-1]["test_accuracy"] = mlp.evaluate(
                checkpoint.weights, test_x, y_test, settings.activation, preprocessing=test_prep
            )
        if on_checkpoint:
            on_checkpoint(checkpoint, rows)
        if show_progress:
            live.update(Group(recent_table(rows), progress), refresh=True)
            progress.update(task, completed=0, epoch=record["epoch"] + 1)
        else:
            eta = run_eta(clock["run"], len(rows) - first, settings.epochs - first)
            err_console.print(epoch_line(rows[-1], settings.epochs, eta), highlight=False, soft_wrap=True)

    def run(on_batch):
        with warnings.catch_warnings():  # train says it in its options' words (warn_if_not_learning)
            warnings.simplefilter("ignore", mlp.NotLearningWarning)
            trained = mlp.train(
                params,
                x,
                y,
                settings,
                val=val,
                preprocessing=preprocessing,
                resume=resume,
                on_batch=on_batch,
                on_epoch=on_epoch,
                on_step=on_step,
                sample_weight=sample_weight,
                transform=transform,
            )
        return trained[0], rows

    if not show_progress:
        return run(None)
    with Live(
        Group(recent_table(rows), progress) if rows else progress,
        console=err_console,
        transient=True,
        auto_refresh=False,
    ) as live:
        return run(on_batch)


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
    said = "; ".join(filter(None, [flags, preprocessing.get("invert") and turned]))
    if said:
        err_console.print(
            f"{defaults['for']}: {said} (chosen from the data; an option you give wins)",
            highlight=False,
            soft_wrap=True,
        )


def say_training(plan, activation, y, found, data, checkpoint, resume):
    """The line and the model table that open a run, on stderr."""
    resuming = f", resuming after {progress_of(checkpoint)} from {resume}" if checkpoint else ""
    test_from = found.test_from.split(" (")[0] if "other files" in found.test_from else found.test_from
    err_console.print(
        f"training {'-'.join(map(str, plan['sizes']))} {activation} on {len(y)} "
        f"{'images' if found.shape else 'examples'} from {data}{resuming}; test set: {test_from}",
        highlight=False,
        soft_wrap=True,
    )


def planned(asked, *, data, resume=None, **options):
    """mlp_run.plan, said on stderr as train says it: the memory note, the options chosen from
    the data, the run's first line and its model table."""
    run = mlp_run.plan(asked, data=data, resume=resume, **options)
    for note in run["notes"]:
        err_console.print(note, highlight=False, soft_wrap=True)
    say_defaults(run["defaults"], run["plan"]["preprocessing"])
    say_training(run["plan"], run["settings"].activation, run["y"], run["found"], data, run["checkpoint"], resume)
    show(summary_table(run["params"], run["settings"].activation), err_console)
    return run


def checkpoint_keepers(run, latest, path, every):
    """(on_checkpoint, on_step) for run_training: after every epoch the checkpoint is saved (and
    the judged epoch checked for learning); after every batch it is kept for a stop signal to save, and
    saved every `every` seconds of a long epoch. `latest` holds what a stop signal saves."""
    save = mlp_run.checkpoint_saver(path, run["meta"], warn_checkpoint_failed(path))
    saved = {"at": time.perf_counter()}

    def on_checkpoint(checkpoint, rows):
        latest.update(checkpoint=checkpoint, rows=rows)
        save(checkpoint, rows)
        saved["at"] = time.perf_counter()
        warn_if_not_learning(rows[-1], run["y"], run["settings"], run["plan"]["preprocessing"]["kind"])

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
            f"stopped after epoch {last['epoch']} of {settings.epochs}: no better validation accuracy "
            f"in {settings.patience} epochs (--patience)"
        )
    if "epochs" in defaults["chosen"]:
        return (
            f"ran {settings.epochs} epochs, chosen for {defaults['for']} (a run aims at "
            f"{mlp_run.ENOUGH_STEPS:,} steps of {settings.batch_size}, in at most {mlp_run.MAX_FITTED_EPOCHS} epochs)"
        )
    return f"ran all {settings.epochs} epochs"


def say_trained(history, meta, settings, validation, out, history_path):
    """The epochs table and the closing lines, on stdout."""
    show(history_table(history))
    if validation:
        kept = history[-1]["best_epoch"]
        console.print(
            f"kept the weights of epoch {kept} (best validation accuracy {percent(history[kept - 1]['val_accuracy'])})",
            highlight=False,
        )
    console.print(
        f"{why_stopped(history, settings, meta['defaults'])}; "
        f"test accuracy {percent(meta['test_accuracy'])}, loss {meta['test_loss']:.4f}; "
        f"weights saved to {out}, history to {history_path}",
        highlight=False,
        soft_wrap=True,
    )


@app.command(cls=HelpPage)
@mlp_options.takes(*mlp_options.TRAIN_OPTIONS)
def train(ctx: typer.Context, activation: ActivationArgument, **options):
    """Train an MLP classifier and save its weights (a checkpoint after every epoch: run the command again to resume)."""
    o = SimpleNamespace(**options)
    o.out, history_path, checkpoint_path, lock_path = mlp_run.train_paths(o.out)
    mlp_run.check_outputs(
        [o.out, history_path, checkpoint_path],
        [*mlp_data.data_files(o.data), o.resume, o.init],
        same_run=checkpoint_path,
    )
    asked = mlp_run.asked_settings(activation.value, options)
    settings = mlp.check_settings(asked)  # as asked; the options not given are chosen once the data is read
    given = given_options(ctx)
    mlp_run.check_validation_needs(settings, o.val)
    latest = {"checkpoint": None, "rows": [], "meta": {}}
    with (
        mlp_run.one_run_per_output(lock_path, o.out),
        stop_signals() as signals,
    ):  # a stop signal saves what can be saved
        mlp_data.remove_orphans(str(o.out.parent))  # temp files of a run killed while saving
        if o.resume is None and checkpoint_path.is_file():  # an unfinished run of this --out: continue it
            o.resume = checkpoint_path
        try:
            run = planned(
                asked,
                found=load_data(o.data, label_column=o.label_column),
                given=given,
                data=o.data,
                label_column=o.label_column,
                val=o.val,
                hidden=o.hidden,
                normalize=o.normalize and o.normalize.value,
                init=o.init,
                dtype=o.dtype.value,
                resume=o.resume,
                class_weight=o.class_weight.value,
                straighten={"deslant": o.deslant, "width": o.width},
            )
            settings = run["settings"]
            latest.update(checkpoint=run["checkpoint"], rows=run["rows"], meta=run["meta"])
            on_checkpoint, on_step = checkpoint_keepers(run, latest, checkpoint_path, o.checkpoint_every)
            params, history = run_training(
                run["params"],
                run["x"],
                run["y"],
                run["found"].x_test,
                run["found"].y_test,
                settings=settings,
                show_progress=live_view(),
                val=run["validation"],
                preprocessing=run["plan"]["preprocessing"],
                resume=run["checkpoint"],
                rows=run["rows"],
                on_checkpoint=on_checkpoint,
                on_step=on_step,
                sample_weight=run["sample_weight"],
                test_every=o.test_every,
                transform=run["transform"],
            )
            signals["disarm"]()  # from here on the weights are saved whatever arrives
        except FloatingPointError as e:
            fail(f"{e}; nothing was saved")
        except Stop as stop:
            save_interrupted(
                latest["checkpoint"],
                checkpoint_path,
                {**latest["meta"], "rows": latest["rows"]},
                stop.signum,
                latest["rows"],
                live_view(),
            )
        meta, history = mlp_run.weights_meta(
            history,
            run["plan"],
            settings=settings,
            extras=run["extras"],
            validation=run["validation"],
            source=run["source"],
            taken=run["input"],
            defaults=run["defaults"],
            init=o.init,
        )
        kept = (
            f", and the run is kept in {checkpoint_path}: run the same command again to save it"
            if checkpoint_path.is_file()
            else ""
        )
        mlp_run.write_outputs(
            {o.out: mlp.weights_writer(params, meta), history_path: mlp_run.text_writer(json.dumps(history, indent=1))},
            kept,
        )
        with contextlib.suppress(FileNotFoundError):
            checkpoint_path.unlink()  # the run is finished: nothing left to resume
    if signals["received"]:
        name = signal.Signals(signals["received"][0]).name
        err_console.print(
            f"{name} arrived during the final save, which was finished: weights saved to "
            f"{o.out}, history to {history_path}",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=128 + signals["received"][0])
    say_trained(history, meta, settings, run["validation"], o.out, history_path)


# ----------------------------------------------------------------------------- sweep
# Optuna searches (mlp_sweep); each trial trains here as `train` would, quietly, on a validation
# split, so that the best trial's `train` command gives the same validation accuracy.


def sweep_module():
    mlp_run.require("optuna", "sweep")
    import mlp_sweep

    mlp_sweep.quiet_optuna()
    return mlp_sweep


def train_options(ctx, activation, args, refused):
    """(values, given) of train's options in `args`, parsed by train's own command (its checks
    and callbacks, --threads included): values of every option, `given` the names on the
    command line."""
    command = ctx.parent.command.get_command(ctx.parent, "train")
    try:
        parsed = command.make_context("train", [activation, *args], parent=ctx.parent)
    except typer.TyperException as e:
        if getattr(e, "ctx", None) is not None:
            e.ctx = ctx  # the hint names sweep's page, which says train's options are taken
        raise
    given = {
        name
        for name in parsed.params
        if name != "activation" and parsed.get_parameter_source(name).name not in ("DEFAULT", "DEFAULT_MAP")
    }
    for name in refused.keys() & given:  # {option: its flag}
        fail(f"{refused[name]}: a sweep's trials each start afresh; leave it out", code=2)
    return parsed.params, given


SWEEP_HEADERS = {"batch_size": "batch", "weight_decay": "decay", "label_smoothing": "smooth"}  # short, to fit


def trial_state(row):
    """'complete', 'pruned at 2', 'running 1', 'failed', 'diverged'; '(retry of 4)' after a retry."""
    state = {"fail": "failed"}.get(row["state"], row["state"])
    if row.get("diverged"):
        state = "diverged"
    elif row["state"] == "pruned":
        state += f" at {row['epochs']}"
    elif row["state"] == "running" and row["epochs"]:
        state += f" ({row['epochs']} epoch{'s' if row['epochs'] > 1 else ''})"
    return state + (f" (retry of {row['retried']})" if row["retried"] is not None else "")


def trials_table(rows, space, title):
    """A rich Table of a study's trials: number, state, validation accuracy (a pruned trial's
    last), the searched options, seconds."""
    table = Table(title=title)
    for header in ("#", "state", "val acc", *(SWEEP_HEADERS.get(n, n) for n in space), "s"):
        table.add_column(header, justify="left" if header == "state" else "right")
    styles = {"pruned": "dim", "fail": "red", "running": "yellow", "waiting": "yellow"}
    for r in rows:
        table.add_row(
            str(r["number"]),
            trial_state(r),
            percent(r["value"]) if r["value"] is not None else "",
            *(mlp_plot.shown_option(n, r["options"][n]) if n in r["options"] else "" for n in space),
            f"{r['seconds']:.0f}" if r["seconds"] is not None else "",
            style=styles.get(r["state"], ""),
        )
    return table


class SweepView:
    """What a sweep shows while it runs: a live table of its trials on a terminal (redrawn by
    whoever calls `update`: never a refresh thread, which would fight BLAS for the cores), or
    a line on stderr for each trial that ends."""

    def __init__(self, study, space, sweep, n_trials):
        self.study, self.space, self.sweep, self.n_trials = study, space, sweep, n_trials
        self.live = Live(console=err_console, transient=True, auto_refresh=False) if live_view() else None
        self.said = {r["number"] for r in sweep.trial_rows(study) if r["state"] not in ("running", "waiting")}
        self.drawn = 0.0

    def __enter__(self):
        if self.live:
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.stop()

    def update(self, what="poll", number=None):
        """Redraw (a trial's start or end at once, its epochs and polls at most twice a second)."""
        now = time.perf_counter()
        if what == "epoch" and not self.live:  # lines are said as trials end
            return
        if what in ("epoch", "poll") and now - self.drawn < 0.5:
            return
        self.drawn = now
        rows = self.sweep.trial_rows(self.study)
        if self.live:
            finished = [r for r in rows if r["state"] in ("complete", "pruned")]
            best = max((r["value"] for r in finished if r["state"] == "complete"), default=None)
            title = f"Study '{self.study.study_name}': {len(finished)} of {self.n_trials} trials finished" + (
                f", best {percent(best)}" if best is not None else ""
            )
            self.live.update(trials_table(rows[-MOST_EPOCH_ROWS:], self.space, title), refresh=True)
            return
        for r in rows:
            if r["number"] not in self.said and r["state"] not in ("running", "waiting"):
                self.said.add(r["number"])
                value = f": validation accuracy {percent(r['value'])}" if r["value"] is not None else ""
                options = " ".join(" ".join(self.sweep.option_words(n, v)) for n, v in r["options"].items())
                err_console.print(
                    f"trial {r['number']} {trial_state(r)}{value} in {r['seconds']:.1f} s ({options})",
                    highlight=False,
                    soft_wrap=True,
                )


def sweep_here(study, trials, space, objective, *, threads, heartbeat, quiet, sweep):
    """Run the study's trials in this process (the live table unless `quiet`: a --worker)."""
    with contextlib.ExitStack() as stack:
        view = None if quiet else stack.enter_context(SweepView(study, space, sweep, trials))
        sweep.run_worker(
            study,
            trials,
            space=space,
            train_trial=objective,
            on_event=view.update if view else (lambda *event: None),
            threads=threads,
            poll=min(heartbeat, 1.0),
        )


def sweep_with_workers(study, trials, space, commands, *, url, sweep):
    """Run the study's trials in worker processes (one a command), the live table here."""
    with SweepView(study, space, sweep, trials) as view:
        codes = sweep.local_workers(commands, url, on_poll=view.update)
        view.update("end")  # the last trials, whenever the last poll was
    finished = sum(r["state"] in ("complete", "pruned") for r in sweep.trial_rows(study))
    if finished < trials:
        fail(
            f"the workers ended (exit codes {', '.join(map(str, codes))}) with {finished} of {trials} trials "
            f"finished: see their lines above; run the same command to continue study '{study.study_name}'"
        )
    for code in (c for c in codes if c):  # killed, say: the others ran its trial again
        ended = f"by signal {-code}" if code < 0 else f"with exit code {code}"
        err_console.print(f"a worker ended {ended}; the others finished the study", highlight=False)


def stopped_sweep(signum, study, name, sweep, since):
    """The one line a stopped sweep says: which trials it (or its workers, on this machine)
    marked failed since it started, what the study keeps."""
    stopped, finished = sweep.stopped_trials(study, since)
    failed = f"trial{'s' if len(stopped) > 1 else ''} {', '.join(map(str, stopped))} marked failed; " if stopped else ""
    err_console.print(
        f"{signal.Signals(signum).name}: sweep stopped; {failed}study '{name}' keeps {finished} finished trials: "
        "run the same command to continue it",
        style="yellow",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=128 + signum)


def sweep_result(study, *, name, url, space, train_trial, found, out, history_path, sweep, program_name):
    """The end of a sweep: the trials table, then the best trial trained again here (its
    validation accuracy compared with the trial's), saved to --out, and its `train` command."""
    rows = sweep.trial_rows(study)
    show(trials_table(rows, space, f"Study '{name}'"))
    console.print(sweep.study_summary(rows, name, url), highlight=False, soft_wrap=True)
    best = sweep.best_trial(study)
    if best is not None and best.user_attrs.get("threads"):
        set_threads(best.user_attrs["threads"])  # the trial's own BLAS threads: the same sums, the same last bits
    again = sweep.best_retrained(study, name=name, url=url, train_trial=train_trial, found=found)
    history, best, value = again["history"], again["best"], again["value"]
    mlp_run.write_outputs(
        {
            out: mlp.weights_writer(again["params"], again["meta"]),
            history_path: mlp_run.text_writer(json.dumps(history, indent=1)),
        }
    )
    same = "the same" if value == best.value else f"{percent(value)} (another CPU or BLAS changes the last bits)"
    console.print(
        f"best trial {best.number}: validation accuracy {percent(best.value)}, trained again here {same}; "
        f"test accuracy {percent(again['test_accuracy'])}; weights saved to {out}, history to {history_path}",
        highlight=False,
        soft_wrap=True,
    )
    console.print("the best trial's train command:", highlight=False)
    console.print(f"  {sweep.best_command(study, best, program_name)}", highlight=False, soft_wrap=True, markup=False)


def show_study(storage, url, name, sweep, program_name):
    """`sweep --show`: a study's table and best command, read from its storage."""
    study = sweep.stored_study(storage, url, name)
    rows = sweep.trial_rows(study)
    show(trials_table(rows, study.user_attrs.get("space", {}), f"Study '{name}'"))
    console.print(sweep.study_summary(rows, name, url), highlight=False, soft_wrap=True)
    best = sweep.best_trial(study)
    if best is not None:
        console.print(f"best trial {best.number}: validation accuracy {percent(best.value)}; its train command:")
        console.print(
            f"  {sweep.best_command(study, best, program_name)}", highlight=False, soft_wrap=True, markup=False
        )


@app.command(cls=HelpPage, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@mlp_options.declared("sweep")
def sweep(ctx: typer.Context, activation, trials, jobs, storage, study, space, out, show_only, heartbeat, worker):
    """Search the training options you leave open with Optuna: every train option given (see 'train --help') is held fixed, each trial is scored on a validation split, and the best is trained again and saved.

    Workers anywhere that run the same command against the same --storage share its study's
    trials; a worker killed mid-trial leaves the study usable, its trial retried."""
    sweep = sweep_module()
    values, given = train_options(ctx, activation.value, ctx.args, sweep.SWEEP_REFUSES)
    out, history_path, _, _ = mlp_run.train_paths(out)
    compared = {k: sweep.plain_value(values[k]) for k in sorted(given) if k not in sweep.SWEEP_NOT_COMPARED}
    name = study or sweep.described_fixed({"activation": activation.value, "options": compared})
    url, storage_ = sweep.sweep_storage(storage, out, heartbeat=heartbeat, must_exist=show_only)
    if show_only:
        return show_study(storage_, url, name, sweep, program(ctx))
    if not worker:
        mlp_run.check_outputs([out, history_path], [*mlp_data.data_files(values["data"]), values["init"]])
    found = load_data(values["data"], label_column=values["label_column"])
    val = sweep.sweep_val(values, len(found.y_train))
    searched, held = sweep.sweep_space(space, given, found=found, values=values)
    if held:
        said = ", ".join("--" + n.replace("_", "-") for n in held)
        err_console.print(f"{said} given: held fixed, not searched", highlight=False, soft_wrap=True)
    try:
        study_ = sweep.open_study(
            storage_, name, fixed={"activation": activation.value, "options": compared, "val": val}, space=searched
        )
    except ValueError as e:
        fail(str(e), code=2)
    if "args" not in study_.user_attrs:
        study_.set_user_attr("args", list(ctx.args))
    train_trial = sweep.trainer({k: sweep.plain_value(v) for k, v in values.items()}, given, found=found, val=val)
    objective = lambda options, report: train_trial(options, report)[0]
    started = time.time()
    try:
        if worker or jobs == 1:
            sweep_here(
                study_,
                trials,
                searched,
                objective,
                threads=values["threads"],
                heartbeat=heartbeat,
                quiet=worker,
                sweep=sweep,
            )
        else:
            threads = values["threads"] or max(1, (os.cpu_count() or 1) // jobs)
            command = sweep.worker_command(
                Path(__file__).resolve(),
                ctx.args,
                activation.value,
                trials=trials,
                study=name,
                space=space,
                out=out,
                heartbeat=heartbeat,
                threads=threads,
            )
            sweep_with_workers(study_, trials, searched, [command] * jobs, url=url, sweep=sweep)
    except (sweep.StoppedTrial, Stop) as stop:
        if worker:
            raise typer.Exit(code=128 + stop.signum) from None
        stopped_sweep(stop.signum, study_, name, sweep, since=started)
    except sweep.storage_failures() as e:
        fail(
            f"the sweep storage {sweep.masked(url)} failed: {sweep.failure_reason(e, url)}; the study keeps "
            "its finished trials: run the same command to continue it"
        )
    if not worker:
        sweep_result(
            study_,
            name=name,
            url=url,
            space=searched,
            train_trial=train_trial,
            found=found,
            out=out,
            history_path=history_path,
            sweep=sweep,
            program_name=program(ctx),
        )


# ----------------------------------------------------------------------------- eval


def confusion_table(confusion, names):
    table = Table(title="Confusion matrix (rows: true class, columns: predicted)")
    table.add_column("true", justify="right", style="bold")
    for name in names:
        table.add_column(literal(name), justify="right")
    for t, row in enumerate(confusion):
        table.add_row(
            literal(names[t]),
            *(f"[bold green]{n}[/]" if t == p else (f"[red]{n}[/]" if n else "[dim]0[/]") for p, n in enumerate(row)),
        )
    return table


def weights_and_data(weights, data, outputs=()):
    """(params, meta, data, label column) for a command on trained weights: the weights loaded,
    the data resolved (--data, else what they were trained on), and `outputs` checked not to
    be any of the files read, before any work."""
    params, meta = mlp_run.load_weights(weights)
    data, label_column = data_of(weights, meta, data)
    mlp_run.check_outputs([o for o in outputs if o is not None], [weights, *mlp_data.data_files(data)])
    return params, meta, data, label_column


@app.command("eval", cls=HelpPage)
@mlp_options.declared("evaluate", data="recorded_data")
def evaluate(weights, data, mistakes, tta, json_path):
    """Score saved weights (or an ensemble of them) on the test set: accuracy, loss, confusion matrix, per-class precision/recall/F1, confident mistakes."""
    if json_path:
        mlp_run.check_writable(json_path, "--json")
    members = mlp_run.load_members(weights)
    (params, meta), own = members[0], None
    mlp_score.check_tta(tta, weights[0], meta, params)
    data, label_column = data_of(weights[0], meta, data)
    mlp_run.check_outputs([json_path], [*weights, *mlp_data.data_files(data)])
    if len(members) == 1:
        x_test, y_test, report = mlp_score.evaluated(weights[0], params, meta, test_set(data, label_column), mistakes)
    else:
        found = test_set(data, label_column)
        x_test, y_test, report, own = mlp_score.ensemble_evaluated(weights, members, found, mistakes)
    result = mlp_score.report_json(report, len(y_test), meta)
    if own:
        result["members"] = [{"weights": str(w), "accuracy": a} for w, a in zip(weights, own)]
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
    table = Table(title=name)
    for header in ("test accuracy", "loss", counted):
        table.add_column(header, justify="right")
    table.add_row(percent(result["accuracy"]), f"{result['loss']:.4f}", str(result["n"]))
    show(table)
    if tta:
        tested = Table(
            title=f"With test-time augmentation: each of the {counted} and {tta} distortions of it, averaged"
        )
        for header in ("test accuracy", "loss", "plain accuracy"):
            tested.add_column(header, justify="right")
        tested.add_row(percent(result["tta"]["accuracy"]), f"{result['tta']['loss']:.4f}", percent(result["accuracy"]))
        show(tested)
    if own:
        each = Table(title="Members")
        for header in ("weights", "network", "test accuracy"):
            each.add_column(header, justify="right")
        for path, (p, m), accuracy in zip(weights, members, own):
            each.add_row(literal(path), f"{'-'.join(map(str, mlp.sizes_of(p)))} {m['activation']}", percent(accuracy))
        show(each)
    show(confusion_table(result["confusion"], result["classes"]))
    per_class = Table(title="Per class")
    for header in ("class", "precision", "recall", "F1", counted):
        per_class.add_column(header, justify="right")
    for r in result["per_class"]:
        per_class.add_row(
            literal(r["name"]), percent(r["precision"]), percent(r["recall"]), percent(r["f1"]), str(r["support"])
        )
    show(per_class)
    if result["mistakes"]:
        wrong = Table(title="Most confident mistakes")
        for header in ("index", "true", "predicted", "confidence"):
            wrong.add_column(header, justify="right")
        for m in result["mistakes"]:
            wrong.add_row(
                str(m["index"]), literal(m["true_name"]), literal(m["predicted_name"]), percent(m["confidence"])
            )
        show(wrong)


# ----------------------------------------------------------------------------- reproduce
ORIGINAL = {  # the original work's three models and reported test accuracy (%)
    "model-1": ("tanh", [128], 85.81),
    "model-2": ("sigmoid", [128], 87.25),
    "model-3": ("relu", [128, 64], 96.49),
}

ORIGINAL_SETTINGS = {"lr": 0.01, "momentum": 1e-3, "batch_size": 128, "schedule": "constant"}  # and 10 epochs


@app.command(cls=HelpPage)
@mlp_options.declared("reproduce")
def reproduce(epochs, seed, data, json_path):
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
            err_console.print(f"{name}, {label.replace('_', ' ')} ...", highlight=False)
            scaling = run["plan"]["preprocessing"]
            params, _ = mlp.train(run["params"], run["x"], run["y"], run["settings"], preprocessing=scaling)
            row[label] = mlp.evaluate(params, found.x_test, found.y_test, activation, preprocessing=scaling)[1]
        rows.append(row)
    table = Table(title=f"Test accuracy after {epochs} epochs (seed {seed})")
    for header in ("model", "original (reported)", "ours, its settings", "ours, our defaults"):
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(
            r["model"], percent(r["original_reported"]), percent(r["original_settings"]), percent(r["our_defaults"])
        )
    show(table)
    describe = lambda s: f"lr {s.lr:g} ({s.schedule}), momentum {s.momentum:g}, batch {s.batch_size}"
    theirs, ours = (
        mlp.check_settings(mlp.Settings(activation="relu", **options)) for options in (ORIGINAL_SETTINGS, {})
    )
    console.print(f"its settings: {describe(theirs)}\nour defaults: {describe(ours)}", highlight=False)
    if json_path:
        mlp_run.write_outputs(
            {json_path: mlp_run.text_writer(json.dumps({"epochs": epochs, "seed": seed, "rows": rows}, indent=1))}
        )


# ----------------------------------------------------------------------------- summary


@app.command(cls=HelpPage)
@mlp_options.declared("summary")
def summary(weights):
    """Show a model's layers, shapes, activation and parameter counts."""
    params, meta = mlp_run.load_weights(weights)
    show(summary_table(params, meta["activation"], title=f"{weights}"))
    if "test_accuracy" in meta:
        console.print(f"test accuracy when saved: {percent(meta['test_accuracy'])}", highlight=False)


# ----------------------------------------------------------------------------- gradcheck


@app.command(cls=HelpPage)
@mlp_options.declared("gradcheck")
def gradcheck(activation, hidden, inputs, classes, batch, dropout, label_smoothing, seed, rtol, atol, json_path):
    """Check mlp.py's backward pass against finite differences on a small float64 network (exit 1 if wrong)."""
    if json_path:
        mlp_run.check_writable(json_path, "--json")
    rng = np.random.default_rng(seed)
    sizes = [inputs, *hidden, classes]
    params = mlp.init(sizes, activation.value, seed=rng, dtype=np.float64)
    # Small random biases: with zero biases a unit dropped or dead for a whole example sits
    # exactly on relu's kink (z = 0), where gradcheck has to leave the entry out.
    params = {k: p + 0.1 * rng.standard_normal(p.shape) if k[0] == "b" else p for k, p in params.items()}
    x, y = rng.standard_normal((batch, inputs)), rng.integers(0, classes, batch)
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
    )
    worst = max(errors, key=lambda k: errors[k].of_tolerance)
    passed = errors[worst].of_tolerance <= 1
    kinks = any(e.at_kink for e in errors.values())  # a column only when there are any
    table = Table(title=f"Gradient check, {'-'.join(map(str, sizes))} {activation.value}, batch {batch}")
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
    show(table)
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
    console.print(
        f"passed: {criterion} for every gradient (the worst uses "
        f"{100 * errors[worst].of_tolerance:.2g}% of its tolerance)",
        highlight=False,
    )


# ----------------------------------------------------------------------------- predict


def digit_art(image, shape, color=True):
    """An image of `shape` (H, W) as rich Text: half blocks in grey (two pixels a character) on
    a colour terminal, else characters of increasing ink (" .:-=+*#%@") for each pixel pair."""
    pixels = np.clip(np.asarray(image, np.float64).reshape(shape), 0, 1)
    if shape[0] % 2:  # pairs of rows: pad an odd image with a black row
        pixels = np.vstack([pixels, np.zeros((1, shape[1]), pixels.dtype)])
    text = Text()
    if not color:
        ramp = " .:-=+*#%@"
        for pair in (pixels[0::2] + pixels[1::2]) / 2:
            text.append("".join(ramp[min(int(v * len(ramp)), len(ramp) - 1)] for v in pair) + "\n")
        return text
    grey = (pixels * 255).astype(int)
    for top, bottom in zip(grey[0::2], grey[1::2]):
        for a, b in zip(top, bottom):
            text.append("▀", style=f"rgb({a},{a},{a}) on rgb({b},{b},{b})")
        text.append("\n")
    return text


def probability_bars(probabilities, k, meta, width=30):
    table = Table(title=f"Top {k}", show_header=True)
    table.add_column("class", justify="right")
    table.add_column("probability", justify="right")
    table.add_column("")
    for c in np.argsort(-probabilities, kind="stable")[:k]:
        table.add_row(
            literal(mlp_data.class_name(meta, c)), percent(probabilities[c]), "█" * round(width * probabilities[c])
        )
    return table


@app.command(cls=HelpPage)
@mlp_options.declared("predict", data="recorded_data")
def predict(paths, index, top, out, data, explain, tta):
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
        mlp_plot.pyplot()  # the extra is named before any work
    members = mlp_run.load_members(weights)
    params, meta = members[0]
    mlp_run.check_outputs([out, explain], [*weights, *inputs])
    weights = weights[0]  # messages name the first
    if explain and mlp_pictures.input_of(meta, params)["shape"] is None:
        fail(f"--explain draws pictures, and {weights} was trained on a table of features", code=2)
    mlp_score.check_tta(tta, weights, meta, params)
    if index is None and (out or len(inputs) > 1 or not inputs[0].is_file() or inputs[0].suffix.lower() == ".csv"):
        if explain:
            fail("--explain explains one picture (or --index N): give one picture and no --out", code=2)
        text, n = mlp_score.predictions_csv(weights, members, inputs, tta)
        if out:
            mlp_run.write_outputs({out: mlp_run.text_writer(text)})
            console.print(f"wrote {n} predictions to {out}", highlight=False, soft_wrap=True)
        else:
            console.print(text, markup=False, highlight=False, soft_wrap=True, end="")
        return
    label = None
    if index is not None:
        data, label_column = data_of(weights, meta, data)
        found = test_set(data, label_column)
        seen, probabilities, label = mlp_score.predict_index(weights, members, found, index, tta)
    else:
        seen, probabilities = mlp_score.read_picture(weights, members, inputs[0], tta)
    guess = int(probabilities.argmax())
    shape = mlp_pictures.input_of(meta, params)["shape"]
    if shape:
        console.print(digit_art(seen, shape, color=console.color_system is not None and not console.no_color))
    verdict = (
        ""
        if label is None
        else (" (correct)" if guess == label else f" (wrong: it is {mlp_data.class_name(meta, label)})")
    )
    console.print(f"prediction: {mlp_data.class_name(meta, guess)}{verdict}", markup=False, highlight=False)
    show(probability_bars(probabilities, min(top, len(probabilities)), meta))
    if tta:
        console.print(f"probabilities averaged over the picture and {tta} mild distortions of it (--tta {tta})")
    if explain:
        classes = [int(c) for c in np.argsort(-probabilities)[:2]]
        names = [mlp_data.class_name(meta, c) for c in classes]
        titles = [f"why {mlp_plot.shortened(names[0], 14)}", f"why not {mlp_plot.shortened(names[1], 14)}"]
        inverted = bool(meta["preprocessing"].get("invert"))
        gradients = mlp_pictures.explained(members, seen, classes)
        saved(mlp_plot.explanation_figure(seen, gradients, titles, shape, inverted), explain)


# ----------------------------------------------------------------------------- export


@app.command(cls=HelpPage)
@mlp_options.declared("export")
def export(weights, model):
    """Export weights as an ONNX model (preprocessing included) for onnxruntime and every ONNX runtime; needs onnx."""
    if model.suffix.lower() != ".onnx":
        fail(f"{model}: an ONNX model is written to a .onnx file; name it {model.with_suffix('.onnx')}", code=2)
    onnx = mlp_run.require("onnx", "onnx")
    import mlp_onnx

    mlp_run.check_writable(model, "MODEL")
    mlp_run.check_outputs([model], [weights])
    params, meta = mlp_run.load_weights(weights)
    proto = mlp_onnx.onnx_model(params, meta)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        fail(f"the exported model does not pass onnx.checker ({str(e).splitlines()[0]}); please report it")
    mlp_run.write_outputs({model: lambda f: f.write(proto.SerializeToString())})
    n_in, n_classes = mlp.sizes_of(params)[0], mlp.sizes_of(params)[-1]
    console.print(
        f"wrote {model}: input 'input' float32 (N, {n_in}) of raw values as in the data; outputs "
        f"'logits' and 'probabilities' float32 (N, {n_classes}), 'class' int64 (N,)",
        highlight=False,
        soft_wrap=True,
    )


# ----------------------------------------------------------------------------- draw (a local web page)
def draw_bench(server, n):
    """Time POST /predict (mlp_draw.time_predictions) and show the latencies."""
    import mlp_draw

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
    show(table)


@app.command(cls=HelpPage)
@mlp_options.declared("draw")
def draw(weights, host, port, no_browser, bench):
    """Draw a digit in the browser and watch the network read it (a local web page)."""
    import mlp_draw

    members = mlp_run.load_members(weights)
    (params, meta), weights = members[0], weights[0]
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
        err_console.print(
            f"warning: listening on {host}: anyone who can reach this machine can use the page",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )
    console.print(url, highlight=False)
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except Stop:  # Ctrl-C, or SIGTERM from a service manager: the normal way to end a server
        err_console.print("stopped", highlight=False)
    finally:
        server.server_close()


# ----------------------------------------------------------------------------- bench


def seconds_shown(seconds):
    """Seconds to three decimals, or to three significant figures when shorter than 0.01 s
    (an epoch of a small table): never a bare 0.000."""
    return (
        f"{seconds:.3f}"
        if seconds >= 0.01 or seconds == 0
        else np.format_float_positional(seconds, 3, fractional=False)
    )


def share_of_an_epoch(seconds, epoch):
    """'12.3% of an epoch', or '4.0 times an epoch' for what takes longer than one."""
    return f"{100 * seconds / epoch:.1f}% of an epoch" if seconds <= epoch else f"{seconds / epoch:.1f} times an epoch"


def bench_table(result, torch, sklearn):
    """bench's one-row table: our loop against its floor (and PyTorch, scikit-learn)."""
    r = result
    augment = f", --augment {r['augment']}" if r["augment"] != "none" else ""
    table = Table(
        title=f"Training loop, {'-'.join(map(str, r['sizes']))} {r['activation']}, {r['optimizer']}, "
        f"batch {r['batch_size']}, {r['dtype']}{augment}, {len(r['epoch_seconds'])} epochs"
    )
    median, floor = r["epoch_seconds_median"], r["floor_seconds"]
    headers = ["s/epoch", "samples/s", "GFLOP/ep", "GFLOP/s", "floor s", "x floor", "ckpt s", "eval s", "fit s"]
    cells = [
        seconds_shown(median),
        f"{r['samples_per_second']:,.0f}",
        f"{r['matmul_flops_per_epoch'] / 1e9:.3g}",
        f"{r['gflops_per_second']:.1f}",
        seconds_shown(floor),
        f"{r['ratio_to_floor']:.2f}",
        seconds_shown(r["checkpoint_seconds"]),
        seconds_shown(r["test_evaluation_seconds"]),
        f"{r['train_seconds']:.2f}",
    ]
    if r["augmentation_seconds"] is not None:
        headers.append("aug s")
        cells.append(seconds_shown(r["augmentation_seconds"]))
    headers.append("test acc")
    cells.append(percent(r["test_accuracy"]))
    if torch:
        headers += ["torch s", "x torch", "torch acc"]
        cells += [
            f"{r['torch_epoch_seconds_median']:.3f}",
            f"{r['ratio_to_torch']:.2f}",
            percent(r["torch_test_accuracy"]),
        ]
    if sklearn:
        headers += ["sklearn s", "sklearn epochs", "sklearn acc"]
        cells += [f"{r['sklearn_fit_seconds']:.2f}", str(r["sklearn_epochs"]), percent(r["sklearn_test_accuracy"])]
    for header in headers:
        table.add_column(header, justify="right")
    table.add_row(*cells)
    return table


def timed_epochs(seconds):
    """The epochs' seconds as bench's notes list them: each of a few, the range of many."""
    if len(seconds) <= 10:
        return ", ".join(map(seconds_shown, seconds))
    return f"{len(seconds)} epochs, {seconds_shown(min(seconds))} to {seconds_shown(max(seconds))}"


def ratio_spread(ratios):
    """'1.52' for one epoch's ratio to the floor, '1.48 to 1.57' for several."""
    return f"{ratios[0]:.2f}" if len(ratios) == 1 else f"{min(ratios):.2f} to {max(ratios):.2f}"


def bench_notes(r):
    """What bench's columns mean, and the machine, in one paragraph."""
    median, machine, evaluation = r["epoch_seconds_median"], r["machine"], r["test_evaluation_seconds"]
    augmentation = r["augmentation_seconds"]
    return (
        f"s/epoch is the median of {timed_epochs(r['epoch_seconds'])}; ckpt s: writing the "
        f"checkpoint train writes after every epoch ({share_of_an_epoch(r['checkpoint_seconds'], median)}); "
        f"eval s: scoring the test set, as train does after every epoch ({share_of_an_epoch(evaluation, median)}); "
        f"fit s: the {len(r['epoch_seconds'])} epochs' training together; "
        + (
            f"aug s: converting and distorting one epoch's images alone ({100 * augmentation / median:.0f}%); "
            if augmentation is not None
            else ""
        )
        + f"floor: NumPy's matmul alone on one epoch's shapes ({r['floor_gflops_per_second']:.1f} GFLOP/s), "
        f"timed after every epoch; x floor: the median of each epoch over the floor timed after it "
        f"({ratio_spread(r['ratios_to_floor'])}); "
        + (
            "torch s: the median of PyTorch's epochs, each run in its own process after one of ours; x torch: "
            f"the median of each epoch of ours over PyTorch's after it ({ratio_spread(r['ratios_to_torch'])}); "
            if "ratios_to_torch" in r
            else ""
        )
        + f"{machine['cpu']}, {machine['cores']} cores, NumPy {machine['numpy']} with "
        f"{machine['blas'] or 'an unknown BLAS'} {machine['blas_version'] or ''}"
    ).rstrip()


def bench_settings(asked, given, shape, n):
    """bench's settings: the options not `given` chosen from the data as train chooses them, but
    3 epochs (timed, their median reported) unless the data is so small that train runs more
    than its usual 10: then as many, so that bench's accuracy is the plain train command's."""
    settings, _, _ = mlp_run.fitted_settings(asked, given, pictures=shape is not None, n=n)
    if "epochs" in given or settings.epochs <= DEFAULTS["epochs"]:
        settings = settings._replace(epochs=asked.epochs)
    return settings


@app.command(cls=HelpPage)
@mlp_options.takes(*mlp_options.BENCH_OPTIONS)
def bench(ctx: typer.Context, **options):
    """Time the training loop against the matrix-product floor, and against the same recipe in PyTorch (--torch)."""
    o = SimpleNamespace(**options)
    import mlp_bench

    if o.json_path:
        mlp_run.check_writable(o.json_path, "--json")
        mlp_run.check_outputs([o.json_path], mlp_data.data_files(o.data))
    if o.torch and mlp_pictures.AUGMENTATIONS[o.augment.value].distort is not None:
        fail(f"--torch has no --augment {o.augment.value} of its own to compare with; leave out one of the two", code=2)
    if o.torch and o.ema:
        fail("--torch has no --ema of its own to compare with; leave out one of the two", code=2)
    if o.torch and importlib.util.find_spec("torch") is None:
        fail("--torch needs PyTorch: pip install torch (it is never a dependency of this project)")
    if o.sklearn and importlib.util.find_spec("sklearn") is None:
        fail(f"--sklearn needs scikit-learn (the sklearn extra): {mlp_run.install_hint('sklearn')}")
    if mlp.SCHEDULES[o.schedule.value].on_validation:
        fail(f"bench has no validation set for the {o.schedule.value} schedule; choose another --schedule", code=2)
    asked = mlp_run.asked_settings(o.bench_activation.value, options)
    mlp.check_settings(asked)
    given = given_options(ctx)
    path = data_path(o.data)
    x, y, x_test, y_test, n_classes, preprocessing, shape = mlp_bench.bench_data(
        path, o.limit, o.normalize and o.normalize.value, o.label_column
    )
    settings = bench_settings(asked, given, shape, len(x))
    if settings.augment_kind != "none" and mlp.square_side(x.shape[1]) is None:
        fail(f"--augment {o.augment.value} needs square images; {o.data} has {x.shape[1]} features", code=2)
    sizes = [x.shape[1], *o.bench_hidden, n_classes]
    common = {"limit": o.limit, "data": path, "normalize": preprocessing["kind"], "label_column": o.label_column}
    measured = (settings, sizes, x, y, x_test, y_test, preprocessing, np.dtype(o.dtype.value))
    if o.torch:  # PyTorch's epochs in turn with ours, each of ours divided by the one after it
        spec = {"settings": settings._asdict(), "sizes": sizes, "dtype": o.dtype.value, **common}
        with mlp_bench.stepped_reference("torch", mlp_bench.reference_args("torch", spec)) as (torch_epoch, last):
            result = mlp_bench.measure(*measured, torch_epoch=torch_epoch)
            result["torch_test_accuracy"] = last()["test_accuracy"]
    else:
        result = mlp_bench.measure(*measured)
    if o.sklearn:
        reference = mlp_bench.reference_run(
            "sklearn", {"hidden": o.bench_hidden, "seed": o.bench_seed, "max_iter": o.sklearn_epochs, **common}
        )
        result["sklearn_fit_seconds"] = reference["fit_seconds"]
        result["sklearn_epochs"] = reference["epochs"]
        result["sklearn_test_accuracy"] = reference["test_accuracy"]
    show(bench_table(result, o.torch, o.sklearn))
    console.print(bench_notes(result), highlight=False)
    if o.json_path:
        mlp_run.write_outputs({o.json_path: mlp_run.text_writer(json.dumps(result, indent=1))})


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
@mlp_options.declared("plot_samples")
def plot_samples(n, data, out):
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
@mlp_options.declared("plot_curves")
def plot_curves(history, out):
    """Training curves: loss and accuracy per epoch."""
    mlp_plot.pyplot()
    if history.suffix == ".npz":  # the weights: their history is beside them, as plot all reads it
        history = mlp_run.beside(history, ".history.json")
    mlp_run.check_outputs([out], [history])
    saved(mlp_plot.curves_figure(read_history(history)), out)


@plot_app.command("confusion", cls=HelpPage)
@mlp_options.declared("plot_confusion", data="recorded_data")
def plot_confusion(weights, data, out):
    """The test-set confusion matrix as a heat map."""
    mlp_plot.pyplot()
    params, meta, data, label_column = weights_and_data(weights, data, [out])
    _, _, report = mlp_score.evaluated(weights, params, meta, test_set(data, label_column), 0)
    saved(mlp_plot.confusion_figure(report["confusion"], meta), out)


@plot_app.command("mistakes", cls=HelpPage)
@mlp_options.declared("plot_mistakes", data="recorded_data")
def plot_mistakes(weights, n, data, out):
    """The most confident mistakes on the test set, with true and predicted labels."""
    mlp_plot.pyplot()
    params, meta, data, label_column = weights_and_data(weights, data, [out])
    shape = image_shape_of(mlp_pictures.input_of(meta, params)["shape"], weights)
    x, _, report = mlp_score.evaluated(weights, params, meta, test_set(data, label_column), n)
    saved(mlp_plot.mistakes_figure(x, report, meta, shape), out)


@plot_app.command("weights", cls=HelpPage)
@mlp_options.declared("plot_weights")
def plot_weights(weights, n, out):
    """The first layer's weights, one image per hidden unit (red positive, blue negative)."""
    mlp_plot.pyplot()
    mlp_run.check_outputs([out], [weights])
    params, meta = mlp_run.load_weights(weights)
    saved(
        mlp_plot.weights_figure(params, n, image_shape_of(mlp_pictures.input_of(meta, params)["shape"], weights)), out
    )


@plot_app.command("architecture", cls=HelpPage)
@mlp_options.declared("plot_architecture")
def plot_architecture(out_dir):
    """Diagrams of the original's three models (tanh 128, sigmoid 128, relu 128-64)."""
    mlp_plot.pyplot()
    check_out_dir(out_dir)
    for name, (activation, hidden, _) in ORIGINAL.items():
        sizes = [784, *hidden, 10]
        title = f"{name}: {'-'.join(map(str, sizes))}, {activation}"
        saved(mlp_plot.draw_architecture(sizes, activation, title), out_dir / f"{name}.png", "--out-dir")


@plot_app.command("sweep", cls=HelpPage)
@mlp_options.declared("plot_sweep")
def plot_sweep(study, storage, out):
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
    saved(mlp_plot.sweep_figure(rows, found.user_attrs["space"], f"Study '{name}': validation accuracy"), out)


@plot_app.command("all", cls=HelpPage)
@mlp_options.declared("plot_all", data="recorded_data")
def plot_all(weights, data, out_dir):
    """Every picture of the README, from one weights file and the history beside it."""
    mlp_plot.pyplot()
    check_out_dir(out_dir)
    params, meta, data, label_column = weights_and_data(weights, data)
    samples = data_name(data)
    names = (samples, "curves", "confusion", "mistakes", "weights", *ORIGINAL)
    pictures = [out_dir / f"{name}.png" for name in names]
    mlp_run.check_outputs(pictures, [weights, mlp_run.beside(weights, ".history.json"), *mlp_data.data_files(data)])
    shape = image_shape_of(mlp_pictures.input_of(meta, params)["shape"], weights)
    x, y, report = mlp_score.evaluated(
        weights, params, meta, test_set(data, label_column), 30
    )  # weights and test set loaded once
    history = mlp_run.beside(weights, ".history.json")
    if not history.is_file():
        fail(f"{history}: no history beside the weights; train writes it")
    records = read_history(history)
    here = lambda name: out_dir / name
    inverted = meta["preprocessing"].get("invert", False)
    units = mlp.to_unit(x, meta["preprocessing"])
    saved(mlp_plot.samples_figure(units, y, 40, meta, shape, inverted), here(f"{samples}.png"), "--out-dir")
    plot_architecture(out_dir)
    saved(mlp_plot.curves_figure(records), here("curves.png"), "--out-dir")
    saved(mlp_plot.confusion_figure(report["confusion"], meta), here("confusion.png"), "--out-dir")
    saved(mlp_plot.mistakes_figure(x, report, meta, shape), here("mistakes.png"), "--out-dir")
    saved(mlp_plot.weights_figure(params, 48, shape), here("weights.png"), "--out-dir")


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
