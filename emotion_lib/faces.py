"""Faces in photographs: reading any image file safely, finding faces, cropping them to the stored form.

* :func:`read_image` decodes one file into an 8-bit array (grayscale ``(H, W)``
  or RGB ``(H, W, 3)``) or explains in one phrase why it cannot: missing,
  empty, not an image, truncated, a decompression bomb.  16-bit grayscale is
  scaled (not clipped) to 8 bits, CMYK goes through RGB, EXIF orientation is
  applied so boxes refer to the picture as people see it.
* :class:`FaceDetector` is what predict asks of a detector: the faces
  (:class:`Face`) in a grayscale image, each with its box, its detector score
  and the square the classifier sees.  Two are built in (:func:`make_detector`):
  :class:`YuNetDetector`, the default, OpenCV's ``FaceDetectorYN`` running the
  vendored YuNet model (``emotion_lib/assets``); and :class:`HaarDetector`,
  OpenCV's bundled frontal-face Haar cascade with fixed settings.
* :func:`face_crops` cuts the crops out of the grayscale image and passes each
  through :func:`emotion_lib.prepare.normalise_image`, the conversion every
  training image went through, so a face reaches the model as the same kind of
  48x48 uint8 image it was trained on.

The crop is framed as FER-2013 framed its faces, measured by ``bench/face_detection.py`` on FER-2013 faces
pasted into photos (docs/predict.md): the cascade's own box reproduces that framing (median centre error 2.9 %
of the face's side), where the best square around YuNet's tighter, taller box is off by 5.9 %.  So YuNet finds
the faces and scores them, and the cascade, run on a small window around each one, frames its crop (centre
error 3.6 %, IoU with the FER-2013 square 0.80 against 0.78); when the cascade does not see that face
(profiles, strong tilts), a square of :data:`FALLBACK_SIDE` face sizes around the box's centre is the crop.
Levelling the crop by YuNet's eye landmarks did not help: they follow only a fraction of a face's tilt.

This module never imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from emotion_lib.errors import UserError, why_not_a_file
from emotion_lib.prepare import normalise_image, to_8bit

Box = tuple[int, int, int, int]
"""A box ``(x, y, w, h)`` in pixels of the (EXIF-oriented) image."""

ASSETS = Path(__file__).resolve().parent / "assets"
YUNET_MODEL = ASSETS / "face_detection_yunet_2023mar.onnx"
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
"""OpenCV Zoo's file (emotion_lib/assets/README.md says where it came from)."""
YUNET_MIN_SCORE = 0.7
"""Measured (docs/predict.md): 0.1 above the highest score YuNet gives anything in scikit-image's 24 photos
without a face (0.61, at five scales and mirrored: 240 images, 1 false face at 0.6, none at 0.7); recall of
pasted FER-2013 faces 0.81, against 0.85 at 0.6 and 0.80 at 0.8."""
YUNET_NMS = 0.3
YUNET_TOP_K = 5000
DETECT_MAX_SIDE = 4096
"""YuNet searches an image at full size up to this side (larger ones shrunk to it, to bound memory): in 3000 px
photos it found 73 % of the 50-140 px faces at full size, 11 % shrunk to 1024 px (docs/predict.md)."""
COARSE_SIDE = 1024
"""... and an image larger than this also shrunk to it, where large faces score higher (the astronaut enlarged to
3072 px: 0.94 shrunk, 0.76 at full size); the two passes' faces are merged by non-maximum suppression."""

CASCADE_FILE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
"""The Haar detector's score is a face's neighbour count, so this is also its default ``min_score``."""
MIN_FACE_SIZE = 48
"""FER-2013's faces are 48 px; a smaller detection would be upscaled and is mostly a false positive anyway."""

