"""From notebook to use: a saved ``.keras`` classifier that answers for image files.

Chapter 08 trains a Fashion-MNIST classifier, joins it with its preprocessing
into one model (:func:`serving_model`), saves it as one ``.keras`` file, and
calls :func:`predict_image` / :func:`predict_images` on PNG files.

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
  that its longer side is the model's input size (28 here): shrunk by
  averaging pixel areas or enlarged bilinearly; a non-square result is then
  centred on a black square of that size, so the object is not stretched. The
  longer side may be at most ``size`` times the shorter one (a thinner image
  would shrink to a line under one pixel wide) and ``size`` at most
  ``MAX_SIZE``; both raise ``ValueError`` (an :class:`ImageError` for the
  file, checked from the header). So every step works on at most the image's
  own pixels (at most ``MAX_PIXELS``) or ``size`` x ``size`` pixels, whatever
  the image's shape.

The model expects Fashion-MNIST-like pictures: a light object on a black
background. A photograph of a shirt on a white table is a different domain,
and the model will answer anyway; validation checks the file, not the content.
Introduced in chapter 08.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from utils import data

MIN_SIDE = 16  # pixels; smaller images are rejected
MAX_PIXELS = 25_000_000  # width x height (5000 x 5000); larger images are rejected
MAX_SIZE = 1024  # largest output side of load_image; bounds its output in memory
# What keras.applications.vgg16.preprocess_input subtracts from the B, G and R channels.
VGG16_BGR_MEANS = (103.939, 116.779, 123.68)


class ImageError(ValueError):
    """An unusable image file: not an image, damaged, too small or too large (chapter 08)."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class Prediction:
    """One answer of the classifier for one image file (chapter 08)."""

    path: str
    label: str  # the most probable class name
    class_id: int
    probability: float  # of that class
    probabilities: np.ndarray  # of every class, in the order of the class names

    def __str__(self) -> str:
        return f"{Path(self.path).name}: {self.label} ({self.probability:.1%})"


# --------------------------------------------------------------------------- the model


def serving_model(base, head, input_size: int = 28, name: str = "fashion_classifier"):
    """From raw grey pixels to class probabilities: preprocessing, base, head.

    Input: ``(input_size, input_size, 1)`` grey pixel values 0..255, the format
    of Fashion-MNIST. Inside, the same steps as ``data.make_dataset``: bilinear
    resizing to the base's input size, repeating the grey channel three times,
    and VGG16's preprocessing. For an image whose three channels are equal,
    ``preprocess_input``'s RGB-to-BGR swap changes nothing, so it reduces to
    subtracting VGG16's channel means, which a ``Rescaling`` layer does. Built
    from standard layers only, the model saves to and loads from ``.keras``
    without custom code, and whoever loads it cannot forget the preprocessing.
    ``base`` and ``head`` are copied, without any optimiser state, so the saved
    file holds only what predicting needs. Introduced in chapter 08.
    """
    import keras

    base, head = (weights_only_copy(model) for model in (base, head))

    height, width = base.input_shape[1:3]
    inputs = keras.Input((input_size, input_size, 1), name="grey_pixels")
    x = keras.layers.Resizing(height, width, interpolation="bilinear", name="resize")(inputs)
    x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    offset = [-mean for mean in VGG16_BGR_MEANS]
    x = keras.layers.Rescaling(1.0, offset=offset, name="vgg16_preprocess")(x)
    outputs = head(base(x))
    return keras.Model(inputs, outputs, name=name)


def weights_only_copy(model):
    """The same network with the same weights, without optimiser state."""
    copy = model.__class__.from_config(model.get_config())  # clone_model would compile it
    copy.set_weights(model.get_weights())
    return copy


_MODEL_CACHE: dict[tuple, object] = {}


