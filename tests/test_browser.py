"""End to end in a real headless Chromium at projector size (1280 x 720): Explore (an uploaded photo, then an
example: predictions, layer switch, Grad-CAM, all of image, predictions and heatmap on the first screen) and Train
(a one-epoch run whose curves update, then a second run cancelled). Screenshots go to $CNNDEMO_ARTIFACTS."""
from __future__ import annotations

import re

import pytest

from conftest import VIEWPORT, explain, top_label

pytestmark = pytest.mark.slow
CAT = re.compile(r"cat|tabby|tiger|egyptian|persian|siamese|lynx", re.I)


def _number(page, label: str):
    """The number box of a Slider or Number component, by its label."""
    return page.locator(f"input[type=number][aria-label*='{label}'], "
                        f"label:has-text('{label}') input[type=number]").first


def test_an_uploaded_photo_is_labelled_and_fits_a_projector(page, artifacts, tmp_path):
    from cnndemo.examples import example_image
    photo = tmp_path / "my-cat.jpg"
    example_image("chelsea (cat)").save(photo, quality=90)
    page.get_by_role("tab", name="Explore").click()
    page.locator("#explore-image input[type=file]").set_input_files(str(photo))
    page.locator("#explore-image img").first.wait_for()
    explain(page)
    page.locator("#heatmap img").first.wait_for()
    top = top_label(page)
    assert CAT.search(top), top
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=artifacts / "explore-upload.png")
    for part in ("#explore-image", "#predictions", "#heatmap"):
        box = page.locator(part).bounding_box()
        assert box and box["y"] >= 0 and box["x"] >= 0, (part, box)
        assert box["y"] + box["height"] <= VIEWPORT["height"] and box["x"] + box["width"] <= VIEWPORT["width"], \
            (part, box)


def test_explore_example_predictions_layer_and_gradcam(page, artifacts):
    page.get_by_role("tab", name="Explore").click()
    page.locator(".gallery-item, button.gallery-item, [data-testid='dataset'] button").first.click()
    # the example reaches the image input asynchronously; explaining before it lands would find no image
    page.wait_for_function("() => [...document.querySelectorAll('img')]"
                           ".filter(i => i.src.includes('chelsea')).length >= 2")
    explain(page)
    top = top_label(page)
    assert CAT.search(top), top
    page.screenshot(path=artifacts / "explore.png", full_page=True)

    dropdown = page.get_by_label("Feature-map layer")
    current = dropdown.input_value()
    dropdown.click()
    names = [t.strip().splitlines()[-1].strip() for t in page.get_by_role("option").all_inner_texts() if t.strip()]
    choice = next(n for n in names if n != current)  # the selected option carries a check mark line first
    page.get_by_role("option").filter(has_text=re.compile(rf"^\W*{re.escape(choice)}$")).first.click()
    layer = choice.rpartition(" — ")[2]  # a label reads 'Stage 1 of 5 (112x112, early) · convolution 1 — _conv_stem'
    page.locator("p", has_text=f"{layer} output shape").first.wait_for(timeout=60_000)  # new layer's maps
    page.screenshot(path=artifacts / "explore-layer.png", full_page=True)


def test_compare_shows_explores_image_and_its_whole_gallery(page, artifacts):
    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-image img").first.wait_for()  # Explore's image, shown here
    page.get_by_role("button", name="Compare").click()
    page.locator("#compare-gallery img").first.wait_for(timeout=300_000)
    page.wait_for_function("() => !/\\d\\.\\ds/.test(document.querySelector('#compare-gallery').innerText)",
                           timeout=300_000)
    page.screenshot(path=artifacts / "compare.png", full_page=True)
    cut = page.evaluate("() => { const g = document.querySelector('#compare-gallery .grid-wrap');"
                        " return g.scrollHeight - g.clientHeight; }")
    assert cut <= 1, f"the gallery hides {cut} px behind a scroll bar"


def test_train_one_epoch_then_cancel_a_second_run(page, artifacts, mnist_root):
    page.get_by_role("tab", name="Train").click()
    _number(page, "Training images per class").fill("20")
    page.locator("#train-epochs input[type=number]").fill("1")
    page.locator("#train-epochs input[type=number]").press("Enter")
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Test accuracy").wait_for(timeout=180_000)
    assert page.locator("[data-testid='matplotlib'] img, .matplotlib img").count() >= 2  # curves + confusion
    page.screenshot(path=artifacts / "train.png", full_page=True)

    _number(page, "Training images per class").fill("500")
    page.locator("#train-epochs input[type=number]").fill("30")
    page.locator("#train-epochs input[type=number]").press("Enter")
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"step \d+/\d+")).first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("cancelled", exact=False).first.wait_for(timeout=120_000)
    page.screenshot(path=artifacts / "train-cancelled.png", full_page=True)
