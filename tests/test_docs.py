"""Every snippet of README.md and docs/ runs as written: each fenced `python` or `bash` block is
marked, on the line before it, `<!-- snippet: run -->` or `<!-- snippet: skip, REASON -->`, and
the marked ones run, file by file in order, in a folder laid out as a checkout (the modules, the
draw page, pyproject.toml) with small real data where the snippets expect data: MNIST in
numpy_mlp/mnist/ (600 training and 200 test digits), and the files they name (my-digit.png, kaggle/,
mnist.npz, pictures/, ...) made from the same digits. A snippet that imports a package names it
in an install line above it in the same file.

Inside a block, lines that set up or serve are not run: `pip install ...` (checked instead: what
it names is installed here, by the test extra), `pytest` (this suite), `draw` without --bench
(serves until stopped; test_draw.py drives it in a browser) and `--torch` (PyTorch is never a
dependency; test_bench.py runs it where it is installed)."""

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import HERE, posix, small_slice, write_dataset

DOCS = [HERE / "README.md", *sorted((HERE / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
MARK = re.compile(r"<!-- snippet: (run|skip, .+?) -->\n+$")
NOT_RUN = re.compile(r"^\s*(pip install .*|pytest.*|.*cli\.py draw (?!.*--bench).*|.*--torch.*)$")
PACKAGES = {  # a module a snippet imports: the words an install line above it names it by
    "onnxruntime": ("onnxruntime",),
    "PIL": ("Pillow", "pillow", "[image]", "[test]"),
    "sklearn": ("scikit-learn", "[sklearn]"),
    "matplotlib": ("matplotlib", "[plot]"),
    "onnx": ("[onnx]", "onnx"),
}
MODULES = {"onnxruntime": "onnxruntime", "pillow": "PIL", "scikit-learn": "sklearn", "matplotlib": "matplotlib"}


def blocks(path):
    """(line, language, code, mark) of every fenced python or bash block of a Markdown file."""
    text = path.read_text("utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) in ("python", "bash"):
            mark = MARK.search(text[: match.start()][-300:])
            line = text[: match.start()].count("\n") + 1
            found.append((line, match.group(1), match.group(2), mark.group(1) if mark else None))
    return found


def imports_of(code, language):
    """The top-level modules a block imports (a bash block's through its python -c strings)."""
    if language == "python":
        tree = ast.parse(code)
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    else:
        names = re.findall(r"(?:^|[;\s\"])(?:import|from) ([\w.]+(?:, [\w.]+)*)", code)
        names = [n for group in names for n in group.split(", ")]
    return {n.split(".")[0] for n in names}


def runnable(code):
    """The block with its continued lines joined and the lines that set up or serve left out
    (as `:`); the `pip install` lines, to check."""
    lines = re.sub(r"\\\n\s*", " ", code).splitlines()
    installs = [part.strip() for line in lines for part in line.split("&&") if part.strip().startswith("pip install")]
    kept = []
    for line in lines:
        parts = [part if not NOT_RUN.match(part) else " :" for part in line.split("&&")]
        kept.append("&&".join(parts) if "&&" in line else (":" if NOT_RUN.match(line) else line))
    return "\n".join(kept), installs


# ----------------------------------------------------------------------------- the folder the snippets run in
def picture(path, digit, light=True):
    """A 28 x 28 digit as a PNG, dark ink on light paper (as a photo or scan is) unless light=False."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = digit.reshape(28, 28).astype(np.uint8)
    Image.fromarray(255 - pixels if light else pixels).resize((84, 84)).save(path)


def checkout_on_small_data(folder, raw):
    """A checkout's files, with MNIST cut to 600/200 digits, and every file the snippets name."""
    for name in ("mlp.py", "cli.py", "pyproject.toml", "README.md"):
        shutil.copy(HERE / name, folder / name)
    shutil.copytree(HERE / "numpy_mlp", folder / "numpy_mlp", ignore=shutil.ignore_patterns("mnist", "__pycache__"))
    (folder / "assets").mkdir()  # where the docs' pictures go
    x, y, xt, yt = small_slice(raw, 600, 200)
    write_dataset(folder / "numpy_mlp" / "mnist", x, y, xt, yt)
    fashion = write_dataset(folder / "fashion-mnist", 255 - x, y, 255 - xt, yt)  # another set, with names
    (fashion / "classes.txt").write_text("\n".join(f"class {c}" for c in range(10)), "utf-8")
    flat, flat_test = x.reshape(len(x), -1), xt.reshape(len(xt), -1)
    (folder / "kaggle").mkdir()
    header = ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(
        folder / "kaggle/train.csv", np.column_stack([y, flat]), "%d", ",", header="label," + header, comments=""
    )
    np.savetxt(folder / "kaggle/test.csv", flat_test[:50], "%d", ",", header=header, comments="")
    np.savetxt(folder / "mnist_train.csv", np.column_stack([y, flat]), "%d", ",")
    np.savez(folder / "mnist.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    for split, images, labels in (("train", x[:200], y[:200]), ("test", xt[:50], yt[:50])):
        for i, (image, label) in enumerate(zip(images, labels)):
            picture(folder / "pictures" / split / str(label) / f"{i}.png", image)
    for i in range(5):
        picture(folder / "scans" / f"scan-{i}.png", xt[i])
    picture(folder / "my-digit.png", xt[0])
    picture(folder / "digit.png", xt[1])
    rows = np.random.default_rng(0).normal(size=(178, 13)).round(3)  # a table with no header: its label first
    np.savetxt(folder / "wine.csv", np.column_stack([np.arange(178) % 3, rows]), "%g", ",")
    return folder


# ----------------------------------------------------------------------------- the tests
def test_every_python_and_bash_block_of_the_docs_is_marked_run_or_skip_with_a_reason():
    unmarked = [f"{p.name}:{line}" for p in DOCS for line, _, _, mark in blocks(p) if mark is None]
    assert not unmarked, f"blocks with no <!-- snippet: run --> or <!-- snippet: skip, why --> mark: {unmarked}"
    assert sum(mark == "run" for p in DOCS for *_, mark in blocks(p)) >= 15


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_a_snippet_that_imports_a_package_names_it_in_an_install_line_above_it(path):
    text = path.read_text("utf-8")
    for line, language, code, _ in blocks(path):
        before = "\n".join(re.findall(r"pip install[^\n`]*", "\n".join(text.splitlines()[: line + code.count("\n")])))
        for module in imports_of(code, language) & set(PACKAGES):
            assert any(word in before for word in PACKAGES[module]), f"{path.name}:{line} imports {module}"


def run_snippets(path, tmp_path, template):
    """Run a file's runnable blocks in order in a copy of the checkout on small data `template`
    (under tmp_path): [(line, script, completed process, seconds)], stopping after the first
    that fails."""
    folder = shutil.copytree(template, tmp_path / "checkout")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"  # `python` is this environment's (a link would lose its venv)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    env = os.environ | {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(folder)}
    env |= {"COLUMNS": "120", "MLP_DATA_DIR": str(tmp_path / "cache")}
    env |= dict.fromkeys(
        ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1"
    )  # two files share the cores
    ran = []
    for line, language, code, mark in blocks(path):
        if mark != "run":
            continue
        script, installs = runnable(code)
        for install in installs:  # what it installs is installed here
            for name in re.findall(r"\b(onnxruntime|pillow|scikit-learn|matplotlib)\b", install, re.I):
                assert importlib.util.find_spec(MODULES[name.lower()]), f"{path.name}:{line}: {name} is not installed"
        command = [sys.executable, "-c", script] if language == "python" else ["bash", "-e", "-o", "pipefail", "-c"]
        command += [] if language == "python" else [script]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        ran.append((line, script, done, time.perf_counter() - started))
        if done.returncode:
            break
    return ran


@pytest.fixture(scope="session")
def snippet_runs(request, tmp_path_factory, mnist_raw):
    """The runs of every file selected for the test below, two files at a time, each process on
    one BLAS thread: their commands are short processes on small data (a start, an import, a few
    steps), so two cores run two files in about the time of one."""
    from concurrent.futures import ThreadPoolExecutor

    selected = [
        item.callspec.params["path"]
        for item in request.session.items
        if item.originalname == "test_every_runnable_snippet_runs_as_written_on_small_data"
    ]
    if not selected:
        yield {}
        return
    template = checkout_on_small_data(tmp_path_factory.mktemp("checkout"), mnist_raw)  # built once, copied per file
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        yield {path: pool.submit(run_snippets, path, tmp_path_factory.mktemp(path.stem), template) for path in selected}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a block still running ends by its timeout


@posix  # the blocks are bash's
@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_runnable_snippet_runs_as_written_on_small_data(path, request):
    pytest.importorskip("PIL", reason="the snippets' pictures need Pillow: pip install -e '.[test]'")
    for line, script, done, seconds in request.getfixturevalue("snippet_runs")[path].result():
        print(f"{path.name}:{line}: {seconds:.1f} s")
        assert done.returncode == 0, (
            f"{path.name}:{line} failed:\n{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )


def figure_cells(notebook):
    """The indices of a notebook's code cells that show a picture."""
    return [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and any(o.output_type == "display_data" and "image/png" in o.get("data", {}) for o in cell.outputs)
    ]


def printed(notebook):
    return "".join(
        o.text for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"
    )


@pytest.mark.slow
def test_the_tutorial_runs_top_to_bottom_keeps_its_figures_and_quotes_mlp_as_it_is(tmp_path, monkeypatch):
    """tutorial.ipynb, executed afresh by nbclient in a real kernel (its files kept in tmp_path):
    no cell fails, every figure saved in the committed notebook is drawn again, and the code it
    prints from mlp.py (inspect) is the file's, in the committed outputs and the fresh ones."""
    import inspect

    nbformat = pytest.importorskip("nbformat", reason="the tutorial's test needs the test extra's nbclient")
    nbclient = pytest.importorskip("nbclient", reason="the tutorial's test needs the test extra's nbclient")
    pytest.importorskip("ipykernel", reason="the tutorial's test needs the test extra's ipykernel")
    import mlp

    for variable in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "MPLCONFIGDIR"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    saved = nbformat.read(HERE / "tutorial.ipynb", as_version=4)
    assert 30 <= len(saved.cells) <= 45 and all(c.execution_count for c in saved.cells if c.cell_type == "code")
    fresh = nbformat.read(HERE / "tutorial.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        fresh, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, when one fails
    assert figure_cells(fresh) == figure_cells(saved) and len(figure_cells(saved)) >= 5
    for function in (mlp.forward, mlp.loss_and_grads, mlp.input_gradient):
        source = inspect.getsource(function)
        assert source in printed(fresh) and source in printed(saved), f"the tutorial quotes an old {function.__name__}"


def test_the_snippet_runner_leaves_out_setup_and_serving_lines_and_keeps_the_rest():
    script, installs = runnable(
        'pip install -e ".[onnx]" && python cli.py export w.npz m.onnx\n'
        "python cli.py draw w.npz --port 0\npython cli.py draw w.npz --bench 5\n"
        "python cli.py bench --hidden 8 \\\n    --torch\npytest -m 'not slow'\npython cli.py eval w.npz"
    )
    assert script.splitlines() == [
        " :&& python cli.py export w.npz m.onnx",
        ":",
        "python cli.py draw w.npz --bench 5",
        ":",
        ":",
        "python cli.py eval w.npz",
    ]
    assert installs == ['pip install -e ".[onnx]"']
    assert imports_of("import numpy as np, onnxruntime as ort\nfrom PIL import Image", "python") == {
        "numpy",
        "onnxruntime",
        "PIL",
    }
    assert imports_of('python -c "import gzip, os, numpy as np, mlp; from sklearn import datasets"', "bash") >= {
        "gzip",
        "sklearn",
    }
