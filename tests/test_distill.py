"""Knowledge distillation: the code chapter 10 writes out (read from the chapter)."""

import os
import tempfile

import keras
import numpy as np
import pytest
from chapter_code import definitions
from keras import ops

from utils import architecture, model_files, models, training
from utils.validation import positive_number

distill = definitions(
    "10_knowledge_distillation", keras=keras, np=np, ops=ops, os=os, tempfile=tempfile,
    architecture=architecture, model_files=model_files, models=models,
    positive_number=positive_number,
)


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _tiny_classifier(n_inputs=6, n_classes=4, name="tiny"):
    return keras.Sequential(
        [
            keras.Input(shape=(n_inputs,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(n_classes, activation="softmax"),
        ],
        name=name,
    )


# --------------------------------------------------------------------------- soft targets


def test_soft_targets_is_a_softmax_of_the_scaled_logits():
    logits = np.array([[2.0, 1.0, -1.0], [0.0, 0.0, 5.0]])
    np.testing.assert_allclose(distill.soft_targets(logits, 1.0), _softmax(logits), rtol=1e-12)
    np.testing.assert_allclose(distill.soft_targets(logits, 4.0), _softmax(logits / 4), rtol=1e-12)


def test_higher_temperature_is_softer_and_keeps_the_order():
    logits = np.array([[3.0, 1.0, 0.5, -2.0]])
    tops = [distill.soft_targets(logits, t).max() for t in (1, 2, 4, 8, 1000)]
    assert all(a > b for a, b in zip(tops, tops[1:], strict=False))
    assert tops[-1] == pytest.approx(0.25, abs=1e-2)
    for t in (0.5, 1, 10):
        soft = distill.soft_targets(logits, t)
        assert soft.sum() == pytest.approx(1.0)
        assert list(np.argsort(soft[0])) == list(np.argsort(logits[0]))


def test_soft_targets_survive_huge_logits():
    soft = distill.soft_targets(np.array([[5000.0, 0.0, -3000.0]]), 4.0)
    assert np.isfinite(soft).all() and soft[0, 0] == pytest.approx(1.0)


def test_soft_targets_take_a_numpy_temperature():
    logits = np.array([[1.0, 2.0, 4.0]])
    np.testing.assert_allclose(distill.soft_targets(logits, np.float32(2)), _softmax(logits / 2))
    np.testing.assert_allclose(distill.soft_targets(logits, np.int64(2)), _softmax(logits / 2))


@pytest.mark.parametrize("temperature", [0, -1.0, "4", True, None])
def test_bad_temperature_is_rejected(temperature):
    with pytest.raises(ValueError, match="temperature"):
        distill.soft_targets(np.zeros((1, 3)), temperature)


# --------------------------------------------------------------------------- logits


def test_logits_model_shares_weights_and_gives_the_softmax_inputs():
    training.seed_everything(0)
    model = _tiny_classifier()
    logits_model = distill.logits_model(model)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    z = keras.ops.convert_to_numpy(logits_model(x))
    p = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(_softmax(z.astype(np.float64)), p, rtol=1e-5, atol=1e-7)
    # Shared weights: changing the model changes the logits model.
    last = model.layers[-1]
    last.set_weights([w * 2 for w in last.get_weights()])
    z2 = keras.ops.convert_to_numpy(logits_model(x))
    assert not np.allclose(z, z2)
    assert logits_model.count_params() == model.count_params()


def test_logits_model_works_on_the_book_models():
    student = models.small_cnn((32, 32, 3))
    assert distill.logits_model(student).output_shape == (None, 10)
    head = models.recipe_head((4, 4, 256))
    assert distill.logits_model(head).output_shape == (None, 10)


def test_logits_model_rejects_a_model_without_softmax_output():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="softmax"):
        distill.logits_model(model)


# --------------------------------------------------------------------------- the loss


def _numpy_loss(labels, student, teacher, temperature, alpha):
    p = _softmax(student)
    hard = -np.log(p[np.arange(len(labels)), labels]).mean()
    pt, ps = _softmax(teacher / temperature), _softmax(student / temperature)
    soft = temperature**2 * (pt * (np.log(pt) - np.log(ps))).sum(axis=1).mean()
    return alpha * hard + (1 - alpha) * soft, hard, soft


def test_distillation_loss_matches_numpy():
    rng = np.random.default_rng(1)
    labels = np.array([0, 2, 1, 3])
    student = rng.normal(size=(4, 4)) * 3
    teacher = rng.normal(size=(4, 4)) * 3
    for temperature, alpha in ((1.0, 0.5), (4.0, 0.1), (10.0, 0.0), (2.0, 1.0)):
        got = [
            float(keras.ops.convert_to_numpy(v))
            for v in distill.distillation_loss(labels, student, teacher, temperature, alpha)
        ]
        expected = _numpy_loss(labels, student, teacher, temperature, alpha)
        np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_soft_part_is_zero_when_the_student_copies_the_teacher():
    logits = np.random.default_rng(2).normal(size=(3, 5))
    _, _, soft = distill.distillation_loss(np.array([0, 1, 2]), logits, logits, 4.0, 0.1)
    assert float(keras.ops.convert_to_numpy(soft)) == pytest.approx(0.0, abs=1e-5)


# --------------------------------------------------------------------------- training


def _toy_problem(n=64, n_inputs=6, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_inputs)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + 2 * (x[:, 1] > 0).astype("int32")
    teacher_logits = rng.normal(size=(n, n_classes)).astype("float32") * 2
    return x, y, teacher_logits


def _distil(
    student,
    x,
    labels,
    teacher_logits,
    *,
    temperature=4.0,
    alpha=0.1,
    optimizer="adam",
    **fit_kwargs,
):
    """Train ``student`` through a ``Distiller``, as chapter 10 does."""
    distiller = distill.Distiller(student, temperature=temperature, alpha=alpha)
    distiller.compile(optimizer=optimizer)
    return training.fit(distiller, x, (labels, teacher_logits), **fit_kwargs)


def test_distiller_trains_the_student_and_logs_both_parts(capsys):
    x, y, teacher_logits = _toy_problem()
    training.seed_everything(0)
    student = _tiny_classifier()
    before = [w.copy() for w in student.get_weights()]
    history = _distil(
        student, x, y, teacher_logits, temperature=3.0, alpha=0.3, epochs=3, batch_size=16
    )
    assert {"loss", "hard", "soft", "accuracy"} <= set(history.history)
    assert len(history.history["loss"]) == 3
    assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights(), strict=True))
    out = capsys.readouterr().out
    assert "epoch   3/3" in out and "soft" in out
    # The loss logged is the mix of its two parts.
    h = history.history
    np.testing.assert_allclose(
        h["loss"][-1], 0.3 * h["hard"][-1] + 0.7 * h["soft"][-1], rtol=1e-4, atol=1e-6
    )


