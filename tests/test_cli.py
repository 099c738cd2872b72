"""Command line: `python -m cnndemo train` and `eval` run end to end in a subprocess on a tiny real subset."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_ROOT as SHARED
from conftest import needs_data

ROOT = Path(__file__).resolve().parents[1]
needs_mnist = needs_data("mnist")


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "cnndemo", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
@needs_mnist
def test_train_then_eval_from_the_command_line(tmp_path):
    out = tmp_path / "runs" / "lenet"
    r = cli("train", "--model", "lenet5_mnist", "--dataset", "mnist", "--epochs", "1", "--out", str(out),
            "--data-root", str(SHARED), "--limit-per-class", "100", "--test-limit-per-class", "20",
            "--batch-size", "32", "--lr", "0.003", "--time-budget", "60")
    assert r.returncode == 0, r.stderr
    assert "epoch 1:" in r.stdout and "checkpoint:" in r.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["recipe"]["limit_per_class"] == 100 and meta["recipe"]["time_budget_s"] == 60
    r = cli("eval", "--checkpoint", str(out) + ".safetensors", "--data-root", str(SHARED),
            "--limit-per-class", "20", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["n"] == 200 and result["accuracy"] == pytest.approx(meta["metrics"]["test_acc"])


def test_bad_setting_is_an_error_message_not_a_traceback(tmp_path):
    r = cli("train", "--mode", "magic", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert "mode must be one of" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_pickle_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x04not really")
    r = cli("eval", "--checkpoint", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "error:" in r.stderr


@pytest.mark.slow
def test_train_with_no_flags_works_offline_then_exports_onnx(tmp_path):
    """The command line's defaults train on the shapes drawn by code: no data folder, no download."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "run"
    env = {"CNNDEMO_DATA": str(empty)}
    r = cli("train", "--out", str(out), "--run-name", "offline check", "--limit-per-class", "100", env=env)
    assert r.returncode == 0, r.stderr
    assert "training lenet5 (scratch, lr 0.001) on 500 images, testing on 1000" in r.stdout
    assert "95 % interval" in r.stdout and "checkpoint:" in r.stdout
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["dataset"] == "shapes" and meta["recipe"]["run_name"] == "offline check"
    r = cli("export", "--checkpoint", str(out) + ".safetensors")
    assert r.returncode == 0, r.stderr
    assert out.with_suffix(".onnx").is_file() and f"onnx: {out}.onnx" in r.stdout
