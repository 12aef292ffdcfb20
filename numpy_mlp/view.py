"""What the command line draws (rich): its two consoles, tables that never cut a number,
progress bars, the live view of a training run and of a sweep, a picture as text, and bench's
table. Nothing here parses an option or decides a run; cli.py calls these to render.
Its rooms, in order:
  consoles          stdout and stderr, a closed pipe ending quietly, control characters escaped
  tables            a table shown whole, percents, a run's epochs, a model's layers
  progress          bars shown from the first update on (downloads, pictures decoded)
  a training run    the epochs table above a progress bar on a terminal, plain lines elsewhere
  sweeps            a study's trials as a table, live while it runs
  predictions       a picture as half blocks, the top classes as bars
  bench             the timing table and its notes
"""

import contextlib
import time

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import plot as mlp_plot

# ----------------------------------------------------------------------------- consoles


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


# ----------------------------------------------------------------------------- tables


def literal(text):
    """Text shown exactly as it is: a class name like 'fö[r]' is not rich markup, and control
    characters are shown escaped (mlp_data.shown)."""
    return Text(mlp_data.shown(str(text)))


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


def score_words(record, split, task):
    """A record's score of `split` ("val", "test") in words: 'accuracy 97.10%', or 'R² 0.8731'."""
    if task == "regression":
        return f"R² {record[f'{split}_r2']:.4f}"
    subset = "subset " if task == "multilabel" else ""  # every label of an example right
    return f"{subset}accuracy {percent(record[f'{split}_accuracy'])}"


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
        ("val_r2", "val R²", "{:.4f}".format),
        ("test_accuracy", "test acc", percent),
        ("test_r2", "test R²", "{:.4f}".format),
        ("seconds", "seconds", "{:.2f}".format),
    ]
    present = [c for c in columns if any(c[0] in r for r in history)] or columns
    for _, header, _ in present:
        table.add_column(header, justify="right")
    for i in picked:
        table.add_row(*(fmt(history[i][key]) if key in history[i] else "" for key, _, fmt in present))
    return table


OUTPUTS_SAID = {  # what a network's last layer gives, by mlp.TASKS name
    "classification": "softmax (in the loss)",
    "multilabel": "a sigmoid per label (in the loss)",
    "regression": "none (the numbers)",
}


def summary_table(params, activation, title="Model", task="classification"):
    """Keras-style summary: one row per layer with its shapes and parameter count (the last
    layer's outputs: logits whose softmax is in the loss, or a regression's numbers)."""
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
            activation if l < L else OUTPUTS_SAID[task],
            f"{W.size + b.size:,}",
        )
    table.add_section()
    table.add_row("total", "", "", "", f"{sum(p.size for p in params.values()):,}")
    return table


def columns_table(rows, title="Columns"):
    """A table model's columns: one row per column of its training table, (name, read as,
    what the network gets of it), as mlp_columns.encoding_rows gives them."""
    table = Table(title=title)
    for header in ("column", "read as", "the network gets"):
        table.add_column(header, justify="left", overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def scores_table(result, title, counted, temperatures):
    """eval's first table, from its JSON `result`: accuracy, loss and calibration (NLL, Brier,
    ECE), and where the weights divide their logits by fitted temperatures, the same of the raw
    probabilities beneath (no temperature), so that the two read side by side."""
    rows = [("", result)]
    if "uncalibrated" in result:
        fitted = ", ".join(f"{t:.3g}" for t in temperatures)
        rows = [(fitted, result), ("none (raw softmax)", result["uncalibrated"])]
    table = Table(title=title)
    for header in (*(["temperature"] if len(rows) > 1 else []), "test accuracy", "loss (NLL)", "Brier", "ECE", counted):
        table.add_column(header, justify="right")
    for said, scored in rows:
        calibrated = scored.get("calibration", scored)  # the raw row holds its calibration itself
        table.add_row(
            *([said] if len(rows) > 1 else []),
            percent(scored["accuracy"]),
            f"{calibrated['nll']:.4f}",
            f"{calibrated['brier']:.4f}",
            percent(calibrated["ece"]),
            str(result["n"]),
        )
    return table


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


# ----------------------------------------------------------------------------- progress


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


# ----------------------------------------------------------------------------- a training run


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
        *([f"train {percent(r['accuracy'])}"] if "accuracy" in r else []),
    ]
    if "val_accuracy" in r:
        parts.append(f"val {percent(r['val_accuracy'])}")
    if "val_r2" in r:
        parts.append(f"val R² {r['val_r2']:.4f}")
    if "test_accuracy" in r:
        parts.append(f"test {percent(r['test_accuracy'])}")
    if "test_r2" in r:
        parts.append(f"test R² {r['test_r2']:.4f}")
    parts += [f"{r['seconds']:.2f}s", f"ends in {eta}"]
    return "  ".join(parts)


