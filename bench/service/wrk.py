"""Throughput with `wrk` (when it is on PATH): the same bodies, round-robin, from a Lua script.

wrk is used for requests/s and p50 only. Its percentiles are corrected for coordinated
omission, which over-reports rare pauses on this kind of machine (see shared/NOTES.md); the
closed-loop client gives the tails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

MARK = "WRKJSON "
SCRIPT = """\
local bodies = {%(bodies)s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, '
    .. '"p50_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency.max))
end
"""


def available() -> str | None:
    """`wrk --version`'s first line, or None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def write_script(bodies: list[str], path: Path) -> Path:
    """A Lua script that sends `bodies` round-robin and prints a JSON summary at the end."""
    if any("]]" in b for b in bodies):
        raise ValueError("a body contains ']]', which ends a Lua long string")
    quoted = ", ".join(f"[[{b}]]" for b in bodies)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT % {"bodies": quoted, "mark": MARK})
    return path


def run(url: str, script: Path, concurrency: int, seconds: float) -> dict[str, Any]:
    """One wrk run: requests/s, p50 and errors."""
    threads = min(2, concurrency)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith(MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(lines[-1].removeprefix(MARK))
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds_run,
        "p50_ms": raw["p50_us"] / 1e3,
        "max_ms": raw["max_us"] / 1e3,
        "errors": raw["non2xx"] + raw["socket_errors"],
    }
