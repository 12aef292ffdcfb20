"""train --tensorboard DIR and --mlflow: every epoch's numbers reach TensorBoard's event files (read
back with TensorBoard's own reader) and an MLflow run (read back with MLflow's client, from the
local store and from a real tracking server started here), equal to the history file's; a killed
and resumed run has every epoch once; a tracker that fails warns once and the training goes on; a
missing extra is named with its install command."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import blobs_table, cli_process, posix, run, wait_for_line
from numpy_mlp import trackers as mlp_trackers
from numpy_mlp import view as mlp_view

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
mlflow = pytest.importorskip("mlflow")
optuna = pytest.importorskip("optuna")
Image = pytest.importorskip("PIL.Image")


def history_of(path):
    return json.loads(path.read_text())


def tensorboard_scalars(folder):
    """{tag: [(step, value), ...]} as TensorBoard reads the event files in `folder`."""
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}, events


def numbers_by_key(history):
    """{key: [(epoch, value), ...]} of the history's numbers, as a tracker sends them."""
    keys = {k for record in history for k in mlp_trackers.metrics_of(record)}
    return {k: [(r["epoch"], r[k]) for r in history if k in mlp_trackers.metrics_of(r)] for k in keys}


def test_tensorboard_reads_every_epochs_numbers_and_the_weights_histograms(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv")
    result = run("train", "relu", "--data", data, "--val", "40", "--epochs", "5", "--tensorboard", tmp_path / "tb")
    assert result.exit_code == 0, result.output
    history = history_of(tmp_path / "weights.history.json")
    scalars, events = tensorboard_scalars(tmp_path / "tb")
    expected = numbers_by_key(history)
    assert set(scalars) == set(expected) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
    for key, points in expected.items():  # TensorBoard keeps a scalar as float32
        assert scalars[key] == [(epoch, float(np.float32(value))) for epoch, value in points], key
    weights = np.load(tmp_path / "weights.npz")
    assert set(events.Tags()["histograms"]) == {"W1", "b1", "W2", "b2"}
    histogram = events.Histograms("W1")[-1]
    assert histogram.step == 5 and histogram.histogram_value.num == weights["W1"].size


@pytest.mark.slow
@posix
def test_a_killed_and_resumed_run_is_in_tensorboard_once_per_epoch(tmp_path, small_data):
    args = [*"train relu --hidden 16 --data".split(), small_data, *"--batch-size 16 --epochs 6".split()]
    args += ["--out", tmp_path / "w.npz", "--tensorboard", tmp_path / "tb"]
    with cli_process(*args) as proc:
        wait_for_line(proc.stderr, "epoch 3/")
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    result = run(*args)
    assert result.exit_code == 0 and "resuming after epoch" in result.stderr, result.output
    scalars, _ = tensorboard_scalars(tmp_path / "tb")
    history = history_of(tmp_path / "w.history.json")
    assert scalars["loss"] == [(r["epoch"], float(np.float32(r["loss"]))) for r in history]  # 1-6, once each


def assert_mlflow_run_is_the_history(client, experiment, history, weights):
    """The experiment's one run: FINISHED, its metrics at every epoch's step the history's own
    numbers (MLflow keeps doubles), the weights and history among its artifacts, byte for byte,
    and the curves' figure as a picture of plot's size (10 x 3.8 inches at matplotlib's 100 dpi)."""
    (found,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert found.info.status == "FINISHED"
    for key, points in numbers_by_key(history).items():
        logged = sorted((m.step, m.value) for m in client.get_metric_history(found.info.run_id, key))
        assert logged == points, key
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert artifacts == {weights.name, "w.history.json", "curves.png"}
    copy = client.download_artifacts(found.info.run_id, weights.name, str(weights.parent / "downloaded"))
    assert open(copy, "rb").read() == weights.read_bytes()
    figure = client.download_artifacts(found.info.run_id, "curves.png", str(weights.parent / "downloaded"))
    with Image.open(figure) as picture:
        assert (picture.format, picture.size) == ("PNG", (1000, 380))
    return found


def test_mlflow_logs_options_epochs_and_files_to_a_local_store_by_default(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv")
    args = ["--data", data, "--val", "40", "--epochs", "4", "--lr", "0.05", "--out", tmp_path / "w.npz"]
    result = run("train", "relu", *args, "--mlflow", "--mlflow-experiment", "blobs")
    assert result.exit_code == 0, result.output
    assert "INFO" not in result.stderr  # MLflow's own lines (a store made, its tables) stay out of the run's
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")  # the working folder's
    history = history_of(tmp_path / "w.history.json")
    found = assert_mlflow_run_is_the_history(client, "blobs", history, tmp_path / "w.npz")
    params = found.data.params
    assert params["activation"] == "relu" and params["lr"] == "0.05" and params["epochs"] == "4"
    weights = np.load(tmp_path / "w.npz")
    layers = sorted(k for k in weights.files if k.startswith("W"))
    sizes = [weights["W1"].shape[0], *(weights[k].shape[1] for k in layers)]
    assert params["sizes"] == "-".join(map(str, sizes))
    assert params["data"] == str(data) and params["seed"] == "0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(server):
    """End a server started in a session of its own, and its workers (SIGKILL after 30 s)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server on 127.0.0.1 (SQLite store and artifacts in tmp_path): its
    `uri`, and `stop()` to end it sooner; stopped, with its workers, on the way out."""
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}"]
    command += ["--artifacts-destination", str(tmp_path / "artifacts")]
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # its start takes seconds, more on a busy machine
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
        else:
            raise AssertionError(f"no MLflow server at {uri} within 120 s")
        yield SimpleNamespace(uri=uri, stop=lambda: stop(server))
    finally:
        stop(server)
        log.close()


@pytest.mark.slow
@posix
def test_a_run_reaches_a_real_tracking_server_named_by_the_environment(tmp_path, mlflow_server):
    data = blobs_table(tmp_path / "blobs.csv")
    args = ["train", "relu", "--data", data, "--val", "40", "--epochs", "4", "--out", tmp_path / "w.npz"]
    env = {"MLFLOW_TRACKING_URI": mlflow_server.uri, "MLFLOW_EXPERIMENT_NAME": "served"}
    with cli_process(*args, env=env) as proc:
        stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert "warning" not in stderr
    client = mlflow.MlflowClient(tracking_uri=mlflow_server.uri)
    found = assert_mlflow_run_is_the_history(
        client, "served", history_of(tmp_path / "w.history.json"), tmp_path / "w.npz"
    )
    assert found.data.tags["numpy_mlp.command"].endswith(f"--out {tmp_path / 'w.npz'}")
    assert not (tmp_path / "mlflow.db").exists()  # the server's store, not a local one


def test_one_run_with_every_logger_shows_the_same_numbers_in_each(tmp_path):
    data = blobs_table(tmp_path / "blobs.csv")
    args = ["--data", data, "--val", "40", "--epochs", "4"]
    result = run("train", "relu", *args, "--log", "run.jsonl", "--tensorboard", "tb", "--mlflow")
    assert result.exit_code == 0, result.output
    unwatched = run("train", "relu", *args, "--out", "unwatched.npz")
    assert unwatched.exit_code == 0, unwatched.output
    assert (tmp_path / "unwatched.npz").read_bytes() == (tmp_path / "weights.npz").read_bytes()  # same training
    history = history_of(tmp_path / "weights.history.json")
    assert [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()] == history
    scalars, _ = tensorboard_scalars(tmp_path / "tb")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("numpy-mlp").experiment_id])
    for key, points in numbers_by_key(history).items():
        assert scalars[key] == [(epoch, float(np.float32(value))) for epoch, value in points], key
        assert sorted((m.step, m.value) for m in client.get_metric_history(found.info.run_id, key)) == points, key


