"""Fashion-MNIST for the book: the bundled subset, the full set, sampling and pipelines.

The default every chapter uses is a small subset committed in ``data/`` (600
training and 200 test images per class), so the book runs without any
download. The full set (60,000 + 10,000 images) is one switch away:
``load_fashion_mnist("full")`` (found and checked by ``utils/full_set.py``).
Both come as plain uint8 NumPy arrays, like
``keras.datasets``; ``make_dataset`` turns them into a ``tf.data`` pipeline that
resizes each batch for VGG16 on the fly. Introduced in chapter 00.

TensorFlow is imported only inside ``to_rgb`` and ``make_dataset``, so reading
the data stays cheap.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from utils.assets import DATA_DIR, FIX_COMMAND, AssetError, verify_sha256
from utils.idx import read_idx
from utils.validation import flag, whole_number

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = 10
IMAGE_SHAPE = (28, 28)

# The four standard files, in the order (x_train, y_train, x_test, y_test).
FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)

# The bundled subset, made by tools/make_subset.py (see data/README.md).
BUNDLED_DIR = DATA_DIR / "fashion-mnist-subset"
BUNDLED_PER_CLASS = {"train": 600, "test": 200}
BUNDLED_SEED = 0
BUNDLED_FIX = "git checkout -- data/fashion-mnist-subset"
BUNDLED_SHA256 = dict(
    zip(
        FILE_NAMES,
        (
            "cda09bb8cbe7f30511a5573271cfc2b0cf03bfd2900ba21d08bd5fa32bf1c07c",  # train images
            "3f7d786aad0d8785412c52f89d76e68a6e14cc2e739c4b39fbbf1702e8641bff",  # train labels
            "91847c516808abdbb55d35dec0f146b4a1b536dfd994a34b8df4beac4689ff6f",  # test images
            "5793f83c8bee8c24f9102452daac41a2e1e7c3a2086969e4e082f47268bae6cd",  # test labels
        ),
        strict=True,
    )
)

# --------------------------------------------------------------------------- validation


def check_images(x: np.ndarray, name: str = "images") -> np.ndarray:
    """Return ``x`` if it is a uint8 array of shape (N, 28, 28), else raise ValueError.

    Introduced in chapter 01.
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(x).__name__}.")
    if x.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8 (pixels 0..255), got {x.dtype}.")
    if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"{name} must have shape (N, 28, 28), got {x.shape}. "
            "For one image, pass x[i:i+1] instead of x[i]."
        )
    return x


def check_labels(y: np.ndarray, n: int | None = None, name: str = "labels") -> np.ndarray:
    """Return ``y`` if it holds integer class ids in [0, 10) (and ``n`` of them), else ValueError.

    Introduced in chapter 02.
    """
    if not isinstance(y, np.ndarray):
        raise ValueError(f"{name} must be a NumPy array, got {type(y).__name__}.")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        hint = (
            "(Shape (N, 1)? Use y.ravel().)"
            if y.ndim == 2 and y.shape[1] == 1
            else "(One-hot labels? Use y.argmax(axis=1).)"
        )
        raise ValueError(
            f"{name} must be a 1-D integer array of class ids, got {y.dtype} {y.shape}. {hint}"
        )
    if n is not None and len(y) != n:
        raise ValueError(f"{name} has {len(y)} entries but there are {n} images.")
    if len(y) and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise ValueError(
            f"{name} must be in [0, {NUM_CLASSES}), got values from {y.min()} to {y.max()}."
        )
    return y


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    check_images(x)
    check_labels(y, len(x))


# --------------------------------------------------------------------------- loading


