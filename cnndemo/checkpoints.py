"""Checkpoint files: safetensors weights plus a JSON sidecar; nothing is ever unpickled."""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import BadInputError

WEIGHTS_SUFFIX = ".safetensors"
SIDECAR_SUFFIX = ".json"
# Formats that are (or usually wrap) pickles, which can run code when loaded.
REFUSED_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt", ".tar", ".zip", ".joblib", ".npy", ".npz")
META_KEYS = ("arch", "classes", "mean", "std", "input_size", "dataset", "recipe", "metrics", "created")
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own cap on its JSON header
_CONVERT_HINT = ("cnndemo only loads its own .safetensors checkpoints (with a .json file beside them), because "
                 "pickle-based files (.pt, .pth, .pkl, .ckpt, .bin) can run any code when opened.")


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The (weights, sidecar) paths for a .safetensors path, a .json path or a bare stem."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in REFUSED_SUFFIXES:
        raise BadInputError(f"{p.name!r} is a {suffix} file. {_CONVERT_HINT}")
    stem = p.with_suffix("") if suffix in (WEIGHTS_SUFFIX, SIDECAR_SUFFIX) else p
    return stem.with_name(stem.name + WEIGHTS_SUFFIX), stem.with_name(stem.name + SIDECAR_SUFFIX)


def save(model: nn.Module | Mapping[str, torch.Tensor], path: str | os.PathLike, meta: Mapping[str, Any],
         *, dtype: torch.dtype | None = None) -> Path:
    """Write <stem>.safetensors then <stem>.json, each atomically; returns the weights path."""
    weights, sidecar = checkpoint_paths(path)
    if not meta.get("arch"):
        raise ValueError("checkpoint meta needs an 'arch' (the registered model name)")
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = _plain_tensors(model.state_dict() if isinstance(model, nn.Module) else model, dtype)
    full = _full_meta(meta, dtype)
    _atomic_write(weights, lambda tmp: _write_weights(tensors, tmp, str(full["arch"])))
    _atomic_write(sidecar, lambda tmp: _write_text(tmp, json.dumps(full, indent=2, default=_jsonable)))
    return weights


