"""Tests of bench (numpy_mlp/bench.py): its measurements and JSON, the PyTorch and scikit-learn
references when they are installed, and mlp's gradients against PyTorch's."""

import json
import os
import sys

import numpy as np
import pytest

import mlp
from conftest import assert_close_arrays, run, small_slice
from numpy_mlp import bench as mlp_bench
from numpy_mlp import run as mlp_run


@pytest.mark.slow
def test_bench_trains_the_same_recipe_in_pytorch_when_installed(small_data, tmp_path):
    pytest.importorskip("torch")
    result = run(
        *"bench --hidden 16 --optimizer nesterov --dropout 0.2 --warmup 1 --epochs 2 --data".split(),
        small_data,
        "--torch",
        "--json",
        tmp_path / "b.json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert len(report["torch_epoch_seconds"]) == 2 and 0.25 < report["torch_test_accuracy"] <= 1  # chance: 0.1
    assert report["optimizer"] == "nesterov" and report["dropout"] == 0.2 and 0.25 < report["test_accuracy"] <= 1
    # PyTorch's epochs ran in turn with ours: each of ours is divided by the one after it
    ratios = [s / t for s, t in zip(report["epoch_seconds"], report["torch_epoch_seconds"])]
    assert report["ratios_to_torch"] == ratios and report["ratio_to_torch"] == float(np.median(ratios))
    assert f"PyTorch's after it ({min(ratios):.2f} to {max(ratios):.2f})" in " ".join(result.stdout.split())


@pytest.mark.slow
def test_bench_fits_scikit_learns_mlp_on_the_same_split_when_installed(small_data, tmp_path):
    pytest.importorskip("sklearn")
    result = run(
        *"bench --hidden 16 --epochs 1 --data".split(),
        small_data,
        *"--sklearn --sklearn-epochs 20 --json".split(),
        tmp_path / "b.json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["sklearn_epochs"] == 20 and 0.5 < report["sklearn_test_accuracy"] <= 1  # chance: 0.1
    assert report["sklearn_fit_seconds"] > 0 and "sklearn acc" in result.stdout


# A reference process speaking stepped_reference's protocol, without PyTorch: it answers each
# epoch it is asked for with the seconds from its argument list, then gives its result.
STEPPED = """
import json, os, pathlib, sys
pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))
print(json.dumps({"ready": True}), flush=True)
for seconds in map(float, sys.argv[2:]):
    if seconds < 0:
        sys.exit("the reference broke")
    if seconds > 100:
        sys.stdin.readline(); sys.stdin.readline()  # never answers
    sys.stdin.readline()
    print(json.dumps({"seconds": seconds}), flush=True)
print(json.dumps({"test_accuracy": 0.5}), flush=True)
"""


def stepped(tmp_path, *seconds):
    return [sys.executable, "-c", STEPPED, tmp_path / "pid", *map(str, seconds)]


def assert_ended(tmp_path):
    """The reference process whose pid is in tmp_path/pid is gone (POSIX: signal 0 finds no process)."""
    if os.name == "posix":
        with pytest.raises(ProcessLookupError):
            os.kill(int((tmp_path / "pid").read_text()), 0)


def test_a_stepped_reference_runs_one_epoch_each_time_it_is_asked_and_is_ended_after(tmp_path):
    with mlp_bench.stepped_reference("fake", stepped(tmp_path, 0.25, 0.5)) as (epoch, last):
        assert [epoch(), epoch()] == [0.25, 0.5] and last() == {"test_accuracy": 0.5}
    with mlp_bench.stepped_reference("fake", stepped(tmp_path, 0.25, 0.5, 1.0)) as (epoch, last):
        assert epoch() == 0.25  # and then bench stops early (an error of its own): the reference goes too
    assert_ended(tmp_path)


def test_a_stepped_reference_that_fails_or_hangs_is_one_error_and_is_ended(tmp_path):
    with pytest.raises(ValueError, match=r"^the fake reference run failed: the reference broke$"):
        with mlp_bench.stepped_reference("fake", stepped(tmp_path, 0.25, -1)) as (epoch, last):
            assert epoch() == 0.25
            epoch()
    with pytest.raises(ValueError, match=r"^the fake reference run took over 1 s and was stopped$"):
        with mlp_bench.stepped_reference("fake", stepped(tmp_path, 1000), timeout=1) as (epoch, last):
            epoch()
    assert_ended(tmp_path)


def test_bench_divides_each_epoch_by_the_reference_epoch_after_it(mnist_raw):
    x, y, x_test, y_test = small_slice(mnist_raw, 300, 100)
    x, x_test = x.reshape(300, -1), x_test.reshape(100, -1)
    prep = mlp.fit_preprocessing(x, pictures=True)
    settings = mlp.check_settings(mlp.Settings(activation="relu", epochs=3))
    torch_seconds = iter([0.5, 0.25, 2.0])
    planned = dict(settings=settings, defaults={}, taken={}, found=None, x=x, y=y, y_test=y_test, source={})
    planned |= dict(validation=None, network={"sizes": [784, 8, 10], "preprocessing": prep}, extras={})
    planned |= dict(checkpoint=None, rows=[], params=mlp.init([784, 8, 10], "relu"), meta={}, notes=[])
    trained = mlp_run.Run(**planned, transform=None, sample_weight=None)
    report = mlp_bench.measure(trained, x_test=x_test, torch_epoch=lambda: next(torch_seconds))
    ratios = [s / t for s, t in zip(report["epoch_seconds"], [0.5, 0.25, 2.0])]
    assert report["torch_epoch_seconds"] == [0.5, 0.25, 2.0] and report["torch_epoch_seconds_median"] == 0.5
    assert report["ratios_to_torch"] == ratios and report["ratio_to_torch"] == float(np.median(ratios))
    assert "ratios_to_torch" not in mlp_bench.measure(trained, x_test=x_test)


# ----------------------------------------------------------------------------- bench
@pytest.mark.slow
def test_bench_runs_on_a_slice_and_writes_json(tmp_path, small_data):
    result = run(*"bench --hidden 16 8 --epochs 2 --data".split(), small_data, "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["sizes"] == [784, 16, 8, 10] and len(report["epoch_seconds"]) == 2
    assert report["epoch_seconds_median"] > 0 and report["floor_seconds"] > 0
    # the floor is timed after every epoch, and each epoch is divided by its own floor
    seconds, floors, ratios = report["epoch_seconds"], report["floor_seconds_each"], report["ratios_to_floor"]
    assert len(floors) == 2 and ratios == [s / f for s, f in zip(seconds, floors)]
    assert report["ratio_to_floor"] == float(np.median(ratios)) and report["floor_seconds"] == float(np.median(floors))
    notes = " ".join(result.stdout.split())
    assert f"the floor timed after it ({min(ratios):.2f} to {max(ratios):.2f})" in notes
    # 2 * (forward + weight gradient per layer, input gradient but the first) per example
    assert report["matmul_flops_per_epoch"] == 2 * 600 * (3 * (16 * 8 + 8 * 10) + 2 * 784 * 16)
    # the inputs as held: 600 + 200 pictures of 784 bytes (uint8, scaled batch by batch)
    inputs = {"rows": 800, "features": 784, "megabytes": 800 * 784 / 2**20, "dtype": "uint8", "table": False}
    assert report["inputs"] == inputs and report["data_seconds"] > 0
    assert f"data: read in {report['data_seconds']:.2f} s into 800 x 784 uint8 inputs (0.6 MB);" in notes


def test_bench_reports_a_tables_encoded_inputs_as_float32(tmp_path):
    rng = np.random.default_rng(0)
    words = rng.choice(["red", "green", "blue"], 300)
    rows = [f"{a:.3f},{w},{int(a > 0) ^ (w == 'red')}" for a, w in zip(rng.normal(size=300), words)]
    (tmp_path / "t.csv").write_text("size,colour,label\n" + "\n".join(rows) + "\n")
    result = run(*"bench --hidden 8 --epochs 1 --data".split(), tmp_path / "t.csv", "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    inputs = json.loads((tmp_path / "b.json").read_text())["inputs"]
    assert inputs == {"rows": 300, "features": 4, "megabytes": 300 * 4 * 4 / 2**20, "dtype": "float32", "table": True}
    assert "data: read and encoded in " in " ".join(result.stdout.split())


@pytest.mark.slow
def test_bench_counts_the_augmentation_in_each_epoch_and_times_the_test_evaluation(tmp_path, small_data):
    result = run(
        *"bench --hidden 16 --epochs 1 --data".split(),
        small_data,
        "--augment",
        "elastic",
        "--json",
        tmp_path / "b.json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    assert (
        report["augment"] == "elastic" and report["test_evaluation_seconds"] > 0 and report["augmentation_seconds"] > 0
    )
    text = " ".join(result.stdout.split())
    assert "batch 128, float32, --augment elastic" in text and "eval s: scoring the test set" in text
    assert "aug s: converting and distorting one epoch's images alone" in text
    result = run(*"bench --augment elastic --torch --data".split(), small_data)
    assert result.exit_code == 2
    assert (
        result.stderr
        == "error: --torch has no --augment elastic of its own to compare with; leave out one of the two\n"
    )


@pytest.mark.slow
def test_threads_sets_the_blas_thread_count_for_several_runs_at_once(small_data, tmp_path):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    if not blas:
        pytest.skip("threadpoolctl finds no BLAS it can control in this NumPy (e.g. Accelerate on macOS)")
    with threadpoolctl.threadpool_limits(limits=blas[0]["num_threads"], user_api="blas"):  # restored after
        result = run(
            *"bench --threads 1 --limit 300 --epochs 1 --data".split(), small_data, "--json", tmp_path / "b.json"
        )
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / "b.json").read_text())["machine"]["blas_threads"] == 1
        assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"][0] == 1
    result = run(*"train relu --threads -1".split())
    assert result.exit_code == 2 and "--threads" in result.stderr


# ----------------------------------------------------------------------------- against a reference framework
@pytest.mark.parametrize("activation", list(mlp.ACTIVATIONS))
def test_matches_pytorch_when_installed(activation):
    """Loss, gradients and two SGD-with-momentum steps agree with PyTorch (skipped without it)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = mlp.init([12, 9, 7, 5], activation, seed=1, dtype=np.float64)
    x, y = rng.standard_normal((16, 12)), rng.integers(0, 5, 16)
    name, kwargs = mlp_bench.TORCH_ACTIVATIONS[activation]  # the registry names PyTorch's equivalent
    act = lambda z: getattr(torch.nn.functional, name)(z, **kwargs)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    opt = torch.optim.SGD(tp.values(), lr=0.1, momentum=0.9)
    state = {}
    for _ in range(2):
        a = torch.tensor(x)
        for l in (1, 2):
            a = act(a @ tp[f"W{l}"] + tp[f"b{l}"])
        reference = torch.nn.functional.cross_entropy(a @ tp["W3"] + tp["b3"], torch.tensor(y))
        opt.zero_grad()
        reference.backward()
        value, g = mlp.loss_and_grads(params, mlp.forward(params, x, activation)[1], y)
        assert value == pytest.approx(reference.item(), rel=1e-12)
        assert_close_arrays(g, {k: tp[k].grad.numpy() for k in params}, rtol=1e-10, atol=1e-12)
        opt.step()
        params, state = mlp.update(params, g, state, lr=0.1, momentum=0.9)
        assert_close_arrays(params, {k: tp[k].detach().numpy() for k in params}, rtol=1e-10, atol=1e-12)


def test_multilabel_loss_and_gradients_match_pytorchs_bce_with_logits_when_installed():
    """mlp's multilabel loss is PyTorch's BCEWithLogitsLoss summed over the labels and averaged
    over the examples (skipped without PyTorch)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = mlp.init([12, 9, 5], "tanh", seed=1, dtype=np.float64)
    x, y = rng.standard_normal((16, 12)), rng.integers(0, 2, (16, 5))
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    logits = torch.tanh(torch.tensor(x) @ tp["W1"] + tp["b1"]) @ tp["W2"] + tp["b2"]
    reference = (
        torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.tensor(y, dtype=torch.float64), reduction="sum"
        )
        / 16
    )
    reference.backward()
    value, g = mlp.loss_and_grads(params, mlp.forward(params, x, "tanh")[1], y, task="multilabel")
    assert value == pytest.approx(reference.item(), rel=1e-12)
    assert_close_arrays(g, {k: tp[k].grad.numpy() for k in params}, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- shared cores


def test_busy_cores_are_running_inside_and_ended_on_leaving_even_after_an_error():
    with pytest.raises(KeyError), mlp_bench.busy_cores(2) as pids:
        assert len(pids) == 2
        for pid in pids:
            os.kill(pid, 0)  # alive (raises if not)
        raise KeyError("a failure inside the block")
    for pid in pids:  # killed and waited for: no such process any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
def test_bench_busy_times_the_epochs_again_beside_busy_processes(small_data, tmp_path):
    result = run(
        *"bench --hidden 16 --limit 300 --epochs 2 --busy 1 --data".split(), small_data, "--json", tmp_path / "b.json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "b.json").read_text())
    busy = report["busy"]
    assert busy["processes"] == 1 and len(busy["epoch_seconds"]) == 2
    assert busy["epoch_seconds_median"] == float(np.median(busy["epoch_seconds"]))
    assert busy["slowdown"] == busy["epoch_seconds_median"] / report["epoch_seconds_median"]
    shown = f"({busy['slowdown']:.2f}x the quiet median)"
    assert "Beside 1 busy process (one core each): s/epoch" in " ".join(result.stdout.split())
    assert shown in " ".join(result.stdout.split())
    assert run(*"bench --busy -1".split()).exit_code == 2
