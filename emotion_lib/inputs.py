"""Model inputs: the one path from stored 48x48 uint8 face images to what a model takes.

Training, validation, evaluation and prediction all go through
:func:`make_dataset` (or its eager twin :func:`model_inputs`), so a model is
scored and applied on exactly the pixels it was trained on:

1. :func:`resize_images`: bilinear resize of the grayscale image to the
   model's input size, rounded and clipped back to uint8 (a no-op at 48 px);
2. :func:`expand_channels`: float32 conversion and replication of the gray
   channel to the model's channel count (3 for VGG16 and the original study's RGB
   input).

Scaling (1/255, or VGG16's mean subtraction) is the model's own first layer.
The prepared arrays come from ``data/prepared/<split>.npz`` (:func:`load_split`), the class names from
``data/prepared/meta.json`` (:func:`read_emotions`).
"""

from __future__ import annotations

from pathlib import Path

from emotion_lib import quiet_tensorflow  # noqa: F401 - first: TensorFlow's start-up lines stay out of stderr

# isort: split
import numpy as np
import tensorflow as tf

from emotion_lib.atomic import read_json
from emotion_lib.errors import UserError

# train_full: every deduplicated training image outside val, for trials with train_split: full.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test", "train_full")


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``data_dir/<split>.npz``: ``images`` uint8 (N, H, W) and ``labels`` int64 (N,)."""
    if split not in SPLIT_NAMES:
        raise ValueError(f"split must be one of {list(SPLIT_NAMES)}, got {split!r}")
    path = Path(data_dir) / f"{split}.npz"
    if not path.is_file():
        raise UserError(f"{path}: missing; run `dvc repro prepare` first")
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (KeyError, ValueError, OSError) as error:
        raise UserError(
            f"{path} is not a prepared split (needs arrays 'images' and 'labels'): {error}; re-run `dvc repro prepare`"
        ) from error
    if images.dtype != np.uint8 or images.ndim != 3:
        raise UserError(
            f"{path}: 'images' must be uint8 (N, H, W), got {images.dtype} {images.shape}; re-run `dvc repro prepare`"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0] or not np.issubdtype(labels.dtype, np.integer):
        raise UserError(
            f"{path}: 'labels' must be integers of shape ({images.shape[0]},), got {labels.dtype} {labels.shape}; "
            "re-run `dvc repro prepare`"
        )
    if images.shape[0] == 0:
        raise UserError(f"{path} holds no images; check the data.* params and re-run `dvc repro prepare`")
    return images, labels.astype(np.int64)


def read_emotions(data_dir: Path) -> list[str]:
    """The class names, in label order, that prepare recorded in ``data_dir/meta.json``."""
    meta_path = Path(data_dir) / "meta.json"
    fix = "prepare the data first (run `dvc repro prepare`)"
    emotions = read_json(meta_path, "prepared-data metadata", fix).get("emotions")
    if not isinstance(emotions, list) or not all(isinstance(e, str) for e in emotions) or len(emotions) < 2:
        raise UserError(f"prepared-data metadata {meta_path} must contain an 'emotions' list of class names; {fix}")
    return emotions


def input_geometry(model, what: str = "") -> tuple[int, int]:
    """(side, channels) of a model that takes one square image input ``(None, S, S, C)``.

    ``what`` names the model in the error (e.g. its file); by default, Keras' name for it.
    """
    shape = model.input_shape
    what = what or f"model {model.name!r}"
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[1] != shape[2] or shape[1] is None:
        raise UserError(f"{what} must take one square image input (None, S, S, C), got {shape}; "
                        f"use a model trained by this project")
    if shape[3] not in (1, 3):
        raise UserError(f"{what} takes {shape[3]} channels; this project's models take 1 or 3")
    return int(shape[1]), int(shape[3])


def resize_images(images: tf.Tensor, image_size: int) -> tf.Tensor:
    """uint8 (..., H, W) grayscale -> uint8 (..., S, S, 1): bilinear resize, rounded back to uint8.

    Rounding keeps the resized images uint8, so the training cache stays small
    (FER-2013 at 180 px as float RGB would need ~11 GB), and every consumer
    sees the same integers.
    """
    images = tf.convert_to_tensor(images)
    if images.dtype != tf.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype.name}")
    images = images[..., tf.newaxis]
    if tuple(images.shape[-3:-1]) == (image_size, image_size):
        return images
    resized = tf.image.resize(images, (image_size, image_size), method="bilinear")
    return tf.cast(tf.round(tf.clip_by_value(resized, 0.0, 255.0)), tf.uint8)


def expand_channels(images: tf.Tensor, channels: int) -> tf.Tensor:
    """uint8 (..., S, S, 1) -> float32 (..., S, S, channels), pixel values 0..255."""
    images = tf.cast(images, tf.float32)
    return tf.tile(images, [1] * (images.shape.rank - 1) + [channels]) if channels > 1 else images


def _check(images: np.ndarray, channels: int) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (N, H, W), got {images.dtype} {images.shape}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")


def model_inputs(images: np.ndarray, *, image_size: int, channels: int) -> np.ndarray:
    """float32 (N, S, S, channels) model input for uint8 (N, H, W) images, eagerly (small batches, tests)."""
    _check(images, channels)
    return expand_channels(resize_images(images, image_size), channels).numpy()


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray | None,
    *,
    image_size: int,
    channels: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of model input (float32 (B, S, S, channels)), with int64 labels unless ``labels`` is None.

    The resize runs once per image and is cached as single-channel uint8;
    channel replication and the float conversion run per batch after the
    cache.  Shuffling is seeded and differs every epoch.
    """
    _check(images, channels)
    if labels is not None and labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")

    # Named functions rather than lambdas: AutoGraph warns that it cannot convert a lambda's source.
    def resize(image, *label):
        return (resize_images(image, image_size), *label) if label else resize_images(image, image_size)

    def expand(batch, *label):
        return (expand_channels(batch, channels), *label) if label else expand_channels(batch, channels)

    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(images)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
    dataset = dataset.map(resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(expand, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return without_autotune(dataset.prefetch(tf.data.AUTOTUNE))


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's autotuning model thread switched off (``AUTOTUNE`` sizes fall back to defaults).

    Keras makes a new iterator every epoch (and for every validation pass and prediction), and destroying one
    waits for its autotuning thread to wake from a timed sleep: measured 1.7-2.3 s of idle CPU at about every
    second epoch boundary (TF 2.21, 2 cores; a gdb stack showed ``RootDataset::Iterator::~Iterator`` waiting on
    ``Model::OptimizeLoop``). These pipelines read cached arrays, so there is nothing for autotuning to gain, and
    the small default trials lost a fifth of their training time to it. Data order is unchanged (seeded shuffle,
    deterministic maps), so results are too.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)

