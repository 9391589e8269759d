"""The study on real faces: run every trial on a FER-2013 folder and print each beside the original study's.

Runs `dvc repro summary` in a fresh copy of this repository (no outputs, no DVC
cache) with ``data.raw_dir`` pointed at the given folder and every other param
at its default (unless overridden with ``-S``), then prints, per trial: test
accuracy, balanced accuracy (the figure comparable to the original study's, measured on near-balanced test
images), macro F1, the original study's reported accuracy, epochs run, the training
loss of epochs 1-3 (the real-faces check: the original study's stack used to sit at
ln 7 = 1.9459), and the stage's wall time, with the CPU.  Usage::

    python bench/fer_study.py <fer2013-dev>                 # the FER-2013 dev split
    python bench/fer_study.py /data/fer2013 -S trials.baseline.epochs=30 --keep

The folder must be in the Kaggle layout (``train/<emotion>/*.jpg``, ``test/<emotion>/*.jpg``).  Report figures on
the dev split as "FER-2013 dev split", never as FER-2013 test accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_description  # noqa: E402
from bench.repro_time import timed_repro  # noqa: E402
from emotion_lib.summary import ORIGINAL_ACCURACY  # noqa: E402
from tests.pipeline_utils import make_tiny_repo, set_params  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def first_losses(repo: Path, trial: str, epochs: int = 3) -> list[float]:
    path = repo / "metrics" / "train" / trial / "plots" / "metrics" / "train" / "loss.tsv"
    return [float(line.split("\t")[-1]) for line in path.read_text().splitlines()[1 : 1 + epochs]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw_dir", type=Path, help="FER-2013 in the Kaggle folder layout")
    parser.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print its path")
    args = parser.parse_args()
    if not (args.raw_dir / "train").is_dir():
        sys.exit(f"error: {args.raw_dir}/train does not exist; give a FER-2013 folder in the Kaggle layout")

    workdir = Path(tempfile.mkdtemp(prefix="fer-study-"))
    repo = make_tiny_repo(workdir / "repo")
    shutil.copy2(REPO_ROOT / "params.yaml", repo / "params.yaml")  # the defaults, not the tests' tiny params
    overrides = {"data.raw_dir": str(args.raw_dir.resolve())}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    set_params(repo / "params.yaml", overrides)
    print(f"CPU: {cpu_description()}")
    print(f"params: defaults + {overrides}")
    seconds, total = timed_repro(repo, "summary", echo=True)

    prepared = json.loads((repo / "metrics" / "prepare.json").read_text())["counts"]["splits"]
    print(f"\ndata: train {prepared['train']['total']}, val {prepared['val']['total']}, "
          f"test {prepared['test']['total']} images")
    print(f"{'trial':16s} {'accuracy':>8s} {'balanced':>8s} {'macro F1':>8s} {'original':>8s} {'epochs':>6s}  "
          f"{'train loss, epochs 1-3':24s} {'train s':>7s}")
    for trial in json.loads((repo / "metrics" / "summary.json").read_text())["trial_order"]:
        metrics = json.loads((repo / "metrics" / "details" / f"{trial}.json").read_text())
        train = json.loads((repo / "metrics" / "train" / trial / "metrics.json").read_text())
        losses = " ".join(f"{loss:.4f}" for loss in first_losses(repo, trial))
        print(f"{trial:16s} {metrics['accuracy']:8.4f} {metrics['balanced_accuracy']:8.4f} "
              f"{metrics['macro_avg']['f1']:8.4f} "
              f"{ORIGINAL_ACCURACY.get(trial, math.nan):8.4f} {train['epochs_run']:6d}  {losses:24s} "
              f"{seconds.get(f'train-{trial}', math.nan):7.0f}"
              + ("   (random VGG16 backbone)" if train.get("backbone_source") == "random" else ""))
    print(f"ln 7 = {math.log(7):.4f} (a network predicting the uniform distribution)")
    print(f"wall time of `dvc repro summary`: {total:.0f} s ({total / 60:.1f} min)")
    if args.keep:
        print(f"kept: {repo}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
