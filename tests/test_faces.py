"""emotion_lib.faces: reading any file safely, finding faces in real photographs, cropping them like training images.

No TensorFlow here: these tests are about files and pixels.  The photographs are scikit-image's
``astronaut.png`` (Eileen Collins, one frontal face) and ``coffee.png`` (a cup, no face).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from emotion_lib import faces
from emotion_lib.prepare import normalise_image

SKIMAGE_DATA = Path(skimage.data.__file__).parent
ASTRONAUT = SKIMAGE_DATA / "astronaut.png"
COFFEE = SKIMAGE_DATA / "coffee.png"
ASTRONAUT_FACE = (177, 66, 95, 95)


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A valid PNG signature and IHDR claiming ``width`` x ``height`` grayscale, with no pixel data.

    Enough for Pillow to read the size (and refuse it as a decompression bomb) without this test
    ever allocating the pixels.
    """
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


# --------------------------------------------------------------------------- detection on real photographs


@pytest.fixture(scope="module")
def detector() -> faces.FaceDetector:
    return faces.FaceDetector()


def test_astronaut_has_exactly_one_face_around_her_face(detector):
    image, error = faces.read_image(ASTRONAUT)
    assert error is None and image.shape == (512, 512, 3)
    boxes = detector.detect(faces.to_gray(image))
    assert len(boxes) == 1
    assert iou(boxes[0], ASTRONAUT_FACE) > 0.7, boxes


def test_astronaut_array_from_skimage_gives_the_same_face(detector):
    # skimage.data.astronaut() is the same photo as an RGB array; the detector takes any uint8 gray array.
    boxes = detector.detect(faces.to_gray(skimage.data.astronaut()))
    assert len(boxes) == 1 and iou(boxes[0], ASTRONAUT_FACE) > 0.7


def test_coffee_cup_has_no_face(detector):
    image, error = faces.read_image(COFFEE)
    assert error is None
    assert detector.detect(faces.to_gray(image)) == []


def test_detect_rejects_colour_arrays(detector):
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((64, 64, 3), np.uint8))


def test_missing_cascade_is_a_user_error(tmp_path):
    with pytest.raises(faces.UserError, match="cascade"):
        faces.FaceDetector(tmp_path / "nothing.xml")


# --------------------------------------------------------------------------- crops are training-form images


def test_face_crops_go_through_prepare_normalise_image():
    image, _ = faces.read_image(ASTRONAUT)
    gray = faces.to_gray(image)
    crops = faces.face_crops(gray, [ASTRONAUT_FACE, (0, 0, 48, 48)], 48)
    assert crops.shape == (2, 48, 48) and crops.dtype == np.uint8
    # The colour crop through prepare's conversion gives the same pixels as cropping the gray image.
    x, y, w, h = ASTRONAUT_FACE
    expected, resized, colour = normalise_image(Image.fromarray(image[y:y + h, x:x + w]), 48)
    assert resized and colour
    np.testing.assert_array_equal(crops[0], expected)
    np.testing.assert_array_equal(crops[1], gray[:48, :48])


def test_face_crops_reject_boxes_outside_the_image():
    with pytest.raises(ValueError, match="outside"):
        faces.face_crops(np.zeros((50, 50), np.uint8), [(10, 10, 48, 48)], 48)


def test_to_gray_is_pillows_l_conversion():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(faces.to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))
    assert faces.whole_image_box(rgb) == (0, 0, 30, 20)


# --------------------------------------------------------------------------- bad input never raises


def test_missing_empty_text_and_folder_paths_are_reasons(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image, just text\n")
    cases = {
        "missing.jpg": "does not exist",
        "empty.png": "empty file",
        "notes.png": "not an image file",
        "": "is a folder",
    }
    for name, reason in cases.items():
        image, error = faces.read_image(tmp_path / name)
        assert image is None and reason in error, (name, error)


def test_truncated_jpeg_is_a_reason_even_if_pillow_is_told_to_accept_it(tmp_path, monkeypatch):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(faces.ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    image, error = faces.read_image(tmp_path / "cut.jpg")
    assert image is None and "truncated" in error
    assert faces.ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_decompression_bombs_are_refused_over_the_warning_and_error_limits(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    side_warning = int((limit * 1.2) ** 0.5)  # over the limit: Pillow only warns
    side_error = int((limit * 2.5) ** 0.5)  # over twice the limit: Pillow raises
    for name, side in (("warn.png", side_warning), ("bomb.png", side_error)):
        image, error = faces.read_image(png_header_only(tmp_path / name, side, side))
        assert image is None and "decompression bomb" in error, (name, error)


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535], [1000, 20000, 40000, 60000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    image, error = faces.read_image(tmp_path / "deep.png")
    assert error is None and image.dtype == np.uint8
    np.testing.assert_array_equal(image, np.rint(values / 257.0).astype(np.uint8))


def test_cmyk_goes_through_rgb(tmp_path):
    Image.new("CMYK", (8, 6), (0, 255, 0, 0)).save(tmp_path / "print.tif")
    image, error = faces.read_image(tmp_path / "print.tif")
    assert error is None and image.shape == (6, 8, 3)
    assert tuple(image[0, 0]) == (255, 0, 255)
    assert faces.to_gray(image)[0, 0] == Image.new("RGB", (1, 1), (255, 0, 255)).convert("L").getpixel((0, 0))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "1", "F"])
def test_other_modes_become_8bit_gray_or_rgb(tmp_path, mode):
    img = Image.new(mode, (10, 7))
    path = tmp_path / ("x.tif" if mode == "F" else "x.png")
    img.save(path)
    image, error = faces.read_image(path)
    assert error is None and image.dtype == np.uint8 and image.shape[:2] == (7, 10)
    assert image.ndim == 2 or image.shape[2] == 3


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": a phone held upright
    Image.new("RGB", (60, 40), (200, 10, 10)).save(tmp_path / "phone.jpg", exif=exif)
    image, error = faces.read_image(tmp_path / "phone.jpg")
    assert error is None and image.shape == (60, 40, 3)


# --------------------------------------------------------------------------- walking folders


def test_find_image_files_walks_recursively_by_extension_skipping_hidden(tmp_path):
    for name in ("b.JPG", "a.png", "sub/deeper/c.jpeg", "notes.txt", "Thumbs.db", ".hidden.png", ".git/x.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    images, skipped = faces.find_image_files(tmp_path, frozenset({".jpg", ".jpeg", ".png"}))
    assert [p.relative_to(tmp_path).as_posix() for p in images] == ["a.png", "b.JPG", "sub/deeper/c.jpeg"]
    assert sorted(p.name for p in skipped) == ["Thumbs.db", "notes.txt"]
