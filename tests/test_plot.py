"""Tests of the plot command (mlp_plot): the files it writes, in the formats it knows, and
figures a person wants to look at: captions that never overlap, class names in any script,
pictures shown as their files are."""

import sys
import warnings

import numpy as np
import pytest

import mlp
from conftest import run, trained_with_names
from numpy_mlp import cli_plot
from numpy_mlp import plot as mlp_plot
from numpy_mlp import run as mlp_run


@pytest.mark.slow
def test_plots_write_pngs(trained, small_data, tmp_path):
    pytest.importorskip("matplotlib")
    result = run("plot", "all", trained, "--data", small_data, "--out-dir", tmp_path / "new" / "pictures")
    assert result.exit_code == 0, result.output  # a missing --out-dir is made
    samples = cli_plot.data_name(str(small_data))  # the samples are named after the data
    for name in (samples, "model-1", "model-2", "model-3", "curves", "confusion", "reliability", "mistakes", "weights"):
        png = (tmp_path / "new" / "pictures" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and 5_000 < len(png) < 300_000


@pytest.mark.slow
def test_plots_go_to_the_current_folder_by_default(trained, tmp_path, monkeypatch):
    """An installed cli.py lives in site-packages: pictures must land where the user is."""
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    result = run("plot", "curves", trained.with_suffix(".history.json"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert "wrote curves.png" in result.stdout


@pytest.mark.slow
def test_plot_writes_exactly_the_file_named_in_a_format_it_knows(trained, tmp_path):
    pytest.importorskip("matplotlib")
    history = trained.with_name("w.history.json")
    result = run("plot", "curves", history, "--out", tmp_path / "pic")
    assert result.exit_code == 0 and f"wrote {tmp_path / 'pic'}" in result.stdout
    assert (tmp_path / "pic").read_bytes().startswith(b"\x89PNG")
    result = run("plot", "curves", history, "--out", tmp_path / "pic.svg")
    assert result.exit_code == 0 and b"<svg" in (tmp_path / "pic.svg").read_bytes()
    result = run("plot", "curves", history, "--out", tmp_path / "pic.bmp")
    assert result.exit_code == 2 and "cannot write .bmp pictures; use one of" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "pic.bmp").exists()


def test_plot_on_a_full_disk_leaves_no_partial_picture(trained, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    (tmp_path / "c.png").write_bytes(b"old picture")

    def disk_full(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mlp, "write_atomic", disk_full)
    result = run("plot", "curves", trained.with_name("w.history.json"), "--out", tmp_path / "c.png")
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert (tmp_path / "c.png").read_bytes() == b"old picture"


@pytest.mark.parametrize(
    "checkout, hint", [(True, "pip install -e '.[plot]'"), (False, "pip install 'numpy-mlp[plot]'")]
)
def test_plot_without_matplotlib_says_how_to_install_as_the_user_installed(
    trained, tmp_path, monkeypatch, checkout, hint
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    monkeypatch.setattr(mlp_run, "CHECKOUT", checkout)
    result = run("plot", "weights", trained, "--out", tmp_path / "w.png")
    assert result.exit_code == 1 and result.stderr == f"error: this command needs matplotlib (the plot extra): {hint}\n"
    assert not (tmp_path / "w.png").exists()


def test_plots_of_class_names_the_font_cannot_draw_say_so_once_without_warnings(small_data, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(mlp_plot, "MISSING_GLYPHS", [])
    weights = trained_with_names(small_data, tmp_path, [*"零 一 二 三 四 五 六 七 八 九".split()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning leaking out of the command fails the test
        first = run("plot", "confusion", weights, "--out", tmp_path / "c.png")
        second = run("plot", "mistakes", weights, "--out", tmp_path / "m.png")
    assert first.exit_code == 0 and second.exit_code == 0, first.stderr + second.stderr
    notes = (first.stderr + second.stderr).count("note: the plot's fonts have no glyph")
    from matplotlib import font_manager

    fallback = {f.name for f in font_manager.fontManager.ttflist} & {"Noto Sans CJK JP", "WenQuanYi Micro Hei"}
    assert notes == (0 if fallback else 1)  # drawn in an installed font that has them; else said once


def drawn_figures(monkeypatch):
    """Every figure a plot command saves, drawn: (its title boxes, its images' RGBA, file) each."""
    drawn, real = [], mlp_plot.save_figure

    def save(fig, path, option="--out"):
        fig.canvas.draw()
        titles = [ax.title.get_window_extent() for ax in fig.axes if ax.get_title()]
        images = [im.to_rgba(im.get_array()) for ax in fig.axes for im in ax.images]
        drawn.append({"titles": titles, "images": images, "captions": [ax.get_title() for ax in fig.axes]})
        return real(fig, path, option)

    monkeypatch.setattr(mlp_plot, "save_figure", save)
    return drawn


FASHION = ["T-shirt or top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@pytest.mark.slow
def test_mistakes_of_long_class_names_have_captions_that_never_overlap_at_150_dpi(small_data, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from PIL import Image

    weights = trained_with_names(small_data, tmp_path, [name * 2 for name in FASHION])  # longer still
    drawn = drawn_figures(monkeypatch)
    result = run("plot", "mistakes", weights, "--out", tmp_path / "m.png")
    assert result.exit_code == 0, result.output
    boxes = drawn[0]["titles"]
    assert len(boxes) == 30
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            same_row = a.y0 < b.y1 and b.y0 < a.y1
            assert not same_row or a.x1 <= b.x0 or b.x1 <= a.x0, "two captions overlap"
    assert all("…" in c for c in drawn[0]["captions"] if c and "\n" in c)  # long names shortened
    assert Image.open(tmp_path / "m.png").info["dpi"] == pytest.approx((150, 150), abs=0.5)


@pytest.mark.slow
def test_samples_of_a_picture_folder_show_every_class_as_the_files_are_named_after_the_data(
    tmp_path, digits, monkeypatch
):
    pytest.importorskip("matplotlib")
    from PIL import Image

    x, y, _, _ = digits
    for split in ("train", "test"):
        for i in range(60):  # sorted by class: a grid of the first 40 would hold only the first classes
            label = sorted(range(60), key=lambda k: y[k])[i]
            folder = tmp_path / "pictures" / split / FASHION[y[label]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(255 - x[label].astype(np.uint8)).save(folder / f"{i}.png")  # dark ink on light paper
    drawn = drawn_figures(monkeypatch)
    result = run("plot", "samples", "--data", tmp_path / "pictures")
    assert result.exit_code == 0, result.output
    assert result.stdout == "wrote pictures.png\n" and (tmp_path / "pictures.png").is_file()
    present = {FASHION[c] for c in y[:60]}
    assert {c for c in drawn[0]["captions"] if c} == {mlp_plot.shortened(name, 12) for name in present}
    assert np.mean([im[..., :3].mean() for im in drawn[0]["images"]]) > 0.7  # light paper, as in the files
    drawn.clear()
    result = run("plot", "samples", "--n", "10")  # MNIST: light ink on black, as its files are
    assert result.exit_code == 0 and result.stdout == "wrote mnist.png\n"
    assert np.mean([im[..., :3].mean() for im in drawn[0]["images"]]) < 0.3
    assert [c for c in drawn[0]["captions"] if c] == [str(c) for c in range(10)]


def test_plot_curves_takes_the_weights_file_as_plot_all_does(trained, tmp_path):
    pytest.importorskip("matplotlib")
    result = run("plot", "curves", trained, "--out", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    result = run("plot", "curves", tmp_path / "nothing-beside.npz", "--out", tmp_path / "d.png")
    assert result.exit_code == 1 and "nothing-beside.history.json: no such history file" in result.stderr


def test_explain_to_a_format_matplotlib_cannot_write_is_refused_before_any_work(trained, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    from PIL import Image

    picture = tmp_path / "seven.png"
    Image.fromarray(np.pad(np.full((18, 4), 255, np.uint8), ((5, 5), (12, 12)))).save(picture)
    result = run("predict", trained, picture, "--explain", tmp_path / "why.txt")
    assert result.exit_code == 2 and result.stdout == ""  # no prediction printed before the refusal
    assert result.stderr.startswith(f"error: {tmp_path / 'why.txt'}: matplotlib cannot write .txt pictures; use one of")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seven.png"]
