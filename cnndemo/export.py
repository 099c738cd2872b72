"""Take a trained model home: an ONNX file beside the checkpoint's safetensors + JSON, written by torch.onnx.

The file is self-contained (weights inside, no .onnx.data beside it), takes any batch size, and carries the
sidecar's facts a user needs to feed it (classes, input size, mean and std) as ONNX metadata.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import torch
import torch.nn as nn

ONNX_SUFFIX = ".onnx"
META_KEYS = ("arch", "classes", "input_size", "mean", "std", "dataset")  # copied from the sidecar into the file


def export_onnx(model: nn.Module, input_size: tuple[int, int, int], path: str | os.PathLike,
                meta: dict | None = None) -> Path:
    """Write the model as one ONNX file (input "image" (N, C, H, W), output "logits"), atomically; the model's
    train/eval mode is given back afterwards."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    was_training = model.training
    model.eval()  # the exported graph is the inference one (no dropout, batch-norm running statistics)
    try:
        device = next(model.parameters(), torch.zeros(0)).device
        sample = (torch.zeros(2, *input_size, device=device),)  # batch 2: export must not fix the batch at 1
        torch.onnx.export(model, sample, str(tmp), input_names=["image"], output_names=["logits"], dynamo=True,
                          external_data=False, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch", max=65536)},))
        _add_metadata(tmp, meta or {})
        os.replace(tmp, path)  # readers see the old file or the whole new one, never half of one
    finally:
        model.train(was_training)
        tmp.unlink(missing_ok=True)
    return path


def _add_metadata(path: Path, meta: dict) -> None:
    """Store the sidecar facts as ONNX metadata_props (JSON values)."""
    import onnx

    proto = onnx.load(str(path))
    for key in META_KEYS:
        if meta.get(key) is not None:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(meta[key])
    onnx.save(proto, str(path))


def onnx_path(checkpoint: str | os.PathLike) -> Path:
    """Where a checkpoint's ONNX file goes: beside it, <stem>.onnx."""
    from .checkpoints import checkpoint_paths

    weights, _ = checkpoint_paths(checkpoint)
    return weights.with_suffix(ONNX_SUFFIX)


def export_checkpoint(checkpoint: str | os.PathLike) -> Path:
    """Export a cnndemo checkpoint to <stem>.onnx beside its .safetensors and .json; returns the ONNX path."""
    from .models import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    return export_onnx(model, tuple(meta["input_size"]), onnx_path(checkpoint), meta)


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata export_onnx stored in an ONNX file, decoded."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: json.loads(p.value) for p in proto.metadata_props if p.key in META_KEYS}
