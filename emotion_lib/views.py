"""Test-time views: the copies of a face a model scores, and how their scores make the face's.

:func:`views_of` makes them from stored-form uint8 images ``(N, H, W)``, in numpy, for both of ``predict``'s
backends: a Keras model (through evaluation's input path, view by view) and an exported copy
(:mod:`emotion_lib.portable`, onnxruntime), so a copy scores exactly the pixels the Keras model would.

``evaluate-<trial>`` scores the same views (``evaluation.predict_views`` calls this function), so predict
reproduces the evaluated figures with either backend.

:func:`average` joins the views' probabilities into the face's, for evaluate, predict (both backends) and the
release alike.

This module never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from emotion_lib.losses import log_probabilities, softmax


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``images`` (N, H, W) moved by (dy, dx) pixels, the edge rows and columns repeated into the gap."""
    pad_y, pad_x = abs(dy), abs(dx)
    padded = np.pad(images, ((0, 0), (pad_y, pad_y), (pad_x, pad_x)), mode="edge")
    height, width = images.shape[1:]
    return np.ascontiguousarray(padded[:, pad_y - dy: pad_y - dy + height, pad_x - dx: pad_x - dx + width])


def views_of(images: np.ndarray, *, flip: bool = False, shift: int = 0) -> Iterator[np.ndarray]:
    """Every test-time view of ``images`` (N, H, W), one array each, in this order.

    The images as given, then (with ``shift``) moved ``shift`` pixels down, up, right and left; with ``flip``
    each followed by its mirror image.  A generator, so only one view of a large set is held at a time.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0 pixels, got {shift}")
    offsets = [(0, 0)] + ([(shift, 0), (-shift, 0), (0, shift), (0, -shift)] if shift else [])
    for dy, dx in offsets:
        moved = shifted(images, dy, dx) if (dy, dx) != (0, 0) else images
        yield moved
        if flip:
            yield np.ascontiguousarray(moved[:, :, ::-1])


def average(per_view: Sequence[np.ndarray]) -> np.ndarray:
    """The class probabilities (float64) of each face from those of its views: the softmax of the views' mean
    log-probability (their normalised geometric mean).

    Log-probabilities are the model's logits less a per-view constant, so this scores the mean logits, as an
    ensemble joins its members (:func:`emotion_lib.models.ensemble_model`).  Why logits and not probabilities:
    temperature scaling divides every view's logits by T, which divides their mean by T, so the face's label is
    the same at every temperature (a mean of probabilities can change it).  One view is returned as it is.
    """
    if len(per_view) == 1:
        return np.asarray(per_view[0], dtype=np.float64)
    return softmax(log_probabilities(np.asarray(per_view)).mean(axis=0))
