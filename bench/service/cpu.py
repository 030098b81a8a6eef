"""How much of the machine other work took during a case: the noise in a latency number.

Busy CPU time of the whole machine (/proc/stat) minus that of this run's own processes: this
process, its finished children (the load client, wrk), its live descendants (the servers and
their workers) and the daemons the CLI started for it (Redis, the Prefect server). What is
left was used by processes this run did not start.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable

import psutil

TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU-seconds the whole machine spent busy (not idle, not waiting on I/O) since boot."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS


def _process_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0  # exited meanwhile
    return times.user + times.system


def own_seconds(daemons: Iterable[int]) -> float:
    """CPU-seconds of this run's processes so far."""
    me = psutil.Process()
    total = _process_seconds(me)
    finished = resource.getrusage(resource.RUSAGE_CHILDREN)
    total += finished.ru_utime + finished.ru_stime
    total += sum(_process_seconds(child) for child in me.children(recursive=True))
    for pid in daemons:
        try:
            total += _process_seconds(psutil.Process(pid))
        except psutil.Error:
            continue
    return total


class OtherLoad:
    """Started before a case, read after it: cores' worth of CPU other processes used."""

    def __init__(self, daemons: Iterable[int]) -> None:
        self._daemons = list(daemons)
        self._busy = machine_busy_seconds()
        self._own = own_seconds(self._daemons)

    def cores(self, wall_seconds: float) -> float:
        busy = machine_busy_seconds() - self._busy
        own = own_seconds(self._daemons) - self._own
        return max(0.0, busy - own) / wall_seconds


def wait_quiet(daemons: list[int], max_seconds: float, threshold: float = 0.3) -> float:
    """Wait (up to `max_seconds`) until other processes use under `threshold` cores over 2 s;
    the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < max_seconds:
        sample, t0 = OtherLoad(daemons), time.perf_counter()
        time.sleep(2.0)
        if sample.cores(time.perf_counter() - t0) < threshold:
            break
    return time.perf_counter() - started
