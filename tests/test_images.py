"""Tests of cnndemo.images: every accepted format, hostile files refused with BadInputError, model tensors."""
from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo import catalog, images
from cnndemo.errors import BadInputError
from cnndemo.images import open_image, to_display, to_model_image, to_tensor
from cnndemo.models import ModelInfo, WeightsSpec

IMAGENET_MEAN, IMAGENET_STD = catalog.IMAGENET.mean, catalog.IMAGENET.std
_LAYERS = dict(family="t", builder=lambda **_: None, cam_layer="", feature_layers=(), head_layer="", note="")


def _info(input_size, mean, std, dataset) -> ModelInfo:
    """A registry-shaped entry without a real builder, in the flat form (preprocessing from the data set)."""
    return ModelInfo(name="t", input_size=input_size, classes=("a", "b"), mean=mean, std=std, dataset=dataset,
                     **_LAYERS)


GREY = _info((1, 28, 28), (0.1307,), (0.3081,), "mnist")
CIFAR = _info((3, 32, 32), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), "cifar10")
IMAGENET = ModelInfo(name="t", weights=WeightsSpec.of(catalog.IMAGENET), **_LAYERS)


def denormalize(x: torch.Tensor, info: ModelInfo) -> np.ndarray:
    """Undo the normalisation of a [1, C, H, W] tensor: a uint8 HxWx3 picture (the app's is explain's)."""
    mean = torch.tensor(info.mean).view(-1, 1, 1)
    std = torch.tensor(info.std).view(-1, 1, 1)
    arr = ((x[0] * std + mean).clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def _gradient(w: int = 40, h: int = 30) -> Image.Image:
    """A colourful RGB test picture with no symmetry."""
    x, y = np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h))
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2).astype(np.uint8))


@pytest.mark.parametrize("fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("BMP", "bmp"),
                                     ("GIF", "gif"), ("TIFF", "tif")])
def test_every_accepted_format_opens_from_path(tmp_path, fmt, ext):
    path = tmp_path / f"pic.{ext}"
    _gradient().save(path, fmt)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == (40, 30)
    assert open_image(str(path)).size == (40, 30)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "file", "pil", "array"])
def test_every_source_kind(tmp_path, kind):
    buf = io.BytesIO()
    _gradient().save(buf, "PNG")
    src = {"bytes": buf.getvalue(), "bytearray": bytearray(buf.getvalue()), "file": io.BytesIO(buf.getvalue()),
           "pil": _gradient(), "array": np.asarray(_gradient())}[kind]
    img = open_image(src)
    assert img.mode == "RGB" and np.array_equal(np.asarray(img), np.asarray(_gradient()))


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count open files")
@pytest.mark.parametrize("name", ["pic.png", "broken.png"])
def test_path_source_leaves_no_file_open(tmp_path, name):
    path = tmp_path / name
    _gradient().save(path)
    if name.startswith("broken"):
        path.write_bytes(path.read_bytes()[:-40])
    before = _open_fds()
    try:
        open_image(path)
    except BadInputError:
        pass
    assert _open_fds() <= before


def test_result_is_independent_of_a_given_pil_image():
    src = Image.new("RGB", (4, 4), (10, 20, 30))
    out = open_image(src)
    out.putpixel((0, 0), (0, 0, 0))
    assert src.getpixel((0, 0)) == (10, 20, 30)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as check:
        assert check.n_frames == 3
    assert open_image(path).getpixel((4, 4)) == (255, 0, 0)


