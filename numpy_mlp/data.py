"""Data for mlp.py in every form users hold it.

    data = mlp_data.load_data("kaggle/")          # IDX folders, CSV, Keras .npz, folders of pictures
    params, history = mlp.train(params, data.x_train, data.y_train, settings,
                                preprocessing=mlp.fit_preprocessing(data.x_train))

NumPy and the standard library, like mlp.py (pictures are decoded by mlp_pictures, with
Pillow). Its rooms, in order:
  files that ship, temp files     the MNIST and the page that ship with the project; what a killed
                                  write left behind
  class names                     classes.txt, names shown as plain text
  named data sets                 downloads into a cache, checked by SHA-256 (DATASETS)
  data sets of any form           one registry, DATA_FORMS, into one shape, Data
  where data is and came from     --data as a path; the record a weights file keeps of its data
"""

import gzip
import hashlib
import json
import os
import urllib.request
import zlib
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

import mlp
import numpy_mlp
from numpy_mlp import pictures as mlp_pictures

# ----------------------------------------------------------------------------- files that ship, temp files


def shipped(name):
    """A file or folder that ships inside the package (its package data): numpy_mlp/NAME, in a
    checkout and in an installed wheel alike."""
    return numpy_mlp.HOME / name


def shipped_mnist():
    """The MNIST that ships with the package (numpy_mlp/mnist)."""
    return shipped("mnist")


DEFAULT_DATA = "mnist"


def _alive(pid):
    """Whether process `pid` runs (POSIX); elsewhere True: no portable way to ask, so keep its files."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only the process's existence is checked
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def remove_orphans(folder):
    """Delete the temp files (.tmp-PID-*) that `write_together` left in `folder` when its process
    was killed (kill -9, a power cut) before it could clean up; returns their names."""
    removed = []
    for name in os.listdir(folder or "."):
        pid = name.split("-")[1] if name.startswith(".tmp-") and name.count("-") >= 2 else ""
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass  # gone already, or not ours to remove
    return removed


class BadOption(ValueError):
    """A bad option or combination of options (the command line exits 2, as for a usage error),
    some seen only once the data is read (a --label-column or --ignore naming no column)."""


# ----------------------------------------------------------------------------- class names


def _check_names(names, where):
    """Class names as given, or a ValueError for control characters (they would corrupt a
    terminal or a CSV), empty or repeated names."""
    for name in names:
        if not name or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
            raise ValueError(f"{where}: class name {name!r} is empty or holds control characters; use plain text")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: class names must be distinct, got {list(names)}")
    return tuple(names)


def read_classes(folder):
    """Class names from `folder`/classes.txt (one per line, in label order), or None."""
    path = os.path.join(folder, "classes.txt")
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read class names ({e})") from None
    if not names:
        raise ValueError(f"{path}: expected one distinct class name per line")
    return list(_check_names(names, path))


def shown(text, keep=""):
    """`text` safe to show on a terminal: every control character (C0, DEL, C1) but those in
    `keep` written as a Python escape (\\x1b), so a file or class name can never move the cursor,
    retitle the window or clear the screen."""
    return "".join(c if c in keep or not (ord(c) < 32 or 127 <= ord(c) < 160) else repr(c)[1:-1] for c in text)


def class_name(meta, c):
    """Class c as a weights file's meta names it: '3', or 'Sandal' for a set with class names."""
    names = meta.get("classes")
    return names[c] if names and c < len(names) else str(c)


def target_names(meta):
    """A regression network's names of its k outputs, as its meta names them (y, or y0, y1, ...)."""
    k = len(meta["targets"]["mean"])
    return meta.get("target_names") or (["y"] if k == 1 else [f"y{j}" for j in range(k)])


# ----------------------------------------------------------------------------- named data sets
# Fetched on first use like torchvision and Keras do: from the mirrors they use, into a cache
# folder, checked by the SHA-256 of each file's decompressed content (so a mirror's own gzip
# bytes do not matter), and written atomically, so an interrupted download never leaves a
# file that looks complete.


class Dataset(NamedTuple):
    sha256: dict  # {IDX stem: SHA-256 of the decompressed file}
    mirrors: tuple  # base URLs, tried in order; a file is base + stem + ".gz"
    classes: tuple  # class names, in label order


