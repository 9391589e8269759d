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


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def test_average_scores_the_views_mean_logits_so_no_temperature_moves_a_label():
    """A face's score is the softmax of its views' mean logits (mean log-probability), so dividing every view's
    logits by a temperature (the released model's folded calibration) keeps each face's label, which the views'
    mean probability does not: these views are drawn so that it would move some."""
    rng = np.random.default_rng(0)
    # 10 views of 500 faces: a shared face logit plus a large per-view jitter, so the views disagree often.
    logits = rng.normal(size=(1, 500, 7)) * 2 + rng.normal(size=(10, 500, 7)) * 3
    joined = views.average(list(_softmax(logits)))
    np.testing.assert_allclose(joined, _softmax(logits.mean(axis=0)), atol=1e-12)
    labels = joined.argmax(axis=1)
    arithmetic_moved = 0
    for temperature in (0.3, 2.5, 10.0):
        scaled = list(_softmax(logits / temperature))
        np.testing.assert_array_equal(views.average(scaled).argmax(axis=1), labels)
        arithmetic_moved += np.count_nonzero(np.mean(scaled, axis=0).argmax(axis=1)
                                             != np.mean(_softmax(logits), axis=0).argmax(axis=1))
    assert arithmetic_moved > 0  # the property is the rule's, not these views'


def test_average_returns_one_view_as_it_is_and_survives_an_underflowed_probability():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(views.average([probabilities]), probabilities.astype(np.float64))
    joined = views.average([probabilities, probabilities[:, ::-1]])
    assert np.isfinite(joined).all()
    np.testing.assert_allclose(joined.sum(axis=1), 1.0)
    np.testing.assert_allclose(joined[0], _softmax(np.log([0.7 * 0.1, 0.2 * 0.2, 0.1 * 0.7]) / 2))