FRAME_WINDOW = 1.2
"""The cascade looks for the face's framing within this many face sizes of a YuNet face's centre."""
FRAME_SCALES = (0.7, 1.6)
"""... at face sizes from 0.7 to 1.6 times the YuNet box's (the geometric mean of its width and height)."""
FRAME_MAX_SHIFT = 0.25
"""... and takes the cascade box nearest the centre, if it is within this many face sizes of it."""
FRAME_SCALE_FACTOR = 1.05
FALLBACK_SIDE = 1.1
"""Without the cascade's framing, the crop is a square this many face sizes (the geometric mean of the box's
width and height) wide: the best of 1, 1.1 and 1.2 face sizes and 1 box height measured."""


@dataclass(frozen=True)
class Face:
    """One face found in an image."""

    box: Box
    """Where the detector found the face, clipped to the image."""
    score: float | None
    """The detector's confidence: YuNet's score from 0 to 1, or the Haar cascade's neighbour count (5 or more);
    None when no detector ran (``--no-detect``)."""
    crop: Box
    """What the classifier sees: for YuNet a square framed like a FER-2013 face, which may reach past the
    image's edges (:func:`face_crops` repeats the edge pixels there); for Haar and --no-detect the box itself."""


class FaceDetector:
    """A face detector: the faces of a uint8 grayscale image scoring at least ``min_score``."""

    name = "none"
    min_score: float = 0.0

    def detect(self, gray: np.ndarray) -> list[Face]:
        """The faces in a uint8 grayscale ``(H, W)`` image, sorted by box (left to right, then top to bottom)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for stderr: which detector, with which threshold."""
        raise NotImplementedError


def make_detector(name: str = "yunet", min_score: float | None = None) -> FaceDetector:
    """The detector called ``name`` (``yunet`` or ``haar``), keeping faces scoring at least ``min_score``
    (None: the detector's measured default)."""
    if name == "yunet":
        return YuNetDetector(YUNET_MIN_SCORE if min_score is None else min_score)
    if name == "haar":
        return HaarDetector(MIN_NEIGHBORS if min_score is None else min_score)
    raise UserError(f"unknown face detector {name!r}; choose yunet or haar")


def _check_gray(gray: np.ndarray) -> None:
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"gray must be uint8 (H, W), got {gray.dtype} {gray.shape}")


def _load_cascade(cascade_path: str | Path | None = None) -> Any:
    """OpenCV's bundled frontal-face cascade (or the file given), a ``cv2.CascadeClassifier``."""
    import cv2  # Imported here so that reading images (and --no-detect) works without OpenCV's start-up cost.

    path = Path(cascade_path) if cascade_path else Path(cv2.data.haarcascades) / CASCADE_FILE
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise UserError(f"{path}: not a readable OpenCV cascade; reinstall opencv-python-headless "
                        f"(pip install -r requirements.txt) or pass --no-detect for pre-cropped faces")
    return cascade


class HaarDetector(FaceDetector):
    """OpenCV's bundled Haar cascade for frontal faces, with the project's fixed detection settings.

    Its score is the number of neighbouring detections merged into the face (``detectMultiScale2``): not a
    probability, but more neighbours mean a surer face; the cascade itself keeps only faces with at least
    :data:`MIN_NEIGHBORS`.  The boxes are those of ``detectMultiScale(gray, 1.1, 5, minSize=(48, 48))``.
    """

    name = "haar"

    def __init__(self, min_score: float = MIN_NEIGHBORS, cascade_path: str | Path | None = None) -> None:
        self.cascade = _load_cascade(cascade_path)
        self.min_score = min_score

    def detect(self, gray: np.ndarray) -> list[Face]:
        """See :meth:`FaceDetector.detect`; ``crop`` is the box, as the cascade frames faces as FER-2013 does."""
        _check_gray(gray)
        found, neighbours = self.cascade.detectMultiScale2(np.ascontiguousarray(gray), SCALE_FACTOR, MIN_NEIGHBORS,
                                                           minSize=(MIN_FACE_SIZE, MIN_FACE_SIZE))
        # OpenCV returns empty tuples when it finds nothing and (N, 4) / (N,) int32 arrays otherwise.
        faces = []
        for box, count in zip(np.asarray(found).reshape(-1, 4), np.asarray(neighbours).reshape(-1), strict=True):
            if count >= self.min_score:
                box = tuple(int(v) for v in box)
                faces.append(Face(box, int(count), box))  # type: ignore[arg-type] - four ints
        return sorted(faces, key=lambda face: face.box)

    def describe(self) -> str:
        """See :meth:`FaceDetector.describe`."""
        return (f"faces: Haar cascade ({CASCADE_FILE}), at least {self.min_score:g} neighbours; "
                f"crops are its boxes")