DATASETS = {
    "mnist": Dataset(
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": Dataset(
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}


def cache_folder(name, environ=os.environ):
    """Where a named data set is kept: $MLP_DATA_DIR/NAME, else $XDG_CACHE_HOME/numpy-mlp/NAME,
    else ~/.cache/numpy-mlp/NAME."""
    if environ.get("MLP_DATA_DIR"):
        return os.path.join(environ["MLP_DATA_DIR"], name)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "numpy-mlp", name)


def _download(url, f, sha256, on_progress, timeout):
    """Stream url into the open binary file f, hashing the gzip stream's decompressed content
    as it arrives; ValueError on a short body, an incomplete gzip stream or another SHA-256."""
    digest, gunzip, complete = hashlib.sha256(), zlib.decompressobj(16 + zlib.MAX_WBITS), False
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total, done = int(response.headers.get("Content-Length") or 0), 0
        for block in iter(lambda: response.read(1 << 16), b""):
            f.write(block)
            done += len(block)
            while block:  # a gzip file may hold several members, one after the other
                digest.update(gunzip.decompress(block))
                complete, block = gunzip.eof, gunzip.unused_data if gunzip.eof else b""
                if complete and block:
                    gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if on_progress:
                on_progress(done, total)
    if total and done != total:
        raise ValueError(f"the connection closed after {done} of {total} bytes")
    if not complete:
        raise ValueError("the gzip stream ends early")
    got = digest.hexdigest()
    if got != sha256:
        raise ValueError(f"checksum mismatch (SHA-256 of the content {got[:12]}..., expected {sha256[:12]}...)")


VERIFIED = ".verified.json"  # in a cache folder: {file: [size, mtime_ns]} whose content was checked


