"""Running one measurement in a fresh child process and reading back what it reports.

Each child prints one JSON line (its wall and CPU times and its own peak RSS) as the last line
of its stdout, so measurements never mix: RUSAGE_CHILDREN would be a max over all children,
and even RUSAGE_SELF in a child inherits the parent's peak (see `peak_rss_mb`).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ChildFailedError(RuntimeError):
    """A measurement child exited with an error."""


def run_child(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Run `python -m module args...` from the project root; its last stdout line as JSON."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise ChildFailedError(f"{module} {args} exited {done.returncode}:\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise ChildFailedError(f"{module} printed nothing; stderr:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    report["process_seconds"] = time.perf_counter() - started
    if done.stderr.strip():
        report["stderr_tail"] = done.stderr.strip().splitlines()[-10:]
    return report


def peak_rss_mb() -> float:
    """Peak resident memory of this process's own address space so far, in MiB.

    Read from VmHWM in /proc/self/status, not from `ru_maxrss`: on Linux a child's
    RUSAGE_SELF `ru_maxrss` starts at the parent's high-water mark (the kernel carries it
    over the vfork + exec that subprocess uses), so a child of a big parent would look big.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def emit(report: dict[str, Any]) -> None:
    """A child's last act: print its report as one JSON line."""
    print(json.dumps(report), flush=True)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(compute: Callable[[], T], repeat: int) -> tuple[T, dict[str, Any]]:
    """Run `compute` `repeat` times; the first result and timing stats.

    Peak RSS is read right after the first run (later runs only repeat it). Wall and CPU
    times are per run; `seconds` is the best wall time, the usual estimate of the intrinsic
    cost on a machine shared with other work.
    """
    import_mb = peak_rss_mb()
    walls, cpus, first = [], [], None
    for attempt in range(repeat):
        cpu, started = _cpu_seconds(), time.perf_counter()
        result = compute()
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu_seconds() - cpu)
        if attempt == 0:
            first, peak = result, peak_rss_mb()
        del result
    best = walls.index(min(walls))
    stats = {
        "seconds": walls[best],
        "cpu_seconds": cpus[best],
        "walls": walls,
        "peak_rss_mb": peak,
        "import_rss_mb": import_mb,
    }
    return first, stats  # type: ignore[return-value]
