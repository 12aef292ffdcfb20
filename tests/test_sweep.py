"""Tests of sweeps (numpy_mlp/sweep.py and `sweep`, `plot sweep`): search spaces, storages and their
passwords, the trial count over many workers, the best trial's command reproducing its score;
with real parts: SQLite in tmp_path, a PostgreSQL server of the test's own, worker processes,
SIGINT and SIGKILL."""

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

import mlp
from conftest import HERE, assert_same_arrays, cli_process, posix, postgres_server, run, wait_for_line
from numpy_mlp import guard as mlp_guard
from numpy_mlp import sweep as mlp_sweep

SPACE_TOML = 'hidden = ["16", "32-16"]\nlr = { low = 0.05, high = 0.3, log = true }\nbatch-size = [32, 64]\n'
# Trials stopped by a signal in the tests below must still be running when it comes: at the
# space's highest learning rate (0.3, batch 32) a trial can diverge within its first epochs, and
# a diverged trial is finished (pruned), so those tests search only steady rates.
STEADY_SPACE_TOML = 'hidden = ["16", "32-16"]\nlr = { low = 0.01, high = 0.05, log = true }\nbatch-size = [32, 64]\n'
SPACE = {"hidden": ["16", "32-16"], "lr": {"low": 0.05, "high": 0.3, "log": True}, "batch_size": [32, 64]}


