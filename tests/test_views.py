"""emotion_lib.views: the test-time views evaluate-<trial> and predict (both backends) score, in one order."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_lib import evaluation, views


@pytest.mark.parametrize("flip, shift", [(False, 0), (True, 0), (False, 2), (True, 3)])
def test_views_are_evaluations_views_in_evaluations_order(monkeypatch, flip, shift):
    images = np.random.default_rng(0).integers(0, 256, (3, 10, 9), dtype=np.uint8)
    scored = []

    def record(model, view, batch_size, progress=True):
        scored.append(view.copy())
        return np.zeros((len(view), 2))

    monkeypatch.setattr(evaluation, "_predict_once", record)  # the views, without a model or TensorFlow
    evaluation.predict_views(None, images, flip=flip, shift=shift)
    made = list(views.views_of(images, flip=flip, shift=shift))
    assert len(made) == len(scored) == (5 if shift else 1) * (2 if flip else 1)
    for ours, theirs in zip(made, scored, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert len({view.tobytes() for view in made}) == len(made)  # every view differs, so the order is checked


def test_views_keep_the_images_dtype_and_refuse_a_negative_shift():
    images = np.zeros((2, 6, 6), np.uint8)
    assert all(v.dtype == np.uint8 and v.shape == images.shape for v in views.views_of(images, flip=True, shift=1))
    with pytest.raises(ValueError, match="shift"):
        list(views.views_of(images, shift=-1))
