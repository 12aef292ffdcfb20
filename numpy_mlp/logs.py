"""A run's epochs as they end, in the forms other tools read: a JSON-lines or CSV log (`train
--log FILE`), appended and flushed after every epoch, so that `tail -f`, a spreadsheet or a
notebook sees the run while it trains.

A resumed run's log is first written again from the checkpoint's own records (the run's truth):
an epoch logged after the last checkpoint, before a `kill -9`, is dropped and logged again when it
is trained again, so every epoch is in the log once. A log that cannot be written (a full disk, a
folder gone) warns once and never stops the training.
"""

import csv
import io
import json
import math
import os

LOG_FORMS = {".jsonl": "JSON lines", ".csv": "CSV"}  # by the file's suffix

# The CSV's columns, in this order, those the run has (a record lacking one leaves its cell empty).
CSV_COLUMNS = (
    "epoch",
    "lr",
    "loss",
    "accuracy",
    "r2",
    "val_loss",
    "val_accuracy",
    "val_r2",
    "test_loss",
    "test_accuracy",
    "test_r2",
    "best_epoch",
    "seconds",
)


def log_form(path):
    """The form of a --log path by its suffix (a key of LOG_FORMS), or ValueError naming them."""
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in LOG_FORMS:
        raise ValueError(f"--log {path}: give a file ending in {' or '.join(LOG_FORMS)} (JSON lines or CSV)")
    return suffix


def plain(value):
    """A record's value as JSON writes it: NaN and infinity as null (JSON has neither)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def jsonl_line(record):
    """One epoch's record as a line of JSON."""
    return json.dumps({k: plain(v) for k, v in record.items()}) + "\n"


def csv_columns(task_keys):
    """The CSV columns of a run whose records have the keys `task_keys` (those of CSV_COLUMNS)."""
    return [c for c in CSV_COLUMNS if c in task_keys]


def csv_line(record, columns):
    """One epoch's record as a CSV row of `columns` (empty where the record has none)."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(["" if plain(record.get(c)) is None else record[c] for c in columns])
    return text.getvalue()


def run_keys(task, validation, test):
    """The record keys a run writes: the training loss and score, and those of its validation and
    test splits when it scores them ("r2" for a regression's score, "accuracy" otherwise)."""
    score = "r2" if task == "regression" else "accuracy"
    keys = {"epoch", "lr", "loss", score, "seconds"}
    if validation:
        keys |= {"val_loss", f"val_{score}", "best_epoch"}
    if test:
        keys |= {"test_loss", f"test_{score}"}
    return keys


class EpochLog:
    """The log of one run at `path`: `start(rows)` writes the epochs already done (a resumed run's,
    else none: a new log), `add(record)` appends one epoch and flushes it. A failure to write warns
    once (`warn`, a callable taking the line) and the rest of the run is not logged."""

    def __init__(self, path, keys, warn):
        self.path, self.form, self.warn = path, log_form(path), warn
        self.columns = csv_columns(keys)
        self.file = None

    def line(self, record):
        return jsonl_line(record) if self.form == ".jsonl" else csv_line(record, self.columns)

    def start(self, rows):
        """Write the log again from the records of the epochs already done (none for a new run)."""
        head = "" if self.form == ".jsonl" else csv_line(dict(zip(self.columns, self.columns)), self.columns)
        self.attempt(lambda: self.opened(head + "".join(self.line(r) for r in rows)))

    def opened(self, text):
        self.file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (kept open for the run)
        self.file.write(text)
        self.file.flush()

    def add(self, record):
        """Append one epoch's record and flush it (nothing after a failure)."""
        if self.file is not None:
            self.attempt(lambda: (self.file.write(self.line(record)), self.file.flush()))

    def attempt(self, write):
        try:
            write()
        except OSError as e:
            self.close()
            self.warn(f"warning: --log {self.path}: {e.strerror or e}; the run goes on without its log")

    def close(self):
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None
