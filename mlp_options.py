"""The command line's options, each declared once: one table (its type and help, its default,
the help page's panel), from which every command that takes an option gets it, and the help
pages drawn from the commands' parameters.

Typer makes a command's options from its function's signature; `takes` gives a command the
table's options as keyword parameters, so that `train` and `bench` share theirs, and `sweep`
parses train's own. The help pages are drawn here rather than by Typer, for what Typer's cannot
show: a metavar and never Click's ranges (`[x>=1]`) or type names, a long command's options in
panels, and examples at the end in a panel of their own. Its rooms, in order:
  option types   choices from mlp's registries, mlp's rules as checks, shared options
  the table      every option of train and bench, with its panel; `takes`
  help pages     usage, panels, examples
"""

import inspect
import math
from enum import Enum
from pathlib import Path
from typing import Annotated, NamedTuple

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import mlp
import mlp_data
import mlp_pictures
import mlp_run

# ----------------------------------------------------------------------------- option types


def choices(registry, name):
    """A str Enum of a registry's names, for Typer's choices (the registry is the one source)."""
    return Enum(name, {key: key for key in registry}, type=str)


Activation, Optimizer = choices(mlp.ACTIVATIONS, "name"), choices(mlp.OPTIMIZERS, "Optimizer")

Schedule, Augment = choices(mlp.SCHEDULES, "Schedule"), choices(mlp_pictures.AUGMENTATIONS, "Augment")

Normalize = choices(mlp.PREPROCESSINGS, "Normalize")

DType = choices(("float32", "float64"), "DType")

ClassWeight = choices(("none", "balanced"), "ClassWeight")

DEFAULTS = mlp.Settings._field_defaults  # one source for every training option's default


def rule(name):
    """A Typer callback checking an option by mlp's rule for the train argument `name`, so that
    a bad value is a usage error (exit 2) before any work, worded as mlp words it."""

    def check(value):
        problem = None if value is None else mlp.option_problem(name, value)
        if problem:
            raise typer.BadParameter(problem)
        return value

    return check


def positive(value):
    """A Typer callback: a bad option (exit 2) unless value > 0 and finite."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be greater than 0 and finite, got {value!r}")
    return value


def pixels_or_off(value):
    """A Typer callback: a bad option (exit 2) unless value is 0 (off) or a finite number > 0."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be 0 (off) or a number of pixels, got {value!r}")
    return value


def described(registry):
    """'name (what it does); ...' from a registry whose entries say what they do in `about`."""
    return "; ".join(f"{name} ({entry.about})" for name, entry in registry.items())


def default_lrs():
    """'0.1 for sgd and nesterov, 0.001 for adam and adamw', from the optimizer registry."""
    names = {}
    for name, optimizer in mlp.OPTIMIZERS.items():
        names.setdefault(optimizer.lr, []).append(name)
    return ", ".join(f"{lr:g} for {' and '.join(group)}" for lr, group in names.items())


def set_threads(n):
    """Typer callback of --threads: run NumPy's matrix products on n threads (0: leave as is).
    threadpoolctl finds the BLAS NumPy loaded (OpenBLAS, MKL, Accelerate ...) on any platform."""
    if n:
        from threadpoolctl import threadpool_limits

        try:
            threadpool_limits(limits=n, user_api="blas")  # for the rest of the process
        except OSError as e:  # it could not look at the loaded libraries
            raise typer.BadParameter(
                f"cannot set the BLAS threads here ({e}); start the command with OPENBLAS_NUM_THREADS={n} instead"
            ) from None
    return n


def checked(kind, name, **option):
    """Annotated[kind, typer.Option(**option)], its value checked by mlp's rule for `name`."""
    return Annotated[kind, typer.Option(callback=rule(name), **option)]


ActivationArgument = Annotated[
    Activation,
    typer.Argument(
        metavar="ACTIVATION", show_choices=False, help=f"Hidden-layer activation: {', '.join(mlp.ACTIVATIONS)}."
    ),
]

