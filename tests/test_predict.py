"""Tests for utils.predict: reading image files safely and classifying them with a saved model.

Every image is generated in ``tmp_path``; the models are tiny stand-ins (no
VGG16), so the whole file runs in seconds. Chapter 08 checks the real model.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from utils import data, predict


@pytest.fixture(scope="module")
def grey_model():
    """A deterministic 10-class softmax model on 28x28x1 pixel values."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    return model


@pytest.fixture(scope="module")
def saved_grey_model(grey_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "grey.keras"
    grey_model.save(path)
    return path


def images(n=4, seed=0, size=28):
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def png_bytes_with_size(width, height):
    """A PNG whose header claims width x height (the pixel data is a tiny valid stream)."""
    signature = b"\x89PNG\r\n\x1a\n"

    def chunk(kind, payload):
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        signature
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 10))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- load_image


def test_grey_png_round_trip_is_exact(tmp_path):
    for i, pixels in enumerate(images()):
        path = predict.save_image(pixels, tmp_path / f"{i}.png")
        assert np.array_equal(predict.load_image(path), pixels)


def test_rgb_becomes_pillows_luma_and_rgb_mode_keeps_colour(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(28, 28, 3), dtype=np.uint8)
    path = predict.save_image(rgb, tmp_path / "rgb.png")
    expected_grey = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(predict.load_image(path), expected_grey)
    assert np.array_equal(predict.load_image(path, channels=3), rgb)


def test_grey_image_read_as_rgb_repeats_the_channel(tmp_path):
    pixels = images(1)[0]
    path = predict.save_image(pixels, tmp_path / "g.png")
    rgb = predict.load_image(path, channels=3)
    assert rgb.shape == (28, 28, 3)
    assert all(np.array_equal(rgb[..., c], pixels) for c in range(3))


