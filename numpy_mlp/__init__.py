"""numpy-mlp: the toolkit around mlp.py, one room for each reason to change.

    python cli.py train relu --hidden 128 64      # from a checkout (or `mlp ...` once installed,
    python -m numpy_mlp train relu                # or this, from anywhere numpy_mlp imports)

The network itself (init, forward, loss, grads, update, train) is mlp.py's, a file of its own
that needs only NumPy. The rooms here use it:

    cli          the command line: parse, call, render (its `main` is the `mlp` command)
    options      every option, declared once; help   the help pages
    data         data in every form (IDX, CSV, .npz, picture folders) and the shipped MNIST
    pictures     picture preparation and augmentation, committees
    run          a run planned once and run (weights files, resuming, output checks)
    guard        signals, locks, checkpoints
    score        eval's and predict's decisions; view   what the terminal shows
    plot         figures (matplotlib); draw   the draw page's server (draw.html beside it)
    export       ONNX; bench   timing against NumPy's floor, PyTorch and scikit-learn
    estimators   scikit-learn's MLPClassifier and MLPRegressor; sweep   Optuna searches

Nothing is imported here, so that `import numpy_mlp.cli` starts no slower than the command line.
"""

import sys
from pathlib import Path

HOME = Path(__file__).resolve().parent  # the package's folder: its modules, MNIST, draw.html


def python_command(entry, *words):
    """The argv of a new Python process that calls `entry` ("module:function", in this package)
    with `words` as its arguments, importing this very copy of the package and of mlp.py
    (a checkout's or an installed wheel's, whichever the caller runs), not another on the path.

    Args:
        entry: "numpy_mlp.MODULE:FUNCTION", a function that reads sys.argv[1:].
        *words: its arguments (str).

    Returns:
        list of str, for subprocess.
    """
    module, function = entry.split(":")
    start = f"import sys; sys.path.insert(0, {str(HOME.parent)!r}); from {module} import {function}; {function}()"
    return [sys.executable, "-c", start, *words]