HiddenOption = Annotated[
    list[int],
    typer.Option(
        "--hidden",
        min=1,
        metavar="SIZES",
        help="Hidden layer sizes, e.g. --hidden 128 64 (or --hidden 128 --hidden 64).",
    ),
]

BatchSizeOption = Annotated[
    int,
    typer.Option(
        "--batch-size",
        metavar="N",
        callback=rule("batch_size"),
        show_default=False,
        help="Examples per gradient step; default 128 for pictures, 32 for a table.",
    ),
]

TtaOption = Annotated[
    int,
    typer.Option(
        "--tta",
        min=0,
        metavar="N",
        help="Test-time augmentation: average the probabilities of each picture and N mild random distortions of it "
        "(rotation up to 6 degrees, scaling up to 5%, shift up to 1 pixel; seeded); eval shows it beside the plain "
        "score, which stays as it is (0: off).",
    ),
]

EmaOption = Annotated[
    float,
    typer.Option(
        "--ema",
        metavar="DECAY",
        callback=rule("ema"),
        help="Keep a moving average of the weights, updated after every step with this decay (e.g. 0.999, "
        "about the last 1,000 steps; 0: off): it is what is scored and saved; the checkpoint also keeps the raw weights.",
    ),
]

DTypeOption = Annotated[
    DType, typer.Option("--dtype", metavar="TYPE", help="Floating-point type of weights and data: float32 or float64.")
]

ThreadsOption = Annotated[
    int,
    typer.Option(
        "--threads",
        min=0,
        metavar="N",
        callback=set_threads,
        help="Threads for NumPy's matrix products (0: the BLAS library's choice, one per core); use 1 for "
        "each of several trainings run at once on the same cores.",
    ),
]

LimitOption = Annotated[
    int, typer.Option("--limit", min=0, metavar="N", help="Use only the first N training images (0: all).")
]


def data_option(default):
    """The --data option, saying what it defaults to for its command."""
    return Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="DATA",
            show_default=False,
            help=f"A data set name ({', '.join(mlp_data.DATASETS)}: downloaded once into a cache folder, MNIST is "
            "shipped), or "
            + "; or ".join(form.about for form in mlp_data.DATA_FORMS.values())
            + f" (default: {default}).",
        ),
    ]


DataOption = data_option("mnist")  # train, reproduce, bench, plot samples

RecordedDataOption = data_option("the data the weights were trained on")  # eval, predict, plot
LabelColumnOption = Annotated[
    str | None,
    typer.Option(
        "--label-column",
        metavar="NAME",
        help="The CSV column holding the labels (default: the one named label; "
        "a file without a header has its label first).",
    ),
]

WeightsArgument = Annotated[
    Path, typer.Argument(metavar="WEIGHTS", help="Weights file written by train (.npz).", dir_okay=False)
]

PictureOption = Annotated[
    Path,
    typer.Option(
        metavar="FILE",
        dir_okay=False,
        help="Picture to write; its suffix picks the format (.png, .svg, .pdf, .jpg, ...; PNG without one).",
    ),
]

JsonOption = Annotated[
    Path | None,
    typer.Option("--json", metavar="FILE", help="Also write the results to this JSON file.", dir_okay=False),
]


# ----------------------------------------------------------------------------- the table


class Opt(NamedTuple):
    """One option: its type with Typer's declaration (flag, metavar, help, checks), its
    default, and the help page's panel that lists it."""

    type: object
    default: object
    panel: str


