"""The What-it-learnt tab in a real headless Chromium at 1280 x 720: channels visualised (the pictures stream in,
then their numbers), and Explore's photo fooled, every picture large enough to point at. Screenshots go to
$CNNDEMO_ARTIFACTS."""
from __future__ import annotations

import pytest

from cnndemo.insight.display import TILE

pytestmark = pytest.mark.slow
MODEL = "resnet18_cifar"  # trained, and quick at 32 x 32 pixels


@pytest.fixture(scope="module")
def tab(page, tmp_path_factory):
    """Explore's image set to the cat photo, then the tab open on MODEL."""
    from cnndemo.examples import example_image

    photo = tmp_path_factory.mktemp("insight") / "cat.jpg"
    example_image("chelsea (cat)").save(photo, quality=92)
    page.locator("#explore-image input[type=file]").set_input_files(str(photo))
    page.locator("#explore-image img").first.wait_for()
    page.get_by_role("tab", name="What it learnt").click()
    picker = page.locator("#insight-model input")
    picker.click()
    picker.fill(MODEL)
    page.get_by_role("option").filter(has_text=MODEL).first.click()
    page.locator("#insight-layer input").wait_for()
    page.wait_for_function("() => document.querySelector('#insight-layer input').value.startsWith('layer3')",
                           timeout=60_000)
    return page


def shown_sizes(page, selector: str) -> list[float]:
    """The smaller side, in screen pixels, of every picture under selector."""
    boxes = [img.bounding_box() for img in page.locator(f"{selector} img").all()]
    return [min(b["width"], b["height"]) for b in boxes if b]


def test_channels_stream_in_then_get_their_numbers(tab, artifacts):
    tab.locator("#insight-channels textarea, #insight-channels input").first.fill("0-3")
    steps = tab.locator("#insight-steps input[type=number]")
    steps.fill("64")
    steps.press("Enter")
    tab.locator("#insight-visualize").click()
    status = tab.locator("#insight-viz-status")
    status.get_by_text("Step").wait_for(timeout=120_000)  # a picture as it forms
    status.get_by_text("Done: 4 pictures.").wait_for(timeout=300_000)
    assert "respond most to their own picture" in tab.locator("#insight-viz-caption").inner_text()
    tab.locator("#insight-gallery").scroll_into_view_if_needed()
    sizes = shown_sizes(tab, "#insight-gallery")
    assert len(sizes) == 4 and min(sizes) >= TILE
    captions = tab.locator("#insight-gallery").inner_text()
    assert all(f"channel {c}:" in captions for c in range(4))
    tab.screenshot(path=artifacts / "insight-visualize.png")


def test_the_photo_is_fooled_and_offered_as_a_png(tab, artifacts):
    tab.locator("#insight-fool").click()
    caption = tab.locator("#insight-fool-caption")
    caption.get_by_text("epsilon = 2/255").wait_for(timeout=300_000)
    assert "ooled" in caption.inner_text() and "amplified" in caption.inner_text()
    tab.locator("#insight-cam-after img").first.wait_for(timeout=60_000)
    tab.locator("#insight-adversarial").scroll_into_view_if_needed()
    for view in ("#insight-original", "#insight-perturbation", "#insight-adversarial", "#insight-cam-before",
                 "#insight-cam-after"):
        assert min(shown_sizes(tab, view)) >= TILE, view
    assert "adversarial-" in tab.locator("#insight-download").inner_text()
    tab.screenshot(path=artifacts / "insight-fool.png")
