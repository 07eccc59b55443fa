"""The measurements chapter 01 writes out (read from the chapter): the smoothness of a
filter, how much of a filter a grey image excites, and how closely feature maps follow
the edges of their images."""

import keras
import numpy as np
import pytest
from chapter_code import definitions

from utils import data

ch01 = definitions("01_transfer_in_pictures", keras=keras, np=np, data=data)


@pytest.fixture(scope="module")
def images():
    (x_train, _), _ = data.load_fashion_mnist()
    return x_train[:12]


def test_grey_visible_share_extremes():
    same = np.ones((1, 3, 3, 3))
    opponent = np.zeros((1, 3, 3, 3))
    opponent[..., 0], opponent[..., 1] = 1.0, -1.0
    red_only = np.zeros((1, 3, 3, 3))
    red_only[..., 0] = np.arange(9).reshape(3, 3)
    shares = ch01.grey_visible_share(np.concatenate([same, opponent, red_only]))
    np.testing.assert_allclose(shares, [1.0, 0.0, 1 / 3])
    with pytest.raises(ValueError):
        ch01.grey_visible_share(np.ones((2, 3, 3)))


def test_neighbour_correlation_separates_smooth_from_noise():
    ramp = np.broadcast_to(np.add.outer(np.arange(3.0), np.arange(3.0))[..., None], (3, 3, 3))
    noise = np.random.default_rng(0).normal(size=(200, 3, 3, 3))
    assert ch01.neighbour_correlation(ramp[None])[0] > 0.4
    assert abs(ch01.neighbour_correlation(noise).mean()) < 0.1
    with pytest.raises(ValueError):
        ch01.neighbour_correlation(np.ones((1, 1, 3, 3)))


def test_edge_correlation_scores_an_edge_map_above_a_copy_of_the_image(images):
    grey = keras.ops.convert_to_numpy(
        keras.ops.image.resize(images[..., None].astype("float32"), (32, 32))
    )
    rows, cols = np.gradient(grey[..., 0], axis=(1, 2))
    edges = np.hypot(rows, cols)[..., None]
    assert ch01.edge_correlation(edges, images) == pytest.approx(1.0)
    assert ch01.edge_correlation(edges, images) > ch01.edge_correlation(grey, images)
    with pytest.raises(ValueError):
        ch01.edge_correlation(edges[:3], images)
    with pytest.raises(ValueError, match="constant"):
        ch01.edge_correlation(np.zeros_like(edges), images)
