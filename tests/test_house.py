"""Tests of the house itself: the root shows the design (mlp.py, test_mlp.py, cli.py; the toolkit in
numpy_mlp/, the other tests in tests/), every file within its budget of code statements and
reading top to bottom, each room importing only what it needs, other frameworks' names covering
every registry entry, test_mlp.py passing beside mlp.py alone, the wheel holding mlp and the
package only, the declared Python version holding, and every link in the docs resolving."""

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import mlp
from conftest import HERE, run
from numpy_mlp import bench as mlp_bench
from numpy_mlp import export as mlp_onnx

MODULES = ["mlp.py", "cli.py", *sorted(p.relative_to(HERE).as_posix() for p in HERE.glob("numpy_mlp/*.py"))]
TEST_FILES = ["test_mlp.py", *sorted(p.relative_to(HERE).as_posix() for p in HERE.glob("tests/*.py"))]


def test_the_root_shows_the_design():
    """At the root, the three Python files a person meets first; the toolkit is one package."""
    assert sorted(p.name for p in HERE.glob("*.py")) == ["cli.py", "mlp.py", "test_mlp.py"]
    assert (HERE / "numpy_mlp" / "__init__.py").is_file() and not list(HERE.glob("numpy_mlp/*/*.py"))
    assert all(name.startswith("tests/test_") or name in ("test_mlp.py", "tests/conftest.py") for name in TEST_FILES)


# The house's size budgets, in code statements (docstrings and comments are free): a module that
# outgrows its budget holds a second reason to change, which gets a room of its own
STATEMENT_BUDGETS = {"mlp.py": 1150, "cli.py": 850}  # the package's command-line rooms: 600 each, as any other
OTHER_MODULES_STATEMENTS = 600
TEST_FILE_LINES = 1200


def code_statements(path):
    """How many statements a Python file's code holds (ast.stmt nodes, nested ones included; a
    docstring is one, whatever its length)."""
    return sum(isinstance(node, ast.stmt) for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))))


def test_every_module_is_within_its_budget_of_code_statements():
    over = {
        name: n
        for name in MODULES
        if (n := code_statements(HERE / name)) > STATEMENT_BUDGETS.get(name, OTHER_MODULES_STATEMENTS)
    }
    assert not over, f"over budget (statements): {over}; give the second reason to change a room"


def test_every_test_file_is_within_its_budget_of_lines():
    lines = {name: len((HERE / name).read_text(encoding="utf-8").splitlines()) for name in TEST_FILES}
    assert not {name: n for name, n in lines.items() if n > TEST_FILE_LINES}, "split the file by subject"


