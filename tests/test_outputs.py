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


def _aged(path: str, seconds_ago: float) -> None:
    import os
    import time
    os.utime(path, (time.time() - seconds_ago,) * 2)


def test_old_files_go_then_the_oldest_until_the_folder_fits(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    files = [outputs.bytes_file(bytes([i]) * 1000, ".bin") for i in range(5)]
    for age, f in zip((7200, 50, 40, 30, 20), files):  # the first is past the age bound
        _aged(f, age)
    (tmp_path / ".half-written.png.1234").write_bytes(b"x" * 5000)  # never taken from under its writer
    left = outputs.prune_outputs(max_age_s=3600, max_bytes=2500)
    assert left == 2000 and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [Path(files[3]).name, Path(files[4]).name, ".half-written.png.1234"])


def test_a_file_handed_out_again_is_the_newest_and_stays(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    first = outputs.bytes_file(b"a" * 1000, ".bin")
    second = outputs.bytes_file(b"b" * 1000, ".bin")
    _aged(first, 100)
    _aged(second, 50)
    assert outputs.bytes_file(b"a" * 1000, ".bin") == first  # the same content again: touched, not rewritten
    outputs.prune_outputs(max_age_s=3600, max_bytes=1500)
    assert Path(first).exists() and not Path(second).exists()


def test_the_folder_is_pruned_as_files_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    monkeypatch.setattr(outputs, "PRUNE_EVERY", 4)
    monkeypatch.setattr(outputs, "MAX_BYTES", 3000)
    for i in range(40):
        outputs.bytes_file(bytes([i]) * 1000, ".bin")
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 3000 + 4 * 1000  # at most PRUNE_EVERY over


def test_the_bounds_come_from_the_serving_limits(monkeypatch):
    from cnndemo.serving import ServingLimits
    monkeypatch.setattr(outputs, "MAX_AGE_S", outputs.MAX_AGE_S)
    monkeypatch.setattr(outputs, "MAX_BYTES", outputs.MAX_BYTES)
    monkeypatch.setenv("CNNDEMO_OUTPUTS_MAX_MB", "5")
    limits = ServingLimits.from_env()
    outputs.set_bounds(limits.outputs_max_age_s, limits.outputs_max_mb)
    assert (outputs.MAX_AGE_S, outputs.MAX_BYTES) == (3600.0, 5 * 1024 * 1024)


def test_a_download_keeps_a_readable_name(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "OUTPUTS", tmp_path)
    path = Path(outputs.named_file(b"png bytes", "adversarial-T-shirt/top-2of255.png"))
    assert path.parent == tmp_path and path.read_bytes() == b"png bytes"
    assert path.name.startswith("adversarial-T-shirt-top-2of255-") and path.suffix == ".png"
    assert outputs.named_file(b"other bytes", "adversarial-T-shirt/top-2of255.png") != str(path)
