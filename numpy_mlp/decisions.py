"""Decisions from a network's probabilities: how well they rank the examples (ROC-AUC, average
precision), the cut that turns a probability into a yes (a threshold tuned on held-out examples
for F1 or balanced accuracy), and the scores of a network of several labels per example.

For a binary classifier (its class 1 is the positive one) and for each label of a multilabel
network. Pure functions of NumPy arrays: no file is read here. The definitions are scikit-learn's
(`roc_auc_score`, `average_precision_score`, `balanced_accuracy_score`, `f1_score` with
zero_division=0, `hamming_loss`), so the numbers can be checked against it.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

DEFAULT_CUT = 0.5  # a probability at or above it is a yes, unless a threshold was tuned
RARE_POSITIVE = 0.2  # a binary task whose positive class is under this share of the examples tunes for F1


def roc_auc(scores, positive):
    """Area under the ROC curve of scores (N,) for the truth positive (N,) bool: the chance that a
    positive example scores above a negative one, ties counting half (the Mann-Whitney U over the
    product of the two counts, from average ranks). None unless both kinds are present."""
    positive = np.asarray(positive, bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return None
    order = np.argsort(scores, kind="stable")
    _, first, counts = np.unique(np.asarray(scores)[order], return_index=True, return_counts=True)
    ranks = np.empty(len(order))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)  # 1-based, ties sharing their average
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cut_counts(scores, positive):
    """(cuts, true positives, false positives) for every distinct score taken as the cut (a score
    at or above it is a yes), highest cut first: the counts of yes among the positives and the
    negatives at each."""
    positive = np.asarray(positive, bool)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    ranked, hits = np.asarray(scores, np.float64)[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(ranked) != 0), len(ranked) - 1]  # the last of each run of equal scores
    return ranked[last], np.cumsum(hits)[last], np.cumsum(~hits)[last]


def average_precision(scores, positive):
    """Area under the precision-recall curve as scikit-learn's average_precision_score sums it:
    the precision at each cut, weighted by the recall it adds. None without a positive example."""
    cuts, tp, fp = cut_counts(scores, positive)
    if not len(tp) or tp[-1] == 0:
        return None
    precision, recall = tp / (tp + fp), tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1_score(tp, fp, fn):
    """F1 from counts (arrays or numbers): 2 tp / (2 tp + fp + fn), 0 where there is nothing to count."""
    tp, fp, fn = (np.asarray(v, np.float64) for v in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def balanced_accuracy(tp, fp, fn, tn):
    """The mean of the recall of the positives and of the negatives, from counts (each side
    without examples left out, as scikit-learn averages the classes present)."""
    tp, fp, fn, tn = (np.asarray(v, np.float64) for v in (tp, fp, fn, tn))
    recalls = [np.divide(tp, tp + fn, out=np.full_like(tp, np.nan), where=tp + fn > 0)]
    recalls.append(np.divide(tn, tn + fp, out=np.full_like(tn, np.nan), where=tn + fp > 0))
    return np.nanmean(np.stack(recalls), axis=0)


class Metric(NamedTuple):
    """A score a threshold can be tuned for, from the counts at each cut."""

    score: Callable  # score(tp, fp, fn, tn) -> arrays, higher better
    said: str  # in words, for the defaults line and the help


THRESHOLD_METRICS = {
    "f1": Metric(score=lambda tp, fp, fn, tn: f1_score(tp, fp, fn), said="F1 of the positive class"),
    "balanced-accuracy": Metric(score=balanced_accuracy, said="balanced accuracy"),
}


def tuned_threshold(scores, positive, metric):
    """The cut for probabilities scores (N,) (a yes at or above it) that scores best by `metric`
    (a key of THRESHOLD_METRICS) on these held-out examples, halfway between the lowest score taken
    as a yes and the next one below it (so a new example's near-tie goes either way evenly); among
    equal bests, the cut nearest DEFAULT_CUT. DEFAULT_CUT when the examples are all of one kind."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return DEFAULT_CUT
    cuts, tp, fp = cut_counts(scores, positive)
    fn, tn = positive.sum() - tp, (~positive).sum() - fp
    values = THRESHOLD_METRICS[metric].score(tp, fp, fn, tn)
    below = np.r_[cuts[1:], 0.0]  # the next distinct score down (0 below the lowest)
    halfway = (cuts + below) / 2
    best = np.flatnonzero(values >= values.max() - 1e-12)
    return float(halfway[best[np.argmin(np.abs(halfway[best] - DEFAULT_CUT))]])


def counts_at(scores, positive, cut):
    """(tp, fp, fn, tn) per column of scores (N,) or (N, k) against the truth at a cut (or one cut a column)."""
    yes, positive = np.asarray(scores) >= np.asarray(cut), np.asarray(positive, bool)
    return ((yes & positive).sum(0), (yes & ~positive).sum(0), (~yes & positive).sum(0), (~yes & ~positive).sum(0))


def binary_scores(scores, positive, cut):
    """A binary decision at `cut` scored: {"cut", "accuracy", "balanced_accuracy", "precision",
    "recall", "f1"}, for probabilities scores (N,) of the positive class and the truth positive (N,)."""
    tp, fp, fn, tn = (int(v) for v in counts_at(scores, positive, cut))
    return {
        "cut": float(cut),
        "accuracy": (tp + tn) / max(tp + fp + fn + tn, 1),
        "balanced_accuracy": float(balanced_accuracy(tp, fp, fn, tn)),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": float(f1_score(tp, fp, fn)),
    }


def multilabel_report(probabilities, y, names, cuts):
    """The scores of a network of several labels per example on a test set: probabilities (N, k)
    of each label, the truth y (N, k) of 0 and 1, the labels' names, and the cuts (k,) at which a
    label is given. {"subset_accuracy" (every label of the example right), "hamming_loss" (the
    share of wrong labels), "micro" and "macro" {"precision", "recall", "f1"} (micro: from the
    counts summed over the labels; macro: each label's, averaged), "per_label": [{"name", "cut",
    "precision", "recall", "f1", "roc_auc", "pr_auc", "support"}]} (an AUC is None for a label
    whose test examples are all of one kind)."""
    truth, given = np.asarray(y) == 1, np.asarray(probabilities) >= np.asarray(cuts)
    tp, fp, fn, _ = (np.asarray(v, np.float64) for v in counts_at(probabilities, truth, cuts))

    def summed(tp, fp, fn):
        precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
        recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
        return precision, recall, f1_score(tp, fp, fn)

    precision, recall, f1 = summed(tp, fp, fn)
    micro = summed(tp.sum(), fp.sum(), fn.sum())
    per_label = [
        {
            "name": name,
            "cut": float(np.asarray(cuts, np.float64)[j]),
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "roc_auc": roc_auc(probabilities[:, j], truth[:, j]),
            "pr_auc": average_precision(probabilities[:, j], truth[:, j]),
            "support": int(truth[:, j].sum()),
        }
        for j, name in enumerate(names)
    ]
    return {
        "task": "multilabel",
        "n": len(truth),
        "subset_accuracy": float((given == truth).all(axis=1).mean()),
        "hamming_loss": float((given != truth).mean()),
        "micro": dict(zip(("precision", "recall", "f1"), (float(v) for v in micro))),
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        "per_label": per_label,
    }


def cuts_of(meta, k):
    """(k,) the cuts a network's meta gives its k probabilities (a binary classifier's: k = 1, its
    positive class's): the tuned threshold's, else DEFAULT_CUT each."""
    tuned = meta.get("threshold")
    return np.asarray(tuned["cuts"], np.float64) if tuned else np.full(k, DEFAULT_CUT)


def decided(probabilities, meta=None):
    """The classes (N,) of probabilities (N, C) (or one row (C,): a class) as a network's meta
    decides them: class 1 where its probability reaches the tuned threshold of a two-class network
    that has one, else the most probable class (meta None: an ensemble, whose members' cuts are
    their own)."""
    p = np.asarray(probabilities)
    tuned = (meta or {}).get("threshold")
    if tuned and p.shape[-1] == 2:
        return (p[..., 1] >= tuned["cuts"][0]).astype(np.int64)
    return p.argmax(axis=-1)
