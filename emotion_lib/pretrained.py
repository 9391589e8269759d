"""VGG16 conv-base weights as a pipeline artifact.

:func:`resolve_vgg16_weights` turns the ``pretrained.weights`` param
(``imagenet``, ``none`` or a path) into one normalised Keras weights file plus a
small JSON record of where the weights came from.  Training stages then build
VGG16 with ``weights=None`` and load that file, so only this stage ever looks
for ImageNet weights, and a run without network access is visible in the
record (``"source": "random"``) instead of silently training on random
features.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from emotion_lib import quiet_tensorflow  # noqa: F401 - first: TensorFlow's start-up lines stay out of stderr

# isort: split
import keras

from emotion_lib.atomic import atomic_file, write_json
from emotion_lib.errors import UserError, why_not_a_file
from emotion_lib.models import build_vgg16_base

IMAGENET_NOTOP_FILENAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_NOTOP_URL = f"https://storage.googleapis.com/tensorflow/keras-applications/vgg16/{IMAGENET_NOTOP_FILENAME}"
# The MD5 that keras.applications.VGG16 itself checks the download against.
IMAGENET_NOTOP_MD5 = "6d6bbae143d832006294945121d1f1fc"

# What the `weights` stage writes into models/pretrained/: the weights file every VGG16 trial loads, and its record.
WEIGHTS_FILE = "vgg16_notop.weights.h5"
INFO_FILE = "vgg16.json"

# Convolution weights do not depend on the input size, so a small input keeps normalisation cheap.
_NORMALISE_INPUT_SIZE = 32


def keras_home() -> Path:
    """The Keras cache directory, resolved now (``$KERAS_HOME`` or ``~/.keras``).

    Keras reads ``KERAS_HOME`` once at import time; resolving it per call lets
    a caller (or a test) point it elsewhere after Keras has been imported.
    """
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"])
    return Path.home() / ".keras"


def imagenet_cache_path() -> Path:
    """Where Keras keeps (and where a user may place by hand) the ImageNet VGG16 no-top weights."""
    return keras_home() / "models" / IMAGENET_NOTOP_FILENAME


def _download_imagenet_notop() -> Path:
    """Download the ImageNet weights into the Keras cache, the way ``keras.applications.VGG16`` does.

    Same URL, file name, cache sub-directory and MD5 check as Keras uses, but
    with the cache directory resolved at call time.  Raises on any failure.
    """
    return Path(
        keras.utils.get_file(
            IMAGENET_NOTOP_FILENAME,
            origin=IMAGENET_NOTOP_URL,
            cache_dir=str(keras_home()),
            cache_subdir="models",
            file_hash=IMAGENET_NOTOP_MD5,
        )
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _offline_warning(error: BaseException, seed: int) -> str:
    cache = imagenet_cache_path()
    bar = "!" * 78
    return "\n".join(
        [
            bar,
            "WARNING: ImageNet weights for VGG16 are NOT available; falling back to RANDOM weights.",
            f"  reason: {type(error).__name__}: {error}",
            f"  The vgg16 trials will train on random (seed {seed}) features, NOT on ImageNet features,",
            "  so their results say nothing about transfer learning.",
            "  To use ImageNet weights offline, download this file on a machine with network access:",
            f"    {IMAGENET_NOTOP_URL}",
            "  and place it (same file name) at:",
            f"    {cache}",
            "  ($KERAS_HOME/models/ if KERAS_HOME is set), or set pretrained.weights to its path.",
            "  Set pretrained.strict: true to make this an error instead of a fallback.",
            bar,
        ]
    )


def resolve_vgg16_weights(*, weights: str, strict: bool, seed: int, out_path: Path, info_path: Path) -> dict:
    """Write the VGG16 (no top) weights to use to ``out_path`` and their provenance to ``info_path``.

    ``weights``:

    * ``"imagenet"``: the Keras cache file (see :func:`imagenet_cache_path`) if
      present, else a download.  If neither works: with ``strict`` a
      :class:`UserError`; without, seeded random weights and a loud warning on
      stderr (source ``"random"``).
    * ``"none"``: seeded random weights (source ``"random"``).
    * anything else: a path to a Keras weights file of VGG16 without its top
      (source ``"file"``); it must exist and load.

    Whatever the source, the weights are loaded into a freshly built VGG16 conv
    base and saved with ``save_weights``, so the artifact always has the same
    format.  ``out_path`` must end in ``.weights.h5`` (Keras' requirement).
    Returns the record written to ``info_path``:
    ``{"source", "requested", "sha256", "reason"}``.
    """
    out_path, info_path = Path(out_path), Path(info_path)
    if not out_path.name.endswith(".weights.h5"):
        raise ValueError(f"out_path must end in '.weights.h5' (Keras save_weights format), got {str(out_path)!r}")
    if not isinstance(weights, str) or not weights:
        raise UserError(f"pretrained.weights must be 'imagenet', 'none' or a path to a .h5 file, got {weights!r}")

    source_file: Path | None = None
    if weights == "imagenet":
        cache = imagenet_cache_path()
        try:
            if cache.is_file():
                source_file, how = cache, f"ImageNet weights from the Keras cache {str(cache)!r}"
            else:
                source_file, how = _download_imagenet_notop(), f"ImageNet weights downloaded from {IMAGENET_NOTOP_URL}"
            base = build_vgg16_base(image_size=_NORMALISE_INPUT_SIZE, weights_path=source_file, seed=seed)
            source, reason = "imagenet", how
        except Exception as error:  # offline (URLError), bad hash, unreadable cache file: all mean "no ImageNet"
            if strict:
                raise UserError(
                    f"pretrained.weights: imagenet is not available ({type(error).__name__}: {error}) and "
                    f"pretrained.strict is true: place {IMAGENET_NOTOP_URL} at {str(imagenet_cache_path())!r}, "
                    "set pretrained.weights to a local .h5 path, or set pretrained.strict: false to fall back to "
                    "random weights"
                ) from error
            print(_offline_warning(error, seed), file=sys.stderr, flush=True)
            base = build_vgg16_base(image_size=_NORMALISE_INPUT_SIZE, weights_path=None, seed=seed)
            source = "random"
            reason = (
                f"imagenet requested but unavailable ({type(error).__name__}: {error}); "
                f"pretrained.strict is false, so seeded random weights (seed {seed}) were used"
            )
    elif weights == "none":
        base = build_vgg16_base(image_size=_NORMALISE_INPUT_SIZE, weights_path=None, seed=seed)
        source, reason = "random", f"pretrained.weights is none: seeded random weights (seed {seed})"
    else:
        source_file = Path(weights)
        if not source_file.is_file():
            raise UserError(
                f"pretrained.weights: file {weights!r} {why_not_a_file(source_file)}; use 'imagenet', 'none' or "
                "the path of a Keras .h5 weights file of VGG16 without its top"
            )
        try:
            base = build_vgg16_base(image_size=_NORMALISE_INPUT_SIZE, weights_path=source_file, seed=seed)
        except UserError as error:
            raise UserError(f"pretrained.weights: {error}") from error
        source, reason = "file", f"weights loaded from {weights!r}"

    with atomic_file(out_path) as tmp:
        base.save_weights(str(tmp))
    info = {"source": source, "requested": weights, "sha256": _sha256(out_path), "reason": reason}
    write_json(info_path, info)
    return info


def backbone_source(weights_dir: Path) -> str:
    """The VGG16 backbone's source recorded by the `weights` stage: imagenet, file or random."""
    info_path = Path(weights_dir) / INFO_FILE
    if not info_path.is_file():
        raise UserError(f"{info_path}: missing; run `dvc repro weights` first")
    return json.loads(info_path.read_text())["source"]