OPTIONS = {  # name (the command's parameter): the option; train's, in the order its page lists them
    "hidden": Opt(
        Annotated[
            list[int] | None,
            typer.Option(
                "--hidden",
                min=1,
                metavar="SIZES",
                show_default=False,
                help="Hidden layer sizes, e.g. --hidden 128 64 (or --hidden 128 --hidden 64); default 128, or the --init weights' sizes.",
            ),
        ],
        None,
        "Model",
    ),
    "epochs": Opt(
        checked(
            int,
            "epochs",
            metavar="N",
            show_default=False,
            help=f"Passes over the training set; default {DEFAULTS['epochs']}, or for small data enough for {mlp_run.ENOUGH_STEPS:,} steps (at most {mlp_run.MAX_FITTED_EPOCHS}).",
        ),
        DEFAULTS["epochs"],
        "Optimisation",
    ),
    "batch_size": Opt(BatchSizeOption, DEFAULTS["batch_size"], "Optimisation"),
    "lr": Opt(
        checked(
            float | None,
            "lr",
            metavar="LR",
            show_default=False,
            help=f"Learning rate (the peak with a schedule); default {default_lrs()}.",
        ),
        None,
        "Optimisation",
    ),
    "momentum": Opt(
        checked(
            float,
            "momentum",
            metavar="M",
            help="Momentum, in [0, 1), for "
            + " and ".join(n for n, o in mlp.OPTIMIZERS.items() if o.uses_momentum)
            + ".",
        ),
        DEFAULTS["momentum"],
        "Optimisation",
    ),
    "optimizer": Opt(
        Annotated[
            Optimizer,
            typer.Option(
                metavar="NAME",
                show_default=False,
                help=f"Optimizer: {described(mlp.OPTIMIZERS)}; default sgd for pictures, adam for a table.",
            ),
        ],
        DEFAULTS["optimizer"],
        "Optimisation",
    ),
    "weight_decay": Opt(
        checked(
            float,
            "weight_decay",
            metavar="WD",
            show_default=False,
            help="Weight decay of the weights (not biases): L2, or decoupled for adamw; default 0 for pictures, 0.001 for a table.",
        ),
        DEFAULTS["weight_decay"],
        "Regularisation",
    ),
    "dropout": Opt(
        checked(
            float, "dropout", metavar="P", help="Probability of dropping each hidden unit while training, in [0, 1)."
        ),
        DEFAULTS["dropout"],
        "Regularisation",
    ),
    "clip": Opt(
        checked(float, "clip", metavar="NORM", help="Clip the global gradient norm to this value (0: off)."),
        DEFAULTS["clip"],
        "Optimisation",
    ),
    "label_smoothing": Opt(
        checked(float, "label_smoothing", metavar="EPS", help="Label smoothing of the targets, in [0, 1)."),
        DEFAULTS["label_smoothing"],
        "Regularisation",
    ),
    "schedule": Opt(
        Annotated[Schedule, typer.Option(metavar="NAME", help=f"Learning-rate schedule: {described(mlp.SCHEDULES)}.")],
        DEFAULTS["schedule"],
        "Optimisation",
    ),
    "warmup": Opt(
        checked(int, "warmup", metavar="N", help="Epochs of linear learning-rate warm-up."),
        DEFAULTS["warmup"],
        "Optimisation",
    ),
    "val": Opt(
        Annotated[
            int,
            typer.Option(
                min=0,
                metavar="N",
                help="Hold out this many training examples (stratified) for validation; the best epoch's weights are kept.",
            ),
        ],
        0,
        "Regularisation",
    ),
    "patience": Opt(
        checked(
            int,
            "patience",
            metavar="K",
            help="Stop after this many epochs without better validation accuracy (0: never; needs --val).",
        ),
        DEFAULTS["patience"],
        "Regularisation",
    ),
    "augment": Opt(
        Annotated[
            Augment,
            typer.Option(
                metavar="KIND", help=f"Random distortions of training images: {described(mlp_pictures.AUGMENTATIONS)}."
            ),
        ],
        DEFAULTS["augment_kind"],
        "Regularisation",
    ),
    "augment_end": Opt(
        checked(
            float,
            "augment_end",
            metavar="FRACTION",
            help="The distortions' strength in the last epoch as a fraction of the first's, in a straight line between (e.g. 0.5; 1: the same throughout).",
        ),
        DEFAULTS["augment_end"],
        "Regularisation",
    ),
    "ema": Opt(EmaOption, DEFAULTS["ema"], "Regularisation"),
    "seed": Opt(
        checked(int, "seed", metavar="N", help="Seed of every random choice (init, shuffling, dropout, augmentation)."),
        DEFAULTS["seed"],
        "Run",
    ),
    "threads": Opt(ThreadsOption, 0, "Run"),
    "normalize": Opt(
        Annotated[
            Normalize | None,
            typer.Option(
                metavar="KIND",
                show_default=False,
                help=f"Input preprocessing, fitted to the training set and stored with the weights (default range for pictures, turned over when their background is light; standard for a table; the --init weights' own): {described(mlp.PREPROCESSINGS)}.",
            ),
        ],
        None,
        "Data",
    ),
    "deslant": Opt(
        Annotated[
            bool,
            typer.Option(
                "--deslant",
                help="Straighten every picture's slant (a shear along its rows, from its own moments) before anything else: stored with the weights, so predict, draw and export straighten theirs too.",
            ),
        ],
        False,
        "Data",
    ),
    "width": Opt(
        Annotated[
            float,
            typer.Option(
                metavar="PIXELS",
                callback=pixels_or_off,
                help=f"Stretch or squeeze every picture along its rows so that its ink spreads this many pixels (a standard deviation; within {mlp.WIDTH_STRETCH[0]:.2g}-{mlp.WIDTH_STRETCH[1]:g}x; 0: off), stored as --deslant is.",
            ),
        ],
        0.0,
        "Data",
    ),
    "dtype": Opt(DTypeOption, DType.float32, "Model"),
    "out": Opt(
        Annotated[
            str,
            typer.Option(
                metavar="FILE",
                help="Where to write the weights (.npz); the history goes beside it as .history.json, and a checkpoint after every epoch as .ckpt.npz (the same command resumes from it).",
            ),
        ],
        "weights.npz",
        "Output",
    ),
    "resume": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="CKPT",
                help="Continue from this checkpoint (one beside --out is found without it); give the same options as the interrupted run (--epochs may be larger with the constant and plateau schedules).",
                dir_okay=False,
            ),
        ],
        None,
        "Output",
    ),
    "data": Opt(DataOption, mlp_data.DEFAULT_DATA, "Data"),
    "label_column": Opt(LabelColumnOption, None, "Data"),
    "checkpoint_every": Opt(
        Annotated[
            float,
            typer.Option(
                "--checkpoint-every",
                metavar="SECONDS",
                min=0,
                help="Also save the checkpoint part-way through an epoch this often, for long epochs (0: at the end of each epoch only).",
            ),
        ],
        60.0,
        "Output",
    ),
    "test_every": Opt(
        Annotated[
            int,
            typer.Option(
                "--test-every",
                metavar="K",
                min=1,
                help="Score the test set after every K-th epoch only (and after the last, and each new best with --val): "
                "for long runs of short epochs; the table leaves the other epochs' test column empty.",
            ),
        ],
        1,
        "Output",
    ),
    "init": Opt(
        Annotated[
            Path | None,
            typer.Option(
                "--init",
                metavar="WEIGHTS",
                dir_okay=False,
                help="Start from these saved weights instead of a random init (fine-tuning): the same layer sizes and activation; their preprocessing and class names are kept.",
            ),
        ],
        None,
        "Model",
    ),
    "class_weight": Opt(
        Annotated[
            ClassWeight,
            typer.Option(
                "--class-weight",
                metavar="KIND",
                help="Weigh each example's loss by its class: none, or balanced (n / (classes x the class's count), "
                "as scikit-learn's class_weight='balanced'), for data where some classes are rare.",
            ),
        ],
        ClassWeight.none,
        "Optimisation",
    ),
    "bench_hidden": Opt(HiddenOption, [128, 64], "Model"),
    "bench_activation": Opt(
        Annotated[
            Activation,
            typer.Option(
                "--activation", metavar="NAME", help=f"Hidden-layer activation: {', '.join(mlp.ACTIVATIONS)}."
            ),
        ],
        Activation.relu,
        "Model",
    ),
    "bench_epochs": Opt(
        Annotated[int, typer.Option("--epochs", min=1, metavar="N", help="Epochs to time; the median is reported.")],
        3,
        "Optimisation",
    ),
    "limit": Opt(LimitOption, 0, "Data"),
    "torch": Opt(
        Annotated[
            bool,
            typer.Option(
                "--torch",
                help="Also train the same network with the same optimizer, rates and dropout in PyTorch (CPU, all cores), in a separate process; needs torch installed.",
            ),
        ],
        False,
        "Compare",
    ),
    "bench_seed": Opt(
        Annotated[
            int,
            typer.Option(
                "--seed",
                metavar="N",
                callback=rule("seed"),
                help="Seed of the network, the shuffling (and scikit-learn's random_state).",
            ),
        ],
        DEFAULTS["seed"],
        "Run",
    ),
    "sklearn": Opt(
        Annotated[
            bool,
            typer.Option(
                "--sklearn",
                help="Also fit scikit-learn's MLPClassifier with its defaults and the same hidden sizes on the same split and inputs (--normalize standard: behind its StandardScaler), in a separate process; needs scikit-learn installed.",
            ),
        ],
        False,
        "Compare",
    ),
    "sklearn_epochs": Opt(
        Annotated[
            int,
            typer.Option(
                "--sklearn-epochs",
                metavar="N",
                min=1,
                help="scikit-learn's max_iter: at most this many epochs (it may stop earlier when its training loss stalls).",
            ),
        ],
        200,
        "Compare",
    ),
    "json_path": Opt(JsonOption, None, "Output"),
}

