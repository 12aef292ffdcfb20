"""A trained network as an ONNX model, for onnxruntime and every other ONNX runtime.

    model = mlp_onnx.onnx_model(*mlp.load("weights.npz"))   # needs onnx (the onnx extra)
    open("model.onnx", "wb").write(model.SerializeToString())

The model takes raw values as stored in the data (MNIST: 0-255) and computes what
mlp.predict_proba computes: the stored preprocessing (deslanting and width normalisation
included), every layer, softmax and argmax.
"""

import json

import numpy as np

import mlp
from numpy_mlp import columns as mlp_columns
from numpy_mlp import data as mlp_data
from numpy_mlp import decisions as mlp_decisions

ONNX_OPSET = 20  # the first with Gelu's tanh form (and StringSplit, for a table's dates)
ONNX_ML_OPSET = 3  # ai.onnx.ml's LabelEncoder with string keys and float values
OUTPUTS = {"StringSplit": 2}  # operators whose every output must be named: the pieces, and how many
SAKAMOTO = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]  # month offsets of Sakamoto's day-of-the-week formula

# Each of mlp's activations and preprocessings as ONNX operators (a test checks that every
# registry entry has its line here).
ACTIVATION_OPS = {  # name: (op, attributes)
    "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
    "gelu": ("Gelu", {"approximate": "tanh"}),  # ONNX's tanh form is mlp's formula
}

PREPROCESSING_STEPS = {  # kind: [(op, operand(prep))] applied in order after the range scaling
    "range": (),
    "standard": (("Sub", lambda prep: prep["mean"]), ("Mul", lambda prep: 1 / prep["std"])),
}


def straightening(h, prep, step, constant, ints):
    """Nodes resampling flat images h (N, H * W) along their rows as mlp.straighten does:
    moments, slant and width ratio, each output pixel's source column, and linear interpolation
    between the two neighbours (GatherElements on the image padded with zeros). Returns the
    output's name. step(op, value, operands, **attributes), constant(name, array) (float32) and
    ints(name, array) (int64) add a node or an initializer."""
    (rows_n, cols_n), tag = prep["shape"], "straighten"
    ys = np.arange(rows_n) - (rows_n - 1) / 2
    xs = np.arange(cols_n) - (cols_n - 1) / 2
    img = step("Reshape", h, ints(f"{tag}_shape", [-1, rows_n, cols_n]))
    axis1, axis2 = ints(f"{tag}_axis1", [1]), ints(f"{tag}_axis2", [2])
    total = lambda value, axis, keep: step("ReduceSum", value, axis, keepdims=keep)
    doubles = lambda name, array: constant(name, array, np.float64)
    wide = step("Cast", img, None, to=11)  # 11: DOUBLE; the moments in float64, as mlp's
    rows, cols = total(wide, axis2, 0), total(wide, axis1, 0)  # (N, H), (N, W)
    mass = step("Max", total(rows, axis1, 1), doubles(f"{tag}_tiny", np.finfo(np.float32).tiny))
    mean = lambda value, weights, name: step("Div", total(step("Mul", value, doubles(name, weights)), axis1, 1), mass)
    cy, cx = mean(rows, ys, f"{tag}_ys"), mean(cols, xs, f"{tag}_xs")
    mu02 = step("Sub", mean(rows, ys * ys, f"{tag}_ys2"), step("Mul", cy, cy))
    mu20 = step("Sub", mean(cols, xs * xs, f"{tag}_xs2"), step("Mul", cx, cx))
    along = total(step("Mul", wide, doubles(f"{tag}_xs_row", xs)), axis2, 0)  # (N, H): sum of x * ink
    mu11 = step("Sub", mean(along, ys, f"{tag}_ys_again"), step("Mul", cx, cy))
    cx, cy, mu20, mu02, mu11 = (step("Cast", m, None, to=1) for m in (cx, cy, mu20, mu02, mu11))  # 1: FLOAT
    per_image = lambda value: step("Unsqueeze", value, axis2)  # (N, 1) -> (N, 1, 1)
    slant = ratio = None  # off: no nodes
    if prep.get("deslant"):
        slant = step("Div", mu11, step("Max", mu02, constant(f"{tag}_one", 1.0)))
        slant = step("Clip", slant, [constant(f"{tag}_lo", -mlp.MAX_SLANT), constant(f"{tag}_hi", mlp.MAX_SLANT)])
    if prep.get("width"):
        variance = mu20
        if slant:  # after the shear: mu20 - 2 s mu11 + s^2 mu02
            two_s_mu11 = step("Mul", step("Mul", constant(f"{tag}_two", 2.0), slant), mu11)
            variance = step("Add", step("Sub", mu20, two_s_mu11), step("Mul", step("Mul", slant, slant), mu02))
        spread = step("Sqrt", step("Max", variance, constant(f"{tag}_zero", 0.0)), None)
        low, high = mlp.WIDTH_STRETCH
        ratio = step("Div", spread, constant(f"{tag}_width", prep["width"]))
        ratio = step("Clip", ratio, [constant(f"{tag}_stretch_lo", low), constant(f"{tag}_stretch_hi", high)])
    cx, cy = per_image(cx), per_image(cy)
    across = step("Sub", constant(f"{tag}_xs_3d", xs.reshape(1, 1, -1)), cx)
    column = step("Add", cx, step("Mul", across, per_image(ratio)) if ratio else across)
    if slant:
        down = step("Mul", per_image(slant), step("Sub", constant(f"{tag}_ys_3d", ys.reshape(1, -1, 1)), cy))
        column = step("Add", column, down)
    else:  # every row the same source columns, broadcast to (N, H, W)
        column = step("Add", column, constant(f"{tag}_rows", np.zeros((1, rows_n, 1))))
    column = step("Add", column, constant(f"{tag}_centre", (cols_n - 1) / 2))
    column = step("Clip", column, [constant(f"{tag}_first", -1.0), constant(f"{tag}_last", float(cols_n))])
    left = step("Floor", column, None)
    frac = step("Sub", column, left)
    padded = step("Pad", img, ints(f"{tag}_pads", [0, 0, 1, 0, 0, 2]))  # zeros: a column before, two after
    index = step("Add", step("Cast", left, None, to=7), ints(f"{tag}_plus_one", 1))  # 7: INT64
    a = step("GatherElements", padded, index, axis=2)
    b = step("GatherElements", padded, step("Add", index, ints(f"{tag}_next", 1)), axis=2)
    out = step("Add", a, step("Mul", frac, step("Sub", b, a)))
    return step("Reshape", out, ints(f"{tag}_flat", [-1, rows_n * cols_n]))


