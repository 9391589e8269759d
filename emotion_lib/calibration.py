"""Whether a model's scores mean probabilities: top-label calibration error, reliability curve, temperature.

A classifier is calibrated when, of the faces it labels with confidence 0.8,
80 % are right.  The top-label expected calibration error (ECE) bins the test
images by the confidence of the predicted label (15 equal-width bins, the
usual choice since Guo et al. 2017) and averages ``|accuracy - confidence|``
over the bins, weighted by how many images each holds.  The bins are
scikit-learn's (:func:`sklearn.calibration.calibration_curve`, ``strategy
"uniform"``), and the curve is its curve, so the figures here are the ones
its ``CalibrationDisplay`` draws.

Temperature scaling (Guo et al. 2017) divides the logits by one number T
fitted on the **validation** split, so the softmax gets softer (T > 1, an
overconfident model) or sharper; the predicted label never changes, so
accuracy and every label-based figure stay as they are.  Every model of the
project ends in a softmax, whose logits are the log-probabilities up to a
per-image constant, so ``softmax(log(p) / T)`` is the rescaled model.  With test-time views the face's
score is the softmax of the views' mean log-probability (:func:`emotion_lib.views.average`), so scaling each
view's logits, as a model with T folded into its classifier does, scales the mean: the label stays the same.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from emotion_lib.losses import log_probabilities, softmax, sparse_categorical_crossentropy
from emotion_lib.views import average

N_BINS = 15
# Temperatures searched (log-uniformly): far beyond what a trained network needs on either side.
TEMPERATURE_RANGE = (0.05, 20.0)


def top_label(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per image, whether the predicted label is right (0/1) and the probability it was given."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    correct = (probabilities.argmax(axis=1) == np.asarray(labels)).astype(np.int64)
    return correct, probabilities.max(axis=1)


def reliability(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, float]]:
    """The reliability curve: per non-empty confidence bin, its mean confidence, its accuracy and its image count.

    The bins and the rule for which bin a confidence on an edge falls in are scikit-learn's
    (``calibration_curve(correct, confidence, n_bins, strategy="uniform")``, which tests/test_calibration.py
    holds these points to).
    """
    correct, confidence = top_label(labels, probabilities)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence)
    return [{"bin": int(index), "lower": float(edges[index]), "upper": float(edges[index + 1]),
             "confidence": float(confidence[bins == index].mean()), "accuracy": float(correct[bins == index].mean()),
             "count": int(np.count_nonzero(bins == index))}
            for index in np.unique(bins)]


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, n_bins: int = N_BINS) -> float:
    """Top-label ECE: the image-weighted mean over bins of ``|accuracy - mean confidence|``."""
    rows = reliability(labels, probabilities, n_bins)
    total = sum(row["count"] for row in rows)
    return float(sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in rows) / total)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(p) / T)``: the model's probabilities with its logits divided by ``temperature``.

    Exact while no probability has underflowed float32 (a logit gap under about 87); past that the lost logit is
    taken as log of float32's smallest normal, which a model with the temperature folded in does not do."""
    return softmax(log_probabilities(probabilities) / float(temperature))


def scaled_views(views: Sequence[np.ndarray], temperature: float) -> np.ndarray:
    """The face's temperature-scaled probabilities from its views': what a model whose classifier has the
    temperature folded in (:func:`emotion_lib.models.fold_temperature`) scores, its views joined by
    :func:`emotion_lib.views.average`.  That is the joined score, scaled: the same label at every temperature."""
    return apply_temperature(average(views), temperature)


def fit_temperature(labels: np.ndarray, views: np.ndarray | Sequence[np.ndarray]) -> float:
    """The temperature that minimises the cross-entropy of ``labels`` (the validation split's) under the scaled
    probabilities: one array, or one per test-time view (joined by :func:`emotion_lib.views.average`, then
    scaled, as a model with the temperature folded in scores them); 1.0 leaves the model as it is."""
    views = [views] if isinstance(views, np.ndarray) and views.ndim == 2 else list(views)
    joined = average(views)
    low, high = np.log(TEMPERATURE_RANGE)

    def loss(log_temperature: float) -> float:
        return sparse_categorical_crossentropy(labels, apply_temperature(joined, np.exp(log_temperature)))

    result = minimize_scalar(loss, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))
