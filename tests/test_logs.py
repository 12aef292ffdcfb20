"""train --log FILE: each epoch's record appended and flushed as it ends (JSON lines or CSV), the
same records as the history file; a killed and resumed run's log has every epoch once; a log
that cannot be written warns once and the run goes on; a log of another form is refused."""

import csv
import json
import signal

import pytest

from conftest import blobs_table, cli_process, run, wait_for_line

posix = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")


def history_of(path):
    return json.loads(path.read_text())


def test_a_jsonl_log_holds_the_historys_records(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv")
    result = run("train", "relu", "--data", data, "--val", "40", "--epochs", "6", "--log", tmp_path / "run.jsonl")
    assert result.exit_code == 0, result.output
    logged = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    history = history_of(tmp_path / "weights.history.json")
    assert [r["epoch"] for r in logged] == [1, 2, 3, 4, 5, 6]
    assert logged == history  # the same numbers, to the last bit (JSON writes floats exactly)
    assert {"lr", "loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "seconds"} <= set(
        logged[0]
    )


def test_a_csv_log_has_a_column_per_score_and_a_row_per_epoch(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv")
    result = run("train", "relu", "--data", data, "--epochs", "4", "--log", tmp_path / "run.csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "run.csv").open()))
    assert list(rows[0]) == ["epoch", "lr", "loss", "accuracy", "test_loss", "test_accuracy", "seconds"]
    history = history_of(tmp_path / "weights.history.json")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    for row, record in zip(rows, history):
        assert all(float(row[k]) == record[k] for k in row)  # Python's repr of a float reads back exactly


@pytest.mark.parametrize("name", ["run.txt", "run"])
def test_a_log_of_another_form_is_refused_before_any_work(tmp_path, name):
    result = run("train", "relu", "--data", blobs_table(tmp_path / "b.csv"), "--log", tmp_path / name)
    assert result.exit_code == 2 and result.stderr == (
        f"error: --log {tmp_path / name}: give a file ending in .jsonl or .csv (JSON lines or CSV)\n"
    )
    assert not (tmp_path / "weights.npz").exists()


@posix
def test_a_log_that_cannot_be_written_warns_once_and_the_run_goes_on(tmp_path):
    (tmp_path / "full.jsonl").symlink_to("/dev/full")  # every write: no space left on device
    result = run("train", "relu", "--data", blobs_table(tmp_path / "b.csv"), "--epochs", "3", "--log", "full.jsonl")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("--log full.jsonl") == 1 and "the run goes on without its log" in result.stderr
    assert len(history_of(tmp_path / "weights.history.json")) == 3


@pytest.mark.slow
@posix
def test_a_killed_and_resumed_runs_log_has_every_epoch_once(tmp_path, small_data):
    args = [*"train relu --hidden 16 --data".split(), small_data, *"--batch-size 16 --epochs 6".split()]
    log, out = tmp_path / "run.jsonl", tmp_path / "w.npz"
    with cli_process(*args, "--out", out, "--log", log) as proc:
        wait_for_line(proc.stderr, "epoch 3/")
        proc.kill()  # SIGKILL: no handler, nothing flushed after it
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in logged] == list(range(1, len(logged) + 1)) and len(logged) >= 2
    with log.open("a") as ahead:  # as a log ahead of the last checkpoint would be
        ahead.write(json.dumps({**logged[-1], "epoch": len(logged) + 1}) + "\n")
    result = run(*args, "--out", out, "--log", log)
    assert result.exit_code == 0 and "resuming after epoch" in result.stderr, result.output
    logged = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in logged] == [1, 2, 3, 4, 5, 6]
    assert logged == history_of(tmp_path / "w.history.json")
