"""Benchmark: how long ``prepare_dataset`` takes on a FER-2013-sized folder dataset.

Writes ``--images`` synthetic 48x48 grayscale JPEGs (noise plus a few shapes) in
the Kaggle layout with FER-2013's class proportions into a temporary folder,
adds duplicates across and within splits and some junk files, then times
``prepare_dataset`` on it and prints wall time and images per second.

    .venv/bin/python bench/prepare_scale.py                 # full FER-2013 size, 35,887 images
    .venv/bin/python bench/prepare_scale.py --images 5000 --workers 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emotion_lib import EMOTIONS  # noqa: E402
from emotion_lib.prepare import prepare_dataset  # noqa: E402

# Kaggle FER-2013 images per class (train, test); 28,709 + 7,178 = 35,887.
FER_COUNTS: dict[str, tuple[int, int]] = {
    "angry": (3995, 958),
    "disgust": (436, 111),
    "fear": (4097, 1024),
    "happy": (7215, 1774),
    "neutral": (4965, 1233),
    "sad": (4830, 1247),
    "surprise": (3171, 831),
}
FER_TOTAL = sum(a + b for a, b in FER_COUNTS.values())


def _class_counts(n_images: int) -> dict[tuple[str, str], int]:
    """Scale FER-2013's per-split, per-class counts to ``n_images`` (at least one per cell)."""
    counts = {(split, e): max(1, round(n_images * FER_COUNTS[e][i] / FER_TOTAL))
              for i, split in enumerate(("train", "test")) for e in EMOTIONS}
    # Put the rounding remainder on the largest class so the total is exact.
    counts["train", "happy"] += n_images - sum(counts.values())
    return counts


def _face(rng: np.random.Generator) -> Image.Image:
    """A random 48x48 grayscale image: smooth noise with an ellipse and a line on top."""
    base = rng.normal(128, 40, (12, 12)).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(base, mode="L").resize((48, 48), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    x, y = rng.integers(4, 20, 2)
    draw.ellipse((int(x), int(y), int(x) + 24, int(y) + 24), outline=int(rng.integers(0, 256)), width=2)
    draw.line(tuple(int(v) for v in rng.integers(0, 48, 4)), fill=int(rng.integers(0, 256)), width=2)
    noise = rng.integers(-12, 13, (48, 48))
    return Image.fromarray((np.asarray(img, dtype=np.int16) + noise).clip(0, 255).astype(np.uint8), mode="L")


def write_dataset(root: Path, n_images: int, seed: int = 0) -> dict[str, int]:
    """Write the Kaggle-layout dataset with duplicates and junk; return what was planted."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[Path]] = {"train": [], "test": []}
    for (split, emotion), count in _class_counts(n_images).items():
        folder = root / split / emotion
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            path = folder / f"{split}_{emotion}_{i:05d}.jpg"
            _face(rng).save(path, quality=90)
            written[split].append(path)
    # About 0.5% of train become byte copies of test images (labels may conflict), and 0.5% copies within train.
    n_dup = max(1, n_images // 200)
    for i, src in enumerate(rng.choice(written["test"], n_dup, replace=False)):
        dst = written["train"][i * 7 % len(written["train"])]
        shutil.copyfile(src, dst)
    for i, src in enumerate(rng.choice(written["train"], n_dup, replace=False)):
        shutil.copyfile(src, src.with_name(f"zz_copy_{i:05d}.jpg"))
    # A few junk files of each kind the cleaner must drop.
    junk = root / "train" / "angry"
    for i in range(5):
        (junk / f"zero_{i}.jpg").write_bytes(b"")
        (junk / f"text_{i}.png").write_text("not an image")
        (junk / f"notes_{i}.txt").write_text("notes")
        data = written["train"][i].read_bytes()
        (junk / f"truncated_{i}.jpg").write_bytes(data[: len(data) // 2])
    return {"images": n_images, "test_copies_in_train": n_dup, "train_copies": n_dup, "junk": 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=FER_TOTAL, help="images to write (default: FER-2013's 35887)")
    parser.add_argument("--workers", type=int, nargs="+", default=[os.cpu_count() or 1],
                        help="decoding processes; several values time one run each on the same data "
                             "(default: os.cpu_count())")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="prepare_scale_") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        planted = write_dataset(root / "raw", args.images, args.seed)
        print(f"wrote {planted} in {time.perf_counter() - start:.1f} s")
        for workers in args.workers:
            start = time.perf_counter()
            metrics = prepare_dataset(
                source="folder", raw_dir=root / "raw", csv_path=root / "raw" / "fer2013.csv", emotions=EMOTIONS,
                extensions=["jpg", "jpeg", "png"], image_size=48, val_fraction=0.2, undersample=True,
                samples_per_class=None, seed=args.seed, out_dir=root / "prepared", metrics_path=root / "prepare.json",
                plots_dir=root / "plots", workers=workers,
            )
            wall = time.perf_counter() - start
            found = metrics["images"]["found"]
            print(f"dropped={metrics['dropped']}")
            print(f"duplicates={metrics['duplicates']}")
            print(f"kept={metrics['images']['kept']} (undersampled to {metrics['undersampling']['per_class']}/class)")
            print(f"prepare_dataset workers={workers} (cpu_count={os.cpu_count()}): {found} files in {wall:.2f} s "
                  f"= {found / wall:.0f} images/s")


if __name__ == "__main__":
    main()
