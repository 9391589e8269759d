"""emotion_lib.faces: reading any file safely, finding faces in real photographs, cropping them like training images.

No TensorFlow here: these tests are about files and pixels.  The photographs are scikit-image's 26
(the ``.png`` and ``.jpg`` files of ``skimage.data``): ``astronaut.png`` (Eileen Collins, one frontal face),
``camera.png`` (a cameraman, one face in three-quarter view) and 24 without a face.
"""

from __future__ import annotations

import hashlib
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
CAMERA = SKIMAGE_DATA / "camera.png"
COFFEE = SKIMAGE_DATA / "coffee.png"
ASTRONAUT_FACE = (177, 66, 95, 95)
CAMERA_FACE = (190, 115, 65, 80)
"""Labelled by eye: the cameraman's face in three-quarter view, from his ear to his nose tip, hairline to chin."""
NO_FACE_PHOTOS = sorted(p for p in SKIMAGE_DATA.iterdir()
                        if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p not in (ASTRONAUT, CAMERA))
"""scikit-image's other photographs (the extensions predict reads): textures, objects, a cat, microscopy, space."""


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
def yunet() -> faces.FaceDetector:
    return faces.make_detector()


@pytest.fixture(scope="module")
def haar() -> faces.FaceDetector:
    return faces.make_detector("haar")


def gray_of(path: Path) -> np.ndarray:
    image, error = faces.read_image(path)
    assert error is None, error
    return faces.to_gray(image)


def test_the_default_detector_is_yunet_with_its_measured_threshold(yunet):
    assert isinstance(yunet, faces.YuNetDetector) and yunet.min_score == faces.YUNET_MIN_SCORE


@pytest.mark.parametrize("name, expected", [(ASTRONAUT.name, ASTRONAUT_FACE), (CAMERA.name, CAMERA_FACE)])
def test_yunet_finds_exactly_the_one_face_of_the_astronaut_and_the_cameraman(yunet, name, expected):
    (face,) = yunet.detect(gray_of(SKIMAGE_DATA / name))
    assert iou(face.box, expected) > 0.6, face
    assert faces.YUNET_MIN_SCORE <= face.score <= 1
    x, y, side, height = face.crop
    assert side == height and iou(face.crop, expected) > 0.5  # a square around the face, framed with a margin


@pytest.mark.parametrize("path", NO_FACE_PHOTOS, ids=lambda p: p.name)
def test_yunet_finds_no_face_in_scikit_images_other_photos(yunet, path):
    # The Haar cascade called a cell in cell.png and five coins in coins.png faces (issue #32).
    assert yunet.detect(gray_of(path)) == []


def test_every_scikit_image_photo_is_checked():
    # The 26 photographs: every file predict would read in scikit-image's data folder.
    assert len(NO_FACE_PHOTOS) == 24 and {ASTRONAUT, CAMERA}.isdisjoint(NO_FACE_PHOTOS)


def test_min_score_keeps_exactly_the_faces_scoring_at_least_it(yunet):
    lenient = faces.make_detector("yunet", min_score=0.3)
    found = [(path, face) for path in [ASTRONAUT, CAMERA, *NO_FACE_PHOTOS] for face in lenient.detect(gray_of(path))]
    assert any(face.score < faces.YUNET_MIN_SCORE for _, face in found)  # so the filter has something to drop
    for path in {path for path, _ in found}:
        kept = [face for p, face in found if p == path and face.score >= faces.YUNET_MIN_SCORE]
        assert yunet.detect(gray_of(path)) == kept, path


def test_an_exif_oriented_photo_has_its_face_where_it_is_displayed(yunet, tmp_path):
    upright = Image.open(ASTRONAUT).convert("RGB")
    # How each orientation is stored, so that applying it (Pillow's exif_transpose) shows the photo upright.
    stored = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
              2: Image.Transpose.FLIP_LEFT_RIGHT}
    for orientation, transpose in stored.items():
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"phone{orientation}.jpg"
        upright.transpose(transpose).save(path, quality=95, exif=exif)
        (face,) = yunet.detect(gray_of(path))
        assert iou(face.box, ASTRONAUT_FACE) > 0.6, (orientation, face)


@pytest.mark.parametrize("angle", [-15, 15])
def test_a_tilted_photo_has_its_face_where_the_face_went(yunet, angle):
    photo = Image.open(ASTRONAUT).convert("L")
    tilted = photo.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=128)
    x, y, w, h = ASTRONAUT_FACE
    # Where the face's centre went: Pillow turns counter-clockwise about the centre, then pads to the new size.
    cx, cy = x + w / 2 - photo.width / 2, y + h / 2 - photo.height / 2
    theta = np.radians(angle)
    centre = (cx * np.cos(theta) + cy * np.sin(theta) + tilted.width / 2,
              -cx * np.sin(theta) + cy * np.cos(theta) + tilted.height / 2)
    (face,) = yunet.detect(np.asarray(tilted))
    fx, fy, fw, fh = face.box
    assert abs(fx + fw / 2 - centre[0]) < 0.15 * w and abs(fy + fh / 2 - centre[1]) < 0.15 * h, (face, centre)


def test_haar_still_finds_the_astronaut_with_its_neighbour_count_as_score(haar):
    (face,) = haar.detect(gray_of(ASTRONAUT))
    assert iou(face.box, ASTRONAUT_FACE) > 0.7
    assert isinstance(face.score, int) and face.score >= faces.MIN_NEIGHBORS
    assert face.crop == face.box  # the cascade frames faces as FER-2013's were framed
    # The same photo as an array from skimage: the detector takes any uint8 gray array.
    assert [f.box for f in haar.detect(faces.to_gray(skimage.data.astronaut()))] == [face.box]