def _content_sha256(path):
    """SHA-256 of a file's content, decompressed first when it is gzipped."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    digest = hashlib.sha256()
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_cached(name, folder):
    """Check the files of named data set `name` in `folder` against DATASETS' SHA-256 sums: a
    file is hashed once, then trusted while its size and modification time stay those recorded
    in the folder's VERIFIED stamp. ValueError naming a file that is wrong, truncated or
    unreadable, and the fix."""
    dataset, stamp_path = mlp.lookup(DATASETS, name, "data set"), os.path.join(folder, VERIFIED)
    try:
        with open(stamp_path) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        stamp = {}
    checked = {}
    for stem, sha256 in dataset.sha256.items():
        path = mlp.idx_path(folder, stem)
        info = os.stat(path)
        seen = [info.st_size, info.st_mtime_ns]
        if stamp.get(os.path.basename(path)) != seen:
            fix = "delete it and run again to download it afresh"
            try:
                got = _content_sha256(path)
            except (OSError, EOFError, zlib.error) as e:
                raise ValueError(f"{path}: cannot be read ({e}); {fix}") from None
            if got != sha256:
                raise ValueError(
                    f"{path}: not {name}'s file (SHA-256 of its content {got[:12]}..., "
                    f"expected {sha256[:12]}...); {fix}"
                )
        checked[os.path.basename(path)] = seen
    if checked != stamp:
        try:
            mlp.write_atomic(stamp_path, lambda f: f.write(json.dumps(checked).encode()))
        except OSError:
            pass  # a read-only cache is checked again next time: slower, never wrong


def fetch_dataset(name, folder=None, mirrors=None, on_file=None, on_progress=None, timeout=30):
    """The folder (default `cache_folder(name)`) holding named data set `name` (DATASETS),
    downloading what is missing: each file from the first mirror that answers (`mirrors` before
    the registry's), checked against its SHA-256 and only then renamed into place, so a failed
    download leaves nothing that looks complete; files already there are checked too
    (`verify_cached`). on_file(stem, url) before each download, on_progress(done, total) during
    it. ValueError naming every URL tried, what went wrong, and where to put the files by hand."""
    dataset = mlp.lookup(DATASETS, name, "data set")
    folder = folder or cache_folder(name)
    os.makedirs(folder, exist_ok=True)
    remove_orphans(folder)  # what a killed download left
    for stem, sha256 in dataset.sha256.items():
        target = os.path.join(folder, stem + ".gz")
        if os.path.isfile(target) or os.path.isfile(os.path.join(folder, stem)):
            continue
        failures = []
        for base in [*(mirrors or ()), *dataset.mirrors]:
            url = base.rstrip("/") + "/" + stem + ".gz"
            if on_file:
                on_file(stem, url)
            try:  # renamed into place only when whole and verified
                mlp.write_atomic(
                    target, partial(_download, url, sha256=sha256, on_progress=on_progress, timeout=timeout)
                )
                break
            except (OSError, ValueError, EOFError, zlib.error) as e:
                failures.append(f"{url} ({getattr(e, 'reason', None) or e})")
        else:
            raise ValueError(
                f"cannot download {name}: {'; '.join(failures)}; put the four files "
                f"({', '.join(s + '.gz' for s in dataset.sha256)}) in {folder} by hand"
            )
    verify_cached(name, folder)
    return folder


# ----------------------------------------------------------------------------- data sets of any form
# The forms users hold data in, one registry: IDX folders (MNIST's), CSV files (Kaggle's, the
# pjreddie ones, scikit-learn users' tables), Keras' .npz, and folders of class folders of
# pictures (torchvision's ImageFolder). Each loads into one shape, `Data`: raw features as
# stored (uint8 pixels stay uint8) and int labels, so everything downstream is the same.


class Data(NamedTuple):
    """A data set as stored, split into train and test (a split not asked for is None)."""

    x_train: object  # (N, D) raw features in their stored dtype; uint8 pixels stay uint8
    y_train: object  # (N,) int64 labels in [0, C); a regression's (N, k) float64 numbers
    x_test: object
    y_test: object
    classes: tuple | None  # class names in label order, when the data names its classes
    shape: tuple | None  # (H, W) when the D features are an image's pixels; None: a table
    test_from: str  # where the test set comes from, for messages
    path: str | None = None  # the file or folder it was read from (`load_data` fills it in)
    form: str | None = None  # its form, a key of DATA_FORMS (`load_data` fills it in)
    task: str = "classification"  # or "regression": y holds numbers (mlp.TASKS)
    target_names: tuple | None = None  # a regression's: the names of its k numbers, when the data has them
    table: dict | None = None  # a table's: {"encoding" (mlp_columns.fit_encoding's), "said" (its columns in words)}


def _as_labels(raw, where):
    """(labels (N,) int64, class names or None) from raw labels: non-negative whole numbers are
    the labels themselves; anything else (words, negative numbers) names classes, in sorted
    order (numerically when they are numbers)."""
    raw = np.asarray(raw)
    try:
        numbers = raw.astype(np.float64)
    except ValueError:
        numbers = None
    if numbers is not None and not np.isfinite(numbers).all():
        bad = int(np.flatnonzero(~np.isfinite(numbers))[0])
        raise ValueError(
            f"{where}: label {str(raw[bad])!r} (example {bad}) is not a number a class can have; "
            "fill or drop the examples whose label is NaN or infinite"
        )
    if (
        numbers is not None
        and np.isfinite(numbers).all()
        and (numbers == np.round(numbers)).all()
        and (len(numbers) == 0 or numbers.min() >= 0)
    ):
        return numbers.astype(np.int64), None
    if numbers is not None and np.isfinite(numbers).all():
        values = np.unique(numbers)
        return np.searchsorted(values, numbers).astype(np.int64), _check_names([f"{v:g}" for v in values], where)
    names = np.unique(raw.astype(str))
    return np.searchsorted(names, raw.astype(str)).astype(np.int64), _check_names([str(n) for n in names], where)


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _labelled(raw, where, task, first_row=None):
    """(y, class names or None, task) of raw labels (N,) or (N, k): classes (`_as_labels`), or (N,
    k) float64 numbers when task is "regression" or, not given, when half of them at least are
    finite numbers, some not whole (prices, doses: a row of another value is then refused by
    its number). first_row: the file row of the first label (CSV), for messages."""
    raw = np.asarray(raw)
    flat = raw.reshape(len(raw), -1)
    if raw.dtype.kind in "biu" and task != "regression":  # whole numbers: classes
        return (*_as_labels(raw.ravel() if raw.ndim == 2 and raw.shape[1] == 1 else raw, where), "classification")
    finite = np.array([_is_number(v) and np.isfinite(float(v)) for v in flat.ravel()], bool).reshape(flat.shape)
    if task is None:
        numbers = flat[finite].astype(np.float64)
        task = "regression" if 2 * numbers.size >= flat.size and (numbers != np.round(numbers)).any() else None
    if task != "regression":
        return (*_as_labels(raw.ravel() if raw.ndim == 2 and raw.shape[1] == 1 else raw, where), "classification")
    bad = next(iter(np.flatnonzero(~finite.all(axis=1))), None)
    if bad is not None:
        at = f"row {bad + first_row}" if first_row else f"example {bad}"
        raise ValueError(
            f"{where}: {at}: target {str(flat[bad][0] if flat.shape[1] == 1 else list(flat[bad]))!r} is not a "
            "finite number, which a regression needs; fill or drop that row (or train with --task classification)"
        )
    return flat.astype(np.float64), None, task


def _check_regressable(y, where):
    """ValueError unless numbers y (N, k) can train a regression: two examples at least, and a
    target that varies (a constant one leaves nothing to learn)."""
    if len(y) < 2:
        raise ValueError(f"{where}: {len(y)} training example; a regression needs more (tens at least)")
    constant = np.flatnonzero(np.ptp(y, axis=0) == 0)
    if len(constant):
        raise ValueError(
            f"{where}: every training example has the same target ({y[0, constant[0]]:g}), so there is nothing "
            "to learn; check the target column"
        )


def _compact(x, where):
    """Features as read (int64 or float64) in the smallest faithful dtype: uint8 when they are
    whole numbers in 0-255 (pixels), else float32; a ValueError for NaN or infinity."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{where}: holds empty, NaN or infinite values; fill or drop those rows")
    whole = x.dtype.kind in "iu" or (x == np.round(x)).all()
    if x.size and whole and x.min() >= 0 and x.max() <= 255:
        return x.astype(np.uint8)
    return x.astype(np.float32)