def space_file(tmp_path, text=SPACE_TOML, name="space.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def sweep_args(small_data, space, *extra, epochs=2):
    return ["sweep", "relu", "--data", small_data, "--epochs", str(epochs), "--space", space, "--study", "relu", *extra]


def load(storage, name="relu"):
    return optuna.load_study(study_name=name, storage=mlp_sweep.open_storage(storage, heartbeat=10))


def states(study):
    return [t.state for t in study.get_trials() if not t.user_attrs.get("surplus")]


# ----------------------------------------------------------------------------- search spaces


def test_a_space_reads_the_same_from_toml_and_json(tmp_path):
    from_toml = mlp_sweep.read_space(space_file(tmp_path))
    from_json = mlp_sweep.read_space(space_file(tmp_path, json.dumps(SPACE), "space.json"))
    assert from_toml == from_json == SPACE


@pytest.mark.parametrize(
    "space, problem",
    [
        ({"width": [1]}, "'width' is not an option a sweep searches"),
        ({"weight_decay": {"low": 0.0, "high": 0.1, "log": True}}, "weight_decay on a log scale needs a low above 0"),
        ({"lr": {"low": 0.3, "high": 0.1}}, "lr's low (0.3) is above its high (0.1)"),
        ({"schedule": ["cosine", "sideways"]}, "schedule 'sideways' is not one of cosine, constant"),
        ({"hidden": ["256-x"]}, "hidden choice '256-x' is not layer sizes"),
        ({"dropout": {"low": 0.0, "high": 1.5}}, "dropout must be"),
        ({"batch_size": [32.5]}, "batch_size 32.5 is not a whole number"),
        ({"lr": "0.1"}, "lr must be a list of choices or {low = ..., high = ..., log = true|false}"),
        ({"optimizer": {"low": 1, "high": 2}}, "optimizer takes names: give them as a list of choices"),
        ({}, "give at least one option"),
        ({"lr": {"low": 0.01, "high": 1, "step": 2}}, "lr must be a list of choices or {low = ..., high = ..."),
        ({"lr": {"low": 0, "high": 1, "log": True}}, "lr must be greater than 0 and finite, got 0"),
        ({"lr": {"low": float("nan"), "high": 1}}, "lr must be greater than 0 and finite, got nan"),
        ({"lr": {"low": 0.1, "high": float("inf")}}, "lr must be greater than 0 and finite, got inf"),
        ({"lr": [True]}, "lr True is not a number"),
        ({"lr": [[0.1]]}, "lr [0.1] is not a number"),
        ({"batch_size": {"low": 0, "high": 10**12}}, "batch_size must be"),
    ],
)
def test_a_bad_space_is_named(space, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        mlp_sweep.checked_space(space)


def test_a_space_of_ten_thousand_choices_or_a_huge_range_is_searched(tmp_path):
    many = mlp_sweep.read_space(space_file(tmp_path, json.dumps({"batch_size": list(range(1, 10001))}), "s.json"))
    wide = mlp_sweep.checked_space({"lr": {"low": 1e-300, "high": 1e300, "log": True}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        assert 1 <= mlp_sweep.suggest(trial, many)["batch_size"] <= 10000
        assert 1e-300 <= mlp_sweep.suggest(trial, wide)["lr"] <= 1e300  # a diverging trial is pruned, not a crash


def test_a_space_file_that_does_not_parse_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"space.toml is not valid TOML"):
        mlp_sweep.read_space(space_file(tmp_path, "lr = {low = "))
    with pytest.raises(ValueError, match=r"a search space is a .toml or .json file"):
        mlp_sweep.read_space(space_file(tmp_path, "", "space.yaml"))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("pictures", [True, False])
def test_the_default_space_is_valid_and_centred_on_the_optimizers_rate(pictures, optimizer):
    space = mlp_sweep.default_space(pictures=pictures, optimizer=optimizer)
    lr = mlp.OPTIMIZERS[optimizer].lr
    assert space["lr"] == {
        "low": float(f"{lr / 10:g}"),
        "high": float(f"{lr * 3:g}"),
        "log": True,
    }  # 0.3, not 0.30000000000000004
    assert ("augment" in space) == pictures  # a table has nothing to distort


def test_a_trial_takes_sizes_and_numbers_of_three_digits():
    trial = optuna.trial.FixedTrial({"hidden": "32-16", "lr": 0.123456, "batch_size": 64})
    assert mlp_sweep.suggest(trial, SPACE) == {"hidden": [32, 16], "lr": 0.123, "batch_size": 64}


@pytest.mark.parametrize(
    "name, value, words",
    [("hidden", [256, 128], ["--hidden", "256", "128"]), ("lr", 0.0123, ["--lr", "0.0123"]),
     ("weight_decay", 1e-05, ["--weight-decay", "1e-05"]), ("batch_size", 64, ["--batch-size", "64"]),
     ("lr", 0.1 + 0.2, ["--lr", "0.30000000000000004"]), ("deslant", True, ["--deslant"]), ("deslant", False, [])],
)  # fmt: skip
def test_a_trials_option_is_written_as_train_reads_it_back(name, value, words):
    assert mlp_sweep.option_words(name, value) == words
    if isinstance(value, float):
        assert float(words[1]) == value


def test_a_storage_password_is_masked_and_postgresql_means_psycopg():
    assert mlp_sweep.masked("postgresql://me:s3cret@db.example/sweeps") == "postgresql://me:***@db.example/sweeps"
    assert mlp_sweep.masked("sqlite:////tmp/x/sweep.db") == "sqlite:////tmp/x/sweep.db"
    assert mlp_sweep.driver_url("postgresql://me@db/x") == "postgresql+psycopg://me@db/x"  # psycopg 3 installed
    assert mlp_sweep.driver_url("sqlite:///x.db") == "sqlite:///x.db"


# ----------------------------------------------------------------------------- sweep, on SQLite


def best_line(stdout):
    return re.search(r"best trial (\d+): validation accuracy ([\d.]+)%", stdout)


def test_a_sweep_finds_a_best_trial_whose_command_reproduces_it(tmp_path, small_data):
    space = space_file(tmp_path)
    result = run(*sweep_args(small_data, space, "--trials", "3"))
    assert result.exit_code == 0, result.output
    storage = mlp_sweep.default_storage(tmp_path / "sweep.npz")
    study = load(storage)
    assert states(study) == [TrialState.COMPLETE] * 3  # 3 trials: fewer than the pruner waits for
    best = max(study.trials, key=lambda t: t.value)
    found = best_line(result.stdout)
    assert (int(found[1]), found[2]) == (best.number, f"{100 * best.value:.2f}")
    assert "trained again here the same" in result.stdout
    command = result.stdout.split("the best trial's train command:")[1].strip()
    assert best.user_attrs["train_command"] == command  # each trial carries its own, for Optuna's dashboard
    assert all(t.user_attrs["scores"]["val_accuracy"] == t.value for t in study.trials)
    assert all(t.user_attrs["scores"]["epochs_run"] == 2 for t in study.trials)
    for t in study.trials:  # said as each starts and ends (stderr is not a terminal here)
        assert f"trial {t.number} started (" in result.stderr
        assert re.search(rf"trial {t.number} complete: validation accuracy [\d.]+% in [\d.]+ s \(.*\); ", result.stderr)
    assert "3 of 3 trials finished (3 complete, 0 pruned); best validation accuracy" in result.stderr
    assert command.split()[1:3] == ["train", "relu"]  # after the program's name, as it was started
    words = shlex.split(command)[1:]
    again = run(*words, "--out", tmp_path / "again.npz")  # the command, as the user runs it
    assert again.exit_code == 0, again.output
    assert f"(best validation accuracy {found[2]}%)" in again.stdout
    params, meta = mlp.load(tmp_path / "sweep.npz")
    again_params, again_meta = mlp.load(tmp_path / "again.npz")
    assert_same_arrays(params, again_params)  # the same computation on the same machine
    assert meta["sweep"] == {"study": "relu", "storage": storage, "trial": best.number, "val_accuracy": best.value}
    assert meta["test_accuracy"] == again_meta["test_accuracy"]
    assert json.loads((tmp_path / "sweep.history.json").read_text())[-1]["epoch"] == 2

    more = run(*sweep_args(small_data, space, "--trials", "4"))  # the same study, continued
    assert more.exit_code == 0, more.output
    study = load(storage)
    assert len(states(study)) == 4
    assert [t.params for t in study.trials[:3]] == [t.params for t in load(storage).trials[:3]]
    shown = run("sweep", "relu", "--study", "relu", "--show")
    assert shown.exit_code == 0 and re.search(
        r"study 'relu' \(sqlite:///.*sweep.db\): 4 trials: 4 complete", shown.stdout
    )
    assert re.search(r"its train command:\n  \S+ train relu --data", shown.stdout)
    other = run(*sweep_args(small_data, space, "--trials", "4", "--dropout", "0.1"))
    assert other.exit_code == 2
    assert other.stderr.strip().splitlines() == [
        f"error: study 'relu' was made with other train options (relu --data {small_data} --epochs 2); give the same "
        "ones to continue it, or another --study"
    ]
    plotted = run("plot", "sweep", "--out", tmp_path / "sweep.png")
    assert plotted.exit_code == 0 and (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_given_option_is_held_fixed_said_and_names_the_study(tmp_path, small_data):
    args = ["sweep", "relu", "--data", small_data, "--epochs", "2", "--space", space_file(tmp_path), "--trials", "1"]
    result = run(*args, "--lr", "0.1")
    assert result.exit_code == 0, result.output
    assert "--lr given: held fixed, not searched" in result.stderr
    name = f"relu --data {small_data} --epochs 2 --lr 0.1"  # the default name: the command's fixed options
    (trial,) = load(mlp_sweep.default_storage(tmp_path / "sweep.npz"), name).trials
    assert set(trial.params) == {"hidden", "batch_size"} and "--lr 0.1 " in result.stdout
    assert run(*args, "--lr", "0.2").exit_code == 0  # another command: another study beside it
    assert sorted(mlp_sweep.study_names(mlp_sweep.open_storage(mlp_sweep.default_storage("sweep.npz"), 10))) == [
        name,
        name.replace("0.1", "0.2"),
    ]
    plotted = run("plot", "sweep")  # the study made last
    assert plotted.exit_code == 0 and (tmp_path / "sweep.png").is_file()
    assert run("plot", "sweep", "--study", "relu").stderr.startswith("error: no study 'relu' in sqlite:///")


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--resume", "x.ckpt.npz"], 2, "error: --resume: a sweep's trials each start afresh; leave it out"),
        (["--storage", "nonsense"], 2, "error: --storage 'nonsense' is not a URL: give one such as"),
        (
            ["--storage", "postgresql://me:pw-77@127.0.0.1:1/x"],
            1,
            "error: cannot open the sweep storage postgresql://me:***@127.0.0.1:1/x: connection failed",
        ),
        (["--show"], 1, "error: no sweep.db beside sweep.npz: run a sweep first, or give --storage"),
        (
            ["--trials", "3", "--space", "missing.toml"],
            1,
            "error: cannot read the search space missing.toml: No such file",
        ),
        (["--trails", "3"], 2, "error: No such option: --trails"),
        (["--storage", "sqlite://"], 2, "error: --storage sqlite:// is an in-memory database, which the sweep's"),
        (["--storage", "sqlite:///:memory:"], 2, "error: --storage sqlite:///:memory: is an in-memory database"),
        (
            ["--storage", "postgresql://me:pw-77@[::1/x"],
            2,
            "error: --storage postgresql://... is not a URL SQLAlchemy can read (its host, port or database name?)",
        ),
        (["--storage", "postgresql://me:pw-77@db:port/x"], 2, "error: --storage postgresql://... is not a URL"),
        (["--trials", "0"], 2, "error: Invalid value for '--trials': Input should be greater than or equal to 1"),
        (["--jobs", "0"], 2, "error: Invalid value for '--jobs': Input should be greater than or equal to 1"),
    ],
)
def test_a_sweep_refuses_bad_input_in_one_line_before_training(tmp_path, small_data, args, code, message):
    result = run("sweep", "relu", "--data", small_data, *args)
    assert result.exit_code == code
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(message), result.stderr
    assert "pw-77" not in result.output and "training" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"] * (tmp_path / "cache").exists()  # no sweep.db


def test_a_bad_space_file_is_one_line(tmp_path, small_data):
    result = run(*sweep_args(small_data, space_file(tmp_path, "width = [1]\n")))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'space.toml'}: 'width' is not an option a sweep searches ({', '.join(mlp_sweep.SEARCHABLE)})"
    )
    assert not (tmp_path / "sweep.db").exists()  # refused before the storage's file is made


