"""Probe the baseline's plateau at ln 7 on prepared real faces: training loss per epoch for a few variants.

The table in docs/results.md, "The fix for real faces", comes from this script.  It trains the original study's
scratch baseline (80x80x1, valid padding, Adam, batch 32) on ``DATA_DIR/train.npz`` for a few epochs per variant,
changing only the kernel initialiser, the input scaling or the learning rate, and prints the training loss and
accuracy per epoch, validation figures on a 1,000-image sample of ``DATA_DIR/val.npz``, and the CPU.  Usage::

    python bench/plateau_probe.py data/prepared                       # after `dvc repro prepare` on FER-2013
    python bench/plateau_probe.py data/prepared --epochs 3 --variants glorot_uniform/unit/0.001 he_normal/centered/0.001
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.machine import cpu_description  # noqa: E402
from emotion_lib.architecture import ScratchSpec  # noqa: E402
from emotion_lib.inputs import load_split, make_dataset  # noqa: E402
from emotion_lib.models import build_model  # noqa: E402
from emotion_lib.training import set_global_determinism  # noqa: E402

DEFAULT_VARIANTS = [
    "glorot_uniform/unit/0.001",  # the original study's stack as Keras builds it by default
    "glorot_uniform/unit/0.0003",
    "glorot_uniform/centered/0.001",
    "he_normal/unit/0.001",
    "he_normal/unit/0.0005",
    "he_normal/centered/0.001",  # this project's default
]


def probe(data_dir: Path, variant: str, epochs: int) -> None:
    initializer, scaling, learning_rate = variant.split("/")
    train_images, train_labels = load_split(data_dir, "train")
    val_images, val_labels = load_split(data_dir, "val")
    sample = np.random.default_rng(0).permutation(len(val_images))[:1000]
    set_global_determinism(42)
    model = build_model(ScratchSpec(image_size=80, channels=1, initializer=initializer, input_scaling=scaling),
                        num_classes=int(train_labels.max()) + 1, seed=42)
    model.compile(optimizer=keras.optimizers.Adam(float(learning_rate)), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(
        make_dataset(train_images, train_labels, image_size=80, channels=1, batch_size=32, shuffle=True, seed=42),
        validation_data=make_dataset(val_images[sample], val_labels[sample], image_size=80, channels=1,
                                     batch_size=64),
        epochs=epochs, shuffle=False, verbose=0,  # the dataset shuffles itself, as in training
    ).history
    losses = " ".join(f"{value:.4f}" for value in history["loss"])
    print(f"{variant:32s} train loss {losses} | last: acc {history['accuracy'][-1]:.3f}, "
          f"val_loss {history['val_loss'][-1]:.4f}, val_acc {history['val_accuracy'][-1]:.3f} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path, help="a prepared data folder (train.npz, val.npz)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="initializer/scaling/learning rate")
    args = parser.parse_args()
    print(f"CPU: {cpu_description()}; ln 7 = {math.log(7):.4f}")
    for variant in args.variants:
        probe(args.data_dir, variant, args.epochs)


if __name__ == "__main__":
    main()
