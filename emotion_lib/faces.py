"""Faces in photographs: reading any image file safely, finding faces, cropping them to the stored form.

* :func:`read_image` decodes one file into an 8-bit array (grayscale ``(H, W)``
  or RGB ``(H, W, 3)``) or explains in one phrase why it cannot: missing,
  empty, not an image, truncated, a decompression bomb.  16-bit grayscale is
  scaled (not clipped) to 8 bits, CMYK goes through RGB, EXIF orientation is
  applied so boxes refer to the picture as people see it.
* :class:`FaceDetector` is OpenCV's bundled frontal-face Haar cascade with
  fixed settings (scale 1.1, 5 neighbours, faces of at least 48 px).
* :func:`face_crops` cuts the boxes out of the grayscale image and passes each
  crop through :func:`emotion_lib.prepare.normalise_image`, the conversion every
  training image went through, so a face reaches the model as the same kind of
  48x48 uint8 image it was trained on.

This module never imports TensorFlow.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from emotion_lib.errors import UserError
from emotion_lib.prepare import normalise_image, to_8bit

Box = tuple[int, int, int, int]
"""A face box ``(x, y, w, h)`` in pixels of the (EXIF-oriented) image."""

CASCADE_FILE = "haarcascade_frontalface_default.xml"
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
MIN_FACE_SIZE = 48
"""FER-2013's faces are 48 px; a smaller detection would be upscaled and is mostly a false positive anyway."""

class FaceDetector:
    """OpenCV's bundled Haar cascade for frontal faces, with the project's fixed detection settings."""

    def __init__(self, cascade_path: str | Path | None = None) -> None:
        import cv2  # Imported here so that reading images (and --no-detect) works without OpenCV's start-up cost.

        self._cv2 = cv2
        path = Path(cascade_path) if cascade_path else Path(cv2.data.haarcascades) / CASCADE_FILE
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise UserError(f"{path}: not a readable OpenCV cascade; reinstall opencv-python-headless "
                            f"(pip install -r requirements.txt) or pass --no-detect for pre-cropped faces")

    def detect(self, gray: np.ndarray) -> list[Box]:
        """Boxes of the faces in a uint8 grayscale ``(H, W)`` image, sorted left to right, then top to bottom."""
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"gray must be uint8 (H, W), got {gray.dtype} {gray.shape}")
        found = self.cascade.detectMultiScale(np.ascontiguousarray(gray), SCALE_FACTOR, MIN_NEIGHBORS,
                                              minSize=(MIN_FACE_SIZE, MIN_FACE_SIZE))
        # OpenCV returns an empty tuple when it finds nothing and an (N, 4) int32 array otherwise.
        boxes = [tuple(int(v) for v in box) for box in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes)  # type: ignore[return-value] - four ints each


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


def face_crops(gray: np.ndarray, boxes: list[Box], image_size: int) -> np.ndarray:
    """uint8 ``(N, image_size, image_size)``: each box cut out of ``gray`` and normalised like a training image."""
    crops = np.zeros((len(boxes), image_size, image_size), dtype=np.uint8)
    for i, (x, y, w, h) in enumerate(boxes):
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > gray.shape[1] or y + h > gray.shape[0]:
            raise ValueError(f"box {(x, y, w, h)} is outside the {gray.shape[1]}x{gray.shape[0]} image")
        crops[i], _, _ = normalise_image(Image.fromarray(gray[y:y + h, x:x + w], mode="L"), image_size)
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
