"""Screenshots of every tab, taken in headless Chromium against the running app (for the README).

python scripts/screenshots.py [--out docs/screens] [--chromium /usr/bin/chromium]
"""
from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


def explore(page, url: str) -> None:
    """Open the app, pick the cat example, explain it, wait for the Grad-CAM."""
    page.goto(url)
    page.get_by_role("tab", name="Explore").click()
    page.locator(".gallery-item, button.gallery-item, [data-testid='dataset'] button").first.click()
    # the example reaches the image input asynchronously; explaining before it lands would find no image
    page.wait_for_function("() => [...document.querySelectorAll('img')]"
                           ".filter(i => i.src.includes('chelsea')).length >= 2")
    page.get_by_role("button", name="Explain").click()
    page.get_by_text("Grad-CAM for").wait_for(timeout=120_000)


def train(page) -> None:
    """A short LeNet-5 run on MNIST: curves, then the confusion matrix and the misclassified digits."""
    page.get_by_role("tab", name="Train").click()
    page.locator("input[type=number][aria-label*='Epochs']").fill("3")
    page.locator("input[type=number][aria-label*='Epochs']").press("Enter")
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Best test accuracy").wait_for(timeout=300_000)
    page.wait_for_timeout(1000)  # let the last figures load
    missing = [name for name, sel in (("confusion matrix", "[data-testid='matplotlib'] img, .matplotlib img"),
                                      ("misclassified images", ".grid-wrap img, [data-testid='gallery'] img"))
               if page.locator(sel).count() == 0]
    if missing:
        print(f"warning: the Train screenshot has no {' and no '.join(missing)} (the trainer's epoch message "
              "lacks confusion_matrix / misclassified)", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/screens")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo = launch_app()
    try:
        with sync_playwright() as p:
            page = open_browser(p, args.chromium).new_page(viewport={"width": 1280, "height": 1500})
            explore(page, demo.local_url)
            page.screenshot(path=out / "explore.png", full_page=True)
            page.get_by_role("tab", name="Compare").click()
            page.get_by_role("button", name="Compare").click()
            page.locator(".caption-label, figcaption").first.wait_for(timeout=180_000)
            page.screenshot(path=out / "compare.png", full_page=True)
            page.get_by_role("tab", name="Architecture").click()
            page.get_by_role("button", name="Show layers").click()
            page.get_by_text("parameters**", exact=False).or_(page.get_by_text("multiply-adds")).first.wait_for()
            page.screenshot(path=out / "architecture.png", full_page=True)
            train(page)
            page.screenshot(path=out / "train.png", full_page=True)
    finally:
        demo.close()
    print("\n".join(str(p) for p in sorted(out.glob("*.png"))))


if __name__ == "__main__":
    main()