@pytest.mark.slow
@posix
def test_a_tracking_server_gone_mid_run_warns_once_and_the_run_finishes(tmp_path, small_data, mlflow_server):
    args = ["train", "relu", "--hidden", "16", "--data", small_data, "--batch-size", "16", "--epochs", "30"]
    with cli_process(*args, env={"MLFLOW_TRACKING_URI": mlflow_server.uri}) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        mlflow_server.stop()  # the server goes away while the run trains
        stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert stderr.count("warning: --mlflow") == 1 and "the run goes on without it" in stderr
    assert len(history_of(tmp_path / "weights.history.json")) == 30 and (tmp_path / "weights.npz").is_file()


@pytest.mark.slow
def test_a_tracking_server_that_does_not_answer_warns_once_and_the_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = run("train", "relu", "--data", blobs_table(tmp_path / "b.csv"), "--epochs", "3")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: --mlflow:") == 1 and "the run goes on without it" in result.stderr
    assert len(history_of(tmp_path / "weights.history.json")) == 3


def test_no_mlflow_turns_off_what_the_environment_turns_on(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    result = run("train", "relu", "--data", blobs_table(tmp_path / "b.csv"), "--epochs", "2", "--no-mlflow")
    assert result.exit_code == 0 and "--mlflow" not in result.stderr, result.output
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("flag", ["--mlflow", "--tensorboard"])
def test_a_missing_extra_is_named_with_its_install_command_before_any_work(tmp_path, monkeypatch, flag):
    extra = flag.removeprefix("--")
    monkeypatch.setitem(mlp_trackers.TRACKER_EXTRAS, extra, "numpy_mlp_no_such_module")
    args = [flag] if flag == "--mlflow" else [flag, tmp_path / "tb"]
    result = run("train", "relu", "--data", blobs_table(tmp_path / "b.csv"), *args)
    library = {"mlflow": "MLflow", "tensorboard": "tensorboardX"}[extra]
    assert result.exit_code == 1 and result.stderr == (
        f"error: {flag} needs {library} (the {extra} extra): pip install -e '.[{extra}]'\n"
    )
    assert not (tmp_path / "weights.npz").exists() and not (tmp_path / "tb").exists()


def test_a_tracker_that_fails_warns_once_and_drops_the_rest():
    lines, calls = [], []

    def broken(record):
        calls.append(record)
        raise OSError("No space left on device")

    sender = mlp_trackers.Sender("--tensorboard tb", lines.append)
    for epoch in range(3):
        sender.put(broken, epoch)
    sender.close(time.monotonic() + 10)
    assert calls == [0] and lines == ["warning: --tensorboard tb: No space left on device; the run goes on without it"]


def test_a_tracker_that_hangs_is_left_at_the_deadline():
    lines = []
    sender = mlp_trackers.Sender("--mlflow", lines.append)
    sender.put(time.sleep, 30)
    started = time.monotonic()
    sender.close(started + 0.2)
    assert time.monotonic() - started < 10
    assert lines == [
        f"warning: --mlflow did not answer within {mlp_trackers.CLOSE_SECONDS:.0f} s; the rest was not sent"
    ]


# ----------------------------------------------------------------------------- sweeps


def test_a_sweeps_progress_says_trials_finished_running_best_and_time_left():
    row = lambda n, state, value, seconds: {"number": n, "state": state, "value": value, "seconds": seconds}
    rows = [row(0, "complete", 0.91, 10.0), row(1, "pruned", 0.5, 20.0), row(2, "running", None, 3.0)]
    said = mlp_view.sweep_progress(rows, 6, task=None, workers=2)
    assert said == (  # 4 trials left at the finished trials' mean 15 s, on 2 workers
        "2 of 6 trials finished (1 complete, 1 pruned), 1 running; best validation accuracy 91.00%; about 0:00:30 left"
    )
    assert mlp_view.sweep_progress(rows[2:], 6, task="regression", workers=1) == (
        "0 of 6 trials finished (0 complete, 0 pruned), 1 running; the time left is known once a trial ends"
    )


def sweep_on_blobs(tmp_path, *extra):
    data = blobs_table(tmp_path / "blobs.csv")
    args = ["sweep", "relu", "--data", data, "--val", "40", "--epochs", "3", "--hidden", "8", "--trials", "2"]
    return run(*args, "--out", tmp_path / "best.npz", *extra)


def test_a_sweep_logs_each_trial_as_an_mlflow_run_under_one_parent(tmp_path):
    result = sweep_on_blobs(tmp_path, "--mlflow", "--mlflow-experiment", "sweeps")
    assert result.exit_code == 0, result.output
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("sweeps").experiment_id])
    (parent,) = [r for r in runs if r.info.run_name.startswith("sweep ")]
    trials = sorted((r for r in runs if r is not parent), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in trials] == ["trial 0", "trial 1"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trials)
    assert parent.info.status == "FINISHED" and parent.data.params["trials"] == "2"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {"best.npz", "best.history.json"}
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / 'sweep.db'}")
    for trial, logged in zip(study.trials, trials):  # each epoch's validation accuracy, as the pruner saw it
        history = client.get_metric_history(logged.info.run_id, "val_accuracy")
        assert sorted((m.step, m.value) for m in history) == sorted(trial.intermediate_values.items())
        assert logged.data.params["lr"] == str(trial.user_attrs["options"]["lr"])


