"""Which strategy for how many labels: from scratch, feature extraction, fine-tuning.

Chapter 07 trains three kinds of model on training sets of several sizes, a
few times each, and compares them on one test set:

- ``"scratch"``: :func:`utils.models.small_cnn` trained end to end on the images;
- ``"feature extraction"``: the recipe's head on cached ImageNet VGG16 features
  of the base cut after one block (chapter 04);
- ``"fine-tuning (top block)"``: the recipe's head trained first on the frozen
  base's output, then block5 unfrozen with a small learning rate (chapter 05).
  Both stages run on cached block4 features through
  :func:`utils.finetune.top_model`: the same model as fine-tuning block5 of the
  whole network with blocks 1 to 4 frozen, without their forward pass.

:func:`prepare` computes (or reads from the feature cache) the frozen base's
features of a pool of training images and of the test set, once.
:func:`run_strategy` trains one model on a stratified sample of the pool and
returns its test accuracy and training time; :func:`learning_curves` repeats
that over sizes and seeds; :func:`summarise` turns the runs into a table of
means and spreads, and :func:`paired_differences` and :func:`crossings` compare
two strategies. Introduced in chapter 07.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from utils import data, finetune, inspection, models, training, weights

SCRATCH = "scratch"
FEATURE_EXTRACTION = "feature extraction"
FINE_TUNING = "fine-tuning (top block)"
STRATEGIES = (SCRATCH, FEATURE_EXTRACTION, FINE_TUNING)

# Fixed per strategy, the same for every training-set size (chapter 07 says how they were chosen).
# Feature extraction cuts where chapter 04 found best; fine-tuning uses chapter 05's learning rates.
SETTINGS = {
    SCRATCH: {"epochs": 15, "min_steps": 120, "batch_size": 32, "learning_rate": 1e-3},
    FEATURE_EXTRACTION: {
        "epochs": 10,
        "min_steps": 120,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "cut": "block3",
        "standardise": True,
    },
    FINE_TUNING: {
        "head_epochs": 10,
        "min_steps": 120,
        "head_learning_rate": 1e-3,
        "epochs": 1,
        "learning_rate": 1e-5,
        "batch_size": 32,
        "standardise": True,
    },
}

_FINE_TUNE_AFTER = "block4_pool"  # fine-tuning trains block5 + head on these cached features


@dataclass
class Prepared:
    """A pool of training images, the test set, and their cached base features.

    ``features`` maps a block name to ``(pool features, test features)``. The
    pool features may cover only the images the planned samples use:
    ``feature_rows[i]`` is the row of pool image ``i`` in them, or -1 when its
    features were not extracted. ``base`` is the ImageNet VGG16 base the
    features came from (fine-tuning trains its block5, and every run starts
    again from the ImageNet weights). ``extraction_seconds`` and
    ``extraction_cpu_seconds`` say how long :func:`prepare` took to get the
    features of ``extracted_images`` images (a disk read when they were
    cached). Made by :func:`prepare`.
    """

    images: np.ndarray
    labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    image_size: int
    features: dict[str, tuple[np.ndarray, np.ndarray]]
    feature_rows: np.ndarray
    base: keras.Model
    extraction_seconds: float
    extraction_cpu_seconds: float
    extracted_images: int
    _block5: dict = field(default_factory=dict, repr=False)
    _test_inputs: np.ndarray | None = field(default=None, repr=False)
    _test_block5: np.ndarray | None = field(default=None, repr=False)
    _models: dict = field(default_factory=dict, repr=False)

    @property
    def max_per_class(self) -> int:
        """The largest number of training examples per class the pool can give."""
        return int(np.bincount(self.labels, minlength=data.NUM_CLASSES).min())

    def pool_features(self, block: str, index: np.ndarray) -> np.ndarray:
        """The cached ``block`` features of pool images ``index``; ValueError if not extracted."""
        if block not in self.features:
            raise ValueError(
                f"no cached {block} features: prepare(..., blocks=[{block!r}, ...]) first"
            )
        rows = self.feature_rows[index]
        if (rows < 0).any():
            raise ValueError(
                "this sample uses images whose features were not extracted: "
                "add its (per_class, seed) to prepare(..., samples=...)"
            )
        return self.features[block][0][rows]


def prepare(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    image_size: int = 32,
    blocks: Iterable[str] = ("block4",),
    samples: Iterable[tuple[int, int]] | None = None,
    base: keras.Model | None = None,
) -> Prepared:
    """Features of the training pool and the test set after each of ``blocks``, in one pass each.

    ``train`` and ``test`` are ``(uint8 images, labels)`` pairs, for example
    ``split["train"]`` and ``split["test"]`` of ``data.book_split``.
    ``samples``, a list of ``(per_class, seed)`` pairs, limits the pool's
    features to the images those samples use (``None``: the whole pool). The
    features go through :func:`utils.inspection.extract_block_features`, so they
    are read from (and written to) the same disk cache as chapters 01 and 04
    use. ``base`` defaults to the ImageNet VGG16 base at ``image_size``.
    Fine-tuning needs ``"block4"`` among ``blocks``. Introduced in chapter 07.
    """
    (x_pool, y_pool), (x_test, y_test) = train, test
    data.check_images(x_pool, "training images")
    data.check_labels(np.asarray(y_pool), len(x_pool), "training labels")
    data.check_images(x_test, "test images")
    data.check_labels(np.asarray(y_test), len(x_test), "test labels")
    blocks = list(dict.fromkeys(blocks))
    unknown = [block for block in blocks if block not in models.VGG16_BLOCKS]
    if not blocks or unknown:
        raise ValueError(f"blocks must be among {models.VGG16_BLOCKS}, got {blocks}")
    y_pool = np.asarray(y_pool)
    if samples is None:
        needed = np.arange(len(x_pool))
    else:
        chosen = [sample_indices(y_pool, per_class, seed) for per_class, seed in samples]
        if not chosen:
            raise ValueError("samples is empty; pass None for the whole pool")
        needed = np.unique(np.concatenate(chosen))
    feature_rows = np.full(len(x_pool), -1, dtype=np.int64)
    feature_rows[needed] = np.arange(len(needed))
    if base is None:
        base = weights.load_vgg16("imagenet", (image_size, image_size, 3), verbose=False)
    start, cpu_start = time.perf_counter(), time.process_time()
    pool_features = inspection.extract_block_features(base, x_pool[needed], image_size, blocks)
    test_features = inspection.extract_block_features(base, x_test, image_size, blocks)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    block5 = {
        layer.name: [np.array(w, copy=True) for w in layer.get_weights()]
        for layer in base.layers
        if models.block_of(layer) == "block5"
    }
    return Prepared(
        images=x_pool,
        labels=y_pool,
        test_images=x_test,
        test_labels=np.asarray(y_test),
        image_size=int(image_size),
        features={block: (pool_features[block], test_features[block]) for block in blocks},
        feature_rows=feature_rows,
        base=base,
        extraction_seconds=seconds,
        extraction_cpu_seconds=cpu_seconds,
        extracted_images=len(needed) + len(x_test),
        _block5=block5,
    )


def sample_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of the sample ``data.stratified_sample(x, labels, per_class, seed)`` picks.

    The indices select the matching cached features too. Introduced in chapter 07.
    """
    return data.stratified_indices(np.asarray(labels), per_class, seed)


