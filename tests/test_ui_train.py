"""The Train tab's functions, called as Gradio calls them (a request with a session hash), on pictures made here:
the class builder's runs and refusals, the per-session feature cache, the mistakes view, the offline defaults."""
from __future__ import annotations

import re
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

gr = pytest.importorskip("gradio")

from cnndemo.data import ClassSetLimits  # noqa: E402
from cnndemo.models import load_checkpoint  # noqa: E402
from cnndemo.train import DEFAULT_LR, Done, Start, predictions  # noqa: E402
from cnndemo.train.evaluate import checkpoint_spec  # noqa: E402
from cnndemo.train.view import TrainView  # noqa: E402
from cnndemo.ui import classbuilder, mistakes  # noqa: E402
from cnndemo.ui import train as train_ui  # noqa: E402
from cnndemo.ui.context import AppContext  # noqa: E402
from cnndemo.ui.sessions import Sessions  # noqa: E402


def request(session: str) -> SimpleNamespace:
    """What Gradio hands an event: the browser session's hash."""
    return SimpleNamespace(session_hash=session)


def pictures(folder: Path, channel: int, n: int, seed: int) -> list[str]:
    """n noisy 64 px PNG files, bright in one colour channel (0 red, 2 blue): an easy class, each picture new."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        a = rng.integers(0, 80, (64, 64, 3)).astype(np.uint8)
        a[..., channel] += 150
        paths.append(str(folder / f"c{channel}-{seed}-{i}.png"))
        Image.fromarray(a).save(paths[-1])
    return paths


def bomb_png(side: int = 20_000) -> bytes:
    """A small PNG whose header claims side x side pixels: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    rows = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One context (zoo and model cache) and one session store, runs written to a temporary folder."""
    runs = tmp_path_factory.mktemp("runs")
    old, train_ui.RUNS = train_ui.RUNS, runs
    try:
        ctx = AppContext(sessions=Sessions(ClassSetLimits(max_per_class=12)))
        yield SimpleNamespace(ctx=ctx, sessions=ctx.sessions, dir=tmp_path_factory.mktemp("pics"))
    finally:
        train_ui.RUNS = old


def last(outputs) -> tuple:
    """The last of an event's yields."""
    *_, final = outputs
    return final


def test_a_class_set_built_in_the_tab_trains_and_retraining_reuses_the_features(app):
    key, ctx = "builder", app.ctx
    classbuilder.class_names(ctx, "red, blue", "red", request(key))
    classbuilder.class_add(ctx, "red", pictures(app.dir, 0, 6, 1), request(key))
    radio, counts, thumbs, status = classbuilder.class_add(ctx, "blue", pictures(app.dir, 2, 6, 2), request(key))
    assert "**red** 6 · **blue** 6" in counts and len(thumbs["value"]) == 6 and "Added 6 pictures" in status
    run = app.ctx.bind(train_ui.train_my_classes)
    out = last(run("probe", 20, None, "colours", request(key)))
    progress, files, explore, runs = out[0], out[4], out[5], out[6]
    assert "completed" in progress and "Test accuracy" in progress and "95 % interval" in progress, progress
    assert "**10 training** and **2 test** pictures" in progress and "Only 2 test pictures" in progress
    assert explore["value"].startswith("run: colours #") and runs["value"] == explore["value"]
    assert app.ctx.zoo.state(explore["value"]).trained and files is None  # the files only when asked for
    downloads = train_ui.download_run(app.ctx, runs["value"], request(key))
    assert [Path(f).suffix for f in downloads] == [".safetensors", ".json"]
    assert Path(downloads[0]).stat().st_size < 20_000  # a head on frozen EfficientNet-Lite0 features
    features = app.sessions.get(key).features
    assert features.forwards == 12  # every picture once
    classbuilder.class_add(ctx, "red", pictures(app.dir, 0, 2, 3), request(key))
    again = last(run("probe", 20, None, "colours", request(key)))
    assert "completed" in again[0] and features.forwards == 14  # the two new pictures only
    assert again[5]["value"] != explore["value"]  # a second run is a second model, never the first one replaced


