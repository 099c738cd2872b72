"""Archive intake: good image-folder archives load; hostile or useless ones are refused and write nothing."""
from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnndemo.data import ArchiveLimits, load_image_folder_archive
from cnndemo.errors import BadInputError


def jpeg(color: int = 128, size: tuple[int, int] = (8, 8), mode: str = "RGB") -> bytes:
    """A tiny real JPEG."""
    rng = np.random.default_rng(color)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(buf, "JPEG")
    return buf.getvalue()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tgz(path: Path, members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return path


def snapshot(folder: Path) -> set[str]:
    """Every path under folder, to prove intake wrote nothing anywhere."""
    return {str(p) for p in folder.rglob("*")}


@pytest.fixture
def sandbox(tmp_path):
    """tmp_path/work holds the archive; afterwards nothing new may exist under tmp_path beyond the archive."""
    work = tmp_path / "work"
    work.mkdir()
    yield work
    names = {Path(p).name for p in snapshot(tmp_path)}
    assert "evil.jpg" not in names and "evil" not in names


GOOD = {f"{c}/{i}.jpg": jpeg(10 * k + i) for k, c in enumerate(["cat", "dog"]) for i in range(3)}


@pytest.mark.parametrize("maker", [make_zip, make_tgz])
def test_good_archive_loads_as_tensors(sandbox, maker):
    data = load_image_folder_archive(maker(sandbox / ("a.zip" if maker is make_zip else "a.tar.gz"), GOOD))
    assert data.classes == ("cat", "dog")
    assert tuple(data.train.images.shape) == (6, 3, 8, 8)
    assert data.train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.test is None


def test_train_test_split_and_wrapper_folder(sandbox):
    members = {f"mydata/{s}/{c}/{i}.jpg": jpeg(i) for s in ("train", "test") for c in ("a", "b") for i in range(2)}
    members["mydata/README.txt"] = b"ignored"
    data = load_image_folder_archive(make_zip(sandbox / "s.zip", members))
    assert len(data.train) == 4 and len(data.test) == 4
    assert data.test.classes == ("a", "b")


def test_mixed_sizes_and_modes_are_resized_to_one_tensor(sandbox):
    members = {"a/1.jpg": jpeg(1, (20, 10)), "a/2.jpg": jpeg(2, (7, 9), "L"), "b/1.png": jpeg(3, (16, 16))}
    data = load_image_folder_archive(make_zip(sandbox / "m.zip", members), ArchiveLimits(image_size=12))
    assert tuple(data.train.images.shape) == (3, 3, 12, 12)


def test_limit_per_class_takes_first_names(sandbox):
    data = load_image_folder_archive(make_tgz(sandbox / "l.tar.gz", GOOD), limit_per_class=2)
    assert data.train.labels.tolist() == [0, 0, 1, 1]


def refused(path: Path, match: str, limits: ArchiveLimits = ArchiveLimits()) -> None:
    with pytest.raises(BadInputError, match=match):
        load_image_folder_archive(path, limits)


@pytest.mark.parametrize("maker", [make_zip, make_tgz])
def test_zip_slip_is_refused(sandbox, maker):
    refused(maker(sandbox / "x.arc", {**GOOD, "../evil.jpg": jpeg()}), "leaves its folder")


@pytest.mark.parametrize("maker", [make_zip, make_tgz])
def test_absolute_path_is_refused(sandbox, maker):
    refused(maker(sandbox / "x.arc", {**GOOD, str(sandbox.parent / "evil.jpg"): jpeg()}), "absolute path")


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_links_and_devices_in_tar_are_refused(sandbox, kind):
    link = tarfile.TarInfo("cat/evil.jpg")
    link.type, link.linkname = kind, "/etc/passwd"
    refused(make_tgz(sandbox / "x.tar.gz", GOOD, [link]), "link or special file")


def test_symlink_in_zip_is_refused(sandbox):
    path = make_zip(sandbox / "x.zip", GOOD)
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("cat/evil.jpg")
        info.external_attr = (0o120777 << 16)  # S_IFLNK
        zf.writestr(info, "/etc/passwd")
    refused(path, "link or special file")


@pytest.mark.parametrize("maker", [make_zip, make_tgz])
def test_bomb_by_ratio_is_refused(sandbox, maker):
    refused(maker(sandbox / "b.arc", {**GOOD, "cat/big.jpg": bytes(8 * 2**20)}), "suspiciously well")


def test_entry_too_large_is_refused(sandbox):
    refused(make_zip(sandbox / "b.zip", {**GOOD, "cat/big.jpg": os.urandom(2000)}), "larger than",
            ArchiveLimits(max_entry_bytes=1000))


@pytest.mark.parametrize("maker", [make_zip, make_tgz])
def test_too_many_entries_is_refused(sandbox, maker):
    members = {f"c{i % 2}/{i}.jpg": jpeg(i) for i in range(30)}
    refused(maker(sandbox / "n.arc", members), "more than 10 entries", ArchiveLimits(max_entries=10))


def test_total_size_limit(sandbox):
    members = {f"c{i % 2}/{i}.jpg": os.urandom(5000) for i in range(10)}
    refused(make_zip(sandbox / "t.zip", members), "unpacks to more than", ArchiveLimits(max_total_bytes=20_000))


def test_text_file_is_not_an_archive(sandbox):
    path = sandbox / "notes.zip"
    path.write_text("just some text, not an archive\n" * 40)
    refused(path, "not an archive")


def test_one_class_only_is_refused(sandbox):
    refused(make_zip(sandbox / "o.zip", {"cat/1.jpg": jpeg(), "cat/2.jpg": jpeg(2)}), "only one class")


@pytest.mark.parametrize("maker", [make_zip, make_tgz])
def test_empty_archive_has_no_images(sandbox, maker):
    refused(maker(sandbox / "e.arc", {"readme.txt": b"hello"}), "no images")


def test_images_outside_class_folders_are_refused(sandbox):
    refused(make_zip(sandbox / "f.zip", {"1.jpg": jpeg(), "2.jpg": jpeg(2)}), "class folders")


def test_broken_image_is_refused_with_its_class(sandbox):
    refused(make_zip(sandbox / "c.zip", {**GOOD, "dog/bad.jpg": b"\xff\xd8 not really a jpeg"}), "class 'dog'")


def test_truncated_gzip_is_refused(sandbox):
    path = make_tgz(sandbox / "t.tar.gz", GOOD)
    path.write_bytes(path.read_bytes()[:200])
    refused(path, "could not be read|no images")
