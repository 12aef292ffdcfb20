"""Figures (matplotlib): every picture the `plot` commands and `predict --explain` draw, and
`save_figure`, which writes one atomically in the format its suffix names.

Each figure function takes plain arrays and records and returns a matplotlib Figure; nothing
here reads data or weights files, and matplotlib is imported only when a figure is drawn (so
that importing this file costs nothing without the plot extra). Problems are raised as
ValueError (mlp_run.BadOption for a bad option) with one line naming the problem and the fix.
"""

import functools
import importlib
import warnings

import numpy as np

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import run as mlp_run
from numpy_mlp import score as mlp_score


def shortened(name, width):
    """A class name cut to `width` characters, an ellipsis ending a cut one."""
    return name if len(name) <= width else name[: width - 1] + "…"


PLOT_DPI = 150


FALLBACK_FONTS = (  # where DejaVu Sans has no glyph (class names in other scripts), the first of these installed
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "Yu Gothic",
    "PingFang SC",
    "Hiragino Sans",
    "Arial Unicode MS",
    "Noto Sans",
)


def pyplot():
    """matplotlib.pyplot on the headless Agg backend, with fonts that fall back to the installed
    ones of FALLBACK_FONTS, or a one-line error saying how to install matplotlib."""
    matplotlib = mlp_run.require("matplotlib", "plot")
    matplotlib.use("Agg")
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", *(f for f in FALLBACK_FONTS if f in installed)]
    return importlib.import_module("matplotlib.pyplot")


MISSING_GLYPHS = []  # said once a process: the first glyph the plots' font lacked


@functools.cache  # asked once a process: a figure made and closed only to ask
def picture_formats():
    """The formats a figure's canvas writes (matplotlib's plug-ins included), by suffix."""
    probe = pyplot().figure()
    formats = probe.canvas.get_supported_filetypes()
    pyplot().close(probe)
    return formats


def check_picture_path(path, option="--out"):
    """The format a picture at `path` is written in (its suffix; PNG without one), checked before
    any work: a folder that can be written in, a format matplotlib writes (else a bad option)."""
    pyplot()  # matplotlib there (or the one line saying how to install it), whatever was asked before
    mlp_run.check_writable(path, option)
    fmt = path.suffix.lstrip(".").lower() or "png"
    supported = picture_formats()
    if fmt not in supported:
        raise mlp_run.BadOption(
            f"{path}: matplotlib cannot write .{fmt} pictures; use one of "
            f"{', '.join('.' + s for s in sorted(supported))}"
        )
    return fmt


def save_figure(fig, path, option="--out"):
    """Write a figure to exactly `path`, atomically, in the format its suffix names (PNG when it
    has none); an unknown suffix is a bad option and a failed write leaves no partial picture.
    `option` is what the user gave the path with (--out, --out-dir), for the messages. Returns a
    note to show the user (the first glyph the fonts lacked, once a process), or None."""
    fmt = check_picture_path(path, option)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mlp.write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=PLOT_DPI, bbox_inches="tight"))
    except OSError as e:
        raise ValueError(f"cannot write {path}: {e.strerror or e}; nothing was written") from None
    finally:
        pyplot().close(fig)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]  # matplotlib's "Glyph ... missing"
    if missing and not MISSING_GLYPHS:
        MISSING_GLYPHS.append(missing[0])
        return (
            f"note: the plot's fonts have no glyph for some characters of the class names, drawn as "
            f"boxes ({missing[0]}); install a font that has them (Noto Sans CJK, WenQuanYi Micro Hei, ...) "
            "and the plots use it"
        )
    return None