def check_yunet_model(path: Path = YUNET_MODEL) -> None:
    """Refuse a missing model file, or one that is not the vendored YuNet (a truncated checkout, an LFS pointer)."""
    if not path.is_file():
        raise UserError(f"face detector model {path} {why_not_a_file(path)}; restore it with "
                        f"`git checkout -- {path.name}` in {path.parent}, or pass --detector haar")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != YUNET_SHA256:
        raise UserError(f"face detector model {path}: SHA-256 {digest[:12]}... is not the vendored file's "
                        f"{YUNET_SHA256[:12]}...; restore it (emotion_lib/assets/README.md says how), "
                        f"or pass --detector haar")


class YuNetDetector(FaceDetector):
    """YuNet (OpenCV Zoo's 2023mar model) through OpenCV's ``FaceDetectorYN``, on the gray image.

    The gray image, not the colour one: the classifier sees gray faces anyway, and on scikit-image's photos
    colour raised YuNet's highest false score from 0.60 to 0.76 (motorcycle_left.png).  Images larger than
    :data:`COARSE_SIDE` are searched twice, at full size and shrunk (:data:`DETECT_MAX_SIDE`, :data:`COARSE_SIDE`);
    boxes are in the full image's pixels.  With
    ``frame_by_cascade`` (the default) each face's crop is framed by the Haar cascade where it sees that face
    (module docstring).
    """

    name = "yunet"

    def __init__(self, min_score: float = YUNET_MIN_SCORE, model_path: Path = YUNET_MODEL,
                 frame_by_cascade: bool = True) -> None:
        import cv2

        check_yunet_model(model_path)
        if not hasattr(cv2, "FaceDetectorYN"):
            raise UserError(f"OpenCV {cv2.__version__} has no FaceDetectorYN (4.8 or later does); "
                            f"pip install -r requirements.txt, or pass --detector haar")
        self._cv2 = cv2
        self.model_path, self.min_score = model_path, min_score
        # Scores below min_score are dropped before non-maximum suppression, which changes nothing: a box is only
        # ever suppressed by a higher-scoring one.
        self.net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), float(min_score), YUNET_NMS,
                                             YUNET_TOP_K)
        self.cascade = _load_cascade() if frame_by_cascade else None

    def detections(self, gray: np.ndarray) -> np.ndarray:
        """YuNet's raw rows ``(N, 15)``, in the image's pixels: box x, y, w, h, five landmarks (x, y), score."""
        _check_gray(gray)
        side = max(gray.shape)
        rows = self._detect_at(gray, min(side, DETECT_MAX_SIDE))
        if side <= COARSE_SIDE:
            return rows
        rows = np.concatenate([rows, self._detect_at(gray, COARSE_SIDE)])
        # A face both passes found is kept once, as found by the pass that scored it higher.
        keep = self._cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), 0.0, YUNET_NMS)
        return rows[np.sort(np.asarray(keep, dtype=int).reshape(-1))]

    def _detect_at(self, gray: np.ndarray, side: int) -> np.ndarray:
        """YuNet's rows for ``gray`` shrunk to ``side`` px on its long side, in the full image's pixels."""
        small = gray
        if side < max(gray.shape):
            scale = side / max(gray.shape)
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            small = self._cv2.resize(gray, size, interpolation=self._cv2.INTER_AREA)
        self.net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self.net.detect(self._cv2.cvtColor(small, self._cv2.COLOR_GRAY2BGR))
        if rows is None:
            return np.zeros((0, 15), np.float32)
        rows = rows.copy()
        rows[:, :14] /= np.array([small.shape[1] / gray.shape[1], small.shape[0] / gray.shape[0]] * 7, np.float32)
        return rows

    def detect(self, gray: np.ndarray) -> list[Face]:
        """See :meth:`FaceDetector.detect`; scores are rounded to 4 decimals."""
        faces = []
        for row in self.detections(gray):
            box = clip_box(row[:4], gray.shape)
            if box is not None:
                faces.append(Face(box, round(float(row[14]), 4), fer_frame(gray, row[:4], self.cascade)))
        return sorted(faces, key=lambda face: face.box)

    def describe(self) -> str:
        """See :meth:`FaceDetector.describe`."""
        framing = "framed by the Haar cascade as FER-2013's faces" if self.cascade is not None else "squares"
        return f"faces: YuNet ({self.model_path.name}), score at least {self.min_score:g}; crops {framing}"