TRAIN_OPTIONS = (
    "hidden",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "optimizer",
    "weight_decay",
    "dropout",
    "clip",
    "label_smoothing",
    "schedule",
    "warmup",
    "val",
    "patience",
    "augment",
    "augment_end",
    "ema",
    "seed",
    "threads",
    "normalize",
    "deslant",
    "width",
    "dtype",
    "out",
    "resume",
    "data",
    "label_column",
    "checkpoint_every",
    "test_every",
    "init",
    "class_weight",
)
BENCH_OPTIONS = (
    "bench_hidden",
    "bench_activation",
    "batch_size",
    "bench_epochs",
    "optimizer",
    "lr",
    "schedule",
    "warmup",
    "dropout",
    "augment",
    "ema",
    "dtype",
    "limit",
    "threads",
    "data",
    "label_column",
    "normalize",
    "torch",
    "bench_seed",
    "sklearn",
    "sklearn_epochs",
    "json_path",
)


def takes(*names):
    """A decorator: the command's signature gains the table's options `names` (in that order) as
    keyword parameters, which Typer parses and passes to its **options."""

    def decorate(command):
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=OPTIONS[name].type, default=OPTIONS[name].default
            )
            for name in names
        ]
        command.__signature__ = signature.replace(parameters=own + added)
        return command

    return decorate


