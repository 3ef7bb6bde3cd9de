"""How long `analytics-engine up` takes to an all-healthy stack, cold and warm (medians, seconds).

cold: a fresh data dir every run (initdb, every migration, catalog load, every process start).
warm: the same data dir again after a clean `down` (database and Redis files already there).
`up --detach` returns only once every component is SERVING and Envoy reports every cluster
healthy, so its wall time is the figure. `down` is timed too.

    python bench/up_time.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> float:
    """Run one analytics-engine command; its wall time in seconds. Fails loudly."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"`analytics-engine {' '.join(args)}` failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def up(data_dir: Path) -> float:
    return cli("up", "--detach", "--ports", "auto", "--data-dir", str(data_dir))


def down(data_dir: Path) -> float:
    return cli("down", "--data-dir", str(data_dir))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold: list[float] = []
    warm: list[float] = []
    stops: list[float] = []
    scratch = Path(tempfile.mkdtemp(prefix="ae-bench-up-"))
    try:
        for run in range(args.runs):
            data_dir = scratch / f"cold-{run}"
            cold.append(up(data_dir))
            stops.append(down(data_dir))
            print(f"cold run {run + 1}: {cold[-1]:.2f}s (down {stops[-1]:.2f}s)", flush=True)
        warm_dir = scratch / f"cold-{args.runs - 1}"
        for run in range(args.runs):
            warm.append(up(warm_dir))
            stops.append(down(warm_dir))
            print(f"warm run {run + 1}: {warm[-1]:.2f}s (down {stops[-1]:.2f}s)", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"up to all-healthy, median of {args.runs}: cold {statistics.median(cold):.2f}s, "
        f"warm {statistics.median(warm):.2f}s; down {statistics.median(stops):.2f}s"
    )


if __name__ == "__main__":
    main()
