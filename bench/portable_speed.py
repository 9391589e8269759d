"""Benchmark: predict with an exported ONNX copy (onnxruntime, no TensorFlow) against the Keras model it came from.

For each backend, the real command, ``python -m emotion_lib.predict``, in a fresh process as a user runs it:

* start-up: wall time and peak memory of predicting one 48x48 crop (``--no-detect``), and one photo with face
  detection: interpreter, imports, model (and detector) load and one prediction; the best of ``--startup-runs``;
* faces/s with ``--no-detect`` on ``--crops`` FER-style 48x48 PNGs, and with face detection on ``--photos``
  copies of scikit-image's 512x512 astronaut photo (one face each), from the command's own closing line
  (``predict: N images, F faces, ..., S s``: the prediction loop, start-up excluded, 0.1 s resolution);
  the best of ``--repeats``;
* each with vgg_bn's evaluated test-time views (flip and 3 px shifts, 10 views, passed explicitly) and with one
  view.

Runs alternate between the two backends, so load from other processes on the CPU falls on both.  Peak memory is
the process's own VmHWM (Linux), reported by a small runner around the command.

The model is ``--model`` (a .keras file) or, by default, an untrained vgg_bn of the release's size (widths 32,
64, 128, 256, dense 256, 48x48x1: the same computation as a trained one), saved as ``vgg_bn.keras`` so both
backends score it with vgg_bn's evaluated views.  The copy is made by ``python -m emotion_lib.export``, timed too.

Usage::

    .venv/bin/python bench/portable_speed.py [--model models/vgg_bn.keras | --precision mixed_bfloat16]
                                             [--crops 600] [--photos 40] [--repeats 2] [--startup-runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402

from bench.machine import cpu_description  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
ONE_VIEW = ("--no-test-time-flip", "--test-time-shift", "0")
# vgg_bn's evaluated views, given explicitly: predict infers a trial's views from a file named <trial>.keras, and a
# --model such as a release file is named otherwise (it was then timed with one view in both rows).
TEN_VIEWS = ("--test-time-flip", "--test-time-shift", "3")


# predict run through a runner that reports the process's own peak memory (VmHWM): the rusage of a child also
# counts the parent's pages it was forked with, which here would be TensorFlow's.
PEAK_RUNNER = """import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("peak-memory-kB:", line.split()[1], file=sys.stderr)
atexit.register(peak)
sys.argv = ["emotion_lib.predict", *sys.argv[1:]]
runpy.run_module("emotion_lib.predict", run_name="__main__", alter_sys=True)
"""


def run(args: list[str | Path], log: Path) -> tuple[float, float, str]:
    """Run ``python ARGS`` (``-m emotion_lib.predict`` through PEAK_RUNNER); wall seconds, peak MB, stderr.

    A failure stops the benchmark.
    """
    if args[:2] == ["-m", "emotion_lib.predict"]:
        args = ["-c", PEAK_RUNNER, *args[2:]]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log.write_text(out.stderr)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{out.stderr}")
    peak = re.search(r"peak-memory-kB: (\d+)", out.stderr)
    return seconds, int(peak.group(1)) / 1024 if peak else float("nan"), out.stderr


def faces_per_second(stderr: str) -> tuple[int, float]:
    """Faces and seconds from predict's closing line."""
    match = re.search(r"predict: \d+ images, (\d+) faces, \d+ unreadable, ([\d.]+) s", stderr)
    if not match:
        raise SystemExit(f"no closing line in:\n{stderr}")
    return int(match.group(1)), float(match.group(2))


def build_release_sized_vgg_bn(path: Path, precision: str) -> str:
    """Save an untrained vgg_bn of the release's widths, built in Keras dtype policy ``precision``; say what it is."""
    import emotion_lib  # noqa: F401  (oneDNN on before TensorFlow loads, as in the stages)
    from emotion_lib.architecture import Augmentation, VggBnSpec
    from emotion_lib.models import build_model, save_model
    from emotion_lib.precision import dtype_policy

    spec = VggBnSpec(widths=(32, 64, 128, 256), dense_units=256, dropout=0.4,
                     augmentation=Augmentation(enabled=True, shift=0.1, rotation=0.03, zoom=0.1, erasing=0.125))
    with dtype_policy(precision):
        model = build_model(spec, num_classes=7, seed=0)
    save_model(model, path)
    return (f"untrained vgg_bn, widths 32-64-128-256, dense 256, 48x48x1, {model.count_params():,} parameters, "
            f"{precision}")