def live_view():
    """The live table and progress bar need a real terminal on both streams (TERM=dumb cannot
    redraw in place, so it gets the plain epoch lines)."""
    return console.is_terminal and err_console.is_terminal and not err_console.is_dumb_terminal


@contextlib.contextmanager
def training_view(settings, n_examples, rows, *, show_progress, steer=None):
    """What `train` shows while a run trains, on stderr: a rich live view (the epochs' table above
    a progress bar) on a terminal, plain lines otherwise. It only draws: it yields mlp.Callbacks
    whose on_batch draws the bar (after `steer`, numpy_mlp.run.steering's hook) and whose
    on_epoch(rows, checkpoint) draws the records so far (numpy_mlp.run.execute's).

    Args:
        settings: the run's mlp.Settings (epochs, batch size, task).
        n_examples: training examples in an epoch.
        rows: the records of the epochs a resumed run has already done (shown too).
        show_progress: the live view (live_view()), else a line per epoch.
        steer: an on_batch hook called before the view's, or None.
    """
    n_batches = -(-n_examples // settings.batch_size)
    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]:,.0f} samples/s"),
        TextColumn("ends in {task.fields[eta]}"),
        console=err_console,
    )
    first = len(rows)  # epochs finished before this run (a resumed one)
    task = progress.add_task(
        "train", total=n_batches, epoch=first + 1, epochs=settings.epochs, loss=float("nan"), rate=0.0, eta="?"
    )
    clock = {"start": time.perf_counter(), "drawn": 0.0, "run": time.perf_counter(), "epochs": first}

    def on_batch(i, n, batch_loss):
        if steer:
            steer(i, n, batch_loss)
        now = time.perf_counter()
        if i == 0:
            clock["start"] = now
        # Redraw from this thread at most 10 times a second: a background refresh thread
        # would fight OpenBLAS's threads for the two cores and slow training ~10x.
        if now - clock["drawn"] > 0.1 or i == n - 1:
            done = min((i + 1) * settings.batch_size, n_examples)
            epochs_done = clock["epochs"] - first + (i + 1) / n  # of this run, the current one's part included
            progress.update(
                task,
                completed=i + 1,
                loss=batch_loss,
                rate=done / max(now - clock["start"], 1e-9),
                eta=run_eta(clock["run"], epochs_done, settings.epochs - first),
            )
            live.refresh()
            clock["drawn"] = now

    def on_epoch(rows, checkpoint):
        clock["epochs"] = len(rows)
        if show_progress:
            live.update(Group(recent_table(rows), progress), refresh=True)
            progress.update(task, completed=0, epoch=rows[-1]["epoch"] + 1)
        else:
            eta = run_eta(clock["run"], len(rows) - first, settings.epochs - first)
            err_console.print(epoch_line(rows[-1], settings.epochs, eta), highlight=False, soft_wrap=True)

    if not show_progress:
        yield mlp.Callbacks(on_batch=steer, on_epoch=on_epoch)
        return
    with Live(
        Group(recent_table(rows), progress) if rows else progress,
        console=err_console,
        transient=True,
        auto_refresh=False,
    ) as live:
        yield mlp.Callbacks(on_batch=on_batch, on_epoch=on_epoch)


# ----------------------------------------------------------------------------- sweeps


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


def regression_tables(result, title):
    """eval's tables of a regression (mlp_score.regression_evaluated): its scores, then the
    rows predicted furthest off, true and predicted numbers side by side."""
    table = Table(title=title)
    for header in ("test R²", "MSE", "MAE", "examples"):
        table.add_column(header, justify="right")
    table.add_row(*(f"{result[k]:.4g}" for k in ("r2", "mse", "mae")), str(result["n"]))
    if not result["worst"]:
        return [table]
    worst, names = Table(title="Worst predicted"), [literal(n) for n in result["targets"]]
    for header in ("index", *(f"true {n}" for n in names), *(f"predicted {n}" for n in names)):
        worst.add_column(header, justify="right")
    for w in result["worst"]:
        worst.add_row(str(w["index"]), *(f"{v:.6g}" for v in w["true"] + w["predicted"]))
    return [table, worst]


def rate(value):
    """An AUC or another share that may be undefined (None: the test set lacks one kind), as a percentage."""
    return "-" if value is None else percent(value)


