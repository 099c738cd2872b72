"""A classroom at once: N users x M explain requests (predict + feature maps + Grad-CAM) against the running app.

Starts `python app.py` on a free port (or uses --url), drives it with gradio_client, one Client (session) per
user, and reports throughput, p50/p95 latency, errors (a full queue counted apart) and the server's resident
memory before and after.  Goal: zero failures, memory back within 10 % of its warmed-up value.

python bench/load.py [--users 32] [--requests 10] [--model efficientnet_lite0]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ENDPOINTS = ("/predict", "/feature_maps", "/attribute")


@dataclass
class Tally:
    """Latencies per endpoint and per whole request, and the errors seen."""

    calls: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in ENDPOINTS})
    requests: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS line")


def start_server(port: int, log: Path) -> subprocess.Popen:
    """python app.py on port, logging to log; returns once it answers."""
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=REPO, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT)
    end = time.monotonic() + 180
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited; see {log}")
            time.sleep(0.5)
    raise RuntimeError("the app did not start within 180 s")


def explain_once(client, image, model: str, tally: Tally) -> None:
    """One user request as the Explain button makes it: three calls in a row."""
    from gradio_client import handle_file

    start = time.perf_counter()
    args = {"/predict": (model,), "/feature_maps": (model, ""),
            "/attribute": (model, "gradcam", "", "", 0.5, False)}
    try:
        for endpoint in ENDPOINTS:
            t0 = time.perf_counter()
            client.predict(handle_file(str(image)), *args[endpoint], api_name=endpoint)
            tally.calls[endpoint].append(time.perf_counter() - t0)
    except Exception as err:  # noqa: BLE001 - counted and reported
        tally.errors.append(f"{type(err).__name__}: {err}")
        return
    tally.requests.append(time.perf_counter() - start)


def user(url: str, images: list[Path], model: str, n: int, offset: int, tally: Tally) -> None:
    """One student: their own session, n explain requests over the example photos."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    for i in range(n):
        explain_once(client, images[(offset + i) % len(images)], model, tally)


def pct(values: list[float], q: float) -> float:
    """The q-quantile of values (0 when empty)."""
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else values[0]


def report(tally: Tally, wall: float, args, rss: dict[str, float]) -> None:
    """Print the results table and whether the goals were met."""
    done = len(tally.requests)
    print(f"users {args.users} x requests {args.requests} on {args.model} (each request = predict + "
          f"feature_maps + attribute/Grad-CAM), wall {wall:.1f} s")
    print(f"throughput: {done / wall:.2f} requests/s ({sum(map(len, tally.calls.values())) / wall:.2f} calls/s)")
    print(f"request latency: p50 {pct(tally.requests, .5):.2f} s, p95 {pct(tally.requests, .95):.2f} s")
    for endpoint, values in tally.calls.items():
        print(f"  {endpoint:14s} p50 {pct(values, .5):.2f} s, p95 {pct(values, .95):.2f} s ({len(values)} calls)")
    queue_full = sum("queue is full" in e.lower() for e in tally.errors)
    print(f"errors: {len(tally.errors)} ({queue_full} 'queue is full' messages)")
    for message in sorted(set(tally.errors))[:5]:
        print(f"  {message[:200]}")
    growth = 100 * (rss["after"] - rss["warm"]) / rss["warm"]
    print(f"server RSS: cold {rss['cold']:.0f} MB, warmed up {rss['warm']:.0f} MB, peak seen {rss['peak']:.0f} MB, "
          f"after {rss['after']:.0f} MB ({growth:+.1f} % vs warmed up)")
    print(f"goals: zero failures {'MET' if not tally.errors else 'MISSED'}; memory within 10 % "
          f"{'MET' if abs(growth) <= 10 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10, help="explain requests per user")
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to wait before the 'after' memory")
    args = parser.parse_args()
    from cnndemo.examples import example_files

    images = example_files(Path(tempfile.mkdtemp(prefix="cnndemo-load-")))
    port, log = free_port(), Path(tempfile.gettempdir()) / "cnndemo-load-server.log"
    server = start_server(port, log)
    url = f"http://127.0.0.1:{port}/"
    try:
        from gradio_client import Client

        rss = {"cold": rss_mb(server.pid)}
        warm = Tally()
        for image in images:  # load the model and run every endpoint once before measuring
            explain_once(Client(url, verbose=False), image, args.model, warm)
        rss["warm"] = rss["peak"] = rss_mb(server.pid)
        tally, start = Tally(), time.perf_counter()
        with ThreadPoolExecutor(args.users) as pool:
            futures = [pool.submit(user, url, images, args.model, args.requests, u, tally) for u in range(args.users)]
            while not all(f.done() for f in futures):
                rss["peak"] = max(rss["peak"], rss_mb(server.pid))
                time.sleep(0.5)
            for f in futures:
                f.result()
        wall = time.perf_counter() - start
        time.sleep(args.settle)
        rss["after"] = rss_mb(server.pid)
        report(tally, wall, args, rss)
        print(f"server log (one JSON line per request): {log}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
