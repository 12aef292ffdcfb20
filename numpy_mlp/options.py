"""The command line's options, each declared once: one table, OPTIONS (an option's type with
Typer's declaration, its default, its help page's panel), from which every command's signature
takes its parameters as `name: Option.name = Default.name` (sweep parses train's own). The
help pages that show them are numpy_mlp.help's. Its rooms, in order:
  option types   choices from mlp's registries, mlp's rules as checks, shared options
  the table      every option of every command, with its panel; Option and Default
"""

import inspect
import math
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, NamedTuple

import typer

import mlp
from numpy_mlp import data as mlp_data
from numpy_mlp import decisions as mlp_decisions
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run

# ----------------------------------------------------------------------------- option types


def choices(registry, name):
    """A str Enum of a registry's names, for Typer's choices (the registry is the one source)."""
    return Enum(name, {key: key for key in registry}, type=str)


Activation, Optimizer = choices(mlp.ACTIVATIONS, "name"), choices(mlp.OPTIMIZERS, "Optimizer")

Schedule, Augment = choices(mlp.SCHEDULES, "Schedule"), choices(mlp_pictures.AUGMENTATIONS, "Augment")

Normalize = choices(mlp.PREPROCESSINGS, "Normalize")

DType = choices(("float32", "float64"), "DType")

ThresholdFor = choices((*mlp_decisions.THRESHOLD_METRICS, "none"), "ThresholdFor")

ClassWeight = choices(("none", "balanced"), "ClassWeight")

Task = choices(mlp.TASKS, "Task")

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
        help="Threads for NumPy's matrix products (0: one per core; on Linux fewer while other programs use the "
        "cores, when the run's products give the same bits on any number of threads). Either way the same seed "
        "gives the same weights; N fixes the count (N=1 for several runs at once).",
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
        help="The table's column holding the labels (default: the one named label, target, y or class, in "
        "any case; a file without a header has its label first, or last when that holds words).",
    ),
]


def ColumnsOption(says):  # noqa: N802 (a type, as the Annotated types above)
    """An option naming some of a table's columns: repeated, or several in one value separated by commas."""
    return Annotated[
        list[str] | None,
        typer.Option(
            metavar="COLUMN", show_default=False, help=f"{says} Repeat it, or name several separated by commas."
        ),
    ]


WeightsArgument = Annotated[
    Path, typer.Argument(metavar="WEIGHTS", help="Weights file written by train (.npz).", dir_okay=False)
]


def WeightsFilesArgument(says):  # noqa: N802 (a type, as the Annotated types above)
    """The weights files a command takes (one or more), and what it does with several."""
    return Annotated[
        list[Path],
        typer.Argument(metavar="WEIGHTS...", help=f"Weights files written by train (.npz); {says}", dir_okay=False),
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


StorageOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        envvar="MLP_SWEEP_STORAGE",
        show_envvar=False,
        show_default=False,
        help="Where the study lives, as Optuna takes it: sqlite:///sweep.db, or postgresql://user:password@host/db for workers on many machines (also from $MLP_SWEEP_STORAGE, which keeps a password off the command line); default sweep.db beside --out (plot sweep: here).",
    ),
]


# ----------------------------------------------------------------------------- the table


class Opt(NamedTuple):
    """One option: its type with Typer's declaration (flag, metavar, help, checks), its
    default, and the help page's panel that lists it."""

    type: object
    default: object
    panel: str


