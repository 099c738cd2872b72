"""Shared fixtures: the Blocks app launched once on a free local port (gradio is imported only when asked for),
Explore and Learn alone in a smaller app, and a headless Chromium page at projector size for the browser tests."""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
    """The offline MNIST beside the repository, or skip."""
    if not (SHARED_DATA / "MNIST").is_dir():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'MNIST'}")
    return SHARED_DATA


SHARED_MARKERS = {"cifar10": "cifar10-jpeg.tar.gz", "mnist": "MNIST"}  # what must be in ../shared/data for each


def shared_test_pictures(dataset: str, per_class: int) -> list:
    """(PIL picture, label) for the first per_class test pictures of each class in ../shared/data, or a skip."""
    from PIL import Image

    from cnndemo.data import DataSettings
    from cnndemo.data.builtin import load_dataset
    if not (SHARED_DATA / SHARED_MARKERS[dataset]).exists():
        pytest.skip(f"{dataset} not found in {SHARED_DATA}")
    test = load_dataset(dataset, str(SHARED_DATA), split="test",
                        settings=DataSettings(root=str(SHARED_DATA), test_limit_per_class=per_class))
    grey = test.images.shape[1] == 1
    return [(Image.fromarray(im[0].numpy() if grey else im.permute(1, 2, 0).numpy()), int(c))
            for im, c in zip(test.images, test.labels)]


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
