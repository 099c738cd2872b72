"""Trainer: real short runs learn, cancel and time budget stop cleanly, checkpoints are atomic, evaluation adds up."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import cnndemo.train.device as hw
from cnndemo import checkpoints
from cnndemo.data import BatchSpec, Batches, DataSettings, Splits, TensorData, load_splits
from cnndemo.errors import BadInputError
from cnndemo.train import Done, Epoch, Start, Step, TrainConfig, command_line, evaluate, train
from cnndemo.train.parts import loss_of
from conftest import DATA_ROOT as SHARED
from conftest import data_folder, needs_data

needs_mnist = needs_data("mnist")


@pytest.fixture(scope="module")
def mnist_small() -> Splits:
    """2,000 training and 500 held-out MNIST digits (the first of each class)."""
    data_folder("mnist")
    return load_splits("mnist", DataSettings(root=str(SHARED), limit_per_class=200, test_limit_per_class=50))


def config(tmp_path, **kw) -> TrainConfig:
    base = dict(model="lenet5_mnist", dataset="mnist", epochs=1, batch_size=64, lr=3e-3, out=str(tmp_path / "ck"),
                threads=1)
    return TrainConfig(**{**base, **kw})


def run(cfg, data, stop=None, model=None) -> list[dict]:
    return list(train(cfg, data, stop, model=model))


@needs_mnist
def test_short_mnist_run_learns(tmp_path, mnist_small):
    msgs = run(config(tmp_path, epochs=2), mnist_small)
    steps = [m.loss for m in msgs if isinstance(m, Step)]
    epochs = [m for m in msgs if isinstance(m, Epoch)]
    done = msgs[-1]
    assert isinstance(done, Done) and done.reason == "completed"
    assert sum(steps[-5:]) / 5 < 0.5 * sum(steps[:5]) / 5  # the loss falls
    assert epochs[-1].test_acc > 0.6  # held-out accuracy far above the 10 % of chance
    assert Path(done.checkpoint).is_file()
    meta = checkpoints.load(done.checkpoint)[1]
    assert meta["arch"] == "lenet5_mnist" and meta["metrics"]["test_acc"] == max(e.test_acc for e in epochs)
    assert meta["recipe"]["epochs"] == 2 and "python -m cnndemo train" in meta["command"]


@needs_mnist
def test_trained_checkpoint_reloads_with_same_accuracy(tmp_path, mnist_small):
    from cnndemo.models import load_checkpoint
    done = run(config(tmp_path), mnist_small)[-1]
    model, meta = load_checkpoint(done.checkpoint)
    spec = BatchSpec(tuple(meta["input_size"]), tuple(meta["mean"]), tuple(meta["std"]))
    ev = evaluate(model, Batches(mnist_small.test, spec, 128), 10, amp=True)  # the trainer's precision
    assert ev["accuracy"] == pytest.approx(done.metrics["test_acc"], abs=1e-6)


@needs_mnist
def test_cancel_stops_within_one_step(tmp_path, mnist_small):
    stop = threading.Event()
    msgs, after = [], 0
    for m in train(config(tmp_path, epochs=3), mnist_small, stop):
        msgs.append(m)
        if stop.is_set() and isinstance(m, Step):
            after += 1
        if isinstance(m, Step) and m.step == 3:
            stop.set()
    assert after == 0
    assert msgs[-1].reason == "cancelled"
    assert msgs[-1].checkpoint and Path(msgs[-1].checkpoint).is_file()  # nothing better yet: saved at cancel


@needs_mnist
def test_time_budget_stops_cleanly(tmp_path, mnist_small):
    import time
    t0 = time.perf_counter()
    msgs = run(config(tmp_path, epochs=50, time_budget_s=1.5), mnist_small)
    assert msgs[-1].reason == "time_budget"
    assert any(isinstance(m, Step) for m in msgs)  # the budget leaves room to train, not just to stop
    assert time.perf_counter() - t0 < 1.5 + 3.0
    assert Path(msgs[-1].checkpoint).is_file()


class Flaky(nn.Module):
    """A LeNet-shaped model that fails on a given forward call."""

    def __init__(self, fail_at: int, error: type[BaseException]) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
        self.calls, self.fail_at, self.error = 0, fail_at, error

    def forward(self, x):
        self.calls += 1
        if self.training and self.calls == self.fail_at:
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


def digits(n: int = 64) -> Splits:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(10).repeat(n // 10 + 1)[:n]
    images = torch.randint(0, 255, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    data = TensorData(images, labels, tuple(str(i) for i in range(10)), "mnist")
    return Splits(data, data)


def test_out_of_memory_ends_run_and_keeps_last_good_checkpoint(tmp_path):
    data = digits()
    model = Flaky(fail_at=6, error=torch.cuda.OutOfMemoryError)  # epoch 1: 4 train steps + eval, then fails
    msgs = run(config(tmp_path, epochs=3, batch_size=16), data, model=model)
    done = msgs[-1]
    assert done.reason == "oom" and "smaller batch" in done.message
    assert [type(m) for m in msgs].count(Epoch) == 1
    assert Path(done.checkpoint).is_file()


def test_exception_mid_save_leaves_previous_checkpoint_whole(tmp_path, monkeypatch):
    data = digits()
    cfg = config(tmp_path, epochs=3, batch_size=16, lr=0.05)
    first = run(cfg, data, model=Flaky(0, RuntimeError))[-1].checkpoint
    before = Path(first).read_bytes()

    def half_then_crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise KeyboardInterrupt  # as if the process were interrupted mid-write
    monkeypatch.setattr(checkpoints, "save_file", half_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, data, model=Flaky(0, RuntimeError))
    assert Path(first).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.safetensors"]


def test_evaluate_confusion_matrix_adds_up():
    data = digits(50).test
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    torch.manual_seed(0)
    ev = evaluate(model, Batches(data, BatchSpec((1, 28, 28), (0.5,), (0.5,)), 16), 10, max_misclassified=1000)
    cm = torch.tensor(ev["confusion_matrix"])
    assert cm.sum() == ev["n"] == 50
    assert cm.sum(1).tolist() == torch.bincount(data.labels, minlength=10).tolist()
    assert ev["accuracy"] == pytest.approx(cm.trace().item() / 50)
    assert len(ev["misclassified"]) == 50 - cm.trace().item()
    for index, true, pred in ev["misclassified"]:
        assert data.labels[index] == true and true != pred
    assert ev["per_class_accuracy"][0] == pytest.approx(cm[0, 0].item() / cm[0].sum().item())


def test_aux_outputs_add_three_tenths():
    y = torch.tensor([0, 1])
    main, aux1, aux2 = torch.randn(2, 3), torch.randn(2, 3), torch.randn(2, 3)
    ce = nn.functional.cross_entropy
    loss, logits = loss_of((main, aux1, aux2), y, 0.0)
    assert torch.allclose(loss, ce(main, y) + 0.3 * (ce(aux1, y) + ce(aux2, y)))
    assert logits is main
    assert torch.allclose(loss_of(main, y, 0.0)[0], ce(main, y))


@needs_mnist
def test_probe_from_checkpoint_trains_only_a_new_head(tmp_path, mnist_small):
    first = run(config(tmp_path / "a"), mnist_small)[-1].checkpoint
    probe = run(config(tmp_path / "b", mode="probe", init=first, lr=1e-2, epochs=2), mnist_small)
    start = next(m for m in probe if isinstance(m, Start))
    assert start.trainable == 84 * 10 + 10  # only LeNet's new fc3
    before, after = checkpoints.load(first)[0], checkpoints.load(probe[-1].checkpoint)[0]
    assert all(torch.equal(after[k], before[k]) for k in before if not k.startswith("fc3"))
    assert not torch.equal(after["fc3.weight"], before["fc3.weight"])
    assert probe[-1].metrics["test_acc"] > 0.6  # the trained features carry over


def test_bad_settings_are_refused():
    with pytest.raises(BadInputError, match="mode"):
        TrainConfig(mode="magic")
    with pytest.raises(BadInputError, match="learning rate"):
        TrainConfig(lr=0)
    assert TrainConfig(mode="finetune").weights == "default" and TrainConfig().weights is None


def test_sizes_give_each_epoch_its_side_and_repeat_the_last():
    cfg = TrainConfig(sizes="16, 20", epochs=4)
    assert [cfg.epoch_size(e) for e in (1, 2, 3, 4)] == [16, 20, 20, 20]
    assert TrainConfig(image_size=12).epoch_size(3) == 12 and TrainConfig().epoch_size(1) is None
    with pytest.raises(BadInputError, match="sizes must be side lengths"):
        TrainConfig(sizes="16,big")
    with pytest.raises(BadInputError, match="at least 8"):
        TrainConfig(sizes="16,4")


class SizeRecorder(nn.Module):
    """A pooling CNN that any input size fits, noting (training?, side) for every batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
        self.seen: list[tuple[bool, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, x.shape[-1]))
        return self.net(x)


