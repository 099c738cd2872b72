"""Shared fixtures: no network for any test, the one data folder, the Blocks app launched once on a free local
port (gradio is imported only when asked for), Explore and Learn alone in a smaller app, and a headless Chromium
page at projector size for the browser tests."""
from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from cnndemo.data.builtin import data_root

# Gradio's version check and usage statistics (sent through huggingface_hub's telemetry) would leave the machine at
# every launch: off for the tests, before gradio is imported (the guard below fails any test that still reaches out).
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

# The one folder data-dependent tests look in, as the package finds it: CNNDEMO_DATA, else ../shared/data beside
# the repository, else ~/.cache/cnndemo/data. Tests never download into it.
DATA_ROOT = data_root()
SHARED_DATA = DATA_ROOT  # the name older tests import
_RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SHARED_MARKERS = {  # the files that must be in DATA_ROOT for each data set
    "cifar10": ("cifar10-jpeg.tar.gz",),
    "mnist": tuple(f"MNIST/raw/{f}" for f in _RAW),
    "fashion_mnist": tuple(f"FashionMNIST/raw/{f}" for f in _RAW)}
NO_DATA = (f"needs the offline data sets (MNIST, FashionMNIST, cifar10-jpeg.tar.gz) in {DATA_ROOT}: set "
           "CNNDEMO_DATA, or put ../shared/data beside the repository")  # the one reason every data test skips with


def has_data(dataset: str) -> bool:
    """True when every file of dataset is in DATA_ROOT."""
    return all((DATA_ROOT / f).is_file() for f in SHARED_MARKERS[dataset])


def needs_data(dataset: str) -> pytest.MarkDecorator:
    """Skip a test unless dataset is in DATA_ROOT."""
    return pytest.mark.skipif(not has_data(dataset), reason=NO_DATA)


def data_folder(dataset: str) -> Path:
    """DATA_ROOT when it holds dataset, else a skip (the same reason as needs_data)."""
    if not has_data(dataset):
        pytest.skip(NO_DATA)
    return DATA_ROOT


# ---------- no network ----------

BLOCKED: list[str] = []  # connections a test tried to open, in any thread; the test fails at its end


def is_loopback(host) -> bool:
    """True for this machine's own addresses (127.0.0.0/8, ::1, 'localhost')."""
    if host in ("localhost", "localhost.", None):
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False  # a host name other than localhost: resolving it is already a network request
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def _refuse(what: str) -> OSError:
    """Record a blocked connection and the error the caller sees."""
    BLOCKED.append(what)
    return ConnectionRefusedError(f"tests never open a network connection (blocked: {what})")


def _guard_connect(real):
    """socket.connect / connect_ex that refuse any internet address but loopback (Unix sockets pass)."""
    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise _refuse(f"connect to {address!r}")
        return real(sock, address)
    return connect


def _guard_getaddrinfo(real):
    """socket.getaddrinfo that looks up no name but localhost (addresses written as numbers need no lookup)."""
    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not is_loopback(name) and not _is_numeric(name):
            raise socket.gaierror(socket.EAI_NONAME, str(_refuse(f"name lookup of {name!r}")))
        return real(host, *args, **kwargs)
    return getaddrinfo


def _is_numeric(host) -> bool:
    """An IP address written out, or the wildcard (binding a server on all interfaces)."""
    try:
        ipaddress.ip_address(str(host).split("%")[0])
        return True
    except ValueError:
        return host in ("", "0.0.0.0", "::")


@pytest.fixture(scope="session", autouse=True)
def network_guard():
    """For the whole session: a socket to anything but this machine, or a DNS lookup, is refused and recorded."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _guard_connect(socket.socket.connect))
        mp.setattr(socket.socket, "connect_ex", _guard_connect(socket.socket.connect_ex))
        mp.setattr(socket, "getaddrinfo", _guard_getaddrinfo(socket.getaddrinfo))
        yield


@pytest.fixture(autouse=True)
def network_untouched(network_guard):
    """Fail the test that tried the network, even from another thread or where its code caught the error."""
    yield
    blocked = list(BLOCKED)
    BLOCKED.clear()
    if blocked:
        pytest.fail("the test tried to reach the network: " + "; ".join(blocked[:5]), pytrace=False)


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo):
    """Start demo in this process on a free port with the app's own launch options."""
    import app

    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    return demo


@pytest.fixture(scope="session")
def served():
    """The app as users get it, shared by the app, security and browser tests."""
    pytest.importorskip("gradio")
    import app

    demo = launch(app.build_demo())
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="session")
def learn_served():
    """Explore and Learn alone in one app (Learn follows Explore's image and model), and its context."""
    gr = pytest.importorskip("gradio")
    from cnndemo.ui import explore, learn
    from cnndemo.ui.context import AppContext

    ctx = AppContext()
    with gr.Blocks() as demo:
        explore.build(ctx)
        learn.build(ctx)
        demo.queue()
    launch(demo)
    try:
        yield demo, ctx
    finally:
        demo.close()


@pytest.fixture(scope="session")
def client(served):
    """A gradio_client Client of the shared app."""
    from gradio_client import Client

    return Client(served.local_url, verbose=False)


