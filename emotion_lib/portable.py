"""The portable copy of a trained model: one ONNX file that ``predict`` runs with onnxruntime, without TensorFlow.

``python -m emotion_lib.export models/<trial>.keras`` writes it (:mod:`emotion_lib.export`).  The copy is the
model's inference graph with the input path of training in front (:func:`emotion_lib.inputs.resize_images` and
:func:`~emotion_lib.inputs.expand_channels`, traced into the graph): it takes stored-form faces, uint8
``(N, S, S)`` at the prepared size ``S`` (48), and returns one probability per emotion.  What predict needs
besides travels inside the file, as the ONNX metadata entry ``emotion_lib`` (a JSON object,
:class:`CopyInfo`): the emotions in output order, the stored size, the Keras model's input, and the test-time
views the trial was evaluated with.  The views themselves are made here in numpy by
:func:`emotion_lib.views.views_of`, the function the Keras path uses, so both score the same pixels.

This module imports neither TensorFlow nor Keras (a test runs predict with both unimportable); only numpy and,
when a copy is loaded, onnxruntime.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotion_lib.errors import UserError
from emotion_lib.views import average, views_of

METADATA_KEY = "emotion_lib"
FORMAT_VERSION = 1
"""Bumped when a field changes meaning, so a newer copy is refused by older code rather than misread."""
INPUT_NAME = "faces"
OUTPUT_NAME = "probabilities"
SUFFIX = ".onnx"
EXPORT_HINT = "export one with `python -m emotion_lib.export models/<trial>.keras`"


@dataclass(frozen=True)
class CopyInfo:
    """What an exported copy says about itself (its ``emotion_lib`` metadata entry)."""

    emotions: tuple[str, ...]
    """Names of the outputs, in order: the ``data.emotions`` the model was trained with."""
    image_size: int
    """Side of the stored-form faces the copy takes (``data.image_size``); it resizes them to ``model_input``."""
    model_input: tuple[int, int, int]
    """The Keras model's own input (side, side, channels)."""
    test_time_flip: bool
    """Whether the trial's evaluation averaged each face with its mirror image: predict's default for the copy."""
    test_time_shift: int
    """The pixels the trial's evaluation also shifted each face by (0: none): predict's default for the copy."""
    source: str
    """The file name of the Keras model the copy was exported from (its trial is the stem)."""
    source_sha256: str
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        """The metadata value written into the ONNX file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: Path) -> CopyInfo:
        """Parse a copy's metadata; a UserError naming ``path`` when it is not what this code writes."""
        try:
            data = json.loads(text)
            version = data.get("format_version")
            if version != FORMAT_VERSION:
                raise UserError(f"{path}: a copy of format {version!r}, this code reads format {FORMAT_VERSION}; "
                                f"re-export it with this version of the project ({EXPORT_HINT})")
            info = cls(emotions=tuple(data["emotions"]), image_size=int(data["image_size"]),
                       model_input=tuple(int(v) for v in data["model_input"]),  # type: ignore[arg-type]
                       test_time_flip=bool(data["test_time_flip"]), test_time_shift=int(data["test_time_shift"]),
                       source=str(data["source"]), source_sha256=str(data["source_sha256"]))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if isinstance(error, UserError):
                raise
            raise UserError(f"{path}: unreadable {METADATA_KEY!r} metadata ({error!r}); {EXPORT_HINT}") from None
        if len(info.emotions) < 2 or not all(isinstance(e, str) for e in info.emotions):
            raise UserError(f"{path}: its metadata names {list(info.emotions)} as the emotions; {EXPORT_HINT}")
        return info

    @property
    def trial(self) -> str:
        """The trial the copy was exported from (its source file's stem, ``vgg_bn`` for ``vgg_bn.keras``)."""
        return Path(self.source).stem


def is_copy_path(path: Path) -> bool:
    """Whether ``path`` names an exported copy (by its ``.onnx`` suffix) rather than a Keras model."""
    return path.suffix.lower() == SUFFIX