def test_exif_rotated_jpeg_is_transposed(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    _gradient(40, 30).save(path, "JPEG", exif=exif.tobytes())
    img = open_image(path)
    assert img.size == (30, 40)
    assert img.getexif().get(0x0112, 1) == 1


def test_rgba_transparent_pixel_becomes_white(tmp_path):
    arr = np.zeros((6, 6, 4), np.uint8)
    arr[..., 0] = 200
    arr[:3, :, 3] = 255  # top half opaque red, bottom half fully transparent
    path = tmp_path / "alpha.png"
    Image.fromarray(arr, "RGBA").save(path)
    img = open_image(path)
    assert img.mode == "RGB"
    assert img.getpixel((0, 0)) == (200, 0, 0)
    assert img.getpixel((0, 5)) == (255, 255, 255)


def test_grey_with_alpha_stays_grey_on_white(tmp_path):
    img = Image.new("LA", (3, 3), (0, 0))
    path = tmp_path / "la.png"
    img.save(path)
    out = open_image(path)
    assert out.mode == "L" and out.getpixel((1, 1)) == 255


def test_palette_with_transparency_composited(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.putpixel((0, 0), 1)
    path = tmp_path / "pal.png"
    img.save(path, transparency=0)
    out = open_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (200, 100, 50)
    assert out.getpixel((3, 3)) == (255, 255, 255)


def test_palette_gif_without_transparency(tmp_path):
    path = tmp_path / "pal.gif"
    _gradient().convert("P").save(path)
    assert open_image(path).mode == "RGB"


def test_cmyk_jpeg_and_tiff(tmp_path):
    for name, fmt in (("c.jpg", "JPEG"), ("c.tif", "TIFF")):
        Image.new("CMYK", (5, 5), (0, 255, 255, 0)).save(tmp_path / name, fmt)
        out = open_image(tmp_path / name)
        r, g, b = out.getpixel((2, 2))
        assert out.mode == "RGB" and r > 200 and g < 60 and b < 60, (name, (r, g, b))


def test_16bit_png_scaled_to_8bit(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    with Image.open(path) as raw:
        assert raw.mode.startswith("I")
    out = np.asarray(open_image(path))
    assert out.dtype == np.uint8 and out[0, 0] == 0 and out[0, 1] == 255 and out[1, 0] in (127, 128)


def test_float_tiff_scaled(tmp_path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)).save(path)
    assert np.asarray(open_image(path)).tolist() == [[0, 128], [255, 64]]


def test_one_by_one_png(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (1, 2, 3)).save(path)
    img = open_image(path)
    assert img.size == (1, 1) and img.getpixel((0, 0)) == (1, 2, 3)
    assert to_tensor(img, IMAGENET).shape == (1, 3, 224, 224)


def test_bilevel_and_grey_give_L(tmp_path):
    Image.new("1", (3, 3), 1).save(tmp_path / "b.png")
    Image.new("L", (3, 3), 7).save(tmp_path / "g.bmp")
    assert open_image(tmp_path / "b.png").getpixel((0, 0)) == 255
    assert open_image(tmp_path / "g.bmp").mode == "L"


@pytest.mark.parametrize("arr,expected", [
    (np.full((2, 2), 65535, np.uint16), 255),
    (np.full((2, 2), 0.5, np.float32), 128),
    (np.full((2, 2, 1), 9, np.uint8), 9),
    (np.ones((2, 2), bool), 255),
])
def test_numpy_arrays_scaled(arr, expected):
    img = open_image(arr)
    assert img.mode == "L" and img.getpixel((0, 0)) == expected


def test_numpy_float_outside_unit_range_is_stretched():
    arr = np.array([[-3.0, 1.0], [5.0, np.nan]])
    assert np.asarray(open_image(arr)).tolist() == [[0, 128], [255, 96]]


def test_numpy_rgba_composited():
    arr = np.zeros((2, 2, 4), np.float32)
    assert open_image(arr).getpixel((0, 0)) == (255, 255, 255)


# ---- refusals: every one a BadInputError with a message that says what to do ----

def _png_with_size(w: int, h: int) -> bytes:
    """A tiny PNG header declaring w x h pixels (the data does not matter: it must be refused first)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _refused(src, *words: str) -> str:
    with pytest.raises(BadInputError) as e:
        open_image(src)
    msg = str(e.value)
    assert all(w.lower() in msg.lower() for w in words), msg
    return msg


def test_bomb_saved_by_pillow_refused(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path, optimize=True)
    assert path.stat().st_size < 200_000
    _refused(path, "too large", "megapixels")


@pytest.mark.parametrize("w,h", [(7000, 7000), (30000, 30000), (100000, 100000)])
def test_bomb_headers_refused_before_decoding(w, h):
    _refused(_png_with_size(w, h), "too large")


def test_pillow_bomb_warning_counts_as_refusal(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 10**12)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    buf = io.BytesIO()
    Image.new("L", (40, 40)).save(buf, "PNG")  # 1600 px: Pillow warns (limit 1000) but does not raise (2000)
    _refused(buf.getvalue(), "too large")


def test_24_megapixel_photo_accepted():
    buf = io.BytesIO()
    Image.new("L", (6000, 4000), 128).save(buf, "PNG", optimize=True)
    img = open_image(buf.getvalue())
    assert img.size == (6000, 4000)


def test_truncated_jpeg_refused(tmp_path):
    buf = io.BytesIO()
    _gradient(200, 200).save(buf, "JPEG")
    data = buf.getvalue()
    _refused(data[: len(data) // 2], "damaged")


def test_truncated_images_stay_refused_after_importing_the_package():
    import importlib

    from PIL import ImageFile

    for name in ("cnndemo.models", "cnndemo.explain", "cnndemo.data", "cnndemo.train"):
        importlib.import_module(name)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # a global some libraries flip; it would let damaged files in


def test_truncated_png_refused():
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    _refused(buf.getvalue()[:-300], "damaged")


def test_text_renamed_png_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my lecture notes, not a picture\n" * 10)
    _refused(path, "not an image", "renamed")


def test_empty_inputs_refused(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    _refused(tmp_path / "empty.jpg", "empty")
    _refused(b"", "empty")
    _refused(io.BytesIO(b""), "empty")


def test_svg_refused(tmp_path):
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    (tmp_path / "logo.svg").write_bytes(svg)
    _refused(tmp_path / "logo.svg", "svg", "png")
    _refused(svg.split(b"\n", 1)[1], "svg")


def test_random_bytes_refused():
    _refused(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not an image")


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA", "PCX"])
def test_other_pillow_formats_refused(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, fmt)
    _refused(buf.getvalue(), "png")


def test_eps_never_handed_to_ghostscript():
    _refused(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "not an image")


def test_corrupt_png_data_refused():
    buf = io.BytesIO()
    _gradient().save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[60:90] = b"\xff" * 30  # damage the compressed pixel data
    _refused(bytes(data), "damaged")


@pytest.mark.parametrize("src,words", [
    (None, ("no image",)),
    (12345, ("cannot read",)),
    (np.zeros((2, 2, 5), np.uint8), ("shape",)),
    (np.zeros((0, 4), np.uint8), ("no pixels",)),
    (np.array([["a"]]), ("numbers",)),
])
def test_odd_sources_refused(src, words):
    _refused(src, *words)


def test_missing_path_and_folder_refused(tmp_path):
    _refused(tmp_path / "nope.png", "no file")
    _refused(tmp_path, "folder")


def test_bad_input_error_is_value_error():
    assert issubclass(BadInputError, ValueError)


# ---- model inputs ----

def test_to_model_image_modes():
    assert to_model_image(_gradient(), 1).mode == "L"
    assert to_model_image(Image.new("L", (3, 3)), 3).mode == "RGB"
    assert to_model_image(Image.new("RGBA", (3, 3)), 3).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ValueError):
        to_model_image(_gradient(), 2)


def test_to_tensor_grey_model_normalised():
    img = Image.new("L", (50, 70), 255)
    x = to_tensor(img, GREY)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert torch.allclose(x, torch.full_like(x, (1.0 - 0.1307) / 0.3081), atol=1e-5)


def test_to_tensor_colour_image_to_grey_model():
    x = to_tensor(_gradient(), GREY)
    assert x.shape == (1, 1, 28, 28)


def test_to_tensor_colour_model_per_channel_normalisation():
    img = Image.new("RGB", (90, 60), (255, 0, 51))
    x = to_tensor(img, CIFAR)
    assert x.shape == (1, 3, 32, 32)
    expected = [(1.0 - 0.5) / 0.2, (0.0 - 0.4) / 0.25, (0.2 - 0.3) / 0.3]
    assert torch.allclose(x[0].mean(dim=(1, 2)), torch.tensor(expected), atol=1e-5)


def test_to_tensor_grey_image_to_colour_model():
    x = to_tensor(Image.new("L", (10, 10), 128), CIFAR)
    raw = x[0] * torch.tensor(CIFAR.std).view(-1, 1, 1) + torch.tensor(CIFAR.mean).view(-1, 1, 1)
    assert torch.allclose(raw, torch.full_like(raw, 128 / 255), atol=1e-5)


def test_imagenet_resize_then_centre_crop_matches_torchvision():
    tv = pytest.importorskip("torchvision.transforms")
    img = _gradient(300, 200)
    ref = tv.Compose([tv.Resize(256), tv.CenterCrop(224), tv.ToTensor(),
                      tv.Normalize(IMAGENET_MEAN, IMAGENET_STD)])(img).unsqueeze(0)
    x = to_tensor(img, IMAGENET)
    assert x.shape == (1, 3, 224, 224)
    assert torch.allclose(x, ref, atol=1e-5)


def test_imagenet_crop_keeps_aspect_ratio():
    img = Image.new("RGB", (400, 100), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 100, 100))  # white left quarter is cropped away by a centre crop
    assert to_display(img, IMAGENET).max() == 0


def test_small_models_plain_resize_keeps_whole_picture():
    img = Image.new("RGB", (400, 100), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 100, 100))
    shown = to_display(img, CIFAR)
    assert shown.shape == (32, 32, 3) and shown[:, :4].min() > 200 and shown[:, -4:].max() == 0


def test_display_matches_denormalized_tensor():
    for info in (GREY, CIFAR, IMAGENET):
        img = _gradient(123, 77)
        shown = to_display(img, info)
        back = denormalize(to_tensor(img, info), info)
        assert shown.dtype == np.uint8 and shown.shape == (*info.input_size[1:], 3)
        assert np.abs(shown.astype(int) - back.astype(int)).max() <= 1


# ---- the region of the picture a model sees ----

def _ramp(w: int, h: int) -> Image.Image:
    """Red rises 1 level per pixel to the right, green 1 per pixel down: a pixel's colour says where it came from."""
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    return Image.fromarray(np.stack([x, y, np.zeros_like(x)], axis=2).astype(np.uint8))


@pytest.mark.parametrize("size", [(250, 180), (180, 250), (224, 224), (255, 40)])
def test_crop_box_is_the_region_the_imagenet_model_sees(size):
    w, h = size
    left, top, right, bottom = IMAGENET.weights.crop_box(w, h)
    seen = to_display(_ramp(w, h), IMAGENET).astype(float)
    ch, cw = seen.shape[:2]
    # pixel j of the model input is centred at left + (j + 0.5) * (right - left) / cw in the picture
    xs = left + (np.arange(cw) + 0.5) * (right - left) / cw - 0.5
    ys = top + (np.arange(ch) + 0.5) * (bottom - top) / ch - 0.5
    inner = slice(2, -2)  # the outermost pixels blend in clamped edge pixels
    assert np.abs(seen[ch // 2, inner, 0] - xs[inner]).max() <= 0.75
    assert np.abs(seen[inner, cw // 2, 1] - ys[inner]).max() <= 0.75
    assert right - left == pytest.approx((bottom - top) * cw / ch, rel=0.01)  # aspect kept (up to int rounding)


def test_crop_box_of_a_640x480_photo_for_imagenet():
    left, top, right, bottom = IMAGENET.weights.crop_box(640, 480)
    assert (top, bottom) == (30.0, 450.0)  # 480 -> 256, the central 224 rows are 16..240 of the resized picture
    assert left == pytest.approx(58 * 640 / 341) and right == pytest.approx(282 * 640 / 341)


@pytest.mark.parametrize("info", [GREY, CIFAR], ids=["grey", "cifar"])
def test_small_image_models_see_the_whole_picture(info):
    assert info.weights.crop_box(640, 480) == (0.0, 0.0, 640.0, 480.0)
    seen = to_display(_ramp(128, 64), info)
    assert seen.shape[:2] == info.input_size[1:]
