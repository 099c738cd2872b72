"""The package installs whole (every subpackage, the shipped checkpoints, the `cnndemo` command, a LICENSE,
declared dependencies) and the Space front matter is right."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "checkpoints").glob("*.safetensors"))


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


@pytest.mark.slow
def test_wheel_carries_the_checkpoints_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert SHIPPED and all(f"cnndemo/_checkpoints/{m}.{s}" in names for m in SHIPPED for s in ("safetensors", "json"))
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "cnndemo = cnndemo.__main__:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_license_is_the_front_matters():
    assert front_matter()["license"] == "mit" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv outside the repository with only the wheel installed in it; the dependencies come from this
    interpreter's site-packages through a .pth file, so nothing is downloaded."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    Path(purelib, "_cnndemo_test_deps.pth").write_text(f"import site; site.addsitedir({deps!r})\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=300)
    return venv


def outside_env() -> dict:
    """The environment for the installed package: nothing points back into the repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CNNDEMO_DATA")}
    return {**env, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


LOAD_EVERY_SHIPPED = """
import json, sys, torch, cnndemo
from safetensors.torch import load_file
from cnndemo.zoo import Zoo
zoo, out = Zoo(), {"package": cnndemo.__file__, "models": {}}
for name, path in json.loads(sys.argv[1]).items():
    model, info = zoo.load(name)
    shipped = load_file(path)
    same = all(torch.equal(t.to(shipped[k].dtype), shipped[k]) for k, t in model.state_dict().items())
    out["models"][name] = [zoo.state(name).trained, same, len(shipped) == len(model.state_dict())]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_installed_wheel_loads_every_shipped_model_trained(installed, tmp_path):
    files = {m: str(ROOT / "checkpoints" / f"{m}.safetensors") for m in SHIPPED}
    r = subprocess.run([str(installed / "bin" / "python"), "-c", LOAD_EVERY_SHIPPED, json.dumps(files)],
                       cwd=tmp_path, env=outside_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.splitlines()[-1])
    assert Path(found["package"]).is_relative_to(installed)  # the wheel's copy, not this checkout
    assert found["models"] == {m: [True, True, True] for m in SHIPPED}


def _get(url: str) -> int:
    """HTTP status of GET url (0 while nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return 0


@pytest.mark.slow
def test_cnndemo_command_serves_the_app(installed, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([str(installed / "bin" / "cnndemo"), "serve", "--port", str(port)], cwd=tmp_path,
                              env=outside_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while _get(f"http://127.0.0.1:{port}/") != 200 and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _get(f"http://127.0.0.1:{port}/") == 200, (tmp_path / "serve.log").read_text()[-3000:]
        from gradio_client import Client, handle_file
        from PIL import Image, ImageDraw
        digit = Image.new("L", (28, 28))
        ImageDraw.Draw(digit).line([(14, 4), (14, 24)], fill=255, width=3)
        digit.save(tmp_path / "one.png")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        label, _ = client.predict(handle_file(str(tmp_path / "one.png")), "lenet5_mnist", api_name="/predict")
        assert label["label"] in [str(d) for d in range(10)] and len(label["confidences"]) == 5
    finally:
        server.terminate()
        server.wait(30)
        log.close()


@pytest.mark.slow
def test_installed_command_keeps_train_eval_and_export(installed, tmp_path):
    r = subprocess.run([str(installed / "bin" / "cnndemo"), "--help"], cwd=tmp_path, env=outside_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and all(c in r.stdout for c in ("serve", "train", "eval", "export")), r.stderr
