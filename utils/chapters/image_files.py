"""Reading and writing image files safely: clear errors, bounded memory.

:func:`load_image` turns an image file, whatever a user sends, into the uint8
pixels a model takes, or raises an error that names the file and says what is
wrong with it; :func:`save_image` writes pixels as an image file. Chapter 08
classifies image files with them (``predict.predict_images``).

What an image file must be, and what happens to it (:func:`load_image`):

- any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...); a file that
  is missing raises ``FileNotFoundError``; an empty, damaged, truncated or
  non-image file raises :class:`ImageError`;
- at least ``MIN_SIDE`` pixels on each side and at most ``MAX_PIXELS`` pixels
  in all (checked from the header, before decoding): smaller images hold too
  little to classify, larger ones would cost a lot of memory to decode, and
  both raise :class:`ImageError`;
- photos stand the way a viewer shows them: the EXIF orientation that phones
  and cameras record (for example "rotate 90 degrees" for a portrait photo) is
  applied first, before anything else; an unreadable EXIF block is ignored, as
  viewers do;
- 8 or 16 bits per pixel and any colour mode Pillow converts to RGB:
  colour is converted to grey (Pillow's ITU-R 601-2 luma) when the model
  takes grey input; transparent pixels are laid over black, the Fashion-MNIST
  background; 16-bit images are scaled to 8 bits; of an animated image, only
  the first frame counts. 32-bit pixels (integer or floating-point TIFFs),
  whose black-to-white range the file does not record, and colour modes such
  as LAB raise :class:`ImageError`;
- any size and shape: the image is first scaled, keeping its proportions, so
  that its longer side is ``size``, the model's input size (28 in chapter
  08): shrunk by averaging pixel areas or enlarged bilinearly; a non-square
  result is then centred on a black square of that size, so the object is not
  stretched. The longer side may be at most ``size`` times the shorter one (a
  thinner image would shrink to a line under one pixel wide) and ``size`` at
  most ``MAX_SIZE``; both raise ``ValueError`` (an :class:`ImageError` for the
  file, checked from the header). So every step works on at most the image's
  own pixels (at most ``MAX_PIXELS``) or ``size`` x ``size`` pixels, whatever
  the image's shape.

Introduced in chapter 08.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from utils.validation import whole_number

MIN_SIDE = 16  # pixels; smaller images are rejected
MAX_PIXELS = 25_000_000  # width x height (5000 x 5000); larger images are rejected
MAX_SIZE = 1024  # largest output side of load_image; bounds its output in memory


class ImageError(ValueError):
    """An unusable image file: not an image, damaged, too small or too large (chapter 08)."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


# The formats a photograph or a scan comes in. Pillow can decode many more (EPS through
# Ghostscript, PSD, ICNS, ...), each a decoder that untrusted files would reach.
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")


def _open(path: Path, min_side: int, max_pixels: int, size: int) -> Image.Image:
    """Open, size-check and decode an image file; clear errors for everything that can go wrong."""
    if not path.exists():
        raise FileNotFoundError(f"No such image file: {path}")
    if not path.is_file():
        raise ImageError(path, "is not a file (a folder?)")
    if path.stat().st_size == 0:
        raise ImageError(path, "is empty (0 bytes)")
    try:
        image = Image.open(path, formats=FORMATS)  # reads the header only
    except UnidentifiedImageError:
        kinds = ", ".join(FORMATS)
        raise ImageError(path, f"is not an image file of a known kind ({kinds})") from None
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"is far too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(path, f"cannot be opened as an image ({error})") from None
    problem = _size_problem(*image.size, min_side, max_pixels, size)
    if problem:
        image.close()
        raise ImageError(path, problem)
    try:
        with Image.open(path, formats=FORMATS) as probe:
            probe.verify()  # the file's structure: chunks and checksums, for PNG
        image.load()  # decodes the pixels
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, zlib errors
        image.close()
        raise ImageError(path, f"is damaged or truncated ({error})") from None
    return image


def _size_problem(width: int, height: int, min_side: int, max_pixels: int, size: int) -> str:
    """Why an image of this size is refused (checked from the header), or "" if it is not."""
    if min(width, height) < min_side:
        return f"is {width}x{height} pixels; each side must be at least {min_side} pixels"
    if width * height > max_pixels:
        return f"is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}"
    if min(width, height) * size < max(width, height):
        return (
            f"is {width}x{height} pixels, too thin to shrink to {size}x{size}: the longer side "
            f"may be at most {size} times the shorter one ({size * min(width, height):,} pixels)"
        )
    return ""


def _upright(image: Image.Image) -> Image.Image:
    """The decoded image turned or mirrored as its EXIF orientation tag says.

    Turning or mirroring keeps the number of pixels and at most swaps width and
    height, so the limits checked from the header (pixels, thinness) still hold.
    """
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a damaged EXIF block: viewers show the pixels as stored, and so do we
        return image
    method = _EXIF_ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


