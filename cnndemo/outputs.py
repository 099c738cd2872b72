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
MAX_AGE_S = 3600.0  # bounds of the folder (set from ServingLimits by the app: set_bounds)
MAX_BYTES = 200 * 1024 * 1024
PRUNE_EVERY = 64  # writes between two looks at the folder
_WRITES = itertools.count(1)
PHOTO_QUALITY = 95  # JPEG quality of photos and heatmaps over them; with full-resolution colour, no visible artefacts


def set_bounds(max_age_s: float, max_mb: float) -> None:
    """How old and how large the output folder may get (ServingLimits.outputs_max_age_s / outputs_max_mb)."""
    global MAX_AGE_S, MAX_BYTES
    MAX_AGE_S, MAX_BYTES = float(max_age_s), int(max_mb * 1024 * 1024)


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
    try:
        os.utime(path)  # handed out again: now the newest, so pruning the oldest never takes it from under Gradio
    except FileNotFoundError:
        OUTPUTS.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    if next(_WRITES) % PRUNE_EVERY == 0:
        prune_outputs()
    return str(path)


def prune_outputs(max_age_s: float | None = None, max_bytes: int | None = None) -> int:
    """Delete output files older than max_age_s, then the oldest until the rest fit in max_bytes (Gradio has
    copied them into its cache long before); returns the bytes left."""
    max_age_s = MAX_AGE_S if max_age_s is None else max_age_s
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    cutoff, left = time.time() - max_age_s, 0
    for mtime, size, path in sorted(_finished_files(), reverse=True):  # newest first
        if mtime >= cutoff and left + size <= max_bytes:
            left += size
            continue
        try:
            path.unlink()
        except OSError:
            left += size if path.exists() else 0  # another worker removed it first, or it cannot go
    return left


def _finished_files() -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every output file (files still being written start with a dot)."""
    found = []
    for path in OUTPUTS.glob("*.*"):
        try:
            st = path.stat()
        except OSError:
            continue
        if not path.name.startswith("."):
            found.append((st.st_mtime, st.st_size, path))
    return found
