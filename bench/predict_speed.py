"""Benchmark: how many faces per second ``python -m emotion_lib.predict`` handles on this machine.

Two workloads, both read from files in a temporary folder, as the command does:

* ``--no-detect`` crops: FER-style 48x48 grayscale PNGs, one face each (read, normalise, batch, predict);
* full photos: scikit-image's 512x512 astronaut photo repeated (read, face detection with predict's default
  detector, crop, normalise, batch, predict), one face each.

The model is ``--model`` if given, else ``models/<best trial>.keras`` if present, else the best trial's
architecture built from params.yaml with untrained weights (the same computation, so the same speed).
Each figure is the best of ``--repeats`` timed passes after one warm-up pass; TensorFlow's start-up
(a few seconds per command) is not included.  Not a test: it prints figures for docs/predict.md.

Usage::

    .venv/bin/python bench/predict_speed.py [--crops 2000] [--photos 100] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from emotion_lib import EMOTIONS, faces, predict  # noqa: E402


def cpu_model() -> str:
    """The CPU's name and the cores this process may use, from lscpu."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = "unknown CPU (lscpu unavailable)"
    return f"{name}, {len(os.sched_getaffinity(0))} cores usable"


def bench_model(model_arg: str | None, folder: Path) -> tuple[Path, str]:
    """The model to time and a line saying what it is."""
    if model_arg:
        return Path(model_arg), f"model {model_arg}"
    path, _ = predict.default_model()
    if path.is_file():
        return path, f"model {path} (best trial)"
    from emotion_lib.config import load_config
    from emotion_lib.models import build_model

    config = load_config(predict.PARAMS_FILE)
    trial = config.trial(path.stem)
    if trial.backbone != "scratch" or trial.dense_units or trial.init_from:
        raise SystemExit(f"{path} is absent and trial {trial.name!r} is not a plain scratch CNN; pass --model")
    model = build_model(config.trial_run(trial.name).model, num_classes=len(EMOTIONS), seed=config.seed)
    saved = folder / f"{trial.name}_untrained.keras"
    model.save(saved)
    return saved, (f"{trial.name} architecture, untrained ({path} absent): "
                   f"{config.model.image_size}x{config.model.image_size}x{config.model.channels}, "
                   f"{model.count_params():,} parameters")


def timed(files: list[predict.InputFile], model, detector, batch_size: int, repeats: int) -> tuple[float, int]:
    """Best seconds over ``repeats`` passes (after a warm-up) and the faces found per pass."""
    list(predict.predict_files(files[:batch_size], model, detector=detector, image_size=48, batch_size=batch_size))
    best, n_faces = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        results = [r for _, r, _ in predict.predict_files(files, model, detector=detector, image_size=48,
                                                          batch_size=batch_size)]
        best = min(best, time.perf_counter() - start)
        n_faces = sum(len(r.faces) for r in results)
        if any(r.error for r in results):
            raise SystemExit(f"unexpected read errors: {[r.error for r in results if r.error][:3]}")
    return best, n_faces


def main() -> None:
    """Write the test files, time both workloads, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras model (default: the best trial, or its untrained architecture)")
    parser.add_argument("--crops", type=int, default=2000, help="48x48 crops for the --no-detect run")
    parser.add_argument("--photos", type=int, default=100, help="copies of the astronaut photo")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="predict-bench-"))
    try:
        rng = np.random.default_rng(0)
        crop_files = []
        for i in range(args.crops):
            path = folder / "crops" / f"{i:05d}.png"
            path.parent.mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(path)
            crop_files.append(predict.InputFile(path, Path(path.name)))
        astronaut = Path(skimage.data.__file__).parent / "astronaut.png"
        photo_files = []
        for i in range(args.photos):
            path = folder / "photos" / f"{i:04d}.png"
            path.parent.mkdir(exist_ok=True)
            shutil.copy(astronaut, path)
            photo_files.append(predict.InputFile(path, Path(path.name)))

        model_path, what = bench_model(args.model, folder)
        model = predict.load_classifier(model_path)
        print(f"CPU: {cpu_model()}")
        print(f"model: {what}; batch size {args.batch_size}; best of {args.repeats}")
        seconds, n = timed(crop_files, model, None, args.batch_size, args.repeats)
        print(f"--no-detect 48x48 crops: {n} faces in {seconds:.2f} s = {n / seconds:,.0f} faces/s")
        seconds, n = timed(photo_files, model, faces.make_detector(), args.batch_size, args.repeats)
        print(f"512x512 photos (astronaut), detection on: {n} faces in {args.photos} photos in {seconds:.2f} s = "
              f"{n / seconds:,.1f} faces/s ({args.photos / seconds:,.1f} photos/s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