def load_fashion_mnist(source: str = "bundled"):
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, like keras.datasets.

    ``x`` is uint8 (N, 28, 28), ``y`` is uint8 (N,). ``source="bundled"`` (the
    default) reads the subset committed in ``data/`` (600 + 200 images per class);
    ``source="full"`` reads the official 60,000 + 10,000 images from the Debian
    package, Keras's cache, or a Keras download, in that order. Every file is
    checked against its sha256 first. Introduced in chapter 00.
    """
    if source == "bundled":
        return _load_bundled()
    if source == "full":
        from utils import full_set  # imports this module

        return full_set.load()
    raise ValueError(f"source must be 'bundled' or 'full', got {source!r}.")


def _load_bundled():
    for name in FILE_NAMES:
        verify_sha256(BUNDLED_DIR / name, BUNDLED_SHA256[name], fix=BUNDLED_FIX)
    return read_idx_folder(BUNDLED_DIR, fix=BUNDLED_FIX)


def read_idx_folder(folder: str | os.PathLike, fix: str = FIX_COMMAND):
    """Read the four standard Fashion-MNIST files from ``folder`` and check their shapes.

    Returns ``(x_train, y_train), (x_test, y_test)``. Introduced in chapter 00.
    """
    folder = Path(folder)
    x_train, y_train, x_test, y_test = (read_idx(folder / name, fix) for name in FILE_NAMES)
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        try:
            _check_pair(x, y)
        except ValueError as error:
            raise AssetError(f"The {split} files in {folder} do not match: {error}", fix) from error
    return (x_train, y_train), (x_test, y_test)


# --------------------------------------------------------------------------- sampling


def stratified_indices(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of ``per_class`` examples of each class present in ``y``.

    Every example gets a random key from ``seed`` (an integer); each class
    keeps its ``per_class`` smallest keys. So a larger ``per_class`` gives a
    superset of a smaller one with the same seed.
    """
    per_class = whole_number(per_class, "per_class", low=1)
    seed = whole_number(seed, "seed")
    if len(y) == 0:
        raise ValueError("there are no examples to sample from: the labels are empty.")
    keys = np.random.default_rng(seed).random(len(y))
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if per_class > len(members):
            raise ValueError(
                f"Class {label} ({CLASS_NAMES[label]}) has only {len(members)} examples, "
                f"fewer than per_class={per_class}."
            )
        chosen.append(members[np.argsort(keys[members], kind="stable")[:per_class]])
    return np.sort(np.concatenate(chosen))


def stratified_sample(x: np.ndarray, y: np.ndarray, per_class: int, seed: int = 0):
    """Pick ``per_class`` examples of each class, at random but repeatably.

    Returns ``(x, y)`` with the chosen examples in their original order. The same
    seed gives the same sample; with one seed, a larger ``per_class`` contains the
    smaller sample. Introduced in chapter 00.
    """
    _check_pair(x, y)
    index = stratified_indices(y, per_class, seed)
    return x[index], y[index]


def book_split_indices(
    train_per_class: int = 500, val_per_class: int = 100, seed: int = 0, source: str = "bundled"
):
    """Rows of the training images in :func:`book_split`'s train and validation sets.

    Returns ``{"train": index, "val": index}``, sorted arrays into the training
    images of ``source`` (``"bundled"`` or ``"full"``, as in
    :func:`load_fashion_mnist`), so that features computed once for all of
    them can be split for any seed without being computed again. Introduced
    in chapter 05.
    """
    (_, y_all), _ = load_fashion_mnist(source)
    val_index = stratified_indices(y_all, val_per_class, seed)
    counts = np.bincount(y_all, minlength=NUM_CLASSES)
    if (counts <= val_per_class).any():
        raise ValueError(
            f"val_per_class={val_per_class} would leave no training images for some class."
        )
    left = int(counts.min()) - val_per_class
    if isinstance(train_per_class, (int, np.integer)) and train_per_class > left:
        raise ValueError(
            f"train_per_class={train_per_class} is more than the {left} images per class left "
            f"for training: {val_per_class} of each class's {counts.min()} {source} training "
            f"images are validation examples (val_per_class={val_per_class})."
        )
    rest = np.setdiff1d(np.arange(len(y_all)), val_index)
    train_index = rest[stratified_indices(y_all[rest], train_per_class, seed)]
    return {"train": train_index, "val": val_index}