def _square_image(x):
    """(side, side) when the rows of x look like square images (whole pixel values 0-255, a
    square number of at least 64 of them), else None: a table."""
    side = mlp.square_side(x.shape[1])
    return (side, side) if x.dtype == np.uint8 and side is not None and side >= 8 else None


def _check_no_lone_class(y, where, classes=None):
    """ValueError naming the classes of labels y that have a single example (too few to learn
    from, and a stratified test set would take it from the training examples)."""
    values, counts = np.unique(y, return_counts=True)  # not bincount: a label of 10**9 is refused after
    single = values[counts == 1]
    if len(single):
        names = [shown(classes[c]) if classes and c < len(classes) else str(c) for c in single[:3]]
        more = f" and {len(single) - 3} more" if len(single) > 3 else ""
        which = f"class {names[0]} has" if len(single) == 1 else f"classes {', '.join(names)}{more} have"
        raise ValueError(
            f"{where}: {which} only one training example, too few to learn from; add examples, or drop "
            + ("it" if len(single) == 1 else "them")
        )


def _check_classifiable(y, where, classes=None):
    """ValueError unless labels y can train a classifier: two classes at least, every class
    present with two examples at least, no more classes (`classes`: their names, if known) than
    examples, and labels that are class indices (a largest label of a thousand or more, beyond
    twice the examples, names classes the data cannot have examples of: ids, years or prices)."""
    top = int(y.max())
    if top == 0 or len(np.unique(y)) < 2:
        raise ValueError(
            f"{where}: every training example has the same label ({top}); a classifier needs "
            "examples of at least two classes"
        )
    if top >= max(2 * len(y), 1000):  # a network of so many outputs would be almost all unseen classes
        raise ValueError(
            f"{where}: labels run up to {top} with only {len(y)} training examples, so most classes "
            "have none; labels must be class indices 0 .. C-1 (or words naming the classes)"
        )
    n_classes = max(top + 1, len(classes or ()))
    if n_classes > len(y):
        raise ValueError(
            f"{where}: {n_classes} classes but only {len(y)} training examples; a classifier needs "
            "examples of every class, two at least"
        )
    _check_no_lone_class(y, where, classes)


def _check_multilabels(y, where, names=None):
    """ValueError unless labels y (N, k) of 0 and 1 can train a network of several labels per
    example: two examples at least, and each label both 0 and 1 in some (one always the same
    leaves nothing to learn for it)."""
    if len(y) < 2:
        raise ValueError(f"{where}: {len(y)} training example; a network needs more (tens at least)")
    same = np.flatnonzero(y.min(axis=0) == y.max(axis=0))
    if len(same):
        j = int(same[0])
        name = shown(names[j]) if names else f"label {j}"
        raise ValueError(
            f"{where}: {name} is {int(y[0, j])} in every training example, so there is nothing to learn for it; "
            "leave it out of the labels"
        )


