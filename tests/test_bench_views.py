"""bench/prediction_views.py's shifted views: the image content moves, the edge repeats into the gap."""

import numpy as np

from tests.pipeline_utils import load_bench_script


def test_shifted_moves_the_face_and_repeats_the_edge_into_the_gap():
    shifted = load_bench_script("prediction_views").shifted
    images = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    down = shifted(images, 1, 0)
    assert down.shape == images.shape and down.dtype == np.uint8
    np.testing.assert_array_equal(down[0], [[0, 1, 2], [0, 1, 2], [3, 4, 5]])
    left = shifted(images, 0, -1)
    np.testing.assert_array_equal(left[1], [[10, 11, 11], [13, 14, 14], [16, 17, 17]])
    np.testing.assert_array_equal(shifted(images, 0, 0), images)
