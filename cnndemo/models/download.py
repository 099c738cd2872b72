"""Downloads into torch hub's cache a person can follow: chunked, with progress, checked, renamed into place."""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch

from ..errors import WeightsUnavailableError

PROBE_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 30.0  # per read: a stalled connection fails instead of hanging the server
CHUNK_BYTES = 1 << 20
MB = 1_000_000  # torchvision's _file_size is in decimal megabytes
log = logging.getLogger("cnndemo.weights")


@dataclass(frozen=True)
class DownloadProgress:
    """How far one download is: bytes done of total (total None when the server does not say)."""

    what: str  # e.g. "resnet50's ImageNet weights"
    done_bytes: int
    total_bytes: int | None

    @property
    def fraction(self) -> float | None:
        """0..1, or None when the total is unknown."""
        return min(self.done_bytes / self.total_bytes, 1.0) if self.total_bytes else None

    @property
    def text(self) -> str:
        """One line for people: 'downloading resnet50's ImageNet weights: 12.3 of 97.8 MB'."""
        total = f" of {self.total_bytes / MB:.1f}" if self.total_bytes else ""
        return f"downloading {self.what}: {self.done_bytes / MB:.1f}{total} MB"


Progress = Callable[[DownloadProgress], None]


def hub_checkpoints() -> Path:
    """torch hub's checkpoint cache directory (honours TORCH_HOME and torch.hub.set_dir)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_file(url: str) -> Path:
    """Where torch hub keeps (or would keep) the file behind url."""
    return hub_checkpoints() / Path(urlparse(url).path).name


def fetch(url: str, dest: Path, what: str, size_mb: float | None, progress: Progress | None = None) -> None:
    """Download url to dest, failing fast with one plain sentence when offline; dest appears only when complete."""
    size = f" ({size_mb:.1f} MB)" if size_mb else ""
    offline = (f"{what}{size} are not on this computer and the internet is not reachable; connect to the "
               f"internet once to download them into {dest.parent}, or copy {dest.name} there")
    require_network(url, offline)
    try:
        _stream(url, dest, what, progress)
    except OSError as err:  # URLError included: the connection went away during the download
        log.warning("download of %s stopped: %s: %s", url, type(err).__name__, err)
        raise WeightsUnavailableError(f"The download of {what}{size} stopped before the end (the connection was "
                                      "lost); nothing was kept, so try again") from None


def _stream(url: str, dest: Path, what: str, progress: Progress | None) -> None:
    """Copy url into a temporary file beside dest in chunks, check it, then rename it to dest."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT_S) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(DownloadProgress(what, done, total))
        _check_digest(dest.name, digest.hexdigest(), what)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _check_digest(name: str, sha256: str, what: str) -> None:
    """torch hub's convention: the part of the file name after the last '-' starts the file's SHA-256."""
    match = torch.hub.HASH_REGEX.search(name)
    if match and match.group(1) and not sha256.startswith(match.group(1)):
        raise WeightsUnavailableError(f"{what} arrived damaged (the file's checksum does not match its name); "
                                      "nothing was kept, so try again")


def _probe(url: str) -> None:
    """Raise unless the host serving url answers a HEAD request."""
    urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=PROBE_TIMEOUT_S).close()


def require_network(url: str, offline_message: str) -> None:
    """Raise WeightsUnavailableError(offline_message) unless url's host answers within PROBE_TIMEOUT_S."""
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            _probe(url)
            result.append(None)
        except Exception as err:  # noqa: BLE001 - any failure means "no download possible"
            result.append(err)

    # a thread bounds DNS look-ups too, which socket timeouts do not cover
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT_S + 0.5)
    if not result or result[0] is not None:
        err = result[0] if result else TimeoutError("no answer")
        log.info("no network for %s: %s: %s", url, type(err).__name__, err)  # for the operator, not the student
        raise WeightsUnavailableError(offline_message + ".")