def _hold_out(data, where, fraction=0.2, path=None):
    """`data` with a test set: the one it has, else a stratified, seeded fifth of its
    training examples (the same every time, so eval scores the examples train did not see)."""
    if data.x_test is not None:
        return data
    if data.task == "regression":
        _check_regressable(data.y_train, path or where)  # before the split takes one away
    elif data.task == "multilabel":
        _check_multilabels(data.y_train, path or where, data.classes)
    else:
        _check_no_lone_class(data.y_train, path or where, data.classes)
    n_test = max(1, round(fraction * len(data.y_train)))
    how = "spread over the targets" if data.task == "regression" else "stratified"
    x, y, x_test, y_test = mlp.split_validation(data.x_train, data.y_train, n_test, seed=0)
    return data._replace(
        x_train=x,
        y_train=y,
        x_test=x_test,
        y_test=y_test,
        test_from=f"{round(100 * fraction)}% of {where} held out ({how}, seed 0)",
    )


def _csv_data(path, splits, **options):
    """A table file, or a folder with train.csv (and test.csv): mlp_tables.csv_data."""
    from numpy_mlp import tables as mlp_tables  # which reads its rows into Data, from here

    return mlp_tables.csv_data(path, splits, **options)


def read_csv(path, label_column=None, n_features=None):
    """A table of numbers as (features, raw labels or None, names or None): mlp_tables.read_csv."""
    from numpy_mlp import tables as mlp_tables

    return mlp_tables.read_csv(path, label_column, n_features)


def _npz_task(arrays, path, task):
    """The task of an .npz's labels: `task` when given, else "multilabel" for (N, k) labels of 0
    and 1 with rows of other than exactly one 1 (several labels per example), else None (as
    `_labelled` finds). ValueError for k columns of whole numbers taken as one class per example
    (one-hot rows)."""
    y = arrays["y_train"]
    if task in ("regression", "multilabel") or y.ndim != 2 or y.shape[1] < 2:
        return task
    if task is None and y.dtype.kind == "f" and (y != np.round(y)).any():
        return task  # numbers: a regression (`_labelled`)
    if task is None and np.isin(y, (0, 1)).all() and not (y.sum(axis=1) == 1).all():
        return "multilabel"
    raise ValueError(
        f"{path}: y_train is {y.shape[0]} x {y.shape[1]}, one column per class; give one class per example, e.g. "
        "y_train=y.argmax(axis=1) (or --task multilabel: each column a label of its own, 0 or 1)"
    )


def _indicators(raw, path):
    """(N, k) uint8 of an .npz's several labels per example (y_train's rows, then y_test's): 0 and 1 in
    the same k columns; ValueError naming what else they hold."""
    k = raw[0].shape[1] if raw[0].ndim == 2 else 0
    for y, name in zip(raw, ("y_train", "y_test")):
        if y.ndim != 2 or y.shape[1] != k or y.shape[1] < 2 or not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{path}: {name} should be labels of 0 and 1 shaped (N, k), a column per label, k the same in "
                f"y_train and y_test (two at least), got {y.dtype} {y.shape}"
            )
    return np.concatenate(raw).astype(np.uint8)


