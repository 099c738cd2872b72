"""The Learn tab in a real headless Chromium at a projector's 1280x720: open it, upload a photo, work out one
convolution, pick a block. Screenshots go to $CNNDEMO_ARTIFACTS (never committed)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cnndemo.learn.figures import TILE
from test_browser import CHROMIUM_ARGS, find_chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def learn_url():
    gr = pytest.importorskip("gradio")
    from conftest import launch

    from cnndemo.ui import explore, learn as learn_tab
    from cnndemo.ui.context import AppContext

    ctx = AppContext()
    with gr.Blocks() as demo:
        explore.build(ctx)
        learn_tab.build(ctx)
        demo.queue()
    launch(demo)
    try:
        yield demo.local_url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CNNDEMO_ARTIFACTS") or tmp_path_factory.mktemp("learn")) / "learn"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(learn_url):
    sync = pytest.importorskip("playwright.sync_api")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set CNNDEMO_CHROMIUM)")
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(60_000)
        page.goto(learn_url)
        try:
            yield page
        finally:
            browser.close()


def test_learn_tab_works_one_convolution(page, shots, tmp_path):
    from cnndemo.examples import example_files
    page.get_by_role("tab", name="Learn").click()
    page.locator("#learn-diagram svg g[data-block]").first.wait_for()  # the default model's diagram, on load
    assert page.locator("#learn-diagram svg g[data-block]").count() >= 5
    page.screenshot(path=shots / "learn-open.png")
    photo = example_files(tmp_path)[0]
    page.locator("#learn-image input[type=file]").set_input_files(str(photo))
    page.locator("#learn-image img").first.wait_for()
    page.get_by_role("button", name="Work it out").click()
    text = page.locator("#learn-conv-text")
    text.get_by_text("read by a hook").wait_for(timeout=120_000)
    found = re.search(r"= \*\*([-+]\d+\.\d+)\*\*\. The activation the forward produced \(read by a hook\): "
                      r"\*\*([-+]\d+\.\d+)\*\*", text.inner_text().replace("\n", " "))
    body = text.inner_text()
    value, actual = re.findall(r"([-+]\d+\.\d{4})", body.split("plus the bias")[1])[1:3]
    assert value == actual, body  # the worked-out value equals the activation, to the four decimals shown
    assert found is None or found.group(1) == found.group(2)
    text.scroll_into_view_if_needed()
    page.screenshot(path=shots / "learn-conv.png")
    page.locator("[data-testid='matplotlib'] img, .matplotlib img").first.wait_for()
    page.screenshot(path=shots / "learn-conv-full.png", full_page=True)


def test_learn_on_the_image_shows_the_block_and_the_softmax(page, shots):
    page.get_by_role("button", name="Learn on this image").click()
    # the default model (Explore's) opens on its first residual / Inception / dense block
    page.get_by_text(re.compile(r"is a (residual block|Inception module|dense (block|layer))")).first.wait_for(
        timeout=120_000)
    assert page.locator("#learn-block-maps img").count() >= 3
    page.locator("#learn-block-maps").scroll_into_view_if_needed()
    page.screenshot(path=shots / "learn-block.png")
    for shown, natural in _image_widths(page, "#learn-block-maps img"):  # each map tile as the projector shows it
        assert shown * TILE / natural >= 160, (shown, natural)
    page.get_by_text("4. First-layer filters and softmax").click()
    softmax = page.get_by_text(re.compile(r"sum of e\^z over all [\d,]+ classes"))
    softmax.wait_for(timeout=60_000)
    softmax.scroll_into_view_if_needed()
    page.screenshot(path=shots / "learn-softmax.png")
    page.locator("#learn-filters img").first.wait_for()
    for shown, natural in _image_widths(page, "#learn-filters img"):
        assert shown * TILE / natural >= 160, (shown, natural)


def _image_widths(page, selector: str) -> list[tuple[float, int]]:
    """(width on screen, width of the picture) of every loaded image the selector finds."""
    page.wait_for_function(f"[...document.querySelectorAll({selector!r})].every(i => i.complete && i.naturalWidth)")
    return [tuple(w) for w in page.eval_on_selector_all(
        selector, "imgs => imgs.map(i => [i.getBoundingClientRect().width, i.naturalWidth])")]