OPTIONS = {  # key: the option; train's first, in the order its page lists them, then bench's and the rest
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
                help="Hold out this many training examples (stratified) for validation; the best epoch's weights are kept. "
                "Left out: none, or for a table of more than 10,000 rows a tenth (with --patience 20; --val 0: none).",
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
    "calibrate": Opt(
        Annotated[
            bool,
            typer.Option(
                "--calibrate/--no-calibrate",
                help="With --val, fit a temperature on the validation split after training (the logits divided by it "
                "before the softmax, so that a 90% is right 90% of the time; no prediction changes): stored with the "
                "weights, applied by eval, predict, draw, export and the estimators.",
            ),
        ],
        True,
        "Regularisation",
    ),
    "threshold_for": Opt(
        Annotated[
            ThresholdFor | None,
            typer.Option(
                "--threshold-for",
                metavar="METRIC",
                show_default=False,
                help="With --val, for two classes or several labels per example: the probability at which a yes is "
                "given, tuned on the validation split for f1 (of the positive class, the second class in order) or "
                "balanced-accuracy, stored with the weights and applied by eval, predict and export; none: 0.5. "
                f"Default: f1 when the positive class is under {mlp_decisions.RARE_POSITIVE:.0%} of the examples, "
                "else none.",
            ),
        ],
        None,
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
    "log": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                show_default=False,
                help="Also write each epoch's record (epoch, lr, loss and scores, seconds) to FILE as it ends: .jsonl "
                "(a JSON object a line) or .csv, flushed every epoch (tail -f reads it live); a resumed run writes it "
                "again from its checkpoint, so every epoch is in it once.",
            ),
        ],
        None,
        "Output",
    ),
    "tensorboard": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="DIR",
                show_default=False,
                file_okay=False,
                help="Also write each epoch's numbers to TensorBoard event files in DIR (and the weights' histograms at "
                "the end), flushed every epoch: tensorboard --logdir DIR shows the run live. Needs the tensorboard extra.",
            ),
        ],
        None,
        "Output",
    ),
    "mlflow": Opt(
        Annotated[
            bool | None,
            typer.Option(
                "--mlflow/--no-mlflow",
                show_default=False,
                help="Also log the run to MLflow: the options as params, each epoch's numbers as metrics at its step, the "
                "weights, history and curves as artifacts; to the server MLFLOW_TRACKING_URI names, else to mlflow.db in the "
                "working folder. On by itself when MLFLOW_TRACKING_URI is set. Needs the mlflow extra.",
            ),
        ],
        None,
        "Output",
    ),
    "mlflow_experiment": Opt(
        Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                show_default=False,
                help="The MLflow experiment the run goes in (made if new); else MLFLOW_EXPERIMENT_NAME, else numpy-mlp.",
            ),
        ],
        None,
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
    "categorical": Opt(
        ColumnsOption(
            "A table's column to take as categories (one-hot), whatever it holds: a code or a grade written as numbers."
        ),
        None,
        "Data",
    ),
    "ignore": Opt(
        ColumnsOption("A table's column to leave out (a name, a note, a column that gives the answer away)."),
        None,
        "Data",
    ),
    "task": Opt(
        Annotated[
            Task | None,
            typer.Option(
                metavar="TASK",
                show_default=False,
                help="What the labels are: classification (classes) or regression (numbers to fit: mean squared "
                "error, scored by R²). Default: regression when they are numbers not all whole, else classification.",
            ),
        ],
        None,
        "Data",
    ),
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
    "busy": Opt(
        Annotated[
            int,
            typer.Option(
                "--busy",
                metavar="N",
                min=0,
                max=64,
                help="Then time the epochs again beside N busy processes bench starts (one core each), and report the slowdowns (PyTorch's too with --torch).",
            ),
        ],
        0,
        "Compare",
    ),
    "json_path": Opt(JsonOption, None, "Output"),
    # the other commands' options
    "activation": Opt(ActivationArgument, inspect.Parameter.empty, "Options"),
    "trials": Opt(
        Annotated[
            int,
            typer.Option(
                min=1,
                metavar="N",
                help="Finished trials (complete or pruned) the study is to hold, counted over every worker; a later sweep with a larger N continues it.",
            ),
        ],
        20,
        "Sweep",
    ),
    "jobs": Opt(
        Annotated[
            int, typer.Option(min=1, metavar="N", help="Local worker processes, the BLAS threads divided between them.")
        ],
        1,
        "Sweep",
    ),
    "storage": Opt(StorageOption, None, "Sweep"),
    "sweep.study": Opt(
        Annotated[
            str | None,
            typer.Option(
                metavar="NAME",
                show_default=False,
                help="The study's name; default the activation and the train options given ('relu --epochs 3'): the same command continues its study.",
            ),
        ],
        None,
        "Sweep",
    ),
    "plot_sweep.study": Opt(
        Annotated[
            str | None,
            typer.Option(
                metavar="NAME", show_default=False, help="The study; default the one made last in the storage."
            ),
        ],
        None,
        "Sweep",
    ),
    "space": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                dir_okay=False,
                help="The search space, a .toml or .json file (see docs/commands.md); default: width and depth, lr, batch size, dropout, weight decay, schedule, shift.",
            ),
        ],
        None,
        "Sweep",
    ),
    "sweep.out": Opt(
        Annotated[
            str,
            typer.Option(
                metavar="FILE", help="Where to write the best trial's weights (.npz), its history beside them."
            ),
        ],
        "sweep.npz",
        "Options",
    ),
    "predict.out": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                dir_okay=False,
                help="Write the predictions to this CSV file: ImageId,Label for a CSV of rows (Kaggle's submission format), path,class,probability for pictures (default: print them).",
            ),
        ],
        None,
        "Options",
    ),
    "plot_samples.out": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                dir_okay=False,
                show_default=False,
                help="Picture to write (default: the data's name, mnist.png for MNIST); its suffix picks the format.",
            ),
        ],
        None,
        "Options",
    ),
    "plot_curves.out": Opt(PictureOption, Path("curves.png"), "Options"),
    "plot_confusion.out": Opt(PictureOption, Path("confusion.png"), "Options"),
    "plot_mistakes.out": Opt(PictureOption, Path("mistakes.png"), "Options"),
    "plot_scatter.out": Opt(PictureOption, Path("scatter.png"), "Options"),
    "plot_weights.out": Opt(PictureOption, Path("weights.png"), "Options"),
    "plot_sweep.out": Opt(PictureOption, Path("sweep.png"), "Options"),
    "plot_reliability.out": Opt(PictureOption, Path("reliability.png"), "Options"),
    "plot_reliability.weights": Opt(
        WeightsFilesArgument("each is drawn as a line of its own, on its test set."), inspect.Parameter.empty, "Options"
    ),
    "show_only": Opt(
        Annotated[
            bool, typer.Option("--show", help="Print the study's trials and best command from its storage, and stop.")
        ],
        False,
        "Sweep",
    ),
    "heartbeat": Opt(
        Annotated[
            float,
            typer.Option(
                min=1,
                metavar="SECONDS",
                help="How often a worker says it is alive: a trial silent for three beats (its worker killed) is marked failed and retried.",
            ),
        ],
        10.0,
        "Sweep",
    ),
    "worker": Opt(Annotated[bool, typer.Option("--worker", hidden=True)], False, "Options"),
    "weights": Opt(WeightsArgument, inspect.Parameter.empty, "Options"),
    "evaluate.weights": Opt(
        WeightsFilesArgument("several are an ensemble: their probabilities are averaged."),
        inspect.Parameter.empty,
        "Options",
    ),
    "draw.weights": Opt(WeightsFilesArgument("several are an ensemble."), inspect.Parameter.empty, "Options"),
    "recorded_data": Opt(RecordedDataOption, None, "Options"),
    "mistakes": Opt(
        Annotated[int, typer.Option(min=0, metavar="N", help="How many of the most confident mistakes to list.")],
        10,
        "Options",
    ),
    "tta": Opt(TtaOption, 0, "Options"),
    "reproduce.epochs": Opt(
        Annotated[
            int, typer.Option(metavar="N", callback=rule("epochs"), help="Epochs for every run (the original used 10).")
        ],
        10,
        "Options",
    ),
    "reproduce.seed": Opt(
        Annotated[int, typer.Option(metavar="N", callback=rule("seed"), help="Seed of every run.")], 0, "Options"
    ),
    "gradcheck.seed": Opt(
        Annotated[
            int,
            typer.Option(
                metavar="N", callback=rule("seed"), help="Seed of the network, the batch and the dropout masks."
            ),
        ],
        0,
        "Options",
    ),
    "gradcheck.hidden": Opt(HiddenOption, [7, 6], "Options"),
    "inputs": Opt(
        Annotated[int, typer.Option(min=1, metavar="N", help="Input features of the small test network.")],
        10,
        "Options",
    ),
    "classes": Opt(
        Annotated[int, typer.Option(min=2, metavar="C", help="Classes of the small test network.")], 4, "Options"
    ),
    "batch": Opt(Annotated[int, typer.Option(min=1, metavar="B", help="Random examples in the batch.")], 8, "Options"),
    "gradcheck.dropout": Opt(
        Annotated[
            float,
            typer.Option(metavar="P", callback=rule("dropout"), help="Dropout, in [0, 1); its masks are held fixed."),
        ],
        0.0,
        "Options",
    ),
    "gradcheck.task": Opt(
        Annotated[
            Task,
            typer.Option(
                metavar="TASK",
                help="The loss whose backward pass is checked: classification (softmax cross-entropy over --classes "
                "outputs) or regression (mean squared error on --classes numbers).",
            ),
        ],
        Task("classification"),
        "Options",
    ),
    "gradcheck.label_smoothing": Opt(
        Annotated[
            float,
            typer.Option(
                metavar="EPS", callback=rule("label_smoothing"), help="Label smoothing of the targets, in [0, 1)."
            ),
        ],
        0.0,
        "Options",
    ),
    "rtol": Opt(
        Annotated[
            float,
            typer.Option(
                metavar="R",
                min=0,
                help="Relative tolerance: |analytic - numeric| may be up to atol + rtol x |numeric|.",
            ),
        ],
        mlp.GRADCHECK_RTOL,
        "Options",
    ),
    "atol": Opt(
        Annotated[
            float,
            typer.Option(
                metavar="A",
                callback=positive,
                help="Absolute tolerance, above 0, for gradients near zero (see --rtol).",
            ),
        ],
        mlp.GRADCHECK_ATOL,
        "Options",
    ),
    "paths": Opt(
        Annotated[
            list[Path],
            typer.Argument(
                metavar="WEIGHTS... [INPUT]...",
                help="Weights files written by train (.npz; several are an ensemble), then pictures (PNG, JPG, ...: any size, dark or light background; needs Pillow), folders of pictures, or one CSV of unlabelled rows.",
            ),
        ],
        inspect.Parameter.empty,
        "Options",
    ),
    "index": Opt(
        Annotated[int | None, typer.Option(min=0, metavar="N", help="Predict the N-th test example instead.")],
        None,
        "Options",
    ),
    "top": Opt(Annotated[int, typer.Option(min=1, help="How many classes to show.")], 3, "Options"),
    "explain": Opt(
        Annotated[
            Path | None,
            typer.Option(
                metavar="PICTURE",
                dir_okay=False,
                help="Also write why it said that (needs matplotlib): the gradient of the predicted class's score, and the runner-up's, over what the network sees, as a heat map (e.g. why.png).",
            ),
        ],
        None,
        "Options",
    ),
    "model": Opt(
        Annotated[Path, typer.Argument(metavar="MODEL", help="Where to write the ONNX model (.onnx).", dir_okay=False)],
        Path("model.onnx"),
        "Options",
    ),
    "host": Opt(
        Annotated[
            str, typer.Option(metavar="HOST", help="Address to listen on; 0.0.0.0 lets anyone on the network use it.")
        ],
        "127.0.0.1",
        "Options",
    ),
    "port": Opt(
        Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port to listen on (0: any free port).")],
        8000,
        "Options",
    ),
    "no_browser": Opt(
        Annotated[bool, typer.Option("--no-browser", help="Do not open the page in the default browser.")],
        False,
        "Options",
    ),
    "bench": Opt(
        Annotated[
            int,
            typer.Option(
                min=0,
                metavar="N",
                help="Instead of serving: time N predictions of a test digit, one client then 8 at once, and exit.",
            ),
        ],
        0,
        "Options",
    ),
    "plot_samples.n": Opt(
        Annotated[
            int, typer.Option(metavar="N", min=1, max=200, help="How many test images to show, as many of each class.")
        ],
        40,
        "Options",
    ),
    "plot_mistakes.n": Opt(
        Annotated[int, typer.Option(min=1, max=100, help="How many mistakes to show.")], 30, "Options"
    ),
    "plot_weights.n": Opt(
        Annotated[int, typer.Option(min=1, max=256, help="How many first-layer units to show.")], 48, "Options"
    ),
    "history": Opt(
        Annotated[
            Path,
            typer.Argument(
                metavar="HISTORY",
                help="History file written by train (.history.json), or the weights file it is beside.",
                dir_okay=False,
            ),
        ],
        inspect.Parameter.empty,
        "Options",
    ),
    "plot_architecture.out_dir": Opt(
        Annotated[
            Path,
            typer.Option(metavar="DIR", help="Folder for model-1.png, model-2.png and model-3.png.", file_okay=False),
        ],
        Path("."),
        "Options",
    ),
    "plot_all.out_dir": Opt(
        Annotated[
            Path,
            typer.Option(
                metavar="DIR", help="Folder for every picture (the README's are in assets/).", file_okay=False
            ),
        ],
        Path("."),
        "Options",
    ),
}

TRAIN_OPTIONS = tuple(
    "hidden epochs batch_size lr momentum optimizer weight_decay dropout clip label_smoothing schedule warmup val "
    "patience calibrate threshold_for augment augment_end ema seed threads normalize deslant width dtype out resume data label_column categorical "
    "ignore task checkpoint_every test_every init class_weight log tensorboard mlflow mlflow_experiment".split()
)
BENCH_OPTIONS = tuple(
    "bench_hidden bench_activation batch_size bench_epochs optimizer lr schedule warmup dropout augment ema dtype "
    "limit threads data label_column categorical ignore task normalize torch busy bench_seed sklearn sklearn_epochs json_path".split()
)


# Each entry as an attribute, for the commands' signatures (a command's own entry "plot_samples.n"
# as plot_samples_n): `hidden: Option.hidden = Default.hidden` declares train's --hidden there,
# its type, flag, help and checks written once, above.
Option = SimpleNamespace(**{key.replace(".", "_"): entry.type for key, entry in OPTIONS.items()})
Default = SimpleNamespace(**{key.replace(".", "_"): entry.default for key, entry in OPTIONS.items()})
