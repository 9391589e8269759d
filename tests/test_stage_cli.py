"""Every stage CLI turns a user mistake into one line on stderr and exit status 2, with no partial output.

Each case runs the real entry point (`python -m stages.<name>`) in a scratch
working directory holding a params.yaml derived from the real one, so the
stage sees exactly what a user's broken checkout would give it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.pipeline_utils import REPO_ROOT, env


def _workdir(tmp_path: Path, edit=None) -> Path:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    if edit:
        edit(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for package in ("emotion_lib", "stages"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _run_stage(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=workdir, env=env(), capture_output=True, text=True,
                          timeout=300)


def _assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def _set(dotted: str, value):
    def edit(params: dict) -> None:
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value

    return edit


def _prepared_data(workdir: Path) -> None:
    """A tiny data/prepared so that later stages get past their first input."""
    import numpy as np

    out = workdir / "data/prepared"
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        labels = np.repeat(np.arange(7), 2)
        np.savez(out / f"{split}.npz", images=rng.integers(0, 255, (14, 48, 48), dtype=np.uint8), labels=labels)
    emotions = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    (out / "meta.json").write_text(json.dumps({"emotions": emotions, "image_size": 48}))


def _training_summary(text: str, model: bytes | None = None):
    """data/prepared plus a training summary holding ``text`` (and a models/baseline.keras holding ``model``)."""
    def setup(workdir: Path) -> None:
        _prepared_data(workdir)
        (workdir / "metrics/train/baseline").mkdir(parents=True)
        (workdir / "metrics/train/baseline/metrics.json").write_text(text)
        if model is not None:
            (workdir / "models").mkdir()
            (workdir / "models/baseline.keras").write_bytes(model)

    return setup


CASES = [
    # (id, stage args, params edit, setup, substrings of the message, outputs that must not appear)
    ("typo-in-params", ["stages.synthesize"], _set("synthetic.scal", 0.1), None, ["synthetic.scal", "synthetic.scale"],
     ["data/raw/synthetic"]),
    ("bad-scale", ["stages.synthesize"], _set("synthetic.scale", -1), None, ["synthetic.scale"],
     ["data/raw/synthetic"]),
    ("missing-raw-dir", ["stages.prepare"], _set("data.raw_dir", "data/raw/nowhere"), None, ["data/raw/nowhere"],
     ["data/prepared", "metrics/prepare.json"]),
    ("val-fraction", ["stages.prepare"], _set("data.val_fraction", 1.2), None, ["data.val_fraction"],
     ["data/prepared"]),
    ("unknown-extension", ["stages.prepare"], _set("data.extensions", ["jpg", "heic"]), None, ["data.extensions"],
     ["data/prepared"]),
    ("weights-file-missing", ["stages.weights"], _set("pretrained.weights", "weights/nothere.h5"), None,
     ["nothere.h5"], ["models/pretrained"]),
    ("weights-strict-offline", ["stages.weights"], _set("pretrained.strict", True), None, ["pretrained"],
     ["models/pretrained"]),
    ("unknown-trial", ["stages.train", "basline"], None, None, ["unknown trial 'basline'", "baseline"],
     ["models/basline.keras"]),
    ("train-without-data", ["stages.train", "baseline"], None, None, ["data/prepared", "dvc repro prepare"],
     ["models/baseline.keras", "metrics/train/baseline"]),
    ("finetune-without-base", ["stages.train", "vgg16_finetune"], None, _prepared_data,
     ["vgg16_features.keras", "dvc repro"], ["models/vgg16_finetune.keras"]),
    ("too-small-input", ["stages.train", "baseline"], _set("model.image_size", 40), _prepared_data,
     ["model.image_size", "model.padding"], ["models/baseline.keras"]),
    ("evaluate-without-model", ["stages.evaluate", "baseline"], None, _prepared_data, ["train-baseline"],
     ["metrics/baseline.json", "metrics/details", "plots/baseline"]),
    ("summary-without-metrics", ["stages.summary"], None, None, ["metrics/", "dvc repro"],
     ["metrics/summary.json", "metrics/summary.md"]),
    ("negative-seed", ["stages.synthesize"], _set("seed", -5), None, ["seed: got -5"], ["data/raw/synthetic"]),
    ("evaluate-corrupt-training-summary", ["stages.evaluate", "baseline"], None, _training_summary("{bad"),
     ["metrics/train/baseline/metrics.json", "not valid JSON", "train-baseline"],
     ["metrics/baseline.json", "metrics/details"]),
    ("evaluate-truncated-model", ["stages.evaluate", "baseline"], None, _training_summary("{}", b"PK\x03\x04cut"),
     ["models/baseline.keras", "not a Keras model file", "train-baseline"],
     ["metrics/baseline.json", "metrics/details"]),
    ("missing-argument", ["stages.evaluate"], None, None, ["trial", "--help"], ["metrics"]),
]


@pytest.mark.parametrize(("case", "args", "edit", "setup", "needles", "absent"), CASES, ids=[c[0] for c in CASES])
def test_stage_reports_user_error_in_one_line(tmp_path, case, args, edit, setup, needles, absent):
    workdir = _workdir(tmp_path, edit)
    if setup:
        setup(workdir)
    result = _run_stage(workdir, *args)
    _assert_one_line_error(result, *needles)
    for path in absent:
        assert not (workdir / path).exists(), f"{case}: {path} was written despite the error"
