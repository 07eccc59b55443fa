"""Chapter 06's random-weight features cover only the rows its comparison reads."""

import numpy as np
import pytest
from chapter_code import definitions

from utils import data

SEEDS = (0, 1)
ch06 = definitions(
    "06_full_fine_tuning",
    np=np,
    data=data,
    TRAIN_PER_CLASS=20,
    VAL_PER_CLASS=100,
    DATA="bundled",
    SEEDS=SEEDS,
)


def test_the_rows_read_are_every_seeds_training_and_validation_rows():
    read = ch06.rows_read(SEEDS)
    for seed in SEEDS:
        split = data.book_split_indices(20, 100, seed=seed)
        assert np.isin(split["train"], read).all() and np.isin(split["val"], read).all()
    assert len(read) == len(set(read.tolist())) < 6000  # no repeats, not all


def test_the_comparison_refuses_a_seed_whose_rows_were_not_computed():
    ch06.every_method.__globals__["read"] = ch06.rows_read(SEEDS)
    with pytest.raises(ValueError, match=r"seed 2: .*SEEDS = \(0, 1\) only; put 2 in SEEDS"):
        ch06.every_method(2, 1e-5)