@needs_mnist
def test_progressive_resizing_trains_and_tests_each_epoch_at_its_size(tmp_path, mnist_small):
    model = SizeRecorder()
    msgs = run(config(tmp_path, epochs=3, sizes="12,16", batch_size=500), mnist_small, model=model)
    per_epoch = 2000 // 500 + 1  # four training batches, then one test batch of 500
    epochs = [sorted(set(model.seen[i * per_epoch:(i + 1) * per_epoch])) for i in range(3)]
    assert epochs == [[(False, 12), (True, 12)], [(False, 16), (True, 16)], [(False, 16), (True, 16)]]
    meta = checkpoints.load(msgs[-1].checkpoint)[1]
    best = meta["metrics"]["epoch"]
    assert meta["input_size"] == [1, 12 if best == 1 else 16, 12 if best == 1 else 16]
    assert "--sizes 12,16" in meta["command"]


DDP_SCRIPT = """
import sys
import torch
from safetensors.torch import save_file
import torch.distributed as dist
from cnndemo.data import DataSettings, load_splits
from cnndemo.train import TrainConfig, build_model, train

out, root = sys.argv[1], sys.argv[2]
cfg = TrainConfig(model="lenet5_mnist", dataset="mnist", epochs=3, batch_size=32, lr=3e-3, out=out + "/ck",
                  data_root=root, limit_per_class=100, test_limit_per_class=30, threads=1)
torch.manual_seed(cfg.seed)  # the same start as the single-process twin, so each run of the test is the same
model = build_model(cfg, 10)
done = list(train(cfg, model=model))[-1]
rank = dist.get_rank()
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/rank{rank}.safetensors",
          metadata={"acc": str(done.metrics["test_acc"]), "reason": done.reason})
"""