def shown_option(name, value):
    if name == "hidden":
        return "-".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def explanation_figure(seen, gradients, titles, shape, inverted):
    """What the network sees, then a heat map of each gradient over it: red where more ink
    raises the class's score, blue where it lowers it (one colour scale for all)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 1 + len(gradients), figsize=(2.6 * (1 + len(gradients)), 3.0))
    axes[0].imshow(seen.reshape(shape), cmap="gray_r" if inverted else "gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title("what it sees", fontsize=9)
    scale = float(np.abs(gradients).max()) or 1.0
    for ax, gradient, title in zip(axes[1:], gradients, titles):
        ax.imshow(gradient.reshape(shape), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        ax.contour(seen.reshape(shape), levels=[0.5], colors="0.35", linewidths=0.6)  # the strokes' outline
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle("red: more ink here raises the score; blue: lowers it", fontsize=9)
    return fig


def digit_grid(units, captions, columns, title, *, shape=(28, 28), inverted=False):
    """Pictures in [0, 1] with a caption (up to two lines of 12 characters) over each, shown as
    their files are: bright values white, unless the preprocessing `inverted` a light background."""
    plt = pyplot()
    rows = -(-len(units) // columns)
    lines = max((caption.count("\n") + 1 for caption in captions), default=1)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * (1.2 + 0.2 * lines) + 0.4))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, image, caption in zip(np.ravel(axes), units, captions):
        ax.imshow(image.reshape(shape), cmap="gray_r" if inverted else "gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    return fig


def every_class(y, n):
    """Indices of up to n examples, as many of each class as fit, in rows that hold one of each
    class (in label order): the first examples of every class, not only of the first classes."""
    classes = np.unique(y)
    per_class = max(1, n // len(classes))
    picked = [np.flatnonzero(y == c)[:per_class] for c in classes]
    rows = [[column[r] for column in picked if r < len(column)] for r in range(per_class)]
    return np.array([i for row in rows for i in row][:n], dtype=int), len(classes)


def samples_figure(units, y, n, meta, shape, inverted=False):
    """Up to n test images (in [0, 1]) of every class, with their class names, a class a column."""
    index, n_classes = every_class(y, n)
    captions = [shortened(mlp_data.class_name(meta, int(v)), 12) for v in y[index]]
    columns = n_classes if n_classes <= 12 else 10
    title = "Test images of every class" if len(index) >= n_classes else f"Test images of {len(index)} classes"
    return digit_grid(units[index], captions, columns, title, shape=shape, inverted=inverted)


def curves_figure(records):
    """Loss and score by epoch: accuracy, or a regression's R² (its loss: the mean squared error
    of the standardised targets)."""
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(10, 3.8))
    numbers = any("val_r2" in r or "test_r2" in r for r in records)
    scores = (
        (("val_r2", "validation"), ("test_r2", "test"))
        if numbers
        else (("accuracy", "train (running)"), ("val_accuracy", "validation"), ("test_accuracy", "test"))
    )
    for axes, scale, curves in (
        (left, 1, (("loss", "train"), ("val_loss", "validation"), ("test_loss", "test"))),
        (right, 1 if numbers else 100, scores),
    ):
        for key, label in curves:  # the test set may be scored every k epochs only (train --test-every)
            scored = [r for r in records if key in r]
            if scored:
                axes.plot([r["epoch"] for r in scored], [scale * r[key] for r in scored], marker=".", label=label)
    left.set(xlabel="epoch", ylabel="squared error (standardised)" if numbers else "cross-entropy", yscale="log")
    left.set_title("Loss")
    right.set(xlabel="epoch", ylabel="R²" if numbers else "accuracy (%)", title="R²" if numbers else "Accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def run_figures(records, log):
    """Hand each figure of a run's epoch records (the curves, as `plot curves` draws them) to
    `log(figure, file_name)`, then close it."""
    figure = curves_figure(records)
    try:
        log(figure, "curves.png")
    finally:
        pyplot().close(figure)


def scatter_figure(result):
    """A regression's predicted numbers against the true ones on the test set (mlp_score.
    regression_evaluated, every row among its "worst"), one panel per target, the diagonal drawn."""
    true, predicted = (np.array([r[key] for r in result["worst"]]) for key in ("true", "predicted"))
    k = true.shape[1]
    fig, axes = pyplot().subplots(1, k, figsize=(4.6 * k, 4.4), squeeze=False)
    for j, (ax, name) in enumerate(zip(axes[0], result["targets"])):
        ax.scatter(true[:, j], predicted[:, j], s=8, alpha=0.6)
        low, high = min(true[:, j].min(), predicted[:, j].min()), max(true[:, j].max(), predicted[:, j].max())
        ax.plot([low, high], [low, high], color="grey", linewidth=1)
        ax.set(xlabel=f"true {shortened(name, 20)}", ylabel="predicted", title=shortened(name, 30))
        ax.grid(alpha=0.3)
    fig.suptitle(f"Test set: R² {result['r2']:.4f}, MAE {result['mae']:.4g} ({result['n']} examples)")
    return fig


def reliability_figure(curves):
    """The reliability diagram of one model or several: curves is a list of (label, calibration)
    (mlp_score.calibration of each on its test set). Above, each bin's accuracy against its mean
    confidence (the diagonal is a perfectly calibrated model; below it, over-confident), the
    label saying its ECE; below, each bin's share of the examples (log scale: most sit near 1)."""
    fig, (top, bottom) = pyplot().subplots(
        2, 1, figsize=(6.0, 6.6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    top.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--", label="perfectly calibrated")
    for label, calibrated in curves:
        filled = [b for b in calibrated["bins"] if b["count"]]
        shown = f"{shortened(label, 36)} (ECE {100 * calibrated['ece']:.2f}%)"
        line = top.plot(
            [b["confidence"] for b in filled], [b["accuracy"] for b in filled], marker="o", markersize=4, label=shown
        )[0]
        n = sum(b["count"] for b in calibrated["bins"])
        edges = [b["low"] for b in calibrated["bins"]] + [calibrated["bins"][-1]["high"]]
        bottom.stairs([b["count"] / n for b in calibrated["bins"]], edges, color=line.get_color())
    width = 1 / len(curves[0][1]["bins"])
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    top.set_title(f"Reliability: accuracy against confidence ({len(curves[0][1]['bins'])} bins of {width:.3g})")
    bottom.set(xlabel="confidence (the largest probability)", ylabel="share of examples", yscale="log")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    return fig


def confusion_figure(confusion, meta):
    fig, ax = pyplot().subplots(figsize=(6.2, 5.4))
    shown = ax.imshow(np.log1p(confusion), cmap="Blues")
    for (t, p), n in np.ndenumerate(confusion):
        ax.text(
            p, t, str(n), ha="center", va="center", fontsize=8, color="white" if n > confusion.max() / 4 else "black"
        )
    names = [mlp_data.class_name(meta, c) for c in range(len(confusion))]
    ax.set_xticks(
        range(len(confusion)),
        names,
        rotation=45 if max(map(len, names)) > 2 else 0,
        ha="right" if max(map(len, names)) > 2 else "center",
    )
    ax.set_yticks(range(len(confusion)), names)
    ax.set(
        xlabel="predicted",
        ylabel="true",
        title=f"Confusion matrix, {100 * np.trace(confusion) / confusion.sum():.2f}% correct",
    )
    fig.colorbar(shown, ax=ax, label="log(1 + count)")
    return fig


def mistakes_figure(x, report, meta, shape):
    mistakes = mlp_score.report_json(report, len(x), meta)["mistakes"]
    captions = [
        f"{shortened(m['true_name'], 12)}\n→{shortened(m['predicted_name'], 7)} {100 * m['confidence']:.0f}%"
        for m in mistakes
    ]
    units = mlp.to_unit(x[[m["index"] for m in mistakes]], meta["preprocessing"])
    inverted = meta["preprocessing"].get("invert", False)
    title = "Most confident mistakes (true, →predicted and its probability)"
    return digit_grid(units, captions, 10, title, shape=shape, inverted=inverted)


def weights_figure(params, n, shape):
    """The first layer's weights, one image of `shape` per hidden unit."""
    W = params["W1"]
    plt = pyplot()
    n = min(n, W.shape[1])
    columns = 12 if n >= 12 else n
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.6, rows * 0.6 + 0.4))
    for ax in np.ravel(axes):
        ax.axis("off")
    for unit, ax in zip(range(n), np.ravel(axes)):
        w = W[:, unit].reshape(shape)
        ax.imshow(w, cmap="RdBu_r", vmin=-np.abs(w).max(), vmax=np.abs(w).max(), interpolation="nearest")
    fig.suptitle(f"First-layer weights of {n} hidden units")
    return fig


