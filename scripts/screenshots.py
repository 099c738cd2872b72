"""Screenshots of the tabs at projector size (1280 x 720), taken in headless Chromium against the running app.

python scripts/screenshots.py [--out docs/screens] [--chromium /usr/bin/chromium] [--train] [--only TAB]

explore.png: a photo uploaded and explained by the default model; explore-cifar.png: the same photo through a
CIFAR-10 model (what it knows, what it sees); trust.png (the whole Trust tab: side by side, ranked, sanity check);
compare.png (the crop and what each model sees); architecture.png; learn-block.png and learn-inception.png (a
residual block, an Inception module); insight-*.png (the What-it-learnt tab, one screen per view); with --train also
train.png (the class builder: three classes of photos, a run on frozen features and its mistakes view).
--only trust / train / insight / compare / learn: shoot that tab only.
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 720}  # a classroom projector
CIFAR_MODEL = "resnet18_cifar"


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_app():
    """Start the app in this process on a free port; returns the Blocks (close() it when done)."""
    import app

    demo = app.build_demo()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    return demo


def open_browser(playwright, chromium: str):
    """Headless Debian Chromium with the flags this sandbox needs (no background network)."""
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)


def photo_file() -> Path:
    """The cat example written as a JPEG file, to upload as a person would."""
    from cnndemo.examples import example_image

    path = Path(tempfile.mkdtemp()) / "chelsea.jpg"
    example_image("chelsea (cat)").save(path, quality=92)
    return path


def upload_and_explain(page, photo: Path) -> None:
    """Upload the photo into Explore's image input, press Explain and wait for the heatmap's caption."""
    page.locator("#explore-image input[type=file]").set_input_files(str(photo))
    page.locator("#explore-image img").first.wait_for()
    explain(page)


def explain(page) -> None:
    """Press Explain and wait until the caption of a new heatmap is there."""
    page.evaluate("() => { const c = document.querySelector('#heat-caption'); if (c) c.dataset.old = c.innerText; }")
    page.get_by_role("button", name="Explain").click()
    page.wait_for_function("() => { const c = document.querySelector('#heat-caption');"
                           " return c && c.innerText.trim().length > 10 && c.innerText !== c.dataset.old; }",
                           timeout=180_000)
    page.wait_for_function("() => !document.body.innerText.includes('processing |')", timeout=180_000)
    page.wait_for_timeout(800)  # the images arrive just after the caption


def pick_model(page, name: str) -> None:
    """Choose a model in Explore's picker by typing its name."""
    picker = page.locator("#explore-model input")
    picker.click()
    picker.fill(name)
    page.get_by_role("option").filter(has_text=name).first.click()
    page.wait_for_timeout(1500)  # the layer and class choices follow the model


def shrink(path: Path, limit: int = 300_000) -> None:
    """Store a screenshot with a 256-colour palette, dithered so heatmaps show no bands; a long page that would
    still be over limit bytes (noisy maps dither badly) is stored undithered instead."""
    from PIL import Image

    with Image.open(path) as img:
        rgb = img.convert("RGB")
    palette = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    if path.stat().st_size > limit:
        rgb.quantize(palette=palette, dither=Image.Dither.NONE).save(path, optimize=True)