def book_split(
    train_per_class: int = 500, val_per_class: int = 100, seed: int = 0, source: str = "bundled"
) -> dict:
    """The one train / validation / test split that chapters 04 to 07 share.

    Validation comes from the training images of ``source`` (the bundled
    subset by default, or ``"full"``: see :func:`load_fashion_mnist`),
    ``val_per_class`` per class; training is a stratified sample of the rest
    (``train_per_class`` per class; a smaller sample is always contained in a
    larger one), and the test set is the source's test set, used only for
    final numbers. Returns a dict ``{"train": (x, y), "val": (x, y), "test":
    (x, y)}``. Introduced in chapter 04.
    """
    (x_all, y_all), test = load_fashion_mnist(source)
    index = book_split_indices(train_per_class, val_per_class, seed, source)
    split = {name: (x_all[rows], y_all[rows]) for name, rows in index.items()}
    return {**split, "test": test}


# --------------------------------------------------------------------------- for VGG16


def _check_size(size) -> int:
    return whole_number(size, "image size", low=32, high=224)


def _resize_to_rgb(images, size: int):
    """uint8 (N, 28, 28) tensor -> float32 (N, size, size, 3), values 0..255."""
    import tensorflow as tf

    images = tf.cast(images, tf.float32)[..., tf.newaxis]
    images = tf.image.resize(images, (size, size), method="bilinear")
    return tf.repeat(images, 3, axis=-1)


def to_rgb(images: np.ndarray, size: int) -> np.ndarray:
    """Resize grey 28x28 images to ``size`` x ``size`` and repeat them into 3 channels.

    Returns float32 (N, size, size, 3) with pixel values 0..255 (no VGG16
    preprocessing). Meant for a few images (a figure); use ``make_dataset`` for
    training. Introduced in chapter 03.
    """
    check_images(images)
    size = _check_size(size)
    return _resize_to_rgb(images, size).numpy()


def make_dataset(
    x: np.ndarray,
    y: np.ndarray | None = None,
    image_size: int = 32,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    preprocess: bool = True,
    one_hot: bool = False,
):
    """A ``tf.data.Dataset`` of VGG16-ready batches made from uint8 28x28 images.

    Only the small uint8 arrays stay in memory: the pipeline batches first, then
    resizes each batch to ``image_size`` and repeats it into RGB, then (with
    ``preprocess=True``) applies ``keras.applications.vgg16.preprocess_input``.
    Yields ``(images, labels)``, or images alone when ``y`` is None; labels are
    int32 class ids, or float32 one-hot vectors with ``one_hot=True``. With
    ``shuffle=True`` the order changes every epoch but is the same in every run
    for the same ``seed`` (and the same TensorFlow global seed, if one is set).
    Introduced in chapter 02.
    """
    import tensorflow as tf

    check_images(x)
    if y is not None:
        check_labels(y, len(x))
    size = _check_size(image_size)
    batch_size = whole_number(batch_size, "batch_size", low=1)
    shuffle = flag(shuffle, "shuffle")
    preprocess = flag(preprocess, "preprocess")
    one_hot = flag(one_hot, "one_hot")

    images = tf.constant(x)
    labels = None if y is None else tf.constant(y.astype(np.int32))

    # Shuffle and batch indices (cheap), then gather and convert one batch at a time.
    dataset = tf.data.Dataset.range(len(x))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(int(batch_size))

    def convert(index):
        batch = _resize_to_rgb(tf.gather(images, index), size)
        if preprocess:
            import keras

            batch = keras.applications.vgg16.preprocess_input(batch)
        if labels is None:
            return batch
        batch_labels = tf.gather(labels, index)
        if one_hot:
            batch_labels = tf.one_hot(batch_labels, NUM_CLASSES, dtype=tf.float32)
        return batch, batch_labels

    dataset = dataset.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)
