"""Helpers for the end-to-end tests (a shrunk, self-contained copy of this repository driven by the real dvc CLI),
and for the tests of the benchmark scripts."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
# What a fresh clone holds that the pipeline needs; outputs, caches and the venv stay behind.
COPY = ["dvc.yaml", "params.yaml", "emotion_lib", "stages", ".dvc/config", ".dvcignore", ".gitignore",
        "dvc_plots_template"]

# The tiny configuration: a few hundred 48x48 images, 32 px scratch inputs (same padding), the smallest VGG16
# input, one epoch (ten for the baseline). It exercises every stage and every code path in about two minutes on 2 cores.
TINY_PARAMS = {
    "synthetic.scale": 0.1,
    "model.image_size": 32,
    "model.padding": "same",
    "pretrained.image_size": 32,
    "train.batch_size": 16,
    **{f"trials.{name}.epochs": 1 for name in
       ("baseline", "early_stopping", "augmentation", "dropout", "l2", "vgg16_features", "vgg16_finetune")},
    # vgg_bn: one epoch of a two-block, 4-8 filter network on the full split (about 2,000 images at scale 0.1).
    "trials.vgg_bn.epochs": 1,
    "trials.vgg_bn.warmup_epochs": 0,
    "trials.vgg_bn.widths": [4, 8],
    "trials.vgg_bn.dense_units": 8,
    # Enough for the baseline to learn (about 245 training images at 32 px), so the end-to-end test can check that
    # it beats chance; measured 0.328 test accuracy against 0.247 for always answering the majority class.
    "trials.baseline.epochs": 10,
    "trials.l2.dense_units": 16,
    "trials.vgg16_features.dense_units": 16,
}


def env() -> dict[str, str]:
    """The subprocess environment: this interpreter's venv first on PATH, no analytics, quiet TensorFlow."""
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["DVC_NO_ANALYTICS"] = "1"
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    # An empty Keras home: the weights stage must not find (or download) real ImageNet weights in tests.
    environment["KERAS_HOME"] = environment.get("EMOTION_TEST_KERAS_HOME", "/nonexistent-keras-home")
    for key, value in {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
                       "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}.items():
        environment.setdefault(key, value)
    return environment


def run(args: list[str], cwd: Path, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command in ``cwd``; on failure, raise with its output so the test log shows why."""
    result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd=cwd, check=check)


# A value for `edited` that removes the key instead of setting it.
DELETE = object()


def edited(params: dict, updates: dict) -> dict:
    """A deep copy of a params mapping with each dotted key of ``updates`` set (or removed, for ``DELETE``)."""
    params = json.loads(json.dumps(params))
    for dotted, value in updates.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return params


def set_params(params_path: Path, updates: dict) -> None:
    params = edited(yaml.safe_load(params_path.read_text()), updates)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_tiny_repo(destination: Path) -> Path:
    """Copy the pipeline into ``destination`` as a new git + DVC repository with the tiny params, committed."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    set_params(destination / "params.yaml", TINY_PARAMS)
    run(["git", "init", "-q"], cwd=destination)
    run(["git", "add", "-A"], cwd=destination)
    run(["git", "commit", "-q", "-m", "tiny pipeline"], cwd=destination)
    return destination


def commit_all(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", message], cwd=repo)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def changed_stages(repo: Path, *targets: str) -> set[str]:
    """The stages `dvc status [targets]` reports as changed (what the next `dvc repro [targets]` would run)."""
    out = dvc("status", "--json", *targets, cwd=repo).stdout
    return set(json.loads(out or "{}"))


def load_bench_script(name: str) -> types.ModuleType:
    """``bench/<name>.py`` loaded as a module (bench/ is scripts, not a package the tests import by name)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
