"""bench's harness: the training loop timed against NumPy's own matrix products, and the same
recipe in PyTorch and scikit-learn (each run in a process of its own) for comparison.

    result = numpy_mlp.bench.measure(run, x_test=found.x_test)  # run: numpy_mlp.run.plan's

cli.py's bench parses the options and renders the table; what is timed, and how, is here.
PyTorch and scikit-learn are never dependencies: the reference runs import them only when asked.
"""

import contextlib
import json
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import warnings
from pathlib import Path

import numpy as np

import mlp
import numpy_mlp
from numpy_mlp import columns as mlp_columns
from numpy_mlp import data as mlp_data
from numpy_mlp import guard as mlp_guard
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run
from numpy_mlp import tables as mlp_tables

# mlp's activations and optimizers in PyTorch (a test checks every registry entry has its line)
TORCH_ACTIVATIONS = {  # name: (torch.nn.functional's name, kwargs)
    "tanh": ("tanh", {}),
    "sigmoid": ("sigmoid", {}),
    "relu": ("relu", {}),
    "leaky_relu": ("leaky_relu", {"negative_slope": 0.01}),
    "gelu": ("gelu", {"approximate": "tanh"}),
}

TORCH_OPTIMIZERS = {  # name: (torch.optim's name, kwargs)
    "sgd": ("SGD", {}),
    "nesterov": ("SGD", {"nesterov": True}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
}

REFERENCE_TIMEOUT = 3600  # seconds a reference run may take before bench gives up on it


# ----------------------------------------------------------------------------- our loop and its floor


def bench_data(data, limit, normalize=None, label_column=None, task=None, columns=None):
    """(x, y, x_test, y_test, n_classes, preprocessing, shape): the raw training set at path
    `data` (its first `limit` examples if limit > 0), the test set, and the preprocessing fitted
    as train fits it (of kind `normalize`, else the kind that fits the data: mlp_run.fitted_defaults),
    and the shape of its images (None: a table). task, columns: as mlp_data.load_data takes them."""
    found = mlp_data.load_data(data, label_column=label_column, task=task, columns=columns)
    x, y, x_test, y_test = found.x_train, found.y_train, found.x_test, found.y_test
    if limit:
        x, y = x[:limit], y[:limit]
    pictures = found.shape is not None
    kind = normalize or mlp_run.fitted_defaults(len(x), pictures)["normalize"]
    prep = mlp.fit_preprocessing(x, kind, pictures=pictures)
    return x, y, x_test, y_test, mlp_data.class_count(found), prep, found.shape


def step_matmuls(sizes, batch_size):
    """(m, k, n, transposed) of the matrix products in one training step, as mlp computes
    them: per layer the forward x @ W and the weight gradient x.T @ dz (left operand
    transposed), and for every layer but the first dz @ W.T (right operand transposed)."""
    shapes = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes += [(batch_size, n_in, n_out, None), (n_in, batch_size, n_out, "left")]
        if l > 0:
            shapes.append((batch_size, n_out, n_in, "right"))
    return shapes


def matmul_operands(shapes, dtype):
    """[(a, b)] random operands of `shapes`, laid out as in a training step (a transposed
    operand is a transposed view of a C-ordered array)."""
    rng = np.random.default_rng(0)
    pairs = []
    for m, k, n, transposed in shapes:
        a = rng.random((k, m), dtype=dtype).T if transposed == "left" else rng.random((m, k), dtype=dtype)
        b = rng.random((n, k), dtype=dtype).T if transposed == "right" else rng.random((k, n), dtype=dtype)
        pairs.append((a, b))
    return pairs


def time_matmuls(pairs, seconds=0.6, repeats=3):
    """Median seconds of one pass of NumPy's matmul over `pairs` (matmul_operands), from
    `repeats` samples that take about `seconds` in all (at least one pass each)."""

    def one_pass():
        for a, b in pairs:
            a @ b

    first = timeit.timeit(one_pass, number=1)
    loops = max(1, int(seconds / repeats / max(first, 1e-9)))
    return float(np.median(timeit.repeat(one_pass, number=loops, repeat=repeats))) / loops


def time_checkpoint(checkpoint, activation, repeats=5):
    """Median seconds to write `checkpoint` as train writes one after every epoch (atomically,
    fsynced), into a temporary folder in the current one: the disk train would write to."""
    with tempfile.TemporaryDirectory(dir=".") as folder:
        path = Path(folder) / "bench.ckpt.npz"
        timer = timeit.Timer(lambda: mlp_guard.save_checkpoint(path, checkpoint, {"activation": activation}))
        return float(np.median(timer.repeat(repeats, 1)))


def time_augmentation(x, preprocessing, settings, dtype, repeats=3):
    """Median seconds to convert and distort one epoch of batches of raw images x, as
    mlp.train_epoch does (the batches in order: the gathering is timed with the matrix
    products), or None without augmentation."""
    if mlp_pictures.AUGMENTATIONS[settings.augment_kind].distort is None:
        return None
    rng, shape = np.random.default_rng(settings.seed), mlp.image_shape(x.shape[1])

    def one_epoch():
        for i in range(0, len(x), settings.batch_size):
            mlp_pictures.augment(
                mlp.to_unit(x[i : i + settings.batch_size], preprocessing, dtype), shape, settings.augment_kind, rng
            )

    return float(np.median(timeit.repeat(one_epoch, number=1, repeat=repeats)))


def machine_info():
    """The CPU, cores, NumPy and its BLAS (library, version, threads, kernel family), for bench."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # Linux names the model; elsewhere platform's word stands
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    from threadpoolctl import threadpool_info

    try:
        blas = next((lib for lib in threadpool_info() if lib.get("user_api") == "blas"), {})
    except OSError:  # it could not look at the loaded libraries
        blas = {}
    return {
        "cpu": cpu or "unknown CPU",
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "blas": blas.get("internal_api"),
        "blas_version": blas.get("version"),
        "blas_threads": blas.get("num_threads"),
        "blas_kernels": blas.get("architecture"),
    }


def measure(run, *, x_test, torch_epoch=None, threads=0):
    """Train the planned `run` (numpy_mlp.run.plan's: its settings' epochs, a fresh network, its raw
    x and y), as every run is trained (numpy_mlp.run.execute), and time what an epoch is made of: the epochs themselves, NumPy's matmul alone on the same shapes (the
    floor, timed after every epoch: each epoch is divided by its own), scoring the test set
    (train does it after every epoch), converting and distorting one epoch's images, and
    writing the checkpoint train writes. With `torch_epoch` (the epoch of a `stepped_reference`),
    PyTorch's epoch runs after each of ours, and each of ours is divided by it too. threads:
    --threads (0: the BLAS threads follow the free cores, mlp_run.steering, as train's do).
    Returns the JSON-able result."""
    settings, sizes, x, dtype = run.settings, run.network["sizes"], run.x, run.params["W1"].dtype
    preprocessing, y_test = run.network["preprocessing"], run.y_test
    shapes = step_matmuls(sizes, settings.batch_size)
    pairs, steps = matmul_operands(shapes, dtype), len(x) / settings.batch_size
    last, floors, torch_seconds = {}, [], []

    def after_epoch(rows, checkpoint):  # outside the epoch's own seconds (mlp.train times it first)
        # The floor of the same minute: a shared machine's speed drifts, and a floor timed once,
        # apart from the epochs, had moved the ratio by a third from one run to the next.
        last.update(checkpoint=checkpoint)
        floors.append(time_matmuls(pairs, seconds=min(rows[-1]["seconds"], 0.6)) * steps)
        if torch_epoch:  # and PyTorch's epoch of the same minute, for the same reason
            torch_seconds.append(torch_epoch())

    products = mlp_run.run_products(sizes, settings.batch_size, len(x), [len(x_test)], dtype)
    with mlp_run.steering(threads, products=products) as steer:  # timing, not learning: no test set scored
        params, history = mlp_run.execute(run, mlp.Callbacks(on_batch=steer, on_epoch=after_epoch))
    seconds = [r["seconds"] for r in history]
    score = lambda: mlp.evaluate(
        params, x_test, y_test, settings.activation, preprocessing=preprocessing, task=settings.task
    )
    test_score = score()[1]
    evaluation = float(np.median(timeit.repeat(score, number=1, repeat=3)))
    median, floor = float(np.median(seconds)), float(np.median(floors))
    ratios = [s / f for s, f in zip(seconds, floors)]
    flops = 2 * sum(m * k * n for m, k, n, _ in shapes) * steps  # linear in batch rows
    checkpoint = time_checkpoint(last["checkpoint"], settings.activation)
    paired = {}
    if torch_epoch:
        torch_ratios = [s / t for s, t in zip(seconds, torch_seconds)]
        paired = {
            "torch_epoch_seconds": torch_seconds,
            "torch_epoch_seconds_median": float(np.median(torch_seconds)),
            "torch_train_seconds": sum(torch_seconds),
            "ratios_to_torch": torch_ratios,
            "ratio_to_torch": float(np.median(torch_ratios)),
        }
    return {
        "sizes": sizes,
        "activation": settings.activation,
        "batch_size": settings.batch_size,
        "optimizer": settings.optimizer,
        "lr": settings.lr,
        "schedule": settings.schedule,
        "warmup": settings.warmup,
        "dropout": settings.dropout,
        "dtype": str(np.dtype(dtype)),
        "n": len(x),
        "epochs": settings.epochs,
        "epoch_seconds": seconds,
        "train_seconds": sum(seconds),
        f"test_{mlp.TASKS[settings.task].score}": test_score,
        "epoch_seconds_median": median,
        "samples_per_second": len(x) / median,
        "matmul_flops_per_epoch": flops,
        "gflops_per_second": flops / median / 1e9,
        "floor_seconds": floor,
        "floor_seconds_each": floors,
        "floor_gflops_per_second": flops / floor / 1e9,
        "ratios_to_floor": ratios,
        "ratio_to_floor": float(np.median(ratios)),
        "test_evaluation_seconds": evaluation,
        "augmentation_seconds": time_augmentation(x, preprocessing, settings, dtype),
        "augment": settings.augment_kind,
        "machine": machine_info(),
        "checkpoint_seconds": checkpoint,
        "checkpoint_share": checkpoint / median,
        **paired,
    }


# ----------------------------------------------------------------------------- the references


def reference_args(name, spec):
    """The command that runs reference `name` (REFERENCES) on `spec` in a Python of its own."""
    return numpy_mlp.python_command("numpy_mlp.bench:reference_main", name, json.dumps(spec))


def reference_run(name, spec, timeout=REFERENCE_TIMEOUT):
    """What reference `name` (sklearn, REFERENCES) returns for `spec`, run in a process
    of its own (its threads and NumPy's OpenBLAS threads would fight over the cores); a
    ValueError with the last line it printed when it fails or takes over `timeout` seconds."""
    try:
        done = subprocess.run(reference_args(name, spec), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError(f"the {name} reference run took over {timeout} s and was stopped") from None
    if done.returncode != 0:
        raise ValueError(f"the {name} reference run failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


SETTLE_SECONDS = 0.2  # before a reference epoch: OpenBLAS's idle threads spin about 0.1 s before they sleep


@contextlib.contextmanager
def stepped_reference(name, args, timeout=REFERENCE_TIMEOUT):
    """Reference `name`'s process `args` (reference_args: reference_main with torch SPEC) run one epoch
    at a time, in turn with ours: yields (epoch, result). epoch() lets it run its next epoch
    and returns the seconds it reports; result() waits for its last line (its JSON result).
    The process reports each answer as one JSON line: {"ready": true} once it has its data,
    {"seconds": s} after each epoch it was asked for (one line on its stdin), and its result.
    A ValueError with its last line on stderr when it fails, or when an answer takes over
    `timeout` seconds. The process is ended on leaving, whatever happened."""
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        answers = queue.Queue()  # a thread reads them: a pipe has no portable timeout
        threading.Thread(target=lambda: [*map(answers.put, process.stdout), answers.put(None)], daemon=True).start()

        def answer():
            try:
                line = answers.get(timeout=timeout)
            except queue.Empty:
                raise ValueError(f"the {name} reference run took over {timeout} s and was stopped") from None
            if line is None:
                process.wait(timeout=timeout)
                errors.seek(0)
                last = (errors.read().strip().splitlines() or [f"exit code {process.returncode}"])[-1]
                raise ValueError(f"the {name} reference run failed: {last}")
            return json.loads(line)

        def epoch():
            time.sleep(SETTLE_SECONDS)
            with contextlib.suppress(OSError):  # a process that has ended says why in answer()
                process.stdin.write("\n")
                process.stdin.flush()
            return answer()["seconds"]

        try:
            answer()  # ready: its loading is over before our first epoch starts
            yield epoch, answer
        finally:
            process.kill()
            process.wait(timeout=timeout)


def torch_reference(spec):
    """PyTorch's run of the same recipe (bench --torch), stepped by `stepped_reference`: the same
    network and mlp.Settings (batch size, optimizer and its momentum and weight decay, per-epoch
    learning rates from mlp.scheduled_lr, dropout). Prints {"ready": true} once it has its data,
    waits for a line on stdin before each epoch and prints its seconds after it; returns the
    final test accuracy."""
    import torch

    s = mlp.Settings(**spec["settings"])
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count())
    x, y, x_test, y_test, _, preprocessing, _ = bench_data(
        spec["data"], spec["limit"], spec["normalize"], spec["label_column"], columns=spec.get("columns")
    )
    x, y = torch.from_numpy(mlp.preprocess(x, preprocessing, spec["dtype"])), torch.from_numpy(y)
    x_test = torch.from_numpy(mlp.preprocess(x_test, preprocessing, spec["dtype"]))
    name, kwargs = TORCH_ACTIVATIONS[s.activation]
    f = getattr(torch.nn.functional, name)

    class Activation(torch.nn.Module):
        def forward(self, z):
            return f(z, **kwargs)

    layers = []
    for n_in, n_out in zip(spec["sizes"][:-1], spec["sizes"][1:]):
        layers += [torch.nn.Linear(n_in, n_out), Activation()] + ([torch.nn.Dropout(s.dropout)] if s.dropout else [])
    layers = layers[:-2] if s.dropout else layers[:-1]  # the output layer is linear
    model = torch.nn.Sequential(*layers).to(getattr(torch, spec["dtype"]))
    torch_optimizer, options = TORCH_OPTIMIZERS[s.optimizer]
    momentum = {"momentum": s.momentum} if mlp.OPTIMIZERS[s.optimizer].uses_momentum else {}
    opt = getattr(torch.optim, torch_optimizer)(
        model.parameters(), lr=s.lr, weight_decay=s.weight_decay, **momentum, **options
    )
    print(json.dumps({"ready": True}), flush=True)
    for epoch in range(s.epochs):
        if not sys.stdin.readline():  # bench is gone
            sys.exit(1)
        start = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = mlp.scheduled_lr(s.schedule, s.lr, epoch, s.epochs, s.warmup)
        model.train()
        for idx in torch.randperm(len(x)).split(s.batch_size):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(dim=1).numpy() == y_test).mean())
    return {"test_accuracy": accuracy}


def raw_frames(found):
    """(train, test) pandas DataFrames of a table's raw feature columns, the rows of our split."""
    import pandas as pd

    encoding, (train_rows, test_rows), (train_file, test_file) = (found.table[k] for k in ("encoding", "rows", "files"))
    test = mlp_tables.raw_columns(test_file, encoding, slice(None)) if test_file else None
    train = mlp_tables.raw_columns(train_file, encoding, train_rows)
    test = test or mlp_tables.raw_columns(train_file, encoding, test_rows)
    frames = pd.DataFrame(train), pd.DataFrame(test)
    return tuple(f.astype({c: object for c in f if f[c].dtype.kind == "O"}).where(f.notna(), np.nan) for f in frames)


def careful_columns(frame):
    """The ColumnTransformer a careful scikit-learn user puts before a network on a mixed table:
    numbers get the median in their gaps, a missing indicator and standard scaling; words get the
    most frequent value in their gaps and one-hot columns (levels unseen in training: none)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    words = [c for c in frame.columns if c not in numbers]
    return ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numbers),
            (
                "words",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                words,
            ),
        ]
    )


def inputs_held(found):
    """What the inputs of `found` (a Data) hold in memory, training and test sets together:
    {"rows", "features", "dtype", "megabytes", "table"}; a table's encoded matrix is float32."""
    rows = len(found.x_train) + len(found.x_test)
    features = int(np.prod(found.x_train.shape[1:]))
    megabytes = (found.x_train.nbytes + found.x_test.nbytes) / 2**20
    kind = {"dtype": str(found.x_train.dtype), "table": found.table is not None}
    return {"rows": rows, "features": features, "megabytes": megabytes, **kind}


def sklearn_reference(spec):
    """scikit-learn's answer to the same data (bench --sklearn): MLPClassifier (a regression's:
    MLPRegressor) with its defaults (adam, lr 0.001, batches of 200, up to 200 epochs or
    --sklearn-epochs, early stop on the training loss) and the same hidden sizes, on the same
    train/test split, fed what ours is fed: with --normalize standard, behind its own
    StandardScaler (float64); with range, the same [0, 1] float32 inputs. Returns the fit's
    seconds, its epochs and the test accuracy (a regression's: R², scikit-learn's r2_score)."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.metrics import r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y, x_test, y_test, _, preprocessing, _ = bench_data(
        spec["data"], spec["limit"], spec["normalize"], spec["label_column"], spec.get("task"), spec.get("columns")
    )
    numbers = spec.get("task") == "regression"
    found = mlp_data.load_data(
        spec["data"], label_column=spec["label_column"], task=spec.get("task"), columns=spec.get("columns")
    )
    mixed = found.table and not mlp_columns.is_plain(found.table["encoding"])
    if mixed:  # words or gaps: the careful pipeline a scikit-learn user writes, on the raw columns
        x, x_test = raw_frames(found)
        x = x.iloc[: spec["limit"]] if spec["limit"] else x
    kind = MLPRegressor if numbers else MLPClassifier
    classifier = kind(hidden_layer_sizes=spec["hidden"], random_state=spec["seed"], max_iter=spec["max_iter"])
    if numbers and y.shape[1] == 1:  # one number: the (N,) it expects
        y, y_test = y.ravel(), y_test.ravel()
    model = classifier
    if mixed:  # and a regression's targets standardised, as its careful user does (and ours does)
        model = make_pipeline(careful_columns(x), classifier)
        model = TransformedTargetRegressor(model, transformer=StandardScaler()) if numbers else model
    elif spec["normalize"] == "standard":  # scikit-learn's own scaler, as its user guide recommends
        model, x, x_test = make_pipeline(StandardScaler(), classifier), x.astype(np.float64), x_test.astype(np.float64)
    else:  # the inputs ours gets, e.g. pixels / 255 in float32 (scikit-learn computes in the input's type)
        x, x_test = mlp.preprocess(x, preprocessing), mlp.preprocess(x_test, preprocessing)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge" after max_iter: its own default, as users meet it
        model.fit(x, y)
    seconds = time.perf_counter() - start
    predicted = model.predict(x_test)
    score = {"test_r2": float(r2_score(y_test, predicted))} if numbers else {}
    score = score or {"test_accuracy": float((predicted == y_test).mean())}
    fitted = getattr(model, "regressor_", model)  # TransformedTargetRegressor fits a clone
    network = fitted[-1] if hasattr(fitted, "steps") else fitted
    return {"fit_seconds": seconds, "epochs": int(network.n_iter_), **score}


# ----------------------------------------------------------------------------- ours and theirs, on quiet and shared cores


BUSY_TIMEOUT = 10  # seconds a busy process may take to end once killed


@contextlib.contextmanager
def busy_cores(n):
    """n processes that keep a core busy each (a Python loop: another program's work) for as long
    as the block runs; killed on leaving, whatever happened."""
    processes = []
    try:
        for _ in range(n):
            processes.append(subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL))
        time.sleep(SETTLE_SECONDS)  # running before the first epoch starts
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait(timeout=BUSY_TIMEOUT)


def timed(measured, *, torch_spec=None, busy=0, threads=0):
    """`measure(**measured)` (measured: its arguments by name), with PyTorch's epochs in turn with ours when `torch_spec` (the
    reference's spec) is given; with `busy`, the same again beside that many busy processes
    (busy_cores), its figures under "busy": epoch medians, the slowdowns (busy over quiet median
    seconds per epoch) and, with PyTorch, its slowdown and ours divided by it."""

    def once():
        if not torch_spec:
            return measure(**measured, threads=threads)
        with stepped_reference("torch", reference_args("torch", torch_spec)) as (torch_epoch, last):
            result = measure(**measured, torch_epoch=torch_epoch, threads=threads)
            return result | {"torch_test_accuracy": last()["test_accuracy"]}

    result = once()
    if busy:
        with busy_cores(busy):
            loaded = once()
        slowdown = loaded["epoch_seconds_median"] / result["epoch_seconds_median"]
        shared = {"processes": busy, "epoch_seconds": loaded["epoch_seconds"], "slowdown": slowdown}
        shared["epoch_seconds_median"] = loaded["epoch_seconds_median"]
        if torch_spec:
            torch_slowdown = loaded["torch_epoch_seconds_median"] / result["torch_epoch_seconds_median"]
            shared |= {"torch_epoch_seconds": loaded["torch_epoch_seconds"], "torch_slowdown": torch_slowdown}
            shared |= {"torch_epoch_seconds_median": loaded["torch_epoch_seconds_median"]}
            shared["slowdown_to_torch"] = slowdown / torch_slowdown
        result["busy"] = shared
    return result


REFERENCES = {"torch": torch_reference, "sklearn": sklearn_reference}


def reference_main():
    """A reference's process (reference_args): `NAME SPEC` in sys.argv, its result as JSON on stdout."""
    print(json.dumps(REFERENCES[sys.argv[1]](json.loads(sys.argv[2]))))
