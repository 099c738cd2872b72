"""Output pictures: content-named files written atomically."""
from pathlib import Path

import numpy as np

from cnndemo import outputs


def test_output_pictures_are_content_named_files(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    picture = np.zeros((4, 5, 3), np.uint8)
    first, again = outputs.image_file(picture), outputs.image_file(picture.copy())
    assert first == again and Path(first).parent == tmp_path  # same picture, same file: written once
    assert outputs.image_file(picture + 1) != first
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_other_files_keep_their_suffix(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    svg = outputs.bytes_file(b"<svg/>", ".svg")
    assert svg.endswith(".svg") and Path(svg).read_bytes() == b"<svg/>"


def test_a_download_keeps_a_readable_name(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    path = Path(outputs.named_file(b"png bytes", "adversarial-T-shirt/top-2of255.png"))
    assert path.parent == tmp_path and path.read_bytes() == b"png bytes"
    assert path.name.startswith("adversarial-T-shirt-top-2of255-") and path.suffix == ".png"
    assert outputs.named_file(b"other bytes", "adversarial-T-shirt/top-2of255.png") != str(path)