def test_more_jobs_than_trials_start_only_as_many_workers(tmp_path, small_data):
    result = run(*sweep_args(small_data, space_file(tmp_path), "--trials", "1", "--jobs", "100", epochs=1))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "--jobs 100: 1 worker, as many as --trials"
    assert len(states(load(mlp_sweep.default_storage(tmp_path / "sweep.npz")))) == 1


def test_a_second_run_with_the_same_out_is_refused_before_any_file_is_made(tmp_path, small_data):
    with mlp_guard.one_run_per_output(tmp_path / "sweep.lock", tmp_path / "sweep.npz"):  # a sweep (or train) running
        result = run(*sweep_args(small_data, space_file(tmp_path), "--trials", "1"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: sweep.npz is being written by another run (PID {os.getpid()}, started ")
    assert not (tmp_path / "sweep.db").exists() and not (tmp_path / "sweep.npz").exists()


def wait_for_finished(storage, count, timeout=120):
    """Poll the study 'relu' until `count` of its trials are complete or pruned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KeyError):  # not made yet
            if sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states(load(storage))) >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} trials finished within {timeout} s")


def test_the_same_sweep_started_again_here_joins_its_study_and_waits_to_save_the_best(tmp_path, small_data):
    args = sweep_args(small_data, space_file(tmp_path), "--trials", "2", epochs=1)
    what = f"sweep 'relu' on {mlp_sweep.default_storage(tmp_path / 'sweep.npz')}"
    first_worker = contextlib.ExitStack()  # holds --out as the first worker would
    first_worker.enter_context(mlp_guard.one_run_per_output(tmp_path / "sweep.lock", tmp_path / "sweep.npz", what=what))
    try:
        with cli_process(*args) as proc:
            joined = wait_for_line(proc.stderr, "sweep.npz is held")
            assert joined == (
                f"sweep.npz is held by another worker of this study (PID {os.getpid()}, started "
                f"{joined.split('started ')[1].split(')')[0]}): this one shares its trials, and saves the best "
                "trial only if that worker has not\n"
            )
            wait_for_finished(mlp_sweep.default_storage(tmp_path / "sweep.npz"), 2)
            time.sleep(1)  # it now waits for the first worker to let --out go
            assert proc.poll() is None and not (tmp_path / "sweep.npz").exists()
            first_worker.close()
            out, err = proc.communicate(timeout=120)
    finally:
        first_worker.close()
    assert proc.returncode == 0, err
    best = mlp_sweep.best_trial(load(mlp_sweep.default_storage(tmp_path / "sweep.npz")))
    assert f"best trial {best.number}: " in out and "weights saved to sweep.npz" in out
    assert mlp.load(tmp_path / "sweep.npz")[1]["sweep"]["trial"] == best.number


def test_another_kind_of_run_holding_the_out_still_refuses_a_sweep(tmp_path, small_data):
    what = "sweep 'tanh' on sqlite:///elsewhere.db"  # another study's sweep with this --out
    with mlp_guard.one_run_per_output(tmp_path / "sweep.lock", tmp_path / "sweep.npz", what=what):
        result = run(*sweep_args(small_data, space_file(tmp_path), "--trials", "1"))
    assert result.exit_code == 1 and "is being written by another run" in result.stderr


@pytest.mark.slow
@posix
def test_two_workers_of_one_sweep_started_at_once_here_both_end_well_and_save_the_best_once(tmp_path, small_data):
    args = sweep_args(small_data, space_file(tmp_path, STEADY_SPACE_TOML), "--trials", "4", epochs=3)
    with cli_process(*args) as first, cli_process(*args) as second:
        ended = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, ended
    study = load(mlp_sweep.default_storage(tmp_path / "sweep.npz"))
    assert states(study).count(TrialState.COMPLETE) + states(study).count(TrialState.PRUNED) == 4
    best = mlp_sweep.best_trial(study)
    joiners = [out for out, err in ended if "is held by another worker of this study" in err]
    assert len(joiners) == 1  # the other held --out
    assert "another worker of this study trained it again and saved it to sweep.npz" in joiners[0]
    assert mlp.load(tmp_path / "sweep.npz")[1]["sweep"]["trial"] == best.number
    assert not (tmp_path / "sweep.lock").exists()


def test_a_read_only_or_corrupt_sweep_db_is_one_line_and_unchanged(tmp_path, small_data):
    args = sweep_args(small_data, space_file(tmp_path), "--trials", "1", epochs=1)
    assert run(*args).exit_code == 0
    db = tmp_path / "sweep.db"
    before = db.read_bytes()
    # SQLite's read-only mode: a read-only file as any user (root too) meets it; file modes do not bind root
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    result = run(*args, "--trials", "2", "--storage", read_only)
    assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.output
    assert result.stderr == (
        f"error: cannot use the sweep storage {read_only}: attempt to write a readonly database; give another --storage\n"
    )
    shown = run("sweep", "relu", "--study", "relu", "--show", "--storage", read_only)  # reading needs no writing
    assert shown.exit_code == 0 and "1 trials: 1 complete" in shown.stdout, shown.output
    assert db.read_bytes() == before
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)  # a header, then garbage
    for more in ([], ["--show"]):
        result = run(*args, *more)
        assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.output
        assert result.stderr.startswith(f"error: cannot open the sweep storage sqlite:///{db}: "), result.stderr
    assert db.read_bytes() == b"SQLite format 3\x00" + b"\xff" * 4000


# ----------------------------------------------------------------------------- real processes and signals


def wait_for_running(storage, name, worker_pid=None, timeout=120):
    """The number of a trial running (with at least one epoch reported) in the study, by the
    worker of that pid if given; polls the storage."""
    deadline, opened = time.monotonic() + timeout, mlp_sweep.open_storage(storage, heartbeat=10)
    while time.monotonic() < deadline:
        try:
            study = optuna.load_study(study_name=name, storage=opened)
        except KeyError:  # not made yet
            study = None
        for t in study.get_trials(states=(TrialState.RUNNING,)) if study else ():
            mine = worker_pid is None or t.user_attrs.get("worker", "").endswith(f":{worker_pid}")
            if mine and t.intermediate_values:
                return t.number
        time.sleep(0.2)
    raise AssertionError(f"no trial running in study {name} within {timeout} s")


def sweep_process(*args, env=None):
    return subprocess.Popen(
        [sys.executable, str(HERE / "cli.py"), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
@posix
def test_ctrl_c_records_the_trial_as_failed_in_one_line(tmp_path, small_data):
    space = space_file(tmp_path, STEADY_SPACE_TOML)
    storage = mlp_sweep.default_storage(tmp_path / "sweep.npz")
    with cli_process(*sweep_args(small_data, space, "--trials", "2", "--epochs", "100000")) as proc:
        number = wait_for_running(storage, "relu", proc.pid)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        f"SIGINT: sweep stopped; trial {number} marked failed; study 'relu' keeps 0 finished trials: "
        "run the same command to continue it"
    )
    assert states(load(storage)) == [TrialState.FAIL]


@pytest.mark.slow
@posix
def test_local_workers_share_one_study_with_their_threads_divided(tmp_path, small_data):
    # Trials of about 2 s: a worker that starts a few seconds before the other (a loaded machine)
    # cannot take all four before the other asks for one.
    args = sweep_args(small_data, space_file(tmp_path), "--trials", "4", "--jobs", "2", epochs=60)
    with cli_process(*args) as proc:
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    study = load(mlp_sweep.default_storage(tmp_path / "sweep.npz"))
    finished = {TrialState.COMPLETE, TrialState.PRUNED}  # which one the median pruner stops depends on timing
    assert len(states(study)) == 4 and set(states(study)) <= finished and TrialState.COMPLETE in states(study)
    workers = {t.user_attrs["worker"] for t in study.trials if not t.user_attrs.get("surplus")}
    assert len(workers) == 2 and str(proc.pid) not in {w.split(":")[1] for w in workers}
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert out.rstrip().endswith(f"--threads {threads}") and "trained again here the same" in out


@pytest.mark.slow
@posix
def test_a_stop_signal_to_a_sweep_reaches_its_workers_and_leaves_none_behind(tmp_path, small_data):
    """SIGTERM to the sweep alone (not its process group, as `kill` sends it): it passes the
    signal on, each worker records its trial as failed, and none outlives the sweep."""
    storage = mlp_sweep.default_storage(tmp_path / "sweep.npz")
    args = sweep_args(
        small_data, space_file(tmp_path, STEADY_SPACE_TOML), "--trials", "2", "--epochs", "100000", "--jobs", "2"
    )
    with cli_process(*args) as proc:
        opened = mlp_sweep.open_storage(storage, heartbeat=10)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(KeyError):
                running = optuna.load_study(study_name="relu", storage=opened).get_trials(states=(TrialState.RUNNING,))
                if len(running) == 2 and all(t.intermediate_values for t in running):
                    break
            time.sleep(0.2)
        workers = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in running}
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (
        "SIGTERM: sweep stopped; trials 0, 1 marked failed; study 'relu' keeps 0 finished trials: "
        "run the same command to continue it"
    )
    assert states(load(storage)) == [TrialState.FAIL] * 2
    for pid in workers:  # gone, not left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
@posix
def test_workers_of_a_sweep_killed_with_sigkill_record_their_trials_and_end(tmp_path, small_data):
    """kill -9 of the sweep (no handler runs, none passes the stop on): its workers see it gone,
    record their trials as failed and end, instead of running on alone."""
    storage = mlp_sweep.default_storage(tmp_path / "sweep.npz")
    args = sweep_args(
        small_data, space_file(tmp_path, STEADY_SPACE_TOML), "--trials", "2", "--epochs", "100000", "--jobs", "2"
    )
    with cli_process(*args) as proc:
        opened = mlp_sweep.open_storage(storage, heartbeat=10)
        deadline, running = time.monotonic() + 120, []
        while time.monotonic() < deadline and not (len(running) == 2 and all(t.intermediate_values for t in running)):
            with contextlib.suppress(KeyError):
                running = optuna.load_study(study_name="relu", storage=opened).get_trials(states=(TrialState.RUNNING,))
            time.sleep(0.2)
        workers = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in running}
        proc.kill()
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.2)
    assert len(workers) == 2 and not any(alive(pid) for pid in workers)
    assert states(load(storage)) == [TrialState.FAIL] * 2


def alive(pid):
    """Whether process pid runs (a zombie, ended but not yet reaped by its new parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@posix
def test_postgresql_workers_survive_a_sigkill_and_finish_the_study_exactly(tmp_path, small_data):
    """Two sweeps in separate processes, as on two machines, share one study on a real
    PostgreSQL server; one is killed with SIGKILL mid-trial; the other fails that trial once
    its heartbeat is three beats late, runs it again, and finishes exactly 6 trials."""
    space = space_file(tmp_path)
    with postgres_server(tmp_path) as url:
        password = re.search(r":([^:@/]+)@", url)[1]
        # trials long enough (150 epochs) that the one found running is still running when the kill lands
        args = sweep_args(small_data, space, "--trials", "6", "--epochs", "150", "--heartbeat", "1")
        first = sweep_process(*args, "--out", tmp_path / "first.npz", env={mlp_sweep.ENV_STORAGE: url})
        second = sweep_process(*args, "--out", tmp_path / "second.npz", env={mlp_sweep.ENV_STORAGE: url})
        try:
            wait_for_running(url, "relu", first.pid)
            first.kill()  # SIGKILL: no handler runs, the trial stays "running" in the database
            first.communicate(timeout=30)
            (killed,) = [  # the trial the kill cut short, read before three missed beats fail it
                t.number
                for t in load(url).get_trials(states=(TrialState.RUNNING,))
                if t.user_attrs.get("worker", "").endswith(f":{first.pid}")
            ]
            out, err = second.communicate(timeout=300)
        finally:
            for proc in (first, second):
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate(timeout=30)
        assert second.returncode == 0, err
        study = load(url)
        trials = {t.number: t for t in study.get_trials() if not t.user_attrs.get("surplus")}
        finished = [t for t in trials.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(finished) == 6  # exactly: no worker started a seventh
        assert trials[killed].state == TrialState.FAIL
        retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed]
        assert len(retries) == 1 and retries[0].params == trials[killed].params  # run again once, by the other
        assert retries[0].user_attrs["worker"].endswith(f":{second.pid}")
        assert len({t.number for t in finished}) == 6
        assert all(t.user_attrs["worker"].rsplit(":", 1)[1] in (str(first.pid), str(second.pid)) for t in finished)
        complete = [t for t in finished if t.state == TrialState.COMPLETE]
        best = max(complete, key=lambda t: (t.value, -t.number))
        assert best_line(out)[1] == str(best.number)
        for text in (out, err, (tmp_path / "second.npz").read_bytes().decode("latin-1")):
            assert password not in text
        assert "postgresql://postgres:***@/postgres?host=" in out
        _, meta = mlp.load(tmp_path / "second.npz")
        assert (
            meta["sweep"]["storage"].startswith("postgresql://postgres:***@") and meta["sweep"]["trial"] == best.number
        )


def test_a_workers_command_line_never_holds_the_storage_url(tmp_path):
    """ps shows every user's command lines: workers get the URL, password and all, in their
    environment (readable by their user only)."""
    url = "postgresql://me:pw-77@db.example/sweeps"
    command = mlp_sweep.worker_command(
        ["--epochs", "2"], "relu", trials=2, study="s", space=None,  # train's options only
        out=tmp_path / "o.npz", heartbeat=10, threads=1,
    )  # fmt: skip
    seen = tmp_path / "seen.json"
    report = (
        f"import json, os, sys; json.dump([sys.argv, os.environ['{mlp_sweep.ENV_STORAGE}']], open({str(seen)!r}, 'w'))"
    )
    assert mlp_sweep.local_workers([[sys.executable, "-c", report, *command[3:]]], url) == [0]
    argv, environ = json.loads(seen.read_text())
    assert environ == url and not any("pw-77" in word or word == "--storage" for word in argv + command)


# ----------------------------------------------------------------------------- workers started together
JOIN = """
import sys, time
from numpy_mlp import sweep as mlp_sweep
url, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))  # every worker opens the empty database at this instant
storage = mlp_sweep.open_storage(url, heartbeat=10)
fixed = {"activation": "relu", "options": {"epochs": 1}, "val": 100}
study = mlp_sweep.open_study(storage, "relu --epochs 1", fixed=fixed, space={"dropout": {"low": 0.0, "high": 0.3, "log": False}})
print(study._study_id, study.user_attrs["fixed"] == fixed)
"""


def start_together(url, n=10, timeout=120):
    """n processes that open `url` and its study at the same instant (as a job array starts
    them): their (exit codes, outputs)."""
    start = time.time() + 3.0  # after every interpreter has imported Optuna
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", JOIN, url, str(start)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(n)
    ]
    try:
        outputs = [w.communicate(timeout=timeout)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    return [w.returncode for w in workers], outputs


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_ten_workers_started_together_on_an_empty_database_all_join_one_study(tmp_path, database):
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres_server(tmp_path)) if database == "postgresql" else None
        for attempt in range(
            2
        ):  # twice: 20 tries each gave no failure, where before 2-6 of 10 workers failed every time
            if server:  # an empty database each time: Optuna's tables dropped
                engine = optuna.storages.RDBStorage(mlp_sweep.driver_url(server)).engine
                with engine.begin() as connection:
                    connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
                engine.dispose()
            url = server or f"sqlite:///{tmp_path / f'sweep-{attempt}.db'}"
            codes, outputs = start_together(url)
            assert codes == [0] * 10, outputs
            assert len(set(outputs)) == 1 and outputs[0].split()[1] == "True", outputs
