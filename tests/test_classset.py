"""Class-builder sets: names checked, pictures in through the safe loader, refusals with a sentence, the split."""
from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo.data import ClassSet, ClassSetLimits
from cnndemo.errors import BadInputError


def photo(seed: int, size: tuple[int, int] = (40, 30)) -> np.ndarray:
    """A distinct little RGB picture."""
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(photo(seed)).save(buf, "PNG")
    return buf.getvalue()


def bomb_png(side: int = 20_000) -> bytes:
    """A small PNG file whose header claims side x side pixels (400 megapixels): a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    rows = zlib.compress(b"\x00" * (side + 1) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize("names,match", [
    (["cats"], "at least 2 classes"), ([], "at least 2 classes"), (["cat", "Cat "], "both called"),
    (["cat", " "], "empty"), ([f"c{i}" for i in range(11)], "at most 10"), (["cat", "d" * 41], "too long")])
def test_bad_class_names_are_refused_with_a_sentence(names, match):
    with pytest.raises(BadInputError, match=match):
        ClassSet(names)


def test_pictures_come_from_paths_bytes_arrays_and_images(tmp_path):
    path = tmp_path / "snap.png"
    path.write_bytes(png(1))
    cs = ClassSet(["cat", "dog"])
    result = cs.add("cat", [str(path), png(2), photo(3), Image.fromarray(photo(4)).convert("L"), io.BytesIO(png(5))])
    assert result.added == 5 and result.refused == ()
    data = cs.data()
    assert tuple(data.images.shape) == (5, 3, 160, 160) and data.images.dtype == torch.uint8
    assert cs.counts() == {"cat": 5, "dog": 0} and data.labels.tolist() == [0] * 5


def test_every_picture_goes_through_the_safe_loader(monkeypatch):
    import cnndemo.images as images
    calls = []
    real = images.open_image
    monkeypatch.setattr(images, "open_image", lambda src: calls.append(1) or real(src))
    ClassSet(["a", "b"]).add("a", [photo(1), png(2), photo(3)])
    assert len(calls) == 3


def test_a_hostile_picture_is_refused_and_the_rest_kept():
    cs = ClassSet(["cat", "dog"])
    truncated = png(7)[:60]
    result = cs.add("dog", [photo(1), b"<svg onload=alert(1)>", bomb_png(), truncated, photo(2)])
    assert result.added == 2 and cs.counts()["dog"] == 2
    assert len(result.refused) == 3
    assert "picture 2 was not added" in result.refused[0] and "SVG" in result.refused[0]
    assert "too large" in result.refused[1]
    assert "damaged" in result.refused[2] or "cannot be read" in result.refused[2]


def test_the_same_picture_twice_is_refused():
    cs = ClassSet(["cat", "dog"])
    cs.add("cat", [photo(1)])
    result = cs.add("dog", [photo(1), photo(2)])
    assert result.added == 1 and "already in class 'cat'" in result.refused[0]


def test_too_many_pictures_are_refused_and_the_first_kept():
    cs = ClassSet(["cat", "dog"], ClassSetLimits(max_per_class=3, max_total=5))
    full_class = cs.add("cat", [photo(i) for i in range(5)])
    assert full_class.added == 3 and all("class 'cat' is full (3 pictures)" in r for r in full_class.refused)
    full_set = cs.add("dog", [photo(i) for i in range(10, 14)])
    assert full_set.added == 2 and "the set is full (5 pictures in all)" in full_set.refused[0]
    assert len(cs) == 5


def test_remove_takes_out_that_picture():
    cs = ClassSet(["cat", "dog"])
    cs.add("cat", [photo(1), photo(2), photo(3)])
    keep = [cs.pictures("cat")[i].digest for i in (0, 2)]
    cs.remove("cat", 1)
    assert [p.digest for p in cs.pictures("cat")] == keep
    with pytest.raises(BadInputError, match="no picture number 5"):
        cs.remove("cat", 4)
    with pytest.raises(BadInputError, match="no class 'cow'"):
        cs.add("cow", [photo(9)])


def test_an_empty_class_or_a_set_too_small_to_split_says_so():
    cs = ClassSet(["cat", "dog"])
    cs.add("cat", [photo(1), photo(2)])
    with pytest.raises(BadInputError, match="class 'dog' has no pictures yet"):
        cs.splits()
    cs.add("dog", [photo(3)])
    with pytest.raises(BadInputError, match="only 1 picture, too few to split"):
        cs.splits()


def test_the_held_out_split_is_stratified_disjoint_and_has_one_per_class_at_least():
    cs = ClassSet(["a", "b", "c"])
    for k, n in enumerate((10, 2, 5)):
        cs.add("abc"[k], [photo(100 * k + i) for i in range(n)])
    s = cs.splits(seed=3)
    assert torch.bincount(s.test.labels).tolist() == [2, 1, 1]
    assert torch.bincount(s.train.labels).tolist() == [8, 1, 4]
    seen = {im.numpy().tobytes() for im in s.train.images}
    assert not any(im.numpy().tobytes() in seen for im in s.test.images)
    assert s.classes == ("a", "b", "c") and torch.equal(cs.splits(seed=3).test.images, s.test.images)


def test_renaming_classes_keeps_the_pictures_of_the_names_that_stay():
    cs = ClassSet(["cat", "dog"])
    cs.add("cat", [photo(1), photo(2)])
    cs.add("dog", [photo(3)])
    renamed = cs.with_classes(["cat", "bird", "fish"])
    assert renamed.counts() == {"cat": 2, "bird": 0, "fish": 0}
    assert cs.counts() == {"cat": 2, "dog": 1}  # the old set is unchanged
