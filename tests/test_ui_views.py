"""The UI-free pieces the tabs show: the Train view model fed by a real (tiny) run, and its figures."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnndemo.data import Splits, TensorData
from cnndemo.figures import confusion_figure, curves_figure
from cnndemo.train import Done, Epoch, Step, TrainConfig, train
from cnndemo.train.view import MAX_MISTAKES, TrainView

from conftest import text_clashes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The data and every message of one real two-epoch LeNet-5 run on 40 random 28x28 'digits'."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 255, (40, 1, 28, 28), dtype=torch.uint8, generator=g)
    data = TensorData(images, torch.arange(10).repeat(4), tuple(f"digit {i}" for i in range(10)), "mnist")
    config = TrainConfig(model="lenet5_mnist", dataset="mnist", epochs=2, batch_size=16, lr=3e-3, threads=1,
                         out=str(tmp_path_factory.mktemp("run") / "ck"))
    splits = Splits(data, data)
    return splits, list(train(config, splits))


def test_train_view_follows_the_run_to_its_end(run):
    data, messages = run
    view = TrainView(data)
    assert view.outputs()[0] == "Starting..."
    for message in messages:
        view.update(message)
    done = messages[-1]
    line, curves, confusion, wrong, files = view.outputs()
    assert isinstance(done, Done) and done.reason in line
    assert f"{100 * done.metrics['test_acc']:.2f} %" in line
    steps = [m for m in messages if isinstance(m, Step)]
    assert [p["value"] for p in view.steps if p["curve"] == "train loss"] == [m.loss for m in steps]
    assert [p["epoch"] for p in view.epochs] == [1, 1, 2, 2]
    assert confusion is not None and files is None  # the files come from the tab once the run is registered
    assert [len(ax.get_lines()) for ax in curves.axes] == [2, 2]  # train and test loss; train and test accuracy


def test_mistakes_are_the_real_test_images_with_their_true_and_predicted_class(run):
    data, messages = run
    last = [m for m in messages if isinstance(m, Epoch)][-1]
    view = TrainView(data)
    view.update(last)
    expected = last.misclassified[:MAX_MISTAKES]
    assert len(view.wrong) == len(expected) > 0
    for (path, caption), (i, true, predicted) in zip(view.wrong, expected):
        assert np.array_equal(np.asarray(Image.open(path)), data.test.images[i, 0].numpy())
        assert caption == f"digit {true} -> digit {predicted}"


def test_step_line_shows_progress_and_speed(run):
    data, messages = run
    step = next(m for m in messages if isinstance(m, Step))
    view = TrainView(data)
    view.update(step)
    assert view.line.startswith(f"step {step.step}/{step.steps_total} ") and f"{step.loss:.3f}" in view.line


def test_confusion_figure_labels_every_class():
    fig = confusion_figure([[3, 1], [0, 4]], ("cat", "dog"))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    assert np.array_equal(ax.images[0].get_array(), [[3, 1], [0, 4]])


def test_confusion_figure_writes_every_count_in_its_cell_legibly():
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    matrix = np.random.default_rng(0).integers(0, 1000, (10, 10))
    fig = confusion_figure(matrix.tolist(), classes)
    ax = fig.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(i, j): f"{v:,}" for (i, j), v in np.ndenumerate(matrix)}  # row: true, column: predicted
    assert min(t.get_fontsize() for t in ax.texts) >= 10 and text_clashes(fig) == []
    assert f"{np.trace(matrix):,} of {matrix.sum():,}" in ax.get_title()


def test_one_epoch_points_with_equal_values_get_labels_that_do_not_clash():
    steps = [{"step": s, "value": 1 / s, "curve": "train loss"} for s in (1, 2, 3)]
    epochs = [{"epoch": 1, "value": 0.6, "curve": c} for c in ("train accuracy", "test accuracy")]
    assert text_clashes(curves_figure(steps, epochs)) == []


def test_curves_figure_draws_one_line_per_curve():
    steps = [{"step": s, "value": 1 / s, "curve": "train loss"} for s in (1, 2, 3)]
    fig = curves_figure(steps, [])
    loss, acc = fig.axes
    assert [list(line.get_xdata()) for line in loss.get_lines()] == [[1, 2, 3]] and not acc.get_lines()
