"""ONNX export: the file onnxruntime loads gives the same top-1 as torch; writing is atomic."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cnndemo import export
from cnndemo.data import load_splits, to_input
from cnndemo.models import load_checkpoint
from cnndemo.train import SHAPES_RECIPE, train
from cnndemo.train.evaluate import checkpoint_spec


@pytest.fixture(scope="module")
def shapes_checkpoint(tmp_path_factory) -> str:
    """A LeNet trained briefly on shapes: weights that are not random, a checkpoint with its sidecar."""
    out = tmp_path_factory.mktemp("run") / "lenet"
    cfg = replace(SHAPES_RECIPE, epochs=6, batch_size=32, limit_per_class=300, test_limit_per_class=10, out=str(out))
    return list(train(cfg))[-1].checkpoint


@pytest.mark.slow  # torch.onnx's exporter traces the model: about 10 s here
def test_onnx_file_gives_the_same_top1_as_torch_on_ten_images(shapes_checkpoint):
    ort = pytest.importorskip("onnxruntime")
    path = export.export_checkpoint(shapes_checkpoint)
    assert path == Path(shapes_checkpoint).with_suffix(".onnx") and path.is_file()
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".") or p.suffix == ".data"] == []
    model, meta = load_checkpoint(shapes_checkpoint)
    test = load_splits("shapes").test
    x = to_input(test.images[:10], checkpoint_spec(meta))
    with torch.no_grad():
        want = model(x)
    got = ort.InferenceSession(str(path)).run(["logits"], {"image": x.numpy()})[0]
    assert np.array_equal(got.argmax(1), want.argmax(1).numpy())
    assert np.allclose(got, want.numpy(), atol=1e-4)
    assert len(set(want.argmax(1).tolist())) > 1  # a real test: not one class for every image
    info = export.read_metadata(path)
    assert info["classes"] == meta["classes"] and info["input_size"] == meta["input_size"]
    assert info["mean"] == meta["mean"] and info["arch"] == "lenet5"


def test_a_failed_export_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous export")
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)).train()

    def half_then_fail(model, args, f, **kw):
        Path(f).write_bytes(b"half a file")
        raise RuntimeError("exporter failed")
    monkeypatch.setattr(torch.onnx, "export", half_then_fail)
    with pytest.raises(RuntimeError, match="exporter failed"):
        export.export_onnx(model, (3, 2, 2), target)
    assert target.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    assert model.training  # the model's mode is given back


def test_onnx_path_sits_beside_the_checkpoint(tmp_path):
    assert export.onnx_path(tmp_path / "run.safetensors") == tmp_path / "run.onnx"
    assert export.onnx_path(tmp_path / "run.json") == tmp_path / "run.onnx"