@pytest.mark.parametrize("flag", [["--log", "run.jsonl"], ["--tensorboard", "tb"]])
def test_a_sweep_refuses_one_runs_log_and_names_where_its_trials_are(tmp_path, flag):
    result = sweep_on_blobs(tmp_path, *flag)
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {flag[0]}: a sweep's trials are in its study")
    assert not (tmp_path / "sweep.db").exists()


@pytest.mark.slow
@posix
def test_optuna_dashboard_lists_a_finished_sweeps_trials_with_their_commands(tmp_path):
    assert sweep_on_blobs(tmp_path).exit_code == 0
    port = free_port()
    program = Path(sys.executable).with_name("optuna-dashboard")  # the command its package installs
    if not program.exists():
        pytest.skip("optuna-dashboard is not installed beside this Python")
    command = [str(program), f"sqlite:///{tmp_path / 'sweep.db'}"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--server", "wsgiref"]
    log = open(tmp_path / "dashboard.log", "wb")  # noqa: SIM115 (closed below)
    environment = {**os.environ, "HOME": str(tmp_path)}  # gunicorn and its kin write there, not in ~
    dashboard = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    try:
        get = lambda path: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read())
        for _ in range(120):
            try:
                studies = get("/api/studies")["study_summaries"]
                break
            except OSError:
                assert dashboard.poll() is None, (tmp_path / "dashboard.log").read_text()
                time.sleep(0.5)
        else:
            raise AssertionError("no optuna-dashboard within 60 s")
        (summary,) = studies
        trials = get(f"/api/studies/{summary['study_id']}?after=0")["trials"]
        assert [t["number"] for t in trials] == [0, 1] and all(t["state"] == "Complete" for t in trials)
        attrs = [{a["key"]: a["value"] for a in t["user_attrs"]} for t in trials]
        assert all(" train relu --data " in a["train_command"] for a in attrs)  # after the program's name
        assert [json.loads(a["scores"])["val_accuracy"] for a in attrs] == [t["values"][0] for t in trials]
    finally:
        stop(dashboard)
        log.close()
