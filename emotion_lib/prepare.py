"""The ``prepare`` stage: turn raw FER-2013 data into clean, split, array datasets.

Reads either the Kaggle folder layout (``raw_dir/train|test/<emotion>/*``) or
the original challenge file ``fer2013.csv``, drops files that are not images or
do not decode, normalises every image to ``image_size`` x ``image_size``
grayscale, removes exact duplicates without touching the test split, optionally
undersamples the training pool to balance it, makes a stratified train/val split
of that pool (so, as in the original study, validation is balanced too), and writes
the manifest, the ``.npz`` arrays, the metrics and the class distribution plots.
Beside the (undersampled) ``train.npz`` it keeps the full deduplicated training
split outside val, ``train_full.npz``, for trials that handle class imbalance in
their loss instead (``trials.<name>.train_split: full``).

Everything is validated and computed in memory before the first byte is
written, and every output is written atomically, so bad input raises
:class:`~emotion_lib.errors.UserError` and leaves no partial outputs behind.
This module must stay light: it never imports TensorFlow, and matplotlib and
seaborn are imported only when the plots are rendered.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import warnings
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from emotion_lib import EMOTIONS
from emotion_lib.atomic import atomic_dir, write_json, write_text
from emotion_lib.config import DataConfig
from emotion_lib.errors import UserError

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("folder", "csv")
SPLITS: tuple[str, ...] = ("train", "val", "test")

CSV_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
"""Emotion names in the order of the integer ``emotion`` column of ``fer2013.csv`` (0=Angry ... 6=Neutral)."""

CSV_USAGE: dict[str, str] = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
CSV_COLUMNS: tuple[str, ...] = ("emotion", "pixels", "Usage")
CSV_IMAGE_SIDE = 48

DROP_REASONS: tuple[str, ...] = (
    "outside_emotion_folder",
    "excluded_emotion",
    "extension",
    "decode_error",
    "bad_label",
    "bad_usage",
    "bad_pixels",
    "duplicate_of_test",
    "duplicate_in_train",
    "undersampled",
)
"""Every reason a file or CSV row can be left out; each appears in ``dropped.csv`` and in the metrics."""

RESIZE_FILTER = Image.Resampling.BILINEAR
"""A fixed resampling filter, so converted images are identical from run to run."""

POOL_MIN_FILES = 4000
"""Below this many files a process pool costs more to start than it saves."""

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass
class _Entry:
    """A file (or CSV row) found in the input, before decoding."""

    order: int
    path: str
    split: str
    emotion: str
    file: Path | None = None


@dataclass
class _Sample:
    """A decoded, normalised image that is still in the dataset."""

    order: int
    path: str
    split: str
    label: int
    sha1: str
    pixels: np.ndarray


@dataclass
class _Drop:
    """An input left out of the dataset, with the reason why."""

    order: int
    path: str
    split: str
    emotion: str
    reason: str
    detail: str = ""


# --------------------------------------------------------------------------- validation


# --------------------------------------------------------------------------- folder reader


def _child_dirs(parent: Path) -> dict[str, list[Path]]:
    """Map lower-cased names of visible sub-folders to the folders, so that ``Angry`` matches ``angry``."""
    found: dict[str, list[Path]] = defaultdict(list)
    for child in sorted(parent.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            found[child.name.lower()].append(child)
    return found


def _one_dir(parent: Path, name: str, matches: list[Path]) -> Path:
    """Return the single folder matching ``name``; two case variants (``angry`` and ``Angry``) are ambiguous."""
    if len(matches) > 1:
        raise UserError(f"{parent}: folders {', '.join(m.name for m in matches)} all match {name!r}; "
                        f"merge them into one folder")
    return matches[0]


def _files_under(folder: Path) -> list[Path]:
    """All files below ``folder``, recursively, so that nothing in the input is silently ignored."""
    return [p for p in folder.rglob("*") if p.is_file()]


def _split_dirs(raw_dir: Path) -> dict[str, Path]:
    """Locate ``raw_dir/train`` and ``raw_dir/test`` after checking that ``raw_dir`` holds any files at all."""
    hint = ("run `dvc repro synthesize` for a synthetic dataset, or download FER-2013 from Kaggle "
            "and set data.raw_dir to the folder holding its train/ and test/ folders")
    if not raw_dir.exists():
        raise UserError(f"data.raw_dir: {raw_dir} does not exist; {hint}")
    if not raw_dir.is_dir():
        raise UserError(f"data.raw_dir: {raw_dir} is not a folder; {hint}")
    if not any(p.is_file() for p in raw_dir.rglob("*")):
        raise UserError(f"data.raw_dir: {raw_dir} contains no images; {hint}")
    children = _child_dirs(raw_dir)
    dirs = {}
    for split in ("train", "test"):
        if split not in children:
            raise UserError(f"{raw_dir / split}: missing {split!r} split folder; data.raw_dir must hold "
                            f"train/<emotion>/ and test/<emotion>/ folders (Kaggle FER-2013 layout); for fer2013.csv "
                            f"set data.source: csv")
        dirs[split] = _one_dir(raw_dir, split, children[split])
    return dirs


def _scan_split(raw_dir: Path, split_dir: Path, emotions: tuple[str, ...]) -> list[tuple[str, str, Path]]:
    """List ``(emotion, relative path, file)`` for every file under one split; emotion is '' outside emotion folders."""
    children = _child_dirs(split_dir)
    unknown = sorted(name for name in children if name not in EMOTIONS)
    if unknown:
        folder = children[unknown[0]][0]
        raise UserError(f"{folder}: unknown emotion folder {folder.name!r}; known emotions are {', '.join(EMOTIONS)}; "
                        f"rename it to one of them or move it out of data.raw_dir")
    for emotion in emotions:
        if emotion not in children:
            raise UserError(f"{split_dir / emotion}: missing emotion folder for {emotion!r}; "
                            f"add it or remove {emotion!r} from data.emotions")
    found: list[tuple[str, str, Path]] = []
    emotion_dirs = set()
    for name, matches in sorted(children.items()):
        folder = _one_dir(split_dir, name, matches)
        emotion_dirs.add(folder)
        files = _files_under(folder)
        if name in emotions and not files:
            raise UserError(f"{folder}: emotion folder is empty; add {name!r} images or remove {name!r} from "
                            f"data.emotions")
        found.extend((name, p.relative_to(raw_dir).as_posix(), p) for p in files)
    # Loose files and hidden folders (e.g. .ipynb_checkpoints) next to the emotion folders are reported, not used.
    for child in split_dir.iterdir():
        if child not in emotion_dirs:
            files = _files_under(child) if child.is_dir() else [child] if child.is_file() else []
            found.extend(("", p.relative_to(raw_dir).as_posix(), p) for p in files)
    return found


def _read_folder(raw_dir: Path, emotions: tuple[str, ...], exts: frozenset[str]) -> tuple[list[_Entry], list[_Drop]]:
    """List the candidate image files of the Kaggle layout; files that cannot be candidates are dropped."""
    listed = [(rel, split, emotion, path)
              for split, split_dir in _split_dirs(raw_dir).items()
              for emotion, rel, path in _scan_split(raw_dir, split_dir, emotions)]
    # A global sort by relative path gives every file a stable order, used for tie-breaking and output order.
    listed.sort(key=lambda item: item[0])
    entries: list[_Entry] = []
    drops: list[_Drop] = []
    for order, (rel, split, emotion, path) in enumerate(listed):
        if not emotion:
            drops.append(_Drop(order, rel, split, "", "outside_emotion_folder"))
        elif emotion not in emotions:
            drops.append(_Drop(order, rel, split, emotion, "excluded_emotion", "emotion not in data.emotions"))
        elif path.suffix.lower() not in exts:
            drops.append(_Drop(order, rel, split, emotion, "extension", f"{path.suffix or '(none)'} not in "
                                                                        f"data.extensions"))
        else:
            entries.append(_Entry(order, rel, split, emotion, path))
    return entries, drops


# --------------------------------------------------------------------------- decoding


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def to_8bit(img: Image.Image) -> Image.Image:
    """An 8-bit ``L`` or ``RGB`` image, converting modes Pillow would otherwise clip or misread."""
    if img.mode in _SIXTEEN_BIT_MODES or img.mode == "I":
        values = np.asarray(img).astype(np.float64)
        # Pillow's own I;16 -> L conversion clips at 255, which turns most 16-bit photos white; scale instead.
        # Mode I (32-bit) mostly holds 16-bit PNG/TIFF samples; anything larger is scaled by its own maximum.
        top = 65535.0 if values.max(initial=0) <= 65535 else values.max()
        return Image.fromarray(np.rint(np.clip(values, 0, None) * (255.0 / top)).astype(np.uint8), mode="L")
    if img.mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        # Float images are either 0..1 (scientific TIFFs) or already 0..255.
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
        return Image.fromarray(np.rint(np.clip(values * scale, 0, 255)).astype(np.uint8), mode="L")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("1", "LA", "La"):
        return img.convert("L")
    if img.mode == "P":
        # A palette may hold colours or only grays; through RGB both come out right.
        return img.convert("RGB")
    # CMYK, YCbCr, LAB, HSV, RGBA, RGBa, ...: to RGB; grayscale happens later in normalise_image, as in prepare.
    return img.convert("RGB")


def normalise_image(img: Image.Image, image_size: int) -> tuple[np.ndarray, bool, bool]:
    """Convert to ``image_size`` square 8-bit grayscale, as every stored image is; return (pixels, resized, colour).

    The one conversion of a decoded image into the stored 48x48 form: prepare uses it for every dataset image, and
    prediction for every face crop, so both reach the model through the same pixels.
    """
    colour = img.mode != "L"
    img = to_8bit(img)
    if img.mode != "L":
        img = img.convert("L")
    resized = img.size != (image_size, image_size)
    if resized:
        img = img.resize((image_size, image_size), RESIZE_FILTER)
    return np.asarray(img, dtype=np.uint8), resized, colour


def _decode_file(job: tuple[str, int]) -> tuple[bytes | None, str, bool, bool]:
    """Decode one file; return (pixel bytes or None, error text, resized, colour). Runs in pool workers."""
    path, image_size = job
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                # Image.open only reads the header; load() forces a full decode so truncated files fail here.
                img.load()
                pixels, resized, colour = normalise_image(img, image_size)
    except Exception as exc:  # noqa: BLE001 - PIL raises OSError, SyntaxError, ValueError, ... for corrupt files.
        # The absolute path would make dropped.csv depend on where the data lives, so it is removed.
        return None, f"{type(exc).__name__}: {str(exc).replace(path, '<file>')}", False, False
    return pixels.tobytes(), "", resized, colour


def _init_worker() -> None:
    """Make truncated images raise in every worker, whatever the parent process configured."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False