def load_model(path: str | os.PathLike):
    """Load a ``.keras`` model saved with ``model.save``, once per file version.

    The loaded model is kept in memory and reused until the file changes, so
    predicting file after file does not reload it. Keras's safe mode refuses
    files whose layers hold Python code (``Lambda``), which would run on
    loading; after ``keras.config.enable_unsafe_deserialization()``, anywhere
    in the process, Keras runs that code even with ``safe_mode=True``, so this
    function then refuses to load any file (:class:`UnsafeLoadingError`).
    A missing file raises ``FileNotFoundError``; a file that exists but is
    empty, truncated, damaged or not a ``.keras`` zip archive (a legacy
    ``.h5`` file renamed, a text file) raises :class:`ModelFileError`.
    Introduced in chapter 08.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}. Save one with model.save(path).")
    if path.suffix != ".keras":
        raise ValueError(
            f"{path} is not a .keras file; save the model with model.save('name.keras')."
        )
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _MODEL_CACHE:
        if unsafe_deserialization_enabled():
            raise UnsafeLoadingError(path)
        _check_keras_archive(path)
        _MODEL_CACHE.clear()  # one model at a time: they are large
        try:
            _MODEL_CACHE[key] = keras.models.load_model(path)
        except zipfile.BadZipFile as error:  # a damaged member: bad CRC, bad compressed data
            raise ModelFileError(path, f"is damaged ({error})") from None
    return _MODEL_CACHE[key]


class ModelFileError(ValueError):
    """A model file that exists but is not a valid ``.keras`` file (chapter 08)."""

    def __init__(self, path, problem: str):
        super().__init__(
            f"{path} is not a valid .keras file: it exists but {problem}. Save the model "
            "again with model.save('name.keras'), or copy the file again if it was cut short."
        )
        self.path = str(path)
        self.problem = problem


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first bytes of a legacy .h5 model file


def _check_keras_archive(path: Path) -> None:
    """Raise :class:`ModelFileError` unless ``path`` is a zip archive, as ``.keras`` files are.

    Keras reports such a file as "File not found", although it exists.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        start = handle.read(len(HDF5_SIGNATURE))
    if size == 0:
        raise ModelFileError(path, "is empty (0 bytes)")
    if start == HDF5_SIGNATURE:
        raise ModelFileError(
            path,
            "is a legacy HDF5 (.h5) model renamed to .keras; give it back its .h5 name, "
            "load it with keras.models.load_model, and save it as .keras",
        )
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            path, f"is not a zip archive ({size:,} bytes): truncated, or another kind of file"
        )


class UnsafeLoadingError(RuntimeError):
    """Loading refused: Keras's safe mode was switched off in this process (chapter 08)."""

    def __init__(self, path):
        super().__init__(
            f"Refusing to load {path}: keras.config.enable_unsafe_deserialization() was called "
            "earlier in this Python process, so Keras would run any Python code stored in the "
            "file (Lambda layers), even with safe_mode=True. Restart the kernel (or the "
            "program) and load the model without calling enable_unsafe_deserialization(); "
            "call it only to load a file you made yourself."
        )
        self.path = str(path)


def unsafe_deserialization_enabled() -> bool:
    """Whether ``keras.config.enable_unsafe_deserialization()`` is in effect in this process.

    Keras has no public way to ask, so this reads the flag that
    ``enable_unsafe_deserialization`` sets and that ``load_model`` obeys over
    its own ``safe_mode`` argument (``serialization_lib.in_safe_mode()``: None
    unless set, False once unsafe deserialization is on; Keras 3.15). If a
    later Keras moves it, this raises ``RuntimeError`` rather than guess, so
    nothing is loaded unchecked (``tests/test_reliability_more.py`` fails too).
    """
    import keras

    try:
        from keras.src.saving import serialization_lib

        return serialization_lib.in_safe_mode() is False
    except (ImportError, AttributeError) as error:
        raise RuntimeError(
            f"Cannot tell whether Keras {keras.__version__} is in safe mode ({error}); "
            "utils.predict reads keras.src.saving.serialization_lib.in_safe_mode(), "
            "which this version lacks. Use the Keras version that constraints.txt pins."
        ) from None


