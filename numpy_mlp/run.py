"""A training run from options to files: the memory it needs, the weights and data its
commands read, the options that fit the data, and the plan of every run.

Used by cli.py's commands, sweep's trials and bench (what keeps a run whole, signals, locks and
checkpoints: numpy_mlp/guard.py). Problems are raised as ValueError (BadOption for an option) with
one line naming the problem and the fix, as mlp.py raises them. Its rooms, in order:
  memory               what training needs, against what this machine has free
  cores                the BLAS threads fitted to the cores other programs leave free, where no bit changes
  options to files     extras, weights and ensembles loaded and checked, outputs written together
  a run, planned       the options that fit the data, the network, the validation split, the plan
  a run, run           one function trains a plan for every caller, the test set scored as it goes
"""

import contextlib
import importlib
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import decisions as mlp_decisions
from numpy_mlp import guard as mlp_guard
from numpy_mlp import pictures as mlp_pictures

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


def check_memory(sizes, batch_size, optimizer, dtype, keep_best):
    """A ValueError before allocating a network that cannot be trained in this machine's memory;
    a note to show (or None) when the platform does not say how much is free."""
    needed, available = training_memory(sizes, batch_size, optimizer, dtype, keep_best), available_memory()
    network = "-".join(map(str, sizes))
    if available is None:
        return f"note: this platform does not say how much memory is free; training {network} needs about {needed / 2**30:.1f} GiB"
    if needed > available:
        raise ValueError(
            f"training {network} needs about {needed / 2**30:.1f} GiB (parameters, gradients, optimizer state, one "
            f"batch's activations) but {available / 2**30:.1f} GiB is available; use smaller --hidden sizes or a "
            "smaller --batch-size"
        )
    return None


# ----------------------------------------------------------------------------- cores
# OpenBLAS splits a matrix product over one thread per core and waits for the slowest: when
# another program holds a core, every product waits for a thread that is not running, and its
# idle threads spin against that program too (relu 128-64 on 2 cores, one busy neighbour: 0.84
# s/epoch on 2 threads, 0.35 on 1; alone: 0.30 and 0.34). So a run with --threads 0 uses as
# many threads as cores are free, looked at again every STEER_SECONDS, where its products give
# the same bits on any number of threads (same_bits_on_any_threads): the same seed, the same bytes.

STEER_SECONDS = 0.1  # how often; reading /proc/stat costs about 20 µs
GIVEN_UP_AT = 0.35  # of a core other programs use before the run leaves it to them (quiet: 0-0.12;
# one busy program beside our two threads gets about half a core)


def cpu_ticks(cpus):
    """(busy, all) clock ticks spent by the CPUs numbered `cpus` since boot (busy: anything but
    idle and waiting for I/O; a hypervisor's steal counts as busy), from Linux's /proc/stat;
    None where there is none."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = every = 0
    for line in lines:
        name, *fields = line.split()
        if name[:3] == "cpu" and name[3:].isdigit() and int(name[3:]) in cpus:
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            every += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    return (busy, every) if every else None


def run_products(sizes, batch_size, n_train, n_scored=(), dtype=np.float32):
    """The matrix products a run makes, as (rows, inner, columns, layout) of its float `dtype`:
    each layer's forward product a @ W (training batches, the last one shorter, and the chunks of
    2,000 rows that score `n_scored` examples), and the backward pass's a.T @ dz and dz @ W.T."""
    batches = {min(batch_size, n_train), n_train % batch_size or min(batch_size, n_train)}
    chunks = {r for n in n_scored if n for r in (min(2000, n), n % 2000) if r}
    products = set()
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        products |= {(b, n_in, n_out, "a @ W") for b in batches | chunks}
        products |= {(n_in, b, n_out, "a.T @ dz") for b in batches}
        products |= {(b, n_out, n_in, "dz @ W.T") for b in batches} if n_in != sizes[0] else set()
    return sorted((*p, np.dtype(dtype).name) for p in products)


def same_bits_on_any_threads(products, blas, top, seed=0):
    """Whether each product (run_products') gives the same bits on one BLAS thread as on `top`,
    tried on random numbers of its shape and layout: OpenBLAS splits some inner sizes into blocks
    differently with one thread than with several (here, inner sizes over 448 that are not a
    multiple of 32, MNIST's 784 among them), and then the last bits of a product, and so a run's
    weights, would follow the load."""
    rng = np.random.default_rng(seed)
    for rows, inner, columns, layout, dtype in products:
        left = rng.standard_normal((inner, rows) if layout == "a.T @ dz" else (rows, inner)).astype(dtype)
        right = rng.standard_normal((columns, inner) if layout == "dz @ W.T" else (inner, columns)).astype(dtype)
        left, right = (left.T if layout == "a.T @ dz" else left), (right.T if layout == "dz @ W.T" else right)
        blas.limit(limits=1)
        alone = left @ right
        blas.limit(limits=top)
        if not np.array_equal(alone, left @ right):
            return False
    return True


def threads_for(cores, others):
    """BLAS threads for a run on `cores` cores while other programs use `others` of them:
    one per core they leave free, at least one."""
    return max(1, min(cores, cores - int(others + 1 - GIVEN_UP_AT)))


