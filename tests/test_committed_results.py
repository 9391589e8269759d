"""Checks of the results main carries (metrics/ is committed so that it diffs across commits).

These read the committed default-run outputs, so they fail when a change to the code or params makes the
default study say something else and the rerun results are committed: the claims the README makes of them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_every_trial_of_params_yaml_has_committed_results():
    trials = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["trials"]
    summary = json.loads((REPO_ROOT / "metrics/summary.json").read_text())
    assert summary["trial_order"] == list(trials)


def test_vgg_bn_beats_every_original_study_trial_on_the_default_data():
    summary = json.loads((REPO_ROOT / "metrics/summary.json").read_text())
    accuracy = {trial: values["accuracy"] for trial, values in summary["trials"].items()}
    original_best = max(value for trial, value in accuracy.items() if trial != "vgg_bn")
    assert accuracy["vgg_bn"] > original_best, accuracy
    assert summary["best_trial"] == "vgg_bn"
    metrics = json.loads((REPO_ROOT / "metrics/details/vgg_bn.json").read_text())
    assert metrics["test_time_flip"] is True
    # The flip-averaged evaluation carries its single pass too (emotion_lib.evaluation.evaluate_model), and the
    # shifted views' the flip pair's alone.
    assert {"accuracy_without_flip", "macro_f1_without_flip"} <= set(metrics)
    shift = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["evaluate"]["vgg_bn"]["test_time_shift"]
    assert metrics["test_time_shift"] == shift > 0
    assert {"accuracy_without_shift", "macro_f1_without_shift"} <= set(metrics)
    train = json.loads((REPO_ROOT / "metrics/train/vgg_bn/metrics.json").read_text())
    assert train["train_split"] == "full" and train["precision"] in ("float32", "mixed_bfloat16")
    # main's results were made with TensorFlow's oneDNN kernels, the default on x86 (emotion_lib/__init__.py).
    assert train["onednn"] is True


def test_the_readmes_default_data_sizes_are_the_committed_ones():
    """README "Results at a glance" quotes the default run's split sizes; prepare's committed counts must agree."""
    readme = (REPO_ROOT / "README.md").read_text()
    counts = json.loads((REPO_ROOT / "metrics/prepare.json").read_text())["counts"]
    quoted = re.search(r"leaves ([\d,]+) training, ([\d,]+) validation and ([\d,]+) test images", readme)
    full = re.search(r"on the ([\d,]+) images of the full synthetic\s+split", readme)
    assert quoted and full, "README no longer quotes the default split sizes where this test looks"
    splits = counts["splits"]
    as_ints = [int(text.replace(",", "")) for text in quoted.groups()]
    assert as_ints == [splits["train"]["total"], splits["val"]["total"], splits["test"]["total"]]
    assert int(full.group(1).replace(",", "")) == counts["train_full"]["total"]


def test_dvc_metrics_show_is_the_study_a_screen_wide():
    """`dvc metrics show` on main: one row per trial, its headline figures, at most 40 columns (the per-class
    figures, prepare's counts and the summary table are in files that are not DVC metrics)."""
    trials = list(yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["trials"])
    shown = subprocess.run([sys.executable, "-m", "dvc", "metrics", "show", "--md"], cwd=REPO_ROOT, check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()
    header = [cell.strip() for cell in shown[0].strip("|").split("|")]
    assert len(header) <= 40, header
    assert {"accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "loss", "ece"} <= set(header), header
    assert not [column for column in header if "per_class" in column or "counts" in column], header
    rows = [row.split("|")[1].strip() for row in shown[2:]]
    assert rows == [f"metrics/{trial}.json" for trial in trials]
    # Every figure the headline leaves out is still written, where the summary reads it.
    emotions = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())["data"]["emotions"]
    assert set(json.loads((REPO_ROOT / "metrics/details/vgg_bn.json").read_text())["per_class"]) == set(emotions)
