"""Tests for emotion_lib.evaluation: metrics against sklearn, the text report, and evaluate_model end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from emotion_lib import EMOTIONS
from emotion_lib.errors import UserError
from emotion_lib.evaluation import (
    classification_report_text,
    compute_metrics,
    evaluate_model,
)


def _random_case(n: int = 120, n_classes: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels covering every class and softmax-like probabilities that are right more often than chance."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), y] += 1.5
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y.astype(np.int64), p


def test_compute_metrics_matches_sklearn() -> None:
    y, p = _random_case()
    pred = p.argmax(axis=1)
    m = compute_metrics(y_true=y, probabilities=p, emotions=EMOTIONS, loss=1.25)

    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-6)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-6)
    assert m["macro_avg"]["f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), abs=1e-6)
    assert m["weighted_avg"]["f1"] == pytest.approx(f1_score(y, pred, average="weighted", zero_division=0), abs=1e-6)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, zero_division=0)
    for k, name in enumerate(EMOTIONS):
        row = m["per_class"][name]
        assert row["precision"] == pytest.approx(precision[k], abs=1e-6)
        assert row["recall"] == pytest.approx(recall[k], abs=1e-6)
        assert row["f1"] == pytest.approx(f1[k], abs=1e-6)
        assert row["support"] == support[k]
        assert row["auc"] == pytest.approx(roc_auc_score(y == k, p[:, k]), abs=1e-6)
    assert m["macro_auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-6)
    assert m["loss"] == 1.25
    assert m["test_size"] == len(y)
    # Rounded to 6 decimals and JSON-serialisable as plain Python types.
    assert json.loads(json.dumps(m)) == m
    assert m["accuracy"] == round(m["accuracy"], 6)


def test_compute_metrics_absent_class_has_null_auc() -> None:
    y, p = _random_case()
    keep = y != 1  # drop every "disgust" image
    y, p = y[keep], p[keep]
    m = compute_metrics(y_true=y, probabilities=p, emotions=EMOTIONS, loss=None)

    assert m["per_class"]["disgust"]["auc"] is None
    assert m["per_class"]["disgust"]["support"] == 0
    assert m["per_class"]["disgust"]["recall"] == 0.0
    present = [roc_auc_score(y == k, p[:, k]) for k in range(7) if k != 1]
    assert m["macro_auc"] == pytest.approx(np.mean(present), abs=1e-6)
    assert "loss" not in m


def test_compute_metrics_rejects_bad_input() -> None:
    y, p = _random_case()
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(y_true=y, probabilities=p[:, :6], emotions=EMOTIONS, loss=None)
    with pytest.raises(ValueError, match="labels"):
        compute_metrics(y_true=y + 1, probabilities=p, emotions=EMOTIONS, loss=None)


def test_classification_report_uses_emotion_names() -> None:
    y, p = _random_case()
    text = classification_report_text(y_true=y, y_pred=p.argmax(axis=1), emotions=EMOTIONS)
    for name in EMOTIONS:
        assert name in text
    assert "macro avg" in text and "weighted avg" in text
    # digits=4 as in the original study's reports.
    assert any(len(tok) == 6 and tok.startswith("0.") for tok in text.split())


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x32x3 Rescaling -> Flatten -> Dense(7, softmax) model saved in the native .keras format."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1.0 / 255)(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(len(EMOTIONS), activation="softmax")(x)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def _write_data(data_dir: Path, n: int = 30) -> np.ndarray:
    rng = np.random.default_rng(1)
    data_dir.mkdir(parents=True, exist_ok=True)
    labels = rng.integers(0, len(EMOTIONS), n).astype(np.int64)
    labels[labels == 1] = 0  # "disgust" absent: its AUC must be null rather than crash
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    np.savez(data_dir / "test.npz", images=images, labels=labels)
    # The validation split, which the temperature is fitted on (never the test split).
    np.savez(data_dir / "val.npz", images=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
             labels=rng.integers(0, len(EMOTIONS), n).astype(np.int64))
    (data_dir / "meta.json").write_text(json.dumps({"emotions": list(EMOTIONS)}))
    return labels


def test_evaluate_model_end_to_end(tmp_path: Path, tiny_model: Path) -> None:
    labels = _write_data(tmp_path / "data")
    metrics_path = tmp_path / "metrics" / "vgg16_features.json"
    details_path = tmp_path / "metrics" / "details" / "vgg16_features.json"
    plots_dir = tmp_path / "plots" / "vgg16_features"
    extra = {"backbone_source": "random (ImageNet weights unavailable)", "epochs_run": 3, "train_seconds": 1.23456789}

    result = evaluate_model(
        model_path=tiny_model,
        data_dir=tmp_path / "data",
        trial="vgg16_features",
        metrics_path=metrics_path,
        details_path=details_path,
        plots_dir=plots_dir,
        batch_size=8,
        extra=extra,
    )

    for name in ("classification_report.txt", "confusion.csv", "confusion.png", "roc.png", "roc.csv",
                 "calibration.csv", "reliability.png"):
        assert (plots_dir / name).is_file(), name
    written = json.loads(details_path.read_text())
    assert written == result
    # The declared metrics file holds the headline alone, flat: one short row per trial in `dvc metrics show`.
    assert json.loads(metrics_path.read_text()) == {
        "accuracy": result["accuracy"], "balanced_accuracy": result["balanced_accuracy"],
        "macro_f1": result["macro_avg"]["f1"], "macro_auc": result["macro_auc"], "loss": result["loss"],
        "ece": result["ece"], "ece_calibrated": result["ece_calibrated"], "epochs_run": 3}
    for key in ("accuracy", "loss", "macro_avg", "weighted_avg", "per_class", "macro_auc", "test_size"):
        assert key in written
    assert written["test_size"] == len(labels)
    assert written["per_class"]["disgust"]["auc"] is None
    assert written["backbone_source"] == extra["backbone_source"]
    assert written["train_seconds"] == 1.234568
    assert set(written["per_class"]) == set(EMOTIONS)

    with (plots_dir / "confusion.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(labels)
    assert {r["actual"] for r in rows} | {r["predicted"] for r in rows} <= set(EMOTIONS)
    assert [r["actual"] for r in rows] == [EMOTIONS[i] for i in labels]

    report = (plots_dir / "classification_report.txt").read_text()
    assert report.startswith("trial: vgg16_features\nbackbone: random (ImageNet weights unavailable)")
    assert "surprise" in report
    assert not list(tmp_path.rglob(".*tmp-*")), "atomic writes left temporary files behind"


def test_evaluate_model_loss_is_keras_loss_for_confident_mistakes(tmp_path: Path) -> None:
    """The reported test loss is what ``model.evaluate`` gives, also where the true class gets p < 1e-7.

    Keras scores a softmax model from its logits, unclipped; a loss clipped at 1e-7 (what Keras' losses do with
    bare probabilities) reported less for confidently wrong models.
    """
    keras = pytest.importorskip("keras")
    from emotion_lib.inputs import make_dataset
    from emotion_lib.models import load_model

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(len(EMOTIONS), activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(keras.layers.Rescaling(1.0 / 255)(inputs))))
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 12.0, bias])  # logit gaps of tens: confident, often wrong
    model_path = tmp_path / "confident.keras"
    model.save(model_path)
    labels = _write_data(tmp_path / "data")
    metrics_path = tmp_path / "metrics.json"
    written = evaluate_model(model_path=model_path, data_dir=tmp_path / "data", trial="baseline",
                             metrics_path=metrics_path, details_path=tmp_path / "details.json",
                             plots_dir=tmp_path / "plots", batch_size=8)

    with np.load(tmp_path / "data" / "test.npz") as arrays:
        dataset = make_dataset(arrays["images"], labels, image_size=32, channels=3, batch_size=8)
    loaded = load_model(model_path)
    true_class = loaded.predict(dataset, verbose=0)[np.arange(len(labels)), labels]
    assert 1e-30 < true_class.min() < 1e-7  # the case under test is present, and within float32's range
    loaded.compile(loss="sparse_categorical_crossentropy")
    assert written["loss"] == pytest.approx(loaded.evaluate(dataset, verbose=0), rel=1e-5)


def test_evaluate_model_missing_model(tmp_path: Path) -> None:
    _write_data(tmp_path / "data")
    with pytest.raises(UserError, match=r"dvc repro train-baseline"):
        evaluate_model(
            model_path=tmp_path / "models" / "baseline.keras",
            data_dir=tmp_path / "data",
            trial="baseline",
            metrics_path=tmp_path / "m.json", details_path=tmp_path / "details" / "m.json",
            plots_dir=tmp_path / "plots",
        )


def test_evaluate_model_missing_data(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(UserError, match="test.npz"):
        evaluate_model(
            model_path=tiny_model,
            data_dir=tmp_path / "nowhere",
            trial="baseline",
            metrics_path=tmp_path / "m.json", details_path=tmp_path / "details" / "m.json",
            plots_dir=tmp_path / "plots",
        )
    assert not (tmp_path / "m.json").exists() and not (tmp_path / "details").exists()


def test_test_time_flip_joins_the_image_and_its_mirror(tmp_path: Path, tiny_model: Path) -> None:
    from emotion_lib.evaluation import predict_probabilities
    from emotion_lib.models import load_model

    labels = _write_data(tmp_path / "data")
    with np.load(tmp_path / "data" / "test.npz") as arrays:
        images = arrays["images"]
    model = load_model(tiny_model)
    plain = predict_probabilities(model, images, batch_size=8)
    mirrored = predict_probabilities(model, images[:, :, ::-1], batch_size=8)
    averaged = predict_probabilities(model, images, batch_size=8, test_time_flip=True)
    # The Dense model is not mirror-symmetric, so the joined score differs from either pass: it is their
    # normalised geometric mean (the softmax of the passes' mean logits).
    assert not np.allclose(plain, mirrored)
    geometric = np.sqrt(plain * mirrored)
    np.testing.assert_allclose(averaged, geometric / geometric.sum(axis=1, keepdims=True), rtol=1e-6)

    written = {}
    for flip in (False, True):
        written[flip] = evaluate_model(model_path=tiny_model, data_dir=tmp_path / "data", trial="t",
                                       metrics_path=tmp_path / f"m{flip}.json",
                                       details_path=tmp_path / "details" / f"m{flip}.json",
                                       plots_dir=tmp_path / f"p{flip}",
                                       batch_size=8, test_time_flip=flip)
        assert written[flip]["test_time_flip"] is flip
    expected = float(np.mean(averaged.argmax(axis=1) == labels))
    assert written[True]["accuracy"] == pytest.approx(expected, abs=1e-6)
    # The flip-averaged run also records the single pass it averaged, which is the flip-off run's result.
    single = float(np.mean(plain.argmax(axis=1) == labels))
    assert written[True]["accuracy_without_flip"] == pytest.approx(single, abs=1e-6)
    assert written[True]["accuracy_without_flip"] == written[False]["accuracy"]
    assert written[True]["macro_f1_without_flip"] == written[False]["macro_avg"]["f1"]
    assert "accuracy_without_flip" not in written[False]


def test_shifted_moves_the_image_and_repeats_its_edge() -> None:
    from emotion_lib.views import shifted

    images = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    down = shifted(images, 1, 0)
    np.testing.assert_array_equal(down[:, 1:], images[:, :-1])
    np.testing.assert_array_equal(down[:, 0], images[:, 0])
    left = shifted(images, 0, -2)
    np.testing.assert_array_equal(left[:, :, :3], images[:, :, 2:])
    np.testing.assert_array_equal(left[:, :, 3], images[:, :, 4])
    np.testing.assert_array_equal(left[:, :, 4], images[:, :, 4])


def test_test_time_shift_joins_ten_views_and_records_what_the_shifts_add(tmp_path: Path,
                                                                            tiny_model: Path) -> None:
    from emotion_lib.evaluation import predict_probabilities
    from emotion_lib.models import load_model
    from emotion_lib.views import average, shifted

    labels = _write_data(tmp_path / "data")
    with np.load(tmp_path / "data" / "test.npz") as arrays:
        images = arrays["images"]
    model = load_model(tiny_model)
    views = []
    for dy, dx in ((0, 0), (2, 0), (-2, 0), (0, 2), (0, -2)):
        moved = shifted(images, dy, dx)
        views += [predict_probabilities(model, moved, batch_size=8),
                  predict_probabilities(model, moved[:, :, ::-1], batch_size=8)]
    ten = predict_probabilities(model, images, batch_size=8, test_time_flip=True, test_time_shift=2)
    np.testing.assert_allclose(ten, average(views), rtol=1e-6)
    five = predict_probabilities(model, images, batch_size=8, test_time_shift=2)
    np.testing.assert_allclose(five, average(views[::2]), rtol=1e-6)

    written = {}
    for shift in (0, 2):
        written[shift] = evaluate_model(model_path=tiny_model, data_dir=tmp_path / "data", trial="t",
                                        metrics_path=tmp_path / f"m{shift}.json",
                                        details_path=tmp_path / "details" / f"m{shift}.json",
                                        plots_dir=tmp_path / f"p{shift}",
                                        batch_size=8, test_time_flip=True, test_time_shift=shift)
        assert written[shift]["test_time_shift"] == shift
    assert written[2]["accuracy"] == pytest.approx(float(np.mean(ten.argmax(axis=1) == labels)), abs=1e-6)
    # Beside the ten views' figures: the flip's alone (the shift-off run's) and the single pass's.
    assert written[2]["accuracy_without_shift"] == written[0]["accuracy"]
    assert written[2]["macro_f1_without_shift"] == written[0]["macro_avg"]["f1"]
    assert written[2]["accuracy_without_flip"] == written[0]["accuracy_without_flip"]
    assert "accuracy_without_shift" not in written[0]


def test_evaluate_model_fits_the_temperature_on_validation_and_keeps_every_label_figure(tmp_path: Path,
                                                                                         tiny_model: Path) -> None:
    """The temperature comes from the validation split (the test split never tunes anything); scaling by it moves
    the calibration error, never the predicted labels, so accuracy and every label-based figure are the model's."""
    from emotion_lib import calibration
    from emotion_lib.evaluation import predict_probabilities
    from emotion_lib.models import load_model

    labels = _write_data(tmp_path / "data")
    written = evaluate_model(model_path=tiny_model, data_dir=tmp_path / "data", trial="t",
                             metrics_path=tmp_path / "m.json", details_path=tmp_path / "details" / "m.json",
                             plots_dir=tmp_path / "plots", batch_size=8)
    model = load_model(tiny_model)
    with np.load(tmp_path / "data" / "val.npz") as arrays:
        val_images, val_labels = arrays["images"], arrays["labels"]
    with np.load(tmp_path / "data" / "test.npz") as arrays:
        test = predict_probabilities(model, arrays["images"], batch_size=8)
    temperature = calibration.fit_temperature(val_labels, predict_probabilities(model, val_images, batch_size=8))
    assert written["temperature"] == pytest.approx(temperature, abs=1e-6)
    assert written["temperature"] != pytest.approx(calibration.fit_temperature(labels, test), abs=1e-3)
    assert written["ece"] == pytest.approx(calibration.expected_calibration_error(labels, test), abs=1e-6)
    scaled = calibration.apply_temperature(test, temperature)
    assert written["ece_calibrated"] == pytest.approx(calibration.expected_calibration_error(labels, scaled),
                                                      abs=1e-6)
    assert np.array_equal(scaled.argmax(axis=1), test.argmax(axis=1))
    unscaled = compute_metrics(y_true=labels, probabilities=test, emotions=EMOTIONS, loss=None)
    rescaled = compute_metrics(y_true=labels, probabilities=scaled, emotions=EMOTIONS, loss=None)
    for key in ("accuracy", "balanced_accuracy", "macro_avg", "weighted_avg"):
        assert rescaled[key] == unscaled[key] == written[key], key
    rows = list(csv.DictReader((tmp_path / "plots" / "calibration.csv").open()))
    assert sum(int(row["images"]) for row in rows) == len(labels)