class PortableClassifier:
    """An exported copy loaded in onnxruntime, scoring stored-form faces as the Keras path does."""

    def __init__(self, session: Any, info: CopyInfo, path: Path) -> None:
        self.session, self.info, self.path = session, info, path

    def predict_views(self, images: np.ndarray, *, batch_size: int = 64, flip: bool = False,
                      shift: int = 0) -> list[np.ndarray]:
        """The class probabilities (float64) of every view of :func:`emotion_lib.views.views_of`, in its order."""
        return [self._predict_once(view, batch_size) for view in views_of(images, flip=flip, shift=shift)]

    def predict_probabilities(self, images: np.ndarray, *, batch_size: int = 64, test_time_flip: bool = False,
                              test_time_shift: int = 0) -> np.ndarray:
        """The class probabilities joined over the test-time views, as evaluation's ``predict_probabilities``."""
        return average(self.predict_views(images, batch_size=batch_size, flip=test_time_flip,
                                          shift=test_time_shift))

    def _predict_once(self, images: np.ndarray, batch_size: int) -> np.ndarray:
        side = self.info.image_size
        if images.dtype != np.uint8 or images.shape[1:] != (side, side):
            raise ValueError(f"images must be uint8 (N, {side}, {side}), got {images.dtype} {images.shape}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        batches = [self.session.run([OUTPUT_NAME], {INPUT_NAME: images[start:start + batch_size]})[0]
                   for start in range(0, len(images), batch_size)]
        if not batches:
            return np.zeros((0, len(self.info.emotions)))
        return np.concatenate(batches).astype(np.float64)


def load_copy(path: Path, remedy: str = EXPORT_HINT, threads: int = 0) -> PortableClassifier:
    """Open an exported copy in onnxruntime and check it is one of this project's; UserErrors name the fix.

    ``threads``: onnxruntime's intra-op threads (0: its default, one per physical core).
    """
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"{path}: running an exported copy needs onnxruntime; install it "
                        f"(`pip install -r requirements-portable.txt`, or requirements.txt)") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # Errors only: its warnings about unused initialisers mean nothing to a user.
    options.intra_op_num_threads = threads
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/InvalidProtobuf types
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise UserError(f"{path} is not an ONNX model ({first_line}); {remedy}") from None
    text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if text is None:
        raise UserError(f"{path}: an ONNX model, but not a copy exported by this project (no {METADATA_KEY!r} "
                        f"metadata); {remedy}")
    info = CopyInfo.from_json(text, path)
    _check_signature(session, info, path, remedy)
    return PortableClassifier(session, info, path)


def _check_signature(session: Any, info: CopyInfo, path: Path, remedy: str) -> None:
    """Refuse a copy whose input or output is not what its metadata promises."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    side = info.image_size
    if ([i.name for i in inputs] != [INPUT_NAME] or inputs[0].type != "tensor(uint8)"
            or list(inputs[0].shape[1:]) != [side, side]):
        found = [(i.name, i.type, i.shape) for i in inputs]
        raise UserError(f"{path}: takes {found}, not {INPUT_NAME!r} uint8 (N, {side}, {side}); {remedy}")
    if [o.name for o in outputs] != [OUTPUT_NAME] or outputs[0].shape[-1] != len(info.emotions):
        found = [(o.name, o.shape) for o in outputs]
        raise UserError(f"{path}: outputs {found}, not {OUTPUT_NAME!r} with one score per emotion of its "
                        f"metadata ({len(info.emotions)}); {remedy}")


def describe(info: CopyInfo, emotions: Sequence[str] | None = None) -> str:
    """One line on what a copy is, for stderr."""
    side, _, channels = info.model_input
    note = "" if emotions is None or tuple(emotions) == info.emotions else (
        f"; its emotions ({', '.join(info.emotions)}) are not params.yaml's data.emotions, its own are used")
    return (f"exported copy of {info.source} (onnxruntime, no TensorFlow): faces {info.image_size} px, "
            f"model input {side}x{side}x{channels}{note}")
