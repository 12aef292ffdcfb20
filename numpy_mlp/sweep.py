"""Sweeps: many training runs that search the options a user left open, on Optuna.

Used by cli.py's `sweep`; a trial is planned by mlp_run.plan, so that it trains exactly as
`train` would with the same options. Optuna does the searching (a sampler), the early stopping
of hopeless trials (a pruner) and the sharing between workers (a storage: an SQLite file on one
machine, a PostgreSQL server for many); nothing here schedules or queues. Problems are raised as
ValueError with one line naming the problem and the fix. Its rooms, in order:
  search spaces     the default space, a --space file (TOML or JSON), checked; one trial's options
  storages          URLs as the user wrote them, masked, opened with a heartbeat
  studies           one per set of fixed options, continued by any worker
  workers           trials until the study has as many as asked, none run twice
  results           a study's trials as rows, the best trial as a command line
"""

import contextlib
import json
import math
import os
import random
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import warnings
from pathlib import Path

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

import mlp
import numpy_mlp
from numpy_mlp import guard as mlp_guard
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run
from numpy_mlp import trackers as mlp_trackers

# ----------------------------------------------------------------------------- search spaces
# A space maps train's option names (as Python names: batch_size) to a list of choices or to a
# range {"low", "high", "log"}; a range of whole numbers samples whole numbers. Hidden sizes are
# choices written "256-128" (two layers), since Optuna's choices must be plain values.
OPTION_FIELDS = mlp_run.OPTION_FIELDS
SEARCHABLE = {  # option: the Settings field it sets (None: an option of the network, not of Settings)
    "hidden": None,
    "normalize": None,
    **{option: field for option, field in OPTION_FIELDS.items() if option not in ("patience", "seed")},
}
NAMED = {  # options whose values are names: the registry that holds them
    "optimizer": mlp.OPTIMIZERS,
    "schedule": mlp.SCHEDULES,
    "augment": mlp_pictures.AUGMENTATIONS,
    "normalize": mlp.PREPROCESSINGS,
}
LR_SPAN = (0.1, 3.0)  # the default space's learning rates: this far below and above the optimizer's own


def hidden_sizes(choice):
    """[256, 128] from the choice "256-128" (or 256, or [256, 128])."""
    if isinstance(choice, int) and not isinstance(choice, bool):
        return [choice]
    if isinstance(choice, list):
        return [int(n) for n in choice]
    return [int(n) for n in str(choice).split("-")]


def hidden_choice(sizes):
    """The choice "256-128" for hidden sizes [256, 128]."""
    return "-".join(map(str, sizes))


def check_value(name, value, where):
    """A ValueError unless `value` is one that option `name` takes."""
    if name == "hidden":
        try:
            sizes = hidden_sizes(value)
        except (TypeError, ValueError):
            sizes = []
        if not sizes or min(sizes) < 1:
            raise ValueError(f'{where}: hidden choice {value!r} is not layer sizes such as "256-128"')
        return
    if name in NAMED:
        if value not in NAMED[name]:
            raise ValueError(f"{where}: {name} {value!r} is not one of {', '.join(NAMED[name])}")
        return
    field = SEARCHABLE[name]
    whole = field in ("batch_size", "warmup", "epochs")
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
        raise ValueError(f"{where}: {name} {value!r} is not a {'whole number' if whole else 'number'}")
    try:
        mlp.check_settings(mlp.Settings(activation="relu", **{field: value}))
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def checked_space(space, where="the search space"):
    """`space` with option names as Python names (batch-size: batch_size), each a list of
    choices or a range {"low", "high", "log"} of values the option takes; a ValueError naming
    the first problem otherwise."""
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{where}: give at least one option, as name = [choices] or name = {{low, high}}")
    checked = {}
    for raw, spec in space.items():
        name = str(raw).lstrip("-").replace("-", "_")
        if name not in SEARCHABLE:
            raise ValueError(f"{where}: {raw!r} is not an option a sweep searches ({', '.join(SEARCHABLE)})")
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"{where}: {raw} has no choices")
            for value in spec:
                check_value(name, value, where)
            checked[name] = [hidden_choice(hidden_sizes(v)) if name == "hidden" else v for v in spec]
            continue
        if not isinstance(spec, dict) or set(spec) - {"low", "high", "log"} or not {"low", "high"} <= set(spec):
            raise ValueError(f"{where}: {raw} must be a list of choices or {{low = ..., high = ..., log = true|false}}")
        if name in NAMED or name == "hidden":
            raise ValueError(f"{where}: {raw} takes names: give them as a list of choices")
        low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
        for value in (low, high):
            check_value(name, value, where)
        if not low <= high:
            raise ValueError(f"{where}: {raw}'s low ({low}) is above its high ({high})")
        if log and low <= 0:
            raise ValueError(f"{where}: {raw} on a log scale needs a low above 0 (it is {low})")
        checked[name] = {"low": low, "high": high, "log": log}
    return checked


