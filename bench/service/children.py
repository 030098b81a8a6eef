"""Children of this benchmark: `bench.children.run_child`, with the benchmark's environment.

Each measurement runs in a fresh `python -m module` from the project root; its last stdout
line is its JSON report (see `bench.children.emit`). The environment points every fleetcast
store at the benchmark's workdir.
"""

from __future__ import annotations

from typing import Any

from bench import children

CHILD_TIMEOUT_S = 600.0


def run_child(module: str, *args: str, env: dict[str, str]) -> dict[str, Any]:
    """Run `python -m module args...` with `env`, bounded by CHILD_TIMEOUT_S."""
    return children.run_child(module, *args, env=env, timeout=CHILD_TIMEOUT_S)
