"""Hostile requests against the running app: file-route traversal, odd uploads, archives, pickles, faults."""
from __future__ import annotations

import http.client
import io
import json
import os
import pickle
import signal
import stat
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

gradio = pytest.importorskip("gradio")
import torch  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402
from cnndemo.serving import ServingLimits  # noqa: E402
from cnndemo.ui.common import DEFAULT_MODEL  # noqa: E402
from cnndemo.ui.train import RUNS  # noqa: E402
from cnndemo.explain import Explainer  # noqa: E402
from conftest import free_port, launch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
APP_SOURCE_MARK = b"cnndemo's Gradio app"  # the first line of app.py


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET path exactly as written (no client-side normalisation of '..' or percent escapes)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ---------- file routes ----------

def _traversals() -> list[str]:
    app_py, cache = str(REPO / "app.py"), str(Path(os.environ.get("GRADIO_TEMP_DIR", "/tmp/gradio")))
    plain = ["../app.py", "../../../../../../etc/passwd", "/etc/passwd", app_py, f"{cache}/../../etc/passwd",
             f"{cache}/../../{app_py}", "~/.bashrc", "/proc/self/environ", str(REPO / ".git" / "config")]
    encoded = [quote(p, safe="") for p in plain[:4]] + [
        "..%2f..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/%2e%2e/etc/passwd", "..%252f..%252fetc%252fpasswd",
        "....//....//etc/passwd", "..\\..\\app.py"]
    return plain + encoded


@pytest.mark.parametrize("prefix", ["/gradio_api/file=", "/file="])
@pytest.mark.parametrize("target", _traversals())
def test_file_route_refuses_traversal(served, prefix, target):
    status, body = raw_get(served.local_url, prefix + target)
    assert 400 <= status < 500, (status, body[:200])
    assert b"root:" not in body and APP_SOURCE_MARK not in body and b"[core]" not in body


def test_file_route_refuses_server_side_urls(served, monkeypatch):
    import safehttpx

    async def no_answer(hostname: str) -> list[str]:
        return []  # what an offline server gets: Gradio's check asks dns.google (over HTTPS) for a second opinion
    monkeypatch.setattr(safehttpx, "async_resolve_hostname_google", no_answer)  # tests never reach the network
    status, body = raw_get(served.local_url, "/gradio_api/file=" + quote(served.local_url + "config", safe=""))
    assert 400 <= status < 500 or b'"components"' not in body


def test_input_cannot_name_a_server_file(served):
    """A client that sends a server path instead of an upload gets an error, never the file's content."""
    import httpx

    payload = {"data": [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "lenet5_mnist"]}
    base = served.local_url + "gradio_api/call/predict"
    event = httpx.post(base, json=payload, timeout=30).json()["event_id"]
    stream = httpx.get(f"{base}/{event}", timeout=60).text
    assert "event: error" in stream and "root:" not in stream


def test_upload_over_the_size_cap_is_refused(served, tmp_path):
    import httpx

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * 2**20))  # just over the 20 MB cap
    with big.open("rb") as f:
        resp = httpx.post(served.local_url + "gradio_api/upload", files={"files": ("big.png", f)}, timeout=60)
    assert resp.status_code == 413 and "big.png" not in resp.text


