"""The network guard of tests/conftest.py: no test reaches past this machine, and one that tries fails."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import conftest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def blocked():
    """What the guard recorded during the test; cleared so that this test itself passes."""
    yield conftest.BLOCKED
    conftest.BLOCKED.clear()


def test_a_connection_past_this_machine_is_refused_and_recorded(blocked):
    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="never open a network connection"):
        s.connect(("192.0.2.1", 80))  # TEST-NET-1: would never answer anyway
    with pytest.raises(OSError):
        urllib.request.urlopen("http://example.com/", timeout=1)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("pypi.org", 443)
    assert len(blocked) == 3 and "192.0.2.1" in blocked[0] and "example.com" in blocked[1]


def test_loopback_and_unix_sockets_pass(tmp_path, blocked):
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET, "localhost")):
        with socket.socket(family) as server, socket.socket(family) as client:
            server.bind((host, 0))
            server.listen()
            client.connect((host, server.getsockname()[1]))
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(str(tmp_path / "s"))
        server.listen()
        client.connect(str(tmp_path / "s"))
    assert not blocked


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                            ("::ffff:127.0.0.1", True), ("localhost", True), ("10.0.0.1", False),
                                            ("8.8.8.8", False), ("example.com", False), ("::ffff:8.8.8.8", False)])
def test_is_loopback(host, loopback):
    assert conftest.is_loopback(host) is loopback


CAUGHT_IN_A_THREAD = '''
import socket, threading
def test_reaches_out():
    def call():
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=1)
        except OSError:
            pass  # code that swallows network errors must not hide the attempt
    t = threading.Thread(target=call); t.start(); t.join()
'''


@pytest.mark.slow
def test_an_attempt_caught_in_another_thread_still_fails_the_test(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_reach.py").write_text(CAUGHT_IN_A_THREAD)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "the test tried to reach the network: connect to ('192.0.2.1', 80)" in r.stdout, \
        r.stdout[-2000:]
