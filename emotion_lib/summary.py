"""Cross-trial comparison: one table, one JSON and one chart over every trial of params.yaml.

``summarize`` is what the final ``summary`` stage runs.  It reads every
trial's evaluation figures (``metrics/details/<trial>.json`` from
:mod:`emotion_lib.evaluation`: every figure, per class too) and, when given, its training summary
(epochs run, training time, trainable parameters, backbone source), and
writes

* ``metrics/summary.md`` - a markdown table of all trials, with the original
  study's reported accuracy beside our accuracy and balanced accuracy;
* ``metrics/summary.json`` - per-trial accuracy, balanced accuracy, macro F1,
  macro AUC, calibration error and the original study's accuracy, plus the
  best trial (the table's data, for predict and the docs; the DVC metrics are
  the trials' own files);
* ``plots/summary/comparison.png`` - grouped bars of accuracy and macro F1;
* ``plots/summary/comparison.csv`` - the same numbers as ``trial,metric,value``
  rows for DVC's bar templates.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from emotion_lib import EMOTIONS, plotting
from emotion_lib.atomic import read_json, write_json, write_text

ORIGINAL_ACCURACY: dict[str, float] = {
    "baseline": 0.3791,
    "early_stopping": 0.3824,
    "augmentation": 0.3481,
    "dropout": 0.3431,
    "l2": 0.1242,
    "vgg16_features": 0.4641,
    "vgg16_finetune": 0.5033,
}
"""Test accuracy per trial as the original study reports it (a student project report, "Emotion Recognition",
Intelligent Systems course, Università di Pisa, 2022-23; sections 5-6): 306 near-balanced test images (34-55 per
class), 180x180x3 inputs."""

NA = "n/a"
"""How a value that a trial did not record is shown in the markdown table."""

ORIGINAL_CAPTION = (
    "The original study's accuracy is what the student report \"Emotion Recognition\" (Intelligent Systems, "
    "Università di Pisa, 2022–23) measured for the same trial on 306 near-balanced FER-2013 test images (34–55 "
    "per class, 180×180×3 inputs; a 95 % interval of about ±5 points). A test split with FER-2013's own "
    "proportions is imbalanced, so compare it with our balanced accuracy (the mean per-class recall); our "
    "columns come from whatever data and params this run used. ECE: top-label expected calibration error, 15 "
    "bins (lower is better calibrated)."
)


RANDOM_BACKBONE_NOTE = (
    "random VGG16 backbone: the ImageNet weights could not be had (offline), so this is not the original study's "
    "transfer learning and stays near chance on real faces; see README, \"VGG16 weights\""
)
"""Said in words next to every trial whose VGG16 backbone was randomly initialised."""


def _note(row: Mapping[str, Any]) -> str:
    return RANDOM_BACKBONE_NOTE if row.get("backbone_source") == "random" else ""


def _number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or ``None`` when it is missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    """Follow nested ``keys`` through dicts; ``None`` as soon as one is missing."""
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _fmt_float(value: Any, digits: int = 4) -> str:
    number = _number(value)
    return NA if number is None else f"{number:.{digits}f}"


def _fmt_int(value: Any) -> str:
    number = _number(value)
    return NA if number is None else f"{int(round(number)):,}"


def _fmt_seconds(value: Any) -> str:
    """Training time as seconds below a minute and as ``1h 02m 03s``-style text above."""
    number = _number(value)
    if number is None:
        return NA
    if number < 60:
        return f"{number:.1f} s"
    total = int(round(number))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def _fmt_text(value: Any) -> str:
    if value is None or value == "":
        return NA
    # A pipe would end the markdown cell early.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _emotion_columns(metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Emotions that appear in any trial's ``per_class``, in the canonical EMOTIONS order first."""
    seen: list[str] = []
    for data in metrics.values():
        per_class = data.get("per_class")
        if isinstance(per_class, Mapping):
            seen.extend(name for name in per_class if name not in seen)
    canonical = [e for e in EMOTIONS if e in seen]
    return canonical + [e for e in seen if e not in canonical]


def _training_value(train: Mapping[str, Any], metrics: Mapping[str, Any], key: str) -> Any:
    """Prefer the training summary's value; fall back to the copy evaluation stored from its ``extra``."""
    value = train.get(key)
    return metrics.get(key) if value is None else value