def _settings(strategy: str, overrides: Mapping) -> dict:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    settings = copy.deepcopy(SETTINGS[strategy])
    unknown = sorted(set(overrides) - set(settings))
    if unknown:
        raise ValueError(f"{strategy} has no setting(s) {unknown}; it has {sorted(settings)}")
    settings.update(overrides)
    for name, value in settings.items():
        if "epochs" in name or name in ("batch_size", "min_steps"):
            low = 0 if name == "min_steps" else 1
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be a whole number of at least {low}, got {value!r}")
        elif name == "standardise" and not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"standardise must be True or False, got {value!r}")
        elif "learning_rate" in name and not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    return settings


def epochs_for(n_train: int, epochs: int, batch_size: int, min_steps: int) -> int:
    """``epochs``, or more when ``epochs`` epochs of ``n_train`` examples give under ``min_steps``.

    A training set of 100 images in batches of 32 gives only 4 gradient steps
    per epoch; the floor keeps the smallest sets from stopping before they have
    learned. Introduced in chapter 07.
    """
    steps_per_epoch = -(-int(n_train) // int(batch_size))
    return max(int(epochs), -(-int(min_steps) // steps_per_epoch))


@keras.saving.register_keras_serializable(package="tlbook")
class Standardise(keras.layers.Layer):
    """Subtract a stored mean from each feature and divide by a stored standard deviation.

    The statistics are non-trainable weights, set with :meth:`set_statistics`
    (or by :func:`standardiser`), so a trained model carries them along.
    Introduced in chapter 07.
    """

    def build(self, input_shape):
        shape = tuple(input_shape[1:])
        self.mean = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=shape, initializer="ones", trainable=False, name="std")

    def set_statistics(self, train_features: np.ndarray) -> None:
        """Use the mean and standard deviation of ``train_features`` (constant features: std 1)."""
        train_features = np.asarray(train_features, dtype=np.float64)
        if train_features.ndim < 2 or len(train_features) < 2:
            raise ValueError(
                f"need at least two feature arrays (N, ...), got shape {train_features.shape}"
            )
        if not self.built:
            self.build(train_features.shape)
        std = train_features.std(axis=0)
        self.mean.assign(train_features.mean(axis=0).astype("float32"))
        self.std.assign(np.where(std > 0, std, 1.0).astype("float32"))

    def call(self, inputs):
        return (inputs - self.mean) / self.std


def standardiser(train_features: np.ndarray) -> Standardise:
    """A layer that standardises each feature with the mean and spread of ``train_features``.

    Each feature has its training mean subtracted and is divided by its
    training standard deviation; a feature that is constant on the training
    set is only shifted (divided by 1), so it cannot blow up on new images.
    Chapter 04 showed why raw VGG16 features need this. Introduced in chapter 07.
    """
    layer = Standardise(name="standardise")
    layer.set_statistics(train_features)
    return layer


def feature_head(train_features: np.ndarray, standardise: bool = True, name: str = "head"):
    """The recipe's head for ``train_features``, after a :func:`standardiser` if ``standardise``.

    Introduced in chapter 07.
    """
    shape = train_features.shape[1:]
    head = models.recipe_head(shape, name=f"{name}_seed")
    if not standardise:
        return head
    return keras.Sequential([keras.Input(shape), standardiser(train_features), head], name=name)


def _reusable(prepared: Prepared, key: tuple, template: keras.Model, learning_rate: float):
    """A compiled model for ``key`` holding ``template``'s weights and a fresh optimiser state.

    The first time, ``template`` itself is compiled and kept. Later runs copy
    a new template's weights into the kept model and zero its Adam state
    instead of compiling a new model: the result is the same, but TensorFlow
    traces the training step once instead of once per run, and memory stays
    flat (every newly traced model kept tens of megabytes alive here).
    """
    model = prepared._models.get(key)
    if model is None:
        template.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        prepared._models[key] = template
        return template
    model.set_weights(template.get_weights())
    finetune.restart(model.optimizer)
    return model


def _fit(model, x, y, epochs: int, batch_size: int) -> float:
    """Train silently; return the training accuracy of the last epoch."""
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return float(history.history["accuracy"][-1])


def _scratch_inputs(images: np.ndarray, image_size: int) -> np.ndarray:
    return keras.applications.vgg16.preprocess_input(data.to_rgb(images, image_size))


def run_strategy(strategy: str, per_class: int, seed: int, prepared: Prepared, **overrides) -> dict:
    """Train one model of ``strategy`` on ``per_class`` examples per class; test it.

    The training set is the stratified sample of the pool that
    ``data.stratified_sample(..., per_class, seed)`` picks, so all strategies
    with the same ``seed`` and ``per_class`` see the same images; ``seed``
    also seeds the model's initial weights and the order of the examples.
    ``overrides`` change entries of ``SETTINGS[strategy]`` (``epochs=30``).
    Training runs for ``epochs`` epochs, or more when that would make fewer
    than ``min_steps`` gradient steps (:func:`epochs_for`); fine-tuning's
    stage 2 always runs its ``epochs``.

    Returns a dict with the strategy, ``per_class``, ``seed``, ``n_train``,
    the ``epochs_run``, the test ``accuracy``, the last epoch's
    ``train_accuracy``, the wall-clock ``seconds`` and the ``cpu_seconds`` of
    the training (test evaluations and the one-off feature extraction of
    :func:`prepare` are not counted), and the ``settings`` used. Fine-tuning
    runs also report ``stage1_accuracy``, the test accuracy after stage 1
    alone (the head on the frozen whole base, which is feature extraction cut
    after block5), and ``stage2_seconds`` and ``stage2_cpu_seconds``, the part
    of the training time spent in stage 2. Introduced in chapter 07.
    """
    settings = _settings(strategy, overrides)
    if per_class > prepared.max_per_class:
        raise ValueError(
            f"per_class={per_class}: the pool holds only {prepared.max_per_class} per class"
        )
    index = sample_indices(prepared.labels, per_class, seed)
    y = prepared.labels[index]
    epochs = epochs_for(
        len(index),
        settings["head_epochs" if strategy == FINE_TUNING else "epochs"],
        settings["batch_size"],
        settings["min_steps"],
    )
    result = {}
    if strategy == FINE_TUNING:
        test_block5 = _test_block5(prepared)  # once, before any block5 is trained; not timed
    start, cpu_start = time.perf_counter(), time.process_time()
    training.seed_everything(seed)
    if strategy == SCRATCH:
        x = _scratch_inputs(prepared.images[index], prepared.image_size)
        template = models.small_cnn(x.shape[1:])
        model = _reusable(prepared, (SCRATCH, settings["learning_rate"]), template,
                          settings["learning_rate"])  # fmt: skip
        train_accuracy = _fit(model, x, y, epochs, settings["batch_size"])
        if prepared._test_inputs is None:
            prepared._test_inputs = _scratch_inputs(prepared.test_images, prepared.image_size)
        test_inputs = prepared._test_inputs
    elif strategy == FEATURE_EXTRACTION:
        cut = settings["cut"]
        train_features = prepared.pool_features(cut, index)
        test_inputs = prepared.features[cut][1]
        template = feature_head(train_features, settings["standardise"], name=f"head_{cut}")
        key = (FEATURE_EXTRACTION, cut, settings["standardise"], settings["learning_rate"])
        model = _reusable(prepared, key, template, settings["learning_rate"])
        train_accuracy = _fit(model, train_features, y, epochs, settings["batch_size"])
    else:
        z = prepared.pool_features("block4", index)
        test_inputs = prepared.features["block4"][1]
        model, train_accuracy, stage1, evaluation, stage2 = _fine_tune(
            prepared, z, y, epochs, settings, test_block5
        )
        result["stage1_accuracy"] = stage1
        result["stage2_seconds"], result["stage2_cpu_seconds"] = stage2
        start, cpu_start = start + evaluation[0], cpu_start + evaluation[1]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "strategy": strategy,
        "per_class": int(per_class),
        "seed": int(seed),
        "n_train": len(index),
        "epochs_run": epochs,
        "accuracy": training.accuracy(model, test_inputs, prepared.test_labels),
        "train_accuracy": train_accuracy,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "settings": settings,
        **result,
    }


def _block5_part(prepared: Prepared) -> keras.Model:
    """Block5 of the base as a model on block4 features (built once, shares the base's layers)."""
    if "block5 part" not in prepared._models:
        prepared._models["block5 part"] = finetune.base_part(prepared.base, _FINE_TUNE_AFTER)
    return prepared._models["block5 part"]


def _test_block5(prepared: Prepared) -> np.ndarray:
    """The ImageNet base's block5 output for the test images (computed once)."""
    if prepared._test_block5 is None:
        _reset_block5(prepared)
        test_block4 = prepared.features["block4"][1]
        prepared._test_block5 = _block5_part(prepared).predict(
            test_block4, batch_size=256, verbose=0
        )
    return prepared._test_block5


def _reset_block5(prepared: Prepared) -> None:
    for name, values in prepared._block5.items():
        prepared.base.get_layer(name).set_weights(values)


def _fine_tune(prepared, z, y, head_epochs, settings, test_block5):
    """Stage 1: the head on frozen block5's output; stage 2: block5 unfrozen too.

    Returns the trained top model, its last training accuracy, the test
    accuracy after stage 1, and the (wall, CPU) seconds that evaluation and
    stage 2 took.
    """
    base = prepared.base
    _reset_block5(prepared)  # every run starts from ImageNet's block5
    models.set_trainable_blocks(base, 0)
    block5_output = _block5_part(prepared).predict(z, batch_size=256, verbose=0)
    template = feature_head(block5_output, settings["standardise"])
    head_key = ("fine-tuning head", settings["standardise"], settings["head_learning_rate"])
    head = _reusable(prepared, head_key, template, settings["head_learning_rate"])
    _fit(head, block5_output, y, head_epochs, settings["batch_size"])
    wall, cpu = time.perf_counter(), time.process_time()
    stage1 = training.accuracy(head, test_block5, prepared.test_labels)
    evaluation = (time.perf_counter() - wall, time.process_time() - cpu)
    top_key = ("fine-tuning top", head_key, settings["learning_rate"])
    models.set_trainable_blocks(base, 1)  # block5 learns in stage 2 (compile sees this)
    top = prepared._models.get(top_key)
    if top is None:
        top = finetune.top_model(base, head, after=_FINE_TUNE_AFTER)
        top.compile(
            optimizer=keras.optimizers.Adam(settings["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        prepared._models[top_key] = top
    else:
        finetune.restart(top.optimizer)
    wall, cpu = time.perf_counter(), time.process_time()
    train_accuracy = _fit(top, z, y, settings["epochs"], settings["batch_size"])
    stage2 = (time.perf_counter() - wall, time.process_time() - cpu)
    models.set_trainable_blocks(base, 0)
    return top, train_accuracy, stage1, evaluation, stage2


def learning_curves(
    prepared: Prepared,
    sizes: Mapping[str, Sequence[int]],
    seeds: Sequence[int],
    settings: Mapping[str, Mapping] | None = None,
    verbose: bool = True,
) -> list[dict]:
    """:func:`run_strategy` for every strategy in ``sizes``, each of its sizes and every seed.

    ``sizes`` maps a strategy to its training-set sizes (examples per class);
    ``settings`` optionally maps a strategy to overrides of its settings. With
    ``verbose`` one line per run is printed. Returns the list of runs.
    Introduced in chapter 07.
    """
    settings = settings or {}
    unknown = sorted(set(sizes) - set(STRATEGIES))
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; use some of {STRATEGIES}")
    if not seeds:
        raise ValueError("seeds is empty")
    rows = []
    for strategy, strategy_sizes in sizes.items():
        for per_class in strategy_sizes:
            for seed in seeds:
                row = run_strategy(
                    strategy, per_class, seed, prepared, **settings.get(strategy, {})
                )
                rows.append(row)
                if verbose:
                    epochs = f"{row['epochs_run']}"
                    if strategy == FINE_TUNING:
                        epochs += f" + {row['settings']['epochs']}"
                    print(
                        f"{strategy:<24}{per_class:>4} per class, seed {seed}: test accuracy "
                        f"{row['accuracy']:.3f}, training accuracy {row['train_accuracy']:.3f} "
                        f"({epochs} epochs, {row['seconds']:.1f} s)",
                        flush=True,
                    )
    return rows


def summarise(rows: Iterable[Mapping]) -> list[dict]:
    """One row per (strategy, examples per class): mean, standard deviation, range of accuracy.

    The standard deviation is the sample one (``ddof=1``) over the seeds; with
    a single seed it is 0. ``seconds`` and ``cpu_seconds`` are means over the
    runs; fine-tuning rows also carry ``stage1_mean`` and ``stage1_std``, the
    accuracy of their first stage. Rows come in the order of ``STRATEGIES``,
    then by size. Introduced in chapter 07.
    """
    groups: dict[tuple[str, int], list[Mapping]] = {}
    for row in rows:
        groups.setdefault((row["strategy"], int(row["per_class"])), []).append(row)
    if not groups:
        raise ValueError("no runs to summarise")

    def spread(values: np.ndarray) -> float:
        return float(values.std(ddof=1)) if len(values) > 1 else 0.0

    table = []
    for (strategy, per_class), runs in sorted(
        groups.items(), key=lambda item: (STRATEGIES.index(item[0][0]), item[0][1])
    ):
        accuracies = np.array([run["accuracy"] for run in runs], dtype=np.float64)
        summary = {
            "strategy": strategy,
            "per_class": per_class,
            "n_train": int(runs[0]["n_train"]),
            "runs": len(runs),
            "mean": float(accuracies.mean()),
            "std": spread(accuracies),
            "min": float(accuracies.min()),
            "max": float(accuracies.max()),
            "seconds": float(np.mean([run["seconds"] for run in runs])),
            "cpu_seconds": float(np.mean([run["cpu_seconds"] for run in runs])),
        }
        if all("stage1_accuracy" in run for run in runs):
            stage1 = np.array([run["stage1_accuracy"] for run in runs], dtype=np.float64)
            summary["stage1_mean"], summary["stage1_std"] = float(stage1.mean()), spread(stage1)
        table.append(summary)
    return table


def curves(rows: Iterable[Mapping]) -> dict[str, dict[int, list[float]]]:
    """``{strategy: {examples per class: [test accuracy of each seed]}}``, for plotting.

    Introduced in chapter 07.
    """
    result: dict[str, dict[int, list[float]]] = {}
    for row in sorted(rows, key=lambda r: (STRATEGIES.index(r["strategy"]), r["per_class"])):
        result.setdefault(row["strategy"], {}).setdefault(int(row["per_class"]), []).append(
            float(row["accuracy"])
        )
    return result


def lookup(table: Sequence[Mapping], strategy: str, per_class: int) -> Mapping:
    """The row of a :func:`summarise` table for ``strategy`` at ``per_class`` (else KeyError)."""
    for row in table:
        if row["strategy"] == strategy and row["per_class"] == per_class:
            return row
    raise KeyError(f"no result for {strategy!r} at {per_class} per class")


def paired_differences(rows: Iterable[Mapping], a: str, b: str, per_class: int) -> np.ndarray:
    """Test accuracy of ``a`` minus that of ``b`` for each seed both ran at ``per_class``.

    Runs with the same seed and size trained on the same sample, so the
    difference is paired. Sorted by seed. Introduced in chapter 07.
    """
    by_seed: dict[str, dict[int, float]] = {a: {}, b: {}}
    for row in rows:
        if row["strategy"] in by_seed and row["per_class"] == per_class:
            by_seed[row["strategy"]][int(row["seed"])] = float(row["accuracy"])
    common = sorted(set(by_seed[a]) & set(by_seed[b]))
    if not common:
        raise ValueError(f"no seed ran both {a!r} and {b!r} at {per_class} per class")
    return np.array([by_seed[a][seed] - by_seed[b][seed] for seed in common])


def crossings(table: Sequence[Mapping], a: str, b: str) -> list[tuple[int, int]]:
    """Between which measured sizes the mean curves of ``a`` and ``b`` change order.

    Returns ``[(smaller size, larger size), ...]`` over the sizes both were
    measured at; an empty list means one stays ahead (or level) throughout.
    Introduced in chapter 07.
    """
    means = {
        strategy: {row["per_class"]: row["mean"] for row in table if row["strategy"] == strategy}
        for strategy in (a, b)
    }
    common = sorted(set(means[a]) & set(means[b]))
    signs = [np.sign(means[a][size] - means[b][size]) for size in common]
    found = []
    previous = None
    for size, sign in zip(common, signs, strict=True):
        if sign == 0:
            continue
        if previous is not None and sign != previous[1]:
            found.append((previous[0], size))
        previous = (size, sign)
    return found
