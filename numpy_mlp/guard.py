"""What keeps a training run whole: stop signals, one run per output, weights records
checked, and checkpoints to resume from.

Used by cli.py's train (and its other commands, for the signals), sweep's workers and bench;
the network itself (mlp.py) knows nothing of processes. Problems are raised as ValueError
with one line naming the problem and the fix, as mlp.py raises them. Its rooms, in order:
  stop signals         SIGINT, SIGTERM and SIGHUP raise Stop once; repeats cannot break a save
  one run per output   an OS lock beside --out, released by the OS even on kill -9
  weights records      what a weights file's meta may hold, checked field by field
  checkpoint files     a weights file with the training state beside, checked before resuming
  resuming             what a checkpoint records of its run and data, checked before resuming
"""

import contextlib
import hashlib
import os
import signal
import threading
import time

import numpy as np

import mlp
from numpy_mlp import data as mlp_data

# ----------------------------------------------------------------------------- stop signals


class Stop(BaseException):
    """SIGINT (Ctrl-C), SIGTERM or SIGHUP arrived; the exit code is 128 + its number. A
    BaseException, as KeyboardInterrupt is: code that catches Exception (socketserver's request
    handling, say) must not swallow it, or the signal that raised it would be lost."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
RECEIVED = []  # every stop signal this process received (signals are process-wide, and so is this)
# A stop signal that arrives while a sweep talks to its database waits for the talk to end: raised
# inside SQLAlchemy's read of a result, it leaves a cursor half-closed and SQLAlchemy logs a
# traceback. {"on": whether stops wait now, "pending": the signal waiting}.
DEFERRED = {"on": False, "pending": None}


@contextlib.contextmanager
def stop_signals():
    """While a command runs: the first SIGINT, SIGTERM or SIGHUP raises Stop; any later one is
    only recorded, so that a second Ctrl-C (people press it twice) cannot break the save that
    follows. `disarm()` records without raising from then on. Yields a dict with "received"
    (signal numbers, in order) and "disarm". Outside the main thread (where Python allows no
    handlers) it changes nothing."""
    state = {"armed": True, "received": [], "disarm": lambda: state.update(armed=False)}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        state["received"].append(signum)
        RECEIVED.append(signum)
        if state["armed"]:
            state["armed"] = False
            if DEFERRED["on"]:
                DEFERRED["pending"] = signum
                return
            raise Stop(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield state
    finally:
        for s, old in previous.items():
            # After a stop the process is on its way out, its files saved: ignore repeats
            # (Python's shutdown would put back the default handlers, which kill at once).
            signal.signal(s, signal.SIG_IGN if RECEIVED else old)


def raise_pending_stop():
    """Raise Stop for the signal that waited in a stops_deferred block, if one did."""
    signum, DEFERRED["pending"] = DEFERRED["pending"], None
    if signum is not None:
        raise Stop(signum)


@contextlib.contextmanager
def stops_deferred(on=True):
    """Within the block a stop signal (see stop_signals) waits for the block's end (on=True),
    or, inside such a block, is raised at once (on=False: the parts safe to interrupt, such as
    training). A waiting signal is raised as Stop as soon as the code runs where stops do not
    wait; when the block ends with an exception, that goes on and the signal waits on."""
    before = DEFERRED["on"]
    DEFERRED["on"] = on
    try:
        if not on:
            raise_pending_stop()
        yield
    finally:
        DEFERRED["on"] = before
    if not before:
        raise_pending_stop()


# ----------------------------------------------------------------------------- one run per output


def try_lock(f):
    """Take an exclusive lock on the open file f without waiting; False when another process
    holds it. The operating system drops it when its process dies, kill -9 included."""
    try:
        import fcntl
    except ImportError:  # Windows
        try:
            import msvcrt
        except ImportError:  # neither: nothing to lock with, so runs are not kept apart
            return True
        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class OutputHeld(ValueError):
    """--out is held by another running process: `holder` is its first line (its PID and
    start), `what` the second (what that run is, e.g. a sweep's study; '' when it said none)."""

    def __init__(self, out, holder, what):
        super().__init__(
            f"{out} is being written by another run ({holder or 'a running process'}); wait for "
            "it to finish or choose another --out"
        )
        self.holder, self.what = holder, what


def _held_lock(lock_path, out, wait):
    """The lock file, opened and locked by this process; OutputHeld when another holds it (after
    polling every half second while `wait`: a sleep a stop signal can end, on every system)."""
    unsaid = 10  # times to look again at a lock whose holder has not yet written who it is
    while True:
        f = open(lock_path, "a+")
        if not try_lock(f):
            holder, what = "", ""
            with contextlib.suppress(OSError):
                f.seek(0)
                holder, what, *_ = f.read().split("\n") + ["", ""]
            f.close()
            if wait or (not holder and unsaid > 0):
                unsaid -= 1
                time.sleep(0.5 if wait else 0.1)
                continue
            raise OutputHeld(out, holder.strip(), what.strip())
        with contextlib.suppress(OSError):
            if os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino:
                return f  # the file we locked is still the lock file (the last holder may have removed it)
        f.close()


@contextlib.contextmanager
def one_run_per_output(lock_path, out, *, what="", wait=False):
    """Hold the lock file beside --out while the block runs: a second run with the same --out
    is refused in one line naming the first (OutputHeld, a ValueError), or waits for it (`wait`).
    `what` says what this run is, for the runs it refuses (a sweep's workers join their own
    study's). A lock left by a killed process does not block (the operating system released it);
    the file is removed at the end."""
    f = _held_lock(lock_path, out, wait)
    try:
        f.seek(0)
        f.truncate()
        f.write(f"PID {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n{what}\n")
        f.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still holding it; Windows refuses, and the file stays
        f.close()


# ----------------------------------------------------------------------------- weights records
# What a weights file's meta may hold besides its sizes, activation and preprocessing (which
# mlp.load checks): for each field, (the types it may have, a check of its value given the
# sizes, what it must be). Absent fields (weights saved by mlp.save alone) pass, and so do
# classes of null. Every command reads weights through `load_weights` or `load_checkpoint`.


def _names(v, sizes):
    plain = [isinstance(n, str) and n and not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in n) for n in v]
    return len(v) >= sizes[-1] and all(plain) and len(set(v)) == len(v)