@contextlib.contextmanager
def steering(threads=0, seconds=STEER_SECONDS, products=None):
    """Yields an on_batch hook (mlp.train's) that keeps NumPy's BLAS on one thread per core
    other programs leave free (at most the threads it had): every `seconds` it compares the
    ticks this process spent with all the ticks its CPUs were busy, and sets the threads by
    `threads_for`; they are as before on leaving. Yields None, the threads left as they are,
    with `threads` given (--threads N), on one core, where the platform does not say what its
    cores do (no /proc/stat: macOS, Windows; give --threads there), or when one of the run's
    `products` (run_products') would give other bits on fewer threads (same_bits_on_any_threads):
    the same seed gives the same bytes, whatever else the machine runs."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    blas = None
    if not threads and len(cpus) > 1 and cpu_ticks(cpus) is not None:
        from threadpoolctl import ThreadpoolController

        with contextlib.suppress(OSError):  # it could not look at the loaded libraries
            blas = ThreadpoolController().select(user_api="blas")
    top = min([len(cpus)] + [lib["num_threads"] for lib in blas.info()]) if blas else 1
    if top < 2 or (products is not None and not same_bits_on_any_threads(products, blas, top)):
        yield None
        return
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    last = {"at": time.monotonic(), "ticks": cpu_ticks(cpus), "ours": time.process_time(), "threads": top}

    def steer(i, n, batch_loss):
        now = time.monotonic()
        if now - last["at"] < seconds:
            return
        ticks, ours = cpu_ticks(cpus), time.process_time()
        if ticks is None or ticks[1] <= last["ticks"][1]:
            return
        busy, every = ticks[0] - last["ticks"][0], ticks[1] - last["ticks"][1]
        others = max(0.0, (busy - (ours - last["ours"]) * hz) / every * len(cpus))  # in cores
        wanted = min(top, threads_for(len(cpus), others))
        if wanted != last["threads"]:
            blas.limit(limits=wanted)
        last.update(at=now, ticks=ticks, ours=ours, threads=wanted)

    try:
        yield steer
    finally:
        if last["threads"] != top:
            blas.limit(limits=top)


# ----------------------------------------------------------------------------- options to files
# What every command checks before any work: the optional libraries it needs, the files it
# writes (writable, never one of its inputs, written together) and the weights it reads.


BadOption = mlp_data.BadOption  # a bad option (exit 2); data's, as the data can show an option wrong


EXTRAS = {
    "image": "Pillow",
    "plot": "matplotlib",
    "onnx": "onnx",
    "sklearn": "scikit-learn",
    "sweep": "Optuna",
    "tensorboard": "tensorboardX",
    "mlflow": "MLflow",
}  # extra: its library


CHECKOUT = (Path(__file__).resolve().parent.parent / "pyproject.toml").is_file()  # run from a clone, not a wheel


def install_hint(extra):
    """The command that installs an extra, as the user installed the project: from a clone
    `pip install -e '.[plot]'`, from a wheel `pip install 'numpy-mlp[plot]'`."""
    return f"pip install -e '.[{extra}]'" if CHECKOUT else f"pip install 'numpy-mlp[{extra}]'"


def require(module, extra):
    """Import an optional dependency, or fail with the command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ValueError(f"this command needs {EXTRAS[extra]} (the {extra} extra): {install_hint(extra)}") from None


def check_classes(data, found, n_classes):
    """Fail unless the data names every class (or none)."""
    if found.classes is not None and len(found.classes) < n_classes:
        raise ValueError(
            f"{data}: {len(found.classes)} class names for {n_classes} classes; give one name per class in classes.txt"
        )


def same_file(a, b):
    """Whether two paths name the same file: the same inode when both exist (hard links and
    symbolic links included), else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def load_weights(path, multilabel=False):
    """(params, meta) of a weights file written by train, or a one-line error: a missing file, a
    broken one, a checkpoint (it lacks the preprocessing, data and class names the weights
    record, so scoring it would mislead), or, unless the command takes one (`multilabel`), a
    multilabel network (MLPClassifier fits one on a label-indicator y), which the other
    commands would score as one class per example."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such weights file (train one with 'python cli.py train relu')")
    params, meta = mlp.load(path)
    mlp_guard.check_meta(meta, os.fspath(path))
    if "checkpoint" in meta:
        raise ValueError(
            f"{path} is the checkpoint of an unfinished train run, not weights: run the same train command "
            "again to finish it, and use the weights it writes"
        )
    if mlp.task_of(meta) == "multilabel" and not multilabel:
        raise ValueError(
            f"{path} is a multilabel network (several labels per example): eval, predict, summary and export take "
            "it; this is for one class per example"
        )
    return params, meta


def load_members(paths, multilabel=False):
    """[(params, meta)] of one or more weights files; several make an ensemble (their class
    probabilities averaged) and must fit together: the same input size and shape, the same
    classes and names, trained on the same data. A misfit is one line naming both files.
    multilabel: the command takes a multilabel network (`load_weights`)."""
    for i, path in enumerate(paths):
        twice = next((other for other in paths[:i] if same_file(other, path)), None)
        if twice is not None:
            raise BadOption(f"{path} is given twice (also as {twice}): an ensemble's members are different networks")
    members = [load_weights(path, multilabel) for path in paths]
    (first, first_meta), name = members[0], paths[0]
    source = lambda meta: mlp_data.source_of(meta.get("data"))
    for path, (params, meta) in zip(paths[1:], members[1:]):
        ends = lambda p: (mlp.sizes_of(p)[0], mlp.sizes_of(p)[-1])
        why = (
            f"{ends(params)[0]} inputs and {ends(params)[1]} classes against {ends(first)[0]} and {ends(first)[1]}"
            if ends(params) != ends(first)
            else f"other data ({source(meta)}, not {source(first_meta)})"
            if source(meta) != source(first_meta)
            else "other class names"
            if meta.get("classes") != first_meta.get("classes")
            else "another input shape"
            if mlp_pictures.input_of(meta, params) != mlp_pictures.input_of(first_meta, first)
            else None
        )
        if why:
            raise ValueError(
                f"{path} cannot join {name} in an ensemble: {why}; its members must be trained on the same data"
            )
    return members


def check_fits(path, params, x, y):
    """Fail unless the network at `path` takes x's image size and knows every label in y."""
    n_in, n_classes = params["W1"].shape[0], mlp.sizes_of(params)[-1]
    if x.shape[1] != n_in:
        raise ValueError(
            f"{path}: the network takes {n_in} inputs but the data has {x.shape[1]} "
            "pixels per image; use the data it was trained on"
        )
    if y.max() >= n_classes:
        raise ValueError(f"{path}: the network has {n_classes} classes but the data has label {y.max()}")


def check_writable(path, option):
    """Fail before any work when `path` cannot be written (missing folder, no permission),
    naming the option the user gave it with (--out, --json, --out-dir). A device or a FIFO
    (/dev/stdout) is written through, as it is: it needs only to be writable itself."""
    if not mlp.is_file_or_nothing(path):
        if not os.access(path, os.W_OK):
            raise ValueError(f"{path}: cannot be written (no permission); choose another {option}")
        return
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise ValueError(f"{path}: folder {folder} does not exist; create it or choose another {option}")
    try:  # a file made and removed: modes alone do not tell (root, ACLs, a read-only or root-squashed mount)
        fd, probe = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=folder)
    except OSError as e:
        raise ValueError(
            f"{path}: folder {folder} is not writable ({e.strerror or e}); choose another {option}"
        ) from None
    os.close(fd)
    os.unlink(probe)