def _decode_all(jobs: list[tuple[str, int]], workers: int) -> Iterable[tuple[bytes | None, str, bool, bool]]:
    """Decode files in order, in a process pool when there are enough of them to pay for it."""
    if workers <= 1 or len(jobs) < POOL_MIN_FILES:
        _init_worker()
        return [_decode_file(job) for job in jobs]
    # imap keeps the input order, so results (and every output) do not depend on scheduling.
    chunksize = max(64, len(jobs) // (workers * 8))
    with multiprocessing.Pool(processes=workers, initializer=_init_worker) as pool:
        return list(pool.imap(_decode_file, jobs, chunksize=chunksize))


def _decode_entries(entries: list[_Entry], emotions: tuple[str, ...], image_size: int,
                    workers: int) -> tuple[list[_Sample], list[_Drop], Counter]:
    """Decode candidate files into samples; files that fail to decode are dropped with the error."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        results = _decode_all([(str(e.file), image_size) for e in entries], workers)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    samples: list[_Sample] = []
    drops: list[_Drop] = []
    converted: Counter = Counter()
    label_of = {name: i for i, name in enumerate(emotions)}
    for entry, (data, error, resized, colour) in zip(entries, results, strict=True):
        if data is None:
            drops.append(_Drop(entry.order, entry.path, entry.split, entry.emotion, "decode_error", error))
            continue
        converted["size"] += resized
        converted["colour"] += colour
        pixels = np.frombuffer(data, dtype=np.uint8).reshape(image_size, image_size)
        samples.append(_Sample(entry.order, entry.path, entry.split, label_of[entry.emotion],
                               hashlib.sha1(data).hexdigest(), pixels))
    return samples, drops, converted


# --------------------------------------------------------------------------- CSV reader


def _parse_pixels(text: str) -> np.ndarray | None:
    """Parse a ``pixels`` cell into a 48x48 uint8 array, or None if it is not 2304 integers in 0-255."""
    try:
        with warnings.catch_warnings():
            # Older numpy only warns on trailing garbage; treat that as the error it is.
            warnings.simplefilter("error")
            values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if values.size != CSV_IMAGE_SIDE * CSV_IMAGE_SIDE or values.min() < 0 or values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(CSV_IMAGE_SIDE, CSV_IMAGE_SIDE)


def _csv_header(csv_path: Path, header: list[str] | None) -> dict[str, int]:
    """Map the required column names to their positions, matching names case-insensitively."""
    positions = {name.strip().lower(): i for i, name in enumerate(header or [])}
    missing = [col for col in CSV_COLUMNS if col.lower() not in positions]
    if missing:
        raise UserError(f"data.csv_file: {csv_path} lacks column(s) {', '.join(missing)}; expected the FER-2013 "
                        f"challenge file with columns {', '.join(CSV_COLUMNS)}")
    return {col: positions[col.lower()] for col in CSV_COLUMNS}


def _csv_row(n: int, row: list[str], cols: dict[str, int], name: str, emotions: tuple[str, ...],
             image_size: int, converted: Counter) -> _Sample | _Drop:
    """Turn one CSV row into a sample, or a drop naming what is wrong with it."""
    path = f"{name}#row={n}"
    cell = {col: row[i].strip() if i < len(row) else "" for col, i in cols.items()}
    code = int(cell["emotion"]) if cell["emotion"].isdigit() else -1
    emotion = CSV_LABELS[code] if 0 <= code < len(CSV_LABELS) else ""
    split = CSV_USAGE.get(cell["Usage"], "")
    if not emotion:
        return _Drop(n, path, split, "", "bad_label", f"emotion {cell['emotion']!r} is not an integer 0-6")
    if not split:
        return _Drop(n, path, "", emotion, "bad_usage", f"Usage {cell['Usage']!r} not in {', '.join(CSV_USAGE)}")
    if emotion not in emotions:
        return _Drop(n, path, split, emotion, "excluded_emotion", "emotion not in data.emotions")
    pixels = _parse_pixels(cell["pixels"])
    if pixels is None:
        return _Drop(n, path, split, emotion, "bad_pixels", "pixels is not 2304 space-separated integers 0-255")
    if image_size != CSV_IMAGE_SIDE:
        pixels, resized, _ = normalise_image(Image.fromarray(pixels, mode="L"), image_size)
        converted["size"] += resized
    return _Sample(n, path, split, emotions.index(emotion), hashlib.sha1(pixels.tobytes()).hexdigest(), pixels)


def _read_csv(csv_path: Path, emotions: tuple[str, ...], image_size: int) -> tuple[list[_Sample], list[_Drop], Counter]:
    """Read ``fer2013.csv``; rows are numbered from 0 (the first data row) in the manifest path."""
    if not csv_path.is_file():
        raise UserError(f"data.csv_file: {csv_path} does not exist; download fer2013.csv from the Kaggle FER-2013 "
                        f"challenge into data.raw_dir and set data.csv_file to its name, or set data.source: folder")
    samples: list[_Sample] = []
    drops: list[_Drop] = []
    converted: Counter = Counter()
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            cols = _csv_header(csv_path, next(reader, None))
            for n, row in enumerate(reader):
                item = _csv_row(n, row, cols, csv_path.name, emotions, image_size, converted)
                (samples if isinstance(item, _Sample) else drops).append(item)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"data.csv_file: {csv_path} is not a readable CSV file ({exc}); "
                        f"point it at the FER-2013 fer2013.csv") from exc
    if not samples:
        reasons = Counter(d.reason for d in drops)
        summary = ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())) or "no data rows"
        raise UserError(f"data.csv_file: {csv_path} has no usable rows ({summary}); each row needs emotion 0-6, "
                        f"Usage in {', '.join(CSV_USAGE)} and 2304 space-separated pixel values 0-255")
    return samples, drops, converted


# --------------------------------------------------------------------------- dataset steps


def _check_classes(samples: list[_Sample], emotions: tuple[str, ...], where: Callable[[str, str], str]) -> None:
    """Every class needs at least one usable image in both given splits, or training and evaluation are meaningless."""
    present = Counter((s.split, s.label) for s in samples)
    for split in ("train", "test"):
        for label, emotion in enumerate(emotions):
            if not present[split, label]:
                raise UserError(f"{where(split, emotion)}: no usable {emotion!r} images in the {split} split after "
                                f"dropping junk files; add images, list their extension in data.extensions, or "
                                f"remove {emotion!r} from data.emotions")


def _dedupe(samples: list[_Sample], emotions: tuple[str, ...]) -> tuple[list[_Sample], list[_Drop], dict[str, int]]:
    """Remove exact pixel duplicates from train, never from test, and summarise the duplicate groups."""
    groups: dict[str, list[_Sample]] = defaultdict(list)
    for s in sorted(samples, key=lambda s: s.order):
        groups[s.sha1].append(s)
    test_copy = {sha: next(s.path for s in group if s.split == "test")
                 for sha, group in groups.items() if any(s.split == "test" for s in group)}
    kept: list[_Sample] = []
    drops: list[_Drop] = []
    for sha, group in groups.items():
        first_train: _Sample | None = None
        for s in group:
            if s.split == "test":
                # The test split is the benchmark and stays exactly as given, duplicates included.
                kept.append(s)
            elif sha in test_copy:
                # A training copy of a test image would leak the test set into training.
                drops.append(_Drop(s.order, s.path, s.split, emotions[s.label], "duplicate_of_test",
                                   f"same pixels as {test_copy[sha]}"))
            elif first_train is None:
                first_train = s
                kept.append(s)
            else:
                drops.append(_Drop(s.order, s.path, s.split, emotions[s.label], "duplicate_in_train",
                                   f"same pixels as {first_train.path}"))
    multi = [g for g in groups.values() if len(g) > 1]
    summary = {
        "groups": len(multi),
        "copies": sum(len(g) - 1 for g in multi),
        "conflicting_label_groups": sum(len({s.label for s in g}) > 1 for g in multi),
        "cross_split_groups": sum(len({s.split for s in g}) > 1 for g in multi),
        "removed_in_test": sum(d.reason == "duplicate_of_test" for d in drops),
        "removed_within_train": sum(d.reason == "duplicate_in_train" for d in drops),
        "removed": len(drops),
    }
    kept.sort(key=lambda s: s.order)
    return kept, drops, summary


def _by_class(samples: Iterable[_Sample], split: str, n_classes: int) -> list[list[_Sample]]:
    """Group the samples of one split by label, each group in input order so that shuffles are reproducible."""
    groups: list[list[_Sample]] = [[] for _ in range(n_classes)]
    for s in sorted(samples, key=lambda s: s.order):
        if s.split == split:
            groups[s.label].append(s)
    return groups


def _class_rng(seed: int, emotion: str, stream: int) -> np.random.Generator:
    """A generator per (seed, emotion, purpose), so that adding or reordering classes never changes another's draw."""
    return np.random.default_rng([seed, EMOTIONS.index(emotion), stream])


def _split_train_val(samples: list[_Sample], emotions: tuple[str, ...], val_fraction: float, seed: int) -> None:
    """Move a stratified ``val_fraction`` of every training class to ``val`` in place; test is never touched."""
    for label, group in enumerate(_by_class(samples, "train", len(emotions))):
        n = len(group)
        # Round half up (not Python's banker's rounding) and keep at least one training image per class.
        n_val = min(math.floor(n * val_fraction + 0.5), n - 1)
        for i in _class_rng(seed, emotions[label], 0).permutation(n)[:n_val]:
            group[i].split = "val"


def _undersample(samples: list[_Sample], emotions: tuple[str, ...], samples_per_class: int | None,
                 seed: int) -> tuple[list[_Sample], list[_Drop], int]:
    """Undersample the training pool to the minority class (or ``samples_per_class``); return kept, drops, target.

    Runs before the validation split, as the original study did (436 per class on FER-2013), so both train and val
    are balanced; the test split is never touched.
    """
    groups = _by_class(samples, "train", len(emotions))
    if samples_per_class is None:
        target = min(len(g) for g in groups)
    else:
        target = samples_per_class
        for label, group in enumerate(groups):
            if len(group) < target:
                raise UserError(f"data.samples_per_class: {target} requested but class {emotions[label]!r} has only "
                                f"{len(group)} training images after deduplication; lower "
                                f"data.samples_per_class or set it to null to undersample to the minority class")
    dropped: set[int] = set()
    drops: list[_Drop] = []
    for label, group in enumerate(groups):
        keep = set(_class_rng(seed, emotions[label], 1).choice(len(group), size=target, replace=False).tolist())
        for i, s in enumerate(group):
            if i not in keep:
                dropped.add(s.order)
                drops.append(_Drop(s.order, s.path, s.split, emotions[label], "undersampled",
                                   f"{target} per class kept"))
    return [s for s in samples if s.order not in dropped], drops, target


def _counts(samples: Iterable[_Sample], emotions: tuple[str, ...]) -> dict:
    """Images per split and class, with per-split and overall totals."""
    tally = Counter((s.split, s.label) for s in samples)
    out: dict = {}
    for split in SPLITS:
        per = {emotion: tally[split, label] for label, emotion in enumerate(emotions)}
        per["total"] = sum(per.values())
        out[split] = per
    out["total"] = sum(out[split]["total"] for split in SPLITS)
    return out


# --------------------------------------------------------------------------- writers


def _save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Like ``np.savez`` (uncompressed), but with fixed zip timestamps so identical data gives identical bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in (("images", images), ("labels", labels)):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.ascontiguousarray(value), allow_pickle=False)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _arrays(part: list[_Sample], image_size: int) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([s.pixels for s in part]) if part else np.zeros((0, image_size, image_size), dtype=np.uint8)
    return images.astype(np.uint8, copy=False), np.array([s.label for s in part], dtype=np.int64)


