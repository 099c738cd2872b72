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
