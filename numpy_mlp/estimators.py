"""scikit-learn estimators on mlp.py: `MLPClassifier` and `MLPRegressor`, for Pipeline,
GridSearchCV, cross_val_score and everything else that takes a classifier or a regressor.

    from numpy_mlp.estimators import MLPClassifier, MLPRegressor
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), dropout=0.1).fit(X, y)
    clf.predict(X_test); clf.save("weights.npz")   # then: mlp eval weights.npz --data ...
    reg = MLPRegressor().fit(X, prices)            # numbers: R^2 as its score, targets standardised

The class holds only its parameters and, once fitted, what the fit learnt (scikit-learn's
convention); the training is mlp's own pure functions and loop (`mlp.train`). Parameters take
scikit-learn's names where the meaning is the same (hidden_layer_sizes, activation, batch_size,
learning_rate_init, max_iter, alpha, early_stopping, validation_fraction, n_iter_no_change,
random_state, verbose, class_weight) and mlp's for what scikit-learn's MLPClassifier lacks
(optimizer, schedule, dropout, augment, label_smoothing, normalize, ...). "auto" means what fits
the data (`mlp_run.fitted_defaults`: a table gets standardised features, Adam, batches of 32, weight
decay 0.001, and enough epochs for 4,000 steps; early_stopping "auto" stops more than 10,000
rows early, as the command line's big tables: a tenth held out, weight decay 0.0001). A pandas
DataFrame with words, yes/no, dates or gaps is encoded as the command line encodes a table
(numpy_mlp.columns), its columns matched by name from then on. Needs scikit-learn (`pip install -e '.[sklearn]'`).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

import mlp
from numpy_mlp import columns as mlp_columns
from numpy_mlp import pictures as mlp_pictures
from numpy_mlp import run as mlp_run

AUTO = "auto"

# The checks of scikit-learn's own suite (check_estimator) both estimators are expected to fail,
# with why: the tests pass them to parametrize_with_checks, and the README repeats them.
MINI_BATCH_WEIGHTS = (
    "mini-batch training: a repeated row takes more places in the shuffled batches than a weight of 2 gives "
    "it, so the steps differ and the predictions agree to about 1e-3, not 1e-7 (scikit-learn runs this "
    "check on its own MLPClassifier only with the full-batch lbfgs solver, on its MLPRegressor with sgd "
    "stopped at tol=1e-2)"
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": MINI_BATCH_WEIGHTS,
    "check_sample_weight_equivalence_on_sparse_data": MINI_BATCH_WEIGHTS,  # sparse X is made dense: the same
}


def seed_of(random_state):
    """mlp's integer seed for scikit-learn's random_state: an int as it is, a RandomState's next
    draw, and fresh entropy for None (scikit-learn's meaning: another result every fit)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31))
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}")


DENSE_LIMIT = 2 * 2**30  # bytes: the largest dense copy of a sparse X (mlp trains on dense arrays)
SPARSE = ("csr", "csc", "coo")  # the SciPy forms taken, as scikit-learn's own MLPClassifier takes them


def densified(X):
    """X (validated) as a dense array: a SciPy sparse matrix or array (a bag of words, say) is
    made dense up to DENSE_LIMIT bytes, with one line naming the fix above it."""
    if not hasattr(X, "toarray"):
        return X
    size = X.shape[0] * X.shape[1] * X.dtype.itemsize
    if size > DENSE_LIMIT:
        raise ValueError(
            f"a sparse X of {X.shape[0]} x {X.shape[1]} is {size / 2**30:.1f} GiB as the dense array mlp trains "
            "on: reduce its columns first (sklearn.decomposition.TruncatedSVD in a Pipeline)"
        )
    return X.toarray(order="C")  # a CSC matrix's own order is F: rows in C order, as a dense X's, train alike


def class_weight_vector(class_weight, classes):
    """(C,) weights of the classes `classes` (labels as the user has them) for scikit-learn's
    class_weight: None, "balanced" (computed by mlp_run.class_weights from the encoded labels) or
    {label: weight}."""
    if isinstance(class_weight, dict):
        missing = [label for label in class_weight if label not in set(classes.tolist())]
        if missing:
            raise ValueError(f"class_weight names labels that are not in y: {missing}")
        index = {label: i for i, label in enumerate(classes.tolist())}
        return {index[label]: float(w) for label, w in class_weight.items()}
    return class_weight