def _write_dataset(out_dir: Path, samples: list[_Sample], full: list[_Sample], drops: list[_Drop],
                   emotions: tuple[str, ...], image_size: int, meta: dict) -> None:
    """Write manifest, arrays (``train_full.npz`` from ``full``), dropped list and meta into ``out_dir`` atomically."""
    ordered = sorted(samples, key=lambda s: (SPLITS.index(s.split), s.order))
    with atomic_dir(out_dir) as tmp:
        _write_csv(tmp / "manifest.csv", ("path", "label", "split", "sha1"),
                   ((s.path, emotions[s.label], s.split, s.sha1) for s in ordered))
        for split in SPLITS:
            _save_npz(tmp / f"{split}.npz", *_arrays([s for s in ordered if s.split == split], image_size))
        _save_npz(tmp / "train_full.npz", *_arrays(sorted(full, key=lambda s: s.order), image_size))
        _write_csv(tmp / "dropped.csv", ("path", "split", "emotion", "reason", "detail"),
                   ((d.path, d.split, d.emotion, d.reason, d.detail) for d in sorted(drops, key=lambda d: d.order)))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _distribution_csv(before: dict[str, int], after: dict[str, int], emotions: tuple[str, ...]) -> str:
    """The training split's images per class, long format (``emotion,count,stage``) for DVC's bar templates."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("emotion", "count", "stage"))
    writer.writerows([(e, before[e], "before") for e in emotions] + [(e, after[e], "after") for e in emotions])
    return text.getvalue()


def _distribution_figures(before: dict[str, int], after: dict[str, int], emotions: tuple[str, ...]) -> dict:
    """Draw the original study's figures 1 and 2 (training images per class, before/after undersampling)."""
    # Imported here so that importing this module (e.g. for the CLI's --help) stays light.
    from emotion_lib import plotting

    return {
        f"class_distribution_{stage}.png": plotting.bar_chart(
            list(emotions), [counts[e] for e in emotions],
            title=f"Distribution of class in training set ({stage} undersampling)",
            xlabel="emotion", ylabel="images", value_format="{:d}")
        for stage, counts in (("before", before), ("after", after))
    }


