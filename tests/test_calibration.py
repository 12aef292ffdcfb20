"""Tests of calibration (numpy_mlp/score.py): the negative log-likelihood, the Brier score and the
expected calibration error of Guo et al. (2017) against known answers and scikit-learn's metrics,
and eval's report of them."""

import json

import numpy as np
import pytest

import mlp
from conftest import run
from numpy_mlp import data as mlp_data
from numpy_mlp import score as mlp_score

FOUR = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
FOUR_Y = np.array([0, 1, 0, 1])


def test_four_examples_give_the_scores_worked_by_hand():
    found = mlp_score.calibration(FOUR, FOUR_Y, ["a", "b", "c"])
    # confidences 0.7, 0.8 (right), 0.4, 0.5 (wrong), each alone in its bin:
    # (|1 - 0.7| + |1 - 0.8| + |0 - 0.4| + |0 - 0.5|) / 4
    assert found["ece"] == pytest.approx(0.35, abs=1e-15)
    # squared distances to the one-hot truth: 0.14, 0.06, 0.74, 0.62 (scikit-learn's brier_score_loss
    # with labels=[0, 1, 2] gives the same 0.39 from version 1.7, where it takes several classes)
    assert found["brier"] == pytest.approx(0.39, abs=1e-15)
    assert found["nll"] == pytest.approx(-np.log([0.7, 0.8, 0.3, 0.4]).mean(), abs=1e-15)
    counts = [b["count"] for b in found["bins"]]
    # 15 bins ((m-1)/15, m/15]: 0.4 in the 6th, 0.5 in the 8th, 0.7 in the 11th, 0.8 on an edge: the 12th
    assert counts == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0]
    assert found["bins"][11]["high"] == pytest.approx(0.8) and found["bins"][11]["confidence"] == 0.8
    assert found["bins"][0]["accuracy"] is None  # an empty bin has no accuracy
    # class c's own: its probability against its being the true class; class c is never true
    assert found["class_ece"]["c"] == pytest.approx((0.1 + 0.1 + 0.4 + 0.1) / 4)


def test_hits_drawn_at_their_confidence_are_calibrated_and_squared_ones_are_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 400_000)
    calibrated = mlp_score.reliability_bins(confidence, rng.uniform(0, 1, confidence.size) < confidence)
    assert mlp_score.calibration_error(calibrated) < 0.005
    over_confident = mlp_score.reliability_bins(confidence, rng.uniform(0, 1, confidence.size) < confidence**2)
    # the gap c - c^2 averaged over uniform c: 1/2 - 1/3 = 1/6 (less the bins' own spread)
    assert mlp_score.calibration_error(over_confident) == pytest.approx(1 / 6, abs=0.005)


def test_more_classes_than_the_per_class_limit_give_only_the_top_label_error():
    p = np.full((4, mlp_score.PER_CLASS_CALIBRATION + 1), 1 / (mlp_score.PER_CLASS_CALIBRATION + 1))
    found = mlp_score.calibration(p, np.array([0, 1, 2, 3]), [str(c) for c in range(p.shape[1])])
    assert found["class_ece"] == {} and found["ece"] >= 0


def test_eval_reports_nll_brier_and_ece_of_the_networks_own_probabilities(trained, small_data, tmp_path):
    result = run("eval", trained, "--data", small_data, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e.json").read_text())
    params, meta = mlp.load(trained)
    found = mlp_data.load_data(small_data)
    probabilities = mlp.predict_proba(params, found.x_test, "relu", preprocessing=meta["preprocessing"])
    expected = mlp_score.calibration(probabilities, found.y_test, report["classes"])
    assert report["calibration"]["brier"] == pytest.approx(expected["brier"], rel=1e-6)
    assert report["calibration"]["ece"] == pytest.approx(expected["ece"], abs=1e-6)
    assert report["calibration"]["nll"] == pytest.approx(report["loss"], rel=1e-5)
    assert sum(b["count"] for b in report["calibration"]["bins"]) == report["n"] == 200
    assert set(report["calibration"]["class_ece"]) == set(report["classes"])
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "test accuracy" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")] == [
        "test accuracy",
        "loss (NLL)",
        "Brier",
        "ECE",
        "images",
    ]
    row = lines[lines.index(header) + 2]
    assert f"{100 * report['calibration']['ece']:.2f}%" in row and f"{report['calibration']['brier']:.4f}" in row