def _markdown(rows: list[dict[str, Any]], emotions: list[str], best: str | None) -> str:
    """Render the comparison table, its caption and a per-class F1 legend line as markdown."""
    header = (
        ["trial", "accuracy", "balanced accuracy", "original study's accuracy", "macro F1", "macro AUC", "ECE"]
        + [f"F1 {e}" for e in emotions]
        + ["epochs run", "training time", "trainable params", "backbone source", "note"]
    )
    align = ["---"] + ["---:"] * (6 + len(emotions) + 3) + ["---", "---"]
    lines = [
        "# Trial comparison",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
    ]
    for row in rows:
        name = f"**{row['trial']}**" if row["trial"] == best else row["trial"]
        cells = [
            _fmt_text(name),
            _fmt_float(row["accuracy"]),
            _fmt_float(row["balanced_accuracy"]),
            _fmt_float(row["original_accuracy"]),
            _fmt_float(row["macro_f1"]),
            _fmt_float(row["macro_auc"]),
            _fmt_float(row["ece"]),
            *(_fmt_float(row["per_class_f1"].get(e)) for e in emotions),
            _fmt_int(row["epochs_run"]) if _number(row["epochs_run"]) is not None else _fmt_text(row["epochs_run"]),
            _fmt_seconds(row["train_seconds"]),
            _fmt_int(row["trainable_params"]),
            _fmt_text(row["backbone_source"]),
            _note(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ORIGINAL_CAPTION]
    if best is not None:
        lines += ["", f"Best trial by accuracy (ties broken by macro F1): **{best}**."]
    return "\n".join(lines) + "\n"


def _comparison_csv(rows: list[dict[str, Any]]) -> str:
    """``trial,metric,value`` rows (accuracy and macro F1 per trial), skipping values a trial lacks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", "metric", "value"])
    for row in rows:
        for metric in ("accuracy", "macro_f1"):
            value = _number(row[metric])
            if value is not None:
                writer.writerow([row["trial"], metric, f"{value:.6f}"])
    return buffer.getvalue()


def _best_trial(rows: list[dict[str, Any]]) -> str | None:
    """Trial with the highest accuracy, then macro F1; the earliest in the given order wins exact ties."""
    scored = [
        (_number(r["accuracy"]), _number(r["macro_f1"]) or 0.0, -i, r["trial"])
        for i, r in enumerate(rows)
        if _number(r["accuracy"]) is not None
    ]
    return max(scored)[3] if scored else None


def summarize(
    *,
    metrics_paths: Mapping[str, Path],
    train_metrics_paths: Mapping[str, Path] | None,
    timing_paths: Mapping[str, Path] | None = None,
    out_markdown: Path,
    out_json: Path,
    out_plot: Path,
    out_csv: Path | None = None,
) -> dict:
    """Compare all trials and write the markdown table, summary JSON, comparison chart and (optionally) CSV.

    ``metrics_paths`` maps each trial, in the order it should be shown, to
    its evaluation metrics JSON; ``train_metrics_paths`` optionally maps
    trials to training summaries (``epochs_run``, ``train_seconds``,
    ``trainable_params``, ``backbone_source``; missing keys show as ``n/a``),
    and ``timing_paths`` to the per-trial ``timing.json`` holding ``train_seconds``.
    A listed file that does not exist raises :class:`UserError`.  Returns
    the dict written to ``out_json``.
    """
    if not metrics_paths:
        raise ValueError("summarize needs at least one trial in metrics_paths")
    train_metrics_paths = train_metrics_paths or {}
    unknown = sorted(set(train_metrics_paths) - set(metrics_paths))
    if unknown:
        raise ValueError(f"training summaries given for trials without metrics: {unknown}")

    rows = [_trial_row(trial, path, train_metrics_paths.get(trial), (timing_paths or {}).get(trial))
            for trial, path in metrics_paths.items()]
    emotions = _emotion_columns({row["trial"]: row["metrics"] for row in rows})
    best = _best_trial(rows)
    write_text(out_markdown, _markdown(rows, emotions, best))
    if out_csv is not None:
        write_text(out_csv, _comparison_csv(rows))
    _write_chart(rows, out_plot)
    summary = {
        "trials": {
            r["trial"]: {key: r[key] for key in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "ece",
                                                 "original_accuracy")}
            for r in rows
        },
        # JSON objects are written with sorted keys, so the display order is kept separately.
        "trial_order": [r["trial"] for r in rows],
        "best_trial": best,
        "best_accuracy": next((r["accuracy"] for r in rows if r["trial"] == best), None),
    }
    write_json(out_json, summary)
    return summary


def _trial_row(trial: str, path: Path, train_path: Path | None, timing_path: Path | None) -> dict[str, Any]:
    """One trial's row: its test figures, the original study's accuracy, and its training facts."""
    data = read_json(path, "metrics file", f"run `dvc repro evaluate-{trial}` first")
    train = {} if train_path is None else read_json(train_path, "training summary",
                                                    f"run `dvc repro train-{trial}` first")
    # Wall-clock figures live apart from the metrics so that those stay byte-identical across reruns.
    if timing_path is not None and Path(timing_path).is_file():
        train = {**read_json(timing_path, "timing file", f"run `dvc repro train-{trial}`"), **train}
    per_class = data.get("per_class") if isinstance(data.get("per_class"), Mapping) else {}
    return {
        "trial": trial,
        "metrics": data,
        "accuracy": _number(data.get("accuracy")),
        "balanced_accuracy": _number(data.get("balanced_accuracy")),
        "macro_f1": _number(_get(data, "macro_avg", "f1")),
        "macro_auc": _number(data.get("macro_auc")),
        "ece": _number(data.get("ece")),
        "original_accuracy": ORIGINAL_ACCURACY.get(trial),
        "per_class_f1": {name: _get(values, "f1") for name, values in per_class.items()},
        **{key: _training_value(train, data, key)
           for key in ("epochs_run", "train_seconds", "trainable_params", "backbone_source")},
    }


def _write_chart(rows: list[dict[str, Any]], out_plot: Path) -> None:
    fig = plotting.grouped_bar_chart(
        [r["trial"] for r in rows],
        {
            "accuracy": [r["accuracy"] for r in rows],
            "balanced accuracy": [r["balanced_accuracy"] for r in rows],
            "macro F1": [r["macro_f1"] for r in rows],
            "original study's accuracy": [r["original_accuracy"] for r in rows],
        },
        title="Test accuracy, balanced accuracy and macro F1 per trial (hatched: the original study's accuracy)",
        ylabel="score",
        ylim=(0.0, 1.05),
        hatches={"original study's accuracy": "//"},
        colors={"original study's accuracy": "#bdbdbd"},
    )
    plotting.save_png(fig, out_plot)


__all__ = ["ORIGINAL_ACCURACY", "summarize"]
