"""Tests of utils.finetune and the fine-tuning figures (chapters 05 and 06)."""

import keras
import matplotlib
import numpy as np
import pytest

from utils import finetune, learning_curves, model_files, models, network_plots, training


@pytest.fixture(scope="module")
def vgg_base():
    keras.utils.set_random_seed(0)
    return keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))


@pytest.fixture()
def images():
    return np.random.default_rng(0).normal(0, 50, size=(4, 32, 32, 3)).astype("float32")


def _head(base, units=16):
    keras.utils.set_random_seed(1)
    return models.recipe_head(base.output_shape[1:], hidden_units=units)


# --------------------------------------------------------------------------- base_part


def test_base_part_runs_between_two_cuts(vgg_base, images):
    part = finetune.base_part(vgg_base, "block3_pool", "block4_pool")
    assert part.input_shape == (None, 4, 4, 256) and part.output_shape == (None, 2, 2, 512)
    cut3 = keras.Model(vgg_base.inputs, vgg_base.get_layer("block3_pool").output)
    cut4 = keras.Model(vgg_base.inputs, vgg_base.get_layer("block4_pool").output)
    np.testing.assert_allclose(
        part.predict(cut3.predict(images, verbose=0), verbose=0),
        cut4.predict(images, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )


def test_base_part_rejects_bad_cuts(vgg_base):
    with pytest.raises(ValueError, match="no layer"):
        finetune.base_part(vgg_base, "block9_pool")
    with pytest.raises(ValueError, match="must come after"):
        finetune.base_part(vgg_base, "block4_pool", "block3_pool")


def test_base_part_after_the_last_layer_says_so(vgg_base):
    with pytest.raises(ValueError, match="'block5_pool' is the last layer") as error:
        finetune.base_part(vgg_base, after="block5_pool")
    assert "None" not in str(error.value)


# --------------------------------------------------------------------------- weights


def test_unchanged_layers_is_bit_exact(vgg_base):
    head = _head(vgg_base)
    inputs = keras.Input((32, 32, 3))
    full = keras.Model(inputs, head(vgg_base(inputs)))
    before = finetune.snapshot(full)
    assert set(before) >= {"block4_conv1", "block5_conv3"}
    assert all(finetune.unchanged_layers(full, before).values())
    kernel, bias = vgg_base.get_layer("block5_conv2").get_weights()
    vgg_base.get_layer("block5_conv2").set_weights([kernel, np.nextafter(bias, 1.0)])
    unchanged = finetune.unchanged_layers(full, before)
    assert not unchanged["block5_conv2"]
    assert all(same for name, same in unchanged.items() if name != "block5_conv2")
    vgg_base.get_layer("block5_conv2").set_weights([kernel, bias])


def test_unchanged_layers_needs_the_same_layers(vgg_base):
    before = finetune.snapshot(vgg_base)
    with pytest.raises(ValueError, match="not in"):
        finetune.unchanged_layers(_head(vgg_base), before)


def test_restore_puts_a_snapshot_back(vgg_base):
    before = finetune.snapshot(vgg_base)
    kernel, bias = vgg_base.get_layer("block1_conv1").get_weights()
    vgg_base.get_layer("block1_conv1").set_weights([kernel * 0, bias])
    finetune.restore(vgg_base, before)
    assert all(finetune.unchanged_layers(vgg_base, before).values())
    with pytest.raises(ValueError, match="not in"):
        finetune.restore(_head(vgg_base), before)


def test_relative_change_by_block(vgg_base):
    before = finetune.snapshot(vgg_base)
    assert set(finetune.relative_change_by_block(vgg_base, before).values()) == {0.0}
    originals = {}
    for name in ("block5_conv1", "block5_conv2", "block5_conv3"):
        layer = vgg_base.get_layer(name)
        originals[name] = layer.get_weights()
        layer.set_weights([w * 1.1 for w in originals[name]])
    changes = finetune.relative_change_by_block(vgg_base, before)
    assert changes["block5"] == pytest.approx(0.1, rel=1e-5)
    assert changes["block1"] == changes["block4"] == 0.0
    for name, weights in originals.items():
        vgg_base.get_layer(name).set_weights(weights)


# --------------------------------------------------------------------------- optimiser


def _two_layer_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4, name="block5_dense"),
            keras.layers.Dense(3, activation="softmax", name="head_dense"),
        ]
    )


