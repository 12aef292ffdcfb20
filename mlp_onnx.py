"""A trained network as an ONNX model, for onnxruntime and every other ONNX runtime.

    model = mlp_onnx.onnx_model(*mlp.load("weights.npz"))   # needs onnx (the onnx extra)
    open("model.onnx", "wb").write(model.SerializeToString())

The model takes raw values as stored in the data (MNIST: 0-255) and computes what
mlp.predict_proba computes: the stored preprocessing, every layer, softmax and argmax.
"""

import json

import numpy as np

import mlp
import mlp_data

ONNX_OPSET = 20  # the first with Gelu's tanh form

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


def onnx_model(params, meta):
    """An onnx.ModelProto computing mlp.predict_proba from raw values: the stored preprocessing
    (PREPROCESSING_STEPS after the range scaling), every layer (Gemm and the hidden activation,
    ACTIVATION_OPS), softmax and argmax. Input "input": float32
    (N, D) raw values as stored in the data (MNIST: 0-255); outputs "logits" and
    "probabilities" float32 (N, C) and "class" int64 (N,). It computes in float32, float64
    weights rounded to it: runtimes lack some double kernels (onnxruntime's LeakyRelu)."""
    import onnx  # the onnx extra; the registries above need none of it

    helper, numpy_helper, T = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    dtype, prep = np.float32, meta["preprocessing"]
    nodes, initializers = [], []

    def step(op, value, operand, **attributes):  # a node, its output named after its place
        out = f"t{len(nodes)}"
        inputs = [value, *(operand if isinstance(operand, list) else [operand] if operand else [])]
        nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    def constant(name, array):
        initializers.append(numpy_helper.from_array(np.asarray(array, dtype), name))
        return name

    h = "input"
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
    for i, (op, operand) in enumerate(PREPROCESSING_STEPS[prep["kind"]]):
        h = step(op, h, constant(f"prep_{i}", operand(prep)))
    op, attributes = ACTIVATION_OPS[meta["activation"]]
    L = mlp.n_layers(params)
    for l in range(1, L + 1):
        h = step("Gemm", h, [constant(f"W{l}", params[f"W{l}"]), constant(f"b{l}", params[f"b{l}"])])
        if l < L:
            h = step(op, h, None, **attributes)
    nodes += [
        helper.make_node("Identity", [h], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["class"], axis=1, keepdims=0),
    ]
    n_in, n_classes = mlp.sizes_of(params)[0], mlp.sizes_of(params)[-1]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", T.FLOAT, ["N", n_in])],
        [
            helper.make_tensor_value_info("logits", T.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("probabilities", T.FLOAT, ["N", n_classes]),
            helper.make_tensor_value_info("class", T.INT64, ["N"]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="numpy-mlp",
        doc_string=f"An MLP {'-'.join(map(str, mlp.sizes_of(params)))} {meta['activation']} "
        "trained with numpy-mlp; input: raw values as stored in its data.",
    )
    model.ir_version = 9  # the IR of opset 20 (onnx 1.15): what onnxruntime reads from 1.17 on
    summary = {k: meta.get(k) for k in ("activation", "settings", "test_accuracy", "data", "input", "epochs_run")}
    helper.set_model_props(
        model,
        {
            "classes": json.dumps([mlp_data.class_name(meta, c) for c in range(n_classes)]),
            "training": json.dumps(summary),
            "preprocessing": prep["kind"],
        },
    )
    return model