@pytest.mark.slow
@needs_mnist
def test_ddp_two_cpu_processes_end_identical_and_match_single_process(tmp_path, mnist_small):
    import os
    import subprocess
    import sys
    from safetensors import safe_open
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script), str(tmp_path), str(SHARED)], env=env, capture_output=True, text=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = []
    for k in range(2):
        with safe_open(str(tmp_path / f"rank{k}.safetensors"), "pt") as f:
            ranks.append(({key: f.get_tensor(key) for key in f.keys()}, f.metadata()))
    assert all(torch.equal(ranks[0][0][k], ranks[1][0][k]) for k in ranks[0][0])
    assert ranks[0][1] == ranks[1][1] and ranks[0][1]["reason"] == "completed"
    single = load_splits("mnist", DataSettings(root=str(SHARED), limit_per_class=100, test_limit_per_class=30))
    # Two ranks of 32 make one step on 64 images, so the fair single-process twin uses batches of 64:
    # the same number of optimizer steps on the same effective batch.
    solo = run(config(tmp_path / "solo", epochs=3, batch_size=64), single)[-1].metrics["test_acc"]
    ddp = float(ranks[0][1]["acc"])
    assert ddp > 0.6 and abs(ddp - solo) < 0.12, (ddp, solo)
    assert (tmp_path / "ck.safetensors").is_file()  # written once, by rank 0


def test_tiny_one_cycle_runs_do_not_crash():
    from cnndemo.train.parts import make_schedule
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    for steps in range(1, 12):
        make_schedule(TrainConfig(schedule="onecycle"), opt, steps).step()


@pytest.mark.parametrize("amx,device,amp,want", [
    (True, "cpu", True, True), (False, "cpu", True, False), (True, "cpu", False, False),
    (False, "cuda", True, True), (False, "cuda", False, False)])
def test_bf16_only_where_it_is_fast(monkeypatch, amx, device, amp, want):
    """bf16 autocast and channels_last follow the hardware: CUDA, or a CPU with AMX; never when amp is off."""
    monkeypatch.setattr(hw, "cpu_has_amx", lambda: amx)
    assert hw.uses_bf16(torch.device(device), amp) is want
    assert hw.channels_last(TrainConfig(amp=amp), torch.device(device)) is (want or device == "cuda")
    assert hw.channels_last(TrainConfig(amp=amp, channels_last=False), torch.device(device)) is False


