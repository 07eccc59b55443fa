"""Knowledge distillation: a small student learns from a teacher's softened answers.

Hinton, Vinyals and Dean (2015) train a small *student* network to match the
class probabilities of a large *teacher*, softened with a temperature ``T``:
``softmax(z / T)`` of the logits ``z``. The student's loss mixes two terms,
as in the Keras example "Knowledge Distillation"
(https://keras.io/examples/vision/knowledge_distillation/)::

    loss = alpha * CE(labels, softmax(z_s))
           + (1 - alpha) * T**2 * KL(softmax(z_t / T) || softmax(z_s / T))

The factor ``T**2`` keeps the soft term's gradients on the same scale whatever
the temperature (Hinton et al., section 2). One change from the Keras example:
the teacher's logits are computed *once*, in advance, and passed to ``fit``
together with the labels, so a teacher built on cached features costs nothing
during the student's training. Introduced in chapter 09.
"""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np
from keras import ops

from utils import architecture, model_files
from utils.validation import positive_number


def _check_temperature(temperature: float) -> float:
    return positive_number(temperature, "temperature")


def soft_targets(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` row by row, in NumPy: the softened probabilities.

    ``temperature=1`` gives the ordinary softmax; larger temperatures spread the
    probability over more classes. Introduced in chapter 09.
    """
    temperature = _check_temperature(temperature)
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def logits_model(model: keras.Model) -> keras.Model:
    """The same classifier without its final softmax: it outputs the logits ``z``.

    ``model`` must end in a ``Dense`` layer with a softmax activation, as
    ``models.recipe_head`` and ``models.small_cnn`` do. The new model shares
    every layer, and so every weight, with ``model``: training one trains the
    other. Introduced in chapter 09.
    """
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.activation is not keras.activations.softmax:
        raise ValueError(
            f"{model.name} must end in a Dense layer with a softmax activation, "
            f"not {type(last).__name__}"
        )
    inputs = keras.Input(shape=model.input_shape[1:])
    hidden = inputs
    for layer in model.layers[:-1]:
        hidden = layer(hidden)
    return keras.Model(inputs, _Logits(last)(hidden), name=f"{model.name}_logits")


class _Logits(keras.layers.Layer):
    """A softmax Dense layer's pre-activation ``x @ W + b``, using that layer's own weights."""

    def __init__(self, dense: keras.layers.Dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, inputs):
        outputs = ops.matmul(inputs, self.dense.kernel)
        return outputs + self.dense.bias if self.dense.use_bias else outputs

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dense.units)


def distillation_loss(labels, student_logits, teacher_logits, temperature=4.0, alpha=0.1):
    """The student's loss, averaged over the batch, and its two parts.

    Returns ``(loss, hard, soft)``: ``hard`` is the cross-entropy with the
    integer ``labels``; ``soft`` is ``T**2`` times the KL divergence from the
    teacher's softened probabilities to the student's; ``loss = alpha * hard
    + (1 - alpha) * soft``. ``alpha=1`` is ordinary training on labels.
    Introduced in chapter 09.
    """
    student_logits = ops.cast(student_logits, "float32")
    teacher_logits = ops.cast(teacher_logits, "float32")
    hard = ops.mean(
        keras.losses.sparse_categorical_crossentropy(labels, student_logits, from_logits=True)
    )
    teacher_soft = ops.softmax(teacher_logits / temperature, axis=-1)
    student_log_soft = ops.log_softmax(student_logits / temperature, axis=-1)
    teacher_log_soft = ops.log_softmax(teacher_logits / temperature, axis=-1)
    kl = ops.sum(teacher_soft * (teacher_log_soft - student_log_soft), axis=-1)
    soft = temperature**2 * ops.mean(kl)
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


class Distiller(keras.Model):
    """Train ``student`` on labels and a teacher's precomputed logits.

    ``fit(x, (labels, teacher_logits))``: the targets are a pair, the integer
    labels and the teacher's logits for the same images (computed once, for
    example with ``logits_model(teacher_head).predict(cached_features)``).
    Only the student's weights learn. The student keeps its softmax output for
    later use; the distiller itself outputs the student's logits. The log
    shows the total loss, its ``hard`` (labels) and ``soft`` (teacher) parts
    and the accuracy on the labels. Introduced in chapter 09.
    """

    def __init__(
        self, student: keras.Model, temperature: float = 4.0, alpha: float = 0.1, **kwargs
    ):
        kwargs.setdefault("name", f"distill_{student.name}")
        super().__init__(**kwargs)
        self.temperature, self.alpha = temperature, alpha
        self.student = student
        self.student_logits = logits_model(student)  # shares its weights
        self.hard_tracker = keras.metrics.Mean(name="hard")
        self.soft_tracker = keras.metrics.Mean(name="soft")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def call(self, inputs, training=False):
        return self.student_logits(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels, teacher_logits = y
        loss, hard, soft = distillation_loss(
            labels, y_pred, teacher_logits, self.temperature, self.alpha
        )
        self.hard_tracker.update_state(hard)
        self.soft_tracker.update_state(soft)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self.accuracy_tracker.update_state(y[0], y_pred)
        return self.get_metrics_result()


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of the Conv2D and Dense layers for one input, nested models included.

    Counted as in chapter 03 (``architecture.multiply_adds``). Introduced in chapter 09.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
        else:
            total += architecture.multiply_adds(layer)
    return total


def size_report(model: keras.Model) -> dict[str, int]:
    """Parameters, bytes of the saved ``.keras`` file and multiply-adds per input of ``model``.

    Introduced in chapter 09.
    """
    return {
        "parameters": int(model.count_params()),
        "file_bytes": saved_size(model),
        "multiply_adds": multiply_adds(model),
    }


def saved_size(model: keras.Model) -> int:
    """Bytes of ``model`` saved as a ``.keras`` file: architecture and weights.

    The optimizer's state is left out (a compiled model would otherwise carry
    it), so the number is what a deployed copy of the model weighs. The file
    goes to a temporary folder and is deleted. Introduced in chapter 09.
    """
    copy = model_files.weights_only_copy(model)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        copy.save(path)
        return os.path.getsize(path)