def date_parts(step, constant, ints, text, gap, tag):
    """((N, 3) float32 year, month and day of the week (Monday 0, as datetime's weekday) of ISO
    dates text (N, 1), NaN in the gaps; gap (N, 1) bool) for table_encoding."""
    safe = step("Where", gap, [constant(f"{tag}_blank", np.array([["1970-01-01"]], object), object), text])
    pieces = step("StringSplit", safe, None, delimiter="-", maxsplit=2)  # (N, 1, 3): year, month, day[T...]
    part = lambda k: step("Gather", pieces, ints(f"{tag}_at{k}", k), axis=2)
    day = part(2)
    for k, cut in enumerate("T "):  # a time after the day, in either form ISO allows
        day = step("StringSplit", day, None, delimiter=cut, maxsplit=1)
        day = step("Gather", day, ints(f"{tag}_before_time{k}", 0), axis=2)
    year, month, day = (step("Cast", piece, None, to=1) for piece in (part(0), part(1), day))
    # Sakamoto: (y + y/4 - y/100 + y/400 + t[m - 1] + d) mod 7, y one less in January and February
    early = step("Cast", step("Less", month, constant(f"{tag}_march", 3.0)), None, to=1)
    y = step("Sub", year, early)
    floor = lambda k: step("Floor", step("Div", y, constant(f"{tag}_by{k}", float(k))), None)
    month_at = step("Sub", step("Cast", month, None, to=7), ints(f"{tag}_one", 1))
    offset = step("Gather", constant(f"{tag}_offsets", np.array(SAKAMOTO, np.float32)), month_at, axis=0)
    total = step("Add", step("Sub", step("Add", y, floor(4)), floor(100)), floor(400))
    total = step("Add", step("Add", total, offset), day)
    sunday_first = step("Mod", total, constant(f"{tag}_week", 7.0), fmod=1)
    weekday = step("Mod", step("Add", sunday_first, constant(f"{tag}_six", 6.0)), constant(f"{tag}_week2", 7.0), fmod=1)
    values = step("Concat", year, [month, weekday], axis=1)
    return step("Where", gap, [constant(f"{tag}_nan", np.full((1, 3), np.nan)), values]), gap