def rounded(value, digits=3):
    """value to `digits` significant digits: what a trial trains with and its command line shows."""
    return float(f"{value:.{digits}g}")


def default_space(*, pictures, optimizer):
    """The space searched when no --space is given: width and depth, learning rate (around the
    optimizer's default), batch size, dropout, weight decay, schedule, and for pictures a
    whole-pixel shift. Sized for a few epochs a trial on two cores."""
    lr = mlp.OPTIMIZERS[optimizer].lr
    space = {
        "hidden": ["128", "256", "512", "256-128", "512-256"] if pictures else ["32", "64", "128", "64-32"],
        "lr": {"low": rounded(lr * LR_SPAN[0]), "high": rounded(lr * LR_SPAN[1]), "log": True},
        "batch_size": [64, 128, 256] if pictures else [16, 32, 64],
        "dropout": {"low": 0.0, "high": 0.3},
        "weight_decay": {"low": 1e-6, "high": 1e-3, "log": True},
        "schedule": ["cosine", "constant"],
    }
    if pictures:
        space["augment"] = ["none", "shift"]
    return checked_space(space, where="the default search space")


def read_space(path):
    """The space in a TOML or JSON file (by its suffix), checked (`checked_space`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read the search space {path}: {e.strerror or e}") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib  # novermin: Python 3.10 takes the except below
        except ImportError:  # Python 3.10: the same parser, before it joined the standard library
            import tomli as tomllib
        try:
            space = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path} is not valid TOML ({e}); see docs/commands.md for the form") from None
    elif path.suffix.lower() == ".json":
        try:
            space = json.loads(text)
        except ValueError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); see docs/commands.md for the form") from None
    else:
        raise ValueError(f"{path}: a search space is a .toml or .json file")
    return checked_space(space, where=str(path))


def suggest(trial, space):
    """One trial's options from the space: {option: value}, hidden as a list of sizes, a number
    sampled from a range rounded to 3 significant digits (so the command line is short and
    reproduces the trial exactly)."""
    options = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            value = trial.suggest_categorical(name, spec)
            options[name] = hidden_sizes(value) if name == "hidden" else value
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            options[name] = trial.suggest_int(name, spec["low"], spec["high"], log=spec["log"])
        else:
            options[name] = rounded(trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=spec["log"]))
    return options


# ----------------------------------------------------------------------------- storages

ENV_STORAGE = "MLP_SWEEP_STORAGE"  # where --storage may come from (and how workers get it: never on a command line)


def default_storage(out):
    """The SQLite file beside --out: sweep.db."""
    return f"sqlite:///{(Path(out).resolve().parent / 'sweep.db').as_posix()}"


def masked(url):
    """The URL with its password shown as ***, as every output shows it."""
    from urllib.parse import unquote

    from sqlalchemy.engine import make_url

    try:
        return unquote(make_url(url).render_as_string(hide_password=True))  # a socket's folder as written
    except Exception:  # not a URL SQLAlchemy can read: show its scheme only
        return url.split("://")[0] + "://..." if "://" in url else "..."


def driver_url(url):
    """The URL SQLAlchemy opens: postgresql:// means psycopg 3 when it is the driver installed
    (SQLAlchemy's default is the older psycopg2)."""
    import importlib.util

    if (
        url.startswith("postgresql://")
        and not importlib.util.find_spec("psycopg2")
        and importlib.util.find_spec("psycopg")
    ):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def engine_options(url):
    """SQLAlchemy's options for the URL: an SQLite file shared by local workers waits up to a
    minute for another's write (sqlite3's default is 5 s, short on a busy machine); a server's
    connections are checked before use (a worker outlives a server restart)."""
    if url.startswith("sqlite:"):
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def write_at_once(engine):
    """Make every SQLite transaction take the write lock when it begins (BEGIN IMMEDIATE, as
    SQLAlchemy's documentation shows for pysqlite). By default a transaction reads first and
    asks for the lock at its first write; two workers doing that at once deadlock, and SQLite
    answers one of them "database is locked" at once instead of waiting its timeout."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def no_implicit_begin(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # pysqlite's own BEGIN off: the one below instead

    @event.listens_for(engine, "begin")
    def begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners (Optuna's table checks) are dropped


def url_password(url):
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:
        return None


def failure_reason(error, url):
    """The first line of what a storage said, the password masked."""
    cause = error.__cause__ if isinstance(error, optuna.exceptions.StorageInternalError) and error.__cause__ else error
    reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()[0]
    password = url_password(url)
    return reason.replace(password, "***") if password else reason


# What a database says when another worker made the same table or row a moment before: workers
# started together on an empty database (a job array, `parallel`) all make Optuna's tables.
MADE_BY_ANOTHER = ("already exists", "unique constraint", "duplicate key", "database is locked")
MADE_ONCE_TRIES = 12  # about 6 s in all: the first worker's tables take well under a second


def made_by_another(error):
    """Whether a storage error is another worker making the same tables or rows at the same time."""
    return any(words in str(error).lower() for words in MADE_BY_ANOTHER)


def made_once(make, tries=MADE_ONCE_TRIES):
    """make() (Optuna's storage, which makes its tables on an empty database), tried again after a
    short random pause while the error is another worker making them (`made_by_another`)."""
    from sqlalchemy.exc import SQLAlchemyError

    pauses = random.Random()  # fresh entropy: workers started together must not pause alike
    with warnings.catch_warnings():  # Optuna calls the heartbeat "experimental" (since 2.9)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        for _ in range(tries - 1):
            try:
                with mlp_guard.stops_deferred():
                    return make()
            except SQLAlchemyError as e:
                if not made_by_another(e):
                    raise
            time.sleep(pauses.uniform(0.1, 0.9))
        with mlp_guard.stops_deferred():
            return make()  # the last try: whatever it raises is the user's to hear


def sqlite_file(parsed):
    """The file an SQLite URL (SQLAlchemy's URL) names, in either form: sqlite:///path, or
    SQLite's own URI form sqlite:///file:path?mode=ro&uri=true."""
    database = parsed.database
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = urllib.parse.urlsplit(database).path
    return Path(database)


def storage_files(url):
    """The files a storage URL names (an SQLite database's; none for a server's, or for what is no
    URL yet): inputs of the sweep, which no output of it may replace."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # open_storage says what is wrong with it
        return []
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return []
    return [sqlite_file(parsed)]


def open_storage(url, heartbeat):
    """Optuna's RDBStorage at `url`, its tables made if new, with a heartbeat every `heartbeat`
    seconds: a trial whose worker is silent for three beats (killed, say) is marked failed and
    retried once by the next worker to start a trial. ValueError naming the URL (masked) and
    the problem, before any training."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    shown = masked(url)
    if "://" not in url:
        raise ValueError(
            f"--storage {url!r} is not a URL: give one such as sqlite:///sweep.db or postgresql://user@host/db"
        )
    try:
        parsed = make_url(url)
    except Exception:  # its reason may quote the URL, password and all
        raise mlp_run.BadOption(
            f"--storage {shown} is not a URL SQLAlchemy can read (its host, port or database name?): give one "
            "such as sqlite:///sweep.db or postgresql://user:password@host:5432/db"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise mlp_run.BadOption(
            f"--storage {shown} is an in-memory database, which the sweep's workers do not share and which is "
            "gone when it ends: give a file, such as sqlite:///sweep.db"
        )
    if parsed.get_backend_name() == "sqlite" and not sqlite_file(parsed).parent.is_dir():
        raise ValueError(f"cannot open the sweep storage {shown}: its folder does not exist")
    try:
        storage = made_once(
            lambda: RDBStorage(
                driver_url(url),
                heartbeat_interval=max(1, round(heartbeat)),
                grace_period=max(3, round(3 * heartbeat)),
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                engine_kwargs=engine_options(url),
            )
        )
        if url.startswith("sqlite:"):
            write_at_once(storage.engine)
        return storage
    except ImportError as e:
        missing = getattr(e.__cause__, "name", None) or getattr(e, "name", None) or "its driver"
        raise ValueError(
            f"cannot open the sweep storage {shown}: its database driver ({missing}) is not installed; "
            "PostgreSQL's comes with the sweep extra (psycopg), another database's is pip-installed as SQLAlchemy says"
        ) from None
    except (ArgumentError, SQLAlchemyError, ValueError) as e:
        raise ValueError(f"cannot open the sweep storage {shown}: {failure_reason(e, url)}") from None


def storage_failures():
    """The exceptions a storage raises when it fails mid-sweep (a server gone, a disk full)."""
    from sqlalchemy.exc import SQLAlchemyError

    return (optuna.exceptions.StorageInternalError, SQLAlchemyError)


def study_names(storage):
    return [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]


def stored_study(storage, url, name):
    """The study `name` from its storage (`sweep --show`, `plot sweep`), or one line naming the
    studies the storage holds."""
    names = study_names(storage)
    if name not in names:
        raise ValueError(f"no study '{name}' in {masked(url)}" + (f"; it holds {'; '.join(names)}" if names else ""))
    return optuna.load_study(study_name=name, storage=storage)


# ----------------------------------------------------------------------------- studies


def option_flag(name):
    return "--" + name.replace("_", "-")


def option_words(name, value):
    """A trial's option as command-line words: ["--hidden", "256", "128"], ["--lr", "0.0316"]."""
    if name == "hidden":
        return [option_flag(name), *map(str, value)]
    if isinstance(value, bool):  # a flag (--deslant): its name alone when on
        return [option_flag(name)] if value else []
    if isinstance(value, (list, tuple)):  # an option given once per value (--ignore a --ignore b)
        return [word for each in value for word in (option_flag(name), str(each))]
    if isinstance(value, float):
        return [
            option_flag(name),
            f"{value:g}" if math.isfinite(value) and float(f"{value:g}") == value else repr(value),
        ]
    return [option_flag(name), str(value)]


def described_fixed(value):
    """A study's fixed options as train's words ('relu --epochs 3'), or its space as JSON."""
    if isinstance(value, dict) and "options" in value:
        words = [value["activation"]]
        for name, given in value["options"].items():
            words += option_words(name, given)
        return " ".join(map(str, words))
    return json.dumps(value)


def quiet_optuna():
    """Optuna's own log lines off: the sweep says what happens in its own words."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def open_study(storage, name, *, fixed, space, n_startup=5):
    """The study `name` (made if new) searching `space` with `fixed` (what every trial shares:
    train's options as given, the validation size), checked to be the same as when it was made;
    TPE sampling (with a constant liar, for trials that run side by side) and median pruning
    after n_startup trials, from the second epoch on."""
    quiet_optuna()
    with warnings.catch_warnings():  # the constant liar was "experimental" before Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(n_startup_trials=n_startup, constant_liar=True)
    study = made_once(
        lambda: optuna.create_study(
            storage=storage,
            study_name=name,
            direction="maximize",
            sampler=sampler,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=n_startup, n_warmup_steps=2),
            load_if_exists=True,
        )
    )
    recorded = study.user_attrs
    for key, value, what in (("fixed", fixed, "train options"), ("space", space, "search space")):
        if key not in recorded:  # a new study, or one another worker has just made: these are its own
            made_once(lambda key=key, value=value: study.set_user_attr(key, value))
        elif recorded[key] != value:
            raise ValueError(
                f"study '{name}' was made with other {what} ({described_fixed(recorded.get(key))}); "
                "give the same ones to continue it, or another --study"
            )
    return study


# ----------------------------------------------------------------------------- workers

LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class Surplus(Exception):
    """This trial was started by a worker racing another to the study's last trial."""


class StoppedTrial(Exception):
    """A stop signal (Ctrl-C) arrived during the trial, which Optuna has recorded as failed."""

    def __init__(self, trial, signum):
        super().__init__(f"trial {trial} stopped")
        self.trial, self.signum = trial, signum


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def counts(study):
    """{state name: how many}, surplus trials left out."""
    found = {}
    for t in study.get_trials(deepcopy=False):
        if not t.user_attrs.get("surplus"):
            found[t.state.name] = found.get(t.state.name, 0) + 1
    return found


def best_command(study, trial, program_name):
    """The `train` command line that trains `trial` again: the study's fixed train options as
    typed, the trial's options, the validation size and the trial's BLAS threads."""
    args = list(study.user_attrs.get("args", []))
    if "--threads" in args:
        del args[args.index("--threads") : args.index("--threads") + 2]
    words = [study.user_attrs["fixed"]["activation"], *args]
    for name, value in trial.user_attrs["options"].items():
        words += option_words(name, value)
    if not study.user_attrs["fixed"]["options"].get("val"):
        words += ["--val", str(study.user_attrs["fixed"]["val"])]
    if trial.user_attrs.get("threads"):
        words += ["--threads", str(trial.user_attrs["threads"])]
    return f"{program_name} train {shlex.join(words)}"


def trial_scores(history):
    """What a trial scored, for its user attributes (Optuna's dashboard shows them): the numbers of
    its best epoch's record (best_epoch, the validation and training scores, ...), and how many
    epochs it ran in how many seconds."""
    best = history[history[-1].get("best_epoch", len(history)) - 1]
    numbers = {k: v for k, v in mlp_trackers.numbers_of(best).items() if k != "seconds"}
    return numbers | {"epochs_run": len(history), "seconds": round(sum(r["seconds"] for r in history), 3)}


def objective(study, n_trials, space, train_trial, on_event, threads):
    """Optuna's objective: check this trial is not beyond the study's n_trials, sample its
    options, train (train_trial(options, report, name=) -> (best validation accuracy, (run,
    params, history)): `trainer`'s), reporting each epoch's validation accuracy to the pruner.
    The trial keeps its options, its train command and its scores as user attributes. A run that
    diverges counts as pruned."""

    def run(trial):
        try:
            return trial_of(trial)
        except mlp_guard.Stop as stop:  # Optuna records an Exception as a failed trial, and raises it again
            raise StoppedTrial(trial.number, stop.signum) from None

    def trial_of(trial):
        ahead = [t for t in study.get_trials(deepcopy=False, states=LIVE) if t.number < trial.number]
        if len([t for t in ahead if not t.user_attrs.get("surplus")]) >= n_trials:
            trial.set_user_attr("surplus", True)
            raise Surplus(trial.number)
        options = suggest(trial, space)
        trial.set_user_attr("options", options)
        trial.set_user_attr("worker", worker_name())
        trial.set_user_attr("threads", threads)
        trial.set_user_attr("train_command", best_command(study, trial, study.user_attrs.get("program", "mlp")))
        on_event("start", trial.number)

        def report(epoch, val_accuracy):
            with mlp_guard.stops_deferred():  # the database's talk ends before a stop
                trial.report(val_accuracy, epoch)
                on_event("epoch", trial.number)
                pruned = trial.should_prune()
            if pruned:
                raise optuna.TrialPruned(f"validation accuracy {val_accuracy:.4f} after epoch {epoch}")

        try:
            with mlp_guard.stops_deferred(on=False):  # training: a stop ends it at once
                value, (_, _, history) = train_trial(options, report, name=f"trial {trial.number}")
            trial.set_user_attr("scores", trial_scores(history))
            return value
        except FloatingPointError as e:
            trial.set_user_attr("diverged", str(e))
            raise optuna.TrialPruned(str(e)) from None

    return run


def run_worker(study, n_trials, *, space, train_trial, on_event=lambda what, number: None, threads=0, poll=1.0):
    """Run trials of `study` until it has n_trials finished ones (complete or pruned), with
    other workers anywhere doing the same: a trial is started only while fewer than n_trials are
    finished, running or waiting; a worker that finds the rest running elsewhere waits for them
    (a stale one, its worker killed, is failed and retried here). Returns the number of trials
    this worker ran. Raises StoppedTrial (or mlp_guard.Stop between trials) on a stop signal."""
    ran = 0
    run = objective(study, n_trials, space, train_trial, on_event, threads)
    while True:
        with mlp_guard.stops_deferred():  # a stop waits while the database talks (training does not: see objective)
            with warnings.catch_warnings():  # "experimental" since Optuna 2.9, and what optimize() calls
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # and the retry callback queues them again
            found = counts(study)
            if sum(found.get(s.name, 0) for s in FINISHED) >= n_trials:
                return ran
            elsewhere = sum(found.get(s.name, 0) for s in LIVE) >= n_trials and not found.get("WAITING")
            if not elsewhere:
                study.optimize(run, n_trials=1, catch=(Surplus,), gc_after_trial=False)
                on_event("end", None)  # the trial is told by now: its state is final
                ran += 1
        if elsewhere:
            time.sleep(poll)  # the last trials run elsewhere: wait for them (or for them to go stale)


ENV_PARENT = "MLP_SWEEP_PARENT"  # the pid of the sweep that started a worker (local_workers)


def end_with_parent(poll=1.0):
    """In a worker that local_workers started: once the sweep that started it is gone (killed by
    SIGKILL, whose handler cannot pass the stop on), stop this worker as a stop signal would,
    its trial recorded as failed, rather than run on alone. A daemon thread that polls."""
    parent = os.environ.get(ENV_PARENT, "")
    if not parent.isdigit():
        return

    def watch():
        while os.getppid() == int(parent):  # an orphan's parent becomes another process
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)  # Windows has no handlers for it: it ends the worker there

    threading.Thread(target=watch, daemon=True, name="end-with-parent").start()


def local_workers(commands, url, on_poll=lambda: None, poll=0.5):
    """Run one worker process per command line (the storage URL in their environment as
    ENV_STORAGE, never on a command line, where `ps` shows it to everyone), calling on_poll()
    every `poll` seconds until all have ended; their exit codes. A stop signal here (Ctrl-C
    reaches them too; a SIGTERM sent to this process alone does not) is passed on to them, they
    record their trials as failed, and it is raised again once they have ended."""
    env = {**os.environ, ENV_STORAGE: url, ENV_PARENT: str(os.getpid())}
    workers = [subprocess.Popen(c, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL) for c in commands]
    try:
        while any(w.poll() is None for w in workers):
            with mlp_guard.stops_deferred():  # the live table reads the database
                on_poll()
            time.sleep(poll)
    except mlp_guard.Stop as stop:
        for w in workers:
            if w.poll() is None:
                with contextlib.suppress(OSError):
                    w.send_signal(stop.signum) if os.name == "posix" else w.terminate()
        for w in workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.wait(timeout=60)
        raise
    finally:
        for w in workers:  # whatever happened here, no worker outlives the sweep that started it
            if w.poll() is None:
                w.kill()
                w.wait()
    on_poll()
    return [w.returncode for w in workers]


# ----------------------------------------------------------------------------- results


def clock_now(trial):
    import datetime

    return datetime.datetime.now(trial.datetime_start.tzinfo)


def options_of(params):
    """A trial's options from Optuna's params, as `suggest` gives them (before it has said)."""
    return {
        k: hidden_sizes(v) if k == "hidden" else rounded(v) if isinstance(v, float) else v for k, v in params.items()
    }


def trial_rows(study):
    """One dict a trial (surplus ones left out), in number order: number, state (a name),
    value (best validation accuracy; for a pruned trial its last reported), epochs (how many
    reported), options, sampled (whether all its options are chosen), seconds, worker, retried
    (the number of the failed trial it repeats), diverged, ended."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        steps = t.intermediate_values
        value = t.value if t.state == TrialState.COMPLETE else None
        if t.state in (TrialState.PRUNED, TrialState.RUNNING) and steps:
            value = steps[max(steps)]  # its last reported
        end = t.datetime_complete
        seconds = ((end or clock_now(t)) - t.datetime_start).total_seconds() if t.datetime_start else None
        failed = t.system_attrs.get("failed_trial")  # the number of the trial it runs again
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": value,
                "epochs": max(steps) if steps else 0,
                "options": t.user_attrs.get("options") or options_of(t.params),
                "sampled": "options" in t.user_attrs,  # all its options chosen (else those so far)
                "seconds": seconds,
                "worker": t.user_attrs.get("worker"),
                "retried": failed,
                "diverged": t.user_attrs.get("diverged"),
                "ended": end and end.timestamp(),
            }
        )
    return rows


def best_trial(study):
    """The complete trial of the highest validation accuracy (the first, among equals), or None."""
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def score(run):
    """The validation record a trial is scored by: val_accuracy, or a regression's val_r2."""
    return f"val_{mlp.TASKS[run.settings.task].score}"


def trainer(values, given, *, found, val, watched=lambda run, name: mlp_trackers.watching([], [], None)):
    """train_trial(options, report=None) -> (best validation accuracy, (run, params, history)):
    one trial planned as `train` plans its run (mlp_run.plan) with `values` (train's options,
    as JSON holds them) and the trial's `options` given, trained quietly and scored on the
    validation split only; report(epoch, val_accuracy) after each epoch (Optuna's pruner may
    stop the trial there). `watched(run, name)`: the trackers' context (mlp_trackers.watching) of
    a trial `name`d ("trial 7"; None for the best trial trained again), told of every epoch."""
    asked = mlp_run.asked_settings(values["activation"], values)
    framings = {}  # measured once for the data, not once a trial

    def train_trial(options, report=None, name=None):
        fields = {SEARCHABLE[k]: v for k, v in options.items() if SEARCHABLE[k]}
        run = mlp_run.plan(
            asked._replace(**fields),
            given=given | set(options),
            found=found,
            data=values["data"],
            label_column=values["label_column"],
            val=val,
            hidden=options.get("hidden", values["hidden"]),
            normalize=options.get("normalize", values["normalize"]),
            init=values["init"] and Path(values["init"]),
            dtype=values["dtype"],
            class_weight=values["class_weight"],
            straighten={"deslant": values["deslant"], "width": values["width"]},
            framings=framings,
            calibrate=values["calibrate"],
            threshold_for=values.get("threshold_for"),
        )
        with watched(run, name) as watch:

            def reported(rows, checkpoint):  # told first: a pruned trial's last epoch is in its trackers
                watch.epoch(rows[-1])
                if report:
                    report(rows[-1]["epoch"], rows[-1][score(run)])

            try:
                params, history = mlp_run.execute(run, mlp.Callbacks(on_epoch=reported))  # no test set: validation only
            except FloatingPointError:
                watch.failed()
                raise
            watch.finished(None, [])
        return history[history[-1]["best_epoch"] - 1][score(run)], (run, params, history)

    return train_trial


# ----------------------------------------------------------------------------- a sweep from the command line
# What `sweep` decides from train's options before and after the trials: the fixed options and
# the space, the storage, the workers' command lines, and the best trial trained again.


AFRESH = "a sweep's trials each start afresh; leave it out"
WATCHED = "a sweep's trials are in its study (optuna-dashboard shows them) and, with --mlflow, in MLflow; leave it out"
SWEEP_REFUSES = {
    "resume": f"--resume: {AFRESH}",
    "checkpoint_every": f"--checkpoint-every: {AFRESH}",
    "log": f"--log: {WATCHED}",
    "tensorboard": f"--tensorboard: {WATCHED}",
}  # train's options a sweep refuses, each with why


SWEEP_NOT_COMPARED = (
    "threads",
    "mlflow",
    "mlflow_experiment",
)  # train options that may differ between a study's workers


def plain_value(value):
    """An option's value as JSON holds it (a study records its fixed options): an Enum's value,
    a path as text."""
    if hasattr(value, "value"):  # an Enum of the command line's choices
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def sweep_val(values, n):
    """The validation examples every trial is scored on: --val, or 5,000 of MNIST's 60,000
    (a sixth of smaller data)."""
    return values["val"] or min(5000, n // 6)


def sweep_space(space, given, *, found, values):
    """(searched, held): the space searched, --space's as read_space read it (or, for None, the
    default for this data and optimizer), without the options given, which are held fixed
    (`held`: those the --space file named, for the user to hear)."""
    if space:
        searched = space
    else:
        optimizer = plain_value(values["optimizer"])
        if "optimizer" not in given:
            optimizer = mlp_run.fitted_defaults(len(found.y_train), pictures=found.shape is not None)["optimizer"]
        searched = default_space(pictures=found.shape is not None, optimizer=optimizer)
    held = [name for name in searched if name in given] if space else []
    searched = {k: v for k, v in searched.items() if k not in given}
    if not searched:
        raise mlp_run.BadOption(
            "every option of the search space is given, so nothing is left to search: leave some out"
        )
    return searched, held


def study_summary(rows, name, url):
    """'study relu (sqlite:///.../sweep.db): 20 trials: 12 complete, 7 pruned, 1 failed'."""
    states = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    words = ", ".join(f"{n} {s.replace('fail', 'failed')}" for s, n in states.items())
    return f"study '{name}' ({masked(url)}): {len(rows)} trials: {words or 'none yet'}"


def worker_command(args, activation, *, trials, study, space, out, heartbeat, threads):
    """The command line of one local worker: this sweep's (`args`, the train options it was
    given), as a --worker of this copy of the command line, with its BLAS threads."""
    args = list(args)
    if "--threads" not in args:
        args += ["--threads", str(threads)]
    words = ["sweep", activation, *args, "--trials", str(trials), "--study", study, "--out", str(out)]
    words += ["--heartbeat", str(heartbeat), "--worker"] + (["--space", str(space.resolve())] if space else [])
    return numpy_mlp.python_command("numpy_mlp.cli:main", *words)


def sweep_storage(storage, out, *, heartbeat, must_exist=False):
    """(url, RDBStorage): --storage's (or $MLP_SWEEP_STORAGE's), or sweep.db beside --out."""
    url = storage or default_storage(out)
    if "://" not in url:
        raise mlp_run.BadOption(
            f"--storage {url!r} is not a URL: give one such as sqlite:///sweep.db or postgresql://user@host/db"
        )
    if must_exist and url == default_storage(out) and not Path(out).resolve().with_name("sweep.db").is_file():
        raise ValueError(f"no sweep.db beside {out}: run a sweep first, or give --storage")
    return url, open_storage(url, heartbeat=heartbeat)


def stopped_trials(study, since):
    """(numbers, finished): the trials this machine's workers marked failed since `since`
    (time.time()), when a stop signal ended them, and how many finished trials the study keeps."""
    rows = trial_rows(study)
    here = worker_name().rsplit(":", 1)[0] + ":"
    stopped = [
        r["number"]
        for r in rows
        if r["state"] == "fail" and (r.get("worker") or "").startswith(here) and (r["ended"] or 0) >= since
    ]
    return stopped, sum(r["state"] in ("complete", "pruned") for r in rows)


def best_retrained(study, *, name, url, train_trial, found):
    """The best trial trained again here (train_trial: `trainer`'s), scored once on the test
    set: {"best" (the Optuna trial), "value" (its validation accuracy now), "params",
    "history", "meta" (the weights' record, the study and trial in it), "test_accuracy"}.
    ValueError when no trial completed."""
    best = best_trial(study)
    if best is None:
        raise ValueError(f"no trial of study '{name}' completed, so there are no best settings: see the table above")
    value, (run, params, history) = train_trial(best.user_attrs["options"])
    settings, tested = run.settings, f"test_{mlp.TASKS[run.settings.task].score}"
    test_loss, test_score = mlp.evaluate(
        params,
        found.x_test,
        run.y_test,
        settings.activation,
        preprocessing=run.network["preprocessing"],
        task=settings.task,
    )  # the test set, scored once, for this trial only
    kept = history[-1]["best_epoch"] - 1
    scored = [
        dict(r, **({"test_loss": test_loss, tested: test_score} if i == kept else {})) for i, r in enumerate(history)
    ]
    meta, _ = mlp_run.weights_meta(scored, run, params)
    meta["sweep"] = {"study": name, "storage": masked(url), "trial": best.number, score(run): best.value}
    return {"best": best, "value": value, "params": params, "history": history, "meta": meta, tested: test_score}
