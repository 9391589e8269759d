"""Benchmark: two ways to a TensorFlow-free copy, ONNX (tf2onnx, onnxruntime) and LiteRT (tf.lite, ai-edge-litert).

On an untrained vgg_bn of the release's size (widths 32, 64, 128, 256, dense 256, 48x48x1, float32): conversion
time and file size, the largest score difference from Keras over random faces, and faces/s in batches of 64 for
Keras, onnxruntime (the copy of ``export.to_onnx``, which takes the uint8 faces) and LiteRT (float inputs),
alternating so that load from other processes falls on all three; the CPU is
printed.  The measurement behind docs/export.md, "Why ONNX, not LiteRT".  ai-edge-litert is not a project
dependency: install it beside the project's environment to run this (``pip install ai-edge-litert==2.3.0``).

Usage::

    .venv/bin/python bench/onnx_vs_litert.py [--faces 640] [--repeats 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import emotion_lib  # noqa: E402, F401, I001  (oneDNN on before TensorFlow loads, as in the stages)
# isort: split
from bench.machine import cpu_description  # noqa: E402

BATCH = 64


def litert_runner(path: Path):
    """A function scoring float32 model inputs with the LiteRT interpreter, batch by batch."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    first, last = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(inputs: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(inputs), BATCH):
            batch = inputs[start:start + BATCH]
            interpreter.resize_tensor_input(first, batch.shape)  # LiteRT fixes the batch size per allocation
            interpreter.allocate_tensors()
            interpreter.set_tensor(first, batch)
            interpreter.invoke()
            out.append(interpreter.get_tensor(last).copy())
        return np.concatenate(out)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        raise SystemExit("needs ai-edge-litert: pip install ai-edge-litert==2.3.0") from None
    import tensorflow as tf

    from emotion_lib import export, portable
    from emotion_lib.architecture import Augmentation, VggBnSpec
    from emotion_lib.inputs import model_inputs
    from emotion_lib.models import build_model

    spec = VggBnSpec(widths=(32, 64, 128, 256), dense_units=256, dropout=0.4,
                     augmentation=Augmentation(enabled=True, shift=0.1))
    model = build_model(spec, num_classes=7, seed=0)
    folder = Path(tempfile.mkdtemp(prefix="onnx-litert-"))
    start = time.perf_counter()
    (folder / "copy.onnx").write_bytes(export.to_onnx(model, 48).SerializeToString())
    onnx_seconds = time.perf_counter() - start
    spec = [tf.TensorSpec((None, 48, 48, 1), tf.float32)]
    serve = tf.function(lambda x: model(x, training=False), input_signature=spec)
    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], model)
    (folder / "copy.tflite").write_bytes(converter.convert())
    litert_seconds = time.perf_counter() - start

    faces = np.random.default_rng(0).integers(0, 256, (args.faces, 48, 48), dtype=np.uint8)
    inputs = model_inputs(faces, image_size=48, channels=1)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(folder / "copy.onnx"), providers=["CPUExecutionProvider"])
    litert = litert_runner(folder / "copy.tflite")
    runners = {
        "keras": lambda: model.predict(inputs, batch_size=BATCH, verbose=0),
        "onnxruntime": lambda: np.concatenate([session.run(None, {portable.INPUT_NAME: faces[i:i + BATCH]})[0]
                                               for i in range(0, len(faces), BATCH)]),
        "litert": lambda: litert(inputs),
    }
    reference = runners["keras"]()
    print(f"CPU: {cpu_description()}")
    print(f"model: untrained vgg_bn 32-64-128-256, dense 256, 48x48x1, {model.count_params():,} parameters")
    for name, seconds, path in (("onnx", onnx_seconds, "copy.onnx"), ("litert", litert_seconds, "copy.tflite")):
        print(f"{name}: converted in {seconds:.1f} s, {(folder / path).stat().st_size / 1e6:.1f} MB")
    best, difference = {name: float("inf") for name in runners}, {}
    for _ in range(args.repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            scores = run()
            best[name] = min(best[name], time.perf_counter() - start)
            difference[name] = float(np.abs(scores - reference).max())
    for name, seconds in best.items():
        print(f"{name}: {args.faces / seconds:,.0f} faces/s (batch {BATCH}, best of {args.repeats}), "
              f"largest score difference from Keras {difference[name]:.1e}")


if __name__ == "__main__":
    main()