def draw_architecture(sizes, activation, title):
    """Layers as columns of units (at most 10 drawn, the rest elided), sizes and activations labelled."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(2.2 * len(sizes) + 1, 4.6))
    shown = [min(n, 10) for n in sizes]
    ys = [np.linspace(-1, 1, k) * (k - 1) / 9 for k in shown]
    for l in range(len(sizes) - 1):
        for a in ys[l]:
            for b in ys[l + 1]:
                ax.plot([l, l + 1], [a, b], color="0.8", lw=0.5, zorder=1)
    names = ["input"] + [f"hidden {i}" for i in range(1, len(sizes) - 1)] + ["output"]
    acts = ["pixels"] + [activation] * (len(sizes) - 2) + ["softmax"]
    colors = ["#9ecae1"] + ["#fdae6b"] * (len(sizes) - 2) + ["#a1d99b"]
    for l, (n, y) in enumerate(zip(sizes, ys)):
        ax.scatter([l] * len(y), y, s=140, color=colors[l], edgecolor="0.3", zorder=2)
        if n > len(y):
            ax.text(
                l,
                0,
                "⋮",
                ha="center",
                va="center",
                fontsize=16,
                zorder=3,
                bbox=dict(facecolor="white", edgecolor="none", pad=0),
            )
        ax.text(l, 1.25, f"{names[l]}\n{n} units", ha="center", va="bottom", fontsize=10)
        ax.text(l, -1.25, acts[l], ha="center", va="top", fontsize=10, style="italic")
    ax.set(xlim=(-0.6, len(sizes) - 0.4), ylim=(-1.7, 1.8), title=title)
    ax.axis("off")
    return fig


def sweep_figure(rows, space, title, words="validation accuracy"):
    """Validation accuracy against each searched option, a panel an option: complete trials as
    dots, pruned ones as crosses at their last reported accuracy; a log axis for a log range,
    the choices in order for a list."""
    names, percent = list(space), words == "validation accuracy"  # a regression's R² is shown as it is
    columns = min(3, len(names))
    fig, axes = pyplot().subplots(
        -(-len(names) // columns), columns, figsize=(4.2 * columns, 3.4 * -(-len(names) // columns)), squeeze=False
    )
    for ax, name in zip(axes.flat, names):
        spec = space[name]
        labels = (
            [shown_option(name, v) if name != "hidden" else str(v) for v in spec] if isinstance(spec, list) else None
        )
        for state, marker, color in (("complete", "o", "C0"), ("pruned", "x", "0.55")):
            points = [
                (r["options"][name], (100 if percent else 1) * r["value"])
                for r in rows
                if r["state"] == state and r["value"] is not None and name in r["options"]
            ]
            xs = [labels.index(shown_option(name, x)) if labels else x for x, _ in points]
            ax.scatter(xs, [y for _, y in points], marker=marker, color=color, label=state if points else None)
        if labels:
            ax.set_xticks(range(len(labels)), labels)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            ax.set_xscale("log" if spec["log"] else "linear")
            ax.set_xlim(spec["low"], spec["high"])
        ylabel = f"{words} (%)" if percent else words
        ax.set(xlabel=name.replace("_", " "), ylabel=ylabel if ax in axes[:, 0] else None)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