@pytest.mark.parametrize("params,want", [(10_000, False), (2_000_000, True)])
def test_fp32_cpu_runs_go_channels_last_for_all_but_tiny_models(monkeypatch, params, want):
    """Without AMX a CPU still runs oneDNN's NHWC convolutions faster, except for LeNet-sized models."""
    monkeypatch.setattr(hw, "cpu_has_amx", lambda: False)
    model = nn.Linear(params // 100, 100, bias=False)
    assert hw.channels_last(TrainConfig(amp=False), torch.device("cpu"), model) is want
    assert hw.channels_last(TrainConfig(channels_last=False), torch.device("cpu"), model) is False


def test_cpu_autocast_really_computes_in_bf16(monkeypatch):
    monkeypatch.setattr(hw, "cpu_has_amx", lambda: True)
    with hw.autocast(torch.device("cpu"), True):
        assert nn.Linear(4, 2)(torch.randn(3, 4)).dtype == torch.bfloat16
    monkeypatch.setattr(hw, "cpu_has_amx", lambda: False)
    with hw.autocast(torch.device("cpu"), True):
        assert nn.Linear(4, 2)(torch.randn(3, 4)).dtype == torch.float32


def test_hardware_names_the_cpu_model(monkeypatch):
    """Sidecars say which CPU trained a checkpoint: two 2-core machines can differ 3x in speed (AMX or not)."""
    import io
    fake = "processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: avx2\n"
    monkeypatch.setattr(hw, "open", lambda *a, **k: io.StringIO(fake), raising=False)
    assert hw.cpu_model() == "Example CPU 9000, "
    assert hw.device_name(torch.device("cpu")).startswith("CPU (Example CPU 9000, ")
    monkeypatch.setattr(hw, "open", lambda *a, **k: io.StringIO("processor\t: 0\n"), raising=False)
    monkeypatch.setattr(hw.platform, "processor", lambda: "")
    assert hw.cpu_model() == "" and hw.device_name(torch.device("cpu")).startswith("CPU (")


def test_train_modules_import_each_other_without_a_cycle():
    """The modules of cnndemo.train import each other in one direction only (evaluate no longer needs the loop)."""
    import ast
    folder = Path(__file__).resolve().parents[1] / "cnndemo" / "train"
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        graph[path.stem] = {n.module.split(".")[0] if n.module else a.name for n in ast.walk(tree)
                            if isinstance(n, ast.ImportFrom) and n.level == 1 for a in n.names} - {"__init__"}
    def reaches(start, goal, seen=()):
        return any(m == goal or (m not in seen and reaches(m, goal, (*seen, m))) for m in graph.get(start, ()))
    assert not [m for m in graph if m != "__init__" and reaches(m, m)]
    assert not reaches("evaluate", "loop") and not reaches("device", "loop")


def test_stop_reasons_are_named_and_counters_add_up(tmp_path):
    from cnndemo.train import StopReason
    data = digits(40)
    msgs = run(config(tmp_path, epochs=2, batch_size=16), data, model=Flaky(0, RuntimeError))
    steps = [m for m in msgs if isinstance(m, Step)]
    assert msgs[-1].reason == StopReason.COMPLETED == "completed"
    assert msgs[-1].message == StopReason.COMPLETED.sentence
    assert [m.step for m in steps] == list(range(1, 7))  # 3 batches of 16 per epoch, two epochs
    assert [m.epoch for m in steps] == [1, 1, 1, 2, 2, 2] and steps[-1].steps_total == 6
    assert {r.value for r in StopReason} == {"completed", "time_budget", "cancelled", "oom"}


def test_a_stop_before_the_first_step_is_a_cancel_with_nothing_kept(tmp_path):
    stop = threading.Event()
    stop.set()
    msgs = run(config(tmp_path), digits(), stop, model=Flaky(0, RuntimeError))
    assert [type(m) for m in msgs] == [Start, Done]
    assert msgs[-1].reason == "cancelled" and msgs[-1].checkpoint is None


# ---------- what a run tells: counts, intervals, warnings, per-mode learning rates, run names ----------

def shapes_small(per_class: int = 60, test_per_class: int = 4) -> Splits:
    """A few shapes pictures (the offline built-in set): colour, 32x32."""
    return load_splits("shapes", DataSettings(limit_per_class=per_class, test_limit_per_class=test_per_class))


def test_every_message_carries_counts_intervals_and_warnings(tmp_path):
    data = shapes_small()
    msgs = run(config(tmp_path, model="lenet5", dataset="shapes", epochs=2, run_name="Class 4B, first try"), data)
    start, epochs, done = msgs[0], [m for m in msgs if isinstance(m, Epoch)], msgs[-1]
    epoch = epochs[-1]
    assert (start.n_train, start.n_test) == (300, 20) == (done.n_train, done.n_test)
    assert start.run_name == done.run_name == "Class 4B, first try" and start.lr == 3e-3
    assert start.warnings == done.warnings == ()  # 20 test pictures, colour model: nothing to say
    lo, hi = epoch.test_acc_ci
    assert epoch.n_test == 20 and lo <= epoch.test_acc <= hi and hi - lo > 0.2  # wide on 20 pictures
    kept = epochs[done.metrics["epoch"] - 1]
    assert done.metrics["test_acc_ci"] == kept.test_acc_ci and done.metrics["n_test"] == 20
    meta = checkpoints.load(done.checkpoint)[1]
    assert meta["recipe"]["run_name"] == "Class 4B, first try" and meta["recipe"]["lr"] == 3e-3


def test_a_run_carries_its_warnings(tmp_path):
    from cnndemo.train import run_warnings
    small = shapes_small(test_per_class=2)  # 10 test pictures, colour on a grey model: two warnings
    done = run(config(tmp_path, model="lenet5_mnist", dataset="shapes"), small)[-1]
    assert len(done.warnings) == 2 and list(done.warnings) == run_warnings("lenet5_mnist", small)


@pytest.mark.parametrize("mode", ["scratch", "finetune", "probe"])
def test_each_mode_starts_from_its_own_learning_rate(tmp_path, mode):
    from cnndemo.train import DEFAULT_LR
    cfg = config(tmp_path, model="lenet5", dataset="shapes", mode=mode, lr=None, schedule="none", init="none")
    assert cfg.learning_rate == DEFAULT_LR[mode] and DEFAULT_LR["finetune"] < DEFAULT_LR["probe"]
    step = next(m for m in run(cfg, shapes_small(20, 2)) if isinstance(m, Step))
    assert step.lr == DEFAULT_LR[mode]
    assert replace(cfg, lr=0.05).learning_rate == 0.05


def test_run_names_are_checked():
    with pytest.raises(BadInputError, match="keep it to 60"):
        TrainConfig(run_name="x" * 61)
    with pytest.raises(BadInputError, match="line breaks"):
        TrainConfig(run_name="two\nlines")
    assert "run_name" not in command_line(TrainConfig(run_name="mine"))


def test_keep_last_saves_the_last_epoch_once(tmp_path, monkeypatch):
    import cnndemo.train.loop as loop
    saved = []
    real = loop.save_checkpoint
    monkeypatch.setattr(loop, "save_checkpoint", lambda *a, **k: saved.append(k["epoch"]) or real(*a, **k))
    msgs = run(config(tmp_path, model="lenet5", dataset="shapes", epochs=3, keep="last"), shapes_small(20, 2))
    assert saved == [3] and msgs[-1].metrics["epoch"] == 3
    assert msgs[-1].metrics["test_acc"] == [m for m in msgs if isinstance(m, Epoch)][-1].test_acc


# ---------- mistakes: the pictures of a confusion-matrix cell ----------

@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """A briefly trained LeNet on shapes: it gets some test pictures right and some wrong."""
    out = tmp_path_factory.mktemp("mistakes") / "ck"
    cfg = TrainConfig(model="lenet5", dataset="shapes", epochs=2, batch_size=32, lr=3e-3, limit_per_class=200,
                      test_limit_per_class=30, out=str(out), threads=1)
    return list(train(cfg))[-1].checkpoint


def test_mistakes_are_the_misclassified_test_pictures(shapes_run):
    from cnndemo.models import load_checkpoint
    from cnndemo.train import mistakes
    from cnndemo.train.evaluate import checkpoint_spec
    model, meta = load_checkpoint(shapes_run)
    test = load_splits("shapes", DataSettings(test_limit_per_class=30)).test
    spec = checkpoint_spec(meta)
    with torch.no_grad():  # the truth, one picture at a time
        truth = [int(model(Batches(test.subset(torch.tensor([i])), spec, 1).__iter__().__next__()[0]).argmax())
                 for i in range(len(test))]
    ev = evaluate(model, Batches(test, spec, 64), len(test.classes), max_misclassified=10_000)
    k, wrong = len(test.classes), set()
    for t in range(k):
        for p in range(k):
            cell = mistakes(model, test, spec, test.classes[t], p)
            assert len(cell.indices) == ev["confusion_matrix"][t][p]
            assert all(int(test.labels[i]) == t and truth[i] == p for i in cell.indices)
            assert cell.true_class == test.classes[t] and cell.images().shape[0] == len(cell.indices)
            wrong |= set(cell.indices) if t != p else set()
    assert wrong == {i for i, _, _ in ev["misclassified"]} and wrong  # every mistake, and some exist


def test_checkpoint_mistakes_use_the_builtin_test_split_and_refuse_unknown_classes(shapes_run):
    from cnndemo.train import checkpoint_mistakes
    full = checkpoint_mistakes(shapes_run, "circle", "square")
    assert len(full.test) == 1000 and full.test.name == "shapes"  # the data set's own test split
    assert all(int(full.test.labels[i]) == 0 for i in full.indices)
    with pytest.raises(BadInputError, match="no class 'hexagon'"):
        checkpoint_mistakes(shapes_run, "hexagon", 0)


# ---------- speed and time left, from this run's own wall clock ----------

FORWARD_S, READER_STEP_S, READER_EPOCH_S = 0.02, 0.02, 0.1  # a forward, and a reader drawing after each message


class Sleepy(nn.Module):
    """A 28x28 classifier whose forward takes a known time (it sleeps), so a run's pace is known."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    def forward(self, x):
        time.sleep(FORWARD_S)
        return self.net(x)


def read_slowly(messages) -> list:
    """Every message, taking the time a UI takes to draw after each step and each epoch (the user waits for it)."""
    seen = []
    for m in messages:
        seen.append(m)
        time.sleep(READER_STEP_S if isinstance(m, Step) else READER_EPOCH_S if isinstance(m, Epoch) else 0.0)
    return seen


def _check_estimates(msgs: list) -> None:
    """After the first tenth of the run, each step's time left is the time really left within 25 % (0.1 s at the
    very end), and its speed is the pictures per second really seen between step messages."""
    steps, done = [m for m in msgs if isinstance(m, Step)], msgs[-1]
    later = [m for m in steps if m.elapsed_s >= done.elapsed_s / 10]
    assert len(later) >= 0.7 * len(steps) >= 20
    for m in later:
        assert m.eta_s == pytest.approx(done.elapsed_s - m.elapsed_s, rel=0.25, abs=0.1), (m.step, m.eta_s)
    first, last = later[0], [m for m in later if m.epoch == later[0].epoch][-1]
    seen = 8 * (last.step - first.step) / (last.elapsed_s - first.elapsed_s)
    assert last.images_per_s == pytest.approx(seen, rel=0.25)


def test_speed_and_time_left_are_this_runs_wall_clock(tmp_path):
    # 2 epochs of 30 steps of 8 pictures: each step waits for its forward and for the reader, as a UI's user does
    cfg = config(tmp_path, epochs=2, batch_size=8)
    msgs = read_slowly(train(cfg, Splits(digits(240).train, digits(40).test), model=Sleepy()))
    assert msgs[-1].reason == "completed" and msgs[-1].elapsed_s > 60 * (FORWARD_S + READER_STEP_S)
    _check_estimates(msgs)


def test_time_left_never_runs_past_the_time_budget(tmp_path):
    cfg = config(tmp_path, epochs=50, batch_size=8, time_budget_s=2.0)
    msgs = read_slowly(train(cfg, Splits(digits(240).train, digits(40).test), model=Sleepy()))
    assert msgs[-1].reason == "time_budget"
    assert all(m.eta_s <= 2.0 - m.elapsed_s + 1e-3 for m in msgs if isinstance(m, Step))
    _check_estimates(msgs)
