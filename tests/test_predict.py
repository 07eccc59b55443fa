"""Tests for utils.chapters.predict: classifying image files with a saved model, and serving_model.

Every image is generated in ``tmp_path``; the models are tiny stand-ins (no
VGG16; ``grey_model`` and ``saved_grey_model`` are fixtures of conftest.py),
so the whole file runs in seconds. Chapter 08 checks the real model.
``tests/test_image_files.py`` and ``tests/test_model_files.py`` test the
reading of image and model files.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from utils import data
from utils.chapters import image_files, predict


def images(n=4, seed=0, size=28):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


# --------------------------------------------------------------------------- predicting


def test_predictions_from_files_equal_the_model_on_arrays(tmp_path, grey_model, saved_grey_model):
    pixels = images(6)
    paths = [image_files.save_image(p, tmp_path / f"{i}.png") for i, p in enumerate(pixels)]
    expected = grey_model.predict(pixels[..., None].astype("float32"), verbose=0)
    for model in (grey_model, saved_grey_model, str(saved_grey_model)):
        results = predict.predict_images(paths, model=model)
        got = np.stack([r.probabilities for r in results])
        assert np.allclose(got, expected, atol=1e-6)
    for result, row, path in zip(results, expected, paths, strict=True):
        assert result.class_id == int(row.argmax())
        assert result.label == data.CLASS_NAMES[result.class_id]
        assert result.probability == pytest.approx(float(row.max()))
        assert result.path == str(path)
        assert str(result).startswith(f"{path.name}: {result.label} (")


def test_predict_image_is_one_file_of_predict_images(tmp_path, saved_grey_model):
    path = image_files.save_image(images(1)[0], tmp_path / "one.png")
    one = predict.predict_image(path, model=saved_grey_model)
    many = predict.predict_images([path], model=saved_grey_model)
    assert one.class_id == many[0].class_id
    assert np.array_equal(one.probabilities, many[0].probabilities)


def test_rgb_model_gets_rgb_pixels(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((20, 20, 3)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")]
    )
    rgb = np.random.default_rng(2).integers(0, 256, size=(20, 20, 3), dtype=np.uint8)
    path = image_files.save_image(rgb, tmp_path / "rgb.png")
    result = predict.predict_image(path, model=model, class_names=["a", "b", "c"])
    expected = model.predict(rgb[None].astype("float32"), verbose=0)[0]
    assert np.allclose(result.probabilities, expected, atol=1e-6)
    assert result.label in ("a", "b", "c")


def test_one_bad_file_stops_the_batch_with_its_name(tmp_path, saved_grey_model):
    good = image_files.save_image(images(1)[0], tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(image_files.ImageError, match="bad.png"):
        predict.predict_images([good, bad], model=saved_grey_model)


def test_argument_errors(tmp_path, grey_model, saved_grey_model):
    path = image_files.save_image(images(1)[0], tmp_path / "x.png")
    with pytest.raises(TypeError, match="list of paths"):
        predict.predict_images(path, model=grey_model)
    assert predict.predict_images([], model=grey_model) == []
    with pytest.raises(ValueError, match="10 outputs but 3 class names"):
        predict.predict_image(path, model=grey_model, class_names=["a", "b", "c"])
    with pytest.raises(FileNotFoundError, match="No model file"):
        predict.predict_image(path, model=tmp_path / "none.keras")
    (tmp_path / "weights.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a .keras file"):
        predict.predict_image(path, model=tmp_path / "weights.h5")
    flat = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10, "softmax")])
    with pytest.raises(ValueError, match="square images"):
        predict.predict_image(path, model=flat)


def test_a_logits_model_is_refused_not_shown_as_percentages(tmp_path):
    path = image_files.save_image(images(1)[0], tmp_path / "x.png")
    keras.utils.set_random_seed(0)
    logits = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    with pytest.raises(ValueError, match="not probabilities: for x.png .*softmax"):
        predict.predict_image(path, model=logits)


def test_probabilities_are_checked_row_by_row():
    paths = [Path("a.png"), Path("b.png")]
    fine = np.array([[0.25, 0.75], [0.5, 0.5]], np.float16)
    predict._check_probabilities(fine, paths)
    predict._check_probabilities(np.array([[0.3, 0.695], [1.0, 0.0]]), paths)  # within 0.01
    for second in ([1.2, -0.2], [0.6, 0.6], [np.nan, 0.5]):
        with pytest.raises(ValueError, match="not probabilities: for b.png"):
            predict._check_probabilities(np.array([[0.5, 0.5], second]), paths)


def test_class_names_must_be_a_list_of_strings(tmp_path, grey_model):
    path = image_files.save_image(images(1)[0], tmp_path / "x.png")
    for names in ("abcdefghij", b"abcdefghij", {str(i) for i in range(10)}):
        with pytest.raises(TypeError, match="class_names must be a list of strings"):
            predict.predict_image(path, model=grey_model, class_names=names)
    with pytest.raises(TypeError, match=r"class_names\[3\] is the int 3"):
        predict.predict_image(path, model=grey_model, class_names=["a", "b", "c", 3] + ["d"] * 6)
    with pytest.raises(TypeError, match="list of strings"):  # checked before any file is read
        predict.predict_images([], model=grey_model, class_names="abc")
    for names in (tuple("abcdefghij"), np.array(list("abcdefghij"))):
        assert (
            predict.predict_image(path, model=grey_model, class_names=names).label in "abcdefghij"
        )


def test_size_and_channels_come_from_the_model(tmp_path, grey_model, saved_grey_model):
    path = image_files.save_image(images(1)[0], tmp_path / "x.png")
    with pytest.raises(ValueError, match="size=64 does not fit the model, which takes 28x28"):
        predict.predict_image(path, model=saved_grey_model, size=64)
    with pytest.raises(ValueError, match="channels=3 does not fit"):
        predict.predict_image(path, model=grey_model, channels=3)
    plain = predict.predict_image(path, model=grey_model)
    same = predict.predict_image(path, model=grey_model, size=28, channels=1, min_side=16)
    assert np.array_equal(plain.probabilities, same.probabilities)


# --------------------------------------------------------------------------- serving_model


def tiny_base(size=32):
    """A stand-in for a VGG16 base: 3-channel input of ``size`` pixels, one conv layer."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu", name="block1_conv1")(inputs)
    return keras.Model(inputs, x, name="tiny_base")


