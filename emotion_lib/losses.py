"""Cross-entropy of predicted probabilities, as Keras computes it for a softmax model from its logits.

Used wherever only probabilities are at hand: the test loss ``evaluate`` reports (probabilities averaged over
test-time views) and the validation loss training computes on cached frozen-prefix activations
(``emotion_lib.training``).  Keras' losses clip probabilities to [1e-7, 1 - 1e-7] when given probabilities,
but ``model.fit`` and ``model.evaluate`` score a model that ends in a softmax from the softmax's logits,
unclipped: a confident mistake (the true class at 1e-12) costs 27.6 there, not the clip's 16.1.  So the
probabilities here are only floored at float32's smallest normal number, which keeps the log finite and agrees
with the logits' log-softmax to float32 precision for every probability a float32 softmax can represent (a logit
gap over ~87 underflows the probability, and then the loss saturates at 87.3 where Keras' keeps growing).
The same floored log (:func:`log_probabilities`) and :func:`softmax` turn probabilities back into logits and
back wherever the project rescales or joins them (calibration's temperature, the test-time views' join).

No TensorFlow here: training and evaluation both import this module, and it must not couple their reruns to more.
"""

from __future__ import annotations

import numpy as np

PROBABILITY_FLOOR = float(np.finfo(np.float32).tiny)
"""Smallest probability taken as is; below it (a float32 underflow), log(p) would be -inf."""


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``log(p)`` in float64, ``p`` floored at :data:`PROBABILITY_FLOOR`: a softmax model's logits, up to a
    per-row constant."""
    return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), PROBABILITY_FLOOR))


def softmax(logits: np.ndarray) -> np.ndarray:
    """The softmax over the last axis, computed from the logits less their row maximum (no overflow)."""
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def sparse_categorical_crossentropy(labels: np.ndarray, probabilities: np.ndarray,
                                    label_smoothing: float = 0.0) -> float:
    """Mean cross-entropy of integer ``labels`` under ``probabilities`` (rows over classes).

    With ``label_smoothing`` s the targets are Keras': (1 - s) on the labelled class plus s / classes on every
    class (``emotion_lib.models.SmoothedSparseCrossentropy``).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(f"labels must be 1-D with one entry per row of probabilities, got {y.shape} and {p.shape}")
    log_p = log_probabilities(p)
    picked = log_p[np.arange(y.size), y]
    if label_smoothing == 0:
        return float(-np.mean(picked))
    smoothed = (1.0 - label_smoothing) * picked + label_smoothing / p.shape[1] * log_p.sum(axis=1)
    return float(-np.mean(smoothed))


__all__ = ["PROBABILITY_FLOOR", "log_probabilities", "softmax", "sparse_categorical_crossentropy"]
