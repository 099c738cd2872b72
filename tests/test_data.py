"""Data: data root resolution, tensor data sets, batched augmentation, the archive cache, built-in sets."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnndemo.data.builtin as builtin
from cnndemo.data import (BatchSpec, Batches, DataSettings, DataUnavailableError, TensorData, data_root,
                          load_archive_splits, load_dataset, per_class_subset, random_crop_flip, split_holdout,
                          to_input)
from cnndemo.errors import BadInputError

from conftest import DATA_ROOT as SHARED
from conftest import needs_data

needs_mnist = needs_data("mnist")


def toy(n_per_class: int = 5, classes: int = 3, c: int = 3, size: int = 6) -> TensorData:
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    images = torch.randint(0, 256, (len(labels), c, size, size), dtype=torch.uint8)
    return TensorData(images, labels, tuple(f"c{i}" for i in range(classes)), "toy")


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNDEMO_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("CNNDEMO_DATA")
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    expected = beside if beside.is_dir() else Path.home() / ".cache" / "cnndemo" / "data"
    assert data_root() == expected


def test_tensor_data_checks_shapes():
    with pytest.raises(ValueError):
        TensorData(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64), ("a", "b"))
    with pytest.raises(ValueError):
        TensorData(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), ("a", "b"))


def test_per_class_subset_keeps_first_n_of_each_class():
    data = toy(5)
    sub = per_class_subset(data, 2)
    assert sub.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(sub.images[2], data.images[5])


def test_split_holdout_is_stratified_and_disjoint():
    data = toy(10)
    train, test = split_holdout(data, 0.2, seed=1)
    assert torch.bincount(test.labels).tolist() == [2, 2, 2]
    assert len(train) + len(test) == len(data)
    flat = lambda d: {tuple(x.flatten().tolist()) for x in d.images}  # noqa: E731
    assert not flat(train) & flat(test)


def test_random_crop_flip_shifts_and_mirrors():
    x = torch.arange(1, 17, dtype=torch.uint8).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    out = random_crop_flip(x, pad=1, flip=False, g=g)
    assert out.shape == x.shape
    # every crop is a window of the zero-padded image, and at least one differs from the original
    padded = torch.nn.functional.pad(x[0], (1, 1, 1, 1))
    windows = {tuple(padded[:, i:i + 4, j:j + 4].flatten().tolist()) for i in range(3) for j in range(3)}
    assert all(tuple(o.flatten().tolist()) in windows for o in out)
    assert any(not torch.equal(o, x[0]) for o in out)
    flipped = random_crop_flip(x, pad=0, flip=True, g=g)
    assert all(torch.equal(f, x[0]) or torch.equal(f, x[0].flip(2)) for f in flipped)
    assert any(torch.equal(f, x[0].flip(2)) for f in flipped)


def test_to_input_normalises_resizes_and_adapts_channels():
    x = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    out = to_input(x, BatchSpec((3, 8, 8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    assert out.shape == (2, 3, 8, 8)
    assert torch.allclose(out, torch.full_like(out, 2.0), atol=1e-4)


def test_batches_visit_every_index_once_per_epoch():
    data = toy(7)
    batches = Batches(data, BatchSpec((3, 6, 6), (0.5,) * 3, (0.5,) * 3, crop_pad=2, flip=True), 4, train=True)
    seen = torch.cat([idx for _, _, idx in batches])
    assert sorted(seen.tolist()) == list(range(len(data)))
    assert len(batches) == 6
    for x, y, idx in batches:
        assert x.dtype == torch.float32 and torch.equal(y, data.labels[idx])


def test_batches_shard_across_ranks():
    data = toy(4)
    shards = [torch.cat([i for _, _, i in Batches(data, BatchSpec((3, 6, 6), (0,) * 3, (1,) * 3), 5, train=True,
                                                  seed=3, rank=r, world=2)]) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6
    assert not set(shards[0].tolist()) & set(shards[1].tolist())


def test_archive_is_decoded_once_then_cached(tmp_path, monkeypatch):
    from test_archive import GOOD, make_zip
    path = make_zip(tmp_path / "pets.zip", {**GOOD, **{f"cat/x{i}.jpg": v for i, v in enumerate(GOOD.values())}})
    settings = DataSettings(cache_dir=str(tmp_path / "cache"), holdout=0.25)
    first = load_archive_splits(path, settings)
    assert len(first.train) + len(first.test) == 12 and len(first.test) >= 2
    monkeypatch.setattr(builtin, "load_image_folder_archive", lambda *a, **k: pytest.fail("decoded again"))
    second = load_archive_splits(path, settings)
    assert torch.equal(first.train.images, second.train.images) and second.classes == first.classes
    assert all(p.suffix == ".safetensors" for p in (tmp_path / "cache").iterdir())


def test_unknown_dataset_and_split():
    with pytest.raises(BadInputError, match="unknown data set"):
        load_dataset("imagenet22k")
    with pytest.raises(BadInputError, match="split"):
        load_dataset("mnist", split="val")


def test_missing_dataset_without_download_says_where(tmp_path):
    with pytest.raises(DataUnavailableError, match="--data-root"):
        load_dataset("fashion_mnist", root=tmp_path, settings=DataSettings(download=False))


def test_failed_download_gives_a_clear_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(self):
        raise OSError("Name or service not known")
    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DataUnavailableError, match="download failed"):
        load_dataset("mnist", root=tmp_path)


@needs_mnist
def test_mnist_from_shared_data_is_uint8_nchw():
    test = load_dataset("mnist", root=SHARED, split="test", settings=DataSettings(test_limit_per_class=3))
    assert test.images.dtype == torch.uint8 and tuple(test.images.shape) == (30, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [3] * 10
    assert test.images.float().mean() > 10  # real digits, not zeros


@pytest.mark.slow
@needs_data("cifar10")
def test_cifar10_comes_from_the_jpeg_archive(tmp_path):
    settings = DataSettings(root=str(SHARED), cache_dir=str(tmp_path), limit_per_class=2, test_limit_per_class=1)
    train = load_dataset("cifar10", split="train", settings=settings)
    assert tuple(train.images.shape) == (20, 3, 32, 32) and train.classes[0] == "airplane"
    assert train.name == "cifar10"


def _idx_gz(folder: Path, name: str, array: "np.ndarray") -> tuple[str, str]:
    """An MNIST idx file (big-endian header, then uint8 data), gzipped as the mirrors serve it: (file name, md5)."""
    import gzip
    import hashlib

    magic = 0x800 + array.ndim  # 0x801 labels, 0x803 images
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = gzip.compress(header + array.astype("uint8").tobytes())
    (folder / f"{name}.gz").write_bytes(data)
    return f"{name}.gz", hashlib.md5(data).hexdigest()


@pytest.fixture
def mnist_mirror(tmp_path, monkeypatch):
    """A mirror on this machine (127.0.0.1) serving a tiny MNIST the test made; torchvision is pointed at it."""
    import functools
    import http.server
    import threading

    import numpy as np
    import torchvision.datasets as tvd

    served = tmp_path / "mirror"
    served.mkdir()
    rng = np.random.default_rng(0)
    images = {s: rng.integers(0, 256, (n, 28, 28)) for s, n in (("train", 20), ("t10k", 10))}
    labels = {s: np.arange(len(images[s])) % 10 for s in images}
    resources = [_idx_gz(served, f"{s}-{kind}", a) for s in ("train", "t10k")
                 for kind, a in (("images-idx3-ubyte", images[s]), ("labels-idx1-ubyte", labels[s]))]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(tvd.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    yield images["t10k"], labels["t10k"]
    server.shutdown()
    server.server_close()


def test_the_download_code_fetches_a_missing_data_set(tmp_path, mnist_mirror):
    """The real download path (cnndemo -> torchvision -> HTTP), fed by files this test serves on 127.0.0.1."""
    images, labels = mnist_mirror
    root = tmp_path / "data"
    test = load_dataset("mnist", root=root, split="test")
    assert torch.equal(test.images[:, 0], torch.as_tensor(images, dtype=torch.uint8))
    assert test.labels.tolist() == labels.tolist()
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir() if not p.name.endswith(".gz")) == [
        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]


def test_is_local_says_which_built_in_sets_need_no_download(tmp_path):
    assert builtin.is_local("shapes", tmp_path) and not builtin.is_local("mnist", tmp_path)
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    assert not builtin.is_local("mnist", tmp_path)  # an empty folder is not the data set
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").write_bytes(b"")
    assert builtin.is_local("mnist", tmp_path) and not builtin.is_local("cifar10", tmp_path)
    (tmp_path / builtin.CIFAR_ARCHIVE).write_bytes(b"")
    assert builtin.is_local("cifar10", tmp_path) and not builtin.is_local("imagenet", tmp_path)