def targets_and_moments(y):
    """(targets, moments) of numbers y (N, k): mlp.fit_targets' scaling, and what merging more
    targets into it needs: {"count": N, "spread": (k,) variance / scale**2 (1, or 0 for a
    constant target)}."""
    targets = mlp.fit_targets(y)
    spread = np.where(np.ptp(y, axis=0) > 0, 1.0, 0.0)
    return targets, {"count": len(y), "spread": spread}


def merged_targets(targets, moments, y):
    """(targets, moments) of the targets seen so far (their scaling `targets`, `moments` from
    `targets_and_moments`; None: as many as y holds) and numbers y (N, k) together: the pooled
    mean and standard deviation, computed in units of the old scale (huge targets do not
    overflow)."""
    mean, scale = np.asarray(targets["mean"], np.float64), np.asarray(targets["scale"], np.float64)
    moments = moments or {"count": len(y), "spread": np.ones_like(mean)}
    units = (y - mean) / scale
    n_before, n_new = moments["count"], len(y)
    n = n_before + n_new
    shift = units.mean(axis=0)
    spread = (n_before * moments["spread"] + n_new * units.var(axis=0)) / n + (n_before / n) * (n_new / n) * shift**2
    std = np.sqrt(spread) * scale
    merged = {"mean": mean + shift * (n_new / n) * scale, "scale": np.where(std > 0, std, 1.0)}
    return merged, {"count": n, "spread": np.where(std > 0, 1.0, 0.0)}


def rescaled_outputs(params, before, after):
    """params changed in their output layer only, so that outputs read with the target scaling
    `after` give the numbers the old outputs gave with `before` (output * scale + mean, per
    target): training then goes on from the same predictions."""
    last = len(mlp.sizes_of(params)) - 1
    W, b = params[f"W{last}"], params[f"b{last}"]
    (mean, scale), (new_mean, new_scale) = (
        [np.asarray(t[k], np.float64) for k in ("mean", "scale")] for t in (before, after)
    )
    ratio = scale / new_scale
    shifted = (b * scale + mean - new_mean) / new_scale
    return {**params, f"W{last}": (W * ratio).astype(W.dtype), f"b{last}": shifted.astype(b.dtype)}


def frame_encoding(table, kinds, label):
    """(encoding, feature names in) of a DataFrame's columns (`table` and `kinds`, as
    mlp_columns.frame_table reads them), fitted on all its rows as the command line fits a
    table's training rows (mlp_columns.fit_encoding); `label`, the name of y (a Series'), is
    recorded so that `mlp eval` finds it in a CSV. ValueError for a column empty in every row
    and for a frame with no column left to learn from."""
    mlp_columns.check_kinds(table, kinds, label=None, fix=lambda names: f"drop it (X.drop(columns={names}))")
    encoding = mlp_columns.fit_encoding(table, kinds, label=None, rows=np.arange(table.rows))
    if not encoding["parts"]:
        left = ", ".join(f"{n} ({why})" for n, why in encoding["left_out"].items())
        raise ValueError(f"X: no column to learn from: {left} left out")
    if isinstance(label, str) and label not in table.names:
        encoding = {**encoding, "label": label, "columns": [*encoding["columns"], label]}
    return encoding, np.asarray(table.names, dtype=object)


