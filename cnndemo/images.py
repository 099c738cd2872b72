"""The one safe way an image enters cnndemo: open, check, convert to RGB or grey, resize, normalise."""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadInputError

if TYPE_CHECKING:  # type only: images sits below models in the layering
    from .models.registry import ModelInfo

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | IO[bytes] | Image.Image | np.ndarray

OPEN_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")  # the only decoders Pillow may try
# MPO is how Pillow names the multi-picture JPEGs many phone cameras write (opened by the JPEG decoder).
ALLOWED_FORMATS = (*OPEN_FORMATS, "MPO")
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, GIF or TIFF"
# A 24-megapixel photo must pass; far bigger is almost surely a decompression bomb.
MAX_PIXELS = 40_000_000
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def open_image(src: ImageSource | None) -> Image.Image:
    """Open any supported image source as a fully loaded RGB or "L" PIL image; BadInputError otherwise."""
    if src is None:
        raise BadInputError("No image was given. Upload a picture (PNG, JPEG, WebP, BMP, GIF or TIFF).")
    if isinstance(src, Image.Image):
        return _from_pil(src)
    if isinstance(src, np.ndarray):
        return _from_array(src)
    return _decode(_read_bytes(src))


def _read_bytes(src: Any) -> bytes:
    """The raw bytes of a path, bytes-like or file-like source."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif isinstance(src, (str, os.PathLike)):
        data = _read_path(Path(src))
    elif hasattr(src, "read"):
        data = src.read()
    else:
        raise BadInputError(f"Cannot read an image from a {type(src).__name__}; give a file, bytes or a picture.")
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise BadInputError("The file is empty (0 bytes). Please upload the picture again.")
    return bytes(data)


def _read_path(path: Path) -> bytes:
    """The contents of a file, with clear messages for missing files and folders."""
    if not path.exists():
        raise BadInputError(f"There is no file at {str(path)!r}.")
    if not path.is_file():
        raise BadInputError(f"{str(path)!r} is a folder or device, not an image file.")
    with open(path, "rb") as f:
        return f.read()


def _decode(data: bytes) -> Image.Image:
    """Decode bytes of an allowed format, refusing bombs, truncation and corruption."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as img:
                _check_format(img.format)
                _check_size(img.size)
                img.load()
                return _normalise_mode(ImageOps.exif_transpose(img))
    except BadInputError:
        raise
    except UnidentifiedImageError:
        raise BadInputError(_unknown_message(data)) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise BadInputError(_bomb_message()) from e
    except Exception as e:  # decoders raise many types on hostile data; all mean "unreadable"
        raise BadInputError(
            "This image file is damaged or cut short (maybe the upload did not finish), so it cannot be read. "
            f"Please save or download it again. (Detail: {type(e).__name__}: {str(e)[:120]})"
        ) from e


def _check_format(fmt: str | None) -> None:
    """Refuse formats outside the allowed list (Pillow may still identify some through a subclass)."""
    if fmt not in ALLOWED_FORMATS:
        raise BadInputError(f"{fmt or 'This'} images are not supported; please use {FORMAT_NAMES}.")


def _check_size(size: tuple[int, int]) -> None:
    """Refuse images that are empty or have more pixels than MAX_PIXELS."""
    w, h = size
    if w < 1 or h < 1:
        raise BadInputError(f"This image has no pixels ({w}x{h}).")
    if w * h > MAX_PIXELS:
        raise BadInputError(_bomb_message(w, h))


def _bomb_message(w: int | None = None, h: int | None = None) -> str:
    """Why a huge image is refused."""
    dims = f" ({w}x{h} = {w * h / 1e6:.0f} megapixels)" if w and h else ""
    return (f"This image is too large{dims}; the limit is {MAX_PIXELS // 1_000_000} megapixels. "
            "Files like this can be 'decompression bombs' that exhaust memory. Please shrink the picture first.")


def _unknown_message(data: bytes) -> str:
    """A student-friendly message for bytes that are not a supported image."""
    head = data[:1024].lstrip().lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in head):
        return f"SVG drawings are not supported. Export the drawing as PNG and upload that ({FORMAT_NAMES})."
    return (f"This file is not an image cnndemo can read. Use {FORMAT_NAMES}; "
            "a file renamed to .png or .jpg is still its old kind of file inside.")


