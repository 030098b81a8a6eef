"""Children of this benchmark: `bench.children.run_child`, with the benchmark's environment.

Each measurement runs in a fresh `python -m module` from the project root; its last stdout
line is its JSON report (see `bench.children.emit`). The environment points every fleetcast
store at the benchmark's workdir.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.children import PROJECT_ROOT, ChildFailedError

CHILD_TIMEOUT_S = 600.0


def run_child(module: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `python -m module args...` with `env`; its last stdout line as JSON."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                          check=False)  # fmt: skip
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