def test_serving_model_equals_the_book_pipeline_and_saves_without_the_optimiser(tmp_path):
    keras.utils.set_random_seed(0)
    base = tiny_base()
    head = keras.Sequential(
        [
            keras.Input(base.output_shape[1:]),
            keras.layers.Flatten(),
            keras.layers.Dense(10, "softmax"),
        ]
    )
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = images(8), np.arange(8) % 10
    features = base.predict(data.make_dataset(x, image_size=32), verbose=0)
    head.fit(features, y, epochs=1, verbose=0)  # the head now carries Adam's state

    serving = predict.serving_model(base, head)
    assert serving.input_shape == (None, 28, 28, 1)
    expected = head.predict(features, verbose=0)
    got = serving.predict(x[..., None].astype("float32"), verbose=0)
    assert np.abs(got - expected).max() <= 1e-5

    path = tmp_path / "serving.keras"
    serving.save(path)
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as handle:
        names = []
        h5py.File(handle, "r").visit(names.append)
    assert not [n for n in names if "optimizer" in n]
    reloaded = keras.models.load_model(path)  # standard layers only: no custom objects
    assert np.abs(reloaded.predict(x[..., None].astype("float32"), verbose=0) - got).max() <= 1e-6


def test_serving_model_preprocessing_is_vgg16s_for_grey_images():
    # An identity "base" exposes what the serving model feeds it.
    inputs = keras.Input((32, 32, 3))
    identity = keras.Model(inputs, keras.layers.Identity()(inputs))
    flat = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten()])
    serving = predict.serving_model(identity, flat)
    x = images(3)
    fed = serving.predict(x[..., None].astype("float32"), verbose=0).reshape(3, 32, 32, 3)
    expected = np.concatenate(list(data.make_dataset(x, image_size=32, preprocess=True)))
    assert np.abs(fed - expected).max() <= 1e-4