def decisions_table(binary):
    """eval's table of a two-class network's decisions (mlp_score.binary_decisions): at 0.5 and at
    its tuned threshold, and how well its probabilities rank the examples."""
    table = Table(
        title=f"Deciding {literal(binary['positive'])} (the positive class): ROC-AUC "
        f"{rate(binary['roc_auc'])}, PR-AUC {rate(binary['pr_auc'])}"
    )
    for header in ("cut", "accuracy", "balanced acc", "precision", "recall", "F1"):
        table.add_column(header, justify="right")
    rows = [("0.5", binary["at_half"])]
    if "tuned" in binary:
        rows.append((f"{binary['tuned']['cut']:.3g} (tuned for {binary['tuned']['metric']})", binary["tuned"]))
    for said, scores in rows:
        table.add_row(
            said, *(percent(scores[k]) for k in ("accuracy", "balanced_accuracy", "precision", "recall", "f1"))
        )
    return table


def label_tables(result, title):
    """eval's tables of a network of several labels per example (mlp_score.labels_evaluated): its
    scores over every label, then each label's, at the cut it is given at."""
    table = Table(title=title)
    for header in ("subset accuracy", "Hamming loss", "micro F1", "macro F1", "loss", "examples"):
        table.add_column(header, justify="right")
    table.add_row(
        percent(result["subset_accuracy"]),
        f"{result['hamming_loss']:.4f}",
        percent(result["micro"]["f1"]),
        percent(result["macro"]["f1"]),
        f"{result['loss']:.4f}",
        f"{result['n']:,}",
    )
    each = Table(title="Per label (given at or above its cut)")
    for header in ("label", "cut", "precision", "recall", "F1", "ROC-AUC", "PR-AUC", "positives"):
        each.add_column(header, justify="right")
    for r in result["per_label"]:
        scores = (percent(r[k]) for k in ("precision", "recall", "f1"))
        each.add_row(
            literal(r["name"]), f"{r['cut']:.3g}", *scores, rate(r["roc_auc"]), rate(r["pr_auc"]), str(r["support"])
        )
    return [table, each]


def scored_as(task):
    """(a sweep's trial values in words, how one is shown): validation accuracy, or a regression's
    validation R² (a study records its task: user_attrs["task"], when not classification)."""
    return ("validation R²", "{:.4f}".format) if task == "regression" else ("validation accuracy", percent)


def trials_table(rows, space, title, task=None):
    """A rich Table of a study's trials: number, state, validation accuracy (a pruned trial's
    last; a regression's R²), the searched options, seconds."""
    table, shown = Table(title=title), scored_as(task)[1]
    for header in (
        "#",
        "state",
        "val R²" if task == "regression" else "val acc",
        *map(SWEEP_HEADERS.get, space, space),
        "s",
    ):
        table.add_column(header, justify="left" if header == "state" else "right")
    styles = {"pruned": "dim", "fail": "red", "running": "yellow", "waiting": "yellow"}
    for r in rows:
        table.add_row(
            str(r["number"]),
            trial_state(r),
            shown(r["value"]) if r["value"] is not None else "",
            *(mlp_plot.shown_option(n, r["options"][n]) if n in r["options"] else "" for n in space),
            f"{r['seconds']:.0f}" if r["seconds"] is not None else "",
            style=styles.get(r["state"], ""),
        )
    return table


def sweep_progress(rows, n_trials, *, task, workers):
    """Where a sweep stands, in words: '3 of 20 trials finished (2 complete, 1 pruned), 2 running;
    best validation accuracy 97.10%; about 0:01:05 left' (the mean finished trial's seconds for each
    trial left, shared by `workers`; unknown before the first trial ends)."""
    finished = [r for r in rows if r["state"] in ("complete", "pruned")]
    complete = [r for r in finished if r["state"] == "complete"]
    running = sum(r["state"] == "running" for r in rows)
    words = f"{len(finished)} of {n_trials} trials finished ({len(complete)} complete, {len(finished) - len(complete)} pruned)"
    words += f", {running} running" if running else ""
    if complete:
        score, shown = scored_as(task)
        words += f"; best {score} {shown(max(r['value'] for r in complete))}"
    timed = [r["seconds"] for r in finished if r["seconds"] is not None]
    if len(finished) < n_trials:
        left = (n_trials - len(finished)) * sum(timed) / len(timed) / max(1, workers) if timed else None
        words += (
            f"; about {clock_time(left)} left" if left is not None else "; the time left is known once a trial ends"
        )
    return words


