"""Tests for :mod:`emotion_lib.prepare`: readers, cleaning, duplicates, split, undersampling, outputs, bad input.

Fixtures are tiny datasets written with PIL into ``tmp_path`` (independent of
``emotion_lib.synthetic``), so the whole file runs in seconds.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_lib import EMOTIONS
from emotion_lib import prepare as prep
from emotion_lib.config import DataConfig
from emotion_lib.errors import UserError
from emotion_lib.prepare import CSV_LABELS, prepare_dataset

N_TRAIN = 6
N_TEST = 3


def _pixels(seed: int, size: int = 48) -> np.ndarray:
    """A distinct random grayscale image per seed."""
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def _save(path: Path, pixels: np.ndarray, fmt: str = "PNG") -> Path:
    """Save losslessly by default, so that equal pixels in two files decode to equal pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def _make_folder(root: Path, n_train: int | dict[str, int] = N_TRAIN, n_test: int = N_TEST) -> Path:
    """Kaggle layout with ``n_train`` / ``n_test`` distinct PNGs per emotion (capitalised folder names)."""
    seed = 0
    for split, count in (("train", n_train), ("test", n_test)):
        for emotion in EMOTIONS:
            n = count[emotion] if isinstance(count, dict) else count
            folder = root / split / emotion.capitalize()
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                seed += 1
                _save(folder / f"{emotion}_{i:03d}.png", _pixels(seed))
    return root


def _run(tmp_path: Path, *, seed: int = 7, out_dir: Path | None = None, metrics_path: Path | None = None,
         plots_dir: Path | None = None, csv_path: Path | None = None, workers: int | None = None, **data) -> dict:
    """Run prepare with a data config aimed at the folder fixture (``data`` sets its fields); outputs go under
    tmp_path/out.  The config is validated as params.yaml's would be."""
    raw_dir = tmp_path / "raw" if csv_path is None else csv_path.parent
    fields = dict(source="folder", raw_dir=str(raw_dir), csv_file="fer2013.csv" if csv_path is None else csv_path.name,
                  emotions=tuple(EMOTIONS), extensions=("png", ".JPG", "jpeg"), image_size=48, val_fraction=0.34,
                  undersample=False, samples_per_class=None)
    config = DataConfig(**{**fields, **data})
    config.validate()
    return prepare_dataset(config, seed=seed, out_dir=out_dir or tmp_path / "out" / "prepared",
                           metrics_path=metrics_path or tmp_path / "out" / "metrics" / "prepare.json",
                           plots_dir=plots_dir or tmp_path / "out" / "plots", workers=workers)


