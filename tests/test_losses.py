"""emotion_lib.losses: the cross-entropy evaluate reports and cached validation logs, against Keras' own."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from emotion_lib.losses import PROBABILITY_FLOOR, sparse_categorical_crossentropy


def _logits(n: int = 64, classes: int = 7, scale: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, classes, n).astype(np.int64), (rng.normal(size=(n, classes)) * scale).astype("float32")


def _keras_loss(labels: np.ndarray, logits: np.ndarray, label_smoothing: float = 0.0) -> float:
    """Keras' loss of a softmax model, as fit/evaluate compute it: from the logits."""
    one_hot = keras.ops.one_hot(labels, logits.shape[1])
    losses = keras.losses.categorical_crossentropy(one_hot, logits, from_logits=True,
                                                   label_smoothing=label_smoothing)
    return float(np.mean(keras.ops.convert_to_numpy(losses)))


def _softmax(logits: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


def test_loss_is_the_mean_negative_log_probability_of_the_label():
    labels, logits = _logits()
    p = _softmax(logits).astype(np.float64)
    expected = -np.mean(np.log(p[np.arange(labels.size), labels]))
    assert sparse_categorical_crossentropy(labels, p) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("scale", [1.0, 12.0], ids=["moderate", "confident"])
def test_loss_of_probabilities_equals_keras_loss_from_logits(scale, label_smoothing):
    # At scale 12 many labelled classes get p < 1e-7, where a clip at Keras' epsilon would report far less.
    labels, logits = _logits(scale=scale)
    probabilities = _softmax(logits)
    if scale > 1:
        assert probabilities[np.arange(labels.size), labels].min() < 1e-7
    assert sparse_categorical_crossentropy(labels, probabilities, label_smoothing) == pytest.approx(
        _keras_loss(labels, logits, label_smoothing), rel=1e-5)


def test_an_underflowed_probability_costs_the_floor_not_infinity():
    labels = np.array([0, 1])
    probabilities = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    assert sparse_categorical_crossentropy(labels, probabilities) == pytest.approx(-np.log(PROBABILITY_FLOOR) / 2)


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="one entry per row"):
        sparse_categorical_crossentropy(np.array([0, 1, 2]), np.full((2, 7), 1 / 7))
