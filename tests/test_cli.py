"""Tests of cli.py: every command's output, exit codes and files, its options and help pages,
and its one-line errors."""

import importlib.util
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlp
from conftest import blobs_table, random_dataset, run, runner, write_csv
from numpy_mlp import cli
from numpy_mlp import draw as mlp_draw
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run
from numpy_mlp import view as mlp_view


def test_the_saved_test_score_is_that_of_the_kept_weights_with_validation(tmp_path, small_data):
    out = tmp_path / "v.npz"
    result = run(
        *"train relu --hidden 16 --epochs 6 --val 200 --schedule constant --lr 0.3 --data".split(),
        small_data,
        "--out",
        out,
    )  # a rate that makes validation wander
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(out)
    history = json.loads((tmp_path / "v.history.json").read_text())
    kept = history[-1]["best_epoch"]
    assert kept < len(history)  # an earlier epoch's weights are kept, not the last ones
    xt, yt = mlp.load_idx_dataset(small_data, splits=("test",))
    loss, accuracy = mlp.evaluate(params, xt, yt, "relu", preprocessing=meta["preprocessing"])
    assert (meta["test_loss"], meta["test_accuracy"]) == (loss, accuracy)
    assert history[kept - 1]["test_accuracy"] == accuracy


STORED_PREPROCESSINGS = {  # flags: what the weights file must then hold
    "--normalize standard": lambda p, s: p["kind"] == "standard" and p["mean"].shape == (784,) and p["std"].min() > 0,
    "--deslant --width 3.5": lambda p, s: (
        (p["deslant"], p["width"], p["shape"], s["deslant"], s["width"]) == (True, 3.5, [28, 28], True, 3.5)
    ),
}


@pytest.mark.parametrize("flags", list(STORED_PREPROCESSINGS))
def test_a_stored_preprocessing_is_applied_by_eval_and_predict(tmp_path, small_data, flags):
    out = tmp_path / "s.npz"
    result = run(*f"train relu --hidden 16 --epochs 2 {flags} --data".split(), small_data, "--out", out)
    assert result.exit_code == 0, result.output
    params, meta = mlp.load(out)
    prep = meta["preprocessing"]
    assert STORED_PREPROCESSINGS[flags](prep, meta["settings"])
    xt, yt = mlp.load_idx_dataset(small_data, splits=("test",))
    expected = mlp.evaluate(params, xt, yt, "relu", preprocessing=prep)[1]
    assert expected == meta["test_accuracy"]
    run("eval", out, "--data", small_data, "--json", tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["accuracy"] == pytest.approx(expected)
    guess = int(mlp.predict(params, xt[5:6], "relu", preprocessing=prep)[0])
    assert f"prediction: {guess}" in run("predict", out, "--index", "5", "--data", small_data).stdout
    if "--deslant" in flags:  # straightened as trained: unstraightened inputs score worse
        upright = {**prep, "deslant": False, "width": 0}
        assert expected > mlp.evaluate(params, xt, yt, "relu", preprocessing=upright)[1]
        plain = tmp_path / "p.npz"
        assert run(*"train relu --hidden 16 --epochs 1 --data".split(), small_data, "--out", plain).exit_code == 0
        assert not {"deslant", "width", "shape"} & set(mlp.load(plain)[1]["preprocessing"])  # off: not recorded


@pytest.mark.parametrize(
    "args, said",
    [
        (["--width", "-1"], "Invalid value for '--width': must be 0 (off) or a number of pixels, got -1.0"),
        (["--deslant", "--init", "INIT"], "error: --init INIT keeps its own preprocessing; leave out --deslant\n"),
        (["--width", "3", "--data", "TABLE"], "error: --width straighten pictures, and TABLE is a table of features"),
    ],
)
def test_straightening_that_cannot_apply_is_a_bad_option(tmp_path, trained, args, said):
    table = write_csv(tmp_path / "t.csv", [[i, i % 3, i % 2] for i in range(40)], ["a", "b", "label"])
    args = [{"INIT": str(trained), "TABLE": str(table)}.get(a, a) for a in args]
    said = said.replace("INIT", str(trained)).replace("TABLE", str(table))
    result = run("train", "relu", "--epochs", "1", "--out", tmp_path / "o.npz", *args)
    assert result.exit_code == 2 and said in result.stderr, result.stderr
    assert not (tmp_path / "o.npz").exists()


# ----------------------------------------------------------------------------- the command line: train and its options, errors and faults
def test_expand_variadic_hidden():
    assert cli.expand_variadic([*"train relu --hidden 128 64 --epochs 2".split()]) == [
        *"train relu --hidden 128 --hidden 64 --epochs 2".split()
    ]
    assert cli.expand_variadic([*"train --hidden 8 relu".split()]) == [*"train --hidden 8 relu".split()]


@pytest.mark.parametrize("spelling", [["--hidden", "16", "8"], [*"--hidden 16 --hidden 8".split()]])
def test_cli_train_then_eval(tmp_path, small_data, spelling):
    out = tmp_path / "w.npz"
    result = run("train", "relu", *spelling, "--epochs", "1", "--data", small_data, "--out", out)
    assert result.exit_code == 0, result.output
    assert "test acc" in result.stdout and f"weights saved to {out}" in result.stdout
    assert "epoch 1/1" in result.stderr  # progress on stderr, plain lines when not a terminal
    params, meta = mlp.load(out)
    assert meta["sizes"] == [784, 16, 8, 10] and meta["activation"] == "relu"
    history = json.loads((tmp_path / "w.history.json").read_text())
    assert [r["epoch"] for r in history] == [1]
    result = run("eval", out, "--data", small_data, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["n"] == 200
    x, y = mlp.load_mnist(small_data)[2:]
    assert report["accuracy"] == pytest.approx(mlp.accuracy(mlp.predict(params, x, "relu"), y))
    assert f"{100 * report['accuracy']:.2f}%" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "swish"], "'swish' is not one of"),
        ([*"train relu --hidden 0".split()], "--hidden"),
        ([*"train relu --hidden 16 -4".split()], "--hidden"),
        ([*"train relu --epochs 0".split()], "--epochs"),
        ([*"train relu --batch-size 0".split()], "--batch-size"),
        ([*"train relu --lr 0".split()], "'--lr': must be greater than 0"),
        ([*"train relu --lr -0.1".split()], "'--lr': must be greater than 0"),
        ([*"train relu --momentum 1".split()], "'--momentum': must be in [0, 1)"),
        ([*"train relu --momentum -0.5".split()], "'--momentum': must be in [0, 1)"),
        ([*"train relu --dropout 1".split()], "'--dropout': must be in [0, 1)"),
        ([*"train relu --label-smoothing -0.1".split()], "'--label-smoothing': must be in [0, 1)"),
        ([*"train relu --weight-decay -1".split()], "'--weight-decay': must be 0 or more"),
        ([*"train relu --clip -1".split()], "'--clip': must be 0 or more"),
        ([*"train relu --lr nan".split()], "'--lr': must be greater than 0"),
        ([*"train relu --warmup -1".split()], "--warmup"),
        ([*"train relu --val -1".split()], "--val"),
        ([*"train relu --seed -1".split()], "--seed"),
        ([*"train relu --optimizer rmsprop".split()], "'rmsprop' is not one of"),
        ([*"train relu --augment mixup".split()], "'mixup' is not one of"),
    ],
)
def test_cli_rejects_bad_options_with_one_line(tmp_path, args, message):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run(*args, "--out", out)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize(
    "args, message",
    [
        (["bench", "--epochs", "0"], "--epochs"),
        (["bench", "--hidden", "0"], "--hidden"),
        ([*"predict w.npz --index -1".split()], "--index"),
        ([*"predict w.npz --top 0".split()], "--top"),
        ([*"plot samples --n 0".split()], "--n"),
        ([*"eval w.npz --mistakes -1".split()], "--mistakes"),
    ],
)
def test_other_commands_reject_bad_options_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_cli_missing_data_folder_and_weights(tmp_path, small_data):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run("train", "relu", "--data", tmp_path / "nope", "--out", out)
    assert result.exit_code == 1 and "no such data set, file or folder" in result.stderr
    assert result.stderr.count("\n") == 1 and out.read_bytes() == b"precious"
    result = run("eval", tmp_path / "missing.npz", "--data", small_data)
    assert result.exit_code == 1 and "no such weights file" in result.stderr
    result = run("eval", out, "--data", small_data)
    assert result.exit_code == 1 and "not an .npz archive" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    result = run("train", "relu", "--data", small_data, "--out", tmp_path / "no" / "w.npz")
    assert result.exit_code == 1 and "does not exist" in result.stderr