def word_slots(step, constant, ints, text, gap, part, tag):
    """[(N, k) float32 one-hot of words text (N, 1) as numpy_mlp.columns encodes them (a slot per
    level, "other", "gap"), and each level's training frequency when it has them] for
    table_encoding."""
    levels = part["levels"]
    other = len(levels) if part["other"] else -1  # no "other": an unseen word takes no slot
    gap_slot = len(levels) + part["other"] if part["gap"] else -1
    width = len(levels) + part["other"] + part["gap"]
    keys = levels or ["\x00"]  # LabelEncoder needs a key
    slot = step(
        "LabelEncoder",
        text,
        None,
        domain="ai.onnx.ml",
        keys_strings=keys,
        values_int64s=list(range(len(keys))),
        default_int64=other,
    )
    slot = step("Where", gap, [ints(f"{tag}_gap", [[gap_slot]]), slot])
    blocks = [step("Cast", step("Equal", slot, ints(f"{tag}_slots", [list(range(width))])), None, to=1)]
    if "frequency" in part:
        keys, shares = zip(*part["frequency"].items())
        share = step(
            "LabelEncoder",
            text,
            None,
            domain="ai.onnx.ml",
            keys_strings=list(keys),
            values_floats=list(shares),
            default_float=0.0,
        )
        blocks.append(step("Where", gap, [constant(f"{tag}_none", [[0.0]]), share]))
    return blocks


def table_encoding(step, constant, ints, encoding):
    """Nodes encoding a table's raw columns as numpy_mlp.columns.encode does, one graph input
    per column the encoding takes, named as the column: numbers as float32 (N, 1) with NaN for a
    gap; words, yes/no and ISO dates as strings (N, 1), a gap as "" or any of GAPS' words (any
    case). Returns ([(input name, is text)], the encoded (N, D) output's name)."""
    nan = np.float32(np.nan)

    def lowered(text, tag):  # StringNormalizer takes [C] only
        flat = step("Reshape", text, ints(f"{tag}_flat", [-1]))
        flat = step("StringNormalizer", flat, None, case_change_action="LOWER", locale="C")  # ASCII words: any machine
        return step("Reshape", flat, ints(f"{tag}_column", [-1, 1]))

    def gap_of(text, tag):  # (N, 1) bool: "" or one of GAPS' words, any case
        gaps = list(mlp_columns.GAPS)
        found = step(
            "LabelEncoder",
            lowered(text, f"{tag}_gap"),
            None,
            domain="ai.onnx.ml",
            keys_strings=gaps,
            values_int64s=[1] * len(gaps),
            default_int64=0,
        )
        return step("Cast", found, None, to=9)  # 9: BOOL

    def filled(values, gap, part, name):  # the training median in the gaps, and the 0/1 flag
        kept = step("Where", gap, [constant(f"{name}_fill", np.reshape(part["fill"], (1, -1))), values])
        return [kept, step("Cast", gap, None, to=1)] if part["gaps"] else [kept]

    inputs, blocks = [], []
    for i, part in enumerate(encoding["parts"]):
        name, kind, tag = part["column"], part["kind"], f"c{i}"
        inputs.append((name, kind != "number"))
        if kind == "number":
            blocks += filled(name, step("IsNaN", name, None), part, tag)
        elif kind == "boolean":
            keys = list(mlp_columns.BOOLEANS)
            values = [float(mlp_columns.BOOLEANS[k]) for k in keys]
            value = step(
                "LabelEncoder",
                lowered(name, tag),
                None,
                domain="ai.onnx.ml",
                keys_strings=keys,
                values_floats=values,
                default_float=float(nan),
            )
            blocks += filled(value, step("IsNaN", value, None), part, tag)
        elif kind == "date":
            blocks += filled(*date_parts(step, constant, ints, name, gap_of(name, tag), tag), part, tag)
        else:
            blocks += word_slots(step, constant, ints, name, gap_of(name, tag), part, tag)
    return inputs, step("Concat", blocks[0], blocks[1:], axis=1)


def columns_taken(meta):
    """A table's encoding when the model takes its raw columns (words, gaps or columns left
    out), else None (pictures, and tables of numbers only: one (N, D) input)."""
    table = (meta.get("input") or {}).get("table")
    return table if table and not mlp_columns.is_plain(table) else None


