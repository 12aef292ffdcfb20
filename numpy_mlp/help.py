"""The command line's help pages, drawn from each command's parameters (mlp_options declares
them): the usage line, the docstring, the options in panels, and examples at the end.

Drawn here rather than by Typer, for what Typer's own pages cannot show: the metavar and never
Click's ranges (`[x>=1]`), type names or `--x/--no-x` pairs, a long command's options in the
panels of mlp_options.OPTIONS, and examples in a panel of their own.
"""

import inspect
from enum import Enum

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from numpy_mlp import options as mlp_options

# Drawn here rather than by Typer, so that a page shows what a reader needs (the metavar, never
# Typer's type names or Click's ranges), a long command's options in panels, and examples.
PANELS = ("Sweep", "Model", "Optimisation", "Regularisation", "Data", "Output", "Run", "Compare")
HELP_PANELS = {  # panel: the parameters it lists, on a page with more than PANELS_FROM options
    panel: ("activation",) * (panel == "Model")
    + tuple(k.split(".")[-1] for k, o in mlp_options.OPTIONS.items() if o.panel == panel)
    for panel in PANELS
}
PANELS_FROM = 8

EXAMPLES = {  # command: (its arguments, what they do), shown at the end of its page
    "": (("train relu --hidden 128 64", "train a network on MNIST"), ("eval weights.npz", "score it")),
    "train": (
        ("train relu --hidden 128 64", "784-128-64-10 on MNIST, 10 epochs"),
        ("train relu --data fashion-mnist --val 5000 --patience 3", "another data set, early stopping"),
        ("train relu --data table.csv --label-column species", "a CSV table: the defaults fit it"),
        ("train relu --data houses.csv --label-column price", "numbers as targets: a regression"),
        ("train relu --init weights.npz --data my-digits/ --out tuned.npz", "fine-tune on your pictures"),
        ("train relu --log run.csv --tensorboard runs/relu --mlflow", "watch it in a spreadsheet, TensorBoard, MLflow"),
    ),
    "eval": (("eval weights.npz", "the test set's report"), ("eval a.npz b.npz c.npz", "an ensemble's")),
    "reproduce": (("reproduce", "the original work's three models, then with the defaults"),),
    "summary": (("summary weights.npz", "layers, shapes and parameter counts"),),
    "gradcheck": (("gradcheck relu", "every gradient against finite differences"),),
    "predict": (
        ("predict weights.npz my-digit.png", "one picture, its top classes as bars"),
        ("predict weights.npz pictures/ --out predictions.csv", "a folder of pictures, as CSV"),
        ("predict weights.npz --index 0", "the first test example"),
    ),
    "export": (("export weights.npz model.onnx", "an ONNX model for onnxruntime"),),
    "draw": (("draw weights.npz", "serve the page on http://127.0.0.1:8000/ and open it"),),
    "bench": (("bench", "relu 128-64 on MNIST against the floor"), ("bench --torch", "and against PyTorch")),
    "plot": (("plot all weights.npz --out-dir pictures", "every picture of one model"),),
    "plot samples": (("plot samples --data fashion-mnist", "test images of every class"),),
    "plot curves": (("plot curves weights.npz", "the curves of the history beside it"),),
    "plot confusion": (("plot confusion weights.npz", "the confusion matrix"),),
    "plot reliability": (
        ("plot reliability weights.npz", "accuracy against confidence: is 90% right 90% of the time?"),
        ("plot reliability a.npz b.npz --out both.png", "two models on one diagram"),
    ),
    "plot mistakes": (("plot mistakes weights.npz", "the most confident mistakes"),),
    "plot scatter": (("plot scatter prices.npz", "a regression's predicted numbers against the true"),),
    "plot weights": (("plot weights weights.npz", "the first layer's weights as pictures"),),
    "plot architecture": (("plot architecture", "the original work's three models"),),
    "plot all": (("plot all weights.npz --out-dir pictures", "every picture, into one folder"),),
    "plot sweep": (("plot sweep", "the study in sweep.db here"),),
    "sweep": (
        ("sweep relu --trials 20 --epochs 3 --jobs 2", "20 trials of 3 epochs, two at a time, in sweep.db"),
        ("sweep relu --epochs 3 --show", "its trials so far and the best command"),
        (
            "sweep relu --trials 60 --epochs 3 --storage postgresql://mlp@db.example/sweeps",
            "on each of many machines: one study",
        ),
        ("sweep relu --trials 20 --epochs 3 --mlflow", "each trial an MLflow run, under one for the study"),
    ),
}