# ----------------------------------------------------------------------------- help pages
# Drawn here rather than by Typer, so that a page shows what a reader needs (the metavar, never
# Typer's type names or Click's ranges), a long command's options in panels, and examples.
PANELS = ("Model", "Optimisation", "Regularisation", "Data", "Output", "Run", "Compare")
HELP_PANELS = {  # panel: the parameters it lists, on a page with more than PANELS_FROM options
    "Sweep": ("trials", "jobs", "storage", "study", "space", "show_only", "heartbeat"),  # sweep's own
    **{
        panel: ("activation",) * (panel == "Model") + tuple(n for n, o in OPTIONS.items() if o.panel == panel)
        for panel in PANELS
    },
}
PANELS_FROM = 8

EXAMPLES = {  # command: (its arguments, what they do), shown at the end of its page
    "": (("train relu --hidden 128 64", "train a network on MNIST"), ("eval weights.npz", "score it")),
    "train": (
        ("train relu --hidden 128 64", "784-128-64-10 on MNIST, 10 epochs"),
        ("train relu --data fashion-mnist --val 5000 --patience 3", "another data set, early stopping"),
        ("train relu --data table.csv --label-column species", "a CSV table: the defaults fit it"),
        ("train relu --init weights.npz --data my-digits/ --out tuned.npz", "fine-tune on your pictures"),
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
    "plot mistakes": (("plot mistakes weights.npz", "the most confident mistakes"),),
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
    import inspect

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