def test_cli_eval_rejects_weights_for_other_data(tmp_path, small_data):
    other = random_dataset(tmp_path / "d", (5, 5))
    mlp.save(tmp_path / "w.npz", mlp.init([784, 4, 10], "relu"), {"activation": "relu"})
    result = run("eval", tmp_path / "w.npz", "--data", other)
    assert result.exit_code == 1 and "takes 784 inputs but the data has 25" in result.stderr


def test_cli_eval_rejects_labels_outside_the_classes(tmp_path):
    data = random_dataset(tmp_path / "d", (2, 2), test_labels=[0, 1, 2, 7])
    mlp.save(tmp_path / "w.npz", mlp.init([4, 3, 3], "relu"), {"activation": "relu"})
    result = run("eval", tmp_path / "w.npz", "--data", data)
    assert result.exit_code == 1 and "3 classes but the data has label 7" in result.stderr


def every_command(group=None, path=()):
    """(command path, click command) of every command the app has, groups and subcommands included."""
    group = group or cli.typer.main.get_command(cli.app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from every_command(command, (*path, name))


COMMANDS = [path for path, _ in every_command()]


def test_the_help_tests_cover_every_command():
    assert {" ".join(p) for p in COMMANDS} >= {
        "",
        "train",
        "eval",
        "reproduce",
        "summary",
        "gradcheck",
        "predict",
        "export",
        "draw",
        "bench",
        "plot",
        "plot samples",
        "plot curves",
        "plot confusion",
        "plot mistakes",
        "plot weights",
        "plot architecture",
        "plot all",
    }


TYPER_PLACEHOLDERS = re.compile(
    r"<(bool|int|float|str|text|file|path|name|class|int range|float range|list\[\w+\])>|\[\d*<?=?x[<>]=|[{}]"
)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda p: " ".join(p) or "mlp")
def test_every_help_page_is_free_of_type_placeholders_and_ends_with_examples(command):
    result = runner.invoke(cli.app, [*command, "-h"], env={"COLUMNS": "100"}, prog_name="mlp")
    assert result.exit_code == 0
    text = result.stdout
    assert not TYPER_PLACEHOLDERS.search(text), TYPER_PLACEHOLDERS.search(text).group()
    flat = " ".join(text.replace("│", " ").split())
    for stale in (
        "MNIST-style",
        "trained on otherwise",
        "pip install -e '.' ",
        "needs matplotlib: pip install -e '.')",
    ):
        assert stale not in flat, stale  # words of pages that said what the commands no longer do
    assert text.startswith(" ".join(["Usage: mlp", *command, "[OPTIONS]"]))
    panels = re.findall(r"╭─ (\w+) ─", text)
    assert panels[-1] == "Examples" and "-h, --help" in text
    examples = [line.strip("│ ").split("#")[0].strip() for line in text.split("╭─ Examples")[1].splitlines()[1:-1]]
    for example in (e for e in examples if e.startswith("mlp ")):  # each parses: its command and options exist
        args = cli.expand_variadic(shlex.split(example)[1:])
        parsed = runner.invoke(cli.app, [*args, "--help"])
        assert parsed.exit_code == 0, (example, parsed.output)
    if command == ("train",):
        assert panels == ["Model", "Optimisation", "Regularisation", "Data", "Output", "Run", "Options", "Examples"]
    if command in {("eval",), ("predict",), ("plot", "confusion"), ("plot", "mistakes"), ("plot", "all")}:
        assert "(default: the data the weights were trained on)" in " ".join(text.replace("│", " ").split())
    if command in {("train",), ("reproduce",), ("bench",), ("plot", "samples")}:
        assert "(default: mnist)" in " ".join(text.replace("│", " ").split())


