"""The README's results table and accuracy-vs-parameters chart, read from the shipped checkpoints' sidecars.

python scripts/results.py [--chart docs/accuracy_vs_params.png]   # prints the Markdown table
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = {"alexnet_cifar": 0.7508, "resnet18_cifar": 0.8298}  # the seed posts' CIFAR-10 test accuracies
DATASETS = {"cifar10": "CIFAR-10 (JPEG copy)", "mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def sidecars() -> list[dict]:
    """Every shipped checkpoint's sidecar, CIFAR-10 first, then by accuracy."""
    metas = [json.loads(p.read_text()) for p in sorted((ROOT / "checkpoints").glob("*.json"))]
    metas = [m for m in metas if "subset_acc" in m["metrics"]]  # shipped: finished by ship_checkpoint.py
    return sorted(metas, key=lambda m: (m["dataset"] != "cifar10", m["dataset"], -m["metrics"]["test_acc"]))


def table(metas: list[dict]) -> str:
    """Markdown rows: model, data, parameters, mult-adds, accuracy, seed figure, time, hardware, command."""
    head = ("| model | data set | parameters | mult-adds | test accuracy | seed | training time | hardware | command |\n"
            "|---|---|---:|---:|---:|---:|---:|---|---|")
    rows = [f"| {m['arch']} | {DATASETS.get(m['dataset'], m['dataset'])} | {m['parameters']:,} | {m['mult_adds']:,} "
            f"| {100 * m['metrics']['test_acc']:.2f} % | {_seed(m['arch'])} | {m['training_time_s']:.0f} s "
            f"| {m['hardware']} | `{m['command']}` |" for m in metas]
    return "\n".join([head, *rows])


def _seed(arch: str) -> str:
    """The seed document's figure for this model, if it has one."""
    return f"{100 * SEEDS[arch]:.2f} %" if arch in SEEDS else ""


def chart(metas: list[dict], path: Path) -> None:
    """Scatter of test accuracy against parameters (log scale), one colour per data set."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5), tight_layout=True)
    for dataset, label in DATASETS.items():
        ms = [m for m in metas if m["dataset"] == dataset]
        ax.scatter([m["parameters"] for m in ms], [100 * m["metrics"]["test_acc"] for m in ms], label=label, s=40)
        for m in ms:
            ax.annotate(m["arch"], (m["parameters"], 100 * m["metrics"]["test_acc"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
    for arch, acc in SEEDS.items():
        ax.axhline(100 * acc, ls=":", c="grey", lw=1)
        ax.annotate(f"seed {arch}: {100 * acc:.2f} %", (1e4, 100 * acc), fontsize=7, color="grey")
    ax.set(xscale="log", xlabel="parameters", ylabel="test accuracy (%)", title="Shipped checkpoints")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chart", default=str(ROOT / "docs" / "accuracy_vs_params.png"))
    args = parser.parse_args()
    metas = sidecars()
    chart(metas, Path(args.chart))
    print(table(metas))


if __name__ == "__main__":
    main()
