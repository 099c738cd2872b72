"""Serving helpers: per-request deadlines, cancel flags, out-of-memory detection (no Gradio involved)."""
from __future__ import annotations

import pytest

from cnndemo.serving import Deadline, FileFlag, ServerBusy, TimeLimitExceeded, is_out_of_memory


def test_deadline_answers_at_the_limit_and_refuses_while_overdue():
    import threading
    import time

    release = threading.Event()
    deadline = Deadline(0.2, max_overdue=1)
    assert deadline.run(lambda x: x + 1, 1) == 2
    with pytest.raises(TimeLimitExceeded, match="0 s limit|limit"):
        deadline.run(release.wait, 5)
    with pytest.raises(ServerBusy):
        deadline.run(lambda: 1)
    release.set()
    for _ in range(50):
        if deadline.overdue == 0:
            break
        time.sleep(0.02)
    assert deadline.run(lambda: "again") == "again"


def test_file_flag_round_trip(tmp_path):
    flag = FileFlag(tmp_path / "runs" / ".x.stop")
    assert not flag.is_set()
    flag.set()
    assert flag.is_set()
    flag.clear()
    assert not flag.is_set()


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