def _input_format(model) -> tuple[int, int]:
    """(size, channels) of a model that takes square images with 1 or 3 channels."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] not in (1, 3) or shape[1] is None:
        raise ValueError(
            f"the model must take square images with 1 or 3 channels, "
            f"(batch, size, size, channels); it takes {shape}"
        )
    return int(shape[1]), int(shape[3])


# --------------------------------------------------------------------------- images


def _open(path: Path, min_side: int, max_pixels: int, size: int) -> Image.Image:
    """Open, size-check and decode an image file; clear errors for everything that can go wrong."""
    if not path.exists():
        raise FileNotFoundError(f"No such image file: {path}")
    if not path.is_file():
        raise ImageError(path, "is not a file (a folder?)")
    if path.stat().st_size == 0:
        raise ImageError(path, "is empty (0 bytes)")
    try:
        image = Image.open(path)  # reads the header only
    except UnidentifiedImageError:
        raise ImageError(
            path, "is not an image file that Pillow can read (PNG, JPEG, BMP, GIF, TIFF, ...)"
        ) from None
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"is far too large to decode safely ({error})") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(path, f"cannot be opened as an image ({error})") from None
    problem = _size_problem(*image.size, min_side, max_pixels, size)
    if problem:
        image.close()
        raise ImageError(path, problem)
    try:
        with Image.open(path) as probe:
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
    if (
        isinstance(size, bool)
        or not isinstance(size, (int, np.integer))
        or not 1 <= size <= MAX_SIZE
    ):
        raise ValueError(f"size must be an integer from 1 to {MAX_SIZE} (pixels), not {size!r}")
    return int(size)


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


# --------------------------------------------------------------------------- predicting


def predict_images(
    paths, model, class_names=None, batch_size: int = 64, **image_options
) -> list[Prediction]:
    """Classify image files with a Keras model or a saved ``.keras`` file.

    Every file is read and validated first (:func:`load_image`, with
    ``image_options`` such as ``min_side`` or ``max_pixels``; the image size
    and channels are the model's input's), so one bad file stops the call
    with a clear error before any prediction is made. ``class_names``, a list
    of strings, defaults to Fashion-MNIST's ten classes; their number must
    match the model's outputs. The model must output probabilities (a softmax
    last): outputs that are negative or do not sum to 1, such as logits, raise
    ``ValueError`` rather than being shown as percentages. Returns one
    :class:`Prediction` per file, in order. Introduced in chapter 08.
    """
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("predict_images takes a list of paths; use predict_image for one file")
    class_names = _check_class_names(data.CLASS_NAMES if class_names is None else class_names)
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    if isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    size, channels = _input_format(model)
    n_outputs = model.output_shape[-1]
    if n_outputs != len(class_names):
        raise ValueError(
            f"the model has {n_outputs} outputs but {len(class_names)} class names were given"
        )
    image_options = _image_options(image_options, size, channels)
    pixels = np.stack([load_image(p, size, channels, **image_options) for p in paths])
    if channels == 1:
        pixels = pixels[..., np.newaxis]
    probabilities = model.predict(pixels.astype(np.float32), batch_size=batch_size, verbose=0)
    _check_probabilities(probabilities, paths)
    results = []
    for path, p in zip(paths, probabilities, strict=True):
        best = int(np.argmax(p))
        results.append(Prediction(str(path), class_names[best], best, float(p[best]), p))
    return results


def _check_class_names(class_names) -> list[str]:
    """``class_names`` as a list of strings, or a TypeError (a single string is not a list)."""
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise TypeError(
            "class_names must be a list of strings, one per model output, such as "
            f"['cat', 'dog']; got the {type(class_names).__name__} {class_names!r}"
        )
    names = list(class_names)
    for index, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(
                f"class_names must be strings; class_names[{index}] is the "
                f"{type(name).__name__} {name!r}"
            )
    return names


def _image_options(options: dict, size: int, channels: int) -> dict:
    """``load_image``'s options without ``size``/``channels``, which the model's input sets."""
    for name, value in (("size", size), ("channels", channels)):
        if name in options and options[name] != value:
            raise ValueError(
                f"{name}={options[name]!r} does not fit the model, which takes {size}x{size} "
                f"images with {channels} channel(s); predict_images reads every image at the "
                f"model's input size, so leave {name} out"
            )
    return {k: v for k, v in options.items() if k not in ("size", "channels")}


def _check_probabilities(outputs, paths: list[Path]) -> None:
    """A ValueError unless every row of ``outputs`` is finite, non-negative and sums to 1."""
    outputs = np.asarray(outputs, np.float64)
    sums = outputs.sum(axis=-1)
    fine = np.isfinite(sums) & (outputs >= 0).all(axis=-1) & (np.abs(sums - 1) <= 0.01)
    if fine.all():
        return
    i = int(np.flatnonzero(~fine)[0])
    raise ValueError(
        f"the model's outputs are not probabilities: for {paths[i].name} they range from "
        f"{outputs[i].min():.4g} to {outputs[i].max():.4g} and sum to {sums[i]:.4g}, where "
        "probabilities lie in 0..1 and sum to 1. A model whose last layer has no softmax "
        "outputs logits: end it with keras.layers.Softmax() (or a Dense layer with "
        "activation='softmax') and save it again. NaN outputs mean broken weights."
    )


def predict_image(path: str | os.PathLike, model, class_names=None, **image_options) -> Prediction:
    """Classify one image file; see :func:`predict_images`. Introduced in chapter 08."""
    return predict_images([path], model, class_names, **image_options)[0]