def clip_box(box: np.ndarray | tuple[float, ...], shape: tuple[int, ...]) -> Box | None:
    """A float box ``(x, y, w, h)`` rounded to whole pixels and clipped to an image of ``shape``; None if outside."""
    x0, y0 = max(0, round(float(box[0]))), max(0, round(float(box[1])))
    x1, y1 = min(shape[1], round(float(box[0] + box[2]))), min(shape[0], round(float(box[1] + box[3])))
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def square(cx: float, cy: float, side: float) -> Box:
    """The whole-pixel square of ``side`` centred on ``(cx, cy)``."""
    n = max(1, round(side))
    return round(cx - n / 2), round(cy - n / 2), n, n


def fer_frame(gray: np.ndarray, box: np.ndarray | tuple[float, ...], cascade: Any = None) -> Box:
    """The square framing the face in float ``box`` as FER-2013 frames its faces (module docstring).

    ``cascade`` (a ``cv2.CascadeClassifier``) looks for the face near the box; without it, or when it does not
    find it, the square is :data:`FALLBACK_SIDE` face sizes around the box's centre.
    """
    x, y, w, h = (float(v) for v in box[:4])
    cx, cy, size = x + w / 2, y + h / 2, math.sqrt(max(w, 1.0) * max(h, 1.0))
    framed = _cascade_frame(gray, cx, cy, size, cascade) if cascade is not None else None
    return framed or square(cx, cy, FALLBACK_SIDE * size)


def _cascade_frame(gray: np.ndarray, cx: float, cy: float, size: float, cascade: Any) -> Box | None:
    """The cascade's box for the face of ``size`` centred near ``(cx, cy)``, or None if it does not see one there."""
    half = FRAME_WINDOW * size
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(gray.shape[1], int(cx + half) + 1), min(gray.shape[0], int(cy + half) + 1)
    low, high = max(24, int(FRAME_SCALES[0] * size)), int(FRAME_SCALES[1] * size)  # 24 px: the cascade's window
    if high < low or x1 - x0 < low or y1 - y0 < low:
        return None
    found, _ = cascade.detectMultiScale2(np.ascontiguousarray(gray[y0:y1, x0:x1]), FRAME_SCALE_FACTOR, MIN_NEIGHBORS,
                                         minSize=(low, low), maxSize=(high, high))
    best, best_shift = None, FRAME_MAX_SHIFT * size
    for bx, by, bw, bh in np.asarray(found).reshape(-1, 4):
        shift = math.hypot(x0 + bx + bw / 2 - cx, y0 + by + bh / 2 - cy)
        if shift <= best_shift:
            best, best_shift = (int(x0 + bx), int(y0 + by), int(bw), int(bh)), shift
    return best


def _decode(path: Path) -> np.ndarray:
    """Open, fully decode and convert one file; raises whatever Pillow raises for a bad file."""
    with warnings.catch_warnings():
        # Over Image.MAX_IMAGE_PIXELS Pillow only warns; a photo that large is refused like one over twice the limit.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            img.load()  # Image.open reads only the header: load() makes truncated files fail here.
            return np.asarray(to_8bit(_upright(img)))


