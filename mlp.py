"""A multi-layer perceptron in NumPy, for classes or numbers, written as pure functions.

One file, NumPy and the standard library only: copy it into any project.

    params = init([784, 128, 64, 10], "relu", seed=0)
    logits, cache = forward(params, x, "relu")      # x: (B, 784) float32
    value = loss(logits, y)                         # y: (B,) int labels
    g = grads(params, cache, y)                     # same keys and shapes as params
    params, state = update(params, g, state, lr=0.05, momentum=0.9)   # state = {} at first
    params, history = train(params, x_train, y_train, Settings(activation="relu", epochs=10))

Conventions: batch first (`x` is `(B, n_in)`); params are a flat dict `{"W1": (n_in, n_1),
"b1": (n_1,), ..., "WL": (n_{L-1}, C), "bL": (C,)}`; a layer computes `x @ W + b`. Grads and
optimizer state use the same keys and shapes. Every function returns new arrays and never
mutates its inputs; randomness comes only from a seed or a Generator passed in. float32 by
default, float64 for checks. Numbers as targets: task="regression" (TASKS), mean squared error.

The file reads top to bottom: every function uses only names defined above it.
Part I, the network (what a student reads):
  activations, init, forward, loss, grads    the network and its backward pass (TASKS)
  optimizers, schedules                      update (sgd, adam), learning rates
  preprocessing                              inputs from raw pixels (straightening included)
  training                                   Settings; train = train_epoch per epoch + validation
  metrics, gradient check                    evaluate, the reports; gradcheck
Part II, keeping a network: self-describing .npz weights written atomically (save, load);
MNIST's IDX files (read_idx, load_mnist). Each idea with variants is one registry whose entries
hold the behaviour (ACTIVATIONS, TASKS, OPTIMIZERS, SCHEDULES, PREPROCESSINGS).

Left out on purpose: convolutions, GPUs, autodiff, any class holding state, and everything
the toolkit around this file does (other data forms: numpy_mlp/data.py; pictures and augmentation's
distortions, which `train` takes as a batch `transform`: numpy_mlp/pictures.py; cli.py).
"""

import gzip
import json
import math
import os
import re
import stat
import struct
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np

__version__ = "0.1.0"  # the toolkit's; pyproject.toml reads it from here

# =============================================================================
# Part I: the network
# =============================================================================


# ----------------------------------------------------------------------------- activations
# One registry: an entry is everything the network needs to know about an activation. Adding
# one is one entry here (plus its test); init, forward, grads and the CLI's choices read it
# (other frameworks' names for it live with the code that uses them: mlp_onnx, mlp_bench).


class Activation(NamedTuple):
    f: Callable  # a = f(z), element-wise
    df: Callable  # df(z, a): derivative at the pre-activation z; a = f(z) is passed too
    # because some derivatives are cheaper from the output (tanh, sigmoid)
    init_std: Callable  # init_std(n_in, n_out): weight scale that keeps the signal's variance
    kinks: tuple = ()  # inputs z where f has no derivative (relu's 0): `gradcheck` skips them


def he_std(n_in, n_out):
    return math.sqrt(2.0 / n_in)  # He et al. 2015: rectifiers halve the variance


def glorot_std(n_in, n_out):
    return math.sqrt(2.0 / (n_in + n_out))  # Glorot & Bengio 2010: symmetric saturating units


_GELU_C = math.sqrt(2.0 / math.pi)


def _sigmoid(z):
    return 0.5 + 0.5 * np.tanh(0.5 * z)  # same as 1 / (1 + exp(-z)), but never overflows


def _leaky_relu(z):
    return np.where(z > 0, z, 0.01 * z)


def _leaky_relu_df(z, a):
    return np.where(z <= 0, z.dtype.type(0.01), z.dtype.type(1))


def _gelu(z):  # tanh approximation (Hendrycks & Gimpel 2016), as in GPT-2
    return 0.5 * z * (1 + np.tanh(_GELU_C * (z + 0.044715 * z**3)))


def _gelu_df(z, a):
    t = np.tanh(_GELU_C * (z + 0.044715 * z**3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * z * z)


ACTIVATIONS = {
    "tanh": Activation(f=np.tanh, df=lambda z, a: 1 - a * a, init_std=glorot_std),
    "sigmoid": Activation(f=_sigmoid, df=lambda z, a: a * (1 - a), init_std=glorot_std),
    # relu's derivative is a bool mask: x * mask keeps x's dtype
    "relu": Activation(f=lambda z: np.maximum(z, 0), df=lambda z, a: z > 0, init_std=he_std, kinks=(0.0,)),
    "leaky_relu": Activation(f=_leaky_relu, df=_leaky_relu_df, init_std=he_std, kinks=(0.0,)),
    "gelu": Activation(f=_gelu, df=_gelu_df, init_std=he_std),
}


def lookup(registry, name, what):
    """registry[name], or a ValueError listing the choices."""
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(registry)}")
    return registry[name]


# ----------------------------------------------------------------------------- init


def init(sizes, activation, seed=0, dtype=np.float32):
    """Random parameters: biases zero, weights drawn at the scale the activation's entry says.

    Args:
        sizes: the layer sizes [n_in, n_1, ..., C], at least two positive ints.
        activation: an ACTIVATIONS name (it chooses He's or Glorot's scale).
        seed: an int or a np.random.Generator (the same seed, the same bits).
        dtype: a float dtype for every array.

    Returns:
        dict: {"W1": (n_in, n_1), "b1": (n_1,), ..., "WL": (n_{L-1}, C), "bL": (C,)}.
    """
    init_std = lookup(ACTIVATIONS, activation, "activation").init_std
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"dtype must be a float type (np.float32 or np.float64), got {np.dtype(dtype)}")
    if len(sizes) < 2 or any(int(n) != n or n < 1 for n in sizes):
        raise ValueError(f"sizes must be at least two positive ints, got {list(sizes)}")
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{l}"] = (rng.standard_normal((n_in, n_out)) * init_std(n_in, n_out)).astype(dtype)
        params[f"b{l}"] = np.zeros(n_out, dtype)
    return params


def n_layers(params):
    """Number of linear layers L in `params` (keys W1..WL)."""
    return len(params) // 2


def sizes_of(params):
    """[n_in, n_1, ..., C] read back from the weight shapes."""
    L = n_layers(params)
    return [params["W1"].shape[0]] + [params[f"W{l}"].shape[1] for l in range(1, L + 1)]


# ----------------------------------------------------------------------------- forward


def as_inputs(params, x, cast=True):
    """x as the input of the network `params`, cast to the weights' dtype (float64 data for
    float32 weights: grads and weights keep theirs). ValueError unless a (B, n_in) float array
    (integer pixels need scaling first: `preprocess`)."""
    n_in, dtype = params["W1"].shape[0], params["W1"].dtype
    if getattr(x, "ndim", None) != 2 or x.shape[1] != n_in or x.dtype.kind != "f":
        raise ValueError(
            f"inputs must be a (batch, {n_in}) float array for this network, got "
            f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}"
        )
    return x if x.dtype == dtype or not cast else x.astype(dtype)