def _npz_data(path, splits, task=None, **_):
    """A Keras-style .npz: x_train, y_train and optionally x_test, y_test; images of any shape
    (N, H, W) (or (N, H, W, 1)), or tables (N, D)."""
    arrays = mlp.read_npz(path)
    if "x_train" not in arrays or "y_train" not in arrays:
        raise ValueError(f"{path}: expected arrays x_train and y_train (and x_test, y_test), got {sorted(arrays)}")

    def features(x, name):
        if x.ndim == 4 and x.shape[3] == 1:
            x = x[..., 0]
        if x.ndim not in (2, 3) or x.dtype.kind not in "uif":
            raise ValueError(f"{path}: {name} should be numbers shaped (N, H, W) or (N, D), got {x.dtype} {x.shape}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise ValueError(f"{path}: {name} holds NaN or infinite values")
        if len(x) == 0:
            raise ValueError(f"{path}: {name} holds no examples")
        return x.reshape(len(x), -1)

    task = _npz_task(arrays, path, task)

    x = features(arrays["x_train"], "x_train")
    shape = tuple(int(n) for n in arrays["x_train"].shape[1:3]) if arrays["x_train"].ndim >= 3 else None
    has_test = "x_test" in arrays and "y_test" in arrays
    raw = [arrays["y_train"]] + ([arrays["y_test"]] if has_test else [])
    raw = [y.reshape(len(y), -1) if y.ndim == 2 else np.ravel(y) for y in raw]
    if task == "multilabel":
        labels, classes = _indicators(raw, path), None
    else:
        labels, classes, task = _labelled(np.concatenate(raw), path, task)
    x_test = features(arrays["x_test"], "x_test") if has_test else None
    for xs, ys, name in ((x, raw[0], "train"), *(((x_test, raw[1], "test"),) if has_test else ())):
        if len(xs) != len(ys) or len(xs) == 0:
            raise ValueError(f"{path}: {len(xs)} {name} examples but {len(ys)} labels")
    if has_test and x_test.shape[1] != x.shape[1]:
        raise ValueError(f"{path}: x_test has {x_test.shape[1]} features per example, x_train {x.shape[1]}")
    data = Data(
        x_train=x,
        y_train=labels[: len(raw[0])],
        x_test=x_test,
        y_test=labels[len(raw[0]) :] if has_test else None,
        classes=classes,
        shape=shape,
        test_from="x_test, y_test",
        task=task,
    )
    return _hold_out(data, os.path.basename(path), path=path)


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")


def picture_files(folder):
    """([(class name, path)], skipped): the pictures in `folder`'s class folders, sorted, and
    how many other files (.DS_Store, Thumbs.db, notes, and what is not a regular file: a FIFO
    named like a picture would hang the decoder) were passed over."""
    found, skipped = [], 0
    for name in sorted(os.listdir(folder)):
        sub = os.path.join(folder, name)
        if not os.path.isdir(sub) or name.startswith("."):
            skipped += not name.startswith(".") or name == ".DS_Store"
            continue
        for file in sorted(os.listdir(sub)):
            path = os.path.join(sub, file)
            if file.lower().endswith(PICTURE_SUFFIXES) and not file.startswith(".") and os.path.isfile(path):
                found.append((name, path))
            else:
                skipped += 1
    return found, skipped


def _decode_all(found, decode, on_progress, cache_path):
    """(N, H, W) uint8 pictures of `found`, decoded by decode(path) -> (H, W) uint8, or read from
    `cache_path` when it was made from the same files: names, sizes, modification and change times
    and inodes (a file replaced by another of the same size, its time set back, changes its change
    time). A cache whose pictures disagree with its manifest is made again."""

    def seen(path):
        info = os.stat(path)
        return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]

    manifest = json.dumps([[c, p, *seen(p)] for c, p in found])
    if cache_path and os.path.isfile(cache_path):
        try:
            cached = mlp.read_npz(cache_path)
            if (
                str(cached["manifest"]) == manifest
                and cached["pictures"].ndim == 3
                and len(cached["pictures"]) == len(found)
            ):
                return cached["pictures"]
        except (ValueError, KeyError):
            pass  # a damaged cache is made again
    pictures = []
    for i, (_, path) in enumerate(found):
        picture = decode(path)
        if pictures and picture.shape != pictures[0].shape:
            raise ValueError(
                f"pictures of different sizes: {found[0][1]} is {pictures[0].shape[1]} x "
                f"{pictures[0].shape[0]}, {path} is {picture.shape[1]} x {picture.shape[0]}; "
                "resize them to one size first"
            )
        pictures.append(picture)
        if on_progress:
            on_progress(i + 1, len(found))
    pictures = np.stack(pictures)
    if cache_path:
        try:
            os.makedirs(os.path.dirname(cache_path), exist_ok=True)
            remove_orphans(os.path.dirname(cache_path))  # what a decode killed while saving left
            mlp.write_atomic(
                cache_path, mlp.npz_writer({"pictures": pictures, "manifest": np.array(manifest)}, compress=False)
            )
        except OSError:
            pass  # no cache: decoded again next time, never wrong
    return pictures