def _upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (phone photos), so the detector sees faces upright."""
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # noqa: BLE001 - broken EXIF metadata must not cost a photo whose pixels are fine.
        return img


def read_image(path: str | Path) -> tuple[np.ndarray | None, str | None]:
    """Decode ``path`` into uint8 ``(H, W)`` gray or ``(H, W, 3)`` RGB, or return ``(None, reason)``.

    Never raises for a bad file: the reason is a short phrase for the output
    record (the caller adds the path).  Truncated images always fail, whatever
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` a caller may have set.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, "does not exist"
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    if path.is_dir():
        return None, "is a folder, not an image file"
    if size == 0:
        return None, "empty file (0 bytes), not an image"
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        return _decode(path), None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return None, f"refused as a possible decompression bomb ({_first_line(error)})"
    except UnidentifiedImageError:
        return None, "not an image file (no image format Pillow knows)"
    except PermissionError as error:
        return None, f"cannot be read ({error.strerror or error})"
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as error:
        # Pillow reports corrupt data as OSError ("image file is truncated"), SyntaxError (bad PNG chunks), ...
        return None, f"corrupt or truncated image ({_first_line(error)})"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale ``(H, W)`` of an image from :func:`read_image`, with Pillow's ``L`` conversion.

    Pillow's conversion is the one ``prepare`` applied to colour training images; it is per pixel, so
    cropping the gray image gives exactly what converting the colour crop would.
    """
    if image.ndim == 2:
        return image
    return np.asarray(Image.fromarray(image, mode="RGB").convert("L"))


def whole_image_box(image: np.ndarray) -> Box:
    """The box covering the whole image, for pre-cropped faces (``--no-detect``)."""
    return 0, 0, int(image.shape[1]), int(image.shape[0])


def whole_image_face(image: np.ndarray) -> Face:
    """The whole image as one pre-cropped face, without a detector score (``--no-detect``)."""
    box = whole_image_box(image)
    return Face(box, None, box)


def face_crops(gray: np.ndarray, boxes: list[Box], image_size: int) -> np.ndarray:
    """uint8 ``(N, image_size, image_size)``: each box cut out of ``gray`` and normalised like a training image.

    A box may reach past the image's edges (a face at the border, framed with its margin): the missing pixels
    repeat the edge ones, so the face stays where the model expects it rather than being shifted or squashed.
    """
    crops = np.zeros((len(boxes), image_size, image_size), dtype=np.uint8)
    height, width = gray.shape
    for i, (x, y, w, h) in enumerate(boxes):
        if w < 1 or h < 1 or x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise ValueError(f"box {(x, y, w, h)} is outside the {width}x{height} image")
        cut = gray[max(0, y):y + h, max(0, x):x + w]
        pad = ((max(0, -y), max(0, y + h - height)), (max(0, -x), max(0, x + w - width)))
        if any(pad[0] + pad[1]):
            cut = np.pad(cut, pad, mode="edge")
        crops[i], _, _ = normalise_image(Image.fromarray(np.ascontiguousarray(cut), mode="L"), image_size)
    return crops


def is_hidden(name: str) -> bool:
    """Dot files (``.DS_Store``, ``._photo.jpg`` resource forks) are operating-system litter, not photos."""
    return name.startswith(".")


def find_image_files(folder: Path, extensions: frozenset[str]) -> tuple[list[Path], list[Path]]:
    """Image files (by extension, case-insensitive) under ``folder``, recursively and sorted; also the others.

    Returns ``(images, skipped)``.  Hidden files and folders are ignored; symbolic links to folders are not
    followed, so a link loop cannot make the walk endless.
    """
    images: list[Path] = []
    skipped: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if is_hidden(name):
                continue
            path = Path(root) / name
            (images if path.suffix.lower() in extensions else skipped).append(path)
    return images, skipped