class _MLP(BaseEstimator):
    """What the classifier and the regressor share: the settings of a fit, the fit itself (mlp.train), the outputs."""

    def _sizes(self, n_features, n_outputs):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, numbers.Integral) else list(hidden)
        if not all(isinstance(h, numbers.Integral) and h >= 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be whole numbers from 1, got {self.hidden_layer_sizes!r}")
        return [n_features, *map(int, hidden), n_outputs]

    def _held_out(self, n_examples):
        """How many of n_examples rows early stopping holds out: validation_fraction of them
        when early_stopping is True, or "auto" and the command line would stop such a table
        early (mlp_run.early_stopping_rows: more than 10,000 rows); else none."""
        auto = isinstance(self.early_stopping, str) and self.early_stopping == AUTO
        if not (mlp_run.early_stopping_rows(n_examples, pictures=False) if auto else self.early_stopping):
            return 0
        n_val = max(1, round(self.validation_fraction * n_examples))
        if not 0 < n_val < n_examples:
            raise ValueError(f"early_stopping needs more than one example; got {n_examples}")
        return n_val

    def _settings(self, n_examples, epochs=None, seed=0, held_out=0):
        """mlp.Settings of a fit on n_examples, `held_out` more kept for early stopping, every
        "auto" filled in as fits the data."""
        fitted = mlp_run.fitted_defaults(
            n_examples, pictures=False, batch_size=self._given("batch_size"), task=self._task(), validation=held_out
        )
        fitted["patience"] = fitted.get("patience", 10)  # a big table's, else scikit-learn's n_iter_no_change
        chosen = lambda name, value: fitted[name] if value == AUTO else value
        settings = mlp.Settings(
            activation=self.activation,
            task=self._task(),
            batch_size=int(chosen("batch_size", self.batch_size)),
            lr=None if self.learning_rate_init == AUTO else float(self.learning_rate_init),
            momentum=self.momentum,
            optimizer=chosen("optimizer", self.optimizer),
            weight_decay=float(chosen("weight_decay", self.alpha)),
            dropout=self.dropout,
            clip=self.clip,
            label_smoothing=getattr(self, "label_smoothing", 0.0),
            schedule=self.schedule,
            warmup=self.warmup,
            augment_kind=getattr(self, "augment", "none"),
            patience=int(chosen("patience", self.n_iter_no_change)) if held_out else 0,
            seed=seed,
            epochs=int(epochs or chosen("epochs", self.max_iter)),
        )
        return mlp.check_settings(settings), chosen("normalize", self.normalize)

    def _task(self):
        """The mlp.TASKS name this estimator trains: its TASK, a classifier's "multilabel" for a
        label-indicator y."""
        return "multilabel" if getattr(self, "multilabel_", False) else self.TASK

    def _warm(self):
        """Whether this fit goes on from the network fitted before (warm_start), not a fresh one."""
        return bool(self.warm_start) and hasattr(self, "params_")

    def _features(self, X, y="no_validation", *, reset, **y_checks):
        """X's rows as the (N, D) array the network takes (and y, when given, checked as
        validate_data checks it with `y_checks`): a DataFrame with words, categories, yes/no,
        dates or gaps encoded as the command line encodes a table (the encoding fitted here when
        `reset`, kept as encoding_, its columns matched by name after), anything else validated
        as scikit-learn does (numbers only; sparse made dense)."""
        if not (mlp_columns.needs_encoding(X) or (not reset and hasattr(self, "encoding_"))):
            if reset and hasattr(self, "encoding_"):  # a fresh fit on numbers: the old encoding goes
                del self.encoding_
            checks = {"dtype": (np.float64, np.float32), "reset": reset, "accept_sparse": SPARSE}
            if isinstance(y, str) and y == "no_validation":  # scikit-learn's word for X alone
                return densified(validate_data(self, X, **checks))
            X, y = validate_data(self, X, y, **checks, **y_checks)
            return densified(X), y
        if not mlp_columns.is_frame(X):
            names = ", ".join(self.feature_names_in_[:8])
            raise ValueError(
                f"this estimator was fitted on a DataFrame of words or gaps: give one (columns {names} ...)"
            )
        table, kinds = mlp_columns.frame_table(X)  # read once: fitted on, then encoded
        if reset:
            self.encoding_, self.feature_names_in_ = frame_encoding(table, kinds, getattr(y, "name", None))
            self.n_features_in_ = len(self.feature_names_in_)
        x = mlp_columns.encode(table, self.encoding_)[0]
        if isinstance(y, str) and y == "no_validation":
            return x
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = np.asarray(y)
        check_consistent_length(x, y)
        return x, y

    def _given(self, name):
        value = getattr(self, name)
        return None if value == AUTO else value

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # made dense (densified), as fit says
        return tags

    def _fit(self, X, y, weights, fresh, epochs=None):
        """Train on X and y (encoded labels, or standardised (N, k) numbers); returns self."""
        seed = seed_of(self.random_state)
        held_out = 0 if epochs else self._held_out(len(X))  # partial_fit's epoch trains on every row
        settings, normalize = self._settings(len(X) - held_out, epochs=epochs, seed=seed, held_out=held_out)
        if epochs:  # partial_fit: one epoch at the rate it asks for, whatever the schedule
            settings = settings._replace(schedule="constant", warmup=0, patience=0)
        dtype = np.dtype(self.dtype)
        if fresh:
            self.preprocessing_ = mlp.fit_preprocessing(X, normalize)
            self.params_ = mlp.init(self._sizes(X.shape[1], self._n_outputs()), self.activation, seed, dtype)
            self.loss_curve_, self.validation_scores_, self.validation_loss_curve_ = [], [], []
            self.n_iter_ = 0
        val = None
        if held_out:
            order = np.arange(len(X))
            train_at, _, val_at, _ = mlp.split_validation(order, y, held_out, seed)
            val = (X[val_at], y[val_at])
            X, y = X[train_at], y[train_at]
            weights = None if weights is None else weights[train_at]
        shown = mlp.Callbacks(on_epoch=self._reported if self.verbose else None)
        self.params_, history = mlp.train(
            self.params_,
            X,
            y,
            settings,
            val=val,
            preprocessing=self.preprocessing_,
            sample_weight=weights,
            transform=mlp_pictures.distortion(settings, mlp.square_side(X.shape[1]) and mlp.image_shape(X.shape[1])),
            callbacks=shown,
        )
        self.settings_ = settings
        score = f"val_{mlp.TASKS[settings.task].score}"  # validation accuracy, or R^2 for numbers
        self.loss_curve_ += [r["loss"] for r in history]
        self.validation_scores_ += [r[score] for r in history if score in r]
        self.validation_loss_curve_ += [r["val_loss"] for r in history if "val_loss" in r]
        if self.validation_scores_:
            self.best_validation_score_ = max(self.validation_scores_)
        self.n_iter_ += len(history)
        self._calibrate(val)
        return self

    def _calibrate(self, val):
        """After each fit: what the trained network needs beyond its weights (a classifier's temperature)."""

    @staticmethod
    def _reported(record, checkpoint):
        name = "accuracy" if "val_accuracy" in record else "r2"
        validation = f", validation {name} {record['val_' + name]:.4f}" if "val_loss" in record else ""
        print(f"epoch {record['epoch']}, loss {record['loss']:.6f}{validation}", flush=True)

    def _logits(self, X):
        """(N, C) outputs of X's rows, computed in float64 so that any batch of rows gives the same."""
        check_is_fitted(self, "params_")
        return self._outputs(self._features(X, reset=False))

    def _outputs(self, X):
        """(N, C) float64 outputs of rows X as `_features` gives them."""
        params64 = {k: p.astype(np.float64) for k, p in self.params_.items()}
        units = mlp.preprocess(X, self.preprocessing_, np.float64)
        return np.concatenate(list(mlp.logits_in_chunks(params64, units, self.activation)))

    def _meta(self):
        """The weights file's record of a fitted estimator."""
        table = getattr(self, "encoding_", None)
        side = None if table else mlp.square_side(self.n_features_in_)
        taken = {"shape": None if side is None else [side, side], "pictures": "framed"}
        return {
            "activation": self.activation,
            "preprocessing": self.preprocessing_,
            "settings": self.settings_._asdict(),
            "epochs_run": int(self.n_iter_),
            "input": taken | ({"table": table} if table else {}),
            **({"task": "multilabel"} if self._task() == "multilabel" else {}),
        } | ({"temperature": self.temperature_} if getattr(self, "temperature_", 1.0) != 1.0 else {})

    def _record(self):
        """The weights file's `estimator` record: the parameters, and the column names it was fitted on."""
        record = {"params": self._json_params()}
        if hasattr(self, "feature_names_in_"):
            record["feature_names_in"] = [str(n) for n in self.feature_names_in_]
        return record

    def _json_params(self):
        params = self.get_params()
        if isinstance(params.get("class_weight"), dict):
            params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
        if not isinstance(params["random_state"], numbers.Integral | None):
            params["random_state"] = None
        return params

    @classmethod
    def _loaded(cls, params, meta):
        """A fitted estimator of a weights file's params and meta (its `estimator` record, or a `mlp train` run's options)."""
        record = meta.get("estimator")
        settings = meta.get("settings") or {}
        sizes = mlp.sizes_of(params)
        if record:
            kept = dict(record["params"])
            if isinstance(kept.get("class_weight"), list):
                kept["class_weight"] = dict(map(tuple, kept["class_weight"]))
            kept["hidden_layer_sizes"] = tuple(kept["hidden_layer_sizes"])
            estimator = cls(**kept)
        else:  # a `mlp train` run: its options under their names here
            estimator = cls(
                hidden_layer_sizes=tuple(sizes[1:-1]),
                activation=meta["activation"],
                batch_size=settings.get("batch_size", AUTO),
                learning_rate_init=settings.get("lr", AUTO),
                max_iter=settings.get("epochs", AUTO),
                alpha=settings.get("weight_decay", AUTO),
                optimizer=settings.get("optimizer", AUTO),
                dropout=settings.get("dropout", 0.0),
                random_state=settings.get("seed"),
                dtype=str(params["W1"].dtype),
            )
        estimator.params_ = params
        estimator.preprocessing_ = meta["preprocessing"]
        estimator.n_features_in_ = sizes[0]
        table = (meta.get("input") or {}).get("table")
        names = (record or {}).get("feature_names_in")
        if table:  # a table's network, fitted here on a DataFrame or by `mlp train` on a CSV: its columns
            estimator.encoding_ = table
            names = names or [n for n in table["columns"] if n not in mlp_columns.labels_of(table["label"])]
        if names:
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
            estimator.n_features_in_ = len(names)
        estimator.n_iter_ = meta.get("epochs_run", settings.get("epochs", 0))
        estimator.settings_ = (
            mlp.Settings(**{k: v for k, v in settings.items() if k in mlp.Settings._fields})
            if ("activation" in settings)
            else None
        )
        estimator.loss_curve_, estimator.validation_scores_, estimator.validation_loss_curve_ = [], [], []
        if mlp.task_of(meta) != "regression":
            estimator.temperature_, estimator.multilabel_ = mlp.temperature_of(meta), mlp.task_of(meta) == "multilabel"
        return estimator


def _refuse_the_other_task(meta, task, path):
    if (mlp.task_of(meta) == "regression") != (task == "regression"):  # a multilabel network has classes
        other = "MLPRegressor" if task == "classification" else "MLPClassifier"
        raise ValueError(f"{path} is a {mlp.task_of(meta)} network: load it with {other}.load")


class MLPClassifier(ClassifierMixin, _MLP):
    """A multi-layer perceptron classifier trained by mlp.py.

    Parameters (scikit-learn's names):
      hidden_layer_sizes: tuple of hidden layer widths. activation: one of mlp.ACTIVATIONS.
      batch_size, learning_rate_init, max_iter (epochs), alpha (weight decay: alpha * W joins
        each step's gradient; scikit-learn's own adds alpha * W / batch_size): "auto" fits the data.
      early_stopping: hold out validation_fraction of the training set (stratified), keep the
        epoch with the best validation accuracy, stop after n_iter_no_change epochs without a
        better one. "auto" (the default): on for more than 10,000 rows (mlp_run.BIG_TABLE_ROWS,
        as the command line; then alpha 0.0001, 80 epochs and n_iter_no_change 20 when "auto").
        n_iter_no_change "auto": 20 for such a big table, else 10.
      calibrate: with early_stopping, fit a temperature on the held-out part after training
        (mlp.fit_temperature): predict_proba divides the logits by it (predict is unchanged).
      class_weight: None, "balanced" or {label: weight}: each example's loss is weighed by its
        class's weight (times its sample_weight in fit).
      random_state: None, an int or a RandomState: the seed of every random choice.
      verbose: print a line per epoch.
      warm_start: fit goes on from the network fitted before (its weights and its input
        scaling; the same classes), instead of a fresh one.
    Parameters (mlp's):
      optimizer ("auto", or one of mlp.OPTIMIZERS), momentum, schedule, warmup, dropout, clip,
      label_smoothing, augment (square images only), normalize ("auto", or one of
      mlp.PREPROCESSINGS), dtype ("float32" or "float64").

    Attributes after fit: classes_, n_features_in_ (feature_names_in_ for a DataFrame),
    params_ (mlp's dict of arrays), preprocessing_, settings_ (the mlp.Settings it trained
    with), loss_curve_ (training loss per epoch), validation_scores_ and validation_loss_curve_
    (with early_stopping), best_validation_score_, n_iter_ (epochs run), temperature_ (1: none
    fitted, as after partial_fit, which changes the network it was fitted for).
    """

    def __init__(
        self,
        hidden_layer_sizes=(128,),
        activation="relu",
        *,
        batch_size=AUTO,
        learning_rate_init=AUTO,
        max_iter=AUTO,
        alpha=AUTO,
        early_stopping=AUTO,
        validation_fraction=0.1,
        n_iter_no_change=AUTO,
        calibrate=True,
        class_weight=None,
        random_state=None,
        verbose=False,
        warm_start=False,
        optimizer=AUTO,
        momentum=0.9,
        schedule="cosine",
        warmup=0,
        dropout=0.0,
        clip=0.0,
        label_smoothing=0.0,
        augment="none",
        normalize=AUTO,
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.calibrate = calibrate
        self.class_weight = class_weight
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.optimizer = optimizer
        self.momentum = momentum
        self.schedule = schedule
        self.warmup = warmup
        self.dropout = dropout
        self.clip = clip
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.normalize = normalize
        self.dtype = dtype

    TASK = "classification"

    def _example_weights(self, y, sample_weight, X):
        """(N,) weights of the encoded labels y: class_weight's times sample_weight's, or None."""
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.class_weight is not None and self.multilabel_:
            raise ValueError("class_weight weighs one class per example; a multilabel y has several: leave it None")
        if self.class_weight is not None:
            by_class = mlp_run.class_weights(
                y, len(self.classes_), class_weight_vector(self.class_weight, self.classes_)
            )
            weights = by_class[y] if weights is None else weights * by_class[y]
        return weights

    # ------------------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Train a fresh network on (X, y) (warm_start: the one fitted before, further); returns
        self. y: labels (N,), or a label-indicator (N, k) of 0 and 1 for several labels per
        example (multilabel: a sigmoid per label, as scikit-learn's own MLPClassifier fits it)."""
        warm = self._warm()
        X, y = self._features(X, y, reset=not warm, multi_output=True)
        multilabel = type_of_target(y) == "multilabel-indicator"
        if multilabel:  # classes_ number the labels, as scikit-learn's LabelBinarizer numbers them
            classes, y = np.arange(y.shape[1]), np.asarray(y == 1, np.int8)
        else:
            y = column_or_1d(y, warn=True)
            check_classification_targets(y)
            classes, y = np.unique(y, return_inverse=True)
        if warm and (not np.array_equal(classes, self.classes_) or multilabel != self.multilabel_):
            raise ValueError(
                f"warm_start goes on from a network of the classes {self.classes_.tolist()}, and y holds "
                f"{classes.tolist()}: fit with warm_start=False for a fresh network"
            )
        self.classes_, self.multilabel_ = classes, multilabel
        return self._fit(X, y, self._example_weights(y, sample_weight, X), fresh=not warm)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One more epoch on (X, y) at a constant rate (the first call needs `classes`, every
        label there will be; the preprocessing is fitted on that first batch); returns self."""
        first = not hasattr(self, "params_")
        if getattr(self, "multilabel_", False):
            raise ValueError("partial_fit trains one label per example; fit this multilabel network whole")
        X, y = self._features(X, y, reset=first)
        self.multilabel_ = False
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("the first call to partial_fit needs classes=, every label the data will hold")
            self.classes_ = np.unique(np.asarray(classes))
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels not in classes: {unknown[:5].tolist()}")
        y = np.searchsorted(self.classes_, y)
        return self._fit(X, y, self._example_weights(y, sample_weight, X), fresh=first, epochs=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # a label-indicator y: several labels per example
        return tags

    def _n_outputs(self):
        return len(self.classes_)

    def _calibrate(self, val):
        """temperature_: mlp.fit_temperature on the part early_stopping held out (val: (X, y) or
        None), with calibrate; else 1 (the plain softmax)."""
        fits = self.calibrate and val and not self.multilabel_  # a temperature scales one softmax
        self.temperature_ = mlp.fit_temperature(self._outputs(val[0]), val[1]) if fits else 1.0

    # ------------------------------------------------------------------------- predict
    def predict_proba(self, X):
        """(N, C) class probabilities, classes in the order of classes_ (softmax of the logits
        divided by temperature_); multilabel: (N, k) each label's own probability (its sigmoid)."""
        logits = self._logits(X)
        if self.multilabel_:
            return np.exp(-np.logaddexp(0, -logits))
        return mlp.softmax(logits / self.temperature_)

    def predict_log_proba(self, X):
        """(N, C) log class probabilities, from the logits (divided by temperature_) with
        log-sum-exp; multilabel: each label's log sigmoid, log(1 / (1 + exp(-z)))."""
        logits = self._logits(X)
        return -np.logaddexp(0, -logits) if self.multilabel_ else mlp.log_softmax(logits / self.temperature_)

    def predict(self, X):
        """(N,) predicted labels, as y held them; multilabel: (N, k) of 0 and 1, a label where its
        probability is above one half."""
        logits = self._logits(X)  # first: unfitted, it says so
        if self.multilabel_:
            return (logits > 0).astype(self.classes_.dtype)
        return self.classes_[logits.argmax(axis=1)]  # the temperature changes no argmax

    # ------------------------------------------------------------------------- the toolkit's weights files
    def save(self, path):
        """Write the fitted network as the toolkit's own weights file: `mlp eval`, `predict`,
        `draw` and `export` take it, and `MLPClassifier.load` reads it back."""
        check_is_fitted(self, "params_")
        labels = self.classes_.tolist()
        meta = self._meta()
        meta["estimator"] = {"classes": labels, "classes_dtype": self.classes_.dtype.str, **self._record()}
        if labels != list(range(len(labels))):  # names the other commands show
            meta["classes"] = [str(label) for label in labels]
        mlp.save(path, self.params_, meta)

    @classmethod
    def load(cls, path):
        """A fitted MLPClassifier from a weights file written by `save` or by `mlp train`."""
        params, meta = mlp.load(path)
        _refuse_the_other_task(meta, "classification", path)
        estimator = cls._loaded(params, meta)
        record = meta.get("estimator")
        if record:
            estimator.classes_ = np.array(record["classes"], dtype=np.dtype(record["classes_dtype"]))
        else:
            names = meta.get("classes")
            estimator.classes_ = np.array(names) if names else np.arange(mlp.sizes_of(params)[-1])
        return estimator


class MLPRegressor(RegressorMixin, _MLP):
    """A multi-layer perceptron for numbers trained by mlp.py: a linear output per target and
    the mean squared error (mlp.TASKS["regression"]); `score` is R^2, as every regressor's.

    Parameters: MLPClassifier's, without those of classes (class_weight, label_smoothing,
    augment). early_stopping keeps the epoch of the lowest validation loss. The targets are
    standardised for training (mlp.fit_targets; partial_fit pools every target seen so far, its
    output layer rescaled to keep its predictions as the scaling moves) and the predictions
    turned back into y's units, so that a price in dollars trains as one in thousands does.

    Attributes after fit: n_outputs_ (targets per example), targets_ (the scaling: "mean" and
    "scale", (k,) each), and MLPClassifier's (validation_scores_ are R^2 on the held-out part).
    """

    TASK = "regression"

    def __init__(
        self,
        hidden_layer_sizes=(128,),
        activation="relu",
        *,
        batch_size=AUTO,
        learning_rate_init=AUTO,
        max_iter=AUTO,
        alpha=AUTO,
        early_stopping=AUTO,
        validation_fraction=0.1,
        n_iter_no_change=AUTO,
        random_state=None,
        verbose=False,
        warm_start=False,
        optimizer=AUTO,
        momentum=0.9,
        schedule="cosine",
        warmup=0,
        dropout=0.0,
        clip=0.0,
        normalize=AUTO,
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.alpha = alpha
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.optimizer = optimizer
        self.momentum = momentum
        self.schedule = schedule
        self.warmup = warmup
        self.dropout = dropout
        self.clip = clip
        self.normalize = normalize
        self.dtype = dtype

    def _n_outputs(self):
        return self.n_outputs_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y (N, k): k outputs
        return tags

    def _validated(self, X, y, reset):
        X, y = self._features(X, y, reset=reset, multi_output=True, y_numeric=True)
        y = np.asarray(y, np.float64)
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinity: a regression needs a number for every row")
        return X, y.reshape(len(y), -1)

    def fit(self, X, y, sample_weight=None):
        """Train a fresh network on (X, y), y (N,) or (N, k) numbers (warm_start: the one fitted
        before, further, its target scaling refitted to this y); returns self."""
        warm = self._warm()
        X, y = self._validated(X, y, reset=not warm)
        if warm:
            self._check_outputs(y)
        self._rescale_targets(*targets_and_moments(y), network_kept=warm)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        return self._fit(X, mlp.scale_targets(y, self.targets_, np.dtype(self.dtype)), weights, fresh=not warm)

    def partial_fit(self, X, y, sample_weight=None):
        """One more epoch on (X, y) at a constant rate (the preprocessing is fitted on the first
        call's batch; the target scaling follows every target seen so far); returns self."""
        first = not hasattr(self, "params_")
        X, y = self._validated(X, y, reset=first)
        if first:
            self._rescale_targets(*targets_and_moments(y), network_kept=False)
        else:
            self._check_outputs(y)
            moments = getattr(self, "target_moments_", None)  # None: loaded from a file
            self._rescale_targets(*merged_targets(self.targets_, moments, y), network_kept=True)
        weights = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        y = mlp.scale_targets(y, self.targets_, np.dtype(self.dtype))
        return self._fit(X, y, weights, fresh=first, epochs=1)

    def _check_outputs(self, y):
        if y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {y.shape[1]} targets per example; this network was fitted on {self.n_outputs_}")

    def _rescale_targets(self, targets, moments, network_kept):
        """Standardise targets by `targets` from now on; a network kept (trained further) has its
        output layer changed so that it still predicts the numbers it did (`rescaled_outputs`)."""
        if network_kept:
            self.params_ = rescaled_outputs(self.params_, self.targets_, targets)
        self.n_outputs_, self.targets_, self.target_moments_ = len(targets["mean"]), targets, moments

    def predict(self, X):
        """(N,) predictions (N, k for several targets), in y's units."""
        predicted = mlp.unscale_targets(self._logits(X), self.targets_)
        return predicted[:, 0] if self.n_outputs_ == 1 else predicted

    def save(self, path):
        """Write the fitted network as the toolkit's own weights file (`mlp eval`, `predict` and
        `export` take it; `MLPRegressor.load` reads it back)."""
        check_is_fitted(self, "params_")
        meta = self._meta() | {"task": "regression", "targets": self.targets_}
        meta["estimator"] = self._record()
        mlp.save(path, self.params_, meta)

    @classmethod
    def load(cls, path):
        """A fitted MLPRegressor from a weights file written by `save` or by `mlp train`."""
        params, meta = mlp.load(path)
        _refuse_the_other_task(meta, "regression", path)
        estimator = cls._loaded(params, meta)
        estimator.targets_, estimator.n_outputs_ = meta["targets"], mlp.sizes_of(params)[-1]
        return estimator