def _from_pil(img: Image.Image) -> Image.Image:
    """Load, check and convert an image object someone else opened (never modifying theirs)."""
    if img.format is not None:
        _check_format(img.format)
    _check_size(img.size)
    try:
        img.load()
        return _normalise_mode(ImageOps.exif_transpose(img))
    except BadInputError:
        raise
    except Exception as e:  # a lazily opened picture may still fail to decode
        raise BadInputError(f"This picture could not be read ({type(e).__name__}: {str(e)[:120]}).") from e


def _from_array(arr: np.ndarray) -> Image.Image:
    """A picture from an HxW, HxWx1, HxWx3 or HxWx4 array of integers, floats or booleans."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise BadInputError(f"An image array must be HxW, HxWx3 or HxWx4; this one has shape {arr.shape}.")
    _check_size((arr.shape[1], arr.shape[0]))
    if not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
        raise BadInputError(f"An image array must hold numbers; this one holds {arr.dtype}.")
    return _normalise_mode(Image.fromarray(np.ascontiguousarray(to_uint8(arr))))


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale any numeric array to 0..255: 16-bit by 257, floats in [0, 1] by 255, anything else min-max."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        a = a * 255.0
    elif np.issubdtype(arr.dtype, np.integer) and lo >= 0 and hi <= 255 and arr.dtype.itemsize > 2:
        pass  # 32-bit ints that hold 8-bit values (Pillow's "I" mode for some PNGs)
    elif np.issubdtype(arr.dtype, np.integer) and lo >= 0 and hi <= 65535:
        a = a / 257.0
    else:
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _normalise_mode(img: Image.Image) -> Image.Image:
    """A new RGB or "L" image: transparency composited on white, CMYK/palette/16-bit/float converted."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(to_uint8(np.asarray(img)))
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in _ALPHA_MODES:
        return _on_white(img)
    if img.mode in ("1", "L"):
        return img.convert("L")
    return img.convert("RGB")


def _on_white(img: Image.Image) -> Image.Image:
    """Composite an image with an alpha channel onto a white background."""
    grey = img.mode in ("LA", "La")
    rgba = img.convert("RGBA")
    out = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    out.alpha_composite(rgba)
    return out.convert("L" if grey else "RGB")


def to_model_image(img: Image.Image, channels: int) -> Image.Image:
    """The picture in the colour mode a model takes: "L" for 1 channel, "RGB" for 3."""
    if channels not in (1, 3):
        raise ValueError(f"models take 1 or 3 channels, not {channels}")
    return _normalise_mode(img).convert("L" if channels == 1 else "RGB")


def model_input_image(img: Image.Image, info: ModelInfo) -> Image.Image:
    """The picture exactly as the model sees it: colour mode, then the resize and crop its weights spec says."""
    spec = info.weights
    img = to_model_image(img, spec.input_size[0])
    resized = img.resize(spec.resized_size(*img.size), Image.Resampling[spec.interpolation.upper()])
    box = spec.crop_in_resized(*resized.size)
    return resized if box == (0, 0, *resized.size) else resized.crop(box)


def to_tensor(img: Image.Image, info: ModelInfo) -> torch.Tensor:
    """A float tensor [1, C, H, W], resized and normalised with the model's mean and std."""
    return seen_tensor(model_input_image(img, info), info)


def seen_tensor(seen: Image.Image, info: ModelInfo) -> torch.Tensor:
    """The normalised [1, C, H, W] tensor of a picture already made by model_input_image (no second resize)."""
    arr = np.asarray(seen, dtype=np.float32) / 255.0
    x = torch.from_numpy(arr.reshape(arr.shape[0], arr.shape[1], -1).copy()).permute(2, 0, 1)
    mean = torch.tensor(info.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32).view(-1, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def to_display(img: Image.Image, info: ModelInfo) -> np.ndarray:
    """The exact model input as a uint8 HxWx3 picture, for overlays that must line up with the input."""
    return seen_display(model_input_image(img, info))


def seen_display(seen: Image.Image) -> np.ndarray:
    """to_display of a picture already made by model_input_image."""
    return np.ascontiguousarray(np.asarray(seen.convert("RGB"), dtype=np.uint8))
