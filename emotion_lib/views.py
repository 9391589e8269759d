"""Test-time views: the copies of a face a model scores before its probabilities are averaged.

:func:`views_of` makes them from stored-form uint8 images ``(N, H, W)``, in numpy, for both of ``predict``'s
backends: a Keras model (through evaluation's input path, view by view) and an exported copy
(:mod:`emotion_lib.portable`, onnxruntime), so a copy scores exactly the pixels the Keras model would.

``evaluate-<trial>`` scores the same views (``evaluation.predict_views`` calls this function), so predict
reproduces the evaluated figures with either backend.

This module never imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


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