def write_inputs(folder: Path, crops: int, photos: int) -> tuple[Path, Path]:
    """Random 48x48 crops and copies of the astronaut photo, each in its own folder."""
    rng = np.random.default_rng(0)
    (folder / "crops").mkdir(parents=True)
    (folder / "photos").mkdir()
    for i in range(crops):
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / "crops" / f"{i:05d}.png")
    astronaut = Path(skimage.data.__file__).parent / "astronaut.png"
    for i in range(photos):
        shutil.copy(astronaut, folder / "photos" / f"{i:04d}.png")
    return folder / "crops", folder / "photos"


def compare(backends: dict[str, Path], crops: Path, photos: Path, folder: Path, args: argparse.Namespace) -> None:
    """Print each backend's start-up and faces/s; runs alternate between backends, so load on the CPU hits both."""
    firsts = {"one crop, --no-detect": (next(crops.iterdir()), "--no-detect"),
              "one photo, detection": (next(photos.iterdir()),)}
    starts: dict[tuple[str, str], list] = {(kind, name): [] for kind in firsts for name in backends}
    for _ in range(args.startup_runs):
        for kind, inputs in firsts.items():
            for name, model in backends.items():
                starts[kind, name].append(run(["-m", "emotion_lib.predict", *inputs, "--model", model, *TEN_VIEWS],
                                              folder / "start.log"))
    for (kind, name), runs in starts.items():
        seconds, memory, _ = min(runs)
        print(f"{name}: start-up ({kind}, evaluated views) {seconds:.2f} s wall, "
              f"peak memory {memory:.0f} MB (best of {args.startup_runs})", flush=True)
    workloads = (("--no-detect crops", (crops, "--no-detect")), ("photos, detection", (photos,)))
    for views, extra in (("evaluated views", TEN_VIEWS), ("one view", ONE_VIEW)):
        for workload, inputs in workloads:
            rates: dict[str, list[float]] = {name: [] for name in backends}
            for _ in range(args.repeats):
                for name, model in backends.items():
                    _, _, stderr = run(["-m", "emotion_lib.predict", *inputs, "--model", model, *extra,
                                        "--output", folder / "out.jsonl"], folder / "run.log")
                    n, secs = faces_per_second(stderr)
                    rates[name].append(n / secs)
            print(f"{workload}, {views} ({n} faces, best of {args.repeats}): "
                  + ", ".join(f"{name} {max(r):,.1f} faces/s" for name, r in rates.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a .keras model (default: an untrained release-sized vgg_bn)")
    parser.add_argument("--crops", type=int, default=600)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                        help="the default model's Keras dtype policy (train.precision: auto picks mixed_bfloat16 on "
                        "CPUs with AVX512-BF16 or AMX); the copy computes in float32 either way")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # internal: save the default model there
    args = parser.parse_args()
    if args.build:
        print(build_release_sized_vgg_bn(args.build, args.precision), file=sys.stderr)
        return

    folder = Path(tempfile.mkdtemp(prefix="portable-bench-"))
    try:
        crops, photos = write_inputs(folder, args.crops, args.photos)
        if args.model:
            model, what = args.model.resolve(), f"model {args.model}"
        else:
            model = folder / "vgg_bn.keras"
            # In a child process: this one stays without TensorFlow, so the runs it starts are not forked from it.
            _, _, what = run([__file__, "--build", model, "--precision", args.precision], folder / "build.log")
        copy = folder / "vgg_bn.onnx" if not args.model else folder / model.with_suffix(".onnx").name
        what = what.strip().splitlines()[-1]
        seconds, _, stderr = run(["-m", "emotion_lib.export", model, "--output", copy], folder / "export.log")
        print(f"CPU: {cpu_description()}")
        print(f"model: {what}")
        print(f"export: {seconds:.1f} s, copy {copy.stat().st_size / 1e6:.1f} MB; "
              + next(line for line in stderr.splitlines() if "scores equal" in line).removeprefix("export: "))
        compare({"keras": model, "onnx copy": copy}, crops, photos, folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
