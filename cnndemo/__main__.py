"""Command line: `cnndemo serve` (the web app), `cnndemo train ...`, `eval ...` and `export ...` (also as
`python -m cnndemo ...`; the app's code path)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import MISSING, fields
from typing import TYPE_CHECKING

from .errors import BadInputError

if TYPE_CHECKING:  # the trainer (torch) is imported only by the commands that need it
    from .train.messages import Message, Step

# TrainConfig fields whose default is None, with the type a command-line value converts to
_OPTIONAL_TYPES = {"time_budget_s": float, "image_size": int, "data_root": str, "limit_per_class": int,
                   "test_limit_per_class": int, "threads": int, "lr": float}
_ALIASES = {"time_budget_s": ["--time-budget"]}


def _train_parser(sub) -> None:
    """One flag per TrainConfig field, so the command line and the config never drift apart."""
    from .train import TrainConfig

    p = sub.add_parser("train", help="train or fine-tune a model; writes <out>.safetensors + <out>.json")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        if isinstance(default, bool):
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default)
        else:
            kind = _OPTIONAL_TYPES.get(f.name, type(default))
            p.add_argument(flag, *_ALIASES.get(f.name, []), dest=f.name, type=kind, default=default,
                           metavar=f.name.upper())


def _eval_parser(sub) -> None:
    """Flags of `eval`."""
    p = sub.add_parser("eval", help="evaluate a cnndemo checkpoint on a test split")
    p.add_argument("--checkpoint", required=True, help="path to a cnndemo .safetensors checkpoint")
    p.add_argument("--dataset", default=None, help="built-in name or archive path (default: the checkpoint's)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--limit-per-class", type=int, default=None, help="evaluate on the first n test images per class")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")


def _serve_parser(sub) -> None:
    """Flags of `serve`: app.py's options (host and port, from Gradio's environment variables by default)."""
    p = sub.add_parser("serve", help="start the web app (as app.py does)")
    p.add_argument("--host", default=None, help="address to listen on (default: GRADIO_SERVER_NAME or 127.0.0.1; "
                   "0.0.0.0 for a classroom network)")
    p.add_argument("--port", type=int, default=None, help="port (default: GRADIO_SERVER_PORT or 7860)")


def _export_parser(sub) -> None:
    """Flags of `export`."""
    p = sub.add_parser("export", help="write a cnndemo checkpoint as ONNX (<stem>.onnx beside it)")
    p.add_argument("--checkpoint", required=True, help="path to a cnndemo .safetensors checkpoint")


class _Progress:
    """A progress bar over the run's steps (tqdm when installed, plain lines otherwise)."""

    def __init__(self) -> None:
        try:
            from tqdm import tqdm
            self.bar_cls = tqdm
        except ImportError:
            self.bar_cls = None
        self.bar = None
        self.last = 0

    def step(self, m: Step) -> None:
        if self.bar is None and self.bar_cls:
            self.bar = self.bar_cls(total=m.steps_total, unit="step", dynamic_ncols=True, file=sys.stdout)
        info = f"epoch {m.epoch} loss {m.loss:.4f} lr {m.lr:.2e} {m.images_per_s:.0f} img/s"
        if self.bar is not None:
            self.bar.update(m.step - self.last)
            self.bar.set_postfix_str(info, refresh=False)
        elif m.step % 50 == 0 or m.step == m.steps_total:
            eta = f" eta {m.eta_s:.0f}s" if m.eta_s is not None else ""
            print(f"[{m.step}/{m.steps_total}] {info}{eta}", flush=True)
        self.last = m.step

    def write(self, text: str) -> None:
        (self.bar.write if self.bar is not None else print)(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _cancel_on_ctrl_c(stop: threading.Event) -> None:
    """First Ctrl-C asks the run to stop after this step (keeping its checkpoint); a second one aborts."""
    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this step (Ctrl-C again to abort)", file=sys.stderr, flush=True)
    signal.signal(signal.SIGINT, handler)


def _print_message(m: Message, progress: _Progress) -> None:
    """Show one trainer message."""
    from .train.messages import Epoch, Start, Status, Step

    if isinstance(m, Step):
        progress.step(m)
    elif isinstance(m, Epoch):
        lo, hi = m.test_acc_ci
        progress.write(f"epoch {m.epoch}: train loss {m.train_loss:.4f} acc {m.train_acc:.2%} | "
                       f"test loss {m.test_loss:.4f} acc {m.test_acc:.2%} (95 % interval {lo:.1%}-{hi:.1%} "
                       f"on {m.n_test}) | {m.elapsed_s:.1f}s")
    elif isinstance(m, Start):
        progress.write(f"training {m.model} ({m.mode}, lr {m.lr:g}) on {m.n_train} images, testing on "
                       f"{m.n_test}; {m.trainable:,} of {m.params:,} parameters trainable; device: {m.device}")
        for warning in m.warnings:
            progress.write(f"warning: {warning}")
    elif isinstance(m, Status):
        progress.write(m.message)


def run_train(args: argparse.Namespace) -> int:
    """Run the trainer with a progress bar; exit status 0 unless the run failed."""
    from .train import TrainConfig, train

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    stop = threading.Event()
    _cancel_on_ctrl_c(stop)
    progress = _Progress()
    main_rank = os.environ.get("RANK", "0") == "0"  # under torchrun only rank 0 prints
    for m in train(config, stop=stop):
        if main_rank:
            _print_message(m, progress)
    if not main_rank:
        return 0
    progress.close()
    done, metrics = m, m.metrics  # the trainer's last message is always its Done
    if metrics.get("test_acc") is None:
        print(f"{done.reason}: no checkpoint written")
    else:
        lo, hi = metrics["test_acc_ci"]
        print(f"{done.reason}: {done.message}; test accuracy of the kept checkpoint {metrics['test_acc']:.2%} "
              f"(95 % interval {lo:.1%}-{hi:.1%} on {metrics['n_test']} test images)")
    if done.checkpoint:
        print(f"checkpoint: {done.checkpoint} ({done.elapsed_s:.1f}s on {done.device})")
    return 1 if done.reason == "oom" else 0


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint and print accuracy, per-class accuracy and the confusion matrix."""
    from .train import evaluate_checkpoint

    r = evaluate_checkpoint(args.checkpoint, args.dataset, data_root=args.data_root,
                            limit_per_class=args.limit_per_class, batch_size=args.batch_size, device=args.device)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['arch']} on {r['dataset']} test split ({r['n']} images): accuracy {r['accuracy']:.2%}, "
          f"loss {r['loss']:.4f}")
    width = max(len(c) for c in r["classes"])
    for c, a, row in zip(r["classes"], r["per_class_accuracy"], r["confusion_matrix"]):
        print(f"  {c:>{width}}  {a:7.2%}  " + " ".join(f"{v:5d}" for v in row))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export a checkpoint to ONNX beside it and say where."""
    from .export import export_checkpoint

    print(f"onnx: {export_checkpoint(args.checkpoint)}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    """Serve the web app until stopped."""
    from .ui.app import serve  # gradio is imported only when the app is asked for

    serve(args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cnndemo` command and `python -m cnndemo`."""
    parser = argparse.ArgumentParser(prog="cnndemo", description="cnndemo: serve the app; train, evaluate and "
                                     "export CNNs")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _train_parser(sub)
    _eval_parser(sub)
    _export_parser(sub)
    args = parser.parse_args(argv)
    try:
        commands = {"serve": run_serve, "train": run_train, "eval": run_eval, "export": run_export}
        return commands[args.command](args)
    except BadInputError as e:  # a user's mistake: say what is wrong, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
