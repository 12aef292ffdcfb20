"""A run's epochs in the tools people watch runs with, as optional extras: TensorBoard
(`train --tensorboard DIR`: event files written by tensorboardX, a scalar per number of every
epoch's record, the weights' histograms at the end) and MLflow (`train --mlflow`, or
MLFLOW_TRACKING_URI set: the run's options as params, every epoch's numbers as metrics at its step,
the weights, the history and the curves' figure as artifacts, in an experiment named by
--mlflow-experiment).

Each tracker works in a thread of its own, fed by a queue, so the training never waits on a disk or
a server: the first failure warns once and that tracker drops the rest of the run; at the end, what
is still queued gets at most CLOSE_SECONDS to be sent. A resumed run sends the epochs its checkpoint
holds again first (TensorBoard drops the earlier file's steps from there; MLflow gets a new run), so
every epoch is in each once.
"""

import contextlib
import importlib
import importlib.util
import logging
import math
import os
import queue
import threading
import time

CLOSE_SECONDS = 30.0  # what a tracker may still send once the run has ended

# MLflow retries a request up to 7 times with a growing back-off (minutes for a server gone): a
# tracker's thread gives up after seconds instead; the user's own settings win.
MLFLOW_PATIENCE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}

DEFAULT_EXPERIMENT = "numpy-mlp"  # without --mlflow-experiment or MLFLOW_EXPERIMENT_NAME

TRACKER_EXTRAS = {"tensorboard": "tensorboardX", "mlflow": "mlflow"}  # extra: the module it installs


def missing_extras(wanted):
    """The extras among `wanted` (keys of TRACKER_EXTRAS) whose module is not installed: found
    without importing it (MLflow takes seconds to import; the tracker's thread does it)."""
    return [extra for extra in wanted if importlib.util.find_spec(TRACKER_EXTRAS[extra]) is None]


def mlflow_wanted(flag, environ):
    """Whether a run goes to MLflow: --mlflow or --no-mlflow as given (`flag`), else whether
    MLFLOW_TRACKING_URI is set in `environ` (MLflow's own way of naming a server)."""
    return bool(environ.get("MLFLOW_TRACKING_URI")) if flag is None else flag


def experiment_name(given, environ):
    """The MLflow experiment: --mlflow-experiment, else MLFLOW_EXPERIMENT_NAME, else DEFAULT_EXPERIMENT."""
    return given or environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT


def numbers_of(record):
    """A record's finite numbers, as they are (an epoch without a test score has none)."""
    return {
        key: value
        for key, value in record.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def metrics_of(record):
    """An epoch's record as the numbers a tracker plots: each finite number but the epoch itself."""
    return {key: float(value) for key, value in numbers_of(record).items() if key != "epoch"}


def one_line(error):
    """An exception as a warning's clause: its first line, at most 200 characters."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= 200 else text[:197] + "..."


class Sender:
    """Calls made in order by a thread of their own, `name`d in the warning the first failing one
    gives (`warn`, a callable taking the line); after it, the rest are dropped."""

    def __init__(self, name, warn):
        self.name, self.warn, self.failed = name, warn, False
        self.calls = queue.SimpleQueue()
        self.thread = threading.Thread(target=self.work, name=f"numpy-mlp {name}", daemon=True)
        self.thread.start()

    def put(self, call, *args):
        """Queue `call(*args)` (nothing once a call has failed)."""
        if not self.failed:
            self.calls.put((call, args))

    def settle(self, deadline):
        """Wait until the calls queued so far have run (or failed), or `deadline` (time.monotonic()) passes."""
        done = threading.Event()
        self.calls.put((done, ()))  # set in its turn, even after a failure
        done.wait(max(0.0, deadline - time.monotonic()))

    def work(self):
        while (item := self.calls.get()) is not None:
            call, args = item
            if isinstance(call, threading.Event):
                call.set()
                continue
            if self.failed:
                continue
            try:
                call(*args)
            except Exception as e:  # the tool's failure, whatever its kind, is not the training's
                self.failed = True
                self.warn(f"warning: {self.name}: {one_line(e)}; the run goes on without it")

    def close(self, deadline):
        """Let the queued calls run until `deadline` (time.monotonic()), then leave them."""
        self.calls.put(None)
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive() and not self.failed:
            self.failed = True
            self.warn(f"warning: {self.name} did not answer within {CLOSE_SECONDS:.0f} s; the rest was not sent")


class TensorBoard:
    """Event files in `folder`: each epoch's numbers as scalars at the epoch's step (TensorBoard
    stores them as float32), flushed every epoch; the weights' histograms at the last."""

    def __init__(self, folder):
        self.name, self.folder = f"--tensorboard {folder}", folder
        self.writer, self.last = None, 0

    def start(self, rows):
        """A new event file whose first step is 1: TensorBoard drops what earlier files hold from
        there (a killed run's epochs, or another run's), then the epochs already done again."""
        self.writer = importlib.import_module("tensorboardX").SummaryWriter(logdir=str(self.folder), purge_step=1)
        for record in rows:
            self.epoch(record)

    def epoch(self, record):
        for key, value in metrics_of(record).items():
            self.writer.add_scalar(key, value, record["epoch"])
        self.writer.flush()
        self.last = record["epoch"]

    def finish(self, status, params, files):
        for name, value in (params or {}).items():
            self.writer.add_histogram(name, value, self.last)
        self.writer.close()


def patient_mlflow(environ):
    """Set MLFLOW_PATIENCE's settings in `environ` (os.environ) where the user set none."""
    for key, value in MLFLOW_PATIENCE.items():
        environ.setdefault(key, value)


class MLflow:
    """A run in MLflow's tracking store (MLFLOW_TRACKING_URI, else MLflow's default: a SQLite
    file in the working folder) under `experiment`: `params` ({name: value}) and `tags` logged at
    the start, each epoch's numbers as metrics at the epoch's step, `files` as artifacts at the
    end, and the run's status. `parent`: the run id of a sweep this run is a trial of, or None.
    `figures`: None, or figures(records, log) that makes the figures of the epochs' records and
    hands each to log(figure, file_name) (numpy_mlp.plot.run_figures): artifacts too."""

    def __init__(self, *, experiment, run_name, params, tags, parent=None, figures=None):
        self.name, self.experiment, self.run_name = "--mlflow", experiment, run_name
        self.params, self.tags, self.parent, self.figures = params, tags, parent, figures
        self.client = self.entities = self.run_id = None
        self.records = []

    def start(self, rows):
        patient_mlflow(os.environ)
        mlflow = importlib.import_module("mlflow")
        for name in ("mlflow", "alembic"):  # their INFO lines (a store made, a migration) are not the run's
            logging.getLogger(name).setLevel(logging.WARNING)
        self.client, self.entities = mlflow.MlflowClient(), importlib.import_module("mlflow.entities")
        tags = self.tags | ({"mlflow.parentRunId": self.parent} if self.parent else {})
        self.run_id = self.client.create_run(self.experiment_id(), run_name=self.run_name, tags=tags).info.run_id
        params = [self.entities.Param(k, str(v)) for k, v in self.params.items()]
        self.client.log_batch(self.run_id, params=params)
        for record in rows:
            self.epoch(record)

    def experiment_id(self):
        """The experiment's id, made if it is new (by this process or, at the same moment, another's)."""
        found = self.client.get_experiment_by_name(self.experiment)
        if found is None:
            try:
                return self.client.create_experiment(self.experiment)
            except Exception:  # made meanwhile by another process of the same sweep
                found = self.client.get_experiment_by_name(self.experiment)
                if found is None:
                    raise
        return found.experiment_id

    def epoch(self, record):
        now = int(time.time() * 1000)
        metrics = [self.entities.Metric(k, v, now, record["epoch"]) for k, v in metrics_of(record).items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        self.records.append(record)

    def finish(self, status, params, files):
        for path in files:
            self.client.log_artifact(self.run_id, str(path))
        if self.figures and self.records:
            self.figures(self.records, lambda figure, name: self.client.log_figure(self.run_id, figure, name))
        self.client.set_terminated(self.run_id, status)


class Watch:
    """What a command tells the trackers of its run: `epoch(record)` after each epoch,
    `finished(params, files)` once its outputs are written, `failed()` when it cannot finish."""

    def __init__(self, senders):
        self.senders, self.status, self.params, self.files = senders, "KILLED", None, ()

    def epoch(self, record):
        for tracker, sender in self.senders:
            sender.put(tracker.epoch, dict(record))

    def finished(self, params, files):
        self.status, self.params, self.files = "FINISHED", params, tuple(files)

    def failed(self):
        self.status = "FAILED"


@contextlib.contextmanager
def watching(trackers, rows, warn):
    """A Watch of `trackers` (TensorBoard, MLflow: none is fine), each started with the epochs
    already done (`rows`) in its own thread; on leaving, each is finished with the run's status
    (FINISHED after `finished`, else KILLED: a signal, or FAILED) and given CLOSE_SECONDS in all.

    The starts (the trackers' imports, the MLflow run made) are waited for, up to CLOSE_SECONDS,
    before the training begins: a library loaded (dlopen) in a thread while the training thread
    asks the dynamic loader for the BLAS libraries (threadpoolctl, as numpy_mlp.run.steering
    does) deadlocks the two. It also keeps their cost out of the epochs' time."""
    watch = Watch([(tracker, Sender(tracker.name, warn)) for tracker in trackers])
    for tracker, sender in watch.senders:
        sender.put(tracker.start, [dict(r) for r in rows])
    started_by = time.monotonic() + CLOSE_SECONDS
    for _, sender in watch.senders:
        sender.settle(started_by)
    try:
        yield watch
    finally:
        deadline = time.monotonic() + CLOSE_SECONDS
        for tracker, sender in watch.senders:
            sender.put(tracker.finish, watch.status, watch.params, watch.files)
        for _, sender in watch.senders:
            sender.close(deadline)
