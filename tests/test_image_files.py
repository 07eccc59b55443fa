"""Tests for utils.chapters.image_files: reading image files safely and writing them.

Every image is generated in ``tmp_path``; no model is involved, so the whole
file runs in seconds.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from utils.chapters import image_files


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
        path = image_files.save_image(pixels, tmp_path / f"{i}.png")
        assert np.array_equal(image_files.load_image(path), pixels)


def test_rgb_becomes_pillows_luma_and_rgb_mode_keeps_colour(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, size=(28, 28, 3), dtype=np.uint8)
    path = image_files.save_image(rgb, tmp_path / "rgb.png")
    expected_grey = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(image_files.load_image(path), expected_grey)
    assert np.array_equal(image_files.load_image(path, channels=3), rgb)


def test_grey_image_read_as_rgb_repeats_the_channel(tmp_path):
    pixels = images(1)[0]
    path = image_files.save_image(pixels, tmp_path / "g.png")
    rgb = image_files.load_image(path, channels=3)
    assert rgb.shape == (28, 28, 3)
    assert all(np.array_equal(rgb[..., c], pixels) for c in range(3))


def test_transparent_pixels_are_laid_over_black(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere ...
    rgba[:14, :, 3] = 255  # ... but only the top half is opaque
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    grey = image_files.load_image(path)
    assert (grey[:14] == 255).all() and (grey[14:] == 0).all()


def test_grey_with_alpha_and_palette_images(tmp_path):
    la = Image.fromarray(images(1)[0]).convert("LA")
    la.putalpha(0)  # fully transparent: black
    la.save(tmp_path / "la.png")
    assert (image_files.load_image(tmp_path / "la.png") == 0).all()
    palette = Image.fromarray(images(1)[0]).convert("P")
    palette.save(tmp_path / "p.png")
    expected = np.asarray(palette.convert("L"))
    assert np.array_equal(image_files.load_image(tmp_path / "p.png"), expected)


def test_one_bit_image(tmp_path):
    bits = Image.fromarray((images(1)[0] > 127).astype(np.uint8) * 255).convert("1")
    bits.save(tmp_path / "bits.png")
    pixels = image_files.load_image(tmp_path / "bits.png")
    assert set(np.unique(pixels)) <= {0, 255}


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path):
    pixels = images(1)[0]
    wide = pixels.astype(np.uint16) * 257  # the same picture with 16 bits per pixel
    Image.fromarray(wide).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    assert np.array_equal(image_files.load_image(tmp_path / "16.png"), pixels)


def test_float_tiff_is_rejected(tmp_path):
    Image.fromarray(np.ones((28, 28), np.float32)).save(tmp_path / "f.tiff")
    with pytest.raises(image_files.ImageError, match="floating-point"):
        image_files.load_image(tmp_path / "f.tiff")


@pytest.mark.parametrize(("dtype", "mode"), [(np.int32, "I"), (np.float32, "F")])
def test_32_bit_tiffs_are_refused_with_their_file_mode_and_values(tmp_path, dtype, mode):
    # 8-bit values in a 32-bit file: dividing by 257 as for 16 bits gave a black image
    path = tmp_path / f"wide_{mode}.tiff"
    Image.fromarray(np.full((28, 28), 200, dtype)).save(path)
    assert Image.open(path).mode == mode
    with pytest.raises(image_files.ImageError) as caught:
        image_files.load_image(path)
    message = str(caught.value)
    assert path.name in message and f"mode '{mode}'" in message and "200..200" in message
    assert "8 or 16 bits per pixel" in message


@pytest.mark.parametrize("channels", [1, 3])
def test_a_lab_image_is_refused_with_its_name_and_what_to_do(tmp_path, channels):
    path = tmp_path / "lab.tiff"
    Image.new("LAB", (28, 28), (50, 0, 0)).save(path)
    with pytest.raises(image_files.ImageError) as caught:  # not Pillow's bare ValueError
        image_files.load_image(path, channels=channels)
    message = str(caught.value)
    assert str(path) in message and "'LAB'" in message and "RGB or greyscale" in message


def test_jpeg_and_first_frame_of_a_gif(tmp_path):
    pixels = np.full((28, 28), 200, np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95)
    assert np.abs(image_files.load_image(tmp_path / "a.jpg").astype(int) - 200).max() <= 2
    frames = [Image.fromarray(np.full((28, 28), v, np.uint8)) for v in (10, 240)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert np.abs(image_files.load_image(tmp_path / "anim.gif").astype(int) - 10).max() <= 2


def test_integer_upscaled_copy_shrinks_back_exactly(tmp_path):
    pixels = images(1)[0]
    big = np.repeat(np.repeat(pixels, 7, axis=0), 7, axis=1)  # 196 x 196
    path = image_files.save_image(big, tmp_path / "big.png")
    assert np.array_equal(image_files.load_image(path), pixels)


def test_small_image_is_enlarged(tmp_path):
    path = image_files.save_image(np.full((16, 16), 77, np.uint8), tmp_path / "small.png")
    pixels = image_files.load_image(path)
    assert pixels.shape == (28, 28) and (pixels == 77).all()


def test_non_square_image_is_padded_with_black_and_centred(tmp_path):
    tall = np.full((28, 16), 255, np.uint8)
    path = image_files.save_image(tall, tmp_path / "tall.png")
    pixels = image_files.load_image(path)
    assert pixels.shape == (28, 28)
    assert (pixels[:, 6:22] == 255).all()
    assert (pixels[:, :6] == 0).all() and (pixels[:, 22:] == 0).all()


def test_non_square_image_is_scaled_with_its_proportions_then_centred(tmp_path):
    tall = np.full((120, 60), 255, np.uint8)  # shrinks to 28 x 14, then 7 black columns a side
    pixels = image_files.load_image(image_files.save_image(tall, tmp_path / "tall.png"))
    assert (pixels[:, 7:21] == 255).all()
    assert (pixels[:, :7] == 0).all() and (pixels[:, 21:] == 0).all()


def test_thin_image_is_shrunk_before_padding_so_memory_stays_bounded(tmp_path, pil_allocations):
    # Padding a 2000 x 100 image to a square first would allocate 2000 x 2000 pixels.
    strip = np.full((100, 2000), 255, np.uint8)
    path = image_files.save_image(strip, tmp_path / "strip.png")
    pixels = image_files.load_image(path)
    assert pil_allocations and all(w * h <= 28 * 28 for w, h in pil_allocations), pil_allocations
    assert (pixels[13] == 255).all()  # 2000 x 100 -> 28 x 1, in the middle row
    assert (np.delete(pixels, 13, axis=0) == 0).all()


def test_too_thin_image_is_refused_from_its_header_with_the_limit(tmp_path):
    # 16 x 100,000 is 6 % of MAX_PIXELS, but at 28 x 28 it would be a line under a pixel
    # wide. The data is a tiny stream, so the refusal must come before decoding.
    (tmp_path / "thin.png").write_bytes(png_bytes_with_size(100_000, 16))
    with pytest.raises(image_files.ImageError, match="at most 28 times the shorter one") as caught:
        image_files.load_image(tmp_path / "thin.png")
    assert "thin.png" in str(caught.value) and "100000x16" in str(caught.value)
    (tmp_path / "edge.png").write_bytes(png_bytes_with_size(16, 16 * 28))
    with pytest.raises(image_files.ImageError, match="damaged"):  # allowed: decoding was tried
        image_files.load_image(tmp_path / "edge.png")


@pytest.mark.parametrize("size", [0, -1, image_files.MAX_SIZE + 1, 2.5, True, "28"])
def test_output_size_is_bounded(tmp_path, size):
    path = image_files.save_image(images(1)[0], tmp_path / "x.png")
    with pytest.raises(ValueError, match=f"from 1 to {image_files.MAX_SIZE}"):
        image_files.load_image(path, size=size)
    assert image_files.load_image(path, size=np.int64(14)).shape == (14, 14)


def test_other_output_sizes(tmp_path):
    path = image_files.save_image(images(1, size=64)[0], tmp_path / "x.png")
    assert image_files.load_image(path, size=32).shape == (32, 32)
    assert image_files.load_image(path, size=32, channels=3).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="channels"):
        image_files.load_image(path, channels=2)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        image_files.load_image(tmp_path / "nothere.png")


def test_folder_empty_and_text_files(tmp_path):
    with pytest.raises(image_files.ImageError, match="not a file"):
        image_files.load_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(image_files.ImageError, match="empty"):
        image_files.load_image(tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(image_files.ImageError, match="not an image file"):
        image_files.load_image(tmp_path / "notes.png")


def test_formats_outside_the_list_are_refused(tmp_path):
    """Pillow reads PPM and ICO, but a photograph or a scan is not one: their decoders stay
    out of reach of the files a reader classifies."""
    for name in ("garment.ppm", "garment.ico"):
        Image.fromarray(np.full((40, 40), 128, np.uint8)).save(tmp_path / name)
        with pytest.raises(image_files.ImageError, match="not an image file of a known kind"):
            image_files.load_image(tmp_path / name)


def test_truncated_png(tmp_path):
    good = image_files.save_image(images(1)[0], tmp_path / "good.png")
    for cut in (100, 300, len(good.read_bytes()) - 20):
        bad = tmp_path / f"cut_{cut}.png"
        bad.write_bytes(good.read_bytes()[:cut])
        with pytest.raises(image_files.ImageError) as caught:
            image_files.load_image(bad)
        assert bad.name in str(caught.value)


def test_damaged_pixel_data(tmp_path):
    raw = bytearray(image_files.save_image(images(1)[0], tmp_path / "good.png").read_bytes())
    start = raw.index(b"IDAT") + 4
    raw[start + 2 : start + 40] = bytes(38)  # zero out part of the compressed stream
    (tmp_path / "damaged.png").write_bytes(bytes(raw))
    with pytest.raises(image_files.ImageError, match="damaged"):
        image_files.load_image(tmp_path / "damaged.png")


def test_too_small_image(tmp_path):
    path = image_files.save_image(np.zeros((28, 10), np.uint8), tmp_path / "thin.png")
    with pytest.raises(image_files.ImageError, match="at least 16"):
        image_files.load_image(path)
    assert image_files.load_image(path, min_side=8).shape == (28, 28)


def test_too_large_image_is_rejected_before_decoding(tmp_path):
    # The header claims 6000 x 6000 pixels; the data is tiny, so decoding would fail:
    # the size check must come first.
    (tmp_path / "huge.png").write_bytes(png_bytes_with_size(6000, 6000))
    with pytest.raises(image_files.ImageError, match="the limit is"):
        image_files.load_image(tmp_path / "huge.png")
    # Far beyond Pillow's own decompression-bomb limit.
    (tmp_path / "bomb.png").write_bytes(png_bytes_with_size(100_000, 100_000))
    with pytest.raises(image_files.ImageError, match="too large"):
        image_files.load_image(tmp_path / "bomb.png")


def test_pixel_limit_is_a_parameter(tmp_path):
    path = image_files.save_image(images(1, size=64)[0], tmp_path / "x.png")
    with pytest.raises(image_files.ImageError, match="4,096 pixels; the limit is 1,000"):
        image_files.load_image(path, max_pixels=1000)


def test_save_image_rejects_wrong_arrays(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        image_files.save_image(np.zeros((28, 28), np.float32), tmp_path / "x.png")
    with pytest.raises(ValueError, match="uint8"):
        image_files.save_image(np.zeros((28, 28, 2), np.uint8), tmp_path / "x.png")
