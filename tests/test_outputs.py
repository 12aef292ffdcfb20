"""Tests of what a command's outputs may replace: a device, a FIFO or /dev/stdout is written
through and stays what it was, a link stays a link (the file it names is replaced), an input
(a sweep's study among them) is never an output, and two runs' files never share a name."""

import json
import os
import stat

import pytest

import mlp
from conftest import posix, run


@pytest.fixture
def weights(trained):
    return trained


def kind(path):
    return stat.S_IFMT(os.lstat(path).st_mode)


@posix
def test_eval_writes_through_a_fifo_and_a_link_to_a_device_and_leaves_them_as_they_were(weights, tmp_path):
    fifo, link = tmp_path / "report.fifo", tmp_path / "null.json"
    os.mkfifo(fifo)
    link.symlink_to(os.devnull)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader waiting, as `cat report.fifo` would be
    try:
        result = run("eval", weights, "--json", fifo)
        assert result.exit_code == 0, result.output
        received = b""
        while chunk := os.read(reader, 65536):
            received += chunk
    finally:
        os.close(reader)
    assert json.loads(received)["n"] == 200 and kind(fifo) == stat.S_IFIFO
    result = run("eval", weights, "--json", link)
    assert result.exit_code == 0, result.output
    assert kind(link) == stat.S_IFLNK and os.readlink(link) == os.devnull
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


@posix
def test_a_link_to_a_file_stays_a_link_and_the_file_it_names_is_written(weights, tmp_path):
    target, link = tmp_path / "target.json", tmp_path / "link.json"
    target.write_text("old")
    link.symlink_to(target.name)
    result = run("eval", weights, "--json", link)
    assert result.exit_code == 0, result.output
    assert kind(link) == stat.S_IFLNK and json.loads(target.read_text())["n"] == 200


@posix
def test_train_refuses_an_out_that_is_a_device_or_a_fifo(tmp_path, small_data):
    fifo = tmp_path / "w.npz"
    os.mkfifo(fifo)
    outs = [fifo]
    if os.geteuid() == 0:  # root may make a device of its own: the null device's numbers
        device = tmp_path / "dev.npz"
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        outs.append(device)
    for out in outs:
        before = kind(out)
        result = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", out)
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            f"error: --out {out} is not a file (a device or a FIFO); give a file name such as weights.npz\n"
        )
        assert kind(out) == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(o.name for o in outs)


def test_weights_named_with_and_without_npz_never_share_a_history(tmp_path, small_data):
    first = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", tmp_path / "w")
    assert first.exit_code == 0, first.output
    history = (tmp_path / "w.history.json").read_bytes()
    second = run("train", "relu", "--hidden", "8", "--epochs", "1", "--data", small_data, "--out", tmp_path / "w.npz")
    assert second.exit_code == 2 and second.stderr == (
        f"error: --out {tmp_path / 'w.npz'}: {tmp_path / 'w'} shares its history and checkpoint names; "
        "choose another --out\n"
    )
    assert (tmp_path / "w.history.json").read_bytes() == history and not (tmp_path / "w.npz").exists()


def test_a_sweep_never_writes_its_weights_over_its_own_study(tmp_path, small_data):
    pytest.importorskip("optuna", reason="sweeps need Optuna: pip install -e '.[sweep]'")
    study = tmp_path / "study.db"
    common = ["sweep", "relu", "--trials", "1", "--epochs", "1", "--hidden", "8", "--data", small_data]
    result = run(*common, "--storage", f"sqlite:///{study}", "--out", tmp_path / "best.npz")
    assert result.exit_code == 0, result.output
    before = study.read_bytes()
    result = run(*common, "--storage", f"sqlite:///{study}", "--out", study)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {study} is also an input of this command")
    assert study.read_bytes() == before


@posix
def test_write_together_follows_links_and_streams_to_what_is_not_a_file(tmp_path):
    target, link, fifo = tmp_path / "t.bin", tmp_path / "l.bin", tmp_path / "f.bin"
    target.write_bytes(b"old")
    link.symlink_to(target)
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mlp.write_together({link: lambda f: f.write(b"new"), fifo: lambda f: f.write(b"streamed")})
        assert os.read(reader, 100) == b"streamed"
    finally:
        os.close(reader)
    assert target.read_bytes() == b"new" and kind(link) == stat.S_IFLNK and kind(fifo) == stat.S_IFIFO
    assert (
        mlp.is_file_or_nothing(link) and mlp.is_file_or_nothing(tmp_path / "none") and not mlp.is_file_or_nothing(fifo)
    )