def check_labels(y, n_classes, n=None):
    """ValueError unless y is a 1-D int array of labels in [0, n_classes) (and n of them)."""
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of ints, got {y.dtype} {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{n} examples but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be ints in [0, {n_classes}) for {n_classes} classes, got {y.min()} to {y.max()}")


def dropout_mask(shape, dropout, rng, dtype):
    """Inverted dropout's mask: 0 with probability `dropout` (to 1/65536), else 1 / (1 - that),
    so that E[a * mask] = a. Four 16-bit draws come from each 64 random bits, three times
    faster than rng.random's floats."""
    dropped, n = min(round(dropout * 65536), 65535), math.prod(shape)  # units whose 16 bits fall below `dropped`
    bits = rng.bit_generator.random_raw(-(-n // 4)).view(np.uint16)[:n]
    return (bits.reshape(shape) >= dropped) * np.asarray(65536 / (65536 - dropped), dtype)


def forward(params, x, activation, dropout=0.0, rng=None):
    """The network's outputs for a batch, and the cache `grads` needs.

    Args:
        params: {"W1": (n_in, n_1), "b1": (n_1,), ..., "WL": (n_{L-1}, C), "bL": (C,)}.
        x: (B, n_in) floats, cast to the weights' dtype (as_inputs).
        activation: the hidden layers' (an ACTIVATIONS name); the output layer is linear.
        dropout: probability of zeroing each hidden unit (inverted dropout, for training).
        rng: a np.random.Generator, needed when dropout > 0 (it draws the masks).

    Returns:
        (logits, cache): logits (B, C) (a regression's outputs, the numbers themselves); cache,
        each layer's input (B, n_{l-1}), pre-activation z and output a (B, n_l), the dropout
        masks and the logits, for `loss_and_grads`.
    """
    lookup(ACTIVATIONS, activation, "activation")
    x = as_inputs(params, x)
    if dropout and not (0 <= dropout < 1 and isinstance(rng, np.random.Generator)):
        raise ValueError(
            f"dropout must be in [0, 1) and needs rng=np.random.default_rng(seed), got dropout={dropout!r}, rng={rng!r}"
        )
    f, L, a = ACTIVATIONS[activation].f, n_layers(params), x
    cache = {"activation": activation, "inputs": [], "z": [], "a": [], "masks": []}
    for l in range(1, L + 1):
        cache["inputs"].append(a)
        z = a @ params[f"W{l}"]  # (B, n_{l-1}) @ (n_{l-1}, n_l) -> (B, n_l)
        z += params[f"b{l}"]
        if l == L:
            break
        a = f(z)
        cache["z"].append(z)
        cache["a"].append(a)
        if dropout > 0:
            mask = dropout_mask(a.shape, dropout, rng, a.dtype)
            cache["masks"].append(mask)
            a = a * mask
    cache["logits"] = z
    return z, cache


# ----------------------------------------------------------------------------- loss
# One registry: what the outputs stand for, and so the loss. "classification": logits of C
# classes, y (B,) int labels, softmax cross-entropy; "multilabel": a logit per label, each its
# own yes or no, y (B, k) of 0 and 1, binary cross-entropy of each label's sigmoid; "regression":
# the k numbers themselves (the output layer is linear either way), y (B, k) or, for one number,
# (B,) floats, the mean squared error. loss, grads, train, evaluate and the weights file read it.


def _cross_entropy(shifted, log_total, y, label_smoothing, weights=None):
    """Mean cross-entropy (times the (B,) weights) from logits minus their row max, (B, C), and log(sum(exp(shifted)))."""
    nll = log_total - shifted[np.arange(len(y)), y]  # -log softmax(z)_y: log-sum-exp, stable
    if label_smoothing:  # -mean_c log softmax(z)_c for the uniform part of the target
        nll = (1 - label_smoothing) * nll + label_smoothing * (log_total - shifted.mean(axis=1))
    return float(nll.mean() if weights is None else (nll * weights).mean())


def check_weights(weights, n):
    """`weights` as (n,) finite non-negative float64s (None stays None), or a ValueError."""
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is not None and (w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any()):
        raise ValueError(f"weights must be {n} finite non-negative numbers, one per example, got {w.shape} {w.dtype}")
    return w


def _class_loss_and_delta(logits, y, label_smoothing, weights):
    """(mean cross-entropy, d loss / d logits (B, C)): the softmax is computed once for both."""
    B = len(y)  # each row's largest by argmax: a third the time of max(axis=1) over 10 columns, the same numbers
    shifted = logits - logits[np.arange(B), logits.argmax(axis=1)][:, None]
    dz = np.exp(shifted)
    total = dz.sum(axis=1)
    value = _cross_entropy(shifted, np.log(total), y, label_smoothing, weights)
    dz /= total[:, None]  # d loss / d logits = w * (softmax - target) / B, fused
    if label_smoothing:
        dz -= label_smoothing / dz.shape[1]
    dz[np.arange(B), y] -= 1 - label_smoothing
    dz /= B
    if weights is not None:
        dz *= weights.astype(dz.dtype)[:, None]
    return value, dz


def check_targets(y, n_outputs, n=None):
    """ValueError unless y holds (n) finite numbers for n_outputs outputs: (n, n_outputs), or (n,) for one."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf" or y.shape[1:] not in ((n_outputs,), () if n_outputs == 1 else None):
        raise ValueError(f"targets must be numbers of shape (N, {n_outputs}) for this network, got {y.dtype} {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{n} examples but {len(y)} targets")
    if not np.isfinite(y).all():
        raise ValueError("targets hold NaN or infinite values: drop or fill those rows")


def _squared_loss_and_delta(outputs, y, label_smoothing, weights):
    """(mean over examples and outputs of the squared error, d loss / d outputs (B, k))."""
    error = outputs - y.reshape(outputs.shape).astype(outputs.dtype, copy=False)
    per_example = (error * error).mean(axis=1)
    value = float(per_example.mean() if weights is None else (per_example * weights).mean())
    error *= np.asarray(2 / error.size, error.dtype)
    if weights is not None:
        error *= weights.astype(error.dtype)[:, None]
    return value, error


def check_multilabels(y, n_labels, n=None):
    """ValueError unless y holds (n, n_labels) labels of 0 and 1 (ints, bools or floats): one column per label."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf" or y.shape[1:] != (n_labels,) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1 in shape (N, {n_labels}) for this network, got {y.dtype} {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{n} examples but {len(y)} rows of labels")


def _binary_loss_and_delta(logits, y, label_smoothing, weights):
    """(mean over examples of the binary cross-entropy summed over the labels, d loss / d logits
    (B, k)): per label max(z, 0) - z t + log(1 + exp(-|z|)), which is -t log sigmoid(z) - (1 - t)
    log(1 - sigmoid(z)) without overflow for any z; the target t is y, smoothed towards 1/2."""
    t = y.astype(logits.dtype) * (1 - label_smoothing) + label_smoothing / 2
    per_example = (np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits)))).sum(axis=1)
    value = float(per_example.mean() if weights is None else (per_example * weights).mean())
    dz = (_sigmoid(logits) - t) / np.asarray(len(logits), logits.dtype)
    if weights is not None:
        dz *= weights.astype(dz.dtype)[:, None]
    return value, dz


class Task(NamedTuple):
    check: Callable  # check(y, n_outputs, n): ValueError unless y are targets for such a network
    loss_and_delta: Callable  # (outputs, y, label_smoothing, weights) -> (mean loss, d loss / d outputs (B, k))
    score: str  # evaluate's second number, higher better: "accuracy", or R^2 ("r2")
    guess: Callable  # guess(y, k): loss of a guess that knows nothing (training has diverged at 20x it)
    guessed: str  # that guess, in words
    hits: Callable | None = None  # hits(outputs, y): how many examples are right (their "accuracy"); None: numbers


TASKS = {
    "classification": Task(
        check=check_labels,
        loss_and_delta=_class_loss_and_delta,
        score="accuracy",
        guess=lambda y, k: math.log(max(k, 2)),
        guessed="a uniform guess",
        hits=lambda logits, y: int((logits.argmax(axis=1) == y).sum()),
    ),
    "multilabel": Task(
        check=check_multilabels,
        loss_and_delta=_binary_loss_and_delta,
        score="accuracy",  # subset accuracy: every label of the example right, as scikit-learn scores it
        guess=lambda y, k: k * math.log(2),
        guessed="one half for every label",
        hits=lambda logits, y: int(((logits > 0) == (y == 1)).all(axis=1).sum()),
    ),
    "regression": Task(
        check=check_targets,
        loss_and_delta=_squared_loss_and_delta,
        score="r2",
        guess=lambda y, k: max(float(np.mean(np.square(y, dtype=np.float64))), 1.0),  # standardised: 1
        guessed="always 0 (or 1, if more)",
    ),
}


def task_of(meta):
    """The task of a weights file's meta (files without one are classifiers)."""
    return meta.get("task", "classification")


def temperature_of(meta):
    """The temperature a weights file's meta divides a classifier's logits by before the softmax
    (`fit_temperature`'s; files without one: 1, the plain softmax)."""
    return meta.get("temperature", 1.0)


def loss(logits, y, label_smoothing=0.0, weights=None, task="classification"):
    """Mean loss of the outputs, averaged over the batch: softmax cross-entropy from logits via
    log-sum-exp (finite for |logits| ~ 1e4); with task="multilabel" each label's binary
    cross-entropy from its logit, summed over the labels; with task="regression" the mean squared
    error (TASKS).

    Args:
        logits: (B, C) floats, `forward`'s.
        y: (B,) int labels in [0, C); for task="multilabel", (B, C) of 0 and 1; for
            task="regression", (B, C) or (B,) numbers.
        label_smoothing: eps in [0, 1): the target is (1 - eps) * onehot(y) + eps / C (a multilabel
            target (1 - eps) * y + eps / 2; not for numbers).
        weights: optional (B,) non-negative weight of each example (class or sample weights):
            the loss is then mean_i(w_i * loss_i), so weights of mean 1 keep its scale.
        task: a TASKS name.

    Returns:
        float: the mean loss.
    """
    chosen = lookup(TASKS, task, "task")
    chosen.check(y, logits.shape[1], len(logits))
    return chosen.loss_and_delta(logits, np.asarray(y), label_smoothing, check_weights(weights, len(logits)))[0]


# ----------------------------------------------------------------------------- grads


def loss_and_grads(params, cache, y, label_smoothing=0.0, weights=None, task="classification", checked=False):
    """The loss and its gradient in one pass: d loss / d outputs from TASKS, then backwards
    through the layers (the chain rule, layer by layer).

    Args:
        params: the parameters `forward` ran with.
        cache: `forward`'s (it carries the activation, the dropout masks and the logits).
        y, label_smoothing, weights, task: as for `loss`.
        checked: True when the caller has checked y (an array of the task's targets for these
            outputs) and weights ((B,) float64 or None) already: `train` does, once per run,
            and its loop then skips the per-step checks.

    Returns:
        (loss, grads): the float of `loss`, and a dict with exactly the keys and shapes of params.
    """
    chosen, logits = lookup(TASKS, task, "task"), cache["logits"]
    if not checked:
        chosen.check(y, logits.shape[1], len(logits))
        y, weights = np.asarray(y), check_weights(weights, len(logits))
    df = ACTIVATIONS[cache["activation"]].df
    value, dz = chosen.loss_and_delta(logits, y, label_smoothing, weights)
    g = {}
    for l in range(n_layers(params), 0, -1):
        g[f"W{l}"] = cache["inputs"][l - 1].T @ dz  # (n_{l-1}, B) @ (B, n_l) -> (n_{l-1}, n_l)
        g[f"b{l}"] = dz.sum(axis=0)
        if l > 1:
            dz = dz @ params[f"W{l}"].T  # (B, n_l) @ (n_l, n_{l-1}) -> (B, n_{l-1}): d loss / d a
            if cache["masks"]:
                dz *= cache["masks"][l - 2]
            dz *= df(cache["z"][l - 2], cache["a"][l - 2])  # in place: dz is ours
    return value, {k: g[k] for k in params}


def grads(params, cache, y, label_smoothing=0.0, weights=None, task="classification"):
    """Gradient of `loss(logits, y, label_smoothing, weights, task)` with respect to every parameter.

    Args:
        params: the parameters `forward` ran with.
        cache: `forward`'s (it carries the activation and any dropout masks).
        y, label_smoothing, weights, task: as for `loss`.

    Returns:
        dict: the keys and shapes of params ("W1": (n_in, n_1), "b1": (n_1,), ...).
    """
    return loss_and_grads(params, cache, y, label_smoothing, weights, task)[1]


# ----------------------------------------------------------------------------- optimizers
# Each optimizer is sgd-like: (params, grads, state, lr, ...) -> (new_params, new_state), with
# state = {} before the first step. `update` is the one entry point, choosing by name.


def _whole(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v)


# What each numeric training option accepts: one rule each, checked by `update` and `train`
# and used by the CLI for its options, so that they never disagree.
OPTION_RULES = {
    "epochs": (lambda v: _whole(v) and v >= 1, "must be a whole number, at least 1"),
    "batch_size": (lambda v: _whole(v) and v >= 1, "must be a whole number, at least 1"),
    "lr": (lambda v: _real(v) and v > 0, "must be greater than 0 and finite"),
    "momentum": (lambda v: _real(v) and 0 <= v < 1, "must be in [0, 1)"),
    "dropout": (lambda v: _real(v) and 0 <= v < 1, "must be in [0, 1)"),
    "label_smoothing": (lambda v: _real(v) and 0 <= v < 1, "must be in [0, 1)"),
    "weight_decay": (lambda v: _real(v) and v >= 0, "must be 0 or more and finite"),
    "clip": (lambda v: _real(v) and v >= 0, "must be 0 or more and finite (0: off)"),
    "warmup": (lambda v: _whole(v) and v >= 0, "must be a whole number, 0 or more"),
    "patience": (lambda v: _whole(v) and v >= 0, "must be a whole number, 0 or more (0: off)"),
    "seed": (lambda v: _whole(v) and v >= 0, "must be a whole number, 0 or more"),
    "ema": (lambda v: _real(v) and 0 <= v < 1, "must be in [0, 1) (0: off)"),
    "augment_end": (lambda v: _real(v) and v >= 0, "must be 0 or more and finite (1: the same throughout)"),
}


def option_problem(name, value):
    """What is wrong with `value` for the training option `name` ("must be ..., got ..."), or None."""
    ok, rule = OPTION_RULES[name]
    return None if ok(value) else f"{rule}, got {value!r}"


def sgd(params, grads, state, lr, momentum=0.9, weight_decay=0.0, nesterov=False):
    """SGD with momentum (PyTorch's convention): v = momentum * v + g; p = p - lr * v; with
    `nesterov` the step is along g + momentum * v. state: {} at first, then {key: velocity}.
    weight_decay: an L2 term on the weights' gradients (never the biases).

    Each new array is written in place, one product and one sum, the formula above bit for bit
    (test_sgd_in_place_is_the_formula_bit_for_bit)."""
    # no temporaries and no copies: a copy is memmove, which some CPUs (AMD's Zen 3) run 15x
    # slower for arrays 16 bytes apart modulo 4 KiB, as malloc places them
    new_params, new_state = {}, {}
    for k, p in params.items():
        g = grads[k]
        if weight_decay and k[0] == "W":
            g = g + weight_decay * p
        v, step = np.empty(p.shape, p.dtype), np.empty(p.shape, p.dtype)  # ours: written in place
        if k in state:
            np.multiply(state[k], momentum, out=v)
            v += g
        else:
            v[...] = g
        if nesterov:  # g + momentum * v
            np.multiply(v, momentum, out=step)
            step += g
            step *= -lr
        else:
            np.multiply(v, -lr, out=step)
        step += p
        new_params[k], new_state[k] = step, v
    return new_params, new_state


def adam(params, grads, state, lr, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8, decoupled=False):
    """Adam (Kingma & Ba 2015) with bias correction; AdamW when `decoupled`. state: {} at
    first, then {"t": steps, "m": {key: array}, "v": {key: array}}. weight_decay: an L2 term in
    the weights' gradients (Adam), or with `decoupled` the weights shrink by lr * weight_decay
    * p (AdamW, Loshchilov & Hutter 2019). Biases are never decayed."""
    t = state.get("t", 0) + 1
    m_old, v_old = state.get("m", {}), state.get("v", {})
    new_params, m_new, v_new = {}, {}, {}
    for k, p in params.items():
        g = grads[k]
        decay = weight_decay if k[0] == "W" else 0.0
        if decay and not decoupled:
            g = g + decay * p
        m = beta1 * m_old[k] + (1 - beta1) * g if k in m_old else (1 - beta1) * g
        v = beta2 * v_old[k] + (1 - beta2) * g * g if k in v_old else (1 - beta2) * g * g
        direction = m / (1 - beta1**t) / (np.sqrt(v / (1 - beta2**t)) + eps)  # bias-corrected m over sqrt(v)
        if decay and decoupled:
            direction = direction + decay * p
        new_params[k] = p - lr * direction
        m_new[k], v_new[k] = m, v
    return new_params, {"t": t, "m": m_new, "v": v_new}


class Optimizer(NamedTuple):
    step: Callable  # (params, grads, state, lr, weight_decay=..., [momentum=...]) -> (params, state)
    lr: float  # default learning rate
    uses_momentum: bool  # takes `momentum` (the Adam family has its own beta1 instead)
    state_arrays: int  # arrays of optimizer state per parameter (SGD's velocity; Adam's m and v)
    about: str  # one line for help texts

    def bound(self, momentum, weight_decay):
        """The step (params, grads, state, lr) with these checked options; momentum only where used."""
        return partial(self.step, weight_decay=weight_decay, **({"momentum": momentum} if self.uses_momentum else {}))


OPTIMIZERS = {
    "sgd": Optimizer(step=sgd, lr=0.1, uses_momentum=True, state_arrays=1, about="SGD with momentum"),
    "nesterov": Optimizer(
        step=partial(sgd, nesterov=True), lr=0.1, uses_momentum=True, state_arrays=1, about="SGD with Nesterov momentum"
    ),
    "adam": Optimizer(
        step=adam, lr=1e-3, uses_momentum=False, state_arrays=2, about="Adam; weight decay as L2 in the gradient"
    ),
    "adamw": Optimizer(
        step=partial(adam, decoupled=True), lr=1e-3, uses_momentum=False, state_arrays=2, about="AdamW: decoupled decay"
    ),
}


def update(params, grads, state, lr, momentum=0.9, weight_decay=0.0, optimizer="sgd", checked=False):
    """One optimizer step by the OPTIMIZERS entry named. Inputs are not modified.

    Args:
        params: {"W1": (n_in, n_1), "b1": (n_1,), ...}.
        grads: the keys and shapes of params (`grads`).
        state: {} before the first step, then what the last call returned.
        lr: the learning rate (> 0).
        momentum: for sgd and nesterov, in [0, 1) (Adam has its own betas).
        weight_decay: on the weights, never the biases (>= 0).
        optimizer: an OPTIMIZERS name.
        checked: True when the caller has checked these options already (`train` does, once per
            run, and its loop then skips the per-step checks; its schedule sets lr).

    Returns:
        (new_params, new_state): new arrays of the keys and shapes of params; the optimizer's state.
    """
    chosen = OPTIMIZERS[optimizer] if checked else lookup(OPTIMIZERS, optimizer, "optimizer")
    for name, value in () if checked else (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
        if option_problem(name, value):
            raise ValueError(f"{name} {option_problem(name, value)}")
    return chosen.bound(momentum, weight_decay)(params, grads, state, lr)


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients by one factor so that their joint L2 norm is at most max_norm (> 0)."""
    if not (_real(max_norm) and max_norm > 0):
        raise ValueError(f"max_norm must be greater than 0 and finite, got {max_norm!r}")
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if norm <= max_norm:
        return grads
    scale = max_norm / norm
    return {k: g * np.asarray(scale, g.dtype) for k, g in grads.items()}


# ----------------------------------------------------------------------------- schedules
# Each schedule maps (lr, epoch, epochs, warmup) to the epoch's rate after the warm-up, epoch
# being 0-based; one that watches validation also cuts the rate after a validated epoch.


class Schedule(NamedTuple):
    rate: Callable  # (lr, epoch, epochs, warmup) -> this epoch's learning rate
    uses_run_length: bool  # its rates depend on `epochs` (so a resumed run must keep it)
    on_validation: Callable | None  # (Best) -> factor applied to the rate from the next epoch
    # on, after each validated epoch; None: it does not watch validation
    about: str  # one line for help texts


def _cosine(lr, epoch, epochs, warmup):
    progress = (epoch - warmup) / max(1, epochs - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * progress))


PLATEAU_WAIT, PLATEAU_FACTOR = 2, 0.2


def _plateau_cut(best):
    """PLATEAU_FACTOR after every PLATEAU_WAIT epochs in a row without better validation accuracy."""
    return PLATEAU_FACTOR if best.bad_epochs and best.bad_epochs % PLATEAU_WAIT == 0 else 1.0


def _constant(lr, epoch, epochs, warmup):
    return lr


def _step(lr, epoch, epochs, warmup):
    return lr * 0.1 ** (epoch // max(1, epochs // 3))


ONE_CYCLE_RISE = 0.3  # of the run spent rising to the peak (Smith and Topin 2019)


def _one_cycle(lr, epoch, epochs, warmup):
    """Up in a straight line to lr over the first ONE_CYCLE_RISE of the run (at least one
    epoch), then down in a straight line to lr / (epochs left + 1) in the last epoch."""
    rise = max(1, round(ONE_CYCLE_RISE * epochs))
    if epoch < rise:
        return lr * (epoch + 1) / rise
    return lr * (epochs - epoch) / (epochs - rise + 1)


SCHEDULES = {
    "cosine": Schedule(
        rate=_cosine,
        uses_run_length=True,
        on_validation=None,
        about="half a cosine from lr down to 0 at the end of the run",
    ),
    "constant": Schedule(rate=_constant, uses_run_length=False, on_validation=None, about="the same rate throughout"),
    "step": Schedule(rate=_step, uses_run_length=True, on_validation=None, about="x0.1 every third of the run"),
    "onecycle": Schedule(
        rate=_one_cycle,
        uses_run_length=True,
        on_validation=None,
        about=f"up to lr over the first {ONE_CYCLE_RISE:.0%} of the run, then straight down towards 0",
    ),
    "plateau": Schedule(
        rate=_constant,
        uses_run_length=False,
        on_validation=_plateau_cut,
        about=f"x{PLATEAU_FACTOR:g} after {PLATEAU_WAIT} epochs without better validation "
        "accuracy; needs a validation set",
    ),
}


def scheduled_lr(schedule, lr, epoch, epochs, warmup=0):
    """Learning rate for a 0-based `epoch`: a linear warm-up over `warmup` epochs from
    lr / (warmup + 1) to lr, then the named schedule from SCHEDULES."""
    rule = lookup(SCHEDULES, schedule, "schedule")
    if epoch < warmup:
        return lr * (epoch + 1) / (warmup + 1)
    return rule.rate(lr, epoch, epochs, warmup)


# ----------------------------------------------------------------------------- preprocessing
# Part of the model: decided from the training images, stored in the weights file, applied to
# every input. Two steps, so that augmentation can work on images in [0, 1] in between:
# to_unit maps raw pixels to [0, 1] by the training set's range (turned over when the pictures
# are dark ink on light paper, so that ink is always bright, as in MNIST); the registry's
# `apply` then makes network inputs of them (for "standard": centred and scaled per feature,
# as scikit-learn recommends for MLPs).


def square_side(n_features):
    """The side of square images flattened to n_features, or None when n_features is not a square."""
    side = math.isqrt(n_features)
    return side if side * side == n_features else None


def image_shape(n_features, needs="augmentation"):
    """(side, side) of square images flattened to n_features, else a ValueError saying what `needs` them."""
    side = square_side(n_features)
    if side is None:
        raise ValueError(f"{needs} needs square images; {n_features} features are not a square")
    return side, side


# Deslanting and width normalisation (the inputs of Meier et al. 2011's committees): each image
# is resampled along its rows, so that its ink's principal axis stands upright and, with a
# width, so that the ink's spread across the columns is that many pixels (a standard
# deviation). Both come from the image's own moments, so they are part of the preprocessing:
# predict, the draw page and export straighten every picture the same way.
WIDTH_STRETCH = (2 / 3, 1.5)  # at most: a "1" is not made a bar, nor a wide "0" a sliver
MAX_SLANT = 1.0  # columns moved per row at most (45 degrees): beyond it, a stroke is not a slant


def _moments(images):
    """(cx, cy, mu20, mu02, mu11), each (N,): the ink's centroid of images (N, H, W), in pixels
    from the image's centre, and its variances across columns and rows and their covariance.
    Only sums along an axis of each image: an image's moments do not depend on its batch."""
    _, h, w = images.shape
    ys = np.arange(h, dtype=images.dtype) - (h - 1) / 2
    xs = np.arange(w, dtype=images.dtype) - (w - 1) / 2
    rows, cols = images.sum(axis=2), images.sum(axis=1)  # (N, H), (N, W)
    mass = np.maximum(rows.sum(axis=1), np.finfo(images.dtype).tiny)  # a blank image: 0 / tiny
    cy, cx = (rows * ys).sum(axis=1) / mass, (cols * xs).sum(axis=1) / mass
    mu02 = (rows * ys * ys).sum(axis=1) / mass - cy * cy
    mu20 = (cols * xs * xs).sum(axis=1) / mass - cx * cx
    mu11 = ((images * xs).sum(axis=2) * ys).sum(axis=1) / mass - cx * cy
    return cx, cy, mu20, mu02, mu11


def straighten(units, shape, deslant=True, width=0.0):
    """Images units (N, H * W) in [0, 1], ink bright, each resampled along its rows (linear
    interpolation, 0 outside): sheared about its centroid so that its ink's principal axis is
    upright (with `deslant`; slant mu11 / mu02, at most MAX_SLANT), and with `width` > 0 scaled
    about it so that the ink's spread across columns is `width` pixels (within WIDTH_STRETCH).
    shape = (H, W). Returns a new (N, H * W) array of units' dtype."""
    (h, w), n = shape, len(units)
    images = np.asarray(units).reshape(n, h, w)
    # moments in float64: float32 sums in another order (an ONNX runtime's) would move the
    # source columns by more than 1e-6 of a pixel
    cx, cy, mu20, mu02, mu11 = (m.astype(images.dtype) for m in _moments(images.astype(np.float64)))
    slant = np.clip(mu11 / np.maximum(mu02, 1), -MAX_SLANT, MAX_SLANT) if deslant else np.zeros_like(cx)
    ratio = np.ones_like(cx)  # source columns per output column
    if width:
        spread = np.sqrt(np.maximum(mu20 - 2 * slant * mu11 + slant * slant * mu02, 0))  # after the shear
        ratio = np.clip(spread / np.asarray(width, images.dtype), *WIDTH_STRETCH)
    ys = np.arange(h, dtype=images.dtype) - (h - 1) / 2
    xs = np.arange(w, dtype=images.dtype) - (w - 1) / 2
    cx, cy, slant, ratio = (a[:, None, None] for a in (cx, cy, slant, ratio))
    column = cx + (xs - cx) * ratio + slant * (ys[:, None] - cy) + (w - 1) / 2  # (N, H, W) source
    column = np.clip(column, -1, w, out=column)  # beyond the first zero on either side: 0
    left = np.floor(column)
    frac = column - left
    padded = np.zeros((n, h, w + 3), images.dtype)  # zeros: a column before, two after
    padded[:, :, 1 : w + 1] = images
    # flat indices of each left neighbour (np.take on a flat array is several times faster
    # than take_along_axis); its right one is the next, in the row even for column w
    index = left.astype(np.intp) + 1 + (np.arange(n * h) * (w + 3)).reshape(n, h, 1)
    a, b = padded.reshape(-1).take(index), padded.reshape(-1).take(index + 1)
    return (a + frac * (b - a)).reshape(n, h * w)


def straightens(prep):
    """Whether the preprocessing `prep` deslants or normalises the width (see `straighten`)."""
    return bool(prep.get("deslant") or prep.get("width"))


def to_unit(x, prep, dtype=np.float32):
    """Raw pixels (any numeric dtype) as `dtype` in [0, 1] of the training range: (x - low) /
    (high - low), or (high - x) / (high - low) when prep["invert"] (a light background); then
    straightened (`straighten`) when prep has "deslant" or "width" (and "shape", [H, W])."""
    out = np.asarray(x).astype(dtype)  # always a new array: the caller's is never touched
    low, high = prep["low"], prep["high"]
    if prep.get("invert", False):
        np.subtract(np.asarray(high, dtype), out, out=out)
    elif low:
        out -= np.asarray(low, dtype)
    if high > low:
        out *= np.asarray(1 / (high - low), dtype)
    if straightens(prep):
        out = straighten(out, prep["shape"], prep.get("deslant", False), prep.get("width", 0.0))
    return out


def light_background(x, low, high, chunk=8192):
    """Whether images x (N, D) are dark on light: most of their pixels in the top half of the
    range [low, high] (scans, photos and drawings on paper; MNIST's digits are light on dark)."""
    middle = (low + high) / 2
    above = sum(int((x[i : i + chunk] > middle).sum()) for i in range(0, len(x), chunk))
    return high > low and above > x.size / 2


def _fit_standard(x, prep, chunk):
    """Each feature's mean and std over x (N, D), in [0, 1] units: (D,) float64 each, in chunks."""
    units = lambda i: to_unit(x[i : i + chunk], prep, np.float64)
    mean = sum(units(i).sum(axis=0) for i in range(0, len(x), chunk)) / len(x)
    var = sum(((units(i) - mean) ** 2).sum(axis=0) for i in range(0, len(x), chunk)) / len(x)
    std = np.sqrt(var)  # a pixel that never varies has std 0 (up to rounding): keep it unscaled
    return {"mean": mean, "std": np.where(std > 1e-6, std, 1.0)}


def _standardize(units, prep):
    dtype = units.dtype
    return (units - prep["mean"].astype(dtype)) * (1 / prep["std"]).astype(dtype)


class Preprocessing(NamedTuple):
    fit: Callable  # fit(x, prep, chunk) -> {name: (D,) float64 array} it learns beyond the range
    apply: Callable  # apply(units, prep) -> network inputs, from images already in [0, 1] units
    arrays: dict  # {name: check} of what fit returns: a weights file's arrays must pass it
    about: str  # one line for help texts


def _finite(a):
    return bool(np.isfinite(a).all())


def _positive(a):
    return _finite(a) and bool((a > 0).all())


PREPROCESSINGS = {
    "range": Preprocessing(
        fit=lambda x, prep, chunk: {},
        apply=lambda units, prep: units,
        arrays={},
        about="pixels scaled to [0, 1] by the training set's own range",
    ),
    "standard": Preprocessing(
        fit=_fit_standard,
        apply=_standardize,
        arrays={"mean": _finite, "std": _positive},
        about="that, then each pixel standardised to mean 0, std 1 over the training set",
    ),
}


def fit_preprocessing(x, kind="range", chunk=8192, pictures=False, deslant=False, width=0.0, shape=None):
    """The preprocessing of kind `kind` (PREPROCESSINGS) fitted to training images x (N, D) of
    any numeric dtype, in chunks (x may be memory-mapped): {"kind", "low", "high", "invert"}
    (the pixel range; with `pictures`, light backgrounds are turned over: `light_background`),
    "deslant", "width" and "shape" when straightening (`straighten`; shape (H, W), square by
    default), plus what the kind's `fit` learns ("standard": "mean", "std", (D,) float64)."""
    fit = lookup(PREPROCESSINGS, kind, "preprocessing").fit
    if not (_real(width) and width >= 0):
        raise ValueError(f"width must be 0 (off) or a number of pixels, got {width!r}")
    low = min(float(x[i : i + chunk].min()) for i in range(0, len(x), chunk))
    high = max(float(x[i : i + chunk].max()) for i in range(0, len(x), chunk))
    prep = {"kind": kind, "low": low, "high": high, "invert": bool(pictures and light_background(x, low, high, chunk))}
    if deslant or width:
        h, w = shape or image_shape(x.shape[1], "straightening without a shape")
        if h * w != x.shape[1]:
            raise ValueError(f"{h} x {w} images have {h * w} pixels, not {x.shape[1]}")
        prep.update({"deslant": bool(deslant), "width": float(width), "shape": [int(h), int(w)]})
    return {**prep, **fit(x, prep, chunk)}


def standardize(units, prep):
    """Images in [0, 1] units as network inputs, by the preprocessing's kind (PREPROCESSINGS)."""
    return PREPROCESSINGS[prep["kind"]].apply(units, prep)


def preprocess(x, prep, dtype=np.float32):
    """Raw pixels (N, D) as network inputs: `standardize(to_unit(x))`."""
    return standardize(to_unit(x, prep, dtype), prep)


def inputs(x, preprocessing, dtype):
    """x itself when preprocessing is None (x already holds network inputs), else preprocess(x)."""
    return x if preprocessing is None else preprocess(x, preprocessing, dtype)


def prepared(x, preprocessing, dtype, chunk=256):  # 256: the resampling's arrays stay in cache
    """(x, preprocessing) as they are, unless the preprocessing straightens: then x's images
    straightened once, (N, D) `dtype` in [0, 1] units (held in memory), and the preprocessing
    that takes those units on: each pass over x then skips the resampling, to the same bits."""
    if preprocessing is None or not straightens(preprocessing):
        return x, preprocessing
    units = np.empty(x.shape, dtype)
    for i in range(0, len(x), chunk):
        units[i : i + chunk] = to_unit(x[i : i + chunk], preprocessing, dtype)
    unit = {"low": 0.0, "high": 1.0, "invert": False, "deslant": False, "width": 0.0}
    return units, {**preprocessing, **unit}


def fit_targets(y):
    """{"mean": (k,), "scale": (k,)} float64 of (N, k) or (N,) numbers: the standardisation a
    regression trains on (`scale_targets`), so that a price in dollars trains as one in
    thousands does; stored with the weights (meta["targets"]) and undone on prediction.
    A constant target keeps scale 1."""
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = y.mean(axis=0), y.std(axis=0)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):  # squares past float64 (|y| > 1e154)
        big = np.abs(y).max(axis=0)  # measured on y / max|y| instead, then scaled back
        mean, std = (y / big).mean(axis=0) * big, (y / big).std(axis=0) * big
    return {"mean": mean, "scale": np.where(std > 0, std, 1.0)}


def scale_targets(y, targets, dtype=np.float32):
    """(N, k) `dtype` of y's numbers standardised by `fit_targets`' record."""
    return ((np.asarray(y, np.float64).reshape(len(y), -1) - targets["mean"]) / targets["scale"]).astype(dtype)


def unscale_targets(outputs, targets):
    """(N, k) float64 numbers in the targets' own units from the network's outputs (None: as they are)."""
    outputs = np.asarray(outputs, np.float64)
    return outputs if targets is None else outputs * targets["scale"] + targets["mean"]


# ----------------------------------------------------------------------------- training


def batches(n, batch_size, rng):
    """Index arrays of a random permutation of range(n), in batches (the last may be short)."""
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def logits_in_chunks(params, x, activation, preprocessing=None, batch_size=2000):
    """The deterministic network's logits of x's rows, yielded chunk by chunk ((batch_size, C)
    each, the last maybe shorter), so that memory stays bounded for any N; raw rows x are
    converted chunk by chunk when `preprocessing` is given (see `inputs`)."""
    if not (_whole(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size must be a whole number, at least 1, got {batch_size!r}")
    dtype = params["W1"].dtype
    return (
        forward(params, inputs(x[i : i + batch_size], preprocessing, dtype), activation)[0]
        for i in range(0, len(x), batch_size)
    )


def r2_score(sse, y):
    """R^2 of predictions whose squared errors sum to sse (k,) per target on y (N, k): 1 - sse /
    y's sum of squares about its mean, averaged over the targets (scikit-learn's r2_score: a
    constant target scores 1 when predicted exactly, else 0)."""
    sst = np.square(y - y.mean(axis=0), dtype=np.float64).sum(axis=0)
    exact = np.where(sse == 0, 1.0, 0.0)
    return float(np.mean(np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), exact)))


def evaluate(params, x, y, activation, batch_size=2000, preprocessing=None, task="classification"):
    """(mean loss, accuracy) of the deterministic network on (x, y), in chunks (`logits_in_chunks`);
    with task="regression" (mean squared error, R^2: `r2_score`); task="multilabel": the share
    of examples with every label right (a label is predicted where its logit is above 0)."""
    y = np.asarray(y)
    if len(x) == 0:
        raise ValueError("no examples to evaluate (x is empty)")
    total_loss, correct, sse = 0.0, 0, 0.0
    chunks = logits_in_chunks(params, x, activation, preprocessing, batch_size)
    for i, logits in zip(range(0, len(x), batch_size), chunks):
        yb = y[i : i + batch_size]
        total_loss += loss(logits, yb, task=task) * len(yb)
        if TASKS[task].hits:
            correct += TASKS[task].hits(logits, yb)
        else:
            sse = sse + np.square(logits - yb.reshape(logits.shape), dtype=np.float64).sum(axis=0)
    if TASKS[task].hits:
        return total_loss / len(x), correct / len(x)
    return total_loss / len(x), r2_score(sse, y.reshape(len(y), -1))


def split_validation(x, y, n_val, seed=0):
    """Stratified, seeded split of (x, y) into (x_train, y_train, x_val, y_val) with n_val held out
    (every class in proportion; numbers: spread over the first target's range)."""
    if not 0 < n_val < len(y):
        raise ValueError(f"validation size must be between 1 and {len(y) - 1} ({len(y)} examples), got {n_val}")
    rng = np.random.default_rng(seed)
    by_class = rng.permutation(len(y))
    by_class = by_class[
        np.argsort(y[by_class] if y.ndim == 1 else y[by_class, 0], kind="stable")
    ]  # grouped by class, shuffled within
    picks = (np.arange(n_val) * len(y)) // n_val  # evenly spaced: every class in proportion
    is_val = np.zeros(len(y), bool)
    is_val[by_class[picks]] = True
    return x[~is_val], y[~is_val], x[is_val], y[is_val]


class Settings(NamedTuple):
    """Every option of a training run, with its default: what `train` takes, what the CLI's
    options default to, what a weights file records and what a resumed run must repeat.
    `check_settings` validates one (OPTION_RULES and the registries)."""

    activation: str  # hidden activation: a key of ACTIVATIONS
    task: str = "classification"  # a key of TASKS: what y holds and the loss
    batch_size: int = 128  # examples per step; the last batch of an epoch may be short
    lr: float | None = None  # (peak) learning rate; None: the optimizer's default
    momentum: float = 0.9  # for the optimizers that use it (OPTIMIZERS)
    optimizer: str = "sgd"  # a key of OPTIMIZERS
    weight_decay: float = 0.0  # on the weights, never the biases (see `update`)
    dropout: float = 0.0  # on hidden units while training (see `forward`)
    clip: float = 0.0  # max global gradient norm (see `clip_by_global_norm`); 0: off
    label_smoothing: float = 0.0  # see `loss`
    schedule: str = "cosine"  # a key of SCHEDULES
    warmup: int = 0  # epochs of linear warm-up (see `scheduled_lr`)
    augment_kind: str = "none"  # a key of numpy_mlp.pictures.AUGMENTATIONS, applied by train's `transform`
    patience: int = 0  # stop after this many epochs without better validation accuracy (loss for numbers); 0: never
    seed: int = 0  # of the one Generator behind shuffling, dropout and augmentation
    epochs: int = 10  # passes over the training set
    ema: float = 0.0  # decay of the moving average of the weights kept after every step; 0: off
    augment_end: float = 1.0  # distortions' strength in the last epoch over the first's (numpy_mlp.pictures)


def check_settings(settings):
    """`settings` with `lr` filled in (the optimizer's default when None), or a ValueError
    naming the first option that breaks its rule in OPTION_RULES or is not a registry's name."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be mlp.Settings(activation=..., ...), got {type(settings).__name__}")
    for name, registry in (("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        lookup(registry, getattr(settings, name), name)
    if lookup(TASKS, settings.task, "task") is TASKS["regression"] and settings.label_smoothing:
        raise ValueError("label_smoothing smooths class labels; a regression has none: leave it at 0")
    if settings.lr is None:
        settings = settings._replace(lr=OPTIMIZERS[settings.optimizer].lr)
    for name, value in settings._asdict().items():
        if name in OPTION_RULES and option_problem(name, value):
            raise ValueError(f"{name} {option_problem(name, value)}")
    return settings


class Best(NamedTuple):
    """The epoch with the best validation accuracy (a regression's: loss) so far, and how many epochs have not beaten it."""

    epoch: int
    val_accuracy: float | None  # None for a regression
    val_loss: float
    params: dict
    bad_epochs: int = 0


def track_best(best, record, params):
    """The Best after an epoch whose record holds val_loss and val_accuracy (a regression's: val_r2;
    best may be None)."""
    regression = "val_accuracy" not in record
    if best is None or (
        record["val_loss"] < best.val_loss if regression else record["val_accuracy"] > best.val_accuracy
    ):  # ties keep the earlier epoch
        return Best(
            epoch=record["epoch"], val_accuracy=record.get("val_accuracy"), val_loss=record["val_loss"], params=params
        )
    return best._replace(bad_epochs=best.bad_epochs + 1)


class Checkpoint(NamedTuple):
    """Everything `train` needs to continue, bit-identically, after a finished epoch or part-way
    through the next one (after `step` of its batches)."""

    epoch: int  # epochs finished
    params: dict
    state: dict  # the optimizer's
    history: list  # one record per finished epoch
    best: Best | None  # only with a validation set
    rng: dict  # the Generator's bit_generator.state, now
    lr_scale: float  # product of the plateau schedule's cuts so far
    step: int = 0  # batches done of epoch `epoch + 1` (0: at an epoch's end)
    epoch_rng: dict | None = None  # with step: the Generator's state when that epoch began
    partial: tuple = (0.0, 0)  # with step: (loss sum, correct predictions) of its batches
    average: dict | None = None  # with Settings.ema: the moving average of params (`averaged`)

    @property
    def weights(self):
        """The network this checkpoint stands for: the average of the weights when the run keeps
        one (what it validates, scores and saves), else params (what training goes on from)."""
        return self.params if self.average is None else self.average


class Callbacks(NamedTuple):
    """What `train` calls as it goes, each optional (None: not called). The loop never prints:
    a caller shows progress, keeps checkpoints or prunes a search through these.

    on_batch(batch_index, n_batches, batch_loss): after every step, with the batch's loss.
    on_step(checkpoint): after every step, with the Checkpoint to resume from there.
    on_epoch(record, checkpoint): after every epoch, with its record (see `train`) and the
        Checkpoint to resume from.
    """

    on_batch: Callable | None = None
    on_step: Callable | None = None
    on_epoch: Callable | None = None


def fresh_checkpoint(params, seed):
    """The Checkpoint before epoch 1."""
    rng = np.random.default_rng(seed).bit_generator.state
    return Checkpoint(epoch=0, params=params, state={}, history=[], best=None, rng=rng, lr_scale=1.0)


def averaged(average, params, decay):
    """The exponential moving average of the weights after a step, decay * average + (1 -
    decay) * params (new arrays; `params` itself when average is None). SGD's last weights
    jitter around a minimum; their average over 1 / (1 - decay) steps sits nearer its middle
    (Polyak & Juditsky 1992)."""
    if average is None:
        return params
    return {k: p + decay * (average[k] - p) for k, p in params.items()}


def flush_subnormals(tree):
    """Set the subnormal numbers (0 < |x| < the dtype's smallest normal) of every array in a
    (nested) dict of arrays to 0, in place. A unit that stops learning has momentum decaying
    0.9 ** t into the subnormals, where it sticks; x86 computes on them tens of times slower
    (later epochs of relu 128-64 ran a third slower). A weight moved by lr times one stays put."""
    for value in tree.values():
        if isinstance(value, dict):
            flush_subnormals(value)
        elif isinstance(value, np.ndarray):
            np.copyto(value, 0, where=np.abs(value) < np.finfo(value.dtype).tiny)


FLUSH_EVERY = 16  # steps between flushes of the optimizer's state: a pass over it costs a step's 5%
DIVERGENCE_FACTOR = 20  # a batch loss 20x a uniform guess's (or NaN) stops training: lr too high


def train_epoch(ck, x, y, lr, settings, preprocessing=None, callbacks=None, sample_weight=None, transform=None):
    """One pass over (x, y) in shuffled mini-batches, continuing the Checkpoint `ck`: epoch
    ck.epoch + 1, from its batch ck.step. Batch order, dropout and augmentation are drawn from
    the Generator whose state the checkpoint holds; `settings` (checked: `train`) says how, `lr`
    at what rate. With `preprocessing`, x holds raw images, each batch converted as drawn: to
    [0, 1], transform(xb, rng, epoch) when given (numpy_mlp.pictures' distortions: this file knows
    nothing of images), then network inputs. callbacks (on_batch, on_step), sample_weight: see `train`; with
    settings.ema the moving average of the weights (`averaged`) follows every step.
    Returns:
      (checkpoint, record): the Checkpoint at the epoch's end (`train` fills in the rest);
      record holds "epoch", "lr", and the train "loss" and (for classes) "accuracy" averaged
      over the epoch's batches as computed (before each step).
    Raises:
      FloatingPointError when a batch loss is NaN or over DIVERGENCE_FACTOR times that of a
      guess that knows nothing (TASKS: uniform, log(C); numbers: always 0): lr too high.
    """
    s, epoch, params, state, average = settings, ck.epoch + 1, ck.params, ck.state, ck.average
    rng = np.random.default_rng()
    rng.bit_generator.state = ck.epoch_rng if ck.step else ck.rng
    epoch_rng = rng.bit_generator.state  # the epoch's start: its batch order is drawn from here
    order = batches(len(x), s.batch_size, rng)
    if ck.step:  # part-way: the generator as it was after batch `step`
        rng.bit_generator.state = ck.rng
    task = TASKS[s.task]
    callbacks = callbacks or Callbacks()
    on_batch, on_step = callbacks.on_batch, callbacks.on_step
    guess = task.guess(y, params[f"W{n_layers(params)}"].shape[1])
    diverged = DIVERGENCE_FACTOR * guess
    total_loss, correct = ck.partial if ck.step else (0.0, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(ck.step, len(order)):
            idx = order[i]
            xb, yb = x[idx], y[idx]
            if preprocessing is not None:
                xb = to_unit(xb, preprocessing, params["W1"].dtype)
            if transform is not None:
                xb = transform(xb, rng, epoch)
            if preprocessing is not None:
                xb = standardize(xb, preprocessing)
            logits, cache = forward(params, xb, s.activation, s.dropout, rng)
            wb = None if sample_weight is None else sample_weight[idx]  # y and weights checked by train:
            batch_loss, g = loss_and_grads(params, cache, yb, s.label_smoothing, wb, s.task, checked=True)
            if not batch_loss < diverged * (1 if wb is None else max(wb.mean(), 1e-12)):  # also catches NaN
                raise FloatingPointError(
                    f"loss {batch_loss:.4g} at epoch {epoch}, batch {i + 1} ({task.guessed} "
                    f"scores {guess * (1 if wb is None else wb.mean()):.3g}): training diverged; try a lower "
                    f"learning rate than {lr:g}"
                )
            if s.clip:
                g = clip_by_global_norm(g, s.clip)
            params, state = update(params, g, state, lr, s.momentum, s.weight_decay, s.optimizer, checked=True)
            if i % FLUSH_EVERY == 0:  # on arrays `update` has just made: no one else holds them yet
                flush_subnormals(state)
            if s.ema:
                average = averaged(average, params, s.ema)
            total_loss += batch_loss * len(yb)
            correct += task.hits(logits, yb) if task.hits else 0
            if on_batch:
                on_batch(i, len(order), batch_loss)
            if on_step:
                now = {"params": params, "state": state, "rng": rng.bit_generator.state, "average": average}
                on_step(ck._replace(**now, step=i + 1, epoch_rng=epoch_rng, partial=(total_loss, correct)))
    record = {"epoch": epoch, "lr": lr, "loss": total_loss / len(x)} | (
        {"accuracy": correct / len(x)} if task.hits else {}
    )
    end = ck._replace(params=params, state=state, rng=rng.bit_generator.state, average=average)
    return end._replace(step=0, epoch_rng=None, partial=(0.0, 0)), record


def check_finite(x, chunk=8192):
    """ValueError when float inputs x hold NaN or infinity (training on them would look like a
    learning rate too high); checked in chunks, so a memory-mapped x is never copied whole."""
    if x.dtype.kind == "f" and not all(np.isfinite(x[i : i + chunk]).all() for i in range(0, len(x), chunk)):
        raise ValueError("x holds NaN or infinite values: drop or fill those rows before training")


JUDGED_AFTER_STEPS = 100  # by then a network that learns beats guessing the most common class


class NotLearningWarning(UserWarning):
    """`train`'s warning that the first epochs learnt nothing (a command line may say it in its own words)."""


def judged_epoch(n_examples, batch_size, epochs):
    """The epoch after which a run is judged for learning: the first to complete
    JUDGED_AFTER_STEPS steps (epoch 1 on MNIST; later for small data), or the last."""
    steps = math.ceil(n_examples / batch_size)
    return min(epochs, math.ceil(JUDGED_AFTER_STEPS / steps))


def not_learning(train_accuracy, y):
    """(True if a training accuracy is no better than always guessing y's most common class,
    that guess's accuracy): what a network that is not learning scores."""
    guess = float(np.bincount(np.asarray(y)).max() / len(y))
    return train_accuracy <= guess, guess  # a network at the majority's accuracy, or below, has learnt nothing yet


def warn_if_not_learning(history, y, settings, n_examples):
    """A NotLearningWarning at the end of a run that reached its judged epoch and still learnt
    nothing: its last epoch no better than always guessing y's most common class (a run that
    learns late is not warned about; one stopped before the judged epoch is not judged)."""
    record = history[-1]
    if record["epoch"] < judged_epoch(n_examples, settings.batch_size, settings.epochs):
        return
    stuck, guess = not_learning(record["accuracy"], y)
    if stuck:
        warnings.warn(
            f"after epoch {record['epoch']} the training accuracy ({record['accuracy']:.2%}) is no better than "
            f"always guessing the most common class ({guess:.2%}): the network is not learning; try "
            "standardised inputs (preprocessing=fit_preprocessing(x, 'standard')) or a lower lr",
            NotLearningWarning,
            stacklevel=3,
        )


def train(
    params,
    x,
    y,
    settings,
    val=None,
    preprocessing=None,
    resume=None,
    sample_weight=None,
    transform=None,
    callbacks=None,
):
    """Mini-batch training: `train_epoch` once per epoch, then validation and checkpointing.

    Args:
      params: initial parameters (not modified). x: (N, n_in) floats. y: (N,) int labels
        (settings.task "regression": (N, k) numbers, best standardised: `scale_targets`;
        "multilabel": (N, k) of 0 and 1, a column per label).
      settings: a `Settings` (activation, task, optimizer, schedule, epochs, seed, ...).
      val: optional (x_val, y_val) scored after each epoch: the params returned are then the
        best epoch's (validation accuracy; a regression's loss), named in each record's
        "best_epoch"; settings.patience stops after that many epochs without a better one,
        and a schedule that watches validation (plateau) may cut the rate.
      preprocessing: from `fit_preprocessing`; then x (and val's) hold raw images of any dtype
        (uint8 stays uint8 in memory), each batch converted as it is drawn.
      resume: a Checkpoint (on_epoch's, or numpy_mlp.guard.load_checkpoint's) to continue
        from, bit-identically with the same settings.
      sample_weight: optional (N,) non-negative weight of each example in the loss (`loss`).
      transform: optional transform(xb, rng, epoch) -> xb of every training batch (see
        `train_epoch`); an augment_kind needs one (numpy_mlp.pictures.distortion makes it).
      callbacks: optional `Callbacks` (on_batch, on_step, on_epoch), e.g.
        Callbacks(on_epoch=lambda record, checkpoint: print(record)).
    Returns:
      (params, history): the final (or best-on-validation) params and the list of records, one
      an epoch: "epoch", "lr", "loss", "accuracy" (classes), "seconds", and with val
      "val_loss", "val_accuracy" (regression: "val_r2"), "best_epoch"; the last one also
      "stopped": "epochs" or "patience".
    Raises:
      ValueError for a bad option, label or shape; FloatingPointError when training diverges.
    """
    s, callbacks = check_settings(settings), callbacks or Callbacks()
    dtype, y = params["W1"].dtype, np.asarray(y)
    if len(x) == 0:
        raise ValueError("no training examples (x is empty)")
    if val is not None:
        val = (val[0], np.asarray(val[1]))
    top = float(np.finfo(dtype).max)
    if preprocessing is not None and max(abs(preprocessing["low"]), abs(preprocessing["high"])) > top:
        raise ValueError(
            f"pixel values range from {preprocessing['low']:g} to {preprocessing['high']:g}, beyond "
            f"what {dtype} holds ({top:.3g}): rescale the data first, or train in float64"
        )
    as_inputs(params, x if preprocessing is None else inputs(x[:1], preprocessing, dtype), cast=False)
    check_finite(x)
    check_targets_of = TASKS[s.task].check
    check_targets_of(y, sizes_of(params)[-1], len(x))
    sample_weight = check_weights(sample_weight, len(x))
    cut = SCHEDULES[s.schedule].on_validation
    if val is not None:
        as_inputs(params, val[0] if preprocessing is None else inputs(val[0][:1], preprocessing, dtype), cast=False)
        check_finite(val[0])
        check_targets_of(val[1], sizes_of(params)[-1], len(val[0]))
    elif s.patience or cut:
        raise ValueError(
            f"{'patience' if s.patience else f'the {s.schedule} schedule'} watches validation "
            "accuracy: give a validation set (val=(x_val, y_val))"
        )
    if s.augment_kind != "none" and transform is None:
        raise ValueError(
            f"augment_kind {s.augment_kind!r} needs transform=numpy_mlp.pictures.distortion(settings, shape): "
            "mlp.py trains on the images as they are"
        )

    x, train_prep = prepared(x, preprocessing, dtype)  # straightened once, not in every epoch
    if val is not None:
        val_x, val_prep = prepared(val[0], preprocessing, dtype)
        val = (val_x, val[1])
    ck = resume or fresh_checkpoint(params, s.seed)
    history = [{k: v for k, v in r.items() if k != "stopped"} for r in ck.history]  # resumed: it goes on
    best, lr_scale = ck.best, ck.lr_scale
    for epoch in range(ck.epoch + 1, s.epochs + 1):
        start = time.perf_counter()
        rate = scheduled_lr(s.schedule, s.lr, epoch - 1, s.epochs, s.warmup) * lr_scale
        end, record = train_epoch(ck, x, y, rate, s, train_prep, callbacks, sample_weight, transform)
        if val is not None:
            record["val_loss"], record[f"val_{TASKS[s.task].score}"] = evaluate(
                end.weights, *val, s.activation, preprocessing=val_prep, task=s.task
            )
            best = track_best(best, record, end.weights)
            record["best_epoch"] = best.epoch
            if cut:
                lr_scale *= cut(best)
        record["seconds"] = time.perf_counter() - start
        if s.patience and best.bad_epochs >= s.patience:
            record["stopped"] = "patience"
        elif epoch == s.epochs:
            record["stopped"] = "epochs"
        history.append(record)
        ck = end._replace(epoch=epoch, history=list(history), best=best, lr_scale=lr_scale)
        if callbacks.on_epoch:
            callbacks.on_epoch(record, ck)
        if "stopped" in record:
            break
    if history and sample_weight is None and s.task == "classification":  # weighted, a lower accuracy may be the aim
        warn_if_not_learning(history, y, s, len(x))
    return (best.params if best else ck.weights), history


# ----------------------------------------------------------------------------- metrics


def softmax(logits):
    """Row-wise softmax of (B, C) logits, stable for any magnitude."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def predict_proba(params, x, activation, batch_size=2000, preprocessing=None, temperature=1.0):
    """(N, C) class probabilities, softmax(logits / temperature), in chunks to bound memory
    (`temperature`: `fit_temperature`'s, a weights file's meta["temperature"]; 1: the plain softmax)."""
    chunks = logits_in_chunks(params, x, activation, preprocessing, batch_size)
    return np.concatenate([softmax(z / np.asarray(temperature, z.dtype)) for z in chunks])


TEMPERATURE_RANGE = (0.01, 100.0)  # fit_temperature searches within it (on a log scale)


def fit_temperature(logits, y, tolerance=1e-6):
    """The temperature T that makes softmax(logits / T) most likely on labels y (Guo et al. 2017,
    "On Calibration of Modern Neural Networks": one number fitted on held-out examples, which
    leaves every argmax as it is). The mean cross-entropy is convex in 1 / T, so a golden-section
    search over log T within TEMPERATURE_RANGE finds its minimum (to `tolerance` in log T).

    Args:
        logits: (N, C) floats of examples the network was not trained on (a validation split).
        y: (N,) int labels in [0, C).

    Returns:
        float T > 0 (T > 1 softens over-confident probabilities). 1.0 when every example is
        classified right: the loss then falls without end as T shrinks, so nothing is fitted.
    """
    z, y = np.asarray(logits, np.float64), np.asarray(y)
    check_labels(y, z.shape[1], len(z))
    if np.all(z.argmax(axis=1) == y):
        return 1.0
    golden = (math.sqrt(5) - 1) / 2
    low, high = (math.log(t) for t in TEMPERATURE_RANGE)
    while high - low > tolerance:
        a, b = high - golden * (high - low), low + golden * (high - low)
        if loss(z / math.exp(a), y) <= loss(z / math.exp(b), y):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


def label_probabilities(params, x, activation, preprocessing=None, batch_size=2000):
    """(N, k) probability of each label of a multilabel network (the sigmoid of its logit), in chunks."""
    return np.concatenate([_sigmoid(z) for z in logits_in_chunks(params, x, activation, preprocessing, batch_size)])


def predict(params, x, activation, preprocessing=None):
    """The predicted class of each row of x: the largest logit's.

    Args:
        params: a classifier's {"W1": (n_in, n_1), "b1": (n_1,), ...}.
        x: (N, n_in) floats; with `preprocessing` (fit_preprocessing's), raw images (N, n_in).
        activation: the hidden layers' (an ACTIVATIONS name).
        preprocessing: optional, stored with the weights: applied to x first.

    Returns:
        (N,) int class indices in [0, C).
    """
    return predict_proba(params, x, activation, preprocessing=preprocessing).argmax(axis=1)


def predict_values(params, x, activation, preprocessing=None, targets=None, batch_size=2000):
    """(N, k) float64 numbers a regression network predicts for x's rows, in the targets' units
    (`targets`: fit_targets' record, meta["targets"]; None: the outputs as they are)."""
    outputs = logits_in_chunks(params, x, activation, preprocessing, batch_size)
    return unscale_targets(np.concatenate(list(outputs)), targets)


def regression_report(params, x, y, activation, n_worst=10, preprocessing=None, targets=None):
    """What an evaluation of numbers shows, in the targets' units: "mse", "mae", "r2"
    (`r2_score`), "predicted" (N, k), and "worst": the indices of the n_worst rows predicted
    furthest off (largest absolute error summed over the targets), worst first."""
    predicted = predict_values(params, x, activation, preprocessing, targets)
    y = np.asarray(y, np.float64).reshape(predicted.shape)
    error = predicted - y
    worst = np.argsort(-np.abs(error).sum(axis=1), kind="stable")[:n_worst]
    mse, mae = float(np.mean(error**2)), float(np.mean(np.abs(error)))
    return {"mse": mse, "mae": mae, "r2": r2_score((error**2).sum(axis=0), y), "predicted": predicted, "worst": worst}


def input_gradient(params, x, activation, classes):
    """Why the network says what it says (a saliency map): the gradient of each example's
    logit of classes[i] (a regression's output number classes[i]) with respect to its inputs,
    `grads`' backward pass taken down through W1 to x. x: (B, n_in) network inputs (see
    `inputs`); classes: (B,) ints in [0, C). Returns (B, n_in) in the weights' dtype."""
    logits, cache = forward(params, x, activation)
    check_labels(classes, logits.shape[1], len(logits))
    df = ACTIVATIONS[activation].df
    d = np.zeros_like(logits)
    d[np.arange(len(d)), classes] = 1  # d logit_c / d logits
    for l in range(n_layers(params), 0, -1):
        d = d @ params[f"W{l}"].T  # (B, n_l) @ (n_l, n_{l-1}) -> (B, n_{l-1}): d logit_c / d a_{l-1}
        if l > 1:
            d *= df(cache["z"][l - 2], cache["a"][l - 2])  # back through the activation: d / d z_{l-1}
    return d


def accuracy(y_pred, y_true):
    """Fraction of equal labels, a float in [0, 1]."""
    return float(np.mean(np.asarray(y_pred) == np.asarray(y_true)))


def confusion_matrix(y_true, y_pred, n_classes):
    """(C, C) int counts: row = true class, column = predicted class."""
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        labels = np.asarray(labels)
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"{name} must be ints in [0, {n_classes}), got {labels.min()} to {labels.max()}")
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def precision_recall_f1(confusion):
    """Per-class (precision, recall, f1), each (C,), from a confusion matrix; 0 where undefined."""
    tp = np.diag(confusion).astype(float)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1


def confident_mistakes(probabilities, y_true, k=10):
    """Indices of the k wrong predictions made with the highest probability, most confident first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    return wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:k]


def report_from_probabilities(probabilities, y, mean_loss, n_mistakes):
    """The dict of `classification_report` from (N, C) probabilities and the mean loss."""
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(y, predicted, probabilities.shape[1])
    precision, recall, f1 = precision_recall_f1(confusion)
    return {
        "loss": mean_loss,
        "accuracy": accuracy(predicted, y),
        "probabilities": probabilities,
        "predicted": predicted,
        "confusion": confusion,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": confusion.sum(axis=1),
        "mistakes": confident_mistakes(probabilities, y, n_mistakes),
    }


def classification_report(
    params, x, y, activation, n_mistakes=10, batch_size=2000, preprocessing=None, temperature=1.0
):
    """Everything an evaluation shows, from one forward pass over (x, y) in chunks, the logits
    divided by `temperature` (a weights file's meta["temperature"]: `predict_proba`).

    Returns a dict of arrays and floats: "loss" (mean cross-entropy), "accuracy",
    "probabilities" (N, C), "predicted" (N,), "confusion" (C, C) ints (row = true class),
    "precision", "recall", "f1", "support" (C,) each, and "mistakes": indices of the
    n_mistakes wrong predictions made with the highest probability, most confident first.
    """
    check_labels(y, sizes_of(params)[-1], len(x))
    logits = np.concatenate(list(logits_in_chunks(params, x, activation, preprocessing, batch_size)))
    logits /= np.asarray(temperature, logits.dtype)
    return report_from_probabilities(softmax(logits), y, loss(logits, y), n_mistakes)


def log_softmax(logits):
    """Row-wise log of the softmax of (B, C) logits, stable for any magnitude."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# ----------------------------------------------------------------------------- gradient check


GRADCHECK_RTOL, GRADCHECK_ATOL = 1e-5, 1e-8  # see `gradcheck` for why these


def relative_error(a, b):
    """Element-wise |a - b| / (|a| + |b|), with 1e-8 as the smallest denominator (both near 0)."""
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)


def gradients_two_ways(
    params, x, y, activation, dropout=0.0, label_smoothing=0.0, seed=0, eps=1e-5, weights=None, task="classification"
):
    """(analytic, numeric, at_kink): `grads` and central finite differences of `loss`, in float64.

    Every parameter entry is moved by +-eps and the loss recomputed: keep the network small.
    With dropout the masks are drawn from `seed`, the same in every pass. at_kink marks the
    entries whose move puts a pre-activation on or across a kink of the activation (relu's 0),
    where the loss has no derivative for a finite difference to approximate."""
    params = {k: p.astype(np.float64) for k, p in params.items()}
    x = np.asarray(x, np.float64)
    kinks = ACTIVATIONS[activation].kinks

    def run(p):
        rng = np.random.default_rng(seed) if dropout else None
        return forward(p, x, activation, dropout, rng)

    def sides(cache):  # which side of each kink every pre-activation is on: -1, 0 (on it) or 1
        return [np.sign(z - kink) for kink in kinks for z in cache["z"]]

    _, cache = run(params)
    analytic, base = grads(params, cache, y, label_smoothing, weights, task), sides(cache)
    numeric, at_kink = {}, {}
    for k, p in params.items():
        numeric[k], at_kink[k] = np.zeros_like(p), np.zeros(p.shape, bool)
        for i in np.ndindex(p.shape):
            for sign in (1, -1):
                moved = p.copy()
                moved[i] += sign * eps
                logits, cache = run({**params, k: moved})
                numeric[k][i] += sign * loss(logits, y, label_smoothing, weights, task) / (2 * eps)
                at_kink[k][i] |= any((a == 0).any() or (a != b).any() for a, b in zip(base, sides(cache)))
    return analytic, numeric, at_kink


class GradError(NamedTuple):
    """How far `grads` is from finite differences over one parameter array (its worst entry,
    leaving out the entries at a kink)."""

    abs_error: float  # |analytic - numeric|
    relative_error: float  # see `relative_error`; large for tiny gradients even when right
    of_tolerance: float  # |analytic - numeric| / (atol + rtol * |numeric|): at most 1 passes
    at_kink: int  # entries left out: their finite difference straddles a kink


def gradcheck(
    params,
    x,
    y,
    activation,
    dropout=0.0,
    label_smoothing=0.0,
    seed=0,
    eps=1e-5,
    rtol=GRADCHECK_RTOL,
    atol=GRADCHECK_ATOL,
    weights=None,
    task="classification",
):
    """Check `grads` against central finite differences of `loss` (`gradients_two_ways`),
    with per-example `weights` when given, for the `task`'s loss (TASKS).

    PyTorch's gradcheck's criterion, entry by entry: |analytic - numeric| <= atol + rtol *
    |numeric|. A pure relative error cries wolf on tiny gradients, where it measures the finite
    difference's rounding (~1e-11 in float64 at eps 1e-5); atol absorbs that. A wrong
    derivative is off by a percent or more, thousands of times the tolerance. Entries at a
    kink (relu's 0) are left out and counted.

    Returns {key: GradError}; the check passes when every `of_tolerance` is at most 1."""
    if not (atol > 0 and rtol >= 0 and math.isfinite(atol + rtol)):
        raise ValueError(f"gradcheck needs atol > 0 and rtol >= 0, finite, got atol={atol!r}, rtol={rtol!r}")
    if not (_real(eps) and eps > 0):
        raise ValueError(f"eps must be greater than 0 and finite (a step of 1e-5 suits float64), got {eps!r}")
    analytic, numeric, at_kink = gradients_two_ways(
        params, x, y, activation, dropout, label_smoothing, seed=seed, eps=eps, weights=weights, task=task
    )
    report = {}
    for k in analytic:
        smooth = ~at_kink[k]
        a, n = analytic[k][smooth], numeric[k][smooth]
        difference = np.abs(a - n)
        worst = lambda v: float(v.max()) if v.size else 0.0
        report[k] = GradError(
            abs_error=worst(difference),
            relative_error=worst(relative_error(a, n)),
            of_tolerance=worst(difference / (atol + rtol * np.abs(n))),
            at_kink=int(at_kink[k].sum()),
        )
    return report


# =============================================================================
# Part II: keeping a network (weights files, MNIST's IDX files)
# =============================================================================


# ----------------------------------------------------------------------------- files


def file_mode(path):
    """Permission bits for a file about to be written at `path`: an existing file keeps its
    own; a new one gets 0o666 less the umask, as open() would give it."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def is_file_or_nothing(path):
    """Whether `path` (a link followed) is a regular file or nothing yet: what may be replaced by
    renaming a new file onto it. A device (/dev/null, /dev/stdout), a FIFO or a socket is not."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return True


def write_together(writers):
    """Write several files as one, {target path: write(f)}: each fills a temp file beside its
    target (binary, fsynced, the mode `file_mode` says), and only when all succeeded are they
    renamed into place, so a failure (a full disk) changes none and leaves no temp file (named
    .tmp-PID-*: a killed process's can be told apart). A link is followed (the link stays, the
    file it names is replaced), and a target that is not a file (a device such as /dev/null or
    /dev/stdout, a FIFO) is written through as a stream, never renamed over. OSError names the
    target that failed."""
    staged, streams = [], []
    try:
        for path, write in writers.items():
            path = os.fspath(path)
            try:
                if os.path.isdir(path):
                    raise IsADirectoryError(21, "it is a folder")
                if not is_file_or_nothing(path):
                    streams.append((path, write))
                    continue
                real = os.path.realpath(path)  # through links: a link to a file stays a link
                fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", dir=os.path.dirname(real))
                staged.append((tmp, real))
                with os.fdopen(fd, "wb") as f:
                    write(f)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, file_mode(real))  # mkstemp made it 0600
            except OSError as e:  # a file error (a full disk, say) names the target, not the temp file
                if e.errno is None:  # not a file error (a download's), as it is
                    raise
                raise OSError(e.errno, e.strerror or str(e), path) from None
        for tmp, real in staged:
            os.replace(tmp, real)
        for path, write in streams:  # after the files: a stream cannot be taken back
            try:
                with open(path, "wb") as f:
                    write(f)
            except OSError as e:
                raise OSError(e.errno, e.strerror or str(e), path) from None
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def write_atomic(path, write):
    """Call write(f) on a temp file beside `path`, then rename it onto `path` (`write_together`
    of one file): a failure at any point leaves the old file intact and no temp file behind."""
    write_together({path: write})


# ----------------------------------------------------------------------------- save / load


def npz_writer(arrays, compress=True):
    """write(f) putting arrays in f as an .npz (a zip of .npy files, as np.savez does). Entries
    carry a fixed timestamp, so equal arrays give byte-identical files. compress=False stores
    them as they are: several times faster to write, for checkpoints written every epoch."""

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
            for name, array in arrays.items():
                with archive.open(
                    zipfile.ZipInfo(name + ".npy", (1980, 1, 1, 0, 0, 0)), "w", force_zip64=True
                ) as entry:
                    np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)

    return write


WEIGHTS_FORMAT, WEIGHTS_VERSION = "mlp.py weights", 1  # what `load` reads; a file of another version is refused


def weights_writer(params, meta, extra=None, compress=True):
    """write(f) of a weights file: params, a JSON-able meta dict and optional extra arrays.

    The file is self-describing: meta must name the "activation"; "sizes" and "dtype" are
    added, so that `load` needs nothing else. For `write_together`; `save` writes one.
    """
    for key, p in params.items():
        if not np.isfinite(p).all():
            raise ValueError(
                f"{key} holds NaN or infinite values, which no weights file may hold: not saved "
                "(did training diverge? try a lower learning rate)"
            )
    meta = {
        **meta,
        "format": WEIGHTS_FORMAT,
        "version": WEIGHTS_VERSION,
        "sizes": sizes_of(params),
        "dtype": str(params["W1"].dtype),
    }
    lookup(ACTIVATIONS, meta.get("activation"), "activation")
    if "targets" in meta:  # a regression's target scaling, as JSON numbers (they round-trip exactly)
        meta["targets"] = {k: np.asarray(meta["targets"][k], np.float64).tolist() for k in ("mean", "scale")}
    extra = dict(extra or {})
    prep = meta.get("preprocessing")
    if prep is not None:  # its fitted arrays are stored as arrays, the rest in meta
        arrays = PREPROCESSINGS[prep["kind"]].arrays
        extra.update({f"prep/{k}": np.asarray(prep[k], np.float64) for k in arrays})
        meta["preprocessing"] = {k: v for k, v in prep.items() if k not in arrays}
    try:
        text = json.dumps(meta)
    except (TypeError, ValueError) as e:
        raise ValueError(f"meta must hold only JSON values (str, numbers, lists, dicts): {e}") from None
    return npz_writer({**params, **extra, "meta": np.array(text)}, compress)


def save(path, params, meta, extra=None):
    """Write params, a JSON-able meta dict and optional extra arrays to `path` (.npz), atomically
    (see `weights_writer`). ValueError when the folder it goes in does not exist."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise ValueError(f"{os.fspath(path)}: folder {folder} does not exist; create it first")
    write_atomic(path, weights_writer(params, meta, extra))


MAX_SQUEEZE = 100  # a member over 64 MiB that unpacks to 100x its stored bytes is a zip bomb, not numbers


def _npy_header(archive, info):
    """(shape, dtype) of one .npy member of a zip, from the archive's directory and the member's
    first bytes only, checked before any array is allocated: no objects, no more data declared
    than the member holds, and no member that unpacks to MAX_SQUEEZE times its stored size."""
    if info.file_size > 64 << 20 and info.file_size > MAX_SQUEEZE * max(info.compress_size, 1):
        raise ValueError(
            f"array {info.filename!r} unpacks {info.compress_size:,} bytes to {info.file_size:,}, which no "
            "numbers saved by NumPy do: refused unread"
        )
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
    if dtype.hasobject:
        raise ValueError(
            f"holds object (pickled) array {info.filename!r}, refused because "
            "loading it could run code; save plain numeric arrays"
        )
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise ValueError(f"array {info.filename!r} declares {shape} of {dtype}, more than it holds")
    return shape, dtype


def _read_npy_entry(archive, info):
    """One .npy member of a zip (its header checked first: `_npy_header`), without pickle."""
    _npy_header(archive, info)
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


# what zipfile and NumPy raise on a damaged archive (NotImplementedError: a flipped version byte)
BAD_ZIP = (OSError, ValueError, EOFError, KeyError, MemoryError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def read_npz(path, names=None):
    """{name: array} of an .npz file, read without pickle; ValueError naming the file otherwise.
    names: a regular expression every member's name (without .npy) must match, checked on the
    archive's directory before any member is unpacked; None takes any."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise ValueError("not an .npz archive")
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            unknown = [i.filename for i in infos if names and not re.fullmatch(names, i.filename.removesuffix(".npy"))]
            if unknown:
                raise ValueError(f"unexpected arrays {sorted(unknown)[:5]}, refused unread")
            return {info.filename.removesuffix(".npy"): _read_npy_entry(archive, info) for info in infos}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except BAD_ZIP as e:
        raise ValueError(f"{path}: not a readable weights file ({e})") from None


UNSTORED_PREPROCESSING = {"kind": "range", "low": 0.0, "high": 255.0, "invert": False}  # see `_stored_preprocessing`


def _stored_straightening(stored, n_in, where):
    """The stored preprocessing's "deslant", "width" and "shape" (see `straighten`), validated:
    {} for files that do not straighten (all before it existed)."""
    if not straightens(stored):
        return {}
    deslant, width, shape = stored.get("deslant", False), stored.get("width", 0.0), stored.get("shape")
    if not (
        isinstance(deslant, bool)
        and _real(width)
        and width >= 0
        and isinstance(shape, list)
        and len(shape) == 2
        and all(_whole(n) and n >= 1 for n in shape)
        and shape[0] * shape[1] == n_in
    ):
        raise ValueError(f"{where}: damaged straightening in the preprocessing (deslant, width, shape)")
    return {"deslant": deslant, "width": float(width), "shape": [int(n) for n in shape]}


def _stored_preprocessing(prep, arrays, n_in, where):
    """The preprocessing saved with the weights, validated. Weights saved without one (`save`
    called from your own loop on `load_mnist`'s inputs, and checkpoints) take raw 0-255 pixels
    to [0, 1], as load_mnist does: UNSTORED_PREPROCESSING."""
    if prep is None:
        return dict(UNSTORED_PREPROCESSING)
    stored = prep
    try:
        invert = prep.get("invert", False)  # files from before light backgrounds were turned over: False
        prep = {"kind": prep["kind"], "low": float(prep["low"]), "high": float(prep["high"]), "invert": invert}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: damaged preprocessing in meta") from None
    if (
        prep["kind"] not in PREPROCESSINGS
        or not (math.isfinite(prep["low"]) and math.isfinite(prep["high"]))
        or not isinstance(prep["invert"], bool)
    ):
        raise ValueError(f"{where}: unknown or damaged preprocessing {prep}")
    prep.update(_stored_straightening(stored, n_in, where))
    for key, check in PREPROCESSINGS[prep["kind"]].arrays.items():
        a = arrays.get(f"prep/{key}")
        if a is None or a.shape != (n_in,) or a.dtype.kind != "f" or not check(a):
            raise ValueError(f"{where}: the {prep['kind']} preprocessing needs a valid prep/{key} of shape ({n_in},)")
        prep[key] = a
    return prep


def _stored_targets(targets, k, where):
    """A regression's stored target scaling (`fit_targets`) as float64 arrays, validated."""
    try:
        mean, scale = (np.asarray(targets[key], np.float64) for key in ("mean", "scale"))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where}: damaged target scaling in meta (targets: mean and scale)") from None
    if mean.shape != (k,) or scale.shape != (k,) or not (np.isfinite(mean).all() and np.isfinite(scale).all()):
        raise ValueError(f"{where}: the target scaling must hold {k} finite means and scales, one per output")
    if not (scale > 0).all():
        raise ValueError(f"{where}: the target scaling's scales must be greater than 0")
    return {"mean": mean, "scale": scale}


WEIGHTS_MEMBERS = r"meta|[Wb][1-9]\d*|prep/\w+|ckpt/[\w/]+"  # a weights file's (a checkpoint's too)


def load(path):
    """(params, meta) from a file written by `save`, validated: keys, shapes, dtype, finiteness.

    Raises ValueError naming the file and the problem; nothing in the file is executed.
    """
    arrays = read_npz(path, names=WEIGHTS_MEMBERS)
    where = os.fspath(path)
    try:
        meta = json.loads(str(arrays.pop("meta")))
        sizes, activation = meta["sizes"], meta["activation"]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"{where}: not a weights file written by mlp.py (no valid meta)") from None
    if meta.get("format") != WEIGHTS_FORMAT or meta.get("version") != WEIGHTS_VERSION:
        raise ValueError(
            f"{where}: weights of format version {meta.get('version')!r}; this mlp.py reads version "
            f"{WEIGHTS_VERSION}: use the numpy-mlp that wrote it, or upgrade this one"
        )
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"{where}: unknown activation {activation!r} in meta")
    if not (isinstance(sizes, list) and len(sizes) >= 2 and all(_whole(n) and n >= 1 for n in sizes)):
        raise ValueError(
            f"{where}: not a valid weights file: sizes must be at least two positive ints, got {str(sizes)[:60]}"
        )
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        for key, shape in ((f"W{l}", (n_in, n_out)), (f"b{l}", (n_out,))):
            if key not in arrays:
                raise ValueError(f"{where}: missing array {key!r}")
            a = arrays[key]
            if a.shape != shape or a.dtype.kind != "f":
                raise ValueError(f"{where}: {key} should be a float array of shape {shape}, got {a.dtype} {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"{where}: {key} holds NaN or infinite values")
            params[key] = a
    meta["preprocessing"] = _stored_preprocessing(meta.get("preprocessing"), arrays, sizes[0], where)
    if task_of(meta) not in TASKS:
        raise ValueError(f"{where}: unknown task {task_of(meta)!r} in meta")
    if "targets" in meta or task_of(meta) == "regression":
        meta["targets"] = _stored_targets(meta.get("targets"), sizes[-1], where)
    temperature = temperature_of(meta)  # predict_proba's: it divides the logits
    if isinstance(temperature, bool) or not (_real(temperature) and temperature > 0):
        raise ValueError(
            f"{where}: not a valid weights file: temperature must be a number above 0, got {temperature!r}"
        )
    unknown = sorted(k for k in arrays if k not in params and not k.startswith(("ckpt/", "prep/")))
    if unknown:
        raise ValueError(f"{where}: unexpected arrays {unknown} for sizes {sizes}")
    return params, meta


# ----------------------------------------------------------------------------- IDX files
# IDX (LeCun's MNIST format): 2 zero bytes, a type code, the number of dimensions, one
# big-endian uint32 per dimension, then the data, big-endian, C order.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

MAX_IDX_BYTES = 4 << 30

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_at_most(f, n, chunk=1 << 20):
    """Up to n bytes from f, in chunks, so that a lying header cannot make us allocate n."""
    parts = []
    while n > 0:
        part = f.read(min(n, chunk))
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _gzip_size(path):
    """The uncompressed size (mod 2**32) a gzip file's trailer declares."""
    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)
        return struct.unpack("<I", f.read(4))[0]