def _write_plots(plots_dir: Path, table: str, figures: dict) -> None:
    """Write the distribution table and figures; each file is replaced atomically."""
    from emotion_lib import plotting

    write_text(plots_dir / "class_distribution.csv", table)
    for name, fig in figures.items():
        plotting.save_png(fig, plots_dir / name)


# --------------------------------------------------------------------------- entry point


def prepare_dataset(data: DataConfig, *, seed: int, out_dir: Path, metrics_path: Path, plots_dir: Path,
                    workers: int | None = None) -> dict:
    """Prepare FER-2013 (or a dataset in its layout) as ``data`` (params.yaml's ``data``) says; return the metrics.

    ``data.source`` is ``"folder"`` (``raw_dir/train|test/<emotion>/*``) or ``"csv"`` (``raw_dir/csv_file``, the
    challenge's ``fer2013.csv``).  ``data.samples_per_class`` is only used when ``data.undersample`` is true;
    ``None`` then means "the minority class count".  ``workers`` is the number of decoding
    processes (default ``os.cpu_count()``; 1 decodes in this process).

    Writes ``out_dir/{manifest.csv,train.npz,val.npz,test.npz,train_full.npz,dropped.csv,meta.json}``
    (``train_full``: every deduplicated training image outside val, undersampled-away ones included),
    ``metrics_path`` and ``plots_dir/class_distribution{.csv,_before.png,_after.png}``.
    Raises :class:`UserError` (and writes nothing) on bad input.
    """
    names = tuple(data.emotions)
    samples, drops, converted = _read_samples(data, names, workers or os.cpu_count() or 1)
    found = len(samples) + len(drops)
    samples, dup_drops, duplicates = _dedupe(samples, names)
    drops += dup_drops
    # As in the original study: balance the training pool first, then split it, so validation is small and balanced
    # (at the defaults it would otherwise be 2.4 times the undersampled train split, and cost more than training).
    before = _counts(samples, names)
    pool = [s for s in samples if s.split == "train"]
    target = 0
    if data.undersample:
        samples, under_drops, target = _undersample(samples, names, data.samples_per_class, seed)
        drops += under_drops
    after = _counts(samples, names)
    _split_train_val(samples, names, data.val_fraction, seed)
    splits = _counts(samples, names)
    if splits["val"]["total"] == 0:  # Training would stop at an empty val.npz, naming no key.
        fewest = min(after["train"][e] for e in names)
        raise UserError(f"data.val_fraction: {data.val_fraction} of {fewest} training images per class leaves no "
                        f"validation image; raise data.val_fraction or use more images (synthetic.scale for the "
                        f"synthetic set)")
    # The full training split: every deduplicated training image that did not go to val (the undersampled-away
    # ones included), for trials that handle the imbalance in their loss (trials.<name>.train_split: full).
    full = [s for s in pool if s.split == "train"]
    full_counts = _counts(full, names)["train"]
    reasons = Counter(d.reason for d in drops)
    metrics = {
        "converted": {"size": converted["size"], "colour": converted["colour"]},
        # The training pool before and after undersampling (the study's figures 1 and 2), then the splits written.
        "counts": {"before_undersampling": before, "after_undersampling": after, "splits": splits,
                   "train_full": full_counts},
        "dropped": {**{reason: reasons[reason] for reason in DROP_REASONS}, "total": len(drops)},
        "duplicates": duplicates,
        "images": {"found": found, "kept": len(samples)},
        "undersampling": {"per_class": target},
    }
    meta = {
        "counts": {**{split: {e: splits[split][e] for e in names} for split in SPLITS},
                   "train_full": {e: full_counts[e] for e in names}},
        "emotions": list(names),
        "image_size": data.image_size,
        "label_encoding": "labels are indices into emotions",
        "seed": seed,
        "source": data.source,
        "undersample_per_class": target,
        "val_fraction": data.val_fraction,
    }
    _write_outputs(Path(out_dir), Path(metrics_path), Path(plots_dir), samples=samples, full=full, drops=drops,
                   names=names, image_size=data.image_size, meta=meta, metrics=metrics)
    log.info("prepared %d images (%d dropped) into %s", len(samples), len(drops), out_dir)
    return metrics