def _train_twice(optimizer_for_second_run):
    """Train a fresh tiny model twice from the same start; return the weights after run 2."""
    model = _two_layer_model()
    start = model.get_weights()
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 3
    first = keras.optimizers.Adam(0.05)
    model.compile(first, "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.set_weights(start)
    model.compile(optimizer_for_second_run(first), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model.get_weights()


def test_restart_makes_an_optimiser_as_good_as_new():
    restarted = _train_twice(lambda used: finetune.restart(used, 0.01))
    fresh = _train_twice(lambda used: keras.optimizers.Adam(0.01))
    for a, b in zip(restarted, fresh, strict=True):
        np.testing.assert_array_equal(a, b)


def test_restart_keeps_the_learning_rate_unless_told():
    optimizer = keras.optimizers.Adam(0.003)
    assert float(finetune.restart(optimizer).learning_rate) == pytest.approx(0.003)
    assert int(finetune.restart(optimizer, 0.1).iterations) == 0
    assert float(optimizer.learning_rate) == pytest.approx(0.1)



def _seeded_run(seed, model=None):
    """Fit a dropout model from ``seed``'s start; reuse ``model`` if given."""
    def build():
        training.seed_everything(seed)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dropout(0.5), keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 3
    if model is None:
        model = build()
        model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    else:
        finetune.start_over(model, build())
    training.seed_everything(seed)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model


def test_start_over_trains_like_a_new_model_of_that_seed():
    reused = _seeded_run(0)
    reused = _seeded_run(1, reused)  # seed 0's model, started over for seed 1
    fresh = _seeded_run(1)
    for a, b in zip(reused.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_start_over_refuses_another_architecture_and_an_uncompiled_model():
    compiled = _two_layer_model()
    compiled.compile("adam", "sparse_categorical_crossentropy")
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not the same architecture"):
        finetune.start_over(compiled, other)
    with pytest.raises(ValueError, match="not compiled"):
        finetune.start_over(_two_layer_model(), _two_layer_model())


# --------------------------------------------------------------------------- Keras behaviour


def test_keras_needs_compile_after_unfreezing_a_trained_model():
    """What chapter 05 shows: without compile() the old training function is reused."""
    model = _two_layer_model()
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = np.arange(16) % 3
    model.get_layer("block5_dense").trainable = False
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.get_layer("block5_dense").trainable = True
    before = finetune.snapshot(model)
    model.fit(x, y, epochs=1, verbose=0)
    assert finetune.unchanged_layers(model, before)["block5_dense"]
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert not finetune.unchanged_layers(model, before)["block5_dense"]


# --------------------------------------------------------------------------- saving


def test_save_and_reload_predicts_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    model = _two_layer_model()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.train_on_batch(np.ones((4, 4), dtype="float32"), np.arange(4) % 3)  # builds the optimiser
    path = model_files.save_model(model, finetune.model_path("tiny"))
    assert path == tmp_path / "models" / "tiny.keras" and path.is_file()
    again = keras.models.load_model(path)
    x = np.ones((2, 4), dtype="float32")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(again.optimizer.iterations) == 1  # the optimiser's state is saved too


@pytest.mark.parametrize("name", ["", "../x", ".hidden", "a/b"])
def test_model_path_rejects_odd_names(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TLBOOK_CACHE_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="plain file name"):
        finetune.model_path(name)


# --------------------------------------------------------------------------- figures


def _history(n, start):
    ramp = np.linspace(start, start + 0.2, n)
    return {
        "loss": list(1 - ramp),
        "val_loss": list(1.1 - ramp),
        "accuracy": list(ramp),
        "val_accuracy": list(ramp - 0.05),
    }


def test_two_stage_curves_draws_both_stages():
    fig = learning_curves.two_stage_curves(_history(5, 0.3), _history(3, 0.6), title="t")
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 3 and len(acc_ax.lines) == 3  # training, validation, boundary
    assert len(acc_ax.lines[0].get_xdata()) == 8
    assert acc_ax.get_ylabel() == "accuracy"
    matplotlib.pyplot.close(fig)


def test_two_stage_curves_rejects_empty_history():
    with pytest.raises(ValueError, match="loss"):
        learning_curves.two_stage_curves({"loss": []}, _history(2, 0.1))


def test_block_change_chart():
    changes = {"1e-3": {"block1": 0.1, "block5": 0.3}, "1e-5": {"block1": 0.001, "block5": 0.0}}
    fig = network_plots.block_change_chart(changes)
    assert len(fig.axes[0].patches) == 4
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError):
        network_plots.block_change_chart({})
