"""What the Train tab shows during a run, rebuilt from the trainer's messages (no gradio here)."""
from __future__ import annotations

from ..figures import confusion_figure, curves_figure
from ..outputs import image_file
from .messages import Done, Epoch, Message, Start, Status, Step

MAX_MISTAKES = 18  # misclassified test images shown per epoch
INTERVAL_UNDER = 1000  # test pictures under which an accuracy comes with its 95 % interval (over it: +-3 points)


class TrainView:
    """The progress line, curves, confusion matrix, mistakes and checkpoint files of one run."""

    def __init__(self, data) -> None:
        self.data, self.steps, self.epochs, self.line = data, [], [], "Starting..."
        self.header, self.warnings = "", []  # what trains on which data (counts), and sentences to heed
        self.notes: list[str] = []  # sentences from before the run (pictures that were refused), kept throughout
        self.matrix: list[list[int]] | None = None  # drawn only when shown: a fast run has many epochs
        self.wrong: list[tuple[str, str]] = []
        self.files: list[str] | None = None  # None: the app hands a run's files out only when asked

    def update(self, m: Message) -> None:
        """Fold one trainer message into the view."""
        if isinstance(m, Start):
            self._start(m)
        elif isinstance(m, Status):
            self.line = m.message
        elif isinstance(m, Step):
            self._step(m)
        elif isinstance(m, Epoch):
            self._epoch(m)
        elif isinstance(m, Done):
            self._done(m)

    def _start(self, m: Start) -> None:
        """The run's header: its name, the model, the data really used with train and test counts, warnings."""
        name = f"Run **{m.run_name}**: " if m.run_name else ""
        self.header = (f"{name}**{m.model}** ({m.mode}, learning rate {m.lr:g}) on **{m.dataset}** "
                       f"({', '.join(m.classes[:10])}{', ...' if len(m.classes) > 10 else ''}): "
                       f"**{m.n_train:,} training** and **{m.n_test:,} test** pictures, "
                       f"{m.trainable:,} of {m.params:,} parameters trainable, on {m.device}")
        self.warnings = list(m.warnings)
        self.line = "Starting..."

    def _done(self, m: Done) -> None:
        """The last line: why the run ended, and the kept checkpoint's test accuracy (with its interval)."""
        metrics = m.metrics
        acc = metrics.get("test_acc")
        self.line = (f"**{m.reason}** after {m.elapsed_s:.0f} s on {m.device}: {m.message}. "
                     + (accuracy_text(acc, metrics.get("n_test", m.n_test), metrics.get("test_acc_ci"),
                                      metrics.get("epoch")) if acc is not None else "No checkpoint."))

    def _step(self, m: Step) -> None:
        """The train-loss point and the progress line of one optimiser step."""
        self.steps.append({"step": m.step, "value": m.loss, "curve": "train loss"})
        eta = f", about {m.eta_s:.0f} s left" if m.eta_s is not None else ""
        self.line = (f"step {m.step}/{m.steps_total} ({100 * m.step / m.steps_total:.0f} %), "
                     f"loss {m.loss:.3f}, {m.images_per_s:.0f} images/s{eta}")

    def _epoch(self, m: Epoch) -> None:
        """Curves, confusion matrix and mistakes after an epoch's evaluation."""
        self.epochs += [{"epoch": m.epoch, "value": m.train_acc, "curve": "train"},
                        {"epoch": m.epoch, "value": m.test_acc, "curve": "test"}]
        self.steps.append({"step": m.step, "value": m.test_loss, "curve": "test loss"})
        self.matrix = m.confusion_matrix
        images, classes = self.data.test.images, self.data.classes
        self.wrong = [(image_file(images[i].permute(1, 2, 0).squeeze(-1).numpy()), f"{classes[t]} -> {classes[p]}")
                      for i, t, p in m.misclassified[:MAX_MISTAKES]]

    def text(self) -> str:
        """The progress area: the header, the current line, and every warning and note (as quoted blocks)."""
        warned = "\n".join(f"> **Note:** {w}  " for w in (*self.warnings, *self.notes))
        return "\n\n".join(part for part in (self.header, self.line, warned) if part)

    def outputs(self) -> tuple:
        """Progress text, curves figure, confusion figure, mistakes gallery and checkpoint files, in that order."""
        confusion = confusion_figure(self.matrix, self.data.classes) if self.matrix is not None else None
        return self.text(), curves_figure(self.steps, self.epochs), confusion, self.wrong, self.files


def accuracy_text(acc: float, n_test: int, ci: list[float] | None, epoch: int | None = None) -> str:
    """'Test accuracy 91.67 % on 12 test pictures (95 % interval 64-99 %)': the interval when the set is small."""
    at = f" (epoch {epoch})" if epoch else ""
    sure = (f" (95 % interval {100 * ci[0]:.0f}-{100 * ci[1]:.0f} %)" if ci and n_test < INTERVAL_UNDER else "")
    return f"Test accuracy{at} **{100 * acc:.2f} %** on {n_test:,} test pictures{sure}."