def check_outputs(outputs, inputs, same_run=None):
    """Usage error (exit 2), before any work, when a file the command would write is one it
    reads (data files, classes.txt, weights, a checkpoint), so that an output never replaces
    an input. `same_run` may be both: the checkpoint a run reads and goes on writing."""
    for output in outputs:
        for path in inputs:
            if (
                output is None
                or path is None
                or (same_run is not None and same_file(output, same_run) and same_file(path, same_run))
            ):
                continue
            if same_file(output, path):
                raise BadOption(f"{output} is also an input of this command ({path}); write the output to another file")


def beside(out, suffix):
    """A file named after `out` (minus a final .npz only): w.npz -> w.history.json, and
    model_lr0.1 -> model_lr0.1.history.json (never model_lr0.history.json)."""
    return out.with_name(out.name.removesuffix(".npz") + suffix)


def text_writer(text):
    """A writer for mlp.write_together / mlp.write_atomic: the text, UTF-8."""
    return lambda f: f.write(text.encode())


def remade_folders(paths):
    """Make the missing folders of `paths` again (with their parents); the ones made, in order."""
    remade = []
    for path in paths:
        folder = Path(os.path.abspath(path)).parent
        if not folder.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError:  # write_together names the file it then cannot write
                continue
            remade.append(folder)
    return remade


def write_outputs(writers, then="", *, remake_folders=False):
    """Write files together (mlp.write_together): all of them, or on failure none, with one line
    naming the file that could not be written (and `then`, what else the user should know).
    remake_folders: the targets' folders existed when the command began (a run checked them), so
    one missing now was removed during the run; it is made again rather than the run lost.
    Returns the folders made again."""
    remade = remade_folders(writers) if remake_folders else []
    try:
        mlp.write_together(writers)
    except OSError as e:
        raise ValueError(f"cannot write {e.filename}: {e.strerror or e}; nothing was changed{then}") from None
    return remade


def load_data(
    data,
    splits=("train", "test"),
    label_column=None,
    *,
    task=None,
    on_file=None,
    on_download=None,
    on_pictures=None,
    table=None,
    columns=None,
):
    """mlp_data.Data of --data's splits (a data set's name or a path), whatever its form: raw
    features (uint8 stays uint8) and labels (numbers, for `task` "regression"; None: as the
    data says, mlp_data.load_data); pictures decoded with Pillow. The callbacks:
    on_file(stem, url) when a download starts, on_download(done, total) as it goes,
    on_pictures(done, total) while pictures are decoded. table: a table's {"encoding",
    "whole_file"} when a network is scored on it; columns: {"categorical", "ignore"}, the
    column kinds train's options give (mlp_data.load_data)."""
    path = mlp_data.resolve(data, on_file, on_download)
    form = mlp_data.data_form(path)
    if label_column and form != "csv":
        raise BadOption(
            f"--label-column {label_column} names a CSV column, but {data} is {form} data, whose labels are its own; "
            "leave it out"
        )
    asked = [f"--{option} {', '.join(names)}" for option, names in (columns or {}).items() if names]
    if asked and form != "csv":
        raise BadOption(f"{asked[0]} names a table's columns, but {data} is {form} data; leave it out")
    if form == "images":
        require("PIL.Image", "image")
    on_progress = on_pictures if form == "images" else None
    found = mlp_data.load_data(
        path, splits, label_column, on_progress=on_progress, task=task, columns=columns, **(table or {})
    )
    if data in mlp_data.DATASETS and not os.path.exists(data):
        found = found._replace(classes=mlp_data.DATASETS[data].classes)
    return found


# ----------------------------------------------------------------------------- a run, planned
# Every caller of mlp.train that starts from options (train, sweep's trials, bench, reproduce)
# plans its run here: the options left out chosen from the data, the network's sizes and
# preprocessing, the validation split, the framing of its pictures, the checkpoint to resume
# from, the memory it needs, and the record its weights file keeps.


# Settings' defaults fit MNIST: 60,000 pictures, 469 steps an epoch. A table of 150 rows, or a
# few hundred pictures, needs others; this is the one place they are chosen from the data.
ENOUGH_STEPS = 4000  # optimisation steps a run should have at least: MNIST's 10 epochs are 4,690

# a regression's, more: a curve is still being fitted after 4,000 (Friedman #1, seeds 0-2: R²
# 0.878-0.906 at 4,000 steps, 0.934-0.945 at 10,000; docs/data.md)
STEPS_FOR = {"classification": ENOUGH_STEPS, "multilabel": ENOUGH_STEPS, "regression": 10_000}


MAX_FITTED_EPOCHS = 200  # at most, as scikit-learn's MLPClassifier (max_iter=200)
# A big table's epochs are short runs of many steps, and 10 of them stop short: on 50,000 rows of
# 20 features (3 classes), 10 epochs score 94.7%, 20 96.2%, 30 96.7%, 40 97.0% (docs/data.md).
MIN_TABLE_EPOCHS = 40

# A table of more rows than this stops early, as scikit-learn's HistGradientBoosting does by
# default above 10,000 rows: a tenth held out, the best epoch on it kept. How long a big table
# should train differs from table to table (a noisy one is learnt by heart in a few epochs, a
# clean one still gains at 80), and the held-out tenth tells which.
BIG_TABLE_ROWS = 10_000
EARLY_STOPPING_SHARE = 0.1  # of the training rows, held out to stop on (scikit-learn's validation_fraction)

FITTED_DEFAULTS = {  # form of the data: the options that fit it
    "pictures": {"normalize": "range", "optimizer": "sgd", "batch_size": 128, "weight_decay": 0.0},  # Settings'
    # scikit-learn's recipe for MLPs on tables (standardised features, Adam), in small batches,
    # and weight decay: a few hundred rows are learnt by heart without it (breast cancer, seeds
    # 0-2: 97.95% without, 99.12% with; docs/data.md)
    "table": {"normalize": "standard", "optimizer": "adam", "batch_size": 32, "weight_decay": 1e-3},
    # more than BIG_TABLE_ROWS, stopping early: the best epoch kept guards against learning the
    # noise by heart, so the weight decay can be lighter and the run longer (50,000 rows of 20
    # features, seeds 0-2: 96.95% by the table's, 97.32-97.46% by these; docs/data.md)
    "big table": {"normalize": "standard", "optimizer": "adam", "batch_size": 32, "weight_decay": 1e-4, "patience": 20},
}
MIN_FITTED_EPOCHS = {"pictures": 0, "table": MIN_TABLE_EPOCHS, "big table": 80}  # the form's epochs at least