def test_alpha_one_is_ordinary_training_on_labels():
    x, y, teacher_logits = _toy_problem()
    training.seed_everything(0)
    plain = _tiny_classifier(name="plain")
    start = plain.get_weights()
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    plain.fit(x, y, epochs=2, batch_size=16, verbose=0)
    # Same seed, same shuffling: the distiller sees the images in the same order.
    training.seed_everything(0)
    student = _tiny_classifier(name="student")
    np.testing.assert_array_equal(student.get_weights()[0], start[0])
    _distil(student, x, y, teacher_logits, alpha=1.0, epochs=2, batch_size=16)
    for a, b in zip(plain.get_weights(), student.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_distilled_student_moves_towards_the_teacher():
    x, _, _ = _toy_problem(n=128)
    training.seed_everything(0)
    teacher_logits = (x[:, :4] * 3).astype("float32")  # a teacher the student can imitate
    labels = teacher_logits.argmax(axis=1)
    student = _tiny_classifier()
    target = distill.soft_targets(teacher_logits, 2.0)

    def gap():
        z = keras.ops.convert_to_numpy(distill.logits_model(student)(x))
        return np.abs(distill.soft_targets(z, 2.0) - target).mean()

    before = gap()
    _distil(
        student,
        x,
        labels,
        teacher_logits,
        temperature=2.0,
        alpha=0.0,
        optimizer=keras.optimizers.Adam(0.02),
        epochs=40,
        batch_size=32,
        log_every=40,
    )
    assert gap() < 0.5 * before


# --------------------------------------------------------------------------- sizes


def test_model_multiply_adds_of_the_small_cnn_by_hand():
    student = models.small_cnn((32, 32, 3))
    by_hand = (
        32 * 32 * 3 * 3 * 3 * 32  # conv 1, same padding
        + 16 * 16 * 3 * 3 * 32 * 64  # conv 2 after pooling
        + 8 * 8 * 64 * 128  # dense
        + 128 * 10  # output
    )
    assert distill.model_multiply_adds(student) == by_hand


def test_model_multiply_adds_walks_into_nested_models():
    inner = _tiny_classifier(name="inner")
    outer = keras.Sequential([keras.Input((6,)), inner], name="outer")
    assert distill.model_multiply_adds(outer) == distill.model_multiply_adds(inner) == 6 * 8 + 8 * 4


def test_saved_size_ignores_the_optimizer_and_grows_with_parameters():
    x, y, _ = _toy_problem()
    small = _tiny_classifier(name="small")
    size_fresh = distill.saved_size(small)
    small.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    small.fit(x, y, epochs=1, verbose=0)
    assert distill.saved_size(small) == pytest.approx(size_fresh, rel=0.02)
    big = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(2000), keras.layers.Dense(4, activation="softmax")]
    )
    assert distill.saved_size(big) > size_fresh + 4 * 6 * 2000


def test_saved_size_leaves_out_the_optimizer_of_a_nested_compiled_model():
    x, y, _ = _toy_problem()
    head = _tiny_classifier(name="head")
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    head.fit(x, y, epochs=1, verbose=0)
    outer = keras.Sequential([keras.Input((6,)), head], name="outer")
    fresh = keras.Sequential([keras.Input((6,)), _tiny_classifier(name="head")], name="outer")
    assert distill.saved_size(outer) == pytest.approx(distill.saved_size(fresh), rel=0.02)


def test_size_report_keys():
    report = distill.size_report(_tiny_classifier())
    assert set(report) == {"parameters", "file_bytes", "multiply_adds"}
    assert report["parameters"] == 6 * 8 + 8 + 8 * 4 + 4