def test_the_temperature_moves_no_label_when_the_views_are_joined(tmp_path: Path, tiny_model: Path) -> None:
    """With vgg_bn's 10 views, evaluate's ece_calibrated is the calibration error of the temperature-scaled joined
    views, whose labels are the unscaled ones: accuracy is unchanged by construction, not by luck."""
    from emotion_lib import calibration
    from emotion_lib.evaluation import predict_views
    from emotion_lib.models import load_model
    from emotion_lib.views import average

    labels = _write_data(tmp_path / "data")
    written = evaluate_model(model_path=tiny_model, data_dir=tmp_path / "data", trial="t",
                             metrics_path=tmp_path / "m.json", details_path=tmp_path / "details" / "m.json",
                             plots_dir=tmp_path / "plots", batch_size=8, test_time_flip=True, test_time_shift=2)
    model = load_model(tiny_model)
    with np.load(tmp_path / "data" / "test.npz") as arrays:
        views = predict_views(model, arrays["images"], batch_size=8, flip=True, shift=2, progress=False)
    scaled = calibration.scaled_views(views, written["temperature"])
    assert written["ece_calibrated"] == pytest.approx(calibration.expected_calibration_error(labels, scaled),
                                                      abs=1e-6)
    for temperature in (written["temperature"], 0.2, 15.0):
        np.testing.assert_array_equal(calibration.scaled_views(views, temperature).argmax(axis=1),
                                      average(views).argmax(axis=1))
    assert written["accuracy"] == pytest.approx(float(np.mean(scaled.argmax(axis=1) == labels)), abs=1e-6)