def _read_body(f, expected, fits):
    """The next `expected` bytes of f as a uint8 array, plus whether more bytes follow. When
    `fits` (the file's size already vouches for `expected`) it is read straight into one
    buffer; otherwise in chunks, so that a lying header cannot make us allocate it."""
    if not fits:
        body = _read_at_most(f, expected + 1)
        return np.frombuffer(body[:expected], np.uint8), len(body) > expected or None
    buffer = np.empty(expected, np.uint8)
    view, done = memoryview(buffer), 0
    while done < expected:
        n = f.readinto(view[done : done + (16 << 20)])
        if not n:
            return buffer[:done], False
        done += n
    return buffer, bool(f.read(1))


def read_idx(path, mmap=False):
    """An IDX file (raw or gzip, told apart by content) as an array of its dtype and shape. A raw
    file with mmap=True is memory-mapped (data larger than memory); otherwise it is read once
    into one buffer, after its size or gzip trailer agrees with the header. ValueError naming
    the file for a bad magic number, type, dimension or byte count."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            header = _read_at_most(f, 4)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] not in IDX_TYPES or header[3] == 0:
                raise ValueError(f"{path}: not an IDX file (bad magic number {header.hex() or 'none'})")
            dtype, ndim = np.dtype(IDX_TYPES[header[2]]), header[3]
            dims_bytes = _read_at_most(f, 4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions declared)")
            dims = struct.unpack(f">{ndim}I", dims_bytes)
            expected = math.prod(dims) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise ValueError(
                    f"{path}: header {dims} declares {expected} bytes, more than the "
                    f"{MAX_IDX_BYTES >> 30} GiB this loader accepts"
                )
            offset = 4 + 4 * ndim
            size = (_gzip_size(path) if gzipped else os.path.getsize(path)) - offset
            if mmap and not gzipped and size == expected:
                array = np.memmap(path, dtype, mode="r", offset=offset, shape=dims)
                return array if dtype.isnative or dtype.itemsize == 1 else array.astype(dtype.newbyteorder("="))
            body, extra = _read_body(f, expected, fits=size % 2**32 == expected % 2**32)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read ({e})") from None
    if len(body) != expected or extra:
        problem = "truncated" if len(body) < expected else "has extra bytes after the data"
        raise ValueError(f"{path}: {problem}: header {dims} needs {expected} bytes of data")
    return body.view(dtype).reshape(dims).astype(dtype.newbyteorder("="), copy=False)


def idx_path(folder, stem):
    """The IDX file `stem` of `folder`, gzipped or not, or a ValueError naming what is missing."""
    for name in (stem + ".gz", stem):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise ValueError(f"{folder}: missing {stem}.gz (or {stem}); expected the four MNIST IDX files")


def load_idx_dataset(folder, splits=("train", "test"), mmap=True):
    """The MNIST-layout IDX files of `folder` as stored: (x_train, y_train, x_test, y_test), or
    the pairs of `splits`; images (N, rows * cols) in the file's dtype (raw files memory-mapped),
    labels (N,) int64. Checked: counts agree, labels are non-negative ints, pixels finite, every
    split has the same image size. `preprocess` turns images into inputs."""
    if not os.path.isdir(folder):
        raise ValueError(
            f"{folder}: no such data folder (expected a folder of the IDX files {', '.join(MNIST_FILES.values())})"
        )
    paths = {key: idx_path(folder, stem) for key, stem in MNIST_FILES.items() if key.split("_")[0] in splits}
    out = []
    for split in splits:
        image_path, label_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images, labels = read_idx(image_path, mmap=mmap), read_idx(label_path)
        if images.ndim < 2:
            raise ValueError(f"{image_path}: expected images (N, rows, cols), got shape {images.shape}")
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{label_path}: expected labels as (N,) ints, got {labels.dtype} {labels.shape}")
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(f"{label_path}: {len(images)} images but {len(labels)} labels (images: {image_path})")
        if labels.min() < 0:
            raise ValueError(f"{label_path}: labels must be non-negative ints, got {labels.min()}")
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            raise ValueError(f"{image_path}: holds NaN or infinite pixel values; fix or drop those images")
        out += [images.reshape(len(images), -1), labels.astype(np.int64)]
    if len(out) == 4 and out[0].shape[1] != out[2].shape[1]:
        raise ValueError(f"{folder}: train images have {out[0].shape[1]} pixels, test images {out[2].shape[1]}")
    return tuple(out)


def load_mnist(folder, dtype=np.float32, splits=("train", "test")):
    """The MNIST-layout data set of `folder` as (x_train, y_train, x_test, y_test) (or the
    pairs of `splits`): images (N, rows * cols) of `dtype` scaled to [0, 1] by the first split's
    range, labels (N,) int64. Any data set with these names (Fashion-MNIST, KMNIST, ...); for
    data larger than memory, `load_idx_dataset` and `preprocess` per batch."""
    arrays = load_idx_dataset(folder, splits, mmap=False)
    scaling = fit_preprocessing(arrays[0])
    return tuple(preprocess(a, scaling, dtype) if i % 2 == 0 else a for i, a in enumerate(arrays))