def test_a_picture_is_removed_from_its_class(app):
    key, ctx = "remover", app.ctx
    classbuilder.class_names(ctx, "a, b", "a", request(key))
    paths = pictures(app.dir, 1, 3, 4)
    classbuilder.class_add(ctx, "a", paths, request(key))
    *_, thumbs, status = classbuilder.class_remove(ctx, "a", 1, request(key))
    kept = [p.digest for p in app.sessions.get(key).class_set.pictures("a")]
    assert len(thumbs["value"]) == 2 and "Removed picture 2" in status
    assert kept == [_digest(p) for p in (paths[0], paths[2])]
    with pytest.raises(Exception, match="click a picture first"):
        classbuilder.class_remove(ctx, "a", None, request(key))


def _digest(path: str) -> str:
    """The digest a picture gets in a class set."""
    from cnndemo.data.classset import to_picture
    return to_picture(path, ClassSetLimits().side).digest


@pytest.mark.parametrize("names,groups,sentence", [
    ("red", [["r"]], "at least 2 classes"),
    ("red, blue", [["r"], []], "class 'blue' has no pictures yet"),
    ("red, blue", [["r"], ["b1"]], "too few to split"),
    ("red", [["r"], ["b"]], "pictures were given for class 2"),
])
def test_a_set_that_cannot_train_says_so_in_one_message(app, names, groups, sentence):
    files = {"r": pictures(app.dir / "r", 0, 3, 5), "b": pictures(app.dir / "b", 2, 3, 6)}
    files["b1"] = files["b"][:1]
    given = [[p for tag in g for p in files[tag]] for g in groups]
    run = app.ctx.bind(train_ui.train_classes)
    outputs = list(run(names, *given, mode="probe", epochs=5, request=request("refusals")))
    assert len(outputs) == 1 and outputs[0][0].startswith("**Not trained:**") and sentence in outputs[0][0]
    assert len(outputs[0]) == train_ui.N_OUTPUTS
    assert all(o == gr.skip() for o in outputs[0][1:])  # curves, matrix and galleries keep what they showed


def test_a_hostile_picture_and_one_too_many_are_refused_and_the_rest_train(app):
    bomb, text = app.dir / "bomb.png", app.dir / "page.png"
    bomb.write_bytes(bomb_png())
    text.write_text("<svg onload=alert(1)>")
    reds = pictures(app.dir, 0, 13, 7)  # the limit here is 12 per class
    blues = pictures(app.dir, 2, 4, 8)
    run = app.ctx.bind(train_ui.train_classes)
    progress = last(run("red, blue", reds + [str(bomb)], [str(text)] + blues, epochs=5,
                        request=request("hostile")))[0]
    assert "'bomb.png' was not added" in progress and "'page.png' was not added" in progress, progress
    assert "class 'red' is full (12 pictures)" in progress
    assert "completed" in progress and re.search(r"\*\*(\d+) training\*\* and \*\*(\d+) test", progress)
    n_train, n_test = map(int, re.search(r"\*\*(\d+) training\*\* and \*\*(\d+) test", progress).groups())
    assert n_train + n_test == 12 + 4  # every good picture up to the limit, nothing else


@pytest.fixture(scope="module")
def shapes_run(app):
    """A one-epoch LeNet-5 run on 20 shapes per class through the tab's /train function: it makes mistakes."""
    run = app.ctx.bind(train_ui.train)
    out = last(run("lenet5", "shapes", None, "scratch", 1, 16, 3e-3, 60, 20, "tiny shapes", request("shapes")))
    assert "completed" in out[0], out[0]
    return app.sessions.run(out[5]["value"], "shapes")


