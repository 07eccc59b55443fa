"""The BatchNormalization helpers that chapter 09 writes out (read from the chapter).

Some tests pin down what Keras itself does, because chapter 09's text depends
on it: if a Keras upgrade changes the behaviour, these tests say so.
"""

import keras
import numpy as np
import pytest
from chapter_code import definitions

from utils import models, training

batchnorm_demo = definitions("09_limits_and_pitfalls", keras=keras, np=np, models=models)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    source = rng.normal(0.0, 1.0, size=(128, 8, 8, 3)).astype("float32")
    target = rng.normal(2.0, 3.0, size=(128, 8, 8, 3)).astype("float32")
    labels = (target[..., 0].mean(axis=(1, 2)) > 2.0).astype("int32")
    return source, target, labels


def _pretrained(source):
    training.seed_everything(0)
    base = batchnorm_demo.tiny_bn_base()
    batchnorm_demo.set_moving_statistics(base, source)
    return base


def _fit(model, target, labels, epochs=1):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(target, labels, epochs=epochs, batch_size=32, verbose=0)


def test_tiny_base_has_one_batchnorm_layer_with_fresh_statistics():
    base = batchnorm_demo.tiny_bn_base()
    (bn,) = batchnorm_demo.batchnorm_layers(base)
    assert bn.momentum == 0.99  # Keras's default
    state = batchnorm_demo.bn_state(base)["bn"]
    np.testing.assert_array_equal(state["moving_mean"], 0.0)
    np.testing.assert_array_equal(state["moving_variance"], 1.0)
    assert base.output_shape == (None, 4)


def test_batchnorm_layers_are_found_in_nested_models():
    base = batchnorm_demo.tiny_bn_base()
    model = batchnorm_demo.classifier_on(base)
    assert [layer.name for layer in batchnorm_demo.batchnorm_layers(model)] == ["bn"]


def test_bn_state_needs_a_batchnorm_layer():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no BatchNormalization"):
        batchnorm_demo.bn_state(model)


def test_set_moving_statistics_uses_the_layer_inputs(data):
    source, _, _ = data
    base = _pretrained(source)
    stats = batchnorm_demo.input_statistics(base, source)["bn"]
    state = batchnorm_demo.bn_state(base)["bn"]
    np.testing.assert_allclose(state["moving_mean"], stats["mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state["moving_variance"], stats["variance"], rtol=1e-5)
    # The statistics are those of the convolution's output, computed by hand.
    conv = keras.ops.convert_to_numpy(base.get_layer("conv")(source))
    np.testing.assert_allclose(stats["mean"], conv.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-6)


def test_bn_state_is_a_copy_and_changed_reports_each_variable(data):
    source, _, _ = data
    base = _pretrained(source)
    before = batchnorm_demo.bn_state(base)
    assert not any(batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)).values())
    layer = batchnorm_demo.batchnorm_layers(base)[0]
    layer.beta.assign(layer.beta + 1.0)
    assert batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)) == {
        "gamma": False,
        "beta": True,
        "moving_mean": False,
        "moving_variance": False,
    }


def test_frozen_batchnorm_runs_in_inference_mode(data):
    source, target, _ = data
    base = _pretrained(source)
    model = batchnorm_demo.classifier_on(base)
    before = batchnorm_demo.bn_state(base)
    assert batchnorm_demo.inference_mode_gap(model, target[:32]) > 0.01
    # Measuring the gap does not change the moving statistics.
    assert not any(batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)).values())
    base.trainable = False
    assert batchnorm_demo.inference_mode_gap(model, target[:32]) == 0.0


def test_fit_with_a_frozen_base_changes_nothing_in_batchnorm(data):
    source, target, labels = data
    base = _pretrained(source)
    base.trainable = False
    before = batchnorm_demo.bn_state(base)
    _fit(batchnorm_demo.classifier_on(base), target, labels)
    assert not any(batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)).values())


def test_fit_with_an_unfrozen_base_moves_the_statistics_towards_the_target(data):
    source, target, labels = data
    base = _pretrained(source)
    before = batchnorm_demo.bn_state(base)
    goal = batchnorm_demo.input_statistics(base, target)["bn"]["mean"]
    _fit(batchnorm_demo.classifier_on(base), target, labels, epochs=2)
    after = batchnorm_demo.bn_state(base)
    assert all(batchnorm_demo.changed(before, after).values())
    distance = [np.abs(s["bn"]["moving_mean"] - goal).mean() for s in (before, after)]
    assert distance[1] < distance[0]


def test_keras_passes_fits_training_flag_through_training_false(data):
    """Keras 3: base(inputs, training=False) in a functional model does not stop fit
    from running the base's BatchNormalization in training mode (keras-team/keras#20285)."""
    source, target, labels = data
    base = _pretrained(source)
    before = batchnorm_demo.bn_state(base)
    model = batchnorm_demo.classifier_on(base, training=False)
    _fit(model, target, labels)
    changes = batchnorm_demo.changed(before, batchnorm_demo.bn_state(base))
    assert changes["moving_mean"] and changes["moving_variance"]


def test_freezing_the_batchnorm_layers_of_an_unfrozen_base_protects_them(data):
    source, target, labels = data
    base = _pretrained(source)
    base.trainable = True
    for layer in batchnorm_demo.batchnorm_layers(base):
        layer.trainable = False
    conv_before = base.get_layer("conv").get_weights()[0].copy()
    before = batchnorm_demo.bn_state(base)
    _fit(batchnorm_demo.classifier_on(base), target, labels)
    assert not any(batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)).values())
    assert not np.array_equal(conv_before, base.get_layer("conv").get_weights()[0])


def test_trainable_changes_need_compile(data):
    source, target, labels = data
    base = _pretrained(source)
    for layer in batchnorm_demo.batchnorm_layers(base):
        layer.trainable = False
    model = batchnorm_demo.classifier_on(base)
    _fit(model, target, labels)
    for layer in batchnorm_demo.batchnorm_layers(base):
        layer.trainable = True
    before = batchnorm_demo.bn_state(base)
    model.fit(target, labels, epochs=1, batch_size=32, verbose=0)  # no compile()
    assert not any(batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)).values())
    _fit(model, target, labels)  # compile() again: now the layer trains
    assert all(batchnorm_demo.changed(before, batchnorm_demo.bn_state(base)).values())