def test_transparent_pixels_are_laid_over_black(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere ...
    rgba[:14, :, 3] = 255  # ... but only the top half is opaque
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    grey = predict.load_image(path)
    assert (grey[:14] == 255).all() and (grey[14:] == 0).all()


def test_grey_with_alpha_and_palette_images(tmp_path):
    la = Image.fromarray(images(1)[0]).convert("LA")
    la.putalpha(0)  # fully transparent: black
    la.save(tmp_path / "la.png")
    assert (predict.load_image(tmp_path / "la.png") == 0).all()
    palette = Image.fromarray(images(1)[0]).convert("P")
    palette.save(tmp_path / "p.png")
    expected = np.asarray(palette.convert("L"))
    assert np.array_equal(predict.load_image(tmp_path / "p.png"), expected)


def test_one_bit_image(tmp_path):
    bits = Image.fromarray((images(1)[0] > 127).astype(np.uint8) * 255).convert("1")
    bits.save(tmp_path / "bits.png")
    pixels = predict.load_image(tmp_path / "bits.png")
    assert set(np.unique(pixels)) <= {0, 255}


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    pixels = images(1)[0]
    wide = pixels.astype(np.uint16) * 257  # the same picture with 16 bits per pixel
    Image.fromarray(wide).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    assert np.array_equal(predict.load_image(tmp_path / "16.png"), pixels)


def test_float_tiff_is_rejected(tmp_path):
    Image.fromarray(np.ones((28, 28), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(predict.ImageError, match="floating-point"):
        predict.load_image(tmp_path / "f.tiff")


@pytest.mark.parametrize(("dtype", "mode"), [(np.int32, "I"), (np.float32, "F")])
def test_32_bit_tiffs_are_refused_with_their_file_mode_and_values(tmp_path, dtype, mode):
    # 8-bit values in a 32-bit file: dividing by 257 as for 16 bits gave a black image
    path = tmp_path / f"wide_{mode}.tiff"
    Image.fromarray(np.full((28, 28), 200, dtype)).save(path)
    assert Image.open(path).mode == mode
    with pytest.raises(predict.ImageError) as caught:
        predict.load_image(path)
    message = str(caught.value)
    assert path.name in message and f"mode '{mode}'" in message and "200..200" in message
    assert "8 or 16 bits per pixel" in message


@pytest.mark.parametrize("channels", [1, 3])
def test_a_lab_image_is_refused_with_its_name_and_what_to_do(tmp_path, channels):
    path = tmp_path / "lab.tiff"
    Image.new("LAB", (28, 28), (50, 0, 0)).save(path)
    with pytest.raises(predict.ImageError) as caught:  # not Pillow's bare ValueError
        predict.load_image(path, channels=channels)
    message = str(caught.value)
    assert str(path) in message and "'LAB'" in message and "RGB or greyscale" in message


def test_jpeg_and_first_frame_of_a_gif(tmp_path):
    pixels = np.full((28, 28), 200, np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95)
    assert np.abs(predict.load_image(tmp_path / "a.jpg").astype(int) - 200).max() <= 2
    frames = [Image.fromarray(np.full((28, 28), v, np.uint8)) for v in (10, 240)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert np.abs(predict.load_image(tmp_path / "anim.gif").astype(int) - 10).max() <= 2


def test_integer_upscaled_copy_shrinks_back_exactly(tmp_path):
    pixels = images(1)[0]
    big = np.repeat(np.repeat(pixels, 7, axis=0), 7, axis=1)  # 196 x 196
    path = predict.save_image(big, tmp_path / "big.png")
    assert np.array_equal(predict.load_image(path), pixels)


def test_small_image_is_enlarged(tmp_path):
    path = predict.save_image(np.full((16, 16), 77, np.uint8), tmp_path / "small.png")
    pixels = predict.load_image(path)
    assert pixels.shape == (28, 28) and (pixels == 77).all()


def test_non_square_image_is_padded_with_black_and_centred(tmp_path):
    tall = np.full((28, 16), 255, np.uint8)
    path = predict.save_image(tall, tmp_path / "tall.png")
    pixels = predict.load_image(path)
    assert pixels.shape == (28, 28)
    assert (pixels[:, 6:22] == 255).all()
    assert (pixels[:, :6] == 0).all() and (pixels[:, 22:] == 0).all()


def test_non_square_image_is_scaled_with_its_proportions_then_centred(tmp_path):
    tall = np.full((120, 60), 255, np.uint8)  # shrinks to 28 x 14, then 7 black columns a side
    pixels = predict.load_image(predict.save_image(tall, tmp_path / "tall.png"))
    assert (pixels[:, 7:21] == 255).all()
    assert (pixels[:, :7] == 0).all() and (pixels[:, 21:] == 0).all()


def test_thin_image_is_shrunk_before_padding_so_memory_stays_bounded(tmp_path, pil_allocations):
    # Padding a 2000 x 100 image to a square first would allocate 2000 x 2000 pixels.
    strip = np.full((100, 2000), 255, np.uint8)
    path = predict.save_image(strip, tmp_path / "strip.png")
    pixels = predict.load_image(path)
    assert pil_allocations and all(w * h <= 28 * 28 for w, h in pil_allocations), pil_allocations
    assert (pixels[13] == 255).all()  # 2000 x 100 -> 28 x 1, in the middle row
    assert (np.delete(pixels, 13, axis=0) == 0).all()


def test_too_thin_image_is_refused_from_its_header_with_the_limit(tmp_path):
    # 16 x 100,000 is 6 % of MAX_PIXELS, but at 28 x 28 it would be a line under a pixel
    # wide. The data is a tiny stream, so the refusal must come before decoding.
    (tmp_path / "thin.png").write_bytes(png_bytes_with_size(100_000, 16))
    with pytest.raises(predict.ImageError, match="at most 28 times the shorter one") as caught:
        predict.load_image(tmp_path / "thin.png")
    assert "thin.png" in str(caught.value) and "100000x16" in str(caught.value)
    (tmp_path / "edge.png").write_bytes(png_bytes_with_size(16, 16 * 28))
    with pytest.raises(predict.ImageError, match="damaged"):  # allowed: decoding was tried
        predict.load_image(tmp_path / "edge.png")


@pytest.mark.parametrize("size", [0, -1, predict.MAX_SIZE + 1, 2.5, True, "28"])
def test_output_size_is_bounded(tmp_path, size):
    path = predict.save_image(images(1)[0], tmp_path / "x.png")
    with pytest.raises(ValueError, match=f"from 1 to {predict.MAX_SIZE}"):
        predict.load_image(path, size=size)
    assert predict.load_image(path, size=np.int64(14)).shape == (14, 14)


def test_other_output_sizes(tmp_path):
    path = predict.save_image(images(1, size=64)[0], tmp_path / "x.png")
    assert predict.load_image(path, size=32).shape == (32, 32)
    assert predict.load_image(path, size=32, channels=3).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="channels"):
        predict.load_image(path, channels=2)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        predict.load_image(tmp_path / "nothere.png")


def test_folder_empty_and_text_files(tmp_path):
    with pytest.raises(predict.ImageError, match="not a file"):
        predict.load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(predict.ImageError, match="empty"):
        predict.load_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(predict.ImageError, match="not an image file"):
        predict.load_image(tmp_path / "notes.png")


def test_truncated_png(tmp_path):
    good = predict.save_image(images(1)[0], tmp_path / "good.png")
    for cut in (100, 300, len(good.read_bytes()) - 20):
        bad = tmp_path / f"cut_{cut}.png"
        bad.write_bytes(good.read_bytes()[:cut])
        with pytest.raises(predict.ImageError) as caught:
            predict.load_image(bad)
        assert bad.name in str(caught.value)


def test_damaged_pixel_data(tmp_path):
    raw = bytearray(predict.save_image(images(1)[0], tmp_path / "good.png").read_bytes())
    start = raw.index(b"IDAT") + 4
    raw[start + 2 : start + 40] = bytes(38)  # zero out part of the compressed stream
    (tmp_path / "damaged.png").write_bytes(bytes(raw))
    with pytest.raises(predict.ImageError, match="damaged"):
        predict.load_image(tmp_path / "damaged.png")


def test_too_small_image(tmp_path):
    path = predict.save_image(np.zeros((28, 10), np.uint8), tmp_path / "thin.png")
    with pytest.raises(predict.ImageError, match="at least 16"):
        predict.load_image(path)
    assert predict.load_image(path, min_side=8).shape == (28, 28)


def test_too_large_image_is_rejected_before_decoding(tmp_path):
    # The header claims 6000 x 6000 pixels; the data is tiny, so decoding would fail:
    # the size check must come first.
    (tmp_path / "huge.png").write_bytes(png_bytes_with_size(6000, 6000))
    with pytest.raises(predict.ImageError, match="the limit is"):
        predict.load_image(tmp_path / "huge.png")
    # Far beyond Pillow's own decompression-bomb limit.
    (tmp_path / "bomb.png").write_bytes(png_bytes_with_size(100_000, 100_000))
    with pytest.raises(predict.ImageError, match="too large"):
        predict.load_image(tmp_path / "bomb.png")


def test_pixel_limit_is_a_parameter(tmp_path):
    path = predict.save_image(images(1, size=64)[0], tmp_path / "x.png")
    with pytest.raises(predict.ImageError, match="4,096 pixels; the limit is 1,000"):
        predict.load_image(path, max_pixels=1000)


def test_save_image_rejects_wrong_arrays(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        predict.save_image(np.zeros((28, 28), np.float32), tmp_path / "x.png")
    with pytest.raises(ValueError, match="uint8"):
        predict.save_image(np.zeros((28, 28, 2), np.uint8), tmp_path / "x.png")


# --------------------------------------------------------------------------- predicting


def test_predictions_from_files_equal_the_model_on_arrays(tmp_path, grey_model, saved_grey_model):
    pixels = images(6)
    paths = [predict.save_image(p, tmp_path / f"{i}.png") for i, p in enumerate(pixels)]
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
    path = predict.save_image(images(1)[0], tmp_path / "one.png")
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
    path = predict.save_image(rgb, tmp_path / "rgb.png")
    result = predict.predict_image(path, model=model, class_names=["a", "b", "c"])
    expected = model.predict(rgb[None].astype("float32"), verbose=0)[0]
    assert np.allclose(result.probabilities, expected, atol=1e-6)
    assert result.label in ("a", "b", "c")


def test_one_bad_file_stops_the_batch_with_its_name(tmp_path, saved_grey_model):
    good = predict.save_image(images(1)[0], tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(good.read_bytes()[:200])
    with pytest.raises(predict.ImageError, match="bad.png"):
        predict.predict_images([good, bad], model=saved_grey_model)


def test_argument_errors(tmp_path, grey_model, saved_grey_model):
    path = predict.save_image(images(1)[0], tmp_path / "x.png")
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
    path = predict.save_image(images(1)[0], tmp_path / "x.png")
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
    path = predict.save_image(images(1)[0], tmp_path / "x.png")
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
    path = predict.save_image(images(1)[0], tmp_path / "x.png")
    with pytest.raises(ValueError, match="size=64 does not fit the model, which takes 28x28"):
        predict.predict_image(path, model=saved_grey_model, size=64)
    with pytest.raises(ValueError, match="channels=3 does not fit"):
        predict.predict_image(path, model=grey_model, channels=3)
    plain = predict.predict_image(path, model=grey_model)
    same = predict.predict_image(path, model=grey_model, size=28, channels=1, min_side=16)
    assert np.array_equal(plain.probabilities, same.probabilities)


def test_damaged_keras_files_are_not_called_missing(tmp_path, grey_model, saved_grey_model):
    whole = Path(saved_grey_model).read_bytes()
    damaged = bytearray(whole)
    with zipfile.ZipFile(saved_grey_model) as archive:
        weights_at = archive.getinfo("model.weights.h5").header_offset
    damaged[weights_at + 200] ^= 0xFF  # inside the stored weights: a bad CRC
    grey_model.save(tmp_path / "legacy.h5")
    files = {
        "truncated.keras": (whole[: len(whole) // 2], "not a zip archive"),
        "empty.keras": (b"", "empty"),
        "text.keras": (b"hello\n", "not a zip archive"),
        "legacy.keras": ((tmp_path / "legacy.h5").read_bytes(), "legacy HDF5"),
        "bad_crc.keras": (bytes(damaged), "damaged"),
    }
    for name, (content, problem) in files.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(predict.ModelFileError) as caught:
            predict.load_model(tmp_path / name)
        message = str(caught.value)
        assert f"{tmp_path / name} is not a valid .keras file: it exists" in message, message
        assert problem in message and "File not found" not in message
        assert isinstance(caught.value, ValueError)


def test_saved_model_is_loaded_once_then_reloaded_when_the_file_changes(
    tmp_path, grey_model, saved_grey_model
):
    first = predict.load_model(saved_grey_model)
    assert predict.load_model(saved_grey_model) is first
    copy = tmp_path / "copy.keras"
    grey_model.save(copy)
    loaded = predict.load_model(copy)
    assert loaded is not first
    Path(copy).unlink()
    keras.utils.set_random_seed(1)
    other = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    other.save(copy)
    assert predict.load_model(copy) is not loaded


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