def test_the_mistakes_view_shows_the_test_pictures_the_model_gets_wrong(app, shapes_run):
    model, meta = load_checkpoint(shapes_run.checkpoint)
    test = shapes_run.test
    predicted = predictions(model, test, checkpoint_spec(meta))  # the real forward pass, independently
    wrong = [(int(t), int(p)) for t, p in zip(test.labels, predicted) if t != p]
    t, p = max(set(wrong), key=wrong.count)
    expected = [i for i in range(len(test)) if test.labels[i] == t and predicted[i] == p]
    show = app.ctx.bind(mistakes.mistakes)
    gallery, caption = show(shapes_run.model, test.classes[t], test.classes[p], request("shapes"))
    assert f"**{len(expected)}** test picture" in caption and f"called **{test.classes[p]}**" in caption
    shown = [int(re.match(r"#(\d+)  p = [\d.]+$", c).group(1)) - 1 for _, c in gallery]
    assert shown == expected[:mistakes.MAX_SHOWN]
    assert all(np.asarray(Image.open(f)).shape == (32, 32, 3) for f, _ in gallery)  # Grad-CAM at the input size
    right = show(shapes_run.model, test.classes[t], test.classes[t], request("shapes"))[1]
    assert f"**{int(((test.labels == t) & (predicted == t)).sum())}** test picture" in right and "right" in right


def test_each_session_sees_its_own_runs(app, shapes_run):
    assert shapes_run.model in [m for _, m in mistakes.run_choices(app.sessions, "shapes")]
    assert shapes_run.model not in [m for _, m in mistakes.run_choices(app.sessions, "someone else")]
    assert shapes_run.label.startswith("tiny shapes #")


@pytest.mark.slow  # torch.onnx traces the model: several seconds
def test_the_run_downloads_as_onnx_with_the_same_top1(app, shapes_run):
    ort = pytest.importorskip("onnxruntime")
    files = train_ui.export_onnx(app.ctx, shapes_run.model, request("shapes"))
    assert [Path(f).suffix for f in files] == [".safetensors", ".json", ".onnx"]
    model, meta = load_checkpoint(files[0])
    from cnndemo.data import to_input
    x = to_input(shapes_run.test.images[:10], checkpoint_spec(meta))
    with torch.no_grad():
        want = model(x).argmax(1).numpy()
    got = ort.InferenceSession(files[2]).run(["logits"], {"image": x.numpy()})[0].argmax(1)
    assert np.array_equal(got, want)


def test_exporting_a_run_this_session_does_not_have_says_so(app):
    with pytest.raises(gr.Error) as refused:
        train_ui.export_onnx(app.ctx, "run: someone else's #abc123", request("nobody"))
    assert "ONNX export takes runs trained in this browser session" in refused.value.message
    assert "mistakes" not in refused.value.message
    with pytest.raises(gr.Error, match="downloads are offered for runs trained in this browser session"):
        train_ui.download_run(app.ctx, "run: someone else's #abc123", request("nobody"))


