"""The vgg_bn recipe on real faces: train it on a FER-2013 folder, print accuracy, macro F1, epochs and time.

Each ``--run NAME:KEY=VALUE,...`` trains ``train-vgg_bn`` and evaluates it in a
fresh copy of this repository (no outputs, no DVC cache) with ``data.raw_dir``
pointed at the given folder, params at their defaults plus ``-S`` overrides plus
the run's own; prepare runs once and is shared.  Per run it prints the test
accuracy and macro F1 (and, when the trial flip-averages, the single pass's too), epochs,
training seconds and images per second, beside the CPU.  ``--precision`` first
measures training images/second of the recipe's model (with the ``-S`` overrides)
per precision on random data.  Usage::

    python bench/fer_recipe.py <fer2013-dev> -S trials.vgg_bn.epochs=20       # the documented CPU recipe
    python bench/fer_recipe.py <fer2013-dev> -S trials.vgg_bn.epochs=4 \\
        --run base: --run balanced:trials.vgg_bn.class_weight=balanced               # an ablation, 2 runs
    python bench/fer_recipe.py --precision float32 mixed_bfloat16 auto               # speed only
    python bench/fer_recipe.py --precision float32 -S 'trials.vgg_bn.widths=[16,32,64,128]'   # another width's speed
    python bench/fer_recipe.py --precision mixed_bfloat16 --batch-norm fused keras   # the fused batch norm's gain

Report figures on the dev split as "FER-2013 dev split", never as FER-2013 test accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import shutil
import sys
import tempfile
import time
import unittest.mock
from collections.abc import Iterator
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_description  # noqa: E402
from bench.repro_time import timed_repro  # noqa: E402
from emotion_lib.config import PRECISIONS  # noqa: E402
from tests.pipeline_utils import make_tiny_repo, set_params  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def recipe_run(overrides: dict | None = None):
    """The vgg_bn trial as ``params.yaml`` configures it, with ``overrides`` (dotted keys, as ``-S``) applied."""
    from emotion_lib.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.yaml"
        shutil.copy2(REPO_ROOT / "params.yaml", params)
        set_params(params, overrides or {})
        return load_config(params).trial_run("vgg_bn")


def precision_speed(precisions: list[str], overrides: dict | None = None, steps: int = 40,
                    batch_size: int | None = None, batch_norms: tuple[str, ...] = ("fused",)) -> dict[str, float]:
    """Training images/second of the vgg_bn model (``-S`` overrides applied) per dtype policy, on random images.

    Batches of ``batch_size`` images, by default the trial's own (``trials.vgg_bn.batch_size``, so ``-S`` sets it).
    ``batch_norms`` also times the model with Keras' own ``BatchNormalization`` (``keras``) beside the fused one the
    trial uses (``fused``), each precision's two back to back, so the ratio shares the machine's state of the
    moment. Keys are ``precision`` for the fused layer alone, else ``precision/batch_norm``.
    """
    import numpy as np
    import tensorflow as tf

    from emotion_lib.inputs import without_autotune
    from emotion_lib.models import build_model
    from emotion_lib.precision import dtype_policy
    from emotion_lib.training import compile_model, make_optimizer

    run = recipe_run(overrides)
    batch_size = batch_size or run.batch_size
    shape = (batch_size * 8, run.model.image_size, run.model.image_size, run.model.channels)
    images = np.random.default_rng(0).integers(0, 256, shape).astype("float32")
    labels = np.random.default_rng(1).integers(0, 7, batch_size * 8)
    # Without autotuning, as in training: its thread's timed sleep would round each timed `fit` up to 10.24 * 2^k s.
    dataset = without_autotune(tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).cache().repeat())
    speeds = {}
    compared = batch_norms != ("fused",)
    for (precision, policy), batch_norm in itertools.product(dtype_policies(precisions), batch_norms):
        key = f"{precision}/{batch_norm}" if compared else precision
        with dtype_policy(policy), batch_norm_layer(batch_norm):
            model = build_model(run.model, num_classes=7, seed=0)
            compile_model(model, make_optimizer(run, steps), run.label_smoothing)
            # shuffle=False: Keras' default shuffle does not apply to a tf.data.Dataset, and says so in a warning.
            model.fit(dataset, steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)  # tracing and warm-up
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
            speeds[key] = steps * batch_size / (time.perf_counter() - start)
        label = (precision if precision == policy else f"{precision} ({policy})") + (
            f", {batch_norm} batch norm" if compared else "")
        print(f"{label:40s} {speeds[key]:7.1f} img/s (training, batch {batch_size}, {steps} steps)", flush=True)
    return speeds


BATCH_NORMS = ("fused", "keras")


@contextlib.contextmanager
def batch_norm_layer(kind: str) -> Iterator[None]:
    """Build vgg_bn's convolution blocks with the fused batch norm (``fused``, the trial's) or Keras' (``keras``).

    ``keras`` swaps the class the model factory instantiates for the parent it subclasses, which is what the
    trial used before the fused layer; only this benchmark does that, to keep the speed-up measurable.
    """
    import keras

    from emotion_lib import models

    if kind not in BATCH_NORMS:
        raise ValueError(f"batch norm {kind!r}: expected one of {', '.join(BATCH_NORMS)}")
    if kind == "fused":
        yield
        return
    with unittest.mock.patch.object(models, "FusedBatchNormalization", keras.layers.BatchNormalization):
        yield


def dtype_policies(precisions: list[str]) -> list[tuple[str, str]]:
    """Each ``train.precision`` value with the Keras dtype policy it means here (``auto`` resolved as training does)."""
    from emotion_lib.precision import machine_precision

    return [(precision, machine_precision(precision)) for precision in precisions]


def parse_run(text: str) -> tuple[str, dict]:
    name, _, settings = text.partition(":")
    overrides = {}
    # Commas inside brackets belong to a list value (trials.vgg_bn.widths=[16,32,64,128]).
    for item in filter(None, re.split(r",(?![^\[]*\])", settings)):
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    return name or "default", overrides


def report(repo: Path, name: str, seconds: dict[str, float]) -> dict:
    metrics = json.loads((repo / "metrics" / "details" / "vgg_bn.json").read_text())
    train = json.loads((repo / "metrics" / "train" / "vgg_bn" / "metrics.json").read_text())
    timing = json.loads((repo / "metrics" / "train" / "vgg_bn" / "timing.json").read_text())
    row = {
        "run": name, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_avg"]["f1"],
        "test_time_flip": metrics["test_time_flip"], "accuracy_without_flip": metrics.get("accuracy_without_flip"),
        "macro_f1_without_flip": metrics.get("macro_f1_without_flip"), "epochs": train["epochs_run"],
        "train_seconds": timing["train_seconds"], "images_per_second": timing["train_images_per_second"],
        "train_images": timing["train_images"], "precision": train["precision"],
        "stage_seconds": seconds.get("train-vgg_bn"),
    }
    single = ("" if row["accuracy_without_flip"] is None else
              f"; without it {row['accuracy_without_flip']:.4f} / {row['macro_f1_without_flip']:.4f}")
    print(f"{name:20s} accuracy {row['accuracy']:.4f}  macro F1 {row['macro_f1']:.4f}  "
          f"(test-time flip {'on' if row['test_time_flip'] else 'off'}{single})  {row['epochs']} epochs of "
          f"{row['train_images']} images in {row['train_seconds'] / 60:.1f} min ({row['images_per_second']:.0f} img/s, "
          f"{row['precision']})", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw_dir", type=Path, nargs="?", help="FER-2013 in the Kaggle folder layout")
    parser.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    parser.add_argument("--run", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="one training run with its own overrides (default: one run, no overrides)")
    parser.add_argument("--precision", nargs="*", choices=PRECISIONS, metavar="POLICY",
                        help=f"measure img/s per precision first ({' | '.join(PRECISIONS)})")
    parser.add_argument("--batch-norm", nargs="+", choices=BATCH_NORMS, default=["fused"], metavar="KIND",
                        help="with --precision: time the fused batch norm (the trial's) and/or Keras' own (keras)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print its path")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}", flush=True)
    set_overrides = parse_run("common:" + ",".join(args.set))[1]
    if args.precision:
        precision_speed(args.precision, set_overrides, batch_norms=tuple(args.batch_norm))
    if args.raw_dir is None:
        return
    if not (args.raw_dir / "train").is_dir():
        sys.exit(f"error: {args.raw_dir}/train does not exist; give a FER-2013 folder in the Kaggle layout")

    workdir = Path(tempfile.mkdtemp(prefix="fer-recipe-"))
    repo = make_tiny_repo(workdir / "repo")
    common = {"data.raw_dir": str(args.raw_dir.resolve())}
    common.update(set_overrides)
    rows = []
    for name, overrides in (parse_run(text) for text in (args.run or ["default:"])):
        shutil.copy2(REPO_ROOT / "params.yaml", repo / "params.yaml")  # the defaults, not the tests' tiny params
        set_params(repo / "params.yaml", {**common, **overrides})
        print(f"\n== run {name}: defaults + {common | overrides}", flush=True)
        seconds, _ = timed_repro(repo, "evaluate-vgg_bn", echo=True)
        rows.append(report(repo, name, seconds))
    print("\nFER-2013 dev split" if "fer2013-dev" in str(args.raw_dir) else f"\n{args.raw_dir}")
    for row in rows:
        print(f"  {row['run']:20s} acc {row['accuracy']:.4f}  F1 {row['macro_f1']:.4f}  {row['epochs']:3d} epochs  "
              f"{row['train_seconds'] / 60:5.1f} min  {row['images_per_second']:5.0f} img/s")
    if args.keep:
        print(f"kept: {repo}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
