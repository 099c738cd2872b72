"""The structured request and epoch log lines."""
from __future__ import annotations

import json
import logging

import pytest

from cnndemo import logs
from cnndemo.train.messages import Epoch


def _lines(caplog, name: str) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == name]


def test_request_line_is_json_with_every_field(caplog):
    with caplog.at_level(logging.INFO, logger="cnndemo.requests"):
        logs.log_request("predict", model="lenet5", device="cpu", latency_ms=12.345, outcome="ok", extra=1)
    (line,) = _lines(caplog, "cnndemo.requests")
    assert line == {"event": "request", "endpoint": "predict", "model": "lenet5", "device": "cpu",
                    "latency_ms": 12.3, "outcome": "ok", "extra": 1}


def test_unknown_outcome_is_refused():
    with pytest.raises(ValueError, match="outcome"):
        logs.log_request("predict", model=None, device="cpu", latency_ms=1, outcome="maybe")


def test_timed_request_marks_an_escaping_error(caplog):
    with caplog.at_level(logging.INFO, logger="cnndemo.requests"):
        with pytest.raises(KeyError):
            with logs.timed_request("attribute", "vgg11", "cpu"):
                raise KeyError("x")
        with logs.timed_request("predict", "vgg11", "cpu") as timer:
            timer.outcome = "refused"
    assert [x["outcome"] for x in _lines(caplog, "cnndemo.requests")] == ["error", "refused"]
    assert caplog.records[0].levelno == logging.WARNING


def test_epoch_line_keeps_metrics_and_drops_bulky_fields(caplog):
    message = Epoch(epoch=2, train_loss=0.5, train_acc=0.912345678, test_loss=0.3, test_acc=0.9, n_test=10,
                    test_acc_ci=[0.6, 0.98], best_acc=0.9, elapsed_s=1.25, step=8, per_class_accuracy=[0.8, 1.0],
                    confusion_matrix=[[1, 2], [3, 4]], misclassified=[(1, 2, 3)])
    with caplog.at_level(logging.INFO, logger="cnndemo.training"):
        logs.log_epoch(message, run="r1", model="lenet5", device="cpu")
    (line,) = _lines(caplog, "cnndemo.training")
    assert line["event"] == "epoch" and line["run"] == "r1" and line["epoch"] == 2
    assert line["train_acc"] == 0.9123 and "confusion_matrix" not in line and "misclassified" not in line


def test_a_long_reason_is_cut_to_one_short_line():
    assert logs.short("a\nb  c") == "a b c"
    cut = logs.short("word " * 100)
    assert len(cut) == 160 and cut.endswith("...") and "\n" not in cut