class SweepView:
    """What a sweep shows while it runs, from its first trial's start: a live table of its trials
    under a title saying where the sweep stands (sweep_progress) on a terminal (redrawn by whoever
    calls `update`: never a refresh thread, which would fight BLAS for the cores), or plain lines
    on stderr, when piped, as each trial starts and ends."""

    def __init__(self, study, space, sweep, n_trials, workers=1):
        self.study, self.space, self.sweep, self.n_trials, self.workers = study, space, sweep, n_trials, workers
        self.task = study.user_attrs.get("task")
        self.live = Live(console=err_console, transient=True, auto_refresh=False) if live_view() else None
        known = sweep.trial_rows(study)
        self.said = {r["number"] for r in known if r["state"] not in ("running", "waiting")}
        self.started = {r["number"] for r in known}
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
        if what == "epoch" and not self.live:  # lines are said as trials start and end
            return
        if what in ("epoch", "poll") and now - self.drawn < 0.5:
            return
        self.drawn = now
        rows = self.sweep.trial_rows(self.study)
        progress = sweep_progress(rows, self.n_trials, task=self.task, workers=self.workers)
        if self.live:
            title = f"Study '{self.study.study_name}': {progress}"
            self.live.update(trials_table(rows[-MOST_EPOCH_ROWS:], self.space, title, self.task), refresh=True)
            return
        for r in rows:
            self.say(r, progress)

    def options(self, row):
        """A trial's options as train's command line takes them."""
        return " ".join(" ".join(self.sweep.option_words(n, v)) for n, v in row["options"].items())

    def say(self, row, progress):
        """A trial's line when it is first seen running, and when it ends, with where the sweep stands."""
        if row["number"] not in self.started and row["state"] == "running" and row["sampled"]:
            self.started.add(row["number"])
            err_console.print(f"trial {row['number']} started ({self.options(row)})", highlight=False, soft_wrap=True)
        if row["number"] not in self.said and row["state"] not in ("running", "waiting"):
            self.said.add(row["number"])
            self.started.add(row["number"])
            words, shown = scored_as(self.task)
            value = f": {words} {shown(row['value'])}" if row["value"] is not None else ""
            err_console.print(
                f"trial {row['number']} {trial_state(row)}{value} in {row['seconds']:.1f} s ({self.options(row)}); "
                f"{progress}",
                highlight=False,
                soft_wrap=True,
            )


# ----------------------------------------------------------------------------- predictions


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
    numbers = "test_r2" in r  # a regression's R², not an accuracy
    shown = (lambda v: f"{v:.4f}") if numbers else percent
    headers.append("test R²" if numbers else "test acc")
    cells.append(shown(r["test_r2" if numbers else "test_accuracy"]))
    if torch:
        headers += ["torch s", "x torch", "torch acc"]
        cells += [
            f"{r['torch_epoch_seconds_median']:.3f}",
            f"{r['ratio_to_torch']:.2f}",
            percent(r["torch_test_accuracy"]),
        ]
    if sklearn:
        headers += ["sklearn s", "sklearn epochs", "sklearn R²" if numbers else "sklearn acc"]
        score = shown(r["sklearn_test_r2" if numbers else "sklearn_test_accuracy"])
        cells += [f"{r['sklearn_fit_seconds']:.2f}", str(r["sklearn_epochs"]), score]
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


def busy_note(r):
    """bench --busy's sentence: the epochs again beside busy processes, and the slowdowns."""
    if "busy" not in r:
        return ""
    b, n = r["busy"], r["busy"]["processes"]
    torch = (
        f"; PyTorch's {seconds_shown(b['torch_epoch_seconds_median'])} ({b['torch_slowdown']:.2f}x its own); "
        f"our slowdown over PyTorch's: {b['slowdown_to_torch']:.2f}"
        if "torch_slowdown" in b
        else ""
    )
    return (
        f". Beside {n} busy process{'es' if n > 1 else ''} (one core each): s/epoch "
        f"{seconds_shown(b['epoch_seconds_median'])}, the median of {timed_epochs(b['epoch_seconds'])} "
        f"({b['slowdown']:.2f}x the quiet median){torch}"
    )


def inputs_note(r):
    """bench's words on its data: the seconds to read it (and encode a table) and the memory
    its inputs hold."""
    inputs = r.get("inputs")
    if not inputs:
        return ""
    return (
        f"data: read{' and encoded' if inputs['table'] else ''} in "
        f"{r['data_seconds']:.2f} s into {inputs['rows']:,} x {inputs['features']:,} {inputs['dtype']} inputs "
        f"({inputs['megabytes']:,.1f} MB); "
    )


def bench_notes(r):
    """What bench's columns mean, and the machine, in one paragraph."""
    median, machine, evaluation = r["epoch_seconds_median"], r["machine"], r["test_evaluation_seconds"]
    augmentation = r["augmentation_seconds"]
    return (
        f"s/epoch is the median of {timed_epochs(r['epoch_seconds'])}; ckpt s: writing the "
        f"checkpoint train writes after every epoch ({share_of_an_epoch(r['checkpoint_seconds'], median)}); "
        f"eval s: scoring the test set, as train does after every epoch ({share_of_an_epoch(evaluation, median)}); "
        f"fit s: the {len(r['epoch_seconds'])} epochs' training together; "
        + inputs_note(r)
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
        f"{machine['blas'] or 'an unknown BLAS'} {machine['blas_version'] or ''}".rstrip()
        + busy_note(r)
    )