def fitted_form(n_examples, pictures, validation=0):
    """The FITTED_DEFAULTS form of a data set of `n_examples` training examples and
    `validation` held out: "pictures"; a "big table" when there are more than BIG_TABLE_ROWS
    in all and a validation split to stop on; else a "table"."""
    if pictures:
        return "pictures"
    return "big table" if validation and n_examples + validation > BIG_TABLE_ROWS else "table"


def early_stopping_rows(n_examples, pictures):
    """How many of `n_examples` training examples a run holds out to stop on when --val is left
    out: EARLY_STOPPING_SHARE of a table of more than BIG_TABLE_ROWS, else none."""
    return int(n_examples * EARLY_STOPPING_SHARE) if not pictures and n_examples > BIG_TABLE_ROWS else 0


def fitted_defaults(n_examples, pictures, batch_size=None, epochs=10, task="classification", validation=0):
    """The training options that fit a data set: {"normalize", "optimizer", "batch_size",
    "weight_decay", "epochs"} (and "patience" for a big table) for `n_examples` training
    examples, `validation` more held out, pictures or (not `pictures`) a table of features
    (`fitted_form`, FITTED_DEFAULTS). The epochs are `epochs`, at least the form's
    MIN_FITTED_EPOCHS, unless so few epochs of `batch_size` (given, or the one chosen) are fewer
    than the task's STEPS_FOR: then as many epochs as reach it, at most MAX_FITTED_EPOCHS."""
    form = fitted_form(n_examples, pictures, validation)
    chosen, enough = dict(FITTED_DEFAULTS[form]), STEPS_FOR[task]
    epochs = max(epochs, MIN_FITTED_EPOCHS[form])
    steps = -(-n_examples // (batch_size or chosen["batch_size"]))  # an epoch's
    if epochs * steps < enough:
        epochs = min(MAX_FITTED_EPOCHS, max(epochs, -(-enough // steps)))
    return {**chosen, "epochs": epochs}


def class_weights(y, n_classes, class_weight="balanced"):
    """(n_classes,) weight of each class, as scikit-learn's classifiers take `class_weight`:
    "balanced" gives n / (n_classes_present * count_c) (a class's examples weigh as much in all
    as any other's), a dict {class: weight} the weights given (1 for the others), None ones.
    A class absent from y weighs 1 when balanced (it contributes no loss)."""
    counts = np.bincount(np.asarray(y), minlength=n_classes)
    if class_weight is None:
        return np.ones(n_classes)
    if class_weight == "balanced":
        present = np.count_nonzero(counts)
        return np.where(counts > 0, len(y) / (present * np.maximum(counts, 1)), 1.0)
    if isinstance(class_weight, dict):
        out = np.ones(n_classes)
        for c, w in class_weight.items():
            if not (mlp._whole(c) and 0 <= c < n_classes and mlp._real(w) and w >= 0):
                raise ValueError(f"class_weight maps classes in [0, {n_classes}) to weights >= 0, got {c!r}: {w!r}")
            out[c] = w
        return out
    raise ValueError(f'class_weight must be None, "balanced" or a dict {{class: weight}}, got {class_weight!r}')


OPTION_FIELDS = {  # train's options that are mlp.Settings fields (option: field), from Settings itself
    ("augment" if field == "augment_kind" else field): field for field in mlp.Settings._fields if field != "activation"
}


def asked_settings(activation, options):
    """mlp.Settings of a command's options (train's names, OPTION_FIELDS; bench's own
    bench_epochs and bench_seed stand for epochs and seed), Settings' defaults for the rest, lr
    perhaps None (chosen by `fitted_settings`). Names may be Enums or their values."""
    values = {k.removeprefix("bench_"): getattr(v, "value", v) for k, v in options.items()}
    if values.get("task", "") is None:  # as the data says: `plan` fills it in
        del values["task"]
    return mlp.Settings(activation=activation, **{f: values[o] for o, f in OPTION_FIELDS.items() if o in values})


def recorded(settings, extras, keep_epochs):
    """The settings a weights file or checkpoint records, as a dict: mlp.Settings (lr filled
    in), then the CLI's own choices `extras` (val, hidden, dtype, sizes, normalize), then
    epochs when `keep_epochs` (a schedule whose rates depend on the run's length)."""
    fields = settings._asdict()
    epochs = fields.pop("epochs")
    if not fields["ema"]:  # off: not recorded, so that a run without it writes what it wrote before --ema
        del fields["ema"]
    if fields["augment_end"] == 1:  # the same: as for ema
        del fields["augment_end"]
    if fields["task"] == "classification":  # the same: classifiers write what they wrote before regression
        del fields["task"]
    keep_epochs = keep_epochs or "augment_end" in fields  # its strengths depend on the run's length
    return fields | extras | ({"epochs": epochs} if keep_epochs else {})


def starting_weights(path, activation, hidden, normalize, data, found):
    """(params, meta) of --init, after checking they fit the run: the same activation and
    hidden sizes, the data's input size and classes, and no other --normalize than theirs."""
    params, meta = load_weights(path, multilabel=found.task == "multilabel")
    sizes, x = mlp.sizes_of(params), found.x_train
    if mlp.task_of(meta) != found.task:
        raise BadOption(
            f"--init {path} is a {mlp.task_of(meta)} network, but {data} is trained as a {found.task}; "
            f"give --task {mlp.task_of(meta)} or leave out --init"
        )
    if meta["activation"] != activation:
        raise BadOption(f"--init {path} is a {meta['activation']} network; train it with {meta['activation']}")
    if hidden and list(hidden) != sizes[1:-1]:
        raise BadOption(
            f"--init {path} has hidden layers {' '.join(map(str, sizes[1:-1]))}, not {' '.join(map(str, hidden))}; "
            "leave out --hidden to keep its sizes"
        )
    if normalize and normalize != meta["preprocessing"]["kind"]:
        raise BadOption(
            f"--init {path} keeps its own preprocessing ({meta['preprocessing']['kind']}); leave out --normalize"
        )
    if x.shape[1] != sizes[0]:
        raise ValueError(f"--init {path} takes {sizes[0]} inputs, but {data} has {x.shape[1]} features per example")
    top = mlp_data.class_count(found) - 1
    names = meta.get("classes")
    if found.task == "regression" and top + 1 != sizes[-1]:
        raise ValueError(f"--init {path} predicts {sizes[-1]} numbers, but {data} has {top + 1} targets")
    if top >= sizes[-1]:
        raise ValueError(f"--init {path} knows {sizes[-1]} classes, but {data} has label {top}")
    if names and found.classes and list(found.classes) != names[: len(found.classes)]:
        raise ValueError(
            f"--init {path} names its classes {', '.join(names[:4])}...; {data} names them "
            f"{', '.join(found.classes[:4])}...: they must be the same classes in the same order"
        )
    return params, meta


def train_paths(out):
    """(weights, history, checkpoint, lock) paths of --out, after checking that none of them is a
    folder and that the folder can be written in."""
    if out.endswith(os.sep) or Path(out).is_dir():
        raise BadOption(f"--out {out} is a folder; give a file name such as {Path(out) / 'weights.npz'}")
    if not mlp.is_file_or_nothing(out):  # its history, checkpoint and lock go beside it, as files
        raise BadOption(f"--out {out} is not a file (a device or a FIFO); give a file name such as weights.npz")
    other = Path(out).with_name(Path(out).name.removesuffix(".npz") + ("" if out.endswith(".npz") else ".npz"))
    if other != Path(out) and other.is_file():  # w and w.npz: one history, one checkpoint beside both
        raise BadOption(f"--out {out}: {other} shares its history and checkpoint names; choose another --out")
    out = Path(out)
    history_path, checkpoint_path, lock_path = (
        beside(out, suffix) for suffix in (".history.json", ".ckpt.npz", ".lock")
    )
    for path in (history_path, checkpoint_path):
        if path.is_dir():
            raise BadOption(f"cannot write {path}: it is a folder; choose another --out")
    check_writable(out, "--out")
    return out, history_path, checkpoint_path, lock_path


def check_validation_needs(settings, val):
    """mlp.train refuses these too; saying it here, in the CLI's words, spares loading the data."""
    if settings.patience and not val:
        raise BadOption("--patience needs a validation set: add --val N (e.g. --val 5000)")
    if mlp.SCHEDULES[settings.schedule].on_validation and not val:
        raise BadOption(f"--schedule {settings.schedule} watches validation accuracy: add --val N (e.g. --val 5000)")


MIN_PICTURE_SIDE = 8  # pictures smaller than 8 x 8 (scikit-learn's digits) are too small to distort or straighten


def check_augmentable(settings, found, data):
    """A bad option (exit 2) when --augment distorts images but the data are a table, not square
    or too small (under MIN_PICTURE_SIDE a side), or --augment-end weakens distortions that
    --augment does not ask for."""
    augment = settings.augment_kind
    if mlp_pictures.AUGMENTATIONS[augment].distort is None:
        if settings.augment_end != 1:
            raise BadOption(
                "--augment-end weakens --augment's distortions, and there are none; give --augment, or leave it out"
            )
        return
    shape = found.shape
    why = (
        "a table, not images"
        if shape is None
        else f"{shape[0]} x {shape[1]} images; augmentation needs square ones"
        if shape[0] != shape[1]
        else f"{shape[0]} x {shape[1]} images, too small to distort (at least {MIN_PICTURE_SIDE} x {MIN_PICTURE_SIDE})"
        if shape[0] < MIN_PICTURE_SIDE
        else None
    )
    if why:
        raise BadOption(f"--augment {augment}: {data} holds {why}; use --augment none for this data")


def check_straightening(straighten, found, data, init):
    """A bad option (exit 2) when --deslant or --width cannot apply: to a table, or to --init
    weights, which keep their own preprocessing."""
    if not straighten:
        return
    given = " and ".join(f"--{k}" for k in straighten)
    if found.shape is None:
        raise BadOption(f"{given} straighten pictures, and {data} is a table of features; leave it out")
    if min(found.shape) < MIN_PICTURE_SIDE:
        raise BadOption(
            f"{given}: {data} holds {found.shape[0]} x {found.shape[1]} pictures, too small to straighten "
            f"(at least {MIN_PICTURE_SIDE} x {MIN_PICTURE_SIDE}); leave it out"
        )
    if init:
        raise BadOption(f"--init {init} keeps its own preprocessing; leave out {given}")


def planned_network(found, *, data, activation, hidden, normalize, init, straighten=None):
    """What the run trains, before anything is allocated: {"sizes", "hidden", "preprocessing",
    "classes", "start"}: the --init weights' (checked to fit, kept as "start") or a fresh
    network's (hidden default 128, the preprocessing of kind `normalize` fitted to the training
    set, pictures on a light background turned over, and straightened as `straighten`
    ({"deslant", "width"}) asks)."""
    if init:
        params, meta = starting_weights(init, activation, hidden, normalize, data, found)
        sizes = mlp.sizes_of(params)
        return {
            "sizes": sizes,
            "hidden": sizes[1:-1],
            "preprocessing": meta["preprocessing"],
            "classes": meta.get("classes") or found.classes,
            "start": (params, meta),
            "targets": meta.get("targets"),  # fine-tuning predicts in the same units
        }
    hidden = hidden or [128]
    sizes = [found.x_train.shape[1], *hidden, mlp_data.class_count(found)]
    check_classes(data, found, sizes[-1])
    return {
        "sizes": sizes,
        "hidden": hidden,
        "preprocessing": mlp.fit_preprocessing(
            found.x_train, normalize, pictures=found.shape is not None, shape=found.shape, **(straighten or {})
        ),
        "classes": found.classes,
        "start": None,
        "targets": None,  # a regression's target scaling: `plan` fits it on the training targets
    }


FITTED = (
    "normalize",
    "optimizer",
    "batch_size",
    "weight_decay",
    "epochs",
    "task",
    "val",
    "patience",
)  # options whose default fits the data


def data_in_words(found, n):
    """The training data as the defaults line names it: 'a table of 142 rows x 13 features' or
    '1,437 pictures of 8 x 8'."""
    if found.shape is None:
        return f"a table of {n:,} rows x {found.x_train.shape[1]:,} features"
    return f"{n:,} pictures of {found.shape[0]} x {found.shape[1]}"


def fitted_settings(asked, given, *, pictures, n, init=None, validation=0):
    """(settings, normalize, chosen): `asked` (mlp.Settings, lr perhaps None) with each of FITTED
    that the user did not give (`given`: option names) taken from fitted_defaults for n
    training examples and `validation` held out (pictures or a table), checked; normalize: the preprocessing's kind chosen
    (None when given, or kept from the --init weights); chosen: {option: value} of those that
    differ from mlp.Settings' own defaults (normalize: from range), for the defaults line and
    the weights' record."""
    fitted = fitted_defaults(
        n,
        pictures=pictures,
        batch_size=asked.batch_size if "batch_size" in given else None,
        epochs=asked.epochs if "epochs" in given else mlp.Settings._field_defaults["epochs"],
        task=asked.task,
        validation=validation,
    )
    if init:  # fine-tuning keeps the weights' own preprocessing
        fitted["normalize"] = None
    taken = {k: v for k, v in fitted.items() if k not in given and v is not None}
    usual = {**mlp.Settings._field_defaults, "normalize": "range"}
    chosen = {k: v for k, v in taken.items() if v != usual[k]}
    settings = asked._replace(**{k: v for k, v in taken.items() if k != "normalize"})
    if "optimizer" in chosen and asked.lr is None:  # the lr follows the optimizer chosen: said after it
        items, at = list(chosen.items()), list(chosen).index("optimizer") + 1
        chosen = dict([*items[:at], ("lr", mlp.OPTIMIZERS[settings.optimizer].lr), *items[at:]])
    return mlp.check_settings(settings), taken.get("normalize"), chosen


def fits_temperature(calibrate, validation, task):
    """Whether a run fits a temperature after training: a classifier (one class per example)
    with a validation split to fit it on, unless --no-calibrate."""
    return bool(calibrate and validation and task == "classification")


def calibrates(run):
    """`fits_temperature` of a planned run."""
    return fits_temperature(run.calibrate, run.validation, run.settings.task)


def fitted_calibration(run, params):
    """(temperature, record) of a trained run (`calibrates`): mlp.fit_temperature on the logits of
    its validation split, and {"examples", "validation_nll": [before, after]}; (None, None) for a
    run that does not calibrate."""
    if not calibrates(run):
        return None, None
    x_val, y_val = run.validation
    activation, preprocessing = run.settings.activation, run.network["preprocessing"]
    logits = np.concatenate(list(mlp.logits_in_chunks(params, x_val, activation, preprocessing))).astype(np.float64)
    temperature = mlp.fit_temperature(logits, y_val)
    before, after = (mlp.loss(logits / t, y_val) for t in (1.0, temperature))
    return temperature, {"examples": len(y_val), "validation_nll": [before, after]}


def is_binary(found):
    """Whether data `found` (numpy_mlp.data.Data) trains a network of two classes: the networks a
    decision threshold is tuned for with one cut (class 1's)."""
    return found.task == "classification" and mlp_data.class_count(found) == 2


def threshold_metric(asked, *, found, y, validation, data):
    """The metric a run tunes its decision threshold for on the validation split (a key of
    mlp_decisions.THRESHOLD_METRICS), or None: the one `asked` (--threshold-for; "none": none),
    else "f1" for two classes whose positive one (class 1) is under RARE_POSITIVE of the training
    labels y, when there is a validation split. BadOption for a metric asked of other networks or
    without a validation split."""
    binary = is_binary(found)
    if asked == "none" or (asked is None and not binary):
        return None
    if asked is None:
        rare = np.mean(y == 1) < mlp_decisions.RARE_POSITIVE
        return "f1" if rare and validation else None
    if not binary and found.task != "multilabel":
        has = "numbers" if found.task == "regression" else f"{mlp_data.class_count(found)} classes"
        raise BadOption(
            f"--threshold-for tunes when to say yes: for two classes or several labels per example, and {data} has "
            f"{has}; leave it out"
        )
    if not validation:
        raise BadOption("--threshold-for tunes the cut on a validation split: add --val N (e.g. --val 1000)")
    return asked


def threshold_note(asked, *, found, y, validation):
    """A line for the user when a binary run's positive class is rare and nothing is tuned for
    it because there is no validation split (else None)."""
    binary = is_binary(found)
    share = float(np.mean(y == 1)) if binary else 1.0
    if asked is None and not validation and share < mlp_decisions.RARE_POSITIVE:
        name = mlp_data.class_name({"classes": found.classes}, 1)
        return (
            f"class {name} is {share:.1%} of the training examples: with --val N a decision threshold is tuned for "
            "F1 on the validation split (--threshold-for)"
        )
    return None


def fitted_threshold(run, params, temperature=None):
    """The decision threshold of a trained run tuned on its validation split (`run.threshold`,
    a metric): {"metric", "cuts" (k,) (a binary network's: one, for its class 1; each label's
    otherwise), "examples", "validation": {"at_half", "tuned"} the metric there before and after
    (a multilabel network's: averaged over its labels)}; None for a run that tunes none. A binary
    network's probabilities are those its temperature gives."""
    if not run.threshold:
        return None
    x_val, y_val = run.validation
    activation, preprocessing = run.settings.activation, run.network["preprocessing"]
    logits = np.concatenate(list(mlp.logits_in_chunks(params, x_val, activation, preprocessing))).astype(np.float64)
    if run.settings.task == "multilabel":
        scores, positive = 1 / (1 + np.exp(-logits)), y_val == 1
    else:
        scores, positive = mlp.softmax(logits / (temperature or 1.0))[:, 1:2], (y_val == 1)[:, None]
    cuts = [mlp_decisions.tuned_threshold(scores[:, j], positive[:, j], run.threshold) for j in range(scores.shape[1])]
    metric = lambda cut, j: mlp_decisions.binary_scores(scores[:, j], positive[:, j], cut)[
        run.threshold.replace("-", "_")
    ]
    said = {
        "at_half": float(np.mean([metric(mlp_decisions.DEFAULT_CUT, j) for j in range(len(cuts))])),
        "tuned": float(np.mean([metric(cut, j) for j, cut in enumerate(cuts)])),
    }
    return {"metric": run.threshold, "cuts": cuts, "examples": len(y_val), "validation": said}


def weights_meta(history, run, params, *, init=None):
    """(meta, history) as the weights file and history record them for a trained `run` (its
    `params`): what the network is, how it was trained (and which options were chosen from the
    data, run.defaults), its test score (that of the kept epoch, scored when it ended), its data
    and what it takes (run.taken, with the framing measured on its pictures), and the temperature
    fitted on its validation split (`fitted_calibration`)."""
    settings, plan, validation = run.settings, run.network, run.validation
    scored = history[history[-1]["best_epoch"] - 1] if validation else history[-1]
    score = f"test_{mlp.TASKS[settings.task].score}"
    meta = {
        "activation": settings.activation,
        "epochs_run": len(history),
        score: scored[score],
        "test_loss": scored["test_loss"],
        "settings": recorded(settings, run.extras, keep_epochs=True),
        "preprocessing": plan["preprocessing"],
        "classes": plan["classes"] and list(plan["classes"]),
        "data": run.source,
        "input": run.taken,
        "defaults": run.defaults,
    }
    temperature, calibration = fitted_calibration(run, params)
    if calibration:  # mlp.predict_proba's: the logits divided by it
        meta |= {"temperature": temperature, "calibration": calibration}
    threshold = fitted_threshold(run, params, temperature)
    if threshold:  # when a yes is said: eval, predict and export apply it
        meta["threshold"] = threshold
    if settings.task == "multilabel":  # a sigmoid per label, named by the data's label columns (or 0 .. k-1)
        meta["task"] = "multilabel"
    if settings.task == "regression":  # what the outputs are: numbers, in these units (mlp.fit_targets)
        meta |= {"task": "regression", "targets": plan["targets"], "target_names": plan["target_names"]}
        del meta["classes"]
    if init:  # what the run started from, in both files
        meta["init"] = {"path": str(init.resolve()), "test_accuracy": plan["start"][1].get("test_accuracy")}
        history = [{**record, "init": str(init.resolve())} for record in history]
    return meta, history


def check_task_options(settings, found, data, class_weight):
    """BadOption for a training option that does not fit the task: class weights and label
    smoothing are about classes (and class weights about one class per example)."""
    if found.task == "multilabel" and class_weight != "none":
        raise BadOption(
            f"--class-weight weighs one class per example, but {data} has several labels per example; leave it out"
        )
    if found.task != "regression":
        return
    for option, value in (("--class-weight", class_weight != "none"), ("--label-smoothing", settings.label_smoothing)):
        if value:
            raise BadOption(f"{option} weighs classes, but {data} is trained as a regression (numbers); leave it out")


def check_varies(x, data, pictures, chunk=8192):
    """ValueError when no feature of the training examples x varies (a constant table, pictures
    all white or all black): nothing could tell the classes apart. Read in chunks (a memory-mapped
    x is never copied whole)."""
    low, high = x[:chunk].min(axis=0), x[:chunk].max(axis=0)
    for i in range(chunk, len(x), chunk):
        low, high = np.minimum(low, x[i : i + chunk].min(axis=0)), np.maximum(high, x[i : i + chunk].max(axis=0))
    if np.array_equal(low, high):
        what = "pixel" if pictures else "feature"
        same = f" ({low.flat[0]:g})" if np.all(low == low.flat[0]) else ""
        raise ValueError(
            f"{data}: every {what} holds the same value in every training example{same}, so nothing tells the "
            "classes apart; check the data"
        )


@dataclass(frozen=True)
class Run:
    """A run as `plan` decides it, before any training: what `execute` trains and the commands
    say and record. Arrays are the data's (never copied here); fields are not reassigned."""

    settings: mlp.Settings  # checked, the options not given chosen from the data
    defaults: dict  # {"for": the data in words, "chosen": {option: value}}: the defaults line
    taken: dict  # how the inputs were taken: {"shape", "pictures": "resized" or "framed", "framing"}
    found: object  # numpy_mlp.data.Data: the data behind --data, as read (its test split too)
    x: np.ndarray  # (N, n_in) training inputs, the validation rows taken out
    y: np.ndarray  # (N,) int labels, or (N, k) standardised numbers for a regression
    y_test: np.ndarray | None  # the test targets, a regression's standardised as y is
    source: dict  # where the data came from, as the weights file records it
    validation: tuple | None  # (x_val, y_val), or None without --val
    network: dict  # planned_network's: "sizes", "hidden", "preprocessing", "start", "targets", ...
    extras: dict  # what the weights file records beyond the settings (val, hidden, dtype, ...)
    checkpoint: mlp.Checkpoint | None  # the checkpoint to resume from, checked to be this run's
    rows: list  # the records of the epochs a resumed run has already done
    params: dict  # the initial parameters: {"W1": (n_in, n_1), "b1": (n_1,), ...}
    meta: dict  # what a checkpoint records: activation, the settings kept, the data's identity
    notes: list  # lines for the user (the memory check's)
    transform: object  # the batches' augmentation (numpy_mlp.pictures.distortion), or None
    sample_weight: np.ndarray | None  # (N,) weights from class_weight, or None
    calibrate: bool = True  # fit a temperature on the validation split after training (`calibrates`)
    threshold: str | None = None  # the metric a decision threshold is tuned for after training (`threshold_metric`)


def plan(
    asked,
    *,
    given,
    found,
    data,
    label_column=None,
    val=0,
    hidden=None,
    normalize=None,
    init=None,
    dtype="float32",
    resume=None,
    class_weight="none",
    straighten=None,
    framings=None,
    calibrate=True,
    threshold_for=None,
):
    """Everything a run starts from, decided before any training: the validation split of
    `found` (the data behind --data, as `load_data` read it), the options not `given` chosen
    from it (`fitted_settings`; `asked`, an mlp.Settings, holds the rest), the network planned
    and checked to fit, the checkpoint to resume from (checked to be this run's), the memory it
    needs, and the initial parameters. `normalize`: a kind, or None to choose; `framings`: a
    dict of the framings measured on the data by preprocessing kind (a sweep's trials share
    them); `straighten`: {"deslant", "width"}; `calibrate`: fit a temperature on the validation
    split after training (`fitted_calibration`); `threshold_for`: --threshold-for's metric, "none"
    or None (`threshold_metric`). Returns a `Run`; its notes (the memory check's,
    when it has one) are for the user. Raises ValueError (BadOption for an option)."""
    straighten = {k: v for k, v in (straighten or {}).items() if v}  # recorded only when on
    check_straightening(straighten, found, data, init)
    x, y = found.x_train, found.y_train
    regression, asked = found.task == "regression", asked._replace(task=found.task)
    check_task_options(asked, found, data, class_weight)
    check_varies(x, data, pictures=found.shape is not None)
    source = mlp_data.source_record(data, label_column, path=found.path)
    identity = mlp_guard.data_identity(source, x, y)
    validation, pictures = None, found.shape is not None
    stopping = 0 if val or "val" in given else early_stopping_rows(len(y), pictures)  # a big table's
    val = val or stopping
    if val:
        x, y, x_val, y_val = mlp.split_validation(x, y, val, asked.seed)
        validation = (x_val, y_val)
    threshold = threshold_metric(threshold_for, found=found, y=y, validation=validation, data=data)
    settings, kind, chosen = fitted_settings(asked, given, pictures=pictures, n=len(y), init=init, validation=val)
    chosen = {"val": stopping, **chosen} if stopping else chosen
    if regression and "task" not in given:  # said first on the defaults line
        chosen = {"task": "regression", **chosen}
    check_augmentable(settings, found, data)
    network = planned_network(
        found,
        data=data,
        activation=settings.activation,
        hidden=hidden,
        normalize=normalize or kind,
        init=init,
        straighten=straighten,
    )
    taken = {"shape": found.shape and list(found.shape), "pictures": "resized" if found.form == "images" else "framed"}
    if found.table:  # a table's columns, read and encoded as train read them: eval and predict do the same
        taken["table"] = found.table["encoding"]
    if taken["pictures"] == "framed" and found.shape and found.shape[0] == found.shape[1]:
        framings = {} if framings is None else framings
        key = network["preprocessing"]["kind"]  # fitted to the same data, so the same for a kind
        if key not in framings:  # of the pictures as drawn: a drawn one is framed, then straightened
            upright = {**network["preprocessing"], "deslant": False, "width": 0.0}
            framings[key] = mlp_pictures.measure_framing(x, found.shape[0], upright)
        taken["framing"] = framings[key]
    extras = {
        "val": val,
        "hidden": network["hidden"],
        "dtype": dtype,
        "sizes": network["sizes"],
        "normalize": network["preprocessing"]["kind"],
        **straighten,
    }
    if regression:  # numbers: trained standardised by the training targets' scaling, or --init's
        network["targets"] = network["targets"] or mlp.fit_targets(y)
        network["target_names"] = list(found.target_names)
        y, y_test = (None if t is None else mlp.scale_targets(t, network["targets"], dtype) for t in (y, found.y_test))
        validation = validation and (validation[0], mlp.scale_targets(validation[1], network["targets"], dtype))
    else:
        y_test = found.y_test
    if init:
        extras["init"] = str(init.resolve())
    if class_weight != "none":  # recorded only when used: older checkpoints resume as they were
        extras["class_weight"] = class_weight
    kept = recorded(settings, extras, mlp.SCHEDULES[settings.schedule].uses_run_length)
    checkpoint, rows = mlp_guard.load_resumable(resume, kept, identity, settings.epochs) if resume else (None, [])
    note = check_memory(network["sizes"], min(settings.batch_size, len(y)), settings.optimizer, dtype, bool(val))
    if network["start"]:
        params = {k: p.astype(dtype) for k, p in network["start"][0].items()}
    else:
        params = mlp.init(network["sizes"], settings.activation, seed=settings.seed, dtype=np.dtype(dtype))
    return Run(
        settings=settings,
        defaults={"for": data_in_words(found, len(y)), "chosen": chosen}
        | ({"columns": found.table["said"]} if found.table and found.table["said"] else {})
        | ({"calibration": len(validation[1])} if fits_temperature(calibrate, validation, found.task) else {})
        | ({"threshold": threshold} if threshold else {}),
        taken=taken,
        found=found,
        x=x,
        y=y,
        y_test=y_test,
        source=source,
        validation=validation,
        network=network,
        extras=extras,
        checkpoint=checkpoint,
        rows=rows,
        params=params,
        meta={"activation": settings.activation, "settings": kept, "data_identity": identity},
        notes=[n for n in (note, threshold_note(threshold_for, found=found, y=y, validation=validation)) if n],
        transform=mlp_pictures.distortion(settings, found.shape),
        sample_weight=None
        if class_weight == "none"
        else class_weights(y, mlp_data.class_count(found), class_weight)[y],
        calibrate=calibrate,
        threshold=threshold,
    )


# ----------------------------------------------------------------------------- a run, run


def scores_test(record, every):
    """Whether a run scores the test set after this epoch: every `every`-th, the last, and each
    new best on validation (so that the kept epoch always has its score)."""
    return record["epoch"] % every == 0 or "stopped" in record or record.get("best_epoch") == record["epoch"]


def execute(run, shown=None, *, test_every=None):
    """Train a planned `Run`: mlp.train on its data, network, options and checkpoint, the one way
    `train`, a sweep's trials, `reproduce` and `bench` run. mlp's NotLearningWarning is left to the caller's
    words (a sweep's trial that learns nothing is a bad trial, no more).

    Args:
        run: `plan`'s.
        shown: optional mlp.Callbacks for what the caller shows or keeps: on_batch and on_step as
            mlp.train calls them; on_epoch(rows, checkpoint) with every record so far (a resumed
            run's earlier ones first), the last with its test scores when it has them.
        test_every: score the test set after every test_every-th epoch, the last and each new
            best on validation (`scores_test`), into the records' "test_loss" and "test_accuracy"
            ("test_r2" for numbers); None: never.

    Returns:
        (params, rows): the trained (or best-on-validation) parameters and the records.
    """
    shown, rows = shown or mlp.Callbacks(), list(run.rows)
    settings, preprocessing = run.settings, run.network["preprocessing"]
    if test_every:  # straightened once, not after every epoch
        test_x, test_prep = mlp.prepared(run.found.x_test, preprocessing, run.params["W1"].dtype)

    def on_epoch(record, checkpoint):
        rows.append(dict(record))
        if test_every and scores_test(record, test_every):
            rows[-1]["test_loss"], rows[-1][f"test_{mlp.TASKS[settings.task].score}"] = mlp.evaluate(
                checkpoint.weights, test_x, run.y_test, settings.activation, preprocessing=test_prep, task=settings.task
            )
        if shown.on_epoch:
            shown.on_epoch(rows, checkpoint)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mlp.NotLearningWarning)
        params, _ = mlp.train(
            run.params,
            run.x,
            run.y,
            settings,
            val=run.validation,
            preprocessing=preprocessing,
            resume=run.checkpoint,
            sample_weight=run.sample_weight,
            transform=run.transform,
            callbacks=shown._replace(on_epoch=on_epoch),
        )
    return params, rows