PHOTO_CLASSES = {"cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}  # scikit-image sample photos (CC0)


def class_photos(per_class: int) -> dict[str, list[str]]:
    """Photo-like pictures per class (random crops, flips and colour jitter of one sample photo), as JPEG files."""
    from PIL import Image

    import numpy as np

    from bench.class_builder import photo_like

    folder, rng, files = Path(tempfile.mkdtemp()), np.random.default_rng(0), {}
    for label, name in PHOTO_CLASSES.items():
        files[label] = [str(folder / f"{label}-{i}.jpg") for i in range(per_class)]
        for path, array in zip(files[label], photo_like(name, per_class, rng)):
            Image.fromarray(array).save(path, quality=90)
    return files


def train(page) -> None:
    """The class builder: three classes of ten photos each, a run on frozen features, its mistakes view."""
    page.get_by_role("tab", name="Train").click()
    photos = class_photos(10)
    page.get_by_label("Class names").fill(", ".join(photos))
    page.get_by_role("button", name="Use these classes").click()
    page.locator("#class-status").get_by_text("Classes:").wait_for()
    for label, files in photos.items():
        page.locator("#class-builder").first.get_by_role("radio", name=label, exact=True).check()
        page.locator("#class-uploads input[type=file]").set_input_files(files)
        page.locator("#class-status").get_by_text(f"to {label}").wait_for(timeout=60_000)
    page.get_by_label("Name this run").fill("cat, coffee or rocket")
    page.locator("#train-classes").click()
    page.locator("#train-progress").get_by_text("Test accuracy").wait_for(timeout=300_000)
    page.locator("#mistakes-gallery img").first.wait_for(timeout=120_000)
    page.get_by_role("button", name="Built-in data sets and archives").click()  # folded: the shot shows the class set's run
    page.mouse.move(0, 0)
    page.wait_for_timeout(1500)  # let the last figures load


def trust(page, out: Path) -> None:
    """The Trust tab on Explore's photo: methods side by side, every quick method ranked, the sanity strip."""
    page.get_by_role("tab", name="Trust").click()
    page.get_by_role("button", name="Show side by side").click()
    page.locator("#trust-gallery img").first.wait_for(timeout=300_000)
    page.get_by_role("button", name="Score every method").click()
    page.wait_for_function("() => (document.querySelector('#trust-rank-note') || {}).innerText?.includes('scored')",
                           timeout=300_000)
    page.get_by_role("button", name="Randomise the layers, output first").click()
    page.locator("#trust-sanity img").first.wait_for(timeout=300_000)
    page.wait_for_function("() => !document.body.innerText.includes('processing |')", timeout=300_000)
    page.wait_for_timeout(1500)  # the pictures arrive just after the text
    page.mouse.move(0, 0)
    page.screenshot(path=out / "trust.png", full_page=True)


INSIGHT_MODEL = "resnet18_cifar"  # CIFAR-10's pictures are in the data folder: every view of the tab has data


def insight(page, out: Path) -> None:
    """The What-it-learnt tab on Explore's photo, one 1280 x 720 screen per view: insight-visualize.png (8 channels
    of a middle layer), insight-examples.png (a channel's favourite CIFAR-10 pictures beside its own picture),
    insight-space.png (the map and the neighbours), insight-fool.png (FGSM at 2/255)."""
    page.get_by_role("tab", name="What it learnt").click()
    pick_in(page, "#insight-model", INSIGHT_MODEL)
    page.locator("#insight-visualize").click()
    page.locator("#insight-viz-status").get_by_text("Done").wait_for(timeout=300_000)
    shoot_section(page, "#insight-viz-section", out / "insight-visualize.png")
    page.locator("#insight-find").click()
    page.locator("#insight-channel-picture img").first.wait_for(timeout=300_000)
    shoot_section(page, "#insight-examples-section", out / "insight-examples.png")
    page.locator("#insight-map").click()
    page.locator("#insight-map-caption").get_by_text("nearest neighbours").wait_for(timeout=600_000)
    shoot_section(page, "#insight-space-section", out / "insight-space.png")
    page.locator("#insight-fool").click()
    page.locator("#insight-fool-caption").get_by_text("fooled", exact=False).wait_for(timeout=300_000)
    shoot_section(page, "#insight-fool-section", out / "insight-fool.png")


def pick_in(page, picker: str, name: str) -> None:
    """Choose a model in a picker by typing its name."""
    box = page.locator(f"{picker} input")
    box.click()
    box.fill(name)
    page.get_by_role("option").filter(has_text=name).first.click()
    page.wait_for_timeout(1500)  # the choices that follow the model


def shoot_section(page, heading: str, path: Path) -> None:
    """One 1280 x 720 screen that starts at a view's heading, once every picture has arrived."""
    page.wait_for_function("() => !document.body.innerText.includes('processing |')", timeout=300_000)
    page.wait_for_timeout(1500)
    page.mouse.move(0, 0)
    page.evaluate(f"() => document.querySelector('{heading}').scrollIntoView({{block: 'start'}})")
    page.wait_for_timeout(500)
    page.screenshot(path=path)


def compare(page, out: Path) -> None:
    """compare.png: Explore's photo with the crop the 32x32 models get, each model's Grad-CAM and answer, and what
    each model sees (the whole tab, top to bottom)."""
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare").click()
    page.locator("#compare-seen img").first.wait_for(timeout=300_000)
    page.wait_for_function("() => !document.body.innerText.includes('processing |')", timeout=300_000)
    page.wait_for_timeout(1500)
    page.mouse.move(0, 0)  # no tile highlighted by the pointer
    page.screenshot(path=out / "compare.png", full_page=True)


LEARN_BLOCKS = {"learn-block.png": ("resnet18_cifar", "residual block"),
                "learn-inception.png": ("googlenet_cifar", "Inception module")}


def learn(page, out: Path) -> None:
    """learn-block.png (a ResNet residual block) and learn-inception.png (a GoogLeNet Inception module): the
    Learn tab's diagram with the block opened, its text and its branches' channel maps on Explore's photo."""
    page.get_by_role("tab", name="Learn", exact=True).click()
    for file, (model, kind) in LEARN_BLOCKS.items():
        pick_in(page, "#learn-model", model)  # Learn's own picker (it follows Explore's)
        page.get_by_role("button", name="Learn on this image").click()
        page.get_by_text(f"is a {kind}").first.wait_for(timeout=300_000)
        page.locator("#learn-block-maps img").first.wait_for(timeout=300_000)
        shoot_section(page, "#learn-diagram", out / file)


def shoot(page, out: Path, with_train: bool, only: str = "") -> None:
    """Every screenshot (or only one tab's), in one browser session."""
    upload_and_explain(page, photo_file())
    if only == "trust":
        return trust(page, out)
    if only in ("insight", "compare", "learn"):
        return {"insight": insight, "compare": compare, "learn": learn}[only](page, out)
    page.screenshot(path=out / "explore.png")
    trust(page, out)
    page.get_by_role("tab", name="Explore").click()
    pick_model(page, CIFAR_MODEL)
    explain(page)
    page.screenshot(path=out / "explore-cifar.png")
    compare(page, out)
    page.get_by_role("tab", name="Architecture").click()
    page.get_by_text("multiply-adds").first.wait_for(timeout=120_000)
    page.screenshot(path=out / "architecture.png")
    insight(page, out)
    learn(page, out)
    if with_train:
        shoot_train(page, out)


def shoot_train(page, out: Path) -> None:
    """train.png: the Train tab with a built class set and a finished run."""
    train(page)
    page.screenshot(path=out / "train.png", full_page=True)
    shrink(out / "train.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/screens")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--train", action="store_true", help="also build a class set, train, shoot the Train tab")
    parser.add_argument("--only", choices=["trust", "train", "insight", "compare", "learn"], default="", help="shoot only this tab")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo = launch_app()
    try:
        with sync_playwright() as p:
            page = open_browser(p, args.chromium).new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            page.goto(demo.local_url)
            shoot_train(page, out) if args.only == "train" else shoot(page, out, args.train, args.only)
    finally:
        demo.close()
    views = tuple(f"insight-{v}" for v in ("visualize", "examples", "space", "fool"))
    learnt = tuple(f.removesuffix(".png") for f in LEARN_BLOCKS)
    names = ("explore", "explore-cifar", "trust", "compare", "architecture", *views, *learnt)
    only = {"train": (), "trust": ("trust",), "insight": views, "compare": ("compare",), "learn": learnt}
    for name in only.get(args.only, names):
        shrink(out / f"{name}.png")
    print("\n".join(str(p) for p in sorted(out.glob("*.png"))))


if __name__ == "__main__":
    main()