def _image_folder_data(path, splits, decode=None, on_progress=None, environ=os.environ, **_):
    """A folder of class folders of pictures: DIR/train/<class>/*.png and DIR/test/<class>/*.png
    (a fifth of train held out when there is no test/), read greyscale at their stored size
    by `decode` (default `mlp_pictures.decode_picture`: Pillow). Decoded pictures are kept in the cache
    folder, so a large folder is decoded once."""
    decode = decode or mlp_pictures.decode_picture
    split_data, classes, skipped = {}, None, 0
    for split in ("train", "test"):
        folder = os.path.join(path, split)
        if not os.path.isdir(folder):
            continue
        found, passed = picture_files(folder)
        skipped += passed
        if not found:
            raise ValueError(f"{folder}: no pictures in class folders ({folder}/<class>/*.png)")
        names = sorted({c for c, _ in found})
        classes = names if classes is None else sorted(set(classes) | set(names))
        key = hashlib.sha256(os.path.abspath(folder).encode()).hexdigest()[:16]
        cache = os.path.join(cache_folder("pictures", environ), f"{key}.npz")
        split_data[split] = (_decode_all(found, decode, on_progress, cache), [c for c, _ in found])
    if "train" not in split_data:
        raise ValueError(f"{path}: expected a train/ folder of class folders (train/<class>/*.png)")
    classes = _check_names(classes, path)
    labels = {split: np.array([classes.index(c) for c in names], np.int64) for split, (_, names) in split_data.items()}
    pictures = {split: p for split, (p, _) in split_data.items()}
    if "test" in pictures and pictures["test"].shape[1:] != pictures["train"].shape[1:]:
        raise ValueError(
            f"{path}: train pictures are {pictures['train'].shape[1:]}, test pictures {pictures['test'].shape[1:]}"
        )
    flat = {split: p.reshape(len(p), -1) for split, p in pictures.items()}
    data = Data(
        x_train=flat["train"],
        y_train=labels["train"],
        x_test=flat.get("test"),
        y_test=labels.get("test"),
        classes=classes,
        shape=tuple(pictures["train"].shape[1:]),
        test_from="test/" + (f" ({skipped} other files passed over)" if skipped else ""),
    )
    return _hold_out(data, "train/", path=path)


def _idx_data(path, splits, task=None, **_):
    """An MNIST-layout folder of IDX files (the splits asked for); task "regression" fits its labels."""
    arrays = dict(zip([f"{a}_{split}" for split in splits for a in ("x", "y")], mlp.load_idx_dataset(path, splits)))
    if task == "regression":
        arrays = {k: v.astype(np.float64)[:, None] if k[0] == "y" else v for k, v in arrays.items()}
    first = mlp.read_idx(mlp.idx_path(path, mlp.MNIST_FILES[f"{splits[0]}_images"]), mmap=True)
    shape = tuple(int(n) for n in first.shape[1:3]) if first.ndim == 3 else None
    return Data(
        x_train=arrays.get("x_train"),
        y_train=arrays.get("y_train"),
        x_test=arrays.get("x_test"),
        y_test=arrays.get("y_test"),
        classes=None,
        shape=shape,
        test_from="t10k files",
        task=task or "classification",
    )


TABLE_SUFFIXES = tuple(s + gz for s in (".csv", ".tsv", ".data") for gz in ("", ".gz"))


class DataForm(NamedTuple):
    detect: Callable  # detect(path) -> whether `path` holds data of this form
    load: Callable  # load(path, splits, label_column=..., decode=..., on_progress=...) -> Data
    about: str  # one line for help texts


DATA_FORMS = {
    "idx": DataForm(
        lambda p: (
            os.path.isdir(p)
            and any(os.path.isfile(os.path.join(p, s + e)) for s in mlp.MNIST_FILES.values() for e in ("", ".gz"))
        ),
        _idx_data,
        "a folder of the four MNIST-layout IDX files",
    ),
    "csv": DataForm(
        lambda p: (
            p.lower().endswith(TABLE_SUFFIXES) and os.path.isfile(p) or os.path.isfile(os.path.join(p, "train.csv"))
        ),
        _csv_data,
        "a table (.csv, .tsv, .data, or one of them .gz), or a folder with train.csv (and test.csv)",
    ),
    "npz": DataForm(
        lambda p: p.lower().endswith(".npz") and os.path.isfile(p),
        _npz_data,
        "a Keras-style .npz (x_train, y_train, x_test, y_test)",
    ),
    "images": DataForm(
        lambda p: os.path.isdir(os.path.join(p, "train")),
        _image_folder_data,
        "a folder of class folders of pictures (train/CLASS/, test/CLASS/)",
    ),
}