def test_code_statements_count_code_not_documentation(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""A module."""\n\n\ndef f(x):\n    """Long\n\n    docs.\n    """\n    # why\n    return x + 1\n')
    assert code_statements(path) == 4  # the two docstrings, the def, the return


def defined_and_used(path):
    """For each top-level statement of a Python file: (its line, the names it defines, the
    names it reads)."""
    rows = []
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names = [node.name]
        else:
            targets = getattr(node, "targets", []) + ([node.target] if isinstance(node, ast.AnnAssign) else [])
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        local = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)} | {  # arguments and locals
            n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
        }
        rows.append((node.lineno, names, used - local))
    return rows


def forward_references(path):
    """'f uses g' for every top-level statement that reads a top-level name defined below it."""
    rows = defined_and_used(path)
    first = {}
    for line, names, _ in rows:
        for name in names:
            first.setdefault(name, line)
    return [
        f"{names or line} uses {name}"
        for line, names, used in rows
        for name in sorted(used)
        if first.get(name, 0) > line
    ]


def imported(path):
    """The module names a Python file imports, anywhere in it (lazy imports included); a room of
    the package as numpy_mlp.ROOM however it is imported."""
    names = set()
    for node in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "numpy_mlp" and node.level == 0:
            names |= {f"numpy_mlp.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def roots(names):
    """Top-level names, but the package's rooms by name (numpy_mlp.data): which room uses which."""
    return {".".join(name.split(".")[:2]) if name.startswith("numpy_mlp.") else name.split(".")[0] for name in names}


@pytest.mark.parametrize("name", MODULES)
def test_every_module_reads_top_to_bottom(name):
    assert forward_references(HERE / name) == []


def test_mlp_is_the_network_then_what_keeping_one_needs():
    lines = (HERE / "mlp.py").read_text().splitlines()
    part_two = next(i for i, line in enumerate(lines, 1) if line.startswith("# Part II"))
    where = {name: line for line, names, _ in defined_and_used(HERE / "mlp.py") for name in names}
    network = (
        "init",
        "forward",
        "loss",
        "grads",
        "update",
        "scheduled_lr",
        "preprocess",
        "train",
        "classification_report",
        "regression_report",
        "gradcheck",
    )
    keeping = ("write_together", "save", "load", "read_idx", "load_mnist")
    assert all(where[name] < part_two for name in network) and all(where[name] > part_two for name in keeping)
    first = ("init", "forward", "loss", "loss_and_grads", "grads", "update")  # the network's steps, in order
    assert [where[name] for name in first] == sorted(where[name] for name in first)
    elsewhere = ("fetch_dataset", "load_data", "read_csv", "frame_digit", "classify_picture", "training_memory")
    elsewhere += ("augment", "AUGMENTATIONS", "distortion_strength")  # distortions: numpy_mlp.pictures, as a transform
    elsewhere += ("ensemble_log_proba", "view_log_proba")  # several networks, test-time views: numpy_mlp.pictures
    elsewhere += ("fitted_defaults", "META_RULES", "save_checkpoint", "load_checkpoint")  # a run's: numpy_mlp.run
    assert not any(hasattr(mlp, name) for name in elsewhere)


PUBLIC_STEPS = ("init", "forward", "loss", "grads", "loss_and_grads", "update", "train", "predict")


def test_mlps_public_functions_say_their_arguments_and_what_they_return():
    functions = {n.name: n for n in ast.parse((HERE / "mlp.py").read_text()).body if isinstance(n, ast.FunctionDef)}
    for name in PUBLIC_STEPS:
        doc = ast.get_docstring(functions[name])
        assert "Args:" in doc and "Returns:" in doc, name
        arguments = [a.arg for a in functions[name].args.args]
        assert all(re.search(rf"\b{a}\b", doc.split("Returns:")[0]) for a in arguments), name


def test_the_training_loop_composes_the_public_functions():
    """train_epoch's step is forward, loss_and_grads and update themselves (checked once per
    run by train, then trusted through checked=True), not private copies of them."""
    (loop,) = [n for n in ast.parse((HERE / "mlp.py").read_text()).body if getattr(n, "name", "") == "train_epoch"]
    called = {n.func.id for n in ast.walk(loop) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"forward", "loss_and_grads", "update"} <= called
    assert not any(name.startswith("_") for name in called)


def test_a_run_has_a_type_and_one_owner():
    """plan returns a frozen record; execute trains it for train, sweep trials, reproduce and bench;
    the view only draws; mlp.train takes at most 11 parameters (its callbacks grouped)."""
    import dataclasses
    import inspect

    from numpy_mlp import run as mlp_run

    assert dataclasses.is_dataclass(mlp_run.Run) and mlp_run.Run.__dataclass_params__.frozen
    assert len(inspect.signature(mlp.train).parameters) <= 11
    for name in ("numpy_mlp/cli.py", "numpy_mlp/sweep.py", "numpy_mlp/view.py", "numpy_mlp/bench.py"):
        assert "mlp.train(" not in (HERE / name).read_text(), name
    for name in ("numpy_mlp/cli.py", "numpy_mlp/sweep.py", "numpy_mlp/bench.py"):
        assert "mlp_run.execute(" in (HERE / name).read_text(), name


def test_commands_declare_their_parameters():
    """Each command's signature names its options from the one table (Option.X = Default.X):
    no **options, no signature rewritten behind it, no positional tuple of a run."""
    import inspect

    from numpy_mlp import cli

    for path in sorted(HERE.glob("numpy_mlp/*.py")):
        assert "__signature__" not in path.read_text(), path.name
    source = (HERE / "numpy_mlp/cli.py").read_text()
    assert "SimpleNamespace" not in source
    commands = [c.callback for c in cli.app.registered_commands]
    commands += [c.callback for group in cli.app.registered_groups for c in group.typer_instance.registered_commands]
    assert len(commands) >= 18
    for command in commands:
        for name, p in inspect.signature(command).parameters.items():
            assert p.annotation is not inspect.Parameter.empty, f"{command.__name__}({name})"
            assert p.kind is not inspect.Parameter.VAR_KEYWORD, f"{command.__name__}(**{name})"


def test_mlp_imports_only_numpy_and_the_standard_library_and_nothing_of_networks_or_tables():
    assert roots(imported(HERE / "mlp.py")) - {"numpy"} <= set(sys.stdlib_module_names)
    # what `import mlp` loads beyond what NumPy itself loads (some NumPy versions import hashlib)
    script = "import sys, numpy; before = set(sys.modules); import mlp; print(' '.join(set(sys.modules) - before))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=HERE)
    added = set(done.stdout.split())
    assert "mlp" in added and not added & {"urllib.request", "csv", "hashlib", "http", "PIL", "typer", "rich"}


def test_each_room_imports_only_what_it_needs():
    allowed = {  # beyond the standard library
        "numpy_mlp/data.py": {"numpy", "mlp", "numpy_mlp", "numpy_mlp.pictures", "numpy_mlp.tables"},  # tables lazily
        "numpy_mlp/tables.py": {
            "numpy",
            "numpy_mlp.data",
            "numpy_mlp.columns",
            "numpy_mlp.guard",
        },  # data lazily: tables read into its Data; guard: a stop signal waits for a chunk's end
        "numpy_mlp/columns.py": {"numpy", "numpy_mlp.data"},  # data lazily, for its BadOption
        "numpy_mlp/pictures.py": {"numpy", "mlp", "PIL"},  # Pillow lazily, to decode a picture
        "numpy_mlp/run.py": {
            "numpy",
            "mlp",
            "numpy_mlp.decisions",
            "numpy_mlp.pictures",
            "numpy_mlp.data",
            "numpy_mlp.guard",
            "threadpoolctl",
        },  # threadpoolctl lazily
        "numpy_mlp/guard.py": {"numpy", "mlp", "numpy_mlp.data"},
        "numpy_mlp/draw.py": {"numpy", "numpy_mlp.data", "numpy_mlp.pictures"},
        "numpy_mlp/export.py": {
            "numpy",
            "mlp",
            "numpy_mlp.columns",
            "numpy_mlp.data",
            "numpy_mlp.decisions",
            "onnx",
        },  # onnx lazily
        "numpy_mlp/bench.py": {
            "numpy",
            "mlp",
            "numpy_mlp",
            "numpy_mlp.pictures",
            "numpy_mlp.data",
            "numpy_mlp.guard",
            "numpy_mlp.run",
            "numpy_mlp.tables",
            "numpy_mlp.columns",
            "threadpoolctl",
            "torch",
            "sklearn",
            "pandas",
        },  # lazily
        "numpy_mlp/estimators.py": {
            "numpy",
            "mlp",
            "numpy_mlp.columns",
            "numpy_mlp.pictures",
            "numpy_mlp.run",
            "sklearn",
        },
        "numpy_mlp/help.py": {"typer", "rich", "numpy_mlp.options"},
        "numpy_mlp/options.py": {
            "mlp",
            "numpy_mlp.data",
            "numpy_mlp.decisions",
            "numpy_mlp.pictures",
            "numpy_mlp.run",
            "typer",
            "rich",
            "threadpoolctl",
        },  # threadpoolctl lazily
        "numpy_mlp/plot.py": {"numpy", "mlp", "numpy_mlp.data", "numpy_mlp.run", "numpy_mlp.score", "matplotlib"},
        "numpy_mlp/view.py": {"numpy", "rich", "mlp", "numpy_mlp.data", "numpy_mlp.plot"},
        "numpy_mlp/decisions.py": {"numpy"},
        "numpy_mlp/logs.py": set(),
        "numpy_mlp/trackers.py": set(),  # tensorboardX and MLflow by importlib, in the trackers' threads
        "numpy_mlp/score.py": {
            "numpy",
            "mlp",
            "numpy_mlp.data",
            "numpy_mlp.decisions",
            "numpy_mlp.pictures",
            "numpy_mlp.run",
            "numpy_mlp.tables",
            "numpy_mlp.columns",
        },  # matplotlib lazily
        "numpy_mlp/sweep.py": {
            "mlp",
            "numpy_mlp",
            "numpy_mlp.data",
            "numpy_mlp.pictures",
            "numpy_mlp.guard",
            "numpy_mlp.run",
            "numpy_mlp.trackers",
            "optuna",
            "sqlalchemy",
            "tomllib",
            "tomli",
        },  # tomli: TOML before 3.11
    }
    for name, extra in allowed.items():
        assert roots(imported(HERE / name)) - set(sys.stdlib_module_names) <= extra, name
    # the command line is presentation: no server, no other framework, no training loop of its own
    assert imported(HERE / "cli.py") == {"numpy_mlp.cli"}  # the root's cli.py only starts the package's
    for room in sorted(HERE.glob("numpy_mlp/cli*.py")):  # cli.py and the rooms that add commands to its app
        cli_imports = imported(room)
        assert not roots(cli_imports) & {"http", "socketserver", "socket", "onnx", "torch", "sklearn", "subprocess"}
        assert not roots(cli_imports) & {"matplotlib", "optuna"}  # figures are plot's, sweeps sweep's
        source = room.read_text()
        assert not re.search(
            r"mlp\.(split_validation|measure_framing|class_weights)\(|def (plan|prepared_run)\(", source
        )
        assert not re.search(r"mlp\.(forward|loss_and_grads|grads|update|train_epoch)\(", source)


def test_other_frameworks_names_cover_every_registry_entry():
    assert set(mlp_onnx.ACTIVATION_OPS) == set(mlp.ACTIVATIONS)
    assert set(mlp_onnx.PREPROCESSING_STEPS) == set(mlp.PREPROCESSINGS)
    assert set(mlp_bench.TORCH_ACTIVATIONS) == set(mlp.ACTIVATIONS)
    assert set(mlp_bench.TORCH_OPTIMIZERS) == set(mlp.OPTIMIZERS)


@pytest.mark.slow
def test_the_wheel_installs_mlp_and_the_package_only_with_its_data_inside(tmp_path):
    """Nothing else at site-packages' top level (no module named cli), MNIST and the page inside."""
    source = tmp_path / "src"
    shutil.copytree(HERE, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", ".*"))
    build = f"from setuptools import build_meta; build_meta.build_wheel({str(tmp_path)!r})"  # the backend, offline
    done = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True, timeout=300, cwd=source)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"mlp.py", "numpy_mlp"}
    rooms = {p.rsplit("/", 1)[1] for p in names if p.startswith("numpy_mlp/") and p.endswith(".py")}
    assert rooms == {p.rsplit("/", 1)[1] for p in MODULES if p.startswith("numpy_mlp/")}
    shipped = {f"numpy_mlp/mnist/{p.name}" for p in (HERE / "numpy_mlp" / "mnist").glob("*.gz")}
    assert len(shipped) == 4 and shipped | {"numpy_mlp/draw.html"} <= set(names)