@pytest.fixture(scope="session")
def cat(tmp_path_factory):
    """The cat example photo, ready to upload."""
    pytest.importorskip("gradio")
    from gradio_client import handle_file

    from cnndemo.examples import example_files
    return handle_file(str(example_files(tmp_path_factory.mktemp("ex"))[0]))


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The data folder when it holds MNIST, or a skip."""
    return data_folder("mnist")


def shared_test_pictures(dataset: str, per_class: int) -> list:
    """(PIL picture, label) for the first per_class test pictures of each class in DATA_ROOT, or a skip."""
    from PIL import Image

    from cnndemo.data import DataSettings
    from cnndemo.data.builtin import load_dataset
    root = data_folder(dataset)
    test = load_dataset(dataset, str(root), split="test",
                        settings=DataSettings(root=str(root), test_limit_per_class=per_class, download=False))
    grey = test.images.shape[1] == 1
    return [(Image.fromarray(im[0].numpy() if grey else im.permute(1, 2, 0).numpy()), int(c))
            for im, c in zip(test.images, test.labels)]


def text_clashes(fig) -> list[str]:
    """Every pair of drawn texts of a matplotlib figure whose boxes overlap, and every text that leaves the figure
    (what a projector shows as an unreadable smudge or a cut-off word); empty when the figure reads cleanly."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    tick_labels, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            ticks = axis.get_major_ticks() + axis.get_minor_ticks()
            tick_labels |= {id(t) for tick in ticks for t in (tick.label1, tick.label2)}
            drawn += [t for tick in axis._update_ticks() for t in (tick.label1, tick.label2)]  # the ticks in view
    texts = [t for t in fig.findobj(Text) if id(t) not in tick_labels] + drawn
    boxes = [(t.get_text(), t.get_window_extent(renderer).expanded(1, 1).shrunk(1, 1).padded(-1))
             for t in texts if t.get_visible() and t.get_text().strip()]
    inside = fig.bbox.padded(1)
    out = [f"{a!r} leaves the figure" for a, box in boxes
           if not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))]
    return out + [f"{a!r} overlaps {b!r}" for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1:]
                  if box.overlaps(other)]


# ---------- the browser tests ----------
VIEWPORT = {"width": 1280, "height": 720}  # a classroom projector
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    """$CNNDEMO_CHROMIUM, Debian's /usr/bin/chromium, or a chromium on PATH."""
    for candidate in (os.environ.get("CNNDEMO_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def page_url(served) -> str:
    """The address a module's browser page opens: the whole app (a module may override this fixture)."""
    return served.local_url


@pytest.fixture(scope="module")
def page(page_url):
    """A headless Chromium page at projector size on page_url; skipped without playwright or Chromium."""
    sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: no browser to drive")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set CNNDEMO_CHROMIUM)")
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(60_000)
        page.goto(page_url)
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Where the browser tests' screenshots go: $CNNDEMO_ARTIFACTS/browser (never committed), else a temporary
    folder."""
    folder = Path(os.environ.get("CNNDEMO_ARTIFACTS") or tmp_path_factory.mktemp("browser")) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def top_label(page) -> str:
    """The most probable class Explore's Predictions panel shows (its first line after the panel's label)."""
    lines = [t.strip() for t in page.locator("#predictions").inner_text().splitlines()]
    return next(t for t in lines if t and t != "Predictions")


def explain(page) -> None:
    """Press Explore's Explain and wait until every step has finished (a heatmap caption, no progress timer)."""
    busy = "(s) => /\\d\\.\\ds/.test(document.querySelector(s).innerText)"  # a component's timer: '0.3s'
    page.get_by_role("button", name="Explain").click()
    page.wait_for_function(f"() => ({busy})('#predictions')", timeout=15_000)
    page.wait_for_function(f"() => !['#predictions', '#heatmap', '#heat-caption'].some({busy})"
                           " && document.querySelector('#heat-caption').innerText.includes('for')", timeout=120_000)


@pytest.fixture(scope="session")
def trained():
    """trained(name) -> (model, info): a registry model with its shipped weights, a fresh copy on every call."""
    from cnndemo.zoo import Zoo

    zoo = Zoo()

    def load(name: str):
        model, info = zoo.load(name)
        assert zoo.state(name).trained, f"{name} has no trained weights here: {zoo.state(name).status}"
        return model, info
    return load


def channel_responses(model, info, layer: str, channels: tuple[int, ...], pictures) -> np.ndarray:
    """[channel i, picture j]: channel i's mean activation on picture j, read by a plain hook on the model as
    handed over, each picture fed through cnndemo.images like any picture."""
    import torch
    from PIL import Image

    from cnndemo.explain.guard import layer_module
    from cnndemo.images import seen_tensor

    seen = {}
    handle = layer_module(model, layer).register_forward_hook(lambda m, i, out: seen.setdefault("out", out))
    try:
        with torch.no_grad():
            model(torch.cat([seen_tensor(Image.fromarray(p), info) for p in pictures]))
    finally:
        handle.remove()
    return seen["out"][:, list(channels)].mean(dim=(2, 3)).T.numpy()
