"""Tests of utils.strategies (chapter 07): samples, cached features, runs and their summaries."""

import keras
import numpy as np
import pytest

from utils import data, models, strategies

S, FE, FT = strategies.SCRATCH, strategies.FEATURE_EXTRACTION, strategies.FINE_TUNING


@pytest.fixture(scope="module")
def pool_and_test():
    (x, y), (x_test, y_test) = data.load_fashion_mnist()
    pool = data.stratified_sample(x, y, 6, seed=0)
    test = data.stratified_sample(x_test, y_test, 3, seed=0)
    return pool, test


@pytest.fixture(scope="module")
def prepared(pool_and_test, tmp_path_factory):
    """Features of a random VGG16 (no download) for a tiny pool, in a private cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TLBOOK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    pool, test = pool_and_test
    result = strategies.prepare(
        pool, test, 32, blocks=("block3", "block4"), samples=[(2, 0), (2, 1)], base=base
    )
    yield result
    mp.undo()


# --------------------------------------------------------------------------- samples


def test_sample_indices_pick_what_stratified_sample_picks(pool_and_test):
    (x, y), _ = pool_and_test
    for seed in (0, 1):
        index = strategies.sample_indices(y, 3, seed)
        x_s, y_s = data.stratified_sample(x, y, 3, seed)
        assert np.array_equal(x[index], x_s) and np.array_equal(y[index], y_s)
    assert set(strategies.sample_indices(y, 2, 0)) <= set(strategies.sample_indices(y, 5, 0))
    assert not np.array_equal(
        strategies.sample_indices(y, 2, 0), strategies.sample_indices(y, 2, 1)
    )


# --------------------------------------------------------------------------- prepare


def test_prepare_extracts_only_the_planned_samples(prepared, pool_and_test):
    (_, y), (x_test, _) = pool_and_test
    needed = np.union1d(strategies.sample_indices(y, 2, 0), strategies.sample_indices(y, 2, 1))
    assert prepared.extracted_images == len(needed) + len(x_test)
    assert (prepared.feature_rows >= 0).sum() == len(needed)
    assert prepared.features["block3"][0].shape == (len(needed), 4, 4, 256)
    assert prepared.features["block4"][1].shape == (len(x_test), 2, 2, 512)
    assert prepared.max_per_class == 6
    index = strategies.sample_indices(y, 2, 1)
    assert prepared.pool_features("block4", index).shape == (20, 2, 2, 512)
    with pytest.raises(ValueError, match="not extracted"):
        prepared.pool_features("block4", strategies.sample_indices(y, 5, 0))
    with pytest.raises(ValueError, match="no cached block5"):
        prepared.pool_features("block5", index)


def test_prepare_features_match_the_base(prepared, pool_and_test):
    (x, y), _ = pool_and_test
    index = strategies.sample_indices(y, 2, 0)
    cut = keras.Model(prepared.base.inputs, prepared.base.get_layer("block4_pool").output)
    images = data.make_dataset(x[index], image_size=32, batch_size=64)
    expected = cut.predict(images, verbose=0)
    np.testing.assert_allclose(
        prepared.pool_features("block4", index), expected, rtol=1e-4, atol=1e-4
    )


def test_prepare_rejects_bad_arguments(pool_and_test):
    pool, test = pool_and_test
    with pytest.raises(ValueError, match="blocks"):
        strategies.prepare(pool, test, blocks=("block9",))
    with pytest.raises(ValueError, match="samples is empty"):
        strategies.prepare(pool, test, samples=[])
    with pytest.raises(ValueError):
        strategies.prepare((pool[0][:, :20], pool[1]), test)


# --------------------------------------------------------------------------- runs


@pytest.mark.parametrize("strategy", strategies.STRATEGIES)
def test_run_strategy_reports_accuracy_and_time(prepared, strategy):
    overrides = {"head_epochs": 1} if strategy == FT else {}
    row = strategies.run_strategy(strategy, 2, 0, prepared, epochs=1, min_steps=0, **overrides)
    assert row["strategy"] == strategy and row["per_class"] == 2 and row["seed"] == 0
    assert row["n_train"] == 20
    assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["train_accuracy"] <= 1.0
    assert row["seconds"] > 0 and row["cpu_seconds"] > 0
    assert row["settings"]["epochs"] == 1 and row["epochs_run"] == 1
    assert ("stage1_accuracy" in row) == (strategy == FT)
    if strategy == FT:
        assert 0 < row["stage2_seconds"] < row["seconds"]


def test_runs_are_repeatable_and_fine_tuning_restarts_from_the_base(prepared):
    block5 = {
        layer.name: [w.copy() for w in layer.get_weights()]
        for layer in prepared.base.layers
        if models.block_of(layer) == "block5"
    }
    first = strategies.run_strategy(FT, 2, 1, prepared, epochs=1, head_epochs=1, min_steps=0)
    moved = any(
        not np.array_equal(a, b)
        for name, weights in block5.items()
        for a, b in zip(prepared.base.get_layer(name).get_weights(), weights, strict=True)
    )
    assert moved, "stage 2 should train block5"
    second = strategies.run_strategy(FT, 2, 1, prepared, epochs=1, head_epochs=1, min_steps=0)
    assert first["accuracy"] == second["accuracy"]
    assert first["stage1_accuracy"] == second["stage1_accuracy"]
    prepared._models.clear()  # the next run builds and compiles fresh models ...
    a = strategies.run_strategy(FE, 2, 1, prepared, epochs=2, min_steps=0)
    b = strategies.run_strategy(FE, 2, 1, prepared, epochs=2, min_steps=0)  # ... this one reuses
    assert a["accuracy"] == b["accuracy"] and a["train_accuracy"] == b["train_accuracy"]
    assert a["epochs_run"] == 2


def test_run_strategy_rejects_bad_settings(prepared):
    with pytest.raises(ValueError, match="strategy must be"):
        strategies.run_strategy("transfer", 2, 0, prepared)
    with pytest.raises(ValueError, match="no setting"):
        strategies.run_strategy(S, 2, 0, prepared, cut="block3")
    with pytest.raises(ValueError, match="epochs"):
        strategies.run_strategy(FE, 2, 0, prepared, epochs=0)
    with pytest.raises(ValueError, match="epochs"):
        strategies.run_strategy(FE, 2, 0, prepared, epochs=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        strategies.run_strategy(FE, 2, 0, prepared, learning_rate=-1)
    with pytest.raises(ValueError, match="min_steps"):
        strategies.run_strategy(FE, 2, 0, prepared, min_steps=-1)
    with pytest.raises(ValueError, match="standardise"):
        strategies.run_strategy(FE, 2, 0, prepared, standardise="yes")
    with pytest.raises(ValueError, match="only 6 per class"):
        strategies.run_strategy(S, 7, 0, prepared)
    with pytest.raises(ValueError, match="no cached block5"):
        strategies.run_strategy(FE, 2, 0, prepared, cut="block5")


def test_learning_curves_runs_every_point(prepared, capsys):
    rows = strategies.learning_curves(
        prepared,
        {S: (1, 2), FE: (2,)},
        seeds=(0, 1),
        settings={S: {"epochs": 1, "min_steps": 0}, FE: {"epochs": 1, "min_steps": 0}},
    )
    assert [(r["strategy"], r["per_class"], r["seed"]) for r in rows] == [
        (S, 1, 0), (S, 1, 1), (S, 2, 0), (S, 2, 1), (FE, 2, 0), (FE, 2, 1)
    ]  # fmt: skip
    assert len(capsys.readouterr().out.strip().splitlines()) == 6
    with pytest.raises(ValueError, match="unknown strategies"):
        strategies.learning_curves(prepared, {"magic": (2,)}, seeds=(0,))
    with pytest.raises(ValueError, match="seeds"):
        strategies.learning_curves(prepared, {S: (2,)}, seeds=())


def test_epochs_for_puts_a_floor_on_gradient_steps():
    assert strategies.epochs_for(100, 15, 32, 150) == 38  # 4 steps per epoch
    assert strategies.epochs_for(300, 15, 32, 150) == 15  # 10 steps per epoch: 150 already
    assert strategies.epochs_for(1000, 15, 32, 150) == 15
    assert strategies.epochs_for(100, 15, 32, 0) == 15


# --------------------------------------------------------------------------- features


def test_standardiser_centres_scales_and_survives_constant_features():
    rng = np.random.default_rng(0)
    train = rng.normal(5, 3, size=(50, 2, 2, 3)).astype("float32")
    train[:, 0, 0, 0] = 0.0  # a dead feature, constant on the training set
    layer = strategies.standardiser(train)
    out = np.asarray(layer(train))
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0)[0, 0, 1:], 1, atol=1e-3)
    new = np.zeros((1, 2, 2, 3), dtype="float32")
    new[0, 0, 0, 0] = 7.0  # active on a new image: shifted, not divided by ~0
    assert abs(float(np.asarray(layer(new))[0, 0, 0, 0]) - 7.0) < 1e-4
    with pytest.raises(ValueError):
        strategies.standardiser(train[:1])


def test_feature_head_is_the_recipe_head_with_or_without_standardising():
    train = np.random.default_rng(0).normal(size=(8, 2, 2, 4)).astype("float32")
    plain = strategies.feature_head(train, standardise=False)
    standardised = strategies.feature_head(train, standardise=True)
    assert plain.count_params() == models.recipe_head((2, 2, 4)).count_params()
    trainable = models.parameter_counts(standardised)
    assert trainable["trainable"] == plain.count_params()
    assert trainable["frozen"] == 2 * 2 * 2 * 4  # a mean and a standard deviation per feature
    assert standardised.layers[0].name == "standardise"
    assert standardised.predict(train, verbose=0).shape == (8, 10)


# --------------------------------------------------------------------------- summaries


def _row(strategy, per_class, seed, accuracy, **extra):
    return {"strategy": strategy, "per_class": per_class, "seed": seed, "n_train": per_class * 10,
            "accuracy": accuracy, "seconds": 1.0 + seed, "cpu_seconds": 2.0, **extra}  # fmt: skip


@pytest.fixture()
def rows():
    return [
        _row(FE, 10, 0, 0.80), _row(FE, 10, 1, 0.82), _row(FE, 10, 2, 0.78),
        _row(FE, 100, 0, 0.85), _row(FE, 100, 1, 0.86), _row(FE, 100, 2, 0.84),
        _row(S, 100, 0, 0.86), _row(S, 100, 1, 0.87), _row(S, 100, 2, 0.88),
        _row(S, 10, 0, 0.70), _row(S, 10, 1, 0.72), _row(S, 10, 2, 0.74),
        _row(FT, 10, 0, 0.60, stage1_accuracy=0.59), _row(FT, 10, 1, 0.62, stage1_accuracy=0.63),
    ]  # fmt: skip


def test_summarise_gives_mean_sample_std_and_range(rows):
    table = strategies.summarise(rows)
    assert [(r["strategy"], r["per_class"]) for r in table] == [
        (S, 10), (S, 100), (FE, 10), (FE, 100), (FT, 10)
    ]  # fmt: skip
    fe10 = strategies.lookup(table, FE, 10)
    assert fe10["mean"] == pytest.approx(0.80) and fe10["std"] == pytest.approx(0.02)
    assert (fe10["min"], fe10["max"], fe10["runs"], fe10["n_train"]) == (0.78, 0.82, 3, 100)
    assert fe10["seconds"] == pytest.approx(2.0)
    ft = strategies.lookup(table, FT, 10)
    assert ft["stage1_mean"] == pytest.approx(0.61) and ft["stage1_std"] == pytest.approx(
        0.0283, abs=1e-3
    )
    assert "stage1_mean" not in fe10
    single = strategies.summarise([_row(S, 10, 0, 0.5)])
    assert single[0]["std"] == 0.0
    with pytest.raises(ValueError):
        strategies.summarise([])
    with pytest.raises(KeyError):
        strategies.lookup(table, FT, 100)


def test_curves_paired_differences_and_crossings(rows):
    curves = strategies.curves(rows)
    assert list(curves) == [S, FE, FT]
    assert curves[S] == {10: [0.70, 0.72, 0.74], 100: [0.86, 0.87, 0.88]}
    diff = strategies.paired_differences(rows, FE, S, 10)
    np.testing.assert_allclose(diff, [0.10, 0.10, 0.04])
    np.testing.assert_allclose(strategies.paired_differences(rows, FE, FT, 10), [0.20, 0.20])
    with pytest.raises(ValueError, match="no seed"):
        strategies.paired_differences(rows, FT, S, 100)
    table = strategies.summarise(rows)
    assert strategies.crossings(table, FE, S) == [(10, 100)]
    assert strategies.crossings(table, FE, FT) == []