def test_version_and_the_short_help_option():
    assert run("--version").stdout == f"numpy-mlp {mlp.__version__}\n"
    assert run("-h").stdout == run("--help").stdout and "--version" in run("-h").stdout


def test_hidden_sizes_may_be_given_with_commas_and_a_bad_size_is_said_in_plain_words(small_data, tmp_path):
    result = run(*"train relu --hidden 12,6 --epochs 1 --data".split(), small_data, "--out", tmp_path / "w.npz")
    assert result.exit_code == 0, result.output
    assert mlp.load(tmp_path / "w.npz")[0]["W2"].shape == (12, 6)
    result = run(*"train relu --hidden 12x --data".split(), small_data)
    assert result.exit_code == 2
    assert result.stderr == "error: Invalid value for '--hidden': not a whole number (see 'root train --help')\n"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda p: " ".join(p) or "mlp")
def test_every_help_lists_every_option_and_fits_80_columns_in_the_projects_own_words(command):
    result = runner.invoke(cli.app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "str(object" not in result.stdout and "Create a new string object" not in result.stdout
    shown = result.stdout.replace("│", " ")
    click_command = dict(every_command())[command]
    for parameter in (p for p in click_command.params if not getattr(p, "hidden", False)):  # sweep's --worker
        for name in parameter.opts if parameter.param_type_name == "option" else [parameter.metavar or parameter.name]:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", shown), f"{name} is not in {command}'s help"
    for name in getattr(click_command, "commands", {}):
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", shown), f"{name} is not in {command}'s help"
    if command == ("train",):  # every registry's own sentence, as written there
        text = " ".join(shown.split())
        for registry in (mlp.OPTIMIZERS, mlp.SCHEDULES, mlp_pictures.AUGMENTATIONS, mlp.PREPROCESSINGS):
            for name, entry in registry.items():
                assert f"{name} ({entry.about})" in text


def test_a_bare_command_line_prints_the_help_and_no_empty_error():
    result = run()
    assert "Usage:" in result.stdout and "train" in result.stdout
    assert result.stderr == "" and result.exit_code == 2  # Click's code for "no command given"


def test_messages_name_the_option_the_user_typed(trained, tmp_path):
    result = run("eval", trained, "--json", tmp_path / "missing" / "r.json")
    assert result.exit_code == 1 and result.stderr.strip().endswith("create it or choose another --json")
    (tmp_path / "a-file").write_bytes(b"kept")
    result = run("plot", "all", trained, "--out-dir", tmp_path / "a-file")
    assert result.exit_code == 2 and "--out-dir" in result.stderr and "--out " not in result.stderr
    assert (tmp_path / "a-file").read_bytes() == b"kept"


def test_cli_train_with_the_new_options_records_validation(tmp_path, small_data):
    out = tmp_path / "w.npz"
    result = run(
        *"train relu --hidden 16 --epochs 3 --optimizer adamw --weight-decay 1e-4 --dropout 0.1 --clip 5 --label-smoothing 0.1 --schedule cosine --warmup 1 --val 100 --patience 5 --augment shift --data".split(),
        small_data,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "val acc" in result.stdout
    history = json.loads((tmp_path / "w.history.json").read_text())
    assert {"val_loss", "val_accuracy", "lr", "test_accuracy"} <= set(history[0])
    assert history[0]["lr"] == pytest.approx(0.0005)  # adamw's default 1e-3, warm-up epoch 1 of 2
    result = run(*"train relu --patience 2 --data".split(), small_data, "--out", out)
    assert result.exit_code == 2 and "--patience needs a validation set" in result.stderr  # a bad option


def test_history_and_checkpoint_names_come_from_the_whole_name(tmp_path, small_data):
    for name in ("model_lr0.1", "model_lr0.05"):
        result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", tmp_path / name)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        *"model_lr0.05 model_lr0.05.history.json model_lr0.1 model_lr0.1.history.json".split()
    ]
    assert mlp_run.beside(Path("w.npz"), ".ckpt.npz") == Path("w.ckpt.npz")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "inf"], "'--lr': must be greater than 0 and finite, got inf"),
        (["--weight-decay", "inf"], "'--weight-decay': must be 0 or more and finite, got inf"),
        (["--clip", "nan"], "'--clip': must be 0 or more and finite"),
        (["--out", "somewhere/"], "--out somewhere/ is a folder; give a file name"),
    ],
)
def test_non_finite_options_and_folder_outputs_are_bad_options(tmp_path, small_data, args, message):
    result = run("train", "relu", "--data", small_data, *args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # refused before any work: nothing written


def test_cli_divergence_stops_with_a_clear_message(tmp_path, small_data):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    result = run(*"train relu --lr 1e4 --epochs 3 --data".split(), small_data, "--out", out)
    assert result.exit_code == 1
    assert "training diverged; try a lower learning rate" in result.stderr
    assert out.read_bytes() == b"precious" and not (tmp_path / "w.history.json").exists()


def test_cli_same_seed_same_bytes_other_seed_other_weights(tmp_path, small_data):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        result = run(
            *"train tanh --epochs 1 --seed".split(), seed, "--data", small_data, "--out", tmp_path / f"{name}.npz"
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert not np.array_equal(mlp.load(tmp_path / "a.npz")[0]["W1"], mlp.load(tmp_path / "c.npz")[0]["W1"])


@pytest.mark.slow
def test_installed_console_script_is_the_cli():

    script = shutil.which("mlp", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the package is not installed (pip install -e .)")
    done = subprocess.run([script, "train", "swish"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: Invalid value for 'ACTIVATION': 'swish' is not one of")
    assert done.stderr.count("\n") == 1


def test_predict_without_colour_draws_the_digit_in_ascii(trained, small_data, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr(mlp_view, "console", Console(force_terminal=True, no_color=True, width=100))
    result = run("predict", trained, "--index", "0", "--data", small_data)
    assert result.exit_code == 0 and "@" in result.stdout and "▀" not in result.stdout


@pytest.mark.parametrize("term, live", [("dumb", False), ("xterm-256color", True)])
def test_a_dumb_terminal_gets_plain_epoch_lines(monkeypatch, term, live):
    from rich.console import Console

    monkeypatch.setenv("TERM", term)
    monkeypatch.setattr(mlp_view, "console", Console(force_terminal=True))
    monkeypatch.setattr(mlp_view, "err_console", Console(stderr=True, force_terminal=True))
    assert mlp_view.live_view() is live


def test_predict_a_real_test_image_matches_mlp(trained, small_data, tmp_path):
    params, meta = mlp.load(trained)
    x, y = mlp.load_mnist(small_data, splits=("test",))
    expected = int(mlp.predict(params, x[7:8], "relu")[0])
    result = run("predict", trained, "--index", 7, "--data", small_data)
    assert result.exit_code == 0, result.output
    assert f"prediction: {expected}" in result.stdout and "@" in result.stdout  # the digit, in ASCII
    pytest.importorskip("PIL")
    from PIL import Image

    Image.fromarray((x[7].reshape(28, 28) * 255).astype(np.uint8)).save(tmp_path / "seven.png")
    result = run("predict", trained, tmp_path / "seven.png")
    assert result.exit_code == 0 and "prediction: " in result.stdout


def test_predict_explains_why_in_a_picture_of_the_input_gradient(trained, small_data, tmp_path):
    pytest.importorskip("matplotlib")
    params, meta = mlp.load(trained)
    x, _ = mlp.load_mnist(small_data, splits=("test",))
    probabilities = mlp.predict_proba(params, x[7:8], "relu")[0]
    first, second = np.argsort(-probabilities)[:2]
    result = run("predict", trained, "--index", 7, "--data", small_data, "--explain", tmp_path / "why.png")
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'why.png'}" in result.stdout
    assert (tmp_path / "why.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gradients = mlp_pictures.explained([(params, meta)], x[7], [int(first), int(second)])  # range inputs: no std
    expected = mlp.input_gradient(params, np.repeat(x[7:8], 2, axis=0), "relu", np.array([first, second]))
    assert np.array_equal(gradients, expected)
    many = run("predict", trained, tmp_path / "why.png", tmp_path / "why.png", "--explain", tmp_path / "w2.png")
    assert many.exit_code == 2 and "--explain explains one picture" in many.stderr
    assert not (tmp_path / "w2.png").exists()


def test_predict_explain_refuses_a_table_model_before_any_work(tmp_path):
    blobs_table(tmp_path / "t.csv")
    assert run("train", "relu", "--data", tmp_path / "t.csv", "--epochs", 1, "--out", tmp_path / "t.npz").exit_code == 0
    (tmp_path / "rows.csv").write_text(",".join(["0.5"] * 4) + "\n")
    result = run("predict", tmp_path / "t.npz", "--index", 0, "--data", tmp_path / "t.csv", "--explain", "why.png")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().endswith(
        "--explain draws pictures, and " + str(tmp_path / "t.npz") + " was trained on a table of features"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--index", "200"], "--index 200 is out of range: the test set has 200 examples"),
        (["missing.png"], "missing.png: no such file or folder"),
        ([], "give INPUT files (pictures, folders of them, or a CSV) or --index N"),
    ],
)
def test_predict_bad_input(trained, small_data, tmp_path, args, message):
    args = [str(tmp_path / a) if a.endswith(".png") else a for a in args]
    result = run("predict", trained, *args, "--data", small_data)
    assert result.exit_code != 0 and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_predict_unreadable_image(trained, tmp_path):
    pytest.importorskip("PIL")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    result = run("predict", trained, tmp_path / "bad.png")
    assert result.exit_code == 1 and "not a readable image" in result.stderr


def test_eval_report_agrees_with_mlp(trained, small_data, tmp_path):
    result = run("eval", trained, "--data", small_data, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "Confusion matrix" in result.stdout and "Most confident mistakes" in result.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    params, _ = mlp.load(trained)
    x, y = mlp.load_mnist(small_data, splits=("test",))
    predicted = mlp.predict(params, x, "relu")
    confusion = np.array(report["confusion"])
    assert confusion.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()
    assert np.array_equal(confusion, mlp.confusion_matrix(y, predicted, 10))
    assert report["accuracy"] == mlp.accuracy(predicted, y)
    recall_3 = (predicted[y == 3] == 3).mean()
    assert report["per_class"][3]["recall"] == pytest.approx(recall_3)
    for m in report["mistakes"]:
        assert y[m["index"]] == m["true"] != m["predicted"] == predicted[m["index"]]
    confidences = [m["confidence"] for m in report["mistakes"]]
    assert confidences == sorted(confidences, reverse=True)


@pytest.mark.parametrize("width", [40, 60])
def test_narrow_terminals_never_cut_a_number(trained, small_data, monkeypatch, width):
    from rich.console import Console

    monkeypatch.setattr(mlp_view, "console", Console(width=width, force_terminal=False))
    result = run("eval", trained, "--data", small_data)
    assert result.exit_code == 0 and "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= width
    params, _ = mlp.load(trained)
    x, y = mlp.load_mnist(small_data, splits=("test",))
    report = mlp.classification_report(params, x, y, "relu")
    cells = set(result.stdout.replace("│", " ").replace("┃", " ").split())
    assert {str(n) for n in report["confusion"].ravel()} <= cells  # every count, whole
    assert {f"{100 * p:.2f}%" for p in report["precision"]} <= cells


def test_summary_lists_layers_and_parameter_counts(trained):
    result = run("summary", trained)
    assert result.exit_code == 0
    assert "784 x 32" in result.stdout and f"{784 * 32 + 32 + 32 * 10 + 10:,}" in result.stdout
    result = run("summary", trained.parent / "nope.npz")
    assert result.exit_code == 1 and "no such weights file" in result.stderr


@pytest.mark.parametrize(
    "checkout, hint", [(True, "pip install -e '.[image]'"), (False, "pip install 'numpy-mlp[image]'")]
)
def test_predict_image_without_pillow_says_how_to_install_as_the_user_installed(
    trained, tmp_path, monkeypatch, checkout, hint
):
    (tmp_path / "d.png").write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "import PIL.Image" fail
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    monkeypatch.setattr(mlp_run, "CHECKOUT", checkout)
    result = run("predict", trained, tmp_path / "d.png")
    assert result.exit_code == 1 and result.stderr == f"error: this command needs Pillow (the image extra): {hint}\n"


def test_the_checkout_is_told_from_an_installed_wheel_by_the_pyproject_beside_the_package():
    assert mlp_run.CHECKOUT == (Path(mlp_run.__file__).parent.parent / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    "command",
    [
        ["eval"],
        ["summary"],
        ["predict", "--index", "0"],
        ["plot", "confusion"],
        ["plot", "mistakes"],
        ["plot", "weights"],
        ["plot", "all"],
    ],
)
def test_every_command_says_the_same_about_a_missing_weights_file(tmp_path, command):
    result = run(
        *command[: 2 if command[0] == "plot" else 1],
        tmp_path / "missing.npz",
        *command[2 if command[0] == "plot" else 1 :],
    )
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"error: {tmp_path / 'missing.npz'}: no such weights file (train one with 'python cli.py train relu')\n"
    )


def test_cli_gradcheck_prints_errors_and_writes_json(tmp_path):
    result = run(*"gradcheck gelu --hidden 5 4 --dropout 0.2 --label-smoothing 0.1 --json".split(), tmp_path / "g.json")
    assert result.exit_code == 0, result.output
    assert "W1" in result.stdout and "passed" in result.stdout
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["sizes"] == [10, 5, 4, 4] and report["passed"] is True
    assert (report["rtol"], report["atol"]) == (mlp.GRADCHECK_RTOL, mlp.GRADCHECK_ATOL)
    assert report["max_of_tolerance"] == max(e["of_tolerance"] for e in report["errors"].values()) < 0.1


@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_cli_gradcheck_with_its_defaults_passes_for_every_activation(activation):
    # `gradcheck relu` used to fail here: a near-zero gradient (-5.1e-7) whose finite
    # difference was off by 3e-11, a relative error of 2.2e-5 against a 1e-6 threshold
    result = run("gradcheck", activation)
    assert result.exit_code == 0, result.output
    assert "passed: |analytic - numeric| <= 1e-08 + 1e-05 x |numeric|" in " ".join(result.stdout.split())


def test_cli_gradcheck_fails_on_a_wrong_backward_pass(monkeypatch):
    wrong = mlp.ACTIVATIONS["sigmoid"]._replace(df=lambda z, a: a)  # forgot (1 - a)
    monkeypatch.setitem(mlp.ACTIVATIONS, "sigmoid", wrong)
    result = run("gradcheck", "sigmoid")
    assert result.exit_code == 1
    assert re.match(
        r"error: gradient check failed: in (W|b)\d, a gradient misses \|analytic - numeric\| <= 1e-08 "
        r"\+ 1e-05 x \|numeric\| by a factor of [\d.e+]+; the backward pass \(grads\) disagrees with the loss$",
        result.stderr,
    )
    assert result.stderr.count("\n") == 1 and "too large" in result.stdout


def test_init_continues_from_saved_weights_and_refuses_what_does_not_fit(trained, small_data, tmp_path):
    out = tmp_path / "fine.npz"
    result = run("train", "relu", "--init", trained, *"--epochs 1 --lr 0.001 --data".split(), small_data, "--out", out)
    assert result.exit_code == 0, result.output
    start_loss = json.loads((tmp_path / "fine.history.json").read_text())[0]["loss"]
    result = run(
        *"train relu --hidden 16 --epochs 1 --lr 0.001 --data".split(), small_data, "--out", tmp_path / "fresh.npz"
    )
    fresh_loss = json.loads((tmp_path / "fresh.history.json").read_text())[0]["loss"]
    assert start_loss < 1.0 and fresh_loss > 1.5  # the first epoch starts from their loss, not a random init's
    params, meta = mlp.load(out)
    start_params, start_meta = mlp.load(trained)
    assert meta["init"]["path"] == str(trained) and meta["preprocessing"]["kind"] == start_meta["preprocessing"]["kind"]
    assert mlp.sizes_of(params) == mlp.sizes_of(start_params)
    assert json.loads((tmp_path / "fine.history.json").read_text())[0]["init"] == str(trained)
    for args, message in (
        (["tanh"], "is a relu network; train it with relu"),
        (["relu", "--hidden", "64"], "has hidden layers 32, not 64"),
        (["relu", "--normalize", "standard"], "keeps its own preprocessing (range)"),
    ):
        result = run("train", *args, "--init", trained, "--data", small_data, "--out", tmp_path / "x.npz")
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
    other = np.random.default_rng(0).integers(0, 256, (20, 5, 5)).astype(np.uint8)
    np.savez(tmp_path / "other.npz", x_train=other, y_train=np.arange(20) % 2)
    result = run("train", "relu", "--init", trained, "--data", tmp_path / "other.npz", "--out", tmp_path / "x.npz")
    assert result.exit_code == 1 and "takes 784 inputs, but" in result.stderr and "has 25 features" in result.stderr


def test_an_ensemble_averages_its_members_probabilities(members, small_data, tmp_path):
    result = run("eval", *members, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    assert "an ensemble of 3" in result.stdout and "Members" in result.stdout
    report = json.loads((tmp_path / "e.json").read_text())
    loaded = [mlp.load(m) for m in members]
    x, y = mlp.load_idx_dataset(small_data, splits=("test",))
    probabilities = np.mean(
        [mlp.predict_proba(p, x, m["activation"], preprocessing=m["preprocessing"]) for p, m in loaded], axis=0
    )
    # the same average computed another way (softmax then mean, not log-space): a near-tie may
    # tip one example, so within one example, not bit for bit
    assert abs(report["accuracy"] - mlp.accuracy(probabilities.argmax(axis=1), y)) <= 1 / len(y)
    assert report["loss"] == pytest.approx(-np.log(probabilities[np.arange(len(y)), y]).mean(), rel=1e-6)
    assert [m["accuracy"] for m in report["members"]] == [
        mlp.evaluate(p, x, y, "relu", preprocessing=m["preprocessing"])[1] for p, m in loaded
    ]
    result = run("predict", *members, "--index", "0")
    assert result.exit_code == 0 and "prediction: " in result.stdout
    reply = mlp_draw.read_pad(loaded, np.kron(255 - x[0].reshape(28, 28), np.ones((10, 10))) / 255.0)
    assert not reply["blank"] and len(reply["top"]) == 5


def test_ensemble_members_must_share_data_and_classes(members, tmp_path):
    other = np.random.default_rng(0).integers(0, 256, (40, 28, 28)).astype(np.uint8)
    np.savez(tmp_path / "other.npz", x_train=other, y_train=np.arange(40) % 10)
    assert (
        run(
            *"train relu --hidden 16 --epochs 1 --data".split(), tmp_path / "other.npz", "--out", tmp_path / "o.npz"
        ).exit_code
        == 0
    )
    result = run("eval", members[0], tmp_path / "o.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"{tmp_path / 'o.npz'} cannot join {members[0]} in an ensemble: other data" in result.stderr


def test_the_plain_epoch_lines_say_when_the_run_ends(small_data, tmp_path, monkeypatch):
    monkeypatch.setattr(mlp_view, "live_view", lambda: False)
    result = run(*"train relu --hidden 8 --epochs 3 --data".split(), small_data, "--out", tmp_path / "w.npz")
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(re.search(r"ends in \d+:\d\d:\d\d$", line) for line in lines) and lines[-1].endswith("ends in 0:00:00")
    assert mlp_view.run_eta(0, 0, 10) == "?" and mlp_view.clock_time(3725) == "1:02:05"


@pytest.mark.parametrize(
    "field, value",
    [
        ("sizes", []),
        ("sizes", [784]),
        ("sizes", [784, 2.5, 10]),
        ("classes", {"a": 1}),
        ("classes", list(range(10))),
        ("classes", ["\x1b]0;owned\x07"] + [str(c) for c in range(1, 10)]),
        ("input", "pictures"),
        ("input", {"shape": [3, 3], "pictures": "framed"}),
        ("data", 5),
        ("test_accuracy", None),
        ("test_accuracy", "high"),
        ("epochs_run", -1),
    ],
)
def test_weights_edited_field_by_field_are_one_line_from_every_command(trained, tmp_path, field, value):
    import zipfile

    edited = tmp_path / "edited.npz"
    with zipfile.ZipFile(trained) as source, zipfile.ZipFile(edited, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "meta.npy":
                meta = json.loads(str(np.load(trained)["meta"]))
                meta[field] = value
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.array(json.dumps(meta)))
                content = buffer.getvalue()
            target.writestr(info, content)
    for args in (
        ["eval", edited],
        ["summary", edited],
        ["predict", edited, "--index", "0"],
        ["export", edited, tmp_path / "m.onnx"],
        ["plot", "weights", edited, "--out", tmp_path / "w.png"],
    ):
        result = run(*args)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr and f"{edited}: " in result.stderr, result.stderr
        assert f"not a valid weights file: {field} must be" in result.stderr or "unknown activation" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.npz"]


# ----------------------------------------------------------------------------- more commands and options


def test_predict_refuses_a_data_file_given_as_input_saying_what_takes_it(trained, tmp_path, digits):
    x, y, xt, yt = digits
    np.savez(tmp_path / "data.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    result = run("predict", trained, tmp_path / "data.npz")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"{tmp_path / 'data.npz'} holds a data set, not weights or pictures" in result.stderr
    assert f"eval {trained} --data {tmp_path / 'data.npz'}" in result.stderr


def test_export_writes_only_to_an_onnx_file(trained, tmp_path):
    result = run("export", trained, tmp_path / "model.txt")
    assert result.exit_code == 2 and result.stderr == (
        f"error: {tmp_path / 'model.txt'}: an ONNX model is written to a .onnx file; name it {tmp_path / 'model.onnx'}\n"
    )
    assert not list(tmp_path.glob("model*"))


def test_bench_of_a_small_table_shows_its_tiny_times_and_the_whole_fit(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv", n=150)
    result = run("bench", "--data", data, "--hidden", "16", "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "fit s" in result.stdout and f"{report['train_seconds']:.2f}" in text
    assert " 0.000 " not in text and "% of an epoch" in text or "times an epoch" in text
    assert f"the median of {len(report['epoch_seconds'])} epochs" in text
    assert (
        mlp_view.share_of_an_epoch(3.0, 1.0) == "3.0 times an epoch"
        and mlp_view.share_of_an_epoch(0.5, 2) == "25.0% of an epoch"
    )
    assert [mlp_view.seconds_shown(s) for s in (3.8712, 0.0123, 0.000444, 0.0000249)] == [
        "3.871",
        "0.012",
        "0.000444",
        "0.0000249",
    ]


def test_train_class_weight_balanced_lifts_the_rare_classs_recall_and_is_recorded(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(1500) < 0.08).astype(int)
    x = rng.normal(size=(1500, 6)) + 1.0 * y[:, None]
    data = tmp_path / "rare.csv"
    np.savetxt(data, np.column_stack([y, x]), "%g", ",")
    recall = {}
    for kind in ("none", "balanced"):
        out = tmp_path / f"{kind}.npz"
        result = run("train", "relu", "--data", data, "--class-weight", kind, "--out", out)
        assert result.exit_code == 0, result.output
        params, meta = mlp.load(out)
        assert meta["settings"].get("class_weight") == (None if kind == "none" else "balanced")
        assert run("eval", out, "--json", tmp_path / f"{kind}.json").exit_code == 0
        recall[kind] = json.loads((tmp_path / f"{kind}.json").read_text())["per_class"][1]["recall"]
    assert recall["balanced"] > recall["none"] + 0.1
    result = run("train", "relu", "--data", data, "--class-weight", "even")
    assert result.exit_code == 2 and "--class-weight" in result.stderr


def test_weights_that_record_no_data_say_so_when_mnist_stands_in(tmp_path):
    mlp.save(tmp_path / "own.npz", mlp.init([784, 8, 10], "relu"), {"activation": "relu"})  # a loop of one's own
    result = run("eval", tmp_path / "own.npz")
    assert result.exit_code == 0
    assert f"data: mnist ({tmp_path / 'own.npz'} records no data: give --data for other data)" in " ".join(
        result.stderr.split()
    )


def test_train_ema_saves_and_scores_the_average_of_the_weights(small_data, tmp_path):
    saved = {}
    for decay in (0.0, 0.95):
        out = tmp_path / f"ema{decay}.npz"
        result = run(*"train relu --hidden 16 --epochs 3 --data".split(), small_data, "--ema", decay, "--out", out)
        assert result.exit_code == 0, result.output
        saved[decay], meta = mlp.load(out)
        assert meta["settings"].get("ema", "off") == (decay or "off")  # off is not recorded
        rows = json.loads(out.with_suffix(".history.json").read_text())
        assert run("eval", out, "--json", tmp_path / "e.json").exit_code == 0  # the table scored what was saved
        assert json.loads((tmp_path / "e.json").read_text())["accuracy"] == rows[-1]["test_accuracy"]
    assert not np.array_equal(saved[0.0]["W1"], saved[0.95]["W1"])
    result = run(*"train relu --ema 1 --data".split(), small_data)
    assert result.exit_code == 2 and "'--ema': must be in [0, 1) (0: off)" in " ".join(result.stderr.split())


def test_train_augment_end_is_recorded_with_the_run_length(small_data, tmp_path):
    out = tmp_path / "fade.npz"
    args = [*"train relu --hidden 8 --epochs 2 --augment shift --augment-end 0.5 --data".split(), small_data]
    assert run(*args, "--out", out).exit_code == 0
    settings = mlp.load(out)[1]["settings"]
    assert (settings["augment_end"], settings["epochs"]) == (0.5, 2)
    plain = tmp_path / "plain.npz"
    assert (
        run(
            *"train relu --hidden 8 --epochs 1 --schedule constant --data".split(), small_data, "--out", plain
        ).exit_code
        == 0
    )
    assert "augment_end" not in mlp.load(plain)[1]["settings"]  # 1 is not recorded
    result = run(*"train relu --augment-end -1 --data".split(), small_data)
    assert result.exit_code == 2 and "'--augment-end': must be 0 or more and finite" in " ".join(result.stderr.split())


def test_eval_tta_scores_distorted_views_beside_the_plain_score(trained, small_data, tmp_path):
    assert run("eval", trained, "--data", small_data, "--json", tmp_path / "plain.json").exit_code == 0
    result = run("eval", trained, "--data", small_data, "--tta", 4, "--json", tmp_path / "tta.json")
    assert result.exit_code == 0, result.output
    plain, tta = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("plain", "tta"))
    assert {k: v for k, v in tta.items() if k != "tta"} == plain  # the plain score stays as it is
    params, meta = mlp.load(trained)
    x, y = mlp.load_idx_dataset(small_data, splits=("test",))
    expected = mlp_pictures.ensemble_log_proba([(params, meta)], x, views=4).argmax(axis=1)
    assert tta["tta"] == {"views": 4, "accuracy": mlp.accuracy(expected, y), "loss": tta["tta"]["loss"]}
    assert "With test-time augmentation: each of the images and 4 distortions of it" in " ".join(result.stdout.split())


def test_eval_tta_needs_pictures(tmp_path):
    rows = np.random.default_rng(0).normal(size=(80, 4))
    data = tmp_path / "t.csv"
    np.savetxt(data, np.column_stack([np.arange(80) % 2, rows]), "%g", ",")
    assert run("train", "relu", "--data", data, "--epochs", 1, "--out", tmp_path / "w.npz").exit_code == 0
    result = run("eval", tmp_path / "w.npz", "--tta", 2)
    assert result.exit_code == 2
    assert result.stderr == f"error: --tta distorts square pictures; {tmp_path / 'w.npz'} takes a table's rows\n"


def test_predict_tta_averages_distortions_of_the_example_and_says_so(trained, small_data):
    params, meta = mlp.load(trained)
    x, _ = mlp.load_idx_dataset(small_data, splits=("test",))
    probabilities = np.exp(mlp_pictures.ensemble_log_proba([(params, meta)], x[7:8], views=6))[0]
    result = run("predict", trained, "--index", 7, "--data", small_data, "--tta", 6)
    assert result.exit_code == 0, result.output
    assert f"prediction: {int(probabilities.argmax())}" in result.stdout
    assert f"{100 * probabilities.max():.2f}%" in result.stdout  # the averaged probability
    assert "probabilities averaged over the picture and 6 mild distortions of it (--tta 6)" in result.stdout


def test_train_test_every_scores_every_kth_epoch_the_last_and_each_new_best(small_data, tmp_path):
    out = tmp_path / "w.npz"
    result = run(*"train relu --hidden 16 --epochs 5 --test-every 2 --data".split(), small_data, "--out", out)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.with_suffix(".history.json").read_text())
    assert [r["epoch"] for r in rows if "test_accuracy" in r] == [2, 4, 5]
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert "test " not in lines[0] and "test " in lines[1]
    params, meta = mlp.load(out)
    x, y = mlp.load_idx_dataset(small_data, splits=("test",))
    assert (
        meta["test_accuracy"]
        == rows[-1]["test_accuracy"]
        == mlp.evaluate(params, x, y, "relu", preprocessing=meta["preprocessing"])[1]
    )
    assert run(*"train relu --test-every 0".split()).exit_code == 2
    out = tmp_path / "val.npz"
    result = run(*"train relu --hidden 16 --epochs 4 --val 100 --test-every 3 --data".split(), small_data, "--out", out)
    assert result.exit_code == 0, result.output
    rows = json.loads(out.with_suffix(".history.json").read_text())
    best = {r["best_epoch"] for r in rows}
    assert {r["epoch"] for r in rows if "test_accuracy" in r} == best | {3, 4}
    assert mlp.load(out)[1]["test_accuracy"] == rows[rows[-1]["best_epoch"] - 1]["test_accuracy"]
    pytest.importorskip("matplotlib")
    assert run("plot", "curves", out, "--out", tmp_path / "c.png").exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--deslant"], "error: --deslant straighten pictures, and {data} is a table of features; leave it out"),
        (
            ["--class-weight", "nope"],
            "error: Invalid value for '--class-weight': 'nope' is not one of 'none', 'balanced'.",
        ),
        (["--class-weight", '{"7": 2}'], "error: Invalid value for '--class-weight': '{\"7\": 2}' is not one of"),
        (["--augment", "shift"], "error: --augment shift: {data} holds a table, not images; use --augment none"),
        (["--augment-end", "0.5"], "error: --augment-end"),
    ],
)
def test_options_for_pictures_or_bad_class_weights_on_a_table_are_one_line(tmp_path, args, message):
    rows = np.random.default_rng(0).normal(size=(80, 4))
    data = tmp_path / "t.csv"
    np.savetxt(data, np.column_stack([np.arange(80) % 2, rows]), "%g", ",")  # no header: the label comes first
    result = run("train", "relu", "--data", data, "--epochs", 1, "--out", tmp_path / "w.npz", *args)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(message.replace("{data}", str(data))), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_one_epoch_is_said_as_one_and_the_torch_hint_names_its_cpu_build(tmp_path, small_data):
    result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", tmp_path / "w.npz")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1].startswith("ran its one epoch; test accuracy")
    if importlib.util.find_spec("torch") is None:
        result = run("bench", "--torch", "--hidden", "8", "--epochs", "1", "--data", small_data)
        assert result.exit_code == 1 and result.stderr == (
            "error: --torch needs PyTorch, never a dependency of this project: its CPU build is enough, "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu\n"
        )


def test_gradcheck_checks_the_regression_loss_and_catches_a_wrong_one(monkeypatch, tmp_path):
    result = run("gradcheck", "tanh", "--task", "regression", "--json", tmp_path / "g.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "g.json").read_text())
    assert report["task"] == "regression" and report["passed"] and "regression" in result.stdout
    refused = run("gradcheck", "tanh", "--task", "regression", "--label-smoothing", "0.1")
    assert refused.exit_code == 2 and refused.stderr == (
        "error: --label-smoothing smooths classes; leave it out with --task regression\n"
    )
    squared = mlp.TASKS["regression"].loss_and_delta
    halved = lambda outputs, y, smoothing, weights: (lambda v, d: (v, d / 2))(*squared(outputs, y, smoothing, weights))
    monkeypatch.setitem(mlp.TASKS, "regression", mlp.TASKS["regression"]._replace(loss_and_delta=halved))
    wrong = run("gradcheck", "tanh", "--task", "regression")
    assert wrong.exit_code == 1 and "the backward pass (grads) disagrees with the loss" in wrong.stderr