def _input(v, sizes):
    shape = v.get("shape")
    pictures = shape is None or (
        isinstance(shape, list)
        and len(shape) == 2
        and all(mlp._whole(n) and n >= 1 for n in shape)
        and shape[0] * shape[1] == sizes[0]
    )
    framing = v.get("framing")
    framed = framing is None or (
        isinstance(framing, dict)
        and mlp._whole(framing.get("box"))
        and shape is not None
        and 1 <= framing["box"] <= min(shape)
        and framing.get("centre") in ("mass", "box")
    )
    return v.get("pictures") in ("framed", "resized") and pictures and framed


META_RULES = {
    "classes": (list, _names, "a list of distinct names without control characters, at least one per class"),
    "input": (
        dict,
        _input,
        'a dict with "pictures" (framed or resized), "shape" [H, W] of the inputs, or null, and perhaps '
        '"framing" {"box": pixels, "centre": "mass" or "box"}',
    ),
    "data": (dict, lambda v, sizes: isinstance(v.get("name", v.get("path")), str), "a dict with a name or a path"),
    "test_accuracy": ((int, float), lambda v, sizes: mlp._real(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "test_r2": ((int, float), lambda v, sizes: mlp._real(v) and v <= 1, "a number, 1 or less"),
    "target_names": (list, _names, "a list of distinct names without control characters, one per output"),
    "test_loss": ((int, float), lambda v, sizes: mlp._real(v) and v >= 0, "a number, 0 or more"),
    "epochs_run": (int, lambda v, sizes: mlp._whole(v) and v >= 0, "a whole number, 0 or more"),
    "settings": (dict, lambda v, sizes: True, "a dict"),
    "init": (dict, lambda v, sizes: True, "a dict"),
}


def check_meta(meta, where):
    """ValueError, one line naming the field, unless a weights file's meta (as mlp.load read it,
    its sizes checked) is what train writes: every field of META_RULES of its type and value."""
    sizes = meta["sizes"]
    for field, (types, check, rule) in META_RULES.items():
        value = meta.get(field)
        if field not in meta or (value is None and field == "classes"):  # train writes null for no names
            continue
        if not (isinstance(value, types) and not isinstance(value, bool) and check(value, sizes)):
            raise ValueError(f"{where}: not a valid weights file: {field} must be {rule}, got {str(value)[:60]!r}")


# ----------------------------------------------------------------------------- checkpoint files
# A checkpoint is a weights file (mlp.weights_writer) with the training state beside the
# weights: the optimizer's arrays, the best epoch's, the moving average, the rest in its meta.


def _flatten(tree, prefix):
    """{"a": {"b": array}} -> {"prefix/a/b": array}; ints become 0-d arrays."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}/{key}"))
        else:
            flat[f"{prefix}/{key}"] = np.asarray(value)
    return flat


def _unflatten(flat, prefix):
    tree = {}
    for name, value in flat.items():
        if name.startswith(prefix + "/"):
            *parents, leaf = name[len(prefix) + 1 :].split("/")
            node = tree
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = int(value) if value.ndim == 0 else value
    return tree


def checkpoint_writer(checkpoint, meta):
    """write(f) of a `train` Checkpoint: its params as the weights, the optimizer state and the
    best epoch's params as extra arrays, and the rest in meta["checkpoint"]."""
    arrays = _flatten(checkpoint.state, "ckpt/state")
    if checkpoint.best:
        arrays.update(_flatten(checkpoint.best.params, "ckpt/best"))
    if checkpoint.average is not None:
        arrays.update(_flatten(checkpoint.average, "ckpt/average"))
    info = {**checkpoint._asdict(), "best": checkpoint.best and checkpoint.best._asdict()}
    del info["params"], info["state"], info["average"]
    if info["best"]:
        del info["best"]["params"]
    return mlp.weights_writer(checkpoint.params, {**meta, "checkpoint": info}, arrays, compress=False)


def save_checkpoint(path, checkpoint, meta):
    """Write a `train` Checkpoint atomically (see `checkpoint_writer`); `load_checkpoint` gives
    it back for train(..., resume=...)."""
    mlp.write_atomic(path, checkpoint_writer(checkpoint, meta))


def load_checkpoint(path):
    """(Checkpoint, meta) from `save_checkpoint`, validated like `load`."""
    params, meta = mlp.load(path)
    where = os.fspath(path)
    check_meta(meta, where)
    if not isinstance(meta.get("checkpoint"), dict):
        raise ValueError(f"{where}: a weights file, not a checkpoint (written on Ctrl-C by train)")
    arrays = mlp.read_npz(path)
    state, best_params = _unflatten(arrays, "ckpt/state"), _unflatten(arrays, "ckpt/best")
    average = _unflatten(arrays, "ckpt/average")
    for tree in (best_params, average, state, state.get("m", {}), state.get("v", {})):
        for key, array in tree.items():
            if key in params and (array.shape != params[key].shape or not np.isfinite(array).all()):
                raise ValueError(f"{where}: checkpoint array {key} does not match the weights")
    try:
        info = meta["checkpoint"]
        np.random.default_rng().bit_generator.state = info["rng"]  # validates the RNG state
        best = info["best"] and mlp.Best(**{**info["best"], "params": best_params})
        step = int(info["step"])
        if step:
            np.random.default_rng().bit_generator.state = info["epoch_rng"]  # validates it
        checkpoint = mlp.Checkpoint(
            epoch=int(info["epoch"]),
            params=params,
            state=state,
            history=list(info["history"]),
            best=best,
            rng=info["rng"],
            lr_scale=float(info["lr_scale"]),
            step=step,
            epoch_rng=info["epoch_rng"],
            partial=tuple(info["partial"]),
            average=average or None,
        )
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: damaged checkpoint (its training state is incomplete)") from None
    return checkpoint, meta


# ----------------------------------------------------------------------------- resuming


def stored_labels(y):
    """Labels as a checkpoint hashes them: classes as little-endian int64, a regression's numbers
    as little-endian float64 (as int64 they would hash only their whole parts)."""
    y = np.asarray(y)
    return y.astype("<i8") if y.dtype.kind in "biu" else y.astype("<f8")


def data_identity(record, x, y):
    """What a checkpoint records of the data it was made on, to refuse resuming on other data:
    where it came from (mlp_data.source_of its record), its size, and hashes of its labels and of
    its features as stored (changed pixels under the same name and labels are other data)."""
    features = hashlib.sha256()
    for i in range(0, len(x), 8192):  # in chunks: a memory-mapped data set is never copied whole
        features.update(np.ascontiguousarray(x[i : i + 8192]).tobytes())
    return {
        "data": mlp_data.source_of(record),
        "examples": len(y),
        "features": int(x.shape[1]),
        "labels_sha256": hashlib.sha256(stored_labels(y).tobytes()).hexdigest()[:16],
        "features_sha256": features.hexdigest()[:16],
    }


# Settings recorded only when on (older checkpoints never): absent is the default
SETTINGS_ADDED_LATER = ("ema", "augment_end", "task")


def load_resumable(path, recorded, identity, epochs):
    """(checkpoint, rows shown so far) at `path`, after checking that it was made with the same
    settings (`recorded`), on the same data (`identity`), and has not run more epochs than asked
    for; a ValueError naming the difference otherwise (or the damage, and that deleting it starts over)."""
    try:
        checkpoint, meta = load_checkpoint(path)
    except ValueError as e:
        raise ValueError(f"{e}; delete {path} to start the run over") from None
    saved, made_on = meta.get("settings", {}), meta.get("data_identity", {})
    if saved:  # a checkpoint made before a setting existed was made at its default
        saved = {key: mlp.Settings._field_defaults[key] for key in SETTINGS_ADDED_LATER if key in recorded} | saved
    keys = [*recorded, *(key for key in saved if key not in recorded)]  # a setting either side lacks differs too
    differ = [
        f"{key} {saved.get(key)!r} (now {recorded.get(key)!r})" for key in keys if saved.get(key) != recorded.get(key)
    ]
    if differ:
        why = ""
        if "epochs" in saved and saved["epochs"] != recorded.get("epochs"):
            why = (
                f" (the {recorded['schedule']} schedule's rates depend on the run's length, so a longer run is "
                "another run; the constant and plateau schedules can be extended)"
            )
        raise ValueError(
            f"{path} was trained with other settings: {'; '.join(differ)}{why}; repeat the "
            "interrupted command's options, or delete it to start over"
        )
    other = [
        f"{key} {made_on.get(key)!r} (now {value!r})" for key, value in identity.items() if made_on.get(key) != value
    ]
    if other:
        raise ValueError(
            f"{path} was trained on other data: {'; '.join(other)}; give the --data it was made on, "
            "or delete it to start over"
        )
    if checkpoint.epoch > epochs:
        raise ValueError(
            f"{path} has already run {checkpoint.epoch} epochs; --epochs {epochs} is fewer: give "
            f"--epochs {checkpoint.epoch} or more"
        )
    return checkpoint, meta.get("rows", checkpoint.history)


def checkpoint_saver(path, meta, on_failure):
    """A function save(checkpoint, rows) writing a checkpoint to `path` (atomically, with the rows
    so far): train calls it after every epoch and, in long epochs, every --checkpoint-every
    seconds, so that even kill -9 loses little. A failed write (a full disk) calls
    on_failure(OSError) once and training goes on; a folder removed during the run is made again."""
    state = {"warned": False}

    def save(checkpoint, rows):
        try:
            if not os.path.isdir(os.path.dirname(os.path.abspath(path))):  # removed during the run
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            save_checkpoint(path, checkpoint, {**meta, "rows": rows})
        except OSError as e:
            if not state["warned"]:
                on_failure(e)
                state["warned"] = True

    return save