_EXIF_ORIENTATIONS = {  # EXIF orientation tag -> what turns the stored pixels upright
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _to_mode(image: Image.Image, channels: int, path: Path) -> Image.Image:
    """Grey ('L') or RGB, 8 bits; transparency over black; 16-bit scaled down.

    32-bit pixels (modes "I" and "F") are refused: their range is not recorded
    in the file (0..255? 0..65535? 0..1?), and guessing it could silently give
    a black or a white image. So are colour modes Pillow cannot convert (LAB).
    """
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        image = Image.fromarray(np.round(np.asarray(image, np.float64) / 257.0).astype(np.uint8))
    elif image.mode in ("I", "F"):
        raise ImageError(path, _wide_pixels_problem(image))
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(black, rgba)
    if image.mode in _UNCONVERTIBLE_MODES:
        raise _mode_error(path, image.mode, channels)
    try:
        return image.convert("L" if channels == 1 else "RGB")
    except ValueError:  # Pillow: "conversion from LAB to RGB not supported"
        raise _mode_error(path, image.mode, channels) from None


def _mode_error(path: Path, mode: str, channels: int) -> ImageError:
    """The error for an image whose colour mode cannot be converted to grey or RGB."""
    return ImageError(
        path,
        f"has colour mode {mode!r}, which cannot be converted to "
        f"{'grey' if channels == 1 else 'RGB'} here; save it as an RGB or greyscale "
        "image (for example a PNG or JPEG from an image editor)",
    )


# Modes that Pillow converts to RGB without an error but wrongly: its LAB -> RGB copies
# the bands as they are (mid grey, LAB (50, 0, 0), comes back as RGB (0, 84, 251)).
_UNCONVERTIBLE_MODES = ("LAB",)


def _wide_pixels_problem(image: Image.Image) -> str:
    """Why a 32-bit integer ("I") or floating-point ("F") image is refused, with its value range."""
    low, high = image.getextrema()
    kind = "integer" if image.mode == "I" else "floating-point"
    return (
        f"has 32-bit {kind} pixels (mode {image.mode!r}, values {low:g}..{high:g}); the file does "
        "not say what range means black to white, so it is not guessed. Save it with 8 or 16 "
        "bits per pixel, for example Image.fromarray(pixels.astype(np.uint8)).save(path) "
        "for values 0..255"
    )


def _check_size(size) -> int:
    """``size`` as an int, or a ValueError that states the limit ``MAX_SIZE``."""
    return whole_number(size, "size (pixels)", low=1, high=MAX_SIZE)


def _fit_and_pad(image: Image.Image, size: int) -> Image.Image:
    """Scale so the longer side is ``size`` (proportions kept), then centre on a black square.

    Shrinking averages pixel areas (BOX), enlarging is bilinear. Nothing larger
    than ``image`` or than ``size`` x ``size`` is allocated.
    """
    width, height = image.size
    longer = max(width, height)
    scaled = (round(width * size / longer), round(height * size / longer))  # >= 1: see _open
    if scaled != image.size:
        method = Image.Resampling.BOX if longer > size else Image.Resampling.BILINEAR
        image = image.resize(scaled, method)
    if scaled == (size, size):
        return image
    square = Image.new(image.mode, (size, size), 0)
    square.paste(image, ((size - scaled[0]) // 2, (size - scaled[1]) // 2))
    return square


def load_image(
    path: str | os.PathLike,
    size: int = 28,
    channels: int = 1,
    min_side: int = MIN_SIDE,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Read one image file as uint8 pixels of shape (size, size) (grey) or (size, size, 3).

    Validation and conversions are listed in the module's docstring: missing
    file -> ``FileNotFoundError``; not an image, empty, damaged, too small, too
    large or too thin -> :class:`ImageError`; ``size`` not from 1 to
    ``MAX_SIZE`` -> ``ValueError``. Introduced in chapter 08.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), not {channels!r}")
    size = _check_size(size)
    path = Path(path)
    image = _open(path, min_side, max_pixels, size)
    try:
        image.seek(0)  # the first frame of an animation
        converted = _fit_and_pad(_to_mode(_upright(image), channels, path), size)
        return np.asarray(converted, dtype=np.uint8).copy()
    finally:
        image.close()


def save_image(pixels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write uint8 pixels, (height, width) grey or (height, width, 3) RGB, as an image file.

    The format follows the file name (``.png`` is lossless). Introduced in chapter 08.
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or not (
        pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)
    ):
        raise ValueError(
            f"pixels must be uint8 of shape (h, w) or (h, w, 3), got {pixels.dtype} {pixels.shape}"
        )
    path = Path(path)
    Image.fromarray(pixels).save(path)
    return path
