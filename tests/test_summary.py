"""Tests for emotion_lib.summary: the cross-trial markdown table, summary JSON, chart and CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from emotion_lib import EMOTIONS
from emotion_lib.errors import UserError
from emotion_lib.summary import ORIGINAL_ACCURACY, summarize


def _metrics(accuracy: float, macro_f1: float, macro_auc: float | None, **extra: object) -> dict:
    per_class = {
        e: {"precision": 0.5, "recall": 0.5, "f1": round(0.1 * i, 4), "support": 10, "auc": 0.7}
        for i, e in enumerate(EMOTIONS)
    }
    return {
        "accuracy": accuracy,
        "balanced_accuracy": round(accuracy + 0.0123, 4),
        "ece": 0.0456,
        "loss": 1.5,
        "macro_avg": {"precision": 0.5, "recall": 0.5, "f1": macro_f1},
        "weighted_avg": {"precision": 0.5, "recall": 0.5, "f1": macro_f1},
        "per_class": per_class,
        "macro_auc": macro_auc,
        "test_size": 70,
        **extra,
    }


@pytest.fixture()
def trial_files(tmp_path: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    metrics = {
        "baseline": _metrics(0.31, 0.29, 0.66),
        "l2": _metrics(0.14, 0.05, None),
        "vgg16_features": _metrics(0.45, 0.44, 0.81, backbone_source="random"),
    }
    train = {
        "baseline": {"epochs_run": 12, "train_seconds": 75.5, "trainable_params": 1066311},
        "vgg16_features": {"epochs_run": 3, "trainable_params": 3278855},
    }
    metrics_paths, train_paths = {}, {}
    for trial, data in metrics.items():
        metrics_paths[trial] = tmp_path / "metrics" / f"{trial}.json"
        metrics_paths[trial].parent.mkdir(parents=True, exist_ok=True)
        metrics_paths[trial].write_text(json.dumps(data))
    for trial, data in train.items():
        train_paths[trial] = tmp_path / "train" / f"{trial}.json"
        train_paths[trial].parent.mkdir(parents=True, exist_ok=True)
        train_paths[trial].write_text(json.dumps(data))
    return metrics_paths, train_paths


def _outputs(tmp_path: Path) -> dict[str, Path]:
    return {
        "out_markdown": tmp_path / "metrics" / "summary.md",
        "out_json": tmp_path / "metrics" / "summary.json",
        "out_plot": tmp_path / "plots" / "summary" / "comparison.png",
        "out_csv": tmp_path / "plots" / "summary" / "comparison.csv",
    }


def test_summarize_writes_all_outputs(tmp_path: Path, trial_files: tuple[dict, dict]) -> None:
    metrics_paths, train_paths = trial_files
    out = _outputs(tmp_path)
    result = summarize(metrics_paths=metrics_paths, train_metrics_paths=train_paths, **out)

    markdown = out["out_markdown"].read_text()
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    header, rows = table[0], table[2:]
    assert "original study's accuracy" in header and "balanced accuracy" in header and "macro F1" in header
    assert "macro AUC" in header and "ECE" in header and "seed" not in header
    assert all(f"F1 {e}" in header for e in EMOTIONS)
    assert len(rows) == 3
    # Rows follow the order of metrics_paths, and each shows the original study's number for its trial.
    for row, trial in zip(rows, ["baseline", "l2", "vgg16_features"], strict=True):
        assert trial in row
        assert f"{ORIGINAL_ACCURACY[trial]:.4f}" in row
    assert "1,066,311" in rows[0] and "1m 16s" in rows[0]
    cells = [cell.strip() for cell in rows[0].split("|")]
    # accuracy, balanced accuracy, the original study's, macro F1, macro AUC, ECE: in that order.
    assert cells[2:8] == ["0.3100", "0.3223", "0.3791", "0.2900", "0.6600", "0.0456"]
    assert "n/a" in rows[1]  # l2 has no training summary and no macro AUC
    # A random VGG16 backbone is said in words next to its row, and only there.
    assert "| random | random VGG16 backbone: the ImageNet weights could not be had" in rows[2]
    assert "near chance on real faces" in rows[2]
    assert "VGG16 backbone" not in rows[0] + rows[1]
    # The column holds where the backbone's weights came from (the backbone itself is in the trial's name).
    cells = dict(zip(header.split("|"), rows[2].split("|"), strict=True))
    assert cells[" backbone source "] == " random "
    assert "180×180×3" in markdown

    written = json.loads(out["out_json"].read_text())
    assert written == result
    assert written["best_trial"] == "vgg16_features"
    assert written["trial_order"] == ["baseline", "l2", "vgg16_features"]
    assert set(written["trials"]["l2"]) == {"accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "ece",
                                            "original_accuracy"}
    assert written["trials"]["l2"]["macro_auc"] is None
    assert written["trials"]["baseline"]["original_accuracy"] == 0.3791

    assert out["out_plot"].read_bytes().startswith(b"\x89PNG")
    with out["out_csv"].open() as f:
        rows_csv = list(csv.DictReader(f))
    assert list(rows_csv[0]) == ["trial", "metric", "value"]
    assert len(rows_csv) == 6
    assert {r["metric"] for r in rows_csv} == {"accuracy", "macro_f1"}


def test_summarize_without_training_summaries(tmp_path: Path, trial_files: tuple[dict, dict]) -> None:
    metrics_paths, _ = trial_files
    out = _outputs(tmp_path)
    out.pop("out_csv")
    summarize(metrics_paths=metrics_paths, train_metrics_paths=None, **out)
    assert out["out_markdown"].is_file()
    assert not (tmp_path / "plots" / "summary" / "comparison.csv").exists()


def test_summarize_missing_metrics_file(tmp_path: Path, trial_files: tuple[dict, dict]) -> None:
    metrics_paths, train_paths = trial_files
    metrics_paths = {**metrics_paths, "dropout": tmp_path / "metrics" / "dropout.json"}
    out = _outputs(tmp_path)
    with pytest.raises(UserError, match=r"dropout\.json"):
        summarize(metrics_paths=metrics_paths, train_metrics_paths=train_paths, **out)
    assert not out["out_markdown"].exists()