@pytest.mark.slow
def test_test_mlp_passes_beside_mlp_py_copied_alone(tmp_path):
    alone_files = ["mlp.py", "test_mlp.py", "tests/test_mlp_files.py", "tests/test_regression.py"]
    for name in alone_files[1:]:
        assert roots(imported(HERE / name)) - set(sys.stdlib_module_names) <= {"numpy", "pytest", "mlp", "test_mlp"}
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in alone_files:
        shutil.copy(HERE / name, alone / Path(name).name)
    done = subprocess.run(
        [
            sys.executable,
            *"-m pytest -q -p no:cacheprovider -m".split(),
            "not slow",
            *[Path(name).name for name in alone_files[1:]],
        ],  # run whole once already
        capture_output=True,
        text=True,
        timeout=300,
        cwd=alone,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\d+ passed", done.stdout) and "failed" not in done.stdout
    left = sorted(p.name for p in alone.iterdir() if not p.name.startswith((".", "__pycache__")))  # caches aside
    assert left == sorted(Path(name).name for name in alone_files)  # nothing else was needed, nothing else written


@pytest.mark.slow
def test_the_code_needs_no_newer_python_than_it_declares():
    pytest.importorskip("vermin", reason="the check needs vermin: pip install -e '.[test]'")
    declared = re.search(r'requires-python = ">=(\d+\.\d+)"', (HERE / "pyproject.toml").read_text()).group(1)
    files = [str(HERE / name) for name in MODULES + TEST_FILES]
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent)) or shutil.which("vermin")
    done = subprocess.run(
        [vermin, "--no-tips", "--violations", f"-t={declared}-", *files], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    return {slug(line.lstrip("#")) for line in path.read_text().splitlines() if re.match(r"#{1,6} ", line)}


DOCS = [HERE / "README.md", *sorted((HERE / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_relative_link_in_the_docs_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # links in code blocks are code
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):  # https:, mailto: ...: not ours to check offline
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(link)
    assert broken == [], f"{page.name}: {broken}"


def test_every_name_that_moved_out_of_mlp_is_where_docs_api_says():
    import importlib

    table = (HERE / "docs" / "api.md").read_text().split("## Names that moved out of mlp.py")[1]
    rows = re.findall(r"^\| (`[^|]*`) \| `(numpy_mlp\.\w+)\.` the same name[^|]*\|$", table, flags=re.M)
    assert len(rows) >= 3
    for names, module in rows:
        for name in re.findall(r"`(\w+)`", names):
            assert hasattr(importlib.import_module(module), name) and not hasattr(mlp, name), f"{module}.{name}"


@pytest.mark.slow
def test_the_readmes_python_tour_runs_as_written(tmp_path):
    readme = (HERE / "README.md").read_text()
    tour = re.search(r"```python\n(.*?)```", readme, flags=re.S).group(1)
    script = tour.replace('"numpy_mlp/mnist"', repr(str(HERE / "numpy_mlp" / "mnist")))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) > 0.97  # "about 0.98"
    assert (tmp_path / "weights.npz").is_file()


def test_mlps_messages_speak_of_arguments_not_of_the_command_lines_options():
    """mlp.py is a library first (copied alone into other projects): what it raises or warns
    names its own arguments, never a --flag of cli.py."""
    flags = []
    for node in ast.walk(ast.parse((HERE / "mlp.py").read_text())):
        if isinstance(node, (ast.Raise, ast.Call)):
            for const in ast.walk(node):
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    flags += re.findall(r"(?<![\w-])--[a-z][a-z-]+", const.value)
    assert not flags, f"mlp.py's messages name command-line options: {sorted(set(flags))}"


def test_mlp_copied_alone_loads_and_uses_every_weights_file_the_toolkit_writes(tmp_path, small_data):
    """Straightening is stored preprocessing that mlp.py itself applies: weights trained with
    --deslant --width and standardised inputs score the same with mlp.py alone, no other file."""
    out = tmp_path / "w.npz"
    options = "--hidden 8 --epochs 1 --deslant --width 3 --normalize standard"
    result = run("train", "relu", *options.split(), "--data", small_data, "--out", out)
    assert result.exit_code == 0, result.output
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(HERE / "mlp.py", alone / "mlp.py")
    x = mlp.read_idx(small_data / "t10k-images-idx3-ubyte.gz")[:20].reshape(20, -1)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, mlp; params, meta = mlp.load(sys.argv[1]); "
        "p = mlp.predict_proba(params, np.load(sys.argv[2]), meta['activation'], preprocessing=meta['preprocessing']); "
        "np.save(sys.argv[3], p); print(sorted(m for m in sys.modules if m.startswith('mlp')))"
    )
    args = [sys.executable, "-c", script, str(out), str(tmp_path / "x.npy"), str(tmp_path / "p.npy")]
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}  # the same kernels: the same bits
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=60, cwd=alone, env={"PATH": os.environ["PATH"], **blas}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['mlp']"]
    params, meta = mlp.load(out)
    assert meta["preprocessing"]["deslant"] and meta["preprocessing"]["width"] == 3
    expected = mlp.predict_proba(params, x, meta["activation"], preprocessing=meta["preprocessing"])
    assert np.load(tmp_path / "p.npy").tobytes() == expected.tobytes()
