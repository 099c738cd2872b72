"""Pictures handed to the web UI as files: named by their content and written atomically (no gradio here); photos
as JPEG, pictures whose pixels must stay exact as PNG."""
from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

OUTPUTS = Path(tempfile.gettempdir()) / "cnndemo-outputs"
_WRITES = itertools.count(1)


PHOTO_QUALITY = 95  # JPEG quality of photos and heatmaps over them; with full-resolution colour, no visible artefacts


def image_file(array: np.ndarray) -> str:
    """An output picture whose pixels must stay exact (a line drawing, chart, channel grid, text), as a lossless
    PNG file named by its content and written atomically.

    Gradio copies a returned file into its cache atomically, but writes a returned array there in place, so two
    users getting the same picture at once could download half a file (seen in bench/load.py)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return bytes_file(buffer.getvalue(), ".png")


def photo_file(array: np.ndarray) -> str:
    """A photo, or a heatmap over one, as a JPEG file named by its content: lossy at PHOTO_QUALITY with colour
    kept at full resolution (4:4:4, so a heatmap's edges do not bleed), and many times faster to encode than
    PNG (bench/encoding.py)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=PHOTO_QUALITY, subsampling=0)
    return bytes_file(buffer.getvalue(), ".jpg")


def bytes_file(data: bytes, suffix: str) -> str:
    """Any output file (PNG, SVG, ...) named by its content, written once and atomically."""
    return _written(OUTPUTS / f"{hashlib.sha256(data).hexdigest()[:40]}{suffix}", data)


def named_file(data: bytes, name: str) -> str:
    """A download under a readable name: 'adversarial-dog-2of255.png' is written as
    'adversarial-dog-2of255-<content hash>.png' (any character but letters, digits, '-' and '.' becomes '-')."""
    stem, _, suffix = re.sub(r"[^A-Za-z0-9.-]+", "-", name).rpartition(".")
    return _written(OUTPUTS / f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}.{suffix}", data)


def _written(path: Path, data: bytes) -> str:
    """path holding data, written once and atomically (old files pruned now and then)."""
    if not path.exists():
        OUTPUTS.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        if next(_WRITES) % 256 == 0:
            prune_outputs()
    return str(path)


def prune_outputs(max_age_s: float = 3600) -> None:
    """Delete output files older than max_age_s (Gradio has copied them into its cache long before)."""
    cutoff = time.time() - max_age_s
    for old in OUTPUTS.glob("*.*"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass  # another worker removed it first
