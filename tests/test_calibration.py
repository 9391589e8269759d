"""Top-label calibration: the reliability curve is scikit-learn's, the ECE is its weighted gap, and the
temperature scales the scores without moving a single predicted label."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from emotion_lib import calibration
from emotion_lib.losses import sparse_categorical_crossentropy
from emotion_lib.views import average


def _overconfident(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softened probabilities, scored with the sharp ones: an overconfident model."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 7)) * 2.5
    soft = np.exp(logits / 2.5)
    soft /= soft.sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=row) for row in soft])
    sharp = np.exp(logits)
    return labels, sharp / sharp.sum(axis=1, keepdims=True)


def test_the_reliability_curve_is_scikit_learns():
    labels, probabilities = _overconfident()
    # Confidences on bin edges, which scikit-learn puts in the lower bin.
    probabilities[:3] = np.full(7, (1 - 2 / 15) / 6)
    probabilities[:3, 0] = 2 / 15
    correct, confidence = calibration.top_label(labels, probabilities)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=15, strategy="uniform")
    rows = calibration.reliability(labels, probabilities)
    np.testing.assert_allclose([row["accuracy"] for row in rows], prob_true)
    np.testing.assert_allclose([row["confidence"] for row in rows], prob_pred)
    assert sum(row["count"] for row in rows) == len(labels)


def test_ece_is_the_image_weighted_gap_between_accuracy_and_confidence():
    # Two images at 0.95, one right: accuracy 0.5; two at 0.55, both right: accuracy 1. Gaps 0.45 and 0.45.
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.45, 0.55], [0.45, 0.55]])
    labels = np.array([0, 1, 1, 1])
    assert calibration.expected_calibration_error(labels, probabilities) == pytest.approx(0.45)
    # Against scikit-learn's curve, weighted by each bin's images (counted independently, by confidence * 15).
    labels, probabilities = _overconfident(seed=1)
    correct, confidence = calibration.top_label(labels, probabilities)
    prob_true, prob_pred = calibration_curve(correct, confidence, n_bins=15, strategy="uniform")
    counts = np.bincount(np.minimum((confidence * 15).astype(int), 14), minlength=15)
    weights = counts[counts > 0] / len(labels)
    assert calibration.expected_calibration_error(labels, probabilities) == pytest.approx(
        float(np.sum(weights * np.abs(prob_true - prob_pred))), abs=1e-12)


def test_the_fitted_temperature_calibrates_an_overconfident_model_without_moving_its_labels():
    labels, probabilities = _overconfident(seed=2)
    temperature = calibration.fit_temperature(labels, probabilities)
    assert temperature > 1.5  # the labels were drawn at temperature 2.5
    scaled = calibration.apply_temperature(probabilities, temperature)
    assert np.array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    assert sparse_categorical_crossentropy(labels, scaled) < sparse_categorical_crossentropy(labels, probabilities)
    assert (calibration.expected_calibration_error(labels, scaled)
            < calibration.expected_calibration_error(labels, probabilities) / 2)
    # Temperature 1 is the model itself.
    np.testing.assert_allclose(calibration.apply_temperature(probabilities, 1.0), probabilities, atol=1e-12)


def test_a_temperature_folded_into_the_classifier_scores_what_calibration_computes():
    """The released model carries its temperature in its classifier: per view, its scores are the scaled ones, so
    joining its views gives calibration.scaled_views of the unscaled model's views (what evaluate reports), with the
    unscaled model's labels."""
    from emotion_lib.architecture import VggBnSpec
    from emotion_lib.evaluation import predict_views
    from emotion_lib.models import build_model, fold_temperature

    spec = VggBnSpec(image_size=16, widths=(4,), dense_units=8)
    model = build_model(spec, num_classes=7, seed=0)
    classifier = model.get_layer("classifier")
    # Sharper logits than an untrained model's, so the temperature matters.
    classifier.set_weights([weight * 40 for weight in classifier.get_weights()])
    images = np.random.default_rng(0).integers(0, 256, (12, 16, 16), dtype=np.uint8)
    views = predict_views(model, images, flip=True, shift=1, progress=False)
    folded = predict_views(fold_temperature(model, 2.5), images, flip=True, shift=1, progress=False)
    np.testing.assert_allclose(average(folded), calibration.scaled_views(views, 2.5), atol=1e-5)
    assert not np.allclose(average(folded), average(views), atol=1e-3)
    np.testing.assert_array_equal(average(folded).argmax(axis=1), average(views).argmax(axis=1))
