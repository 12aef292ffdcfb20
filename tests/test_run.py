"""Tests of a run that loses nothing (numpy_mlp/run.py and the commands using it): signals, kill -9,
resuming, one run per output, outputs that never replace inputs, full disks, closed pipes, and
platforms without POSIX facilities. Real processes and signals."""

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import mlp
from conftest import HERE, cli_process, posix, run, wait_for_line, write_dataset
from numpy_mlp import cli
from numpy_mlp import data as mlp_data
from numpy_mlp import guard as mlp_guard
from numpy_mlp import run as mlp_run
from numpy_mlp import view as mlp_view


def test_memory_estimate_counts_the_optimizers_state_arrays():
    n_params = 10 * 5 + 5 + 5 * 2 + 2  # 67
    sgd, adam = (mlp_run.training_memory([10, 5, 2], 1, name) for name in ("sgd", "adam"))
    assert (mlp.OPTIMIZERS["sgd"].state_arrays, mlp.OPTIMIZERS["adam"].state_arrays) == (1, 2)
    assert adam - sgd == n_params * 4  # one more float32 array per parameter


@pytest.mark.slow
@posix
def test_cli_ctrl_c_saves_a_checkpoint_and_resume_matches(tmp_path, small_data):
    common = [*"train relu --hidden 16 --schedule constant --data".split(), str(small_data), "--batch-size", "16"]
    out, checkpoint_path = tmp_path / "w.npz", tmp_path / "w.ckpt.npz"
    out.write_bytes(b"precious")
    with cli_process(*common, "--epochs", "100000", "--out", out) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err
    # the hint is the command as it was typed, ready to paste
    hint = (
        f"run the same command again to resume: python {HERE / 'cli.py'} {' '.join(common)} --epochs 100000 --out {out}"
    )
    assert "interrupted: epoch" in err and hint in " ".join(err.split())
    assert out.read_bytes() == b"precious"  # the weights file is only written at the end
    checkpoint, _ = mlp_guard.load_checkpoint(checkpoint_path)
    epochs = checkpoint.epoch + 2
    result = run(*common, "--epochs", epochs, "--lr", "0.2", "--out", out, "--resume", checkpoint_path)
    assert result.exit_code == 1 and "trained with other settings: lr 0.1 (now 0.2)" in result.stderr
    result = run(*common, "--epochs", checkpoint.epoch - 1, "--out", out)  # found beside --out
    assert (
        result.exit_code == 1
        and f"has already run {checkpoint.epoch} epochs; --epochs {checkpoint.epoch - 1} is fewer" in result.stderr
    )
    result = run(*common, "--epochs", epochs, "--out", out)  # the same command resumes by itself
    assert result.exit_code == 0, result.output
    assert f"resuming after {cli.progress_of(checkpoint)} from {checkpoint_path}" in " ".join(result.stderr.split())
    assert not checkpoint_path.exists()  # the run is finished: nothing left to resume
    result = run(*common, "--epochs", epochs, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()
    # a schedule whose rates depend on the run's length keeps it: a longer run is another run
    cosine = [a for a in common if a not in ("--schedule", "constant")]
    result = run(*cosine, "--epochs", 3, "--out", tmp_path / "c.npz")
    checkpoint = mlp.fresh_checkpoint(mlp.load(tmp_path / "c.npz")[0], 0)._replace(epoch=1)
    mlp_guard.save_checkpoint(
        tmp_path / "c.ckpt.npz",
        checkpoint,
        {"activation": "relu", "settings": mlp.load(tmp_path / "c.npz")[1]["settings"]},
    )
    result = run(*cosine, "--epochs", 5, "--out", tmp_path / "c.npz", "--resume", tmp_path / "c.ckpt.npz")
    assert (
        result.exit_code == 1
        and "epochs 3 (now 5) (the cosine schedule's rates depend on the run's length" in result.stderr
    )


@contextlib.contextmanager
def training_process(small_data, out):
    """A long `train` in a real process, yielded once epoch 2 is reported (a checkpoint can be
    saved); killed on the way out."""
    with cli_process(
        *"train relu --hidden 16 --data".split(), small_data, *"--batch-size 16 --epochs 100000 --out".split(), out
    ) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        yield proc


@pytest.mark.slow
@pytest.mark.parametrize("name, code", [("SIGTERM", 143), ("SIGHUP", 129)])
@posix
def test_sigterm_and_sighup_save_a_checkpoint_like_ctrl_c(tmp_path, small_data, name, code):
    if not hasattr(signal, name):
        pytest.skip(f"this platform has no {name}")
    out = tmp_path / "w.npz"
    with training_process(small_data, out) as proc:
        proc.send_signal(getattr(signal, name))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert "interrupted: epoch" in err and f"on {name}; run the same command again" in err and "Traceback" not in err
    checkpoint, _ = mlp_guard.load_checkpoint(tmp_path / "w.ckpt.npz")
    assert checkpoint.epoch >= 2 and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("gap", [0.0, 0.02, 0.08])
@posix
def test_a_second_ctrl_c_does_not_break_the_checkpoint(tmp_path, small_data, gap):
    with training_process(small_data, tmp_path / "w.npz") as proc:
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: epoch" in err
    assert mlp_guard.load_checkpoint(tmp_path / "w.ckpt.npz")[0].epoch >= 2


@posix
def test_ctrl_c_during_the_final_save_finishes_it(tmp_path, small_data, monkeypatch):
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])  # this process's record of stop signals, for this test only
    write_outputs = mlp_run.write_outputs

    def ctrl_c_while_writing(writers, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # arrives as the weights and history are being written
        return write_outputs(writers, *args, **kwargs)

    monkeypatch.setattr(mlp_run, "write_outputs", ctrl_c_while_writing)
    out = tmp_path / "w.npz"
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", out)
    finally:  # train leaves the stop signals ignored after a stop: give pytest its Ctrl-C back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 130
    assert "SIGINT arrived after training, whose end was saved: weights saved to" in result.stderr
    assert mlp.load(out)[1]["epochs_run"] == 1 and json.loads((tmp_path / "w.history.json").read_text())


@posix
def test_a_signal_just_after_the_final_save_never_says_nothing_was_saved(tmp_path, small_data, monkeypatch):
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    say_trained = cli.say_trained

    def ctrl_c_while_saying(*args):  # the weights are saved; the last lines are being printed
        os.kill(os.getpid(), signal.SIGINT)
        return say_trained(*args)

    monkeypatch.setattr(cli, "say_trained", ctrl_c_while_saying)
    out = tmp_path / "w.npz"
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", out)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 130 and "nothing was saved" not in result.stderr
    assert "SIGINT arrived after training, whose end was saved" in result.stderr and mlp.load(out)


@pytest.mark.slow
@posix
def test_a_stop_while_a_checkpoint_is_being_written_keeps_a_whole_one_and_resumes_to_the_same_bytes(
    tmp_path, small_data, monkeypatch
):
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    args = [
        *"train relu --hidden 16 --data".split(),
        small_data,
        *"--batch-size 16 --schedule constant --epochs 4".split(),
    ]
    writer, writes = mlp_guard.checkpoint_writer, []

    def sigterm_half_way(checkpoint, meta):
        write = writer(checkpoint, meta)

        def half_then_signal(f):
            data = io.BytesIO()
            write(data)
            f.write(data.getvalue()[: len(data.getvalue()) // 2])
            writes.append(checkpoint.epoch)
            if len(writes) == 2:  # the second epoch's checkpoint, half on disk
                os.kill(os.getpid(), signal.SIGTERM)
            f.write(data.getvalue()[len(data.getvalue()) // 2 :])

        return half_then_signal

    monkeypatch.setattr(mlp_guard, "checkpoint_writer", sigterm_half_way)
    out = tmp_path / "w.npz"
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run(*args, "--out", out)
    finally:  # train leaves the stop signals ignored after a stop: give pytest its handlers back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 143 and "Traceback" not in result.output, result.output
    assert "interrupted: epoch 2 saved to" in " ".join(result.stderr.split())  # the finished epoch, whole
    assert [p.name for p in tmp_path.iterdir()] == ["w.ckpt.npz"]  # no temp file, no weights
    assert mlp_guard.load_checkpoint(tmp_path / "w.ckpt.npz")[0].epoch == 2
    monkeypatch.setattr(mlp_guard, "checkpoint_writer", writer)
    result = run(*args, "--out", out)
    assert result.exit_code == 0 and "resuming after epoch 2" in result.stderr, result.output
    result = run(*args, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()


def test_weights_and_history_are_written_together(tmp_path, small_data):
    out = tmp_path / "w.npz"
    out.write_bytes(b"precious")
    (tmp_path / "w.history.json").mkdir()  # the history cannot be written: refused before any work
    result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", out)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"cannot write {tmp_path / 'w.history.json'}: it is a folder" in result.stderr
    assert out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.history.json", "w.npz"]  # no temp files


def test_an_output_folder_removed_during_the_run_is_made_again_and_the_run_saved(tmp_path, small_data, monkeypatch):
    folder = tmp_path / "runs" / "today"
    folder.mkdir(parents=True)
    execute = mlp_run.execute

    def folder_removed_while_training(*args, **kwargs):
        done = execute(*args, **kwargs)
        shutil.rmtree(tmp_path / "runs")  # as `rm -r` in another terminal would, before the final save
        return done

    monkeypatch.setattr(mlp_run, "execute", folder_removed_while_training)
    result = run(*"train relu --hidden 8 --epochs 2 --data".split(), small_data, "--out", folder / "w.npz")
    assert result.exit_code == 0, result.stderr
    assert f"warning: the folder {folder} was removed during the run; made it again to save the run in it" in (
        " ".join(result.stderr.split())
    )
    assert mlp.load(folder / "w.npz")[1]["epochs_run"] == 2
    assert sorted(p.name for p in folder.iterdir()) == ["w.history.json", "w.npz"]


def test_a_checkpoint_whose_folder_was_removed_is_written_in_it_made_again(tmp_path):
    folder = tmp_path / "gone"
    failures = []
    save = mlp_guard.checkpoint_saver(folder / "w.ckpt.npz", {"activation": "relu"}, failures.append)
    checkpoint = mlp.fresh_checkpoint(mlp.init([3, 2], "relu", seed=0), seed=0)._replace(epoch=1)
    save(checkpoint, [])
    assert failures == [] and mlp_guard.load_checkpoint(folder / "w.ckpt.npz")[0].epoch == checkpoint.epoch


def test_a_write_failing_half_way_changes_neither_file(tmp_path, small_data, monkeypatch):
    out, history = tmp_path / "w.npz", tmp_path / "w.history.json"
    out.write_bytes(b"old weights")
    history.write_text("old history")

    def disk_full(text):
        def write(f):
            raise OSError(28, "No space left on device")

        return write

    monkeypatch.setattr(mlp_run, "text_writer", disk_full)
    result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", out)
    assert result.exit_code == 1
    assert (
        f"cannot write {history}: No space left on device; nothing was changed, and the run is kept in "
        f"{tmp_path / 'w.ckpt.npz'}: run the same command again to save it" in " ".join(result.stderr.split())
    )
    assert out.read_bytes() == b"old weights" and history.read_text() == "old history"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.ckpt.npz", "w.history.json", "w.npz"]


def test_an_output_that_is_an_input_is_refused(trained, small_data, tmp_path):
    before = trained.read_bytes()
    result = run("eval", trained, "--data", small_data, "--json", trained)
    assert result.exit_code == 2 and "is also an input of this command" in result.stderr
    assert trained.read_bytes() == before


@pytest.mark.slow
def test_long_epochs_are_saved_part_way_and_resume_to_the_same_bytes(tmp_path, small_data, monkeypatch):
    args = [
        *"train relu --hidden 16 --data".split(),
        small_data,
        *"--batch-size 16 --schedule constant --epochs 3 --checkpoint-every 0.000001".split(),
    ]  # as if every batch took a long time
    out, saves = tmp_path / "w.npz", []
    save = mlp_guard.save_checkpoint

    def save_then_stop(path, checkpoint, meta):
        save(path, checkpoint, meta)
        saves.append((checkpoint.epoch, checkpoint.step))
        if saves.count((1, 10)) == 1 and saves[-1] == (1, 10):
            raise mlp_guard.Stop(signal.SIGTERM)  # as SIGTERM would, just after this save

    monkeypatch.setattr(mlp_guard, "save_checkpoint", save_then_stop)
    result = run(*args, "--out", out)
    assert result.exit_code == 143, result.output
    assert (1, 9) in saves and (1, 10) in saves  # part-way through epoch 2, not only at its end
    assert "interrupted: epoch 1 and 10 batches of epoch 2 saved" in " ".join(result.stderr.split())
    monkeypatch.setattr(mlp_guard, "save_checkpoint", save)
    result = run(*args, "--out", out)
    assert result.exit_code == 0 and "resuming after epoch 1 and 10 batches of epoch 2" in " ".join(
        result.stderr.split()
    )
    result = run(*args, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()


@pytest.mark.slow
@posix
def test_kill_9_loses_at_most_the_epoch_in_progress(tmp_path, small_data):
    args = [
        *"train relu --hidden 16 --data".split(),
        small_data,
        *"--batch-size 16 --schedule constant --epochs 6".split(),
    ]
    out = tmp_path / "w.npz"
    with cli_process(*args, "--out", out) as proc:
        wait_for_line(proc.stderr, "epoch 2/")
        proc.kill()  # SIGKILL: nothing runs after it, no handler, no cleanup
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    assert mlp_guard.load_checkpoint(tmp_path / "w.ckpt.npz")[0].epoch >= 2  # written after every epoch
    assert (tmp_path / "w.lock").exists()  # left by the killed run: it must not block the next
    (tmp_path / ".tmp-999999999-w.npz").write_bytes(b"half")  # as a kill during a save leaves it
    result = run(*args, "--out", out)  # the same command again
    assert result.exit_code == 0, result.output
    assert "resuming after epoch" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.history.json", "w.npz"]  # cleaned up
    result = run(*args, "--out", tmp_path / "straight.npz")
    assert out.read_bytes() == (tmp_path / "straight.npz").read_bytes()  # as if never killed


@pytest.mark.slow
def test_a_second_run_with_the_same_out_is_refused_naming_the_first(tmp_path, small_data):
    out = tmp_path / "w.npz"
    with training_process(small_data, out) as first:
        result = run(*"train relu --hidden 8 --data".split(), small_data, "--out", out)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1
        assert f"{out} is being written by another run (PID {first.pid}, started " in result.stderr
        assert "choose another --out" in result.stderr
        assert first.poll() is None  # the first run goes on undisturbed


@posix
def test_outputs_never_replace_inputs_whatever_the_path(trained, small_data, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in small_data.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    (data / "classes.txt").write_text("\n".join("abcdefghij"))
    os.link(data / "train-labels-idx1-ubyte.gz", tmp_path / "hard.gz")  # the same file, another name
    (tmp_path / "link.npz").symlink_to(trained)
    before = {p: p.read_bytes() for p in [*data.iterdir(), trained]}
    for args in (
        ["train", "relu", "--data", data, "--out", data / "train-images-idx3-ubyte.gz"],
        ["train", "relu", "--data", data, "--out", tmp_path / "hard.gz"],
        ["eval", trained, "--data", data, "--json", data / "t10k-labels-idx1-ubyte.gz"],
        ["eval", trained, "--data", data, "--json", data / "classes.txt"],
        ["eval", trained, "--data", data, "--json", tmp_path / "link.npz"],
        ["plot", "confusion", trained, "--data", data, "--out", data / "t10k-images-idx3-ubyte.gz"],
        ["bench", "--data", data, "--limit", "100", "--json", data / "train-images-idx3-ubyte.gz"],
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "is also an input of this command" in result.stderr and result.stderr.count("\n") == 1
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.slow
@posix
def test_resume_refuses_a_checkpoint_made_on_other_data(tmp_path, small_data):
    other = write_dataset(
        tmp_path / "other", *(mlp.read_idx(small_data / (stem + ".gz"))[:300] for stem in mlp.MNIST_FILES.values())
    )
    with training_process(small_data, tmp_path / "w.npz") as proc:  # leaves w.ckpt.npz after epoch 2
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    result = run(
        *"train relu --hidden 16 --data".split(),
        other,
        *"--batch-size 16 --epochs 100000 --out".split(),
        tmp_path / "w.npz",
    )
    assert result.exit_code == 1 and "was trained on other data: data " in result.stderr
    assert "examples 600 (now 300)" in result.stderr and "give the --data it was made on" in result.stderr


@posix
def test_temp_files_of_dead_processes_are_removed_and_others_kept(tmp_path):
    for name in (".tmp-999999999-a.npz", f".tmp-{os.getpid()}-b.npz", ".tmp-x-c", "w.npz"):
        (tmp_path / name).write_bytes(b"")
    assert mlp_data.remove_orphans(str(tmp_path)) == [".tmp-999999999-a.npz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tmp-{os.getpid()}-b.npz", ".tmp-x-c", "w.npz"]


@posix
@pytest.mark.parametrize("how", ["file modes", "a folder the check cannot see is read-only"])
def test_a_read_only_folder_is_one_line_and_nothing_is_written(trained, small_data, tmp_path, monkeypatch, how):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "read-only"
    folder.mkdir()
    if how == "file modes":
        if os.geteuid() == 0:
            pytest.skip("root writes in any folder, whatever its modes; the other case covers root")
        folder.chmod(0o555)
    else:  # root-squashed NFS, ACLs, Windows: os.access says yes and the write is refused
        real = tempfile.mkstemp

        def refused(*args, dir=None, **kwargs):
            if dir and os.path.samefile(dir, folder):
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refused)
    try:
        for args, said in (
            (["predict", trained, "--index", "7", "--data", small_data, "--explain", folder / "why.png"], "why.png"),
            (["eval", trained, "--data", small_data, "--json", folder / "r.json"], "r.json"),
            (["train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", folder / "w.npz"], "w"),
        ):
            result = run(*args)
            assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.output
            assert str(folder / said) in result.stderr and (
                "is not writable" in result.stderr or "Permission denied; nothing was" in result.stderr
            ), result.stderr
            assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_full_disk_under_json_outputs_is_one_line_and_leaves_nothing(trained, small_data, tmp_path, monkeypatch):
    def disk_full(text):
        def write(f):
            raise OSError(28, "No space left on device")

        return write

    monkeypatch.setattr(mlp_run, "text_writer", disk_full)
    for args in (["eval", trained, "--data", small_data], ["gradcheck", "tanh"]):
        result = run(*args, "--json", tmp_path / "r.json")
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert (
            result.stderr
            == f"error: cannot write {tmp_path / 'r.json'}: No space left on device; nothing was changed\n"
        )
    assert not [p for p in tmp_path.iterdir() if p.name != "w.npz"]


@posix
def test_a_stop_signal_is_not_swallowed_by_code_that_catches_exception(monkeypatch):
    # socketserver catches Exception around each request it starts: a Ctrl-C that lands there
    # must still stop the draw server (it once was swallowed, and the server ran on)
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        with pytest.raises(mlp_guard.Stop), mlp_guard.stop_signals():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the handler runs in here, raising Stop
            except Exception:
                pytest.fail("Stop was caught as an Exception")
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


@posix
def test_a_stop_signal_waits_while_the_database_talks_and_is_raised_where_training_runs(monkeypatch):
    # raised inside SQLAlchemy's read of a result, a stop left a cursor half-closed and
    # SQLAlchemy logged a traceback (1 of 30 SIGTERMs to a hard-writing SQLite sweep)
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    monkeypatch.setattr(mlp_guard, "DEFERRED", {"on": False, "pending": None})
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    reached = []
    try:
        with pytest.raises(mlp_guard.Stop) as stop, mlp_guard.stop_signals():
            with mlp_guard.stops_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.5)  # the handler runs in here, and only records the signal
                reached.append("the database's talk ended")
                with mlp_guard.stops_deferred(on=False):  # training: the waiting stop is raised at once
                    reached.append("training started")
        assert stop.value.signum == signal.SIGTERM
        assert reached == ["the database's talk ended"]
        with pytest.raises(mlp_guard.Stop), mlp_guard.stop_signals():
            with mlp_guard.stops_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.5)
                reached.append("the block ended")
        assert reached[-1] == "the block ended"  # raised at the block's end, where nothing is mid-talk
        assert mlp_guard.DEFERRED == {"on": False, "pending": None}
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


@posix
def test_a_signal_ends_any_command_in_one_line(trained, small_data, monkeypatch):
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # as if it arrived while the data is read

    monkeypatch.setattr(cli, "load_data", interrupted)
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run("eval", trained, "--data", small_data)
    finally:  # a stopped command leaves the stop signals ignored: give pytest its own back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 143 and result.stderr == "interrupted (SIGTERM); nothing was saved\n"


@posix
def test_a_stop_a_library_turns_into_another_error_still_ends_the_command_as_that_signal(trained, monkeypatch):
    def library_call(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.5)  # the handler raises Stop in here
        except BaseException:
            raise TypeError("result array type does not match underlying function") from None  # NumPy's words

    monkeypatch.setattr(cli, "load_data", library_call)
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run("eval", trained)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 129 and result.stderr.splitlines()[-1] == "interrupted (SIGHUP); nothing was saved"


@posix
def test_a_signal_while_a_table_is_read_is_never_taken_for_a_word_or_lost(trained, tmp_path, monkeypatch):
    # NumPy's string conversions call back for signals: a Stop raised in there came out as the
    # ValueError of a word (the column then read as words and the signal lost) or a TypeError.
    # Here a stand-in for such a library turns whatever its call raises into a ValueError.
    from numpy_mlp import tables as mlp_tables

    real, sent = mlp_tables.gaps_of, []

    def converting_library(text):
        try:
            if not sent:
                sent.append(os.kill(os.getpid(), signal.SIGTERM))
                time.sleep(0.5)  # the handler runs in here
            return real(text)
        except BaseException:
            raise ValueError("could not convert string to float") from None

    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(["0.5"] * mlp.load(trained)[0]["W1"].shape[0]) for _ in range(3)) + "\n")
    (tmp_path / "p.csv").write_text("before\n")
    monkeypatch.setattr(mlp_tables, "gaps_of", converting_library)
    monkeypatch.setattr(mlp_guard, "RECEIVED", [])
    handlers = {s: signal.getsignal(s) for s in mlp_guard.STOP_SIGNALS}
    try:
        result = run("predict", trained, rows, "--out", tmp_path / "p.csv")
    finally:  # a stopped command leaves the stop signals ignored: give pytest its own back
        for s, handler in handlers.items():
            signal.signal(s, handler)
    assert result.exit_code == 143 and result.stderr == "interrupted (SIGTERM); nothing was saved\n"
    assert (tmp_path / "p.csv").read_text() == "before\n"


@pytest.mark.slow
@posix
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_while_the_command_line_is_importing_is_one_line(tmp_path, signum):
    # the signal sent to itself just as cli.py imports NumPy: deterministic, unlike a timer
    code = (
        "import builtins, os, runpy, signal, sys\nreal = builtins.__import__\n"
        "def signal_on_numpy(name, *args, **kwargs):\n"
        f"    if name == 'numpy':\n        os.kill(os.getpid(), {int(signum)})\n"
        "    return real(name, *args, **kwargs)\n"
        f"builtins.__import__ = signal_on_numpy\nsys.argv = ['cli.py', '--help']\n"
        f"runpy.run_path({str(HERE / 'cli.py')!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 128 + signum and done.stderr == "interrupted; nothing was done\n"


@pytest.mark.slow
@posix
def test_a_closed_pipe_is_exit_0_for_every_command(trained, small_data):
    for command in (f"eval '{trained}' --data '{small_data}'", f"summary '{trained}'"):
        done = subprocess.run(
            ["bash", "-c", f"'{sys.executable}' '{HERE / 'cli.py'}' {command} | head -1; exit ${{PIPESTATUS[0]}}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and done.stderr == "", (command, done.stderr)


def test_stopped_training_leaves_the_finished_epochs_on_screen(tmp_path):
    rows = [{"epoch": 1, "lr": 0.1, "loss": 0.5, "accuracy": 0.9, "test_accuracy": 0.91, "seconds": 0.2}]
    checkpoint = mlp.fresh_checkpoint(mlp.init([4, 2], "relu"), 0)._replace(epoch=1)
    with pytest.raises(cli.typer.Exit) as stop:
        with mlp_view.err_console.capture() as screen:
            cli.save_interrupted(checkpoint, tmp_path / "w.ckpt.npz", {"activation": "relu"}, signal.SIGINT, rows, True)
    assert stop.value.exit_code == 130
    assert "Training (stopped)" in screen.get() and "91.00%" in screen.get()


@posix
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path, small_data):
    old = os.umask(0o027)
    try:
        result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", tmp_path / "w.npz")
        assert result.exit_code == 0, result.output
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o640
        assert (tmp_path / "w.history.json").stat().st_mode & 0o777 == 0o640
        (tmp_path / "w.npz").chmod(0o604)
        result = run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", tmp_path / "w.npz")
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o604
        mlp.save(tmp_path / "m.npz", mlp.init([2, 2], "relu"), {"activation": "relu"})
        assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


@pytest.mark.slow
@posix
def test_a_closed_pipe_ends_the_output_quietly_and_files_are_written(trained, small_data, tmp_path):
    done = subprocess.run(
        f"'{sys.executable}' '{HERE / 'cli.py'}' eval '{trained}' --data '{small_data}' "
        f"--json '{tmp_path / 'r.json'}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr and done.stderr == ""
    assert json.loads((tmp_path / "r.json").read_text())["n"] == 200


def test_a_network_too_big_for_memory_is_refused_before_allocating(tmp_path, small_data):
    assert mlp_run.training_memory([784, 200000, 200000, 10], 128) > 590 * 2**30  # 40e9 params x 4 B x 4 copies (sgd)
    out = tmp_path / "w.npz"
    result = run(*"train relu --hidden 200000 200000 --data".split(), small_data, "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "training 784-200000-200000-10 needs about 599.2 GiB" in result.stderr
    assert "use smaller --hidden sizes" in result.stderr and not out.exists()


# ----------------------------------------------------------------------------- other platforms
NOT_POSIX = r"""
import builtins, io, os, runpy, signal, sys
real_import, real_open = builtins.__import__, io.open


def no_posix_modules(name, *args, **kwargs):
    if name.split(".")[0] in ("fcntl", "termios", "resource"):
        raise ModuleNotFoundError(f"No module named {name!r}")
    return real_import(name, *args, **kwargs)


def no_proc(file, *args, **kwargs):
    if str(file).startswith("/proc"):
        raise FileNotFoundError(2, "No such file or directory", str(file))
    return real_open(file, *args, **kwargs)


for name in ("fcntl", "termios", "resource"):
    sys.modules.pop(name, None)
builtins.__import__, builtins.open, io.open = no_posix_modules, no_proc, no_proc
import pathlib
if hasattr(pathlib, "_NormalAccessor"):  # Python 3.10's pathlib kept its own reference to io.open
    pathlib._NormalAccessor.open = staticmethod(no_proc)
del os.sysconf, signal.SIGHUP
sys.argv = ["cli.py", *sys.argv[1:]]
runpy.run_path(sys.argv.pop(1), run_name="__main__")
"""


@pytest.mark.slow
def test_every_command_runs_without_posix_only_facilities(small_data, tmp_path):
    # /proc, os.sysconf, signal.SIGHUP, fcntl, termios and resource are absent, as on Windows
    # (--threads is left out: threadpoolctl finds libraries through /proc on a Linux kernel,
    # through the platform's own means elsewhere)
    Image = pytest.importorskip("PIL.Image")
    x, _ = mlp.load_idx_dataset(small_data, splits=("test",))
    Image.fromarray(255 - x[0].reshape(28, 28)).save(tmp_path / "digit.png")
    out = tmp_path / "w.npz"
    for args in (
        [*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", out],
        ["eval", out],
        ["predict", out, "--index", "0"],
        ["predict", out, tmp_path / "digit.png"],
        ["draw", out, "--bench", "5"],
        [*"bench --limit 200 --epochs 1 --data".split(), small_data],
    ):
        done = subprocess.run(
            [sys.executable, "-c", NOT_POSIX, str(HERE / "cli.py"), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
        if args[0] == "train":
            assert "note: this platform does not say how much memory is free" in done.stderr


def test_a_checkpoint_is_refused_as_weights_by_every_command_in_one_line(trained, tmp_path):
    params, meta = mlp.load(trained)
    ckpt = tmp_path / "w.ckpt.npz"
    mlp_guard.save_checkpoint(ckpt, mlp.fresh_checkpoint(params, 0)._replace(epoch=1), {"activation": "relu"})
    message = f"error: {ckpt} is the checkpoint of an unfinished train run, not weights: run the same train command"
    for args in (
        ["eval", ckpt],
        ["summary", ckpt],
        ["predict", ckpt, "--index", "0"],
        ["export", ckpt, tmp_path / "m.onnx"],
        ["draw", ckpt, "--bench", "1"],
        ["plot", "weights", ckpt, "--out", tmp_path / "p.png"],
        ["train", "relu", "--init", ckpt, "--epochs", "1", "--out", tmp_path / "f.npz"],
    ):
        result = run(*args)
        assert result.exit_code == 1 and result.stderr.startswith(message) and result.stderr.count("\n") == 1, args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.ckpt.npz"]  # nothing written


@posix
def test_init_weights_are_an_input_that_no_output_may_replace(trained, small_data, tmp_path):
    start = tmp_path / "start.npz"
    start.write_bytes(trained.read_bytes())
    (tmp_path / "link.npz").symlink_to(start)
    for out in (start, tmp_path / "link.npz"):
        result = run(
            *"train relu --hidden 32 --init".split(), start, "--epochs", "1", "--data", small_data, "--out", out
        )
        assert result.exit_code == 2 and "is also an input of this command" in result.stderr
    assert start.read_bytes() == trained.read_bytes()


def test_a_resume_is_refused_when_a_setting_is_missing_on_either_side_or_the_pixels_changed(tmp_path):
    params = mlp.init([4, 3, 2], "relu", seed=0)
    x, y = np.arange(32, dtype=np.uint8).reshape(8, 4), np.array([0, 1] * 4)
    identity = mlp_guard.data_identity({"path": "/d"}, x, y)
    settings = {"activation": "relu", "lr": 0.1, "init": "/w/start.npz"}
    mlp_guard.save_checkpoint(
        tmp_path / "c.npz",
        mlp.fresh_checkpoint(params, 0)._replace(epoch=1),
        {"activation": "relu", "settings": settings, "data_identity": identity},
    )
    assert mlp_guard.load_resumable(tmp_path / "c.npz", settings, identity, 3)[0].epoch == 1
    without_init = {k: v for k, v in settings.items() if k != "init"}
    with pytest.raises(ValueError, match=r"other settings: init '/w/start.npz' \(now None\)"):
        mlp_guard.load_resumable(tmp_path / "c.npz", without_init, identity, 3)
    changed = mlp_guard.data_identity({"path": "/d"}, x[::-1].copy(), y)  # other pixels, same labels and name
    assert changed["labels_sha256"] == identity["labels_sha256"]
    with pytest.raises(ValueError, match=r"trained on other data: features_sha256 "):
        mlp_guard.load_resumable(tmp_path / "c.npz", settings, changed, 3)


def test_a_checkpoint_knows_its_targets_to_the_last_bit_and_its_classes_as_before():
    x, record = np.zeros((3, 2), np.float32), {"name": "mnist"}
    first = mlp_guard.data_identity(record, x, np.array([[1.25], [2.5], [3.75]]))
    within_whole_parts = mlp_guard.data_identity(record, x, np.array([[1.5], [2.25], [3.5]]))
    assert first["labels_sha256"] != within_whole_parts["labels_sha256"]  # a regression's targets changed
    classes = mlp_guard.data_identity(record, x, np.array([0, 1, 2]))["labels_sha256"]
    assert classes == hashlib.sha256(np.array([0, 1, 2], "<i8").tobytes()).hexdigest()[:16]  # older checkpoints resume


# ----------------------------------------------------------------------------- a run, planned
def test_plan_is_what_train_trains_and_records(tmp_path, small_data):
    """plan() chooses what train chooses and nothing is written: the weights train saves start
    from plan's parameters, and record plan's settings."""
    found = mlp_run.load_data(str(small_data))
    asked = mlp.Settings(activation="relu", epochs=1)
    run = mlp_run.plan(asked, given={"epochs"}, found=found, data=str(small_data), hidden=[8], val=100)
    assert run.network["sizes"] == [784, 8, 10] and len(run.y) == 500 and len(run.validation[1]) == 100
    # MNIST's own defaults fit; the temperature is fitted on the 100 validation examples
    assert run.defaults == {"for": "500 pictures of 28 x 28", "chosen": {}, "calibration": 100}
    assert run.params.keys() == mlp.init([784, 8, 10], "relu").keys() and run.checkpoint is None
    expected = mlp.init([784, 8, 10], "relu", seed=0)
    assert all(np.array_equal(run.params[k], expected[k]) for k in expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # planning writes nothing
    out = tmp_path / "w.npz"
    result = run_cli_train(small_data, out, "--hidden", "8", "--val", "100")
    assert result.exit_code == 0, result.output
    _, meta = mlp.load(out)
    assert meta["settings"] == run.meta["settings"] | {"epochs": 1}


def run_cli_train(data, out, *options):
    return run("train", "relu", "--epochs", "1", "--data", data, "--out", out, *options)


def test_plan_refuses_options_that_cannot_apply_in_one_line(small_data, tmp_path):
    found = mlp_run.load_data(str(small_data))
    asked = mlp.Settings(activation="relu", augment_kind="affine")
    table = tmp_path / "t.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    rows = mlp_run.load_data(str(table))
    with pytest.raises(mlp_run.BadOption, match="holds a table, not images; use --augment none"):
        mlp_run.plan(asked, given=set(), found=rows, data=str(table))
    with pytest.raises(mlp_run.BadOption, match="--deslant straighten pictures, and .* is a table"):
        mlp_run.plan(
            asked._replace(augment_kind="none"), given=set(), found=rows, data=str(table), straighten={"deslant": True}
        )
    with pytest.raises(mlp_run.BadOption, match="--label-column species names a CSV column, but .* is idx data"):
        mlp_run.load_data(str(small_data), label_column="species")
    assert found.form == "idx" and rows.form == "csv" and rows.path == str(table)


# ----------------------------------------------------------------------------- checkpoint files, weights records, fitted defaults
def test_a_checkpoint_file_keeps_the_training_state_and_is_told_from_weights(tmp_path, mnist):
    x, y = mnist[0][:640], mnist[1][:640]
    settings = mlp.Settings(activation="relu", epochs=2, batch_size=64, ema=0.9, schedule="constant")
    ends = []
    trained, _ = mlp.train(
        mlp.init([784, 16, 10], "relu"), x, y, settings, callbacks=mlp.Callbacks(on_epoch=lambda r, ck: ends.append(ck))
    )
    mlp_guard.save_checkpoint(tmp_path / "c.npz", ends[-1], {"activation": "relu"})
    checkpoint, meta = mlp_guard.load_checkpoint(tmp_path / "c.npz")
    assert checkpoint.epoch == 2 and meta["checkpoint"]["epoch"] == 2
    for kept, saved in ((checkpoint.params, ends[-1].params), (checkpoint.average, trained)):
        assert all(kept[k].tobytes() == saved[k].tobytes() for k in saved)
    assert checkpoint.state.keys() == ends[-1].state.keys() and checkpoint.rng == ends[-1].rng
    mlp_guard.save_checkpoint(tmp_path / "plain.npz", ends[-1]._replace(average=None), {"activation": "relu"})
    assert mlp_guard.load_checkpoint(tmp_path / "plain.npz")[0].average is None
    mlp.save(tmp_path / "w.npz", trained, {"activation": "relu"})
    with pytest.raises(ValueError, match="not a checkpoint"):
        mlp_guard.load_checkpoint(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="the checkpoint of an unfinished train run, not weights"):
        mlp_run.load_weights(tmp_path / "c.npz")


def test_a_weights_record_is_checked_where_the_toolkit_reads_it_and_mlp_alone_reads_the_network(tmp_path):
    params = mlp.init([4, 3], "relu")
    mlp.save(tmp_path / "w.npz", params, {"activation": "relu", "classes": ["a", "a", "b"]})
    assert mlp.load(tmp_path / "w.npz")[1]["classes"] == ["a", "a", "b"]  # mlp.py reads the network
    with pytest.raises(ValueError, match="not a valid weights file: classes must be a list of distinct names"):
        mlp_run.load_weights(tmp_path / "w.npz")


@pytest.mark.parametrize(
    ("n", "pictures", "batch_size", "expected"),
    [
        (
            60000,
            True,
            None,
            {"normalize": "range", "optimizer": "sgd", "batch_size": 128, "weight_decay": 0.0, "epochs": 10},
        ),
        (
            5000,
            True,
            None,
            {"normalize": "range", "optimizer": "sgd", "batch_size": 128, "weight_decay": 0.0, "epochs": 100},
        ),
        (
            120,
            False,
            None,
            {"normalize": "standard", "optimizer": "adam", "batch_size": 32, "weight_decay": 1e-3, "epochs": 200},
        ),
        (
            14300,
            False,
            None,
            {"normalize": "standard", "optimizer": "adam", "batch_size": 32, "weight_decay": 1e-3, "epochs": 40},
        ),
        (
            1400,
            False,
            8,
            {"normalize": "standard", "optimizer": "adam", "batch_size": 32, "weight_decay": 1e-3, "epochs": 40},
        ),
    ],
)
def test_the_defaults_that_fit_the_data(n, pictures, batch_size, expected):
    assert mlp_run.fitted_defaults(n, pictures, batch_size=batch_size) == expected
    # the same rows with a tenth more held out to stop on: more than 10,000 rows in all are a big table
    big = not pictures and n * 10 // 9 > 10_000
    stopping = mlp_run.fitted_defaults(n, pictures, batch_size=batch_size, validation=n // 9)
    lighter = {"weight_decay": 1e-4, "patience": 20, "epochs": max(80, expected["epochs"])}
    assert stopping == (expected | lighter if big else expected)
    assert mlp_run.early_stopping_rows(n, pictures) == (n // 10 if not pictures and n > 10_000 else 0)
    if pictures and n == 60000:  # MNIST: exactly Settings' own defaults
        settings = mlp.Settings(activation="relu")
        assert {k: getattr(settings, k) for k in expected if k != "normalize"} == {
            k: v for k, v in expected.items() if k != "normalize"
        }


def test_class_weights_as_scikit_learn_computes_them():
    y = np.array([0, 0, 0, 1, 2, 2])
    assert mlp_run.class_weights(y, 3).tolist() == pytest.approx([6 / 9, 6 / 3, 6 / 6])  # n / (k * count)
    assert mlp_run.class_weights(y, 4).tolist() == pytest.approx([6 / 9, 2, 1, 1])  # an absent class weighs 1
    assert mlp_run.class_weights(y, 3, {1: 5}).tolist() == [1, 5, 1]
    assert mlp_run.class_weights(y, 3, None).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="class_weight must be None"):
        mlp_run.class_weights(y, 3, "even")
    with pytest.raises(ValueError, match=r"class_weight maps classes in \[0, 3\)"):
        mlp_run.class_weights(y, 3, {7: 1.0})


@pytest.mark.parametrize(
    "name, x, message",
    [
        ("constant.csv", None, "every feature holds the same value in every training example (1)"),
        ("white.npz", 255, "every pixel holds the same value in every training example (255)"),
        ("black.npz", 0, "every pixel holds the same value in every training example (0)"),
    ],
)
def test_data_with_nothing_to_tell_the_classes_apart_is_refused_in_one_line(tmp_path, name, x, message):
    path = tmp_path / name
    y = np.arange(40) % 2
    if x is None:
        path.write_text("a,b,label\n" + "".join(f"1,1,{label}\n" for label in y))
    else:
        images = np.full((40, 28, 28), x, np.uint8)
        np.savez(path, x_train=images[:30], y_train=y[:30], x_test=images[30:], y_test=y[30:])
    result = run("train", "relu", "--data", path, "--out", tmp_path / "w.npz")
    assert (
        result.exit_code == 1
        and result.stderr == f"error: {path}: {message}, so nothing tells the classes apart; check the data\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_two_classes_of_one_row_each_are_named_before_a_test_set_is_held_out(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("a,b,label\n1,2,cat\n3,4,dog\n")
    result = run("train", "relu", "--data", path, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1, result.output
    assert (
        result.stderr
        == f"error: {path}: classes cat, dog have only one training example, too few to learn from; add examples, or drop them\n"
    )


# ----------------------------------------------------------------------------- weights records edited by hand
def edited(trained, folder, change):
    """A copy of the weights file `trained` whose record `change(meta)` edited."""
    arrays = dict(np.load(trained, allow_pickle=False))
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    path = folder / "edited.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m["preprocessing"].update(kind="zscore"), "unknown or damaged preprocessing"),
        (lambda m: m["preprocessing"].update(invert="yes"), "unknown or damaged preprocessing"),
        (lambda m: m["input"].update(framing={"box": -3, "centre": "left"}), "not a valid weights file: input must be"),
        (lambda m: m.update(classes=["a", "b"]), "not a valid weights file: classes must be"),  # fewer than the outputs
        (lambda m: m.update(version=2), "weights of format version 2; this mlp.py reads version 1"),
        (lambda m: m.update(defaults="lots", sweep=[1, 2]), None),  # records of how it was made: read by no command
        (lambda m: m.update(classes=[f"c{i}" for i in range(12)]), None),  # more names than outputs: the first ones
    ],
)
def test_a_hand_edited_weights_record_is_refused_in_one_line_or_read_as_it_says(trained, tmp_path, change, message):
    path = edited(trained, tmp_path, change)
    before = path.read_bytes()
    for command in (["eval", path], ["summary", path], ["predict", path, "--index", "0"]):
        result = run(*command)
        if message:
            assert result.exit_code == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.output
        else:
            assert result.exit_code == 0, result.output
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["edited.npz"]


def test_a_checkpoint_renamed_or_truncated_is_told_apart_from_weights_in_one_line(tmp_path):
    params = mlp.init([784, 8, 10], "relu")
    mlp_guard.save_checkpoint(
        tmp_path / "w.ckpt.npz", mlp.fresh_checkpoint(params, 0)._replace(epoch=1), {"activation": "relu"}
    )
    renamed = tmp_path / "renamed.npz"
    renamed.write_bytes((tmp_path / "w.ckpt.npz").read_bytes())
    result = run("eval", renamed)
    assert result.exit_code == 1 and "is the checkpoint of an unfinished train run, not weights" in result.stderr
    truncated = tmp_path / "cut.ckpt.npz"
    truncated.write_bytes((tmp_path / "w.ckpt.npz").read_bytes()[:2000])
    result = run("train", "relu", "--hidden", "8", "--epochs", "2", "--resume", truncated, "--out", tmp_path / "x.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "cut.ckpt.npz: not a readable" in result.stderr
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["--augment-end", "0.5"], "--augment-end weakens --augment's distortions, and there are none; give --augment"),
        (["--augment", "shift"], "--augment shift: tiny.npz holds 3 x 3 images, too small to distort (at least 8 x 8)"),
        (["--deslant"], "--deslant: tiny.npz holds 3 x 3 pictures, too small to straighten (at least 8 x 8)"),
    ],
)
def test_options_that_cannot_apply_to_tiny_pictures_are_refused_in_one_line(tmp_path, options, message):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (40, 3, 3)).astype(np.uint8), np.arange(40) % 2
    np.savez(tmp_path / "tiny.npz", x_train=images[:30], y_train=labels[:30], x_test=images[30:], y_test=labels[30:])
    result = run("train", "relu", "--data", tmp_path / "tiny.npz", *options, "--out", tmp_path / "w.npz")
    message = message.replace("tiny.npz", str(tmp_path / "tiny.npz"))
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}"), result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.npz"]


# ----------------------------------------------------------------------------- cores


@pytest.mark.parametrize(
    "cores, others, threads",
    [(2, 0.0, 2), (2, 0.34, 2), (2, 0.35, 1), (2, 1.0, 1), (2, 3.0, 1), (4, 1.0, 3), (4, 1.34, 3), (8, 0.2, 8)],
)
def test_a_run_takes_one_blas_thread_per_core_others_leave_free(cores, others, threads):
    assert mlp_run.threads_for(cores, others) == threads


def blas_threads():
    import threadpoolctl

    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


def test_steering_leaves_the_threads_alone_when_they_are_given_or_there_is_one():
    import threadpoolctl

    with mlp_run.steering(threads=1) as steer:
        assert steer is None
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"), mlp_run.steering() as steer:
        assert steer is None  # the user's OPENBLAS_NUM_THREADS=1, or one core: never raised


@pytest.mark.slow
def test_the_same_command_gives_the_same_bytes_beside_zero_one_and_two_busy_programs(tmp_path, small_data):
    """The default threads follow the load only where the run's products give the same bits on
    any number of threads (MNIST's 784 inputs do not, with some BLAS kernels): whatever else the
    machine runs, one command gives one weights file."""
    from numpy_mlp import bench as mlp_bench

    files = []
    for busy in (0, 1, 2):
        out = tmp_path / f"busy{busy}.npz"
        with mlp_bench.busy_cores(busy):
            done = subprocess.run(
                [sys.executable, str(HERE / "cli.py"), "train", "relu", "--hidden", "32", "--epochs", "3"]
                + ["--data", str(small_data), "--val", "100", "--out", str(out)],
                capture_output=True,
                text=True,
                timeout=600,
            )
        assert done.returncode == 0, done.stderr
        files.append(out.read_bytes())
    assert files[0] == files[1] == files[2]


def test_steering_is_left_off_when_a_product_of_the_run_gives_other_bits_on_fewer_threads(monkeypatch):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if cores < 2 or not Path("/proc/stat").is_file() or min(blas_threads() or [1]) < 2:
        pytest.skip("needs Linux's /proc/stat, two cores and a BLAS on two threads or more")
    products = mlp_run.run_products([784, 32, 10], 128, 500, [100])
    monkeypatch.setattr(mlp_run, "same_bits_on_any_threads", lambda products, blas, top: False)
    with mlp_run.steering(products=products) as steer:
        assert steer is None
    monkeypatch.setattr(mlp_run, "same_bits_on_any_threads", lambda products, blas, top: True)
    with mlp_run.steering(products=products) as steer:
        assert steer is not None


def test_a_runs_products_are_each_layers_forward_and_backward_products_of_its_batches():
    products = mlp_run.run_products([784, 32, 10], 128, 500, [100, 0])
    assert (128, 784, 32, "a @ W", "float32") in products and (116, 784, 32, "a @ W", "float32") in products
    assert (100, 32, 10, "a @ W", "float32") in products  # the validation set scored
    assert (784, 116, 32, "a.T @ dz", "float32") in products and (128, 10, 32, "dz @ W.T", "float32") in products
    assert not any(p[3] == "dz @ W.T" and p[2] == 784 for p in products)  # no delta for the inputs


@pytest.mark.slow
def test_the_blas_threads_give_way_to_busy_programs_and_are_given_back_at_the_end():
    from numpy_mlp import bench as mlp_bench

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if cores < 2 or not Path("/proc/stat").is_file() or min(blas_threads() or [1]) < 2:
        pytest.skip("needs Linux's /proc/stat, two cores and a BLAS on two threads or more")
    before = blas_threads()
    a = np.ones((256, 784), np.float32)
    with mlp_run.steering(seconds=0.1) as steer:

        def steps_until(wanted, seconds=5.0):  # training-like work, the hook after every product
            end = time.monotonic() + seconds
            while time.monotonic() < end and min(blas_threads()) != wanted:
                for _ in range(20):
                    a @ a.T
                steer(0, 1, 0.0)
            return min(blas_threads())

        with mlp_bench.busy_cores(cores):
            assert steps_until(1) == 1  # every core taken: one thread, the caller's
    assert blas_threads() == before  # as many as before on leaving, however busy the machine still is


def test_a_damaged_checkpoint_says_that_deleting_it_starts_over(tmp_path, small_data):
    checkpoint = tmp_path / "w.ckpt.npz"
    checkpoint.write_bytes(b"PK\x03\x04 not what it was")
    result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {checkpoint}: ") and result.stderr.endswith(
        f"; delete {checkpoint} to start the run over\n"
    )
    assert checkpoint.read_bytes() == b"PK\x03\x04 not what it was" and not (tmp_path / "w.npz").exists()