def program(ctx):
    """How the user started the program: `python cli.py` or `mlp`."""
    root = ctx.find_root().info_name or "mlp"
    return f"python {root}" if root.endswith(".py") else root


def usage_line(ctx, command):
    arguments = []
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        name = param.metavar or param.name.upper()
        name += "..." if param.nargs == -1 and "..." not in name else ""
        arguments.append(name if param.required else f"[{name}]")
    if isinstance(command, typer.core.TyperGroup):
        arguments.append("COMMAND [ARGS]...")
    if command.context_settings.get("allow_extra_args"):  # sweep: train's options follow
        arguments.append("[TRAIN OPTIONS]")
    return f"Usage: {ctx.command_path} [OPTIONS] {' '.join(arguments)}".rstrip()


def default_in_words(param):
    """' [default: 10]', or '' for an option whose default is nothing, off, or said in its help."""
    if param.show_default is False or getattr(param, "is_flag", False) or param.default in (None, [], ()):
        return ""
    if isinstance(param.show_default, str):
        return f" [default: {param.show_default}]"
    values = param.default if isinstance(param.default, list | tuple) else [param.default]
    words = [v.value if isinstance(v, Enum) else f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return f" [default: {' '.join(words)}]"


def help_panel(title, rows):
    """A rounded panel of (name, metavar, help) rows, as Typer draws them."""
    grid = Table(box=None, show_header=False, expand=True, padding=(0, 1), pad_edge=False)
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(style="yellow", no_wrap=True)
    grid.add_column(ratio=1)
    for row in rows:
        grid.add_row(*map(Text, row))  # as written: help texts hold brackets, never rich markup
    return Panel(grid, title=title, title_align="left", border_style="dim")


def help_panels(ctx, command):
    """The Arguments panel, then the options in HELP_PANELS' panels (or one), then Commands."""
    params = [p for p in command.get_params(ctx) if not p.hidden]
    options = [p for p in params if p.param_type_name == "option"]
    panels = {"Arguments": []} | (dict.fromkeys(HELP_PANELS, ()) if len(options) > PANELS_FROM else {})
    panels = {title: [] for title in panels} | {"Options": []}
    for param in params:
        argument = param.param_type_name == "argument"
        names = ", ".join(sorted(param.opts + param.secondary_opts, key=len)) if not argument else ""
        metavar = param.metavar or ("" if getattr(param, "is_flag", False) else param.name.upper())
        row = (names or metavar, "" if argument else metavar, (param.help or "") + default_in_words(param))
        where = "Arguments" if argument else "Options"
        where = next((title for title, names in HELP_PANELS.items() if param.name in names and title in panels), where)
        panels[where].append(row)
    if isinstance(command, typer.core.TyperGroup):
        panels["Commands"] = [
            (name, "", " ".join((sub.help or "").split("\n\n")[0].split()))
            for name, sub in command.commands.items()
            if not sub.hidden
        ]
    return [help_panel(title, rows) for title, rows in panels.items() if rows]


def help_page(ctx, command):
    """A command's --help: usage, its docstring, its panels, its examples."""
    paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(command.help or "").split("\n\n") if p.strip()]
    path = " ".join(ctx.command_path.split()[1:])
    examples = [(f"{program(ctx)} {example}", what) for example, what in EXAMPLES.get(path, ())]
    parts = [Text(usage_line(ctx, command), style="bold"), Text()]
    parts += [Text(p + "\n") for p in paragraphs]
    parts += help_panels(ctx, command)
    if examples:
        lines = [Text(f"# {what}\n", style="dim") + Text(example) for example, what in examples]
        parts.append(Panel(Text("\n").join(lines), title="Examples", title_align="left", border_style="dim"))
    return Group(*parts)
