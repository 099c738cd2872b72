"""The package installs (every subpackage, declared dependencies) and the Space front matter is right."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def subpackages() -> set[str]:
    """Every package folder under cnndemo/, dotted."""
    return {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "cnndemo").rglob("__init__.py")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from this checkout, without network (setuptools is already installed)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True, timeout=300)
    return next(out.glob("cnndemo-*.whl"))


@pytest.mark.slow
def test_wheel_holds_every_subpackage(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert subpackages() <= packaged, subpackages() - packaged
    assert {"cnndemo.models", "cnndemo.explain", "cnndemo.train", "cnndemo.data", "cnndemo.ui"} <= packaged


@pytest.mark.slow
def test_wheel_declares_the_runtime_dependencies(wheel):
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    declared = {re.split(r"[<>=!~;\[ ]", line.split(":", 1)[1].strip())[0].lower()
                for line in text.splitlines() if line.startswith("Requires-Dist:")}
    assert {"torch", "torchvision", "gradio", "captum"} <= declared, declared


def test_pyproject_dependencies_match_requirements():
    """requirements.txt (the README's route) and pyproject.toml declare the same runtime packages."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert sorted(declared) == sorted(r for r in required if r)


def front_matter() -> dict[str, str]:
    """The README's YAML front matter as flat key: value pairs (quotes stripped)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("---\n")[1]
    return {k.strip(): v.strip().strip('"') for k, v in (line.split(":", 1) for line in block.splitlines() if ":" in line)}


def test_space_front_matter():
    import gradio
    meta = front_matter()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert meta["sdk_version"] == gradio.__version__  # the version the tests run on
    assert meta["python_version"] == requires.removeprefix(">=")