def data_form(path):
    """The name of the DATA_FORMS entry that reads `path`, or a ValueError listing the forms."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file or folder")
    for name, form in DATA_FORMS.items():
        if form.detect(path):
            return name
    raise ValueError(f"{path}: not data mlp can read; give " + "; or ".join(f.about for f in DATA_FORMS.values()))


def class_count(data):
    """Outputs of a network for `data` (a Data): its largest label plus one (a regression's: its
    targets; several labels per example: its labels)."""
    if data.task in ("regression", "multilabel"):
        return next(y.shape[1] for y in (data.y_train, data.y_test) if y is not None)
    return int(max(y.max() for y in (data.y_train, data.y_test) if y is not None)) + 1


def load_data(
    path,
    splits=("train", "test"),
    label_column=None,
    decode=None,
    on_progress=None,
    task=None,
    encoding=None,
    whole_file=False,
    columns=None,
):
    """The data set at `path`, whatever its form (DATA_FORMS), as `Data`: raw features as stored
    and int labels per split (splits not asked for are None), class names from the data or a
    classes.txt beside it, the image shape. label_column: the CSV's (default: "label").
    decode(path) -> (H, W) uint8 reads a picture (`mlp_pictures.decode_picture`, Pillow);
    on_progress(done, total) while pictures are decoded. task: "classification", "regression"
    (labels are numbers to fit), or None: as the data says. A table's: encoding, a network's
    (its columns and label, read as it was trained); whole_file: every row is for testing (a
    file the network did not train on), not the fifth held out when it trains; columns: the
    kinds the user gave to some of its columns ({"categorical": [...], "ignore": [...]})."""
    path = os.fspath(path)
    if not splits or not set(splits) <= {"train", "test"}:
        raise ValueError(f"splits must be some of ('train', 'test'), got {tuple(splits)!r}")
    form = data_form(path)
    if task == "regression" and form == "images":
        raise ValueError(f"{path}: a folder of class folders names classes, not numbers; train it as a classification")
    loaded = {"label_column": label_column, "decode": decode, "on_progress": on_progress, "task": task}
    if form == "csv":
        loaded |= {"encoding": encoding, "whole_file": whole_file, "columns": columns}
    data = DATA_FORMS[form].load(path, tuple(splits), **loaded)
    if data.classes is None and data.task == "classification":
        names = read_classes(path if os.path.isdir(path) else os.path.dirname(path) or ".")
        data = data._replace(classes=names and tuple(names))
    data = data._replace(**{f"{a}_{split}": None for split in ("train", "test") if split not in splits for a in "xy"})
    data = data._replace(path=path, form=form)
    if data.task == "regression" and data.target_names is None:  # named y (y0, y1, ... for several)
        data = data._replace(target_names=tuple(target_names({"targets": {"mean": [0] * class_count(data)}})))
    if "train" in splits and data.task == "regression":
        _check_regressable(data.y_train, path)
    elif "train" in splits and data.task == "multilabel":
        _check_multilabels(data.y_train, path, data.classes)
    elif "train" in splits:
        _check_classifiable(data.y_train, path, data.classes)
    return data


# ----------------------------------------------------------------------------- where data is and came from


def resolve(data, on_file=None, on_progress=None):
    """The file or folder behind a --data value: a path as given; a data set name as the shipped
    MNIST or its cache folder, downloading what is missing there (`fetch_dataset`, with its
    callbacks; MLP_MIRROR, comma-separated base URLs, is tried before the registry's mirrors;
    MLP_DATA_DIR moves the cache). ValueError for anything else."""
    if os.path.exists(data):
        return data
    if data not in DATASETS:
        raise ValueError(f"--data {data}: no such data set, file or folder (the names are {', '.join(DATASETS)})")
    if data == "mnist" and shipped_mnist().is_dir():
        return str(shipped_mnist())
    mirrors = [m for m in os.environ.get("MLP_MIRROR", "").split(",") if m]
    return fetch_dataset(data, cache_folder(data), mirrors, on_file, on_progress)


def dataset_files(folder):
    """The files of a data folder that a command reads: its IDX files, CSVs and classes.txt."""
    names = [stem + suffix for stem in mlp.MNIST_FILES.values() for suffix in (".gz", "")]
    names += ["classes.txt", "train.csv", "test.csv"]
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]


def data_files(data):
    """The files a --data value names, without downloading anything: to check before any work
    that no output is one of them."""
    if os.path.exists(data) or data not in DATASETS:
        path = data
    elif data == "mnist" and shipped_mnist().is_dir():
        path = str(shipped_mnist())
    else:
        path = cache_folder(data)
    if os.path.isfile(path):
        return [path]
    return dataset_files(path) if os.path.isdir(path) else []


def source_record(data, label_column=None, path=None):
    """What a weights file records of the data it was trained on: a data set's name, or the
    absolute path with its form and label column, so that eval, predict and plot find it again.
    `path`: where `data` was found (`resolve`'s answer), when it is known."""
    if data in DATASETS and not os.path.exists(data):
        return {"name": data}
    path = os.path.abspath(path or resolve(data))
    return {"path": path, "form": data_form(path), "label_column": label_column}


def source_of(record):
    """The data a record names, as one comparable string: the data set's name or the path
    (weights saved by mlp.save alone record none: MNIST)."""
    record = record or {"name": DEFAULT_DATA}
    return record.get("name") or record["path"]