def _read_samples(data: DataConfig, names: tuple[str, ...], workers: int) -> tuple[list, list, dict]:
    """Every decoded image of the folder layout or of the CSV, the files dropped, and what was converted."""
    raw_dir = Path(data.raw_dir)
    if data.source == "folder":
        exts = frozenset("." + e.strip().lstrip(".").lower() for e in data.extensions)
        entries, drops = _read_folder(raw_dir, names, exts)
        samples, bad, converted = _decode_entries(entries, names, data.image_size, workers)
        _check_classes(samples, names, lambda split, emotion: str(raw_dir / split / emotion))
        return samples, drops + bad, converted
    csv_path = raw_dir / data.csv_file
    samples, drops, converted = _read_csv(csv_path, names, data.image_size)
    _check_classes(samples, names, lambda split, emotion: f"data.csv_file: {csv_path}")
    return samples, drops, converted


def _write_outputs(out_dir: Path, metrics_path: Path, plots_dir: Path, *, samples: list, full: list, drops: list,
                   names: tuple[str, ...], image_size: int, meta: dict, metrics: dict) -> None:
    counts = metrics["counts"]
    train_before = {e: counts["before_undersampling"]["train"][e] for e in names}
    train_after = {e: counts["after_undersampling"]["train"][e] for e in names}
    # Figures are drawn before anything is written, so a drawing error cannot leave a half-updated stage.
    table = _distribution_csv(train_before, train_after, names)
    figures = _distribution_figures(train_before, train_after, names)
    _write_dataset(out_dir, samples, full, drops, names, image_size, meta)
    write_json(metrics_path, metrics)
    _write_plots(plots_dir, table, figures)
