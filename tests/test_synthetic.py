"""Tests for the synthetic FER-2013 stand-in (emotion_lib.synthetic).

They check the folder layout and counts, that every image is a 48x48
grayscale JPEG, byte-level determinism, the junk files a cleaning step must
catch, and, cheaply, that the set is neither trivial for a linear model on raw
pixels nor devoid of signal.  The full difficulty measurement (CNN versus
logistic regression at scale 0.5) lives in bench/synthetic_difficulty.py.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

from emotion_lib import EMOTIONS
from emotion_lib.synthetic import FER2013_COUNTS, class_counts, render_face, synthesize_dataset

TINY_SCALE = 0.01
IMAGE_NAME = re.compile(r"im\d{6}\.jpg")


def _hashes(root: Path) -> dict[str, str]:
    """Map every file under ``root`` (relative path) to the SHA-256 of its bytes."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _counted_images(root: Path, split: str, emotion: str) -> list[Path]:
    return sorted(path for path in (root / split / emotion).iterdir() if IMAGE_NAME.fullmatch(path.name))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A scale-0.01 set (about 360 images), shared by the read-only tests of this module."""
    out_dir = tmp_path_factory.mktemp("tiny") / "synthetic"
    summary = synthesize_dataset(out_dir=out_dir, scale=TINY_SCALE, seed=42)
    return out_dir, summary


def test_fer_counts_and_totals() -> None:
    assert tuple(FER2013_COUNTS["train"]) == EMOTIONS
    assert tuple(FER2013_COUNTS["test"]) == EMOTIONS
    assert sum(FER2013_COUNTS["train"].values()) == 28_709
    assert sum(FER2013_COUNTS["test"].values()) == 7_178
    assert class_counts(1.0) == FER2013_COUNTS


@pytest.mark.parametrize("scale", [0.0001, 0.01, 0.05, 0.5, 1.0, 2.0])
def test_class_counts_keep_fer_proportions(scale: float) -> None:
    counts = class_counts(scale)
    for split in ("train", "test"):
        for emotion in EMOTIONS:
            expected = FER2013_COUNTS[split][emotion] * scale
            # Rounded to the nearest integer, but never below one image.
            assert counts[split][emotion] == max(1, math.floor(expected + 0.5))
        # Disgust stays the (possibly tied, at tiny scales) minority class.
        assert counts[split]["disgust"] == min(counts[split].values())


def test_default_scale_gives_the_documented_minority() -> None:
    assert class_counts(0.5)["train"]["disgust"] == 218


@pytest.mark.parametrize("scale", [0, -0.5, float("nan"), float("inf")])
def test_bad_scale_is_a_value_error(scale: float, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        class_counts(scale)
    with pytest.raises(ValueError, match="scale"):
        synthesize_dataset(out_dir=tmp_path / "out", scale=scale, seed=0)
    assert not (tmp_path / "out").exists()


def test_bad_emotion_seed_and_size_are_value_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="emotion='joy'"):
        render_face(emotion="joy", rng=rng)
    with pytest.raises(ValueError, match="image_size"):
        render_face(emotion="happy", rng=rng, image_size=8)
    with pytest.raises(ValueError, match="seed"):
        synthesize_dataset(out_dir=tmp_path / "out", scale=TINY_SCALE, seed=-1)


def test_layout_and_counts(tiny: tuple[Path, dict]) -> None:
    root, summary = tiny
    expected = class_counts(TINY_SCALE)
    assert summary["counts"] == expected
    assert summary["n_images"] == sum(sum(per_class.values()) for per_class in expected.values())
    assert sorted(path.name for path in root.iterdir()) == ["test", "train"]
    for split in ("train", "test"):
        assert sorted(path.name for path in (root / split).iterdir()) == sorted(EMOTIONS)
        for emotion in EMOTIONS:
            images = _counted_images(root, split, emotion)
            assert len(images) == expected[split][emotion], (split, emotion)
            assert images[0].name == "im000000.jpg"
    # Nothing but the junk files sits next to the counted images.
    all_files = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
    counted = {path.relative_to(root).as_posix() for path in root.rglob("im[0-9]*.jpg")}
    assert all_files - counted == set(summary["junk_files"])
    # The temporary directory used for the atomic swap is gone.
    assert [path.name for path in root.parent.iterdir()] == ["synthetic"]


def test_every_image_is_48x48_grayscale_jpeg(tiny: tuple[Path, dict]) -> None:
    root, _ = tiny
    n_checked = 0
    for split in ("train", "test"):
        for emotion in EMOTIONS:
            for path in _counted_images(root, split, emotion):
                with Image.open(path) as image:
                    image.load()
                    assert (image.format, image.mode, image.size) == ("JPEG", "L", (48, 48)), path
                    # The faces are not blank: a real image has a spread of gray levels.
                    assert np.asarray(image).std() > 5, path
                n_checked += 1
    assert n_checked == sum(sum(per_class.values()) for per_class in class_counts(TINY_SCALE).values())


def test_junk_files_are_present_and_unusable(tiny: tuple[Path, dict]) -> None:
    root, summary = tiny
    junk = summary["junk_files"]
    suffixes = sorted(Path(name).suffix or Path(name).name for name in junk)
    assert suffixes == sorted([".txt", ".gif", ".db", ".jpg", ".jpg", ".png"])
    assert all(name.startswith("train/") for name in junk)
    assert len({Path(name).parent for name in junk}) >= 2
    for name in junk:
        path = root / name
        assert path.is_file(), name
        if path.suffix == ".gif":
            with Image.open(path) as image:
                assert image.format == "GIF"
        elif path.suffix in (".jpg", ".png") and path.stat().st_size > 0:
            # The truncated JPEG opens (its header is intact) but fails to decode;
            # the text PNG is not recognised at all.
            with pytest.raises((OSError, UnidentifiedImageError)):
                with Image.open(path) as image:
                    image.load()
    assert any((root / name).stat().st_size == 0 for name in junk)


def test_no_junk_when_disabled(tmp_path: Path) -> None:
    summary = synthesize_dataset(out_dir=tmp_path / "clean", scale=0.001, seed=1, junk_files=False)
    assert summary["junk_files"] == []
    files = [path for path in (tmp_path / "clean").rglob("*") if path.is_file()]
    assert files and all(IMAGE_NAME.fullmatch(path.name) for path in files)


def test_same_seed_is_byte_identical_and_other_seed_differs(tiny: tuple[Path, dict], tmp_path: Path) -> None:
    root, summary = tiny
    again = synthesize_dataset(out_dir=tmp_path / "again", scale=TINY_SCALE, seed=42)
    assert again == summary
    assert _hashes(tmp_path / "again") == _hashes(root)

    synthesize_dataset(out_dir=tmp_path / "other", scale=TINY_SCALE, seed=43, junk_files=False)
    other = _hashes(tmp_path / "other")
    reference = _hashes(root)
    # Same file names (minus the junk), but every image differs.
    assert other.keys() == reference.keys() - set(summary["junk_files"])
    assert all(other[name] != reference[name] for name in other)


def test_existing_out_dir_is_replaced(tmp_path: Path) -> None:
    out_dir = tmp_path / "synthetic"
    (out_dir / "train" / "happy").mkdir(parents=True)
    (out_dir / "stale.txt").write_text("left over from an older run")
    (out_dir / "train" / "happy" / "im999999.jpg").write_bytes(b"old")
    synthesize_dataset(out_dir=out_dir, scale=0.001, seed=3, junk_files=False)
    assert not (out_dir / "stale.txt").exists()
    assert not (out_dir / "train" / "happy" / "im999999.jpg").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["synthetic"]


def test_render_face_is_deterministic_and_sized() -> None:
    first = render_face(emotion="fear", rng=np.random.default_rng([7, 0, 2, 5]))
    second = render_face(emotion="fear", rng=np.random.default_rng([7, 0, 2, 5]))
    assert first.dtype == np.uint8 and first.shape == (48, 48)
    np.testing.assert_array_equal(first, second)
    assert render_face(emotion="fear", rng=np.random.default_rng(1), image_size=64).shape == (64, 64)


def test_expression_changes_the_lower_face() -> None:
    """Mean happy and sad faces differ in the mouth region far more than two halves of the happy faces do."""
    n = 200

    def mouth_mean(emotion: str, offset: int) -> np.ndarray:
        faces = [render_face(emotion=emotion, rng=np.random.default_rng([0, 9, offset, i])) for i in range(n)]
        return np.mean([face[28:44, 10:38].astype(np.float64) for face in faces], axis=0)

    happy_a, happy_b, sad = mouth_mean("happy", 0), mouth_mean("happy", 1), mouth_mean("sad", 2)
    between = np.abs(happy_a - sad).mean()
    within = np.abs(happy_a - happy_b).mean()
    assert between > 2.0 * within, (between, within)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_raw_pixels_carry_some_but_not_enough_signal(tmp_path: Path) -> None:
    """Logistic regression on raw pixels: clearly above chance, clearly below the CNN.

    bench/synthetic_difficulty.py measured, at scale 0.5 and seed 42 on the
    undersampled train set, about 0.87 test accuracy for a small CNN and at
    most about 0.28 for logistic regression (best of C in 0.01, 0.1, 1).  The
    brief requires the CNN within 70-97% and logistic regression at least 15
    points lower, so logistic regression must stay <= 0.70 - 0.15 = 0.55; this
    test uses the stricter 0.50, on a cheaper scale-0.05 set.  Balanced
    accuracy must beat chance (1/7) by 5 points, so the faces carry signal;
    plain accuracy could pass that by predicting the majority class.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from threadpoolctl import threadpool_limits

    root = tmp_path / "small"
    synthesize_dataset(out_dir=root, scale=0.05, seed=42, junk_files=False)

    def load(split: str) -> tuple[np.ndarray, np.ndarray]:
        pixels, labels = [], []
        for label, emotion in enumerate(EMOTIONS):
            for path in _counted_images(root, split, emotion):
                with Image.open(path) as image:
                    pixels.append(np.asarray(image, dtype=np.float64).ravel() / 255.0)
                labels.append(label)
        return np.stack(pixels), np.asarray(labels)

    x_train, y_train = load("train")
    x_test, y_test = load("test")
    # One BLAS thread: on a shared 2-core machine more threads run ~10x slower.
    with threadpool_limits(1):
        model = LogisticRegression(C=0.1, max_iter=300, class_weight="balanced").fit(x_train, y_train)
    predicted = model.predict(x_test)
    accuracy = float(np.mean(predicted == y_test))
    balanced = float(balanced_accuracy_score(y_test, predicted))
    assert accuracy <= 0.50, accuracy
    assert balanced > 1 / 7 + 0.05, balanced