def check_names(columns, nodes, initializers):
    """ValueError for a column named as one of the graph's own values ('W1', 'logits', ...)."""
    own = {out for node in nodes for out in node.output} | {i.name for i in initializers}
    clash = [c for c in columns if c in own]
    if clash:
        raise ValueError(
            f"column {clash[0]!r} has the name of a value inside the ONNX graph; rename it and train again"
        )


def input_name(meta):
    """The graph's input, named for the range it takes: raw values as stored in the data, e.g.
    'raw_0_to_255' for MNIST's pixels (never [0, 1] floats: the model scales them itself)."""
    prep = meta["preprocessing"]
    return f"raw_{prep['low']:g}_to_{prep['high']:g}".replace("-", "minus_").replace(".", "_")


def onnx_model(params, meta):
    """An onnx.ModelProto computing mlp.predict_proba from raw values: the stored preprocessing
    (PREPROCESSING_STEPS after the range scaling), every layer (Gemm and the hidden activation,
    ACTIVATION_OPS), softmax (of the logits divided by the fitted temperature, if any) and argmax. Input "input": float32
    (N, D) raw values as stored in the data (MNIST: 0-255); outputs "logits" and
    "probabilities" float32 (N, C) and "class" int64 (N,); a regression's (mlp.predict_values)
    one output, "values" float32 (N, k), the numbers in their own units. It computes in float32, float64
    weights rounded to it: runtimes lack some double kernels (onnxruntime's LeakyRelu)."""
    import onnx  # the onnx extra; the registries above need none of it

    helper, numpy_helper, T = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    dtype, prep = np.float32, meta["preprocessing"]
    nodes, initializers = [], []

    def step(op, value, operand, **attributes):  # a node, its (first) output named after its place
        out = f"t{len(nodes)}"
        inputs = [value, *(operand if isinstance(operand, list) else [operand] if operand else [])]
        also = [f"{out}_{k}" for k in range(1, OUTPUTS.get(op, 1))]  # outputs a node must name, unused here
        nodes.append(helper.make_node(op, inputs, [out, *also], **attributes))
        return out

    def constant(name, array, of=dtype):
        initializers.append(numpy_helper.from_array(np.asarray(array, of), name))
        return name

    def ints(name, array):
        initializers.append(numpy_helper.from_array(np.asarray(array, np.int64), name))
        return name

    table = columns_taken(meta)
    inputs, h = table_encoding(step, constant, ints, table) if table else ([], input_name(meta))
    # as mlp.to_unit: (x - low) * (1 / (high - low)), or (high - x) * (1 / (high - low)) for
    # pictures on a light background, in the weights' dtype
    if prep.get("invert", False):
        out = f"t{len(nodes)}"
        nodes.append(helper.make_node("Sub", [constant("high", prep["high"]), h], [out]))
        h = out
    elif prep["low"]:
        h = step("Sub", h, constant("low", prep["low"]))
    if prep["high"] > prep["low"]:
        h = step("Mul", h, constant("scale", 1 / (prep["high"] - prep["low"])))
    if mlp.straightens(prep):
        h = straightening(h, prep, step, constant, ints)
    for i, (op, operand) in enumerate(PREPROCESSING_STEPS[prep["kind"]]):
        h = step(op, h, constant(f"prep_{i}", operand(prep)))
    op, attributes = ACTIVATION_OPS[meta["activation"]]
    L = mlp.n_layers(params)
    for l in range(1, L + 1):
        h = step("Gemm", h, [constant(f"W{l}", params[f"W{l}"]), constant(f"b{l}", params[f"b{l}"])])
        if l < L:
            h = step(op, h, None, **attributes)
    n_in, n_classes = mlp.sizes_of(params)[0], mlp.sizes_of(params)[-1]
    if mlp.task_of(meta) == "regression":  # the numbers in their own units: mlp.unscale_targets
        h = step("Mul", h, constant("target_scale", meta["targets"]["scale"]))
        nodes.append(helper.make_node("Add", [h, constant("target_mean", meta["targets"]["mean"])], ["values"]))
        outputs = [helper.make_tensor_value_info("values", T.FLOAT, ["N", n_classes])]
    elif mlp.task_of(meta) == "multilabel":  # each label's own probability, and a label where it reaches its cut
        cuts = constant("label_cuts", mlp_decisions.cuts_of(meta, n_classes))
        nodes += [
            helper.make_node("Identity", [h], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
            helper.make_node("GreaterOrEqual", ["probabilities", cuts], ["labels"]),
        ]
        outputs = [
            helper.make_tensor_value_info("logits", T.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("probabilities", T.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("labels", T.BOOL, ["N", n_classes]),
        ]
    else:
        nodes.append(helper.make_node("Identity", [h], ["logits"]))
        tempered = "logits"
        if mlp.temperature_of(meta) != 1.0:  # the fitted temperature: the logits divided before the softmax
            tempered = step("Div", "logits", constant("softmax_temperature", mlp.temperature_of(meta)))
        nodes.append(helper.make_node("Softmax", [tempered], ["probabilities"], axis=1))
        if "threshold" in meta and n_classes == 2:  # class 1 where its probability reaches the tuned cut
            positive = step("Gather", "probabilities", ints("positive_class", 1), axis=1)
            said = step("GreaterOrEqual", positive, constant("decision_cut", meta["threshold"]["cuts"][0]))
            nodes.append(helper.make_node("Cast", [said], ["class"], to=T.INT64))
        else:
            nodes.append(helper.make_node("ArgMax", ["logits"], ["class"], axis=1, keepdims=0))
        outputs = [
            helper.make_tensor_value_info("logits", T.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("probabilities", T.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("class", T.INT64, ["N"]),
        ]
    if table:
        taken = [helper.make_tensor_value_info(n, T.STRING if text else T.FLOAT, ["N", 1]) for n, text in inputs]
        check_names([n for n, _ in inputs], nodes, initializers)
    else:
        taken = [helper.make_tensor_value_info(input_name(meta), T.FLOAT, ["N", n_in])]
    graph = helper.make_graph(nodes, "mlp", taken, outputs, initializer=initializers)
    opsets = [helper.make_opsetid("", ONNX_OPSET)] + (
        [helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET)] if table else []
    )
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="numpy-mlp",
        doc_string=f"An MLP {'-'.join(map(str, mlp.sizes_of(params)))} {meta['activation']} "
        "trained with numpy-mlp; input: raw values as stored in its data.",
    )
    model.ir_version = 9  # the IR of opset 20 (onnx 1.15): what onnxruntime reads from 1.17 on
    scores = ("test_accuracy", "test_r2")
    summary = {k: meta.get(k) for k in ("activation", "settings", *scores, "data", "input", "epochs_run") if k in meta}
    if mlp.task_of(meta) == "regression":
        named = {"targets": json.dumps(mlp_data.target_names(meta))}
    else:
        named = {"classes": json.dumps([mlp_data.class_name(meta, c) for c in range(n_classes)])}
    taken = f"raw values as stored in the data, {prep['low']:g} to {prep['high']:g}; the model scales them itself"
    if table:
        taken = "a table's columns as the CSV holds them, one input each; the model encodes them itself"
    props = {**named, "training": json.dumps(summary), "preprocessing": prep["kind"], "input_range": taken}
    if "temperature" in meta:
        props["temperature"] = repr(meta["temperature"])
    helper.set_model_props(model, props)
    return model


def described(params, meta):
    """The inputs and outputs of `onnx_model(params, meta)`, in words, for export to say."""
    n_in, k = mlp.sizes_of(params)[0], mlp.sizes_of(params)[-1]
    outputs = (
        f"output 'values' float32 (N, {k}), the numbers in their own units"
        if mlp.task_of(meta) == "regression"
        else f"outputs 'logits' and 'probabilities' float32 (N, {k}), each label's own, and 'labels' bool (N, {k})"
        if mlp.task_of(meta) == "multilabel"
        else f"outputs 'logits' and 'probabilities' float32 (N, {k}), 'class' int64 (N,)"
        + (
            f"; the probabilities divide the logits by the temperature {meta['temperature']:.4g}"
            if "temperature" in meta
            else ""
        )
    )
    table = columns_taken(meta)
    if table:
        texts = [p["column"] for p in table["parts"] if p["kind"] != "number"]
        said = f"{len(table['parts'])} inputs, one per column (N, 1): float32 numbers (NaN a gap)"
        return said + (f", strings for {mlp_columns.listed(texts, most=6)}" if texts else "") + f"; {outputs}"
    low, high = meta["preprocessing"]["low"], meta["preprocessing"]["high"]
    return (
        f"input '{input_name(meta)}' float32 (N, {n_in}) of raw values as in the data ({low:g} to {high:g}); {outputs}"
    )