def _plain_tensors(state: Mapping[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """CPU, contiguous, detached tensors; those sharing storage (tied weights) are cloned apart."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, t in state.items():
        t = t.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        t = t.contiguous()
        ptr = t.untyped_storage().data_ptr()
        out[key] = t.clone() if ptr in seen and t.numel() else t
        seen.add(ptr)
    return out


def _full_meta(meta: Mapping[str, Any], dtype: torch.dtype | None) -> dict[str, Any]:
    """The sidecar content: every standard key present, plus whatever else the caller passed."""
    full: dict[str, Any] = {k: None for k in META_KEYS}
    full.update(recipe={}, metrics={})
    full.update(meta)
    if not full["created"]:
        full["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    if dtype is not None:
        full["dtype"] = str(dtype).removeprefix("torch.")
    return full


def _jsonable(value: Any) -> Any:
    """JSON for tensors, numpy values, paths and other odd metadata values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def _write_weights(tensors: dict[str, torch.Tensor], tmp: Path, arch: str) -> None:
    """safetensors file at tmp, flushed to disk."""
    save_file(tensors, str(tmp), metadata={"format": "pt", "arch": arch})
    _fsync(tmp)


def _write_text(tmp: Path, text: str) -> None:
    """UTF-8 text at tmp, flushed to disk."""
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    """Flush a closed file's data to disk before it is renamed into place."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _atomic_write(final: Path, write: Callable[[Path], None]) -> None:
    """Write via a temp file in the same folder and os.replace, so readers see the old file or the new one."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # safetensors creates files owner-only; a checkpoint is meant to be shared
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The (state_dict, meta) of a cnndemo checkpoint; anything else raises BadInputError."""
    weights, sidecar = checkpoint_paths(path)
    if not weights.is_file():
        raise BadInputError(f"There is no checkpoint file {str(weights)!r}.")
    sniff_safetensors(weights)
    meta = _read_sidecar(sidecar)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise BadInputError(f"{weights.name!r} is a damaged safetensors file ({e}).") from e
    return state, meta


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Only the JSON sidecar of a checkpoint, without reading its weights."""
    return _read_sidecar(checkpoint_paths(path)[1])


def sniff_safetensors(path: Path) -> None:
    """Refuse a file whose bytes are not a safetensors header (e.g. a pickle or zip renamed .safetensors)."""
    with open(path, "rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    n = int.from_bytes(head[:8], "little") if len(head) >= 8 else -1
    if len(head) == 9 and head[8:9] == b"{" and 0 < n <= min(_MAX_HEADER, size - 8):
        return
    kind = "a pickle" if head[:1] == b"\x80" else "a zip archive (torch.save format)" if head[:2] == b"PK" else None
    what = f"is really {kind}, renamed" if kind else "is not a valid safetensors file"
    raise BadInputError(f"{path.name!r} {what}. {_CONVERT_HINT}")


def _read_sidecar(sidecar: Path) -> dict[str, Any]:
    """The JSON sidecar as a dict, with clear errors when missing or broken."""
    if not sidecar.is_file():
        raise BadInputError(f"The checkpoint's description file {sidecar.name!r} is missing; it must lie next to "
                            "the .safetensors file (same name, .json).")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInputError(f"The checkpoint's description file {sidecar.name!r} is not valid JSON ({e}).") from e
    if not isinstance(meta, dict) or "arch" not in meta:
        raise BadInputError(f"{sidecar.name!r} is not a cnndemo checkpoint description (no 'arch' entry).")
    return meta


def load_into(model: nn.Module, path: str | os.PathLike, *, arch: str | None = None) -> dict[str, Any]:
    """Load a checkpoint into model (cast to its dtypes), refusing another arch or any key/shape mismatch."""
    state, meta = load(path)
    if arch is not None and meta.get("arch") != arch:
        raise BadInputError(f"This checkpoint was trained for {meta.get('arch')!r}, not {arch!r}; "
                            f"pick the {meta.get('arch')!r} model to use it.")
    fit_state(model, state, "The checkpoint")
    return meta


def fit_state(model: nn.Module, state: Mapping[str, torch.Tensor], what: str = "The checkpoint") -> None:
    """Load state into model, cast to the model's dtypes; BadInputError naming what on any key/shape mismatch."""
    target = model.state_dict()
    problems = state_mismatch(target, state)
    if problems:
        raise BadInputError(f"{what} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict({k: v.to(target[k].dtype) for k, v in state.items()}, strict=True)


def in_layers(key: str, layers: list[str] | tuple[str, ...]) -> bool:
    """True when a state-dict key belongs to one of the named layers (their weights, biases, buffers)."""
    return any(key.startswith(layer + ".") for layer in layers)


def frozen_digest(state: Mapping[str, torch.Tensor], heads: list[str] | tuple[str, ...]) -> str:
    """A hash of every tensor outside the heads, as float32 where floating (a float16 file of the same weights
    hashes the same): what a frozen-feature run's heads were trained on top of."""
    h = hashlib.blake2b(digest_size=16)
    for key in sorted(k for k in state if not in_layers(k, heads)):
        t = state[key].detach().cpu()
        t = (t.float() if t.is_floating_point() else t).reshape(-1).contiguous()
        h.update(f"{key}{tuple(state[key].shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def state_mismatch(expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor], limit: int = 3) -> list[str]:
    """Human-readable differences (missing, unexpected, shape) between two state dicts, a few of each."""
    missing = [k for k in expected if k not in got]
    unexpected = sorted(k for k in got if k not in expected)
    shapes = [f"{k} {tuple(got[k].shape)} vs model {tuple(expected[k].shape)}"
              for k in expected if k in got and got[k].shape != expected[k].shape]
    out = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape differs", shapes)):
        if items:
            more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
            out.append(f"{label}: {', '.join(items[:limit])}{more}")
    return out