# ---------- hostile images ----------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png() -> bytes:
    """A tiny PNG that claims 40000 x 40000 pixels (1.6 gigapixels)."""
    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 40_001 * 8)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _hostile_images(cat_bytes: bytes) -> dict[str, bytes]:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
    return {"truncated.jpg": cat_bytes[: len(cat_bytes) // 3], "bomb.png": _bomb_png(),
            "notes.png": b"this is not a picture, just text", "drawing.svg": svg, "drawing-svg.png": svg,
            "empty.png": b""}


@pytest.fixture(scope="module")
def cat_bytes(cat) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.open(cat["path"]).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name", list(_hostile_images(b"x" * 30)))
def test_hostile_image_gets_a_message_and_the_next_request_works(client, cat, cat_bytes, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(_hostile_images(cat_bytes)[name])
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(str(path)), "lenet5_mnist", api_name="/predict")
    message = str(caught.value)
    assert "Traceback" not in message and len(message) < 400
    assert any(w in message.lower() for w in ("image", "picture", "file", "empty", "svg", "large", "pixels")), message
    label, _ = client.predict(cat, DEFAULT_MODEL, api_name="/predict")
    assert label["label"]


# ---------- hostile archives through /train ----------

def _zip(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def _symlink_zip() -> bytes:
    info = zipfile.ZipInfo("cats/passwd.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip([(info, b"/etc/passwd"), ("dogs/a.png", b"x")])


def _symlink_tgz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        link = tarfile.TarInfo("cats/passwd.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    return buf.getvalue()


def _slip_tgz(marker: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo(f"../../../../../../tmp/{marker}.png")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"evil"))
    return buf.getvalue()


def _archives(marker: str) -> dict[str, bytes]:
    return {"slip.zip": _zip([(f"../../../../../../tmp/{marker}.png", b"evil"), ("cats/a.png", b"x")]),
            "slip.tar.gz": _slip_tgz(marker), "link.zip": _symlink_zip(), "link.tar.gz": _symlink_tgz(),
            "bomb.zip": _zip([("cats/a.png", b"\0" * (12 * 2**20)), ("dogs/b.png", b"\0" * (12 * 2**20))]),
            "text.zip": b"definitely not an archive", "empty.zip": b""}


@pytest.mark.parametrize("name", list(_archives("x")))
def test_hostile_archive_is_refused_and_nothing_is_written(client, tmp_path, name):
    marker = f"cnndemo-slip-{os.getpid()}-{time.monotonic_ns()}"
    path = tmp_path / name
    path.write_bytes(_archives(marker)[name])
    runs_before = set(RUNS.glob("*")) if RUNS.is_dir() else set()
    # a refused run says so in one message in the progress area (the other outputs keep what they showed)
    message = client.predict("lenet5", "mnist", handle_file(str(path)), "scratch", 1, 8, 0.003, 10, 2,
                             api_name="/train")[0]
    assert message.startswith("**Not trained:**") and "Traceback" not in message and any(w in message.lower() for w in ("archive", "zip", "tar", "link",
                                                                               "refus", "empty")), message
    assert not list(Path("/tmp").glob(f"{marker}*")) and not list(REPO.rglob(f"{marker}*"))
    assert (set(RUNS.glob("*")) if RUNS.is_dir() else set()) == runs_before  # no checkpoint either


# ---------- pickles offered as checkpoints ----------

class _Touch:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _pickle_files(folder: Path, marker: Path) -> list[Path]:
    payload = pickle.dumps(_Touch(marker))
    files = []
    for name, data in (("evil.pt", payload), ("evil.pkl", payload), ("evil-pickle.safetensors", payload)):
        (folder / name).write_bytes(data)
        files.append(folder / name)
    torch.save({"state": _Touch(marker)}, folder / "evil-zip.safetensors")
    files.append(folder / "evil-zip.safetensors")
    for f in files:  # a sidecar, so only the weights file itself can be the reason for refusal
        f.with_suffix(".json").write_text(json.dumps({"arch": "lenet5", "classes": list("0123456789")}))
    return files


def test_the_pickle_payload_really_runs_code_when_unpickled(tmp_path):
    marker = tmp_path / "control-ran"
    pickle.loads(pickle.dumps(_Touch(marker)))  # noqa: S301 - the control: proves the payload is live
    assert marker.exists()


def test_pickle_offered_as_a_checkpoint_never_runs(tmp_path):
    from cnndemo.errors import BadInputError
    from cnndemo.models import load_checkpoint
    from cnndemo.zoo import Zoo

    marker = tmp_path / "code-ran"
    for path in _pickle_files(tmp_path, marker):
        with pytest.raises(BadInputError, match="(?i)pickle|safetensors"):
            Zoo().add_run(path, path.stem)
        with pytest.raises(BadInputError):
            load_checkpoint(path)
    assert not marker.exists()


# ---------- faults: out of memory, time limit, full queue ----------

@pytest.fixture(scope="module")
def strict():
    """A second app with a short time limit and a tiny queue, so the limits can be hit quickly."""
    limits = ServingLimits(queue_size=2, explain_concurrency=2, time_limit_s=2.0, max_overdue=1)
    demo = launch(app.build_demo(limits=limits))
    try:
        yield Client(demo.local_url, verbose=False)
    finally:
        demo.close()


def _attribute(client, cat):
    return client.predict(cat, "lenet5_mnist", "gradcam", "", "", 0.5, False, api_name="/attribute")


@pytest.mark.parametrize("error", [torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                                "can't allocate memory: you tried to allocate 1 bytes. "
                                                "Error code 12 (out of memory)")])
def test_out_of_memory_gives_a_message_and_the_next_request_works(strict, cat, monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(Explainer, "attribute", fail)
    with pytest.raises(Exception, match="(?i)ran out of memory"):
        _attribute(strict, cat)
    monkeypatch.undo()
    (before, after), colorbar, caption = _attribute(strict, cat)
    assert before and after and "for **" in caption


def _retry(call, seconds: float):
    """call() until it stops raising (the server finishing a late request), or the last error."""
    end = time.monotonic() + seconds
    while True:
        try:
            return call()
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


@pytest.mark.slow
def test_time_limit_ends_the_request_with_a_message(strict, cat, monkeypatch):
    slow = Explainer.feature_maps

    def sleepy(self, *args, **kwargs):
        time.sleep(4)
        return slow(self, *args, **kwargs)

    monkeypatch.setattr(Explainer, "feature_maps", sleepy)
    started = time.monotonic()
    with pytest.raises(Exception, match="longer than the 2 s limit"):
        strict.predict(cat, "lenet5_mnist", "", api_name="/feature_maps")
    assert time.monotonic() - started < 3.9  # the user is answered at the limit, not when the work ends
    with pytest.raises(Exception, match="(?i)busy"):  # the late request still runs: new ones are refused
        strict.predict(cat, "lenet5_mnist", api_name="/predict")
    monkeypatch.undo()
    grid, header, _ = _retry(lambda: strict.predict(cat, "lenet5_mnist", "", api_name="/feature_maps"), 10)
    assert "output shape" in header


@pytest.mark.slow
def test_full_queue_is_a_message_not_a_crash(strict, cat, monkeypatch):
    slow = Explainer.predict

    def sleepy(self, *args, **kwargs):
        time.sleep(1.0)
        return slow(self, *args, **kwargs)

    monkeypatch.setattr(Explainer, "predict", sleepy)
    clients = [Client(strict.src, verbose=False) for _ in range(8)]
    jobs = [c.submit(cat, "lenet5_mnist", api_name="/predict") for c in clients]
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result(timeout=60)[0]["label"])
        except Exception as err:  # noqa: BLE001 - sorted below
            outcomes.append(f"error: {err}")
    errors = [o for o in outcomes if o.startswith("error")]
    assert errors and all("queue is full" in e.lower() for e in errors), outcomes
    assert len(errors) < len(outcomes)
    monkeypatch.undo()
    assert strict.predict(cat, "lenet5_mnist", api_name="/predict")[0]["label"]


# ---------- a server killed during training ----------

def _wait_for(predicate, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _start_server(runs: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CNNDEMO_RUNS": str(runs), "GRADIO_SERVER_PORT": str(port), "OMP_NUM_THREADS": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _serving(url: str) -> bool:
    try:
        return raw_get(url, "/config")[0] == 200
    except OSError:
        return False


def _check_checkpoints(runs: Path) -> list[Path]:
    """Every .safetensors loads and has its sidecar; leftovers are only hidden temp files nobody loads."""
    from cnndemo.checkpoints import load

    found = sorted(runs.glob("*.safetensors"))
    for weights in found:
        assert weights.with_suffix(".json").is_file(), weights
        state, meta = load(weights)
        assert state and meta["arch"] == "lenet5_mnist"
    stray = [p for p in runs.iterdir() if p.suffix not in (".safetensors", ".json")]
    assert all(p.name.startswith(".") for p in stray), stray
    return found


@pytest.mark.slow
def test_server_killed_while_training_leaves_no_corrupt_checkpoint(tmp_path, mnist_root):
    runs, port = tmp_path / "runs", free_port()
    url = f"http://127.0.0.1:{port}/"
    server = _start_server(runs, port, tmp_path / "server.log")
    try:
        _wait_for(lambda: _serving(url), 90, "the app to start")
        job = Client(url, verbose=False).submit("lenet5_mnist", "mnist", None, "scratch", 30, 32, 0.003, 120, 20,
                                                api_name="/train")
        _wait_for(lambda: list(runs.glob("*.safetensors")), 90, "a first checkpoint")
        time.sleep(0.3)  # into the following epochs, where checkpoints keep being rewritten
        assert not job.done()
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    finally:
        server.kill()
    assert len(_check_checkpoints(runs)) == 1
    restarted = _start_server(runs, port, tmp_path / "server.log")
    try:
        _wait_for(lambda: _serving(url), 90, "the app to start again")
        label, _ = Client(url, verbose=False).predict(handle_file(str(_digit(tmp_path))), "lenet5_mnist",
                                                      api_name="/predict")
        assert label["label"]
    finally:
        restarted.terminate()
        restarted.wait(30)
    _check_checkpoints(runs)


def _digit(folder: Path) -> Path:
    from PIL import Image, ImageDraw

    img = Image.new("L", (28, 28))
    ImageDraw.Draw(img).line([(14, 4), (14, 24)], fill=255, width=3)
    img.save(folder / "one.png")
    return folder / "one.png"