def _manifest(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "out" / "prepared" / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _dropped(tmp_path: Path) -> dict[str, str]:
    """Map dropped path -> reason."""
    with (tmp_path / "out" / "prepared" / "dropped.csv").open(newline="") as handle:
        return {row["path"]: row["reason"] for row in csv.DictReader(handle)}


# --------------------------------------------------------------------------- cleaning


def test_extensions_junk_and_conversions(tmp_path: Path) -> None:
    raw = _make_folder(tmp_path / "raw")
    angry = raw / "train" / "Angry"
    _save(angry / "upper.JPG", _pixels(1000), fmt="JPEG")  # Extension matching ignores case.
    _save(angry / "gif_image.gif", _pixels(1001), fmt="GIF")  # Valid image, extension not allowed.
    (angry / "notes.txt").write_text("not an image")
    (angry / ".DS_Store").write_bytes(b"\0\0\0")
    (angry / "empty.png").write_bytes(b"")
    (angry / "text.png").write_text("this is text, not a PNG")
    _save(angry / "whole.jpg", _pixels(1002), fmt="JPEG")
    data = (angry / "whole.jpg").read_bytes()
    (angry / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (angry / "whole.jpg").unlink()
    colour = np.stack([_pixels(1003), _pixels(1004), _pixels(1005)], axis=-1)
    Image.fromarray(colour, mode="RGB").save(angry / "colour.png")
    _save(angry / "big.png", _pixels(1006, size=96))
    Image.fromarray(_pixels(1007, size=64)).convert("RGB").save(angry / "big_colour.png")
    (raw / "train" / "README.txt").write_text("loose file next to the emotion folders")

    metrics = _run(tmp_path)

    dropped = _dropped(tmp_path)
    assert dropped == {
        "train/Angry/gif_image.gif": "extension",
        "train/Angry/notes.txt": "extension",
        "train/Angry/.DS_Store": "extension",
        "train/Angry/empty.png": "decode_error",
        "train/Angry/text.png": "decode_error",
        "train/Angry/truncated.jpg": "decode_error",
        "train/README.txt": "outside_emotion_folder",
    }
    kept = {row["path"] for row in _manifest(tmp_path)}
    for name in ("upper.JPG", "colour.png", "big.png", "big_colour.png"):
        assert f"train/Angry/{name}" in kept
    assert metrics["converted"] == {"colour": 2, "size": 2}
    assert metrics["dropped"]["extension"] == 3
    assert metrics["dropped"]["decode_error"] == 3
    assert metrics["dropped"]["total"] == len(dropped)
    assert metrics["images"]["found"] == metrics["images"]["kept"] + metrics["dropped"]["total"]
    assert set(metrics["dropped"]) == {*prep.DROP_REASONS, "total"}
    with np.load(tmp_path / "out" / "prepared" / "train.npz") as train:
        assert train["images"].shape[1:] == (48, 48)


def test_truncated_jpeg_is_dropped_even_if_caller_allows_truncation(tmp_path: Path) -> None:
    from PIL import ImageFile

    raw = _make_folder(tmp_path / "raw")
    _save(raw / "train" / "Fear" / "whole.jpg", _pixels(2000), fmt="JPEG")
    data = (raw / "train" / "Fear" / "whole.jpg").read_bytes()
    (raw / "train" / "Fear" / "whole.jpg").write_bytes(data[: len(data) * 2 // 3])
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        _run(tmp_path)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # The caller's setting is restored.
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert _dropped(tmp_path)["train/Fear/whole.jpg"] == "decode_error"


# --------------------------------------------------------------------------- duplicates


def test_duplicates_policy(tmp_path: Path) -> None:
    raw = _make_folder(tmp_path / "raw")
    test_img = _pixels(5000)
    _save(raw / "test" / "Happy" / "t_dup.png", test_img)
    _save(raw / "test" / "Happy" / "t_dup2.png", test_img)  # A test-internal copy: the test split is untouched.
    _save(raw / "train" / "Happy" / "a_copy_of_test.png", test_img)
    _save(raw / "train" / "Sad" / "b_copy_of_test.png", test_img)  # Conflicting label, spans splits.
    train_img = _pixels(5001)
    _save(raw / "train" / "Angry" / "x1.png", train_img)
    _save(raw / "train" / "Angry" / "x2.png", train_img)
    _save(raw / "train" / "Disgust" / "x3.png", train_img)  # Conflicting label within train.

    metrics = _run(tmp_path)

    assert metrics["duplicates"] == {
        "groups": 2,
        "copies": 3 + 2,
        "conflicting_label_groups": 2,
        "cross_split_groups": 1,
        "removed_in_test": 2,
        "removed_within_train": 2,
        "removed": 4,
    }
    dropped = _dropped(tmp_path)
    assert dropped["train/Happy/a_copy_of_test.png"] == "duplicate_of_test"
    assert dropped["train/Sad/b_copy_of_test.png"] == "duplicate_of_test"
    # Within train the first path in sorted order survives.
    assert dropped["train/Angry/x2.png"] == "duplicate_in_train"
    assert dropped["train/Disgust/x3.png"] == "duplicate_in_train"
    kept = {row["path"]: row for row in _manifest(tmp_path)}
    assert kept["train/Angry/x1.png"]["split"] in ("train", "val")
    assert kept["test/Happy/t_dup.png"]["split"] == "test"
    assert kept["test/Happy/t_dup2.png"]["split"] == "test"
    # Test keeps every original file; nothing in train/val shares pixels with test.
    assert metrics["counts"]["before_undersampling"]["test"]["total"] == 7 * N_TEST + 2
    test_hashes = {r["sha1"] for r in kept.values() if r["split"] == "test"}
    assert not test_hashes & {r["sha1"] for r in kept.values() if r["split"] != "test"}


# --------------------------------------------------------------------------- split and undersampling


def test_stratified_split(tmp_path: Path) -> None:
    counts = {e: 10 + 2 * i for i, e in enumerate(EMOTIONS)}
    _make_folder(tmp_path / "raw", n_train=counts)
    metrics = _run(tmp_path, val_fraction=0.25)
    counts_ = metrics["counts"]
    # No undersampling here: the pool is the same after it; the splits cut it into train and val.
    assert counts_["after_undersampling"] == counts_["before_undersampling"]
    before, splits = counts_["before_undersampling"], counts_["splits"]
    for emotion, n in counts.items():
        n_val = int(n * 0.25 + 0.5)
        assert (before["train"][emotion], before["val"][emotion]) == (n, 0)
        assert (splits["train"][emotion], splits["val"][emotion]) == (n - n_val, n_val)
        assert before["test"][emotion] == splits["test"][emotion] == N_TEST
    assert metrics["undersampling"] == {"per_class": 0}
    # Another seed picks other validation images but the same proportions.
    val_a = {r["path"] for r in _manifest(tmp_path) if r["split"] == "val"}
    _run(tmp_path, val_fraction=0.25, seed=8)
    val_b = {r["path"] for r in _manifest(tmp_path) if r["split"] == "val"}
    assert val_a != val_b and len(val_a) == len(val_b)


def test_undersampling_to_minority(tmp_path: Path) -> None:
    counts = {e: 8 for e in EMOTIONS} | {"disgust": 4}
    _make_folder(tmp_path / "raw", n_train=counts)
    metrics = _run(tmp_path, undersample=True, val_fraction=0.25)
    counts_ = metrics["counts"]
    before, after, splits = counts_["before_undersampling"], counts_["after_undersampling"], counts_["splits"]
    assert before["train"]["disgust"] == 4 and before["train"]["happy"] == 8
    # As in the original study: the pool is balanced to the minority's 4 first (its figure 2), then split 3 train /
    # 1 val.
    assert all(after["train"][e] == 4 and after["val"][e] == 0 for e in EMOTIONS)
    assert all(splits["train"][e] == 3 and splits["val"][e] == 1 for e in EMOTIONS)
    assert before["test"] == after["test"] == splits["test"]
    assert metrics["undersampling"] == {"per_class": 4}
    assert metrics["dropped"]["undersampled"] == before["train"]["total"] - after["train"]["total"] == 4 * 6
    with (tmp_path / "out" / "plots" / "class_distribution.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["stage"] for r in rows] == ["before"] * 7 + ["after"] * 7
    assert {r["emotion"]: int(r["count"]) for r in rows if r["stage"] == "before"} == counts
    assert {r["emotion"]: int(r["count"]) for r in rows if r["stage"] == "after"} == {e: 4 for e in EMOTIONS}
    for stage in ("before", "after"):
        assert (tmp_path / "out" / "plots" / f"class_distribution_{stage}.png").read_bytes()[:4] == b"\x89PNG"


def test_a_split_that_leaves_no_validation_image_is_refused(tmp_path: Path) -> None:
    _make_folder(tmp_path / "raw", n_train=2)
    with pytest.raises(UserError, match=r"data\.val_fraction: 0\.1 of 2 training images per class leaves no valid"):
        _run(tmp_path, val_fraction=0.1)
    assert not (tmp_path / "out").exists()


def test_undersampling_to_samples_per_class(tmp_path: Path) -> None:
    _make_folder(tmp_path / "raw", n_train=8)
    metrics = _run(tmp_path, undersample=True, samples_per_class=4, val_fraction=0.25)
    after, splits = metrics["counts"]["after_undersampling"], metrics["counts"]["splits"]
    assert all(after["train"][e] == 4 and splits["train"][e] == 3 and splits["val"][e] == 1 for e in EMOTIONS)
    with pytest.raises(UserError, match=r"data\.samples_per_class.*'angry' has only 8"):
        _run(tmp_path, undersample=True, samples_per_class=9, val_fraction=0.25, out_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()


# --------------------------------------------------------------------------- outputs and determinism


def test_outputs_match_manifest(tmp_path: Path) -> None:
    _make_folder(tmp_path / "raw")
    metrics = _run(tmp_path, emotions=["happy", "angry", "sad"])  # A subset, in a custom order.
    manifest = _manifest(tmp_path)
    assert [r["split"] for r in manifest] == sorted((r["split"] for r in manifest), key=prep.SPLITS.index)
    meta = json.loads((tmp_path / "out" / "prepared" / "meta.json").read_text())
    assert meta["emotions"] == ["happy", "angry", "sad"] and meta["image_size"] == 48
    raw = tmp_path / "raw"
    for split in prep.SPLITS:
        rows = [r for r in manifest if r["split"] == split]
        with np.load(tmp_path / "out" / "prepared" / f"{split}.npz") as arrays:
            images, labels = arrays["images"], arrays["labels"]
        assert images.dtype == np.uint8 and images.shape == (len(rows), 48, 48)
        assert labels.dtype == np.int64 and labels.shape == (len(rows),)
        assert [meta["emotions"][i] for i in labels] == [r["label"] for r in rows]
        assert meta["counts"][split]["happy"] == sum(r["label"] == "happy" for r in rows)
        # Row order is manifest order: the first image is the first manifest file's pixels.
        np.testing.assert_array_equal(images[0], np.asarray(Image.open(raw / rows[0]["path"])))
    assert metrics["dropped"]["excluded_emotion"] == 4 * (N_TRAIN + N_TEST)
    assert set(metrics["counts"]["before_undersampling"]["train"]) == {"happy", "angry", "sad", "total"}


def test_determinism_and_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _make_folder(tmp_path / "raw")
    (raw / "train" / "Angry" / "bad.png").write_bytes(b"junk")
    _save(raw / "train" / "Happy" / "dup.png", _pixels(1))

    def outputs(name: str, **kw) -> dict[str, bytes]:
        base = tmp_path / name
        _run(tmp_path, undersample=True, out_dir=base / "prepared", metrics_path=base / "prepare.json",
             plots_dir=base / "plots", **kw)
        return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}

    first = outputs("a", workers=1)
    # Force the multiprocessing path on this small input; results must be identical to the in-process decode.
    monkeypatch.setattr(prep, "POOL_MIN_FILES", 0)
    second = outputs("b", workers=2)
    assert first.keys() == second.keys()
    assert {"prepared/manifest.csv", "prepared/train.npz", "prepared/val.npz", "prepared/test.npz",
            "prepared/meta.json", "prepared/dropped.csv", "prepare.json", "plots/class_distribution.csv",
            "plots/class_distribution_before.png", "plots/class_distribution_after.png"} <= first.keys()
    for key in first:
        assert first[key] == second[key], key


# --------------------------------------------------------------------------- CSV reader


def _write_fer_csv(path: Path, rows: list[tuple[object, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("emotion", "pixels", "Usage"))
        writer.writerows(rows)


def _pixel_text(seed: int) -> str:
    return " ".join(map(str, _pixels(seed).ravel()))


def _csv_rows() -> list[tuple[object, str, str]]:
    rows: list[tuple[object, str, str]] = []
    seed = 0
    for code in range(7):
        for usage in ("Training",) * 4 + ("PublicTest", "PrivateTest"):
            seed += 1
            rows.append((code, _pixel_text(seed), usage))
    return rows


def test_csv_reader(tmp_path: Path) -> None:
    rows = _csv_rows()
    rows.append((3, "1 2 3", "Training"))  # Too short.
    rows.append((3, _pixel_text(999).replace(" ", " x ", 1), "Training"))  # Not an integer.
    rows.append((3, _pixel_text(998).replace("0 ", "256 ", 1).replace(" 0", " 256", 1), "PublicTest"))
    rows.append((9, _pixel_text(997), "Training"))  # Label out of range.
    rows.append((2, _pixel_text(996), "Validation"))  # Unknown usage.
    csv_path = tmp_path / "raw" / "fer2013.csv"
    _write_fer_csv(csv_path, rows)

    metrics = _run(tmp_path, source="csv", csv_path=csv_path, extensions=["png"], image_size=24)

    assert metrics["dropped"]["bad_pixels"] == 3
    assert metrics["dropped"]["bad_label"] == 1 and metrics["dropped"]["bad_usage"] == 1
    assert metrics["converted"]["size"] == 42
    manifest = {r["path"]: r for r in _manifest(tmp_path)}
    # Row n is the n-th data row (0-based): rows 0-5 are code 0, rows 24-29 code 4 (sad), rows 36-41 code 6 (neutral).
    assert manifest["fer2013.csv#row=0"]["label"] == "angry"
    assert manifest["fer2013.csv#row=24"]["label"] == CSV_LABELS[4] == "sad"
    assert manifest["fer2013.csv#row=40"]["label"] == "neutral"
    assert manifest["fer2013.csv#row=40"]["split"] == "test"  # PublicTest
    assert manifest["fer2013.csv#row=41"]["split"] == "test"  # PrivateTest
    assert manifest["fer2013.csv#row=0"]["split"] in ("train", "val")
    assert metrics["counts"]["before_undersampling"]["test"] == {**{e: 2 for e in EMOTIONS}, "total": 14}
    assert _dropped(tmp_path)["fer2013.csv#row=42"] == "bad_pixels"
    with np.load(tmp_path / "out" / "prepared" / "test.npz") as arrays:
        assert arrays["images"].shape == (14, 24, 24)


def test_csv_all_rows_bad(tmp_path: Path) -> None:
    csv_path = tmp_path / "raw" / "fer2013.csv"
    _write_fer_csv(csv_path, [(0, "1 2 3", "Training"), (1, "", "PublicTest")])
    with pytest.raises(UserError, match="data.csv_file.*bad_pixels=2"):
        _run(tmp_path, source="csv", csv_path=csv_path)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- bad input


def _layout_error(case: str, root: Path) -> None:
    """Break a valid folder fixture in one way."""
    raw = root / "raw"
    if case == "missing_raw_dir":
        return
    if case == "no_images":
        (raw / "train" / "angry").mkdir(parents=True)
        return
    _make_folder(raw, n_train=2, n_test=1)
    if case == "missing_test":
        shutil.rmtree(raw / "test")
    elif case == "missing_emotion":
        shutil.rmtree(raw / "test" / "Disgust")
    elif case == "empty_emotion":
        for p in (raw / "train" / "Fear").iterdir():
            p.unlink()
    elif case == "junk_only_emotion":
        for p in (raw / "train" / "Fear").iterdir():
            p.write_bytes(b"")
    elif case == "unknown_emotion":
        _save(raw / "train" / "contempt" / "c.png", _pixels(1))


@pytest.mark.parametrize(
    ("case", "pattern"),
    [
        ("missing_raw_dir", r"data\.raw_dir: .*raw does not exist; run `dvc repro synthesize`"),
        ("no_images", r"data\.raw_dir: .*contains no images"),
        ("missing_test", r"raw/test: missing 'test' split folder"),
        ("missing_emotion", r"raw/test/disgust: missing emotion folder for 'disgust'"),
        ("empty_emotion", r"raw/train/Fear: emotion folder is empty"),
        ("junk_only_emotion", r"raw/train/fear: no usable 'fear' images"),
        ("unknown_emotion", r"raw/train/contempt: unknown emotion folder 'contempt'; known emotions are angry, "),
    ],
)
def test_bad_layout(tmp_path: Path, case: str, pattern: str) -> None:
    _layout_error(case, tmp_path)
    with pytest.raises(UserError, match=pattern):
        _run(tmp_path)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"source": "parquet"}, "data.source"),
        ({"val_fraction": 0.0}, "data.val_fraction"),
        ({"val_fraction": 1.0}, "data.val_fraction"),
        ({"val_fraction": -0.2}, "data.val_fraction"),
        ({"extensions": ()}, "data.extensions"),
        ({"emotions": ()}, "data.emotions"),
        ({"emotions": ("angry", "contempt")}, "data.emotions"),
        ({"samples_per_class": 0, "undersample": True}, "data.samples_per_class"),
        ({"source": "csv"}, "data.csv_file"),  # The CSV does not exist.
    ],
)
def test_bad_params(tmp_path: Path, overrides: dict, key: str) -> None:
    _make_folder(tmp_path / "raw", n_train=2, n_test=1)
    with pytest.raises(UserError, match=key.replace(".", r"\.")):
        _run(tmp_path, **overrides)
    assert not (tmp_path / "out").exists()


def test_csv_missing_column(tmp_path: Path) -> None:
    csv_path = tmp_path / "raw" / "fer2013.csv"
    csv_path.parent.mkdir(parents=True)
    csv_path.write_text("emotion,pixels\n0," + _pixel_text(1) + "\n")
    with pytest.raises(UserError, match=r"data\.csv_file: .*fer2013\.csv lacks column\(s\) Usage"):
        _run(tmp_path, source="csv", csv_path=csv_path)
    assert not (tmp_path / "out").exists()


def test_failure_keeps_previous_outputs(tmp_path: Path) -> None:
    """A failing rerun leaves the previous complete outputs in place rather than a partial directory."""
    raw = _make_folder(tmp_path / "raw")
    _run(tmp_path)
    before = (tmp_path / "out" / "prepared" / "manifest.csv").read_bytes()
    _save(raw / "train" / "contempt" / "c.png", _pixels(1))
    with pytest.raises(UserError):
        _run(tmp_path)
    assert (tmp_path / "out" / "prepared" / "manifest.csv").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics", "plots", "prepared"]


def test_sixteen_bit_images_are_scaled_not_clipped_to_white(tmp_path: Path) -> None:
    """Pillow's own I;16 -> L conversion clips at 255 (a white image); prepare scales 0..65535 to 0..255."""
    raw = _make_folder(tmp_path / "raw")
    pixels = _pixels(2001)
    Image.fromarray(pixels.astype(np.uint16) * 257).save(raw / "train" / "Happy" / "deep.png")  # a 16-bit PNG
    assert Image.open(raw / "train" / "Happy" / "deep.png").mode.startswith("I")
    _run(tmp_path)
    rows = _manifest(tmp_path)
    split = [r["split"] for r in rows if r["path"] == "train/Happy/deep.png"][0]
    with np.load(tmp_path / "out" / "prepared" / f"{split}.npz") as arrays:
        in_split = [r["path"] for r in rows if r["split"] == split].index("train/Happy/deep.png")
        np.testing.assert_array_equal(arrays["images"][in_split], pixels)


def test_train_full_keeps_every_deduplicated_training_image_outside_val(tmp_path: Path) -> None:
    counts = {e: 8 for e in EMOTIONS} | {"disgust": 4}
    raw = _make_folder(tmp_path / "raw", n_train=counts)
    # One duplicate inside train, which must not reach train_full twice.
    shutil.copy(raw / "train" / "Happy" / "happy_000.png", raw / "train" / "Happy" / "happy_copy.png")
    metrics = _run(tmp_path, undersample=True, val_fraction=0.25)
    out = tmp_path / "out" / "prepared"
    with np.load(out / "train_full.npz") as full, np.load(out / "val.npz") as val, np.load(out / "train.npz") as train:
        full_images, full_labels = full["images"], full["labels"]
        val_images, train_images = val["images"], train["images"]
    # Every training image (8 per class, 4 disgust) but the 1 per class that went to val.
    assert np.bincount(full_labels, minlength=7).tolist() == [counts[e] - 1 for e in EMOTIONS]
    keys = {image.tobytes() for image in full_images}
    assert len(keys) == len(full_images)  # the duplicate is gone
    assert not keys & {image.tobytes() for image in val_images}
    assert {image.tobytes() for image in train_images} <= keys  # the undersampled split is a subset
    assert metrics["counts"]["train_full"]["total"] == len(full_labels)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["train_full"] == {e: counts[e] - 1 for e in EMOTIONS}
