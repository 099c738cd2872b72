"""bench/train_gpu.py runs end to end on CPU with tiny settings and prints both throughputs and their ratio."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA_ROOT, needs_data

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"(\d+(?:\.\d+)?)"


@pytest.mark.slow
@needs_data("cifar10")
def test_cpu_smoke_prints_throughputs_and_ratio():
    cmd = [sys.executable, str(ROOT / "bench" / "train_gpu.py"), "--device", "cpu", "--steps", "2", "--warmup", "1",
           "--limit-per-class", "20", "--data-root", str(DATA_ROOT)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    a = float(re.search(rf"\(a\) seed loop: {NUMBER} images/s", out.stdout).group(1))
    b = float(re.search(rf"\(b\) our trainer: {NUMBER} images/s", out.stdout).group(1))
    ratio = float(re.search(rf"ratio b/a: {NUMBER}x", out.stdout).group(1))
    assert a > 0 and b > 0
    assert ratio == pytest.approx(b / a, rel=0.02, abs=0.01)  # the ratio is of the two printed figures
    assert "torch " in out.stdout and "device: CPU" in out.stdout
