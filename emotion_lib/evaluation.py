"""Test-set evaluation of one trained trial: metrics JSON, text report and plots.

``evaluate_model`` is what the ``evaluate-<trial>`` stage runs.  It feeds the
prepared 48x48 grayscale test images through a saved Keras model and writes

* ``metrics/<trial>.json`` - the headline figures :data:`HEADLINE` (DVC metrics: what ``dvc metrics show``
  and ``dvc metrics diff`` compare across trials and commits, a screen wide);
* ``metrics/details/<trial>.json`` - every figure: those, macro/weighted averages, per-class
  precision/recall/F1/support/AUC, the figures without each test-time view, the model's size and training
  facts (read by the summary and the docs; not a DVC metric).
  ``loss`` is the cross-entropy of the test labels under the (view-averaged)
  probabilities, as Keras scores a softmax model (``emotion_lib.losses``), and
  nothing else: no weight penalty and no label smoothing, so it compares across
  trials (training's ``val_loss`` is the training objective, which has them);
* ``<plots_dir>/classification_report.txt`` - the original study's
  ``classification_report(digits=4)`` layout, with emotion names instead of
  class indices;
* ``<plots_dir>/confusion.csv`` - one ``actual,predicted`` row per test image
  for DVC's ``confusion`` templates;
* ``<plots_dir>/roc.csv`` - long-format one-vs-rest ROC points
  (``emotion,fpr,tpr``) for the ``dvc_plots_template/roc.json`` template;
* ``<plots_dir>/calibration.csv`` - the reliability curve (per confidence bin: mean confidence, accuracy,
  images), and ``<plots_dir>/reliability.png`` with the temperature-scaled curve beside it (see
  :mod:`emotion_lib.calibration`: ``ece``, ``temperature`` fitted on the validation split, ``ece_calibrated``);
* ``<plots_dir>/confusion.png`` and ``<plots_dir>/roc.png`` - static figures.

``compute_metrics`` and ``classification_report_text`` are pure functions of
label/probability arrays so they can be tested without TensorFlow.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from emotion_lib import calibration, plotting
from emotion_lib.atomic import write_json, write_text
from emotion_lib.errors import UserError
from emotion_lib.losses import sparse_categorical_crossentropy
from emotion_lib.views import average, views_of

# What metrics/<trial>.json holds, flat, so that `dvc metrics show` is one readable row per trial.
HEADLINE: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "loss", "ece",
                             "ece_calibrated", "epochs_run")


def headline(details: Mapping[str, Any]) -> dict:
    """The :data:`HEADLINE` figures of a trial's full metrics (``macro_f1`` is ``macro_avg.f1``), absent ones left
    out."""
    flat = {**details, "macro_f1": details["macro_avg"]["f1"]}
    return {key: flat[key] for key in HEADLINE if flat.get(key) is not None}


FLOAT_DECIMALS = 6
"""Floats in the metrics JSON are rounded to this many decimals so that diffs stay readable and stable."""


def _round_floats(value: Any, decimals: int = FLOAT_DECIMALS) -> Any:
    """Return ``value`` with every float rounded and numpy scalars turned into plain Python numbers.

    NaN and infinities become ``None`` because JSON has no spelling for them
    and DVC's metrics parser would reject the file.
    """
    if isinstance(value, Mapping):
        return {str(k): _round_floats(v, decimals) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round_floats(v, decimals) for v in value]
    if isinstance(value, np.ndarray):
        return [_round_floats(v, decimals) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return None
        # Adding 0.0 turns a rounded -0.0 into 0.0 so the JSON never shows "-0.0".
        return round(value, decimals) + 0.0
    return value


def _validate_arrays(
    y_true: np.ndarray, probabilities: np.ndarray, emotions: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and label range; return ``y_true`` as int64 and ``probabilities`` as float64."""
    n_classes = len(emotions)
    if n_classes < 2:
        raise ValueError(f"need at least two emotions, got {list(emotions)!r}")
    if len(set(emotions)) != n_classes:
        raise ValueError(f"emotion names must be unique, got {list(emotions)!r}")
    y = np.asarray(y_true)
    p = np.asarray(probabilities, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y_true must hold integer class indices, got dtype {y.dtype}")
    if p.ndim != 2 or p.shape != (y.shape[0], n_classes):
        raise ValueError(f"probabilities must have shape ({y.shape[0]}, {n_classes}), got {p.shape}")
    if y.shape[0] == 0:
        raise ValueError("cannot compute metrics on an empty test set")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, found {int(y.min())}..{int(y.max())}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities contain NaN or infinity (did training diverge?)")
    return y.astype(np.int64), p


def _one_vs_rest(y: np.ndarray, p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Return class ``k``'s one-vs-rest ROC curve and AUC, or ``None`` when it is undefined.

    AUC needs both positives and negatives: a class absent from the test
    labels (or the only class present) has no ROC curve, and sklearn would
    raise or warn instead of answering.
    """
    positives = y == k
    if positives.all() or not positives.any():
        return None
    fpr, tpr, _ = roc_curve(positives, p[:, k])
    return fpr, tpr, float(roc_auc_score(positives, p[:, k]))


def compute_metrics(
    *,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    emotions: Sequence[str],
    loss: float | None,
) -> dict:
    """Compute the evaluation metrics of one trial from labels and predicted class probabilities.

    Returns a JSON-ready dict with ``accuracy``, ``balanced_accuracy``, ``loss`` (omitted when
    ``None``), ``macro_avg`` and ``weighted_avg`` (``precision``, ``recall``,
    ``f1``), ``per_class.<emotion>`` (``precision``, ``recall``, ``f1``,
    ``support``, ``auc``), ``macro_auc`` and ``test_size``.  Floats are
    rounded to :data:`FLOAT_DECIMALS`.

    Precision/recall/F1 use ``zero_division=0`` like the original study's reports (its
    L2 trial predicts only two classes).  A class absent from
    ``y_true`` has an undefined AUC, written as ``null``; ``macro_auc`` is the
    unweighted mean over the classes whose AUC is defined (``null`` if none),
    matching sklearn's one-vs-rest macro AUC whenever every class is present.
    """
    y, p = _validate_arrays(y_true, probabilities, emotions)
    labels = list(range(len(emotions)))
    y_pred = p.argmax(axis=1)

    precision, recall, f1, support = precision_recall_fscore_support(
        y, y_pred, labels=labels, average=None, zero_division=0
    )
    per_class: dict[str, dict[str, Any]] = {}
    aucs: list[float] = []
    for k, name in enumerate(emotions):
        curve = _one_vs_rest(y, p, k)
        auc = None if curve is None else curve[2]
        if auc is not None:
            aucs.append(auc)
        per_class[name] = {
            "precision": precision[k],
            "recall": recall[k],
            "f1": f1[k],
            "support": int(support[k]),
            "auc": auc,
        }

    averages = {}
    for kind in ("macro", "weighted"):
        avg_p, avg_r, avg_f, _ = precision_recall_fscore_support(
            y, y_pred, labels=labels, average=kind, zero_division=0
        )
        averages[f"{kind}_avg"] = {"precision": avg_p, "recall": avg_r, "f1": avg_f}

    metrics: dict[str, Any] = {
        "accuracy": accuracy_score(y, y_pred),
        # The mean of the per-class recalls: what accuracy would be on a test set with every class equally
        # frequent, so it compares with the original study's figures, measured on near-balanced test images.
        # (scikit-learn's balanced_accuracy_score, without its warning for a class absent from the labels).
        "balanced_accuracy": float(np.mean(recall[support > 0])) if support.any() else 0.0,
        **averages,
        "per_class": per_class,
        "macro_auc": float(np.mean(aucs)) if aucs else None,
        "test_size": int(y.shape[0]),
    }
    if loss is not None:
        metrics["loss"] = float(loss)
    return _round_floats(metrics)


def classification_report_text(*, y_true: np.ndarray, y_pred: np.ndarray, emotions: Sequence[str]) -> str:
    """Return sklearn's text classification report (``digits=4``, as in the original study), emotions as row labels.

    Every emotion gets a row, even one with no support or no predictions,
    so reports of different trials line up row by row.
    """
    y = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if y.shape != pred.shape or y.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and equally long, got {y.shape} and {pred.shape}")
    return classification_report(
        y,
        pred,
        labels=list(range(len(emotions))),
        target_names=list(emotions),
        digits=4,
        zero_division=0,
    )


def _backbone_note(extra: Mapping[str, Any] | None) -> str | None:
    """Return the backbone source recorded for VGG16 trials (e.g. "random (ImageNet weights unavailable)")."""
    if not extra:
        return None
    source = extra.get("backbone_source")
    return None if source in (None, "") else str(source)


def _load_test_set(data_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``test.npz`` and the emotion names of ``meta.json`` from the prepared data directory."""
    from emotion_lib.inputs import load_split, read_emotions

    images, labels = load_split(data_dir, "test")  # A missing split is named before the metadata beside it.
    emotions = read_emotions(data_dir)
    _check_labels(labels, data_dir, "test", emotions)
    return images, labels, emotions


def load_checked_split(data_dir: Path, split: str, emotions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One prepared split's images and labels, its labels checked against the emotions of ``meta.json``."""
    from emotion_lib.inputs import load_split

    images, labels = load_split(data_dir, split)
    _check_labels(labels, data_dir, split, emotions)
    return images, labels


def _check_labels(labels: np.ndarray, data_dir: Path, split: str, emotions: Sequence[str]) -> None:
    if labels.min() < 0 or labels.max() >= len(emotions):
        raise UserError(
            f"{data_dir / f'{split}.npz'}: labels outside 0..{len(emotions) - 1} for the emotions in "
            f"{data_dir / 'meta.json'}"
        )


def predict_probabilities(model: Any, images: np.ndarray, *, batch_size: int = 64, test_time_flip: bool = False,
                          test_time_shift: int = 0, progress: bool = True) -> np.ndarray:
    """Run ``model`` on uint8 grayscale images (N, H, W) and return class probabilities as float64.

    The images reach the model through :func:`emotion_lib.inputs.make_dataset`, the input path of training,
    batch by batch, so a 180x180x3 input never holds the whole upscaled test set in memory.  With
    ``test_time_flip`` the result joins the probabilities for each image and for its mirror image
    (:func:`emotion_lib.views.average`; faces are left-right symmetric in expression; the models train on
    flipped copies).  A
    ``test_time_shift`` of k pixels adds the image moved k pixels up, down, left and right (each mirrored too
    with the flip: 10 views), which the models also trained on (``shift`` augmentation).  ``progress``
    prints each view's progress on stderr (``predict`` turns it off: it reports per image instead).
    """
    views = predict_views(model, images, batch_size=batch_size, flip=test_time_flip, shift=test_time_shift,
                          progress=progress)
    return average(views)


def predict_views(model: Any, images: np.ndarray, *, batch_size: int = 64, flip: bool = False,
                  shift: int = 0, progress: bool = True) -> list[np.ndarray]:
    """The class probabilities of every test-time view of ``images`` (:func:`emotion_lib.views.views_of`, the
    views predict's two backends score too), one array per view, in its order.  :func:`predict_probabilities`
    joins them (:func:`emotion_lib.views.average`).
    """
    return [_predict_once(model, view, batch_size, progress) for view in views_of(images, flip=flip, shift=shift)]


def _averages(views: list[np.ndarray], flip: bool,
              shift: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The probabilities of all the test-time views joined (:func:`emotion_lib.views.average`), the single
    pass's, and the unshifted views' joined.

    The second is None without ``flip``, the third None without ``shift``: each is what the score would be
    without that kind of view.
    """
    unshifted = average(views[:2]) if flip else views[0]
    return average(views), (views[0] if flip else None), (unshifted if shift else None)


def _predict_once(model: Any, images: np.ndarray, batch_size: int, progress: bool = True) -> np.ndarray:
    from emotion_lib.inputs import input_geometry, make_dataset
    from emotion_lib.models import are_probabilities
    from emotion_lib.progress import PredictProgress

    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    image_size, channels = input_geometry(model)
    dataset = make_dataset(images, None, image_size=image_size, channels=channels, batch_size=batch_size)
    callbacks = [PredictProgress(f"predicting {len(images)} images", int(dataset.cardinality()))] if progress else []
    probabilities = np.asarray(model.predict(dataset, verbose=0, callbacks=callbacks), dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] != images.shape[0]:
        raise ValueError(f"model returned shape {probabilities.shape} for {images.shape[0]} images")
    if not are_probabilities(probabilities):
        raise ValueError(
            "model outputs are not probabilities (rows must be non-negative and sum to 1): "
            "the final layer must use a softmax activation"
        )
    return probabilities


def _write_confusion_csv(path: Path, y_true: np.ndarray, y_pred: np.ndarray, emotions: Sequence[str]) -> None:
    """Write one ``actual,predicted`` row per test image, with emotion names, atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["actual", "predicted"])
    writer.writerows((emotions[a], emotions[b]) for a, b in zip(y_true.tolist(), y_pred.tolist(), strict=True))
    write_text(path, buffer.getvalue())


def _write_roc_csv(path: Path, curves: Mapping[str, tuple[np.ndarray, np.ndarray, float] | None]) -> None:
    """Write the one-vs-rest ROC points in long format (``emotion,fpr,tpr``); undefined curves are left out."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["emotion", "fpr", "tpr"])
    for name, curve in curves.items():
        if curve is None:
            continue
        fpr, tpr, _ = curve
        writer.writerows((name, f"{f:.6g}", f"{t:.6g}") for f, t in zip(fpr.tolist(), tpr.tolist(), strict=True))
    write_text(path, buffer.getvalue())


def _title(trial: str, what: str, backbone: str | None) -> str:
    """Figure title naming the trial, and the backbone source for VGG16 trials."""
    title = f"{trial}: {what}"
    return f"{title}\nbackbone: {backbone}" if backbone else title


def _write_calibration(plots_dir: Path, trial: str, backbone: str | None, y: np.ndarray, p: np.ndarray,
                       scaled: np.ndarray, metrics: Mapping[str, Any]) -> None:
    """``calibration.csv`` (the model's reliability curve, for DVC) and ``reliability.png`` (with the scaled one)."""
    rows = calibration.reliability(y, p)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["bin", "confidence", "accuracy", "images"])
    for row in rows:
        writer.writerow([row["bin"], f"{row['confidence']:.6f}", f"{row['accuracy']:.6f}", row["count"]])
    write_text(plots_dir / "calibration.csv", buffer.getvalue())
    curves = {f"as trained (ECE {metrics['ece']:.3f})": calibration.top_label(y, p),
              f"temperature {metrics['temperature']:.2f} (ECE {metrics['ece_calibrated']:.3f})":
                  calibration.top_label(y, scaled)}
    title = _title(trial, f"reliability, {calibration.N_BINS} bins (test split)", backbone)
    plotting.save_png(plotting.reliability_diagram(curves, title=title, n_bins=calibration.N_BINS),
                      plots_dir / "reliability.png")


def _write_report(plots_dir: Path, trial: str, backbone: str | None, y: np.ndarray, y_pred: np.ndarray,
                  loss: float | None, emotions: Sequence[str]) -> None:
    """``classification_report.txt``: a header naming the trial, then sklearn's report."""
    header = [f"trial: {trial}"]
    if backbone:
        header.append(f"backbone: {backbone}")
    header.append(f"test images: {y.shape[0]}")
    if loss is not None:
        header.append(f"loss: {loss:.4f}")
    report = classification_report_text(y_true=y, y_pred=y_pred, emotions=emotions)
    write_text(plots_dir / "classification_report.txt", "\n".join(header) + "\n\n" + report)


def _write_confusion(plots_dir: Path, trial: str, backbone: str | None, y: np.ndarray, y_pred: np.ndarray,
                     emotions: Sequence[str], accuracy: float) -> None:
    """``confusion.csv`` (DVC's confusion templates) and its row-normalised heatmap."""
    _write_confusion_csv(plots_dir / "confusion.csv", y, y_pred, emotions)
    counts = confusion_matrix(y, y_pred, labels=list(range(len(emotions))))
    plotting.save_png(
        plotting.confusion_heatmap(
            counts,
            emotions,
            title=_title(trial, f"confusion matrix, row-normalised (accuracy {accuracy:.4f})", backbone),
        ),
        plots_dir / "confusion.png",
    )


def _write_roc(plots_dir: Path, trial: str, backbone: str | None, y: np.ndarray, p: np.ndarray,
               emotions: Sequence[str], macro_auc: float | None) -> None:
    """``roc.csv`` (the ROC template) and the one-vs-rest curves' figure."""
    curves = {name: _one_vs_rest(y, p, k) for k, name in enumerate(emotions)}
    _write_roc_csv(plots_dir / "roc.csv", curves)
    macro_text = "n/a" if macro_auc is None else f"{macro_auc:.4f}"
    plotting.save_png(
        plotting.roc_curves(curves, title=_title(trial, f"one-vs-rest ROC (macro AUC {macro_text})", backbone)),
        plots_dir / "roc.png",
    )


def write_evaluation_outputs(
    *,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    emotions: Sequence[str],
    loss: float | None,
    trial: str,
    metrics_path: Path,
    details_path: Path,
    plots_dir: Path,
    extra: Mapping[str, Any] | None = None,
    temperature: float = 1.0,
    views: Sequence[np.ndarray] | None = None,
) -> dict:
    """Compute the metrics and write them (every figure to ``details_path``, the :func:`headline` to
    ``metrics_path``), the text report, CSVs and PNGs for one trial; return every figure.

    ``temperature`` (fitted on the validation split by :func:`evaluate_model`) gives ``ece_calibrated``, the
    calibration error of the temperature-scaled probabilities (of ``views``, the per-view probabilities
    ``probabilities`` joins: :func:`emotion_lib.calibration.scaled_views`); the metrics themselves are the
    model's own, and the temperature changes no label.

    Split from :func:`evaluate_model` so that everything except the Keras
    forward pass can be exercised without TensorFlow.  Keys in ``extra``
    (``backbone_source``, ``epochs_run``, ``trainable_params``, ...) are
    copied into the metrics JSON; they may not shadow a computed metric.
    """
    metrics = compute_metrics(y_true=y_true, probabilities=probabilities, emotions=emotions, loss=loss)
    scaled = calibration.scaled_views(views if views is not None else [probabilities], temperature)
    metrics.update(_round_floats({"ece": calibration.expected_calibration_error(y_true, probabilities),
                                  "temperature": temperature,
                                  "ece_calibrated": calibration.expected_calibration_error(y_true, scaled)}))
    extra = dict(extra or {})
    clashes = sorted(set(extra) & set(metrics))
    if clashes:
        raise ValueError(f"extra keys {clashes} would overwrite computed metrics")
    metrics.update(_round_floats(extra))

    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    y_pred = p.argmax(axis=1)
    backbone = _backbone_note(extra)
    plots_dir = Path(plots_dir)

    _write_report(plots_dir, trial, backbone, y, y_pred, loss, emotions)
    _write_confusion(plots_dir, trial, backbone, y, y_pred, emotions, metrics["accuracy"])
    _write_roc(plots_dir, trial, backbone, y, p, emotions, metrics["macro_auc"])
    _write_calibration(plots_dir, trial, backbone, y, p, scaled, metrics)

    # The metrics files go last: DVC treats them as the stage's headline output, and a crash
    # while plotting must not leave fresh metrics beside stale plots.
    write_json(details_path, metrics)
    write_json(metrics_path, headline(metrics))
    return metrics


def evaluate_model(
    *,
    model_path: Path,
    data_dir: Path,
    trial: str,
    metrics_path: Path,
    details_path: Path,
    plots_dir: Path,
    batch_size: int = 64,
    test_time_flip: bool = False,
    test_time_shift: int = 0,
    extra: dict | None = None,
) -> dict:
    """Evaluate the saved model of ``trial`` on the prepared test set and write all evaluation outputs.

    ``test_time_flip`` averages each image's prediction with its mirror image's (recorded in the metrics as
    ``test_time_flip``, with the single pass's ``accuracy_without_flip`` and ``macro_f1_without_flip`` beside);
    ``test_time_shift`` adds four shifted views of each (see :func:`predict_probabilities`; recorded as
    ``test_time_shift``, with ``accuracy_without_shift`` and ``macro_f1_without_shift`` beside).

    Loads ``model_path`` with :func:`emotion_lib.models.load_model` (Keras safe mode), reads
    ``data_dir/test.npz`` and ``data_dir/meta.json``, predicts in batches of
    ``batch_size`` and writes ``metrics_path``, ``details_path`` plus ``classification_report.txt``,
    ``confusion.csv``, ``confusion.png``, ``roc.csv`` and ``roc.png`` under
    ``plots_dir``.  Returns the metrics dict that was written.
    """
    model_path = Path(model_path)
    data_dir = Path(data_dir)
    if not model_path.is_file():
        raise UserError(f"model file {model_path} not found: train the trial first (run `dvc repro train-{trial}`)")
    images, labels, emotions = _load_test_set(data_dir)

    from emotion_lib.models import load_model

    model = load_model(model_path, remedy=f"re-train it with `dvc repro train-{trial}`")
    n_outputs = model.output_shape[-1]
    if n_outputs != len(emotions):
        raise UserError(
            f"model {model_path} predicts {n_outputs} classes but {data_dir / 'meta.json'} lists {len(emotions)} "
            f"emotions; re-train it on the current data with `dvc repro train-{trial}`"
        )

    views = predict_views(model, images, batch_size=batch_size, flip=test_time_flip, shift=test_time_shift)
    probabilities, single_pass, unshifted = _averages(views, test_time_flip, test_time_shift)
    loss = sparse_categorical_crossentropy(labels, probabilities)
    # The temperature is fitted on the validation split, scored as the test split is (same views): never on test.
    val_images, val_labels = load_checked_split(data_dir, "val", emotions)
    temperature = calibration.fit_temperature(val_labels, predict_views(
        model, val_images, batch_size=batch_size, flip=test_time_flip, shift=test_time_shift))
    extra = {**(extra or {}), "test_time_flip": bool(test_time_flip), "test_time_shift": int(test_time_shift)}
    # The figures without each kind of extra view beside the averaged ones, so every run measures what they add.
    for suffix, fewer_views in (("without_flip", single_pass), ("without_shift", unshifted)):
        if fewer_views is not None:
            fewer = compute_metrics(y_true=labels, probabilities=fewer_views, emotions=emotions, loss=None)
            extra.update({f"accuracy_{suffix}": fewer["accuracy"], f"macro_f1_{suffix}": fewer["macro_avg"]["f1"]})
    return write_evaluation_outputs(
        y_true=labels,
        probabilities=probabilities,
        emotions=emotions,
        loss=loss,
        trial=trial,
        metrics_path=Path(metrics_path),
        details_path=Path(details_path),
        plots_dir=Path(plots_dir),
        extra=extra,
        temperature=temperature,
        views=views,
    )


__all__ = [
    "classification_report_text",
    "compute_metrics",
    "evaluate_model",
    "headline",
    "predict_probabilities",
    "predict_views",
    "write_evaluation_outputs",
]