def test_the_tab_defaults_train_shapes_with_no_data_folder(tmp_path, monkeypatch):
    import app as app_module

    monkeypatch.setenv("CNNDEMO_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("CNNDEMO_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(train_ui, "RUNS", tmp_path / "runs")
    demo = app_module.build_demo()
    fn = next(f for f in demo.fns.values() if f.api_name == "train")
    defaults = [c.value for c in fn.inputs]
    assert defaults[:2] == ["lenet5", "shapes"] and defaults[6] == 3e-3
    progress = last(fn.fn(*defaults, request=request("fresh")))[0]
    assert "completed" in progress and "**shapes**" in progress, progress
    assert float(re.search(r"Test accuracy \(epoch \d+\) \*\*([\d.]+) %", progress).group(1)) > 80
    assert list((tmp_path / "empty").iterdir()) == []  # nothing downloaded or written there


def test_the_mode_radio_sets_its_learning_rate():
    import app as app_module

    demo = app_module.build_demo()
    changes = [f for f in demo.fns.values() if [getattr(c, "label", "") for c in f.outputs] == ["Learning rate"]]
    assert changes and all(f.fn(m) == DEFAULT_LR[m] for f in changes for m in DEFAULT_LR)


def test_the_progress_text_keeps_counts_warnings_and_the_interval():
    view = TrainView(None)
    warning = "The pictures are in colour but lenet5_mnist reads grey"
    view.update(Start(run_name="mine", model="lenet5_mnist", mode="scratch", lr=1e-3, epochs=3, dataset="my classes",
                      classes=("a", "b"), n_train=8, n_test=4, trainable=10, params=10, device="CPU",
                      warnings=(warning,)))
    view.update(Done(metrics={"test_acc": 0.75, "test_acc_ci": [0.3, 0.95], "n_test": 4, "epoch": 3},
                     reason="completed", elapsed_s=1.0, device="CPU", message="finished all epochs", n_test=4,
                     checkpoint=None, run_name="mine", n_train=8, warnings=(warning,)))
    text = view.text()
    assert "Run **mine**" in text and "**8 training** and **4 test** pictures" in text
    assert "75.00 %** on 4 test pictures (95 % interval 30-95 %)" in text and "in colour but" in text


def test_a_sketch_and_a_snapshot_join_a_class_and_a_blank_canvas_is_refused(app, tmp_path):
    key, ctx = "sketcher", app.ctx
    classbuilder.class_names(ctx, "ink, paper", "ink", request(key))
    canvas = np.zeros((200, 200, 4), np.uint8)  # as the canvas exports it: transparent, with black ink
    canvas[50:150, 90:110] = (0, 0, 0, 255)
    Image.fromarray(canvas).save(tmp_path / "sketch.png")
    *_, status = classbuilder.class_sketch(ctx, "ink", {"composite": str(tmp_path / "sketch.png")}, request(key))
    assert "Added 1 picture to **ink**" in status
    Image.fromarray(np.zeros((200, 200, 4), np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(Exception, match="draw something"):
        classbuilder.class_sketch(ctx, "ink", {"composite": str(tmp_path / "blank.png")}, request(key))
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    with pytest.raises(Exception, match="(?i)pixels|too (big|large)"):  # the safe loader's own sentence
        classbuilder.class_sketch(ctx, "ink", {"composite": str(tmp_path / "bomb.png")}, request(key))
    snapshot = pictures(app.dir, 1, 1, 9)[0]
    *_, status = classbuilder.class_snapshot(ctx, "paper", snapshot, request(key))
    assert "Added 1 picture to **paper**" in status
    assert app.sessions.get(key).class_set.counts() == {"ink": 1, "paper": 1}


def test_the_data_set_picker_says_when_an_archive_is_used_instead():
    used = train_ui.data_used("/tmp/upload/flowers.zip")
    assert used["interactive"] is False and "flowers.zip" in used["info"]
    assert train_ui.data_used(None)["interactive"] is True


def test_one_epoch_curves_have_integer_ticks_and_labelled_points():
    from cnndemo.figures import curves_figure

    steps = [{"step": s, "value": 1 / s, "curve": "train loss"} for s in (1, 2, 3)]
    epochs = [{"epoch": 1, "value": 0.5, "curve": "train"}, {"epoch": 1, "value": 0.75, "curve": "test"}]
    fig = curves_figure(steps, epochs)
    fig.canvas.draw()
    loss, acc = fig.axes
    for ax in (loss, acc):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert acc.get_xlim() == (0, 2) and sorted(t.get_text() for t in acc.texts) == ["test 75 %", "train 50 %"]


def test_sessions_are_bounded_and_keep_their_newest_runs():
    from cnndemo.ui.sessions import RunRecord

    sessions = Sessions(max_sessions=2, max_runs=2)
    first = sessions.get("a")
    sessions.get("b"), sessions.get("a"), sessions.get("c")  # b is the least recently used: it goes
    assert sessions.get("a") is first and len(sessions._sessions) == 2 and "b" not in sessions._sessions
    for i in range(3):
        sessions.add_run("a", RunRecord(f"run: r{i}", f"r{i}.safetensors", None, f"r{i}"))
    assert [r.model for r in sessions.get("a").runs] == ["run: r2", "run: r1"]
    with pytest.raises(Exception, match="not one of this session's runs"):
        sessions.run("run: r0", "a")
