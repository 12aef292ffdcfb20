"""Tests of bench (mlp_bench.py): its measurements and JSON, the PyTorch and scikit-learn
references when they are installed, and mlp's gradients against PyTorch's."""

import json

import numpy as np
import pytest

import mlp
import mlp_bench
from conftest import assert_close_arrays, run


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
    assert report["optimizer"] == "nesterov" and report["dropout"] == 0.2 and 0.5 < report["test_accuracy"] <= 1


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