def test_the_reliability_figure_draws_each_bins_accuracy_at_its_confidence():
    pytest.importorskip("matplotlib")
    from numpy_mlp import plot as mlp_plot

    found = mlp_score.calibration(FOUR, FOUR_Y, ["a", "b", "c"])
    fig = mlp_plot.reliability_figure([("four.npz", found)])
    top, bottom = fig.axes
    diagonal, drawn = top.get_lines()
    assert list(diagonal.get_xdata()) == [0, 1] and list(diagonal.get_ydata()) == [0, 1]
    assert list(drawn.get_xdata()) == pytest.approx([0.4, 0.5, 0.7, 0.8])  # the filled bins, in order
    assert list(drawn.get_ydata()) == [0.0, 0.0, 1.0, 1.0]
    assert top.get_legend().get_texts()[1].get_text() == "four.npz (ECE 35.00%)"
    assert bottom.get_yscale() == "log"


def test_plot_reliability_draws_several_models_and_refuses_a_regression(trained, small_data, tmp_path):
    pytest.importorskip("matplotlib")
    other = tmp_path / "other.npz"
    assert run(*"train relu --hidden 8 --epochs 1 --data".split(), small_data, "--out", other).exit_code == 0
    result = run("plot", "reliability", trained, other, "--out", tmp_path / "r.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    x = np.random.default_rng(0).normal(size=(60, 2))
    (tmp_path / "n.csv").write_text(
        "a,b,price\n" + "\n".join(f"{a:.4f},{b:.4f},{a + 2 * b + 0.5:.4f}" for a, b in x) + "\n"
    )
    trained_numbers = run(
        *"train relu --label-column price --data".split(), tmp_path / "n.csv", "--out", tmp_path / "n.npz"
    )
    assert trained_numbers.exit_code == 0, trained_numbers.output
    refused = run("plot", "reliability", tmp_path / "n.npz", "--out", tmp_path / "n.png")
    assert refused.exit_code == 1 and refused.stderr.splitlines()[-1] == (
        f"error: plot reliability is for classification networks, and {tmp_path / 'n.npz'} predicts numbers (a "
        "regression); eval scores it (MSE, MAE, R²), predict gives its numbers, plot scatter draws them"
    )
    assert not (tmp_path / "n.png").exists()


# ----------------------------------------------------------------------------- a temperature fitted on validation


def test_train_with_val_fits_a_temperature_on_it_says_so_and_eval_shows_before_and_after(small_data, tmp_path):
    out = tmp_path / "w.npz"
    result = run(*"train relu --hidden 16 --epochs 2 --val 500 --data".split(), small_data, "--out", out)
    assert result.exit_code == 0, result.output
    assert "a temperature fitted on the 500 validation examples after training (--no-calibrate: none)" in result.stderr
    params, meta = mlp.load(out)
    found = mlp_data.load_data(small_data)
    _, _, x_val, y_val = mlp.split_validation(found.x_train, found.y_train, 500, 0)
    logits = np.concatenate(list(mlp.logits_in_chunks(params, x_val, "relu", meta["preprocessing"])))
    assert meta["temperature"] == pytest.approx(mlp.fit_temperature(logits, y_val), rel=1e-9)
    before, after = meta["calibration"]["validation_nll"]
    assert after < before and meta["calibration"]["examples"] == 500
    assert (
        f"temperature {meta['temperature']:.4g}, fitted on the 500 validation examples: their loss (NLL) "
        f"{before:.4f} -> {after:.4f}"
    ) in result.stdout

    evaluated = run("eval", out, "--json", tmp_path / "e.json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((tmp_path / "e.json").read_text())
    raw = mlp.predict_proba(params, found.x_test, "relu", preprocessing=meta["preprocessing"])
    tempered = mlp.predict_proba(
        params, found.x_test, "relu", preprocessing=meta["preprocessing"], temperature=meta["temperature"]
    )
    assert report["temperature"] == meta["temperature"]
    assert report["calibration"]["ece"] == pytest.approx(
        mlp_score.calibration(tempered, found.y_test, report["classes"])["ece"], abs=1e-9
    )
    assert report["uncalibrated"]["ece"] == pytest.approx(
        mlp_score.calibration(raw, found.y_test, report["classes"])["ece"], abs=1e-9
    )
    assert report["uncalibrated"]["accuracy"] == report["accuracy"]  # the argmax never changes
    lines = evaluated.stdout.splitlines()
    header = next(line for line in lines if "test accuracy" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")][0] == "temperature"
    fitted_row, raw_row = lines[lines.index(header) + 2], lines[lines.index(header) + 3]
    assert f"{meta['temperature']:.3g}" in fitted_row and f"{100 * report['calibration']['ece']:.2f}%" in fitted_row
    assert "none (raw softmax)" in raw_row and f"{100 * report['uncalibrated']['ece']:.2f}%" in raw_row
    assert f"temperature {meta['temperature']:.4g}: the logits are divided by it" in run("summary", out).stdout

    plain = run(*"train relu --hidden 16 --epochs 2 --val 500 --no-calibrate --data".split(), small_data, "--out", out)
    assert plain.exit_code == 0 and "temperature" not in plain.output
    assert "temperature" not in mlp.load(out)[1]


def hot_copy(weights, folder, temperature):
    """The weights saved again with a temperature of their own."""
    params, meta = mlp.load(weights)
    mlp.save(folder / "hot.npz", params, {**meta, "temperature": temperature})
    return folder / "hot.npz"


def test_predict_draw_and_ensembles_divide_each_networks_logits_by_its_temperature(trained, small_data, tmp_path):
    from numpy_mlp import pictures as mlp_pictures

    hot = hot_copy(trained, tmp_path, 3.0)
    plain_members, hot_members = mlp.load(trained), mlp.load(hot)
    found = mlp_data.load_data(small_data)
    grey = found.x_test[0].reshape(28, 28) / 255
    plain = mlp_pictures.classify_picture([plain_members], grey)[1]
    tempered = mlp_pictures.classify_picture([hot_members], grey)[1]  # the draw page's and predict's one path
    # softmax(z / 3) from softmax(z): log p is z less a constant, so log_softmax(log p / 3) is it
    assert tempered == pytest.approx(np.exp(mlp.log_softmax(np.log(plain)[None] / 3))[0], rel=1e-9)
    shown = run("predict", hot, "--index", "0", "--data", small_data)
    x0 = found.x_test[:1]
    at_index = mlp.predict_proba(
        *hot_members[:1], x0, "relu", preprocessing=hot_members[1]["preprocessing"], temperature=3.0
    )
    assert f"{100 * at_index.max():.2f}%" in shown.stdout
    both = mlp_pictures.ensemble_log_proba([plain_members, hot_members], found.x_test[:50])
    expected = np.log(
        (
            mlp.predict_proba(
                *plain_members[:1], found.x_test[:50], "relu", preprocessing=plain_members[1]["preprocessing"]
            )
            + mlp.predict_proba(
                *hot_members[:1],
                found.x_test[:50],
                "relu",
                preprocessing=hot_members[1]["preprocessing"],
                temperature=3.0,
            )
        )
        / 2
    )
    assert both == pytest.approx(expected, abs=1e-5)  # predict_proba computes in the weights' float32
    ensemble = run("eval", trained, hot, "--data", small_data, "--json", tmp_path / "e.json")
    assert ensemble.exit_code == 0, ensemble.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert [m["temperature"] for m in report["members"]] == [1.0, 3.0] and "uncalibrated" in report
    from numpy_mlp import cli_plot

    curves = cli_plot.reliability_curves("hot.npz", *cli_plot.classified_test_set(hot, small_data, None, "plot"))
    assert [label for label, _ in curves] == ["hot.npz, temperature 3", "hot.npz, no temperature"]
    params, meta = plain_members
    raw = mlp.predict_proba(params, found.x_test, "relu", preprocessing=meta["preprocessing"])  # the plain network's
    expected = mlp_score.calibration(raw, found.y_test, list("0123456789"))
    assert curves[1][1]["ece"] == pytest.approx(expected["ece"], abs=1e-6)