def test_haar_min_score_filters_by_neighbour_count(haar):
    coins = gray_of(SKIMAGE_DATA / "coins.png")
    found = haar.detect(coins)
    assert len(found) > 1 and len({face.score for face in found}) > 1  # the false faces of the issue, scored
    middle = sorted(face.score for face in found)[len(found) // 2]
    assert faces.make_detector("haar", middle).detect(coins) == [f for f in found if f.score >= middle]


def test_coffee_cup_has_no_face(yunet, haar):
    assert yunet.detect(gray_of(COFFEE)) == [] and haar.detect(gray_of(COFFEE)) == []


def test_detectors_reject_colour_arrays(yunet, haar):
    for detector in (yunet, haar):
        with pytest.raises(ValueError, match="uint8"):
            detector.detect(np.zeros((64, 64, 3), np.uint8))


def test_missing_cascade_is_a_user_error(tmp_path):
    with pytest.raises(faces.UserError, match="cascade"):
        faces.HaarDetector(cascade_path=tmp_path / "nothing.xml")


def test_a_large_face_in_a_large_photo_is_found_once_with_its_box_in_full_size_pixels(yunet):
    photo = Image.open(ASTRONAUT).convert("L")
    factor = 3  # 1536 px: over COARSE_SIDE, so YuNet searches it at full size and shrunk, and merges the two
    assert photo.width * factor > faces.COARSE_SIDE
    big = np.asarray(photo.resize((photo.width * factor, photo.height * factor), Image.Resampling.BICUBIC))
    (face,) = yunet.detect(big)
    assert iou(face.box, tuple(v * factor for v in ASTRONAUT_FACE)) > 0.6, face


def test_a_small_face_in_a_large_photo_is_found(yunet):
    # Her face at about 38 px in a 2400 px photo: shrunk to COARSE_SIDE it would be 16 px, too small for YuNet.
    small = Image.open(ASTRONAUT).convert("L").reduce(2).resize((205, 205), Image.Resampling.LANCZOS)
    canvas = Image.new("L", (2400, 1800), 120)
    canvas.paste(small, (1700, 1200))
    scale = 205 / 512
    expected = tuple(round(v * scale) + offset for v, offset in zip(ASTRONAUT_FACE, (1700, 1200, 0, 0), strict=True))
    (face,) = yunet.detect(np.asarray(canvas))
    assert iou(face.box, expected) > 0.5, (face, expected)


# --------------------------------------------------------------------------- the vendored YuNet model


def test_the_vendored_model_is_the_file_its_readme_names():
    digest = hashlib.sha256(faces.YUNET_MODEL.read_bytes()).hexdigest()
    assert digest == faces.YUNET_SHA256
    readme = (faces.ASSETS / "README.md").read_text()
    assert faces.YUNET_MODEL.name in readme and digest in readme
    assert f"{faces.YUNET_MODEL.stat().st_size:,} bytes" in readme
    assert "MIT" in (faces.ASSETS / "LICENSE.face_detection_yunet.txt").read_text()


def test_a_changed_or_missing_model_file_is_refused(tmp_path):
    changed = tmp_path / faces.YUNET_MODEL.name
    data = bytearray(faces.YUNET_MODEL.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    with pytest.raises(faces.UserError, match="SHA-256 .* is not the vendored file's .*--detector haar"):
        faces.YuNetDetector(model_path=changed)
    with pytest.raises(faces.UserError, match="does not exist"):
        faces.YuNetDetector(model_path=tmp_path / "missing.onnx")


# --------------------------------------------------------------------------- framing the crop as FER-2013 does


def test_yunet_crops_are_framed_by_the_cascade_where_it_sees_the_face(yunet):
    gray = gray_of(ASTRONAUT)
    (face,) = yunet.detect(gray)
    (haar_face,) = faces.HaarDetector().detect(gray)
    # FER-2013's framing is the cascade's (docs/predict.md): the crop matches its box, not YuNet's tighter one.
    assert iou(face.crop, haar_face.box) > 0.85 > iou(face.box, haar_face.box)


def test_without_the_cascade_the_crop_is_a_square_of_the_fallback_size_around_the_box():
    gray = np.zeros((100, 120), np.uint8)  # nothing for a cascade to find
    x, y, side, height = faces.fer_frame(gray, (30.0, 20.0, 40.0, 60.0))
    assert side == height == round(faces.FALLBACK_SIDE * (40 * 60) ** 0.5)
    assert abs(x + side / 2 - 50) <= 1 and abs(y + side / 2 - 50) <= 1


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


def test_crops_reaching_past_the_edges_repeat_the_edge_pixels():
    # A face at the border keeps its place in the crop (as the model expects it) instead of being shifted.
    gray = np.arange(50 * 60, dtype=np.int64).reshape(50, 60).astype(np.uint8)
    (crop,) = faces.face_crops(gray, [(-8, 20, 48, 48)], 48)
    np.testing.assert_array_equal(crop[:30, 8:], gray[20:50, :40])
    np.testing.assert_array_equal(crop[:30, :8], np.repeat(gray[20:50, :1], 8, axis=1))
    np.testing.assert_array_equal(crop[30:], np.repeat(crop[29:30], 18, axis=0))


def test_face_crops_reject_boxes_outside_the_image():
    for box in [(50, 10, 48, 48), (-48, 0, 48, 48), (0, 0, 0, 10)]:
        with pytest.raises(ValueError, match="outside"):
            faces.face_crops(np.zeros((50, 50), np.uint8), [box], 48)


def test_to_gray_is_pillows_l_conversion():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_array_equal(faces.to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))
    assert faces.whole_image_box(rgb) == (0, 0, 30, 20)
    assert faces.whole_image_face(rgb) == faces.Face((0, 0, 30, 20), None, (0, 0, 30, 20))


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
