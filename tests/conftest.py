"""Shared fixtures: the Blocks app launched once on a free local port (gradio is imported only when asked for)."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo):
    """Start demo in this process on a free port with the app's own launch options."""
    import app

    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                **app.launch_options())
    return demo


@pytest.fixture(scope="session")
def served():
    """The app as users get it, shared by the app, security and browser tests."""
    pytest.importorskip("gradio")
    import app

    demo = launch(app.build_demo())
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="session")
def client(served):
    """A gradio_client Client of the shared app."""
    from gradio_client import Client

    return Client(served.local_url, verbose=False)


@pytest.fixture(scope="session")
def cat(tmp_path_factory):
    """The cat example photo, ready to upload."""
    pytest.importorskip("gradio")
    from gradio_client import handle_file

    from cnndemo.examples import example_files
    return handle_file(str(example_files(tmp_path_factory.mktemp("ex"))[0]))


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The offline MNIST beside the repository, or skip."""
    if not (SHARED_DATA / "MNIST").is_dir():
        pytest.skip(f"MNIST not found at {SHARED_DATA / 'MNIST'}")
    return SHARED_DATA


SHARED_MARKERS = {"cifar10": "cifar10-jpeg.tar.gz", "mnist": "MNIST"}  # what must be in ../shared/data for each


def shared_test_pictures(dataset: str, per_class: int) -> list:
    """(PIL picture, label) for the first per_class test pictures of each class in ../shared/data, or a skip."""
    from PIL import Image

    from cnndemo.data import DataSettings
    from cnndemo.data.builtin import load_dataset
    if not (SHARED_DATA / SHARED_MARKERS[dataset]).exists():
        pytest.skip(f"{dataset} not found in {SHARED_DATA}")
    test = load_dataset(dataset, str(SHARED_DATA), split="test",
                        settings=DataSettings(root=str(SHARED_DATA), test_limit_per_class=per_class))
    grey = test.images.shape[1] == 1
    return [(Image.fromarray(im[0].numpy() if grey else im.permute(1, 2, 0).numpy()), int(c))
            for im, c in zip(test.images, test.labels)]


@pytest.fixture(scope="session")
def trained():
    """trained(name) -> (model, info): a registry model with its shipped weights, a fresh copy on every call."""
    from cnndemo.zoo import Zoo

    zoo = Zoo()

    def load(name: str):
        model, info = zoo.load(name)
        assert zoo.state(name).trained, f"{name} has no trained weights here: {zoo.state(name).status}"
        return model, info
    return load
