"""A training run that loses nothing: stop signals, one run per output, checkpoints to resume
from, and a memory check before anything is allocated.

Used by cli.py's train (and its other commands, for the signals); the network itself (mlp.py)
knows nothing of processes. Problems are raised as ValueError with one line naming the problem
and the fix, as mlp.py raises them. Its rooms, in order:
  stop signals         SIGINT, SIGTERM and SIGHUP raise Stop once; repeats cannot break a save
  one run per output   an OS lock beside --out, released by the OS even on kill -9
  resuming             what a checkpoint records of its run and data, checked before resuming
  memory               what training needs, against what this machine has free
"""

import contextlib
import hashlib
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np

import mlp
import mlp_data

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
            raise Stop(signum)

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield state
    finally:
        for s, old in previous.items():
            # After a stop the process is on its way out, its files saved: ignore repeats
            # (Python's shutdown would put back the default handlers, which kill at once).
            signal.signal(s, signal.SIG_IGN if RECEIVED else old)


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


@contextlib.contextmanager
def one_run_per_output(lock_path, out):
    """Hold the lock file beside --out while the block runs: a second run with the same --out
    is refused in one line naming the first (ValueError). A lock left by a killed process does
    not block (the operating system released it); the file is removed at the end."""
    while True:
        f = open(lock_path, "a+")
        if not try_lock(f):
            with contextlib.suppress(OSError):
                f.seek(0)
                holder = f.read().strip()
            f.close()
            raise ValueError(
                f"{out} is being written by another run ({holder or 'a running process'}); wait for "
                "it to finish or choose another --out"
            )
        with contextlib.suppress(OSError):
            if os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino:
                break  # the file we locked is still the lock file (the last holder may have removed it)
        f.close()
    try:
        f.seek(0)
        f.truncate()
        f.write(f"PID {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)  # while still holding it; Windows refuses, and the file stays
        f.close()


# ----------------------------------------------------------------------------- resuming


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
        "labels_sha256": hashlib.sha256(np.asarray(y, "<i8").tobytes()).hexdigest()[:16],
        "features_sha256": features.hexdigest()[:16],
    }


SETTINGS_ADDED_LATER = (
    "ema",
    "augment_end",
)  # Settings recorded only when on (older checkpoints never): absent is the default


def load_resumable(path, recorded, identity, epochs):
    """(checkpoint, rows shown so far) at `path`, after checking that it was made with the same
    settings (`recorded`), on the same data (`identity`), and has not run more epochs than asked
    for; a ValueError naming the difference otherwise."""
    checkpoint, meta = mlp.load_checkpoint(path)
    saved, made_on = meta.get("settings", {}), meta.get("data_identity", {})
    if saved:  # a checkpoint made before a setting existed was made at its default
        saved = {key: mlp.Settings._field_defaults[key] for key in SETTINGS_ADDED_LATER if key in recorded} | saved
    keys = [*recorded, *(key for key in saved if key not in recorded)]  # a setting either side lacks differs too
    differ = [
        f"{key} {saved.get(key)!r} (now {recorded.get(key)!r})" for key in keys if saved.get(key) != recorded.get(key)
    ]
    if differ:
        why = (
            (
                f" (the {recorded['schedule']} schedule's rates depend on the run's length, so a longer run is "
                "another run; the constant and plateau schedules can be extended)"
            )
            if "epochs" in saved and saved["epochs"] != recorded.get("epochs")
            else ""
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
    on_failure(OSError) once and training goes on."""
    state = {"warned": False}

    def save(checkpoint, rows):
        try:
            mlp.save_checkpoint(path, checkpoint, {**meta, "rows": rows})
        except OSError as e:
            if not state["warned"]:
                on_failure(e)
                state["warned"] = True

    return save


# ----------------------------------------------------------------------------- memory


def training_memory(sizes, batch_size, optimizer="sgd", dtype=np.float32, keep_best=False):
    """Bytes `mlp.train` needs beyond the data, estimated before anything is allocated: the
    parameters about three times over (params, grads, the updated params), the optimizer's
    state (`state_arrays` per parameter), a copy of the best epoch's params with validation,
    and one batch's activations four times (z, a, dropout mask, gradient)."""
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    copies = 3 + mlp.lookup(mlp.OPTIMIZERS, optimizer, "optimizer").state_arrays + keep_best
    activations = batch_size * (sizes[0] + 4 * sum(sizes[1:]))
    return (copies * n_params + activations) * np.dtype(dtype).itemsize


def available_memory():
    """Bytes that can be allocated without swapping: Linux's MemAvailable, else all RAM where
    the platform says (os.sysconf), else None (the check is then skipped)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return None


def gib(n_bytes):
    return f"{n_bytes / 2**30:.1f} GiB"


def check_memory(sizes, batch_size, optimizer, dtype, keep_best):
    """A ValueError before allocating a network that cannot be trained in this machine's memory;
    a note to show (or None) when the platform does not say how much is free."""
    needed, available = training_memory(sizes, batch_size, optimizer, dtype, keep_best), available_memory()
    network = "-".join(map(str, sizes))
    if available is None:
        return f"note: this platform does not say how much memory is free; training {network} needs about {gib(needed)}"
    if needed > available:
        raise ValueError(
            f"training {network} needs about {gib(needed)} (parameters, gradients, optimizer state, one "
            f"batch's activations) but {gib(available)} is available; use smaller --hidden sizes or a "
            "smaller --batch-size"
        )
    return None
