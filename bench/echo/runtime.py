"""Process-level helpers shared by the benchmark children: event loops, CPU
pinning, file-descriptor limits, and CPU time / RSS readings of any process."""

from __future__ import annotations

import asyncio
import glob
import os
import resource
import signal
import time


def new_loop(name: str) -> asyncio.AbstractEventLoop:
    """Create and install an event loop: ``asyncio`` (the default loop) or ``uvloop``."""
    if name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    elif name == "asyncio":
        loop = asyncio.new_event_loop()
    else:
        raise ValueError(f"unknown loop {name!r}")
    asyncio.set_event_loop(loop)
    return loop


def pin_to_cpu(cpu: int | None) -> None:
    """Restrict this process to one CPU (what ``taskset -c CPU`` does)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def set_priority(nice: int | None) -> None:
    """Best effort: run at ``nice`` (negative values need privileges; ignored otherwise)."""
    if nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError:
            pass


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def die_after(seconds: float) -> None:
    """Safety net: the kernel kills this process after ``seconds`` whatever happens."""
    signal.alarm(max(1, int(seconds + 0.999)))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) consumed so far by process ``pid``.

    Uses ``/proc/PID/task/*/schedstat`` (nanosecond resolution). Falls back to
    ``/proc/PID/stat`` (clock-tick resolution), then to ``time.process_time()``
    for this process.
    """
    total = 0
    found = False
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as file:
                total += int(file.read().split()[0])
            found = True
        except (OSError, ValueError, IndexError):
            pass
    if found and total > 0:
        return total / 1e9
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks
    except OSError:
        if pid == os.getpid():
            return time.process_time()
        raise


def rss_kib(pid: int) -> int:
    """Resident set size of process ``pid`` in KiB (``VmRSS`` from ``/proc/PID/status``)."""
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_jiffies() -> dict:
    """Per-CPU (busy, total) clock ticks since boot, from ``/proc/stat``."""
    times = {}
    try:
        with open("/proc/stat") as file:
            for line in file:
                name, *fields = line.split()
                if name.startswith("cpu") and name != "cpu":
                    values = [int(v) for v in fields[:8]]
                    idle = values[3] + values[4]  # idle + iowait
                    times[int(name[3:])] = (sum(values) - idle, sum(values))
    except OSError:
        pass
    return times


def busy_fractions(before: dict, after: dict) -> dict:
    """Fraction of time each CPU was busy between two ``cpu_jiffies()`` readings."""
    fractions = {}
    for cpu, (busy, total) in after.items():
        if cpu in before and total > before[cpu][1]:
            fractions[cpu] = (busy - before[cpu][0]) / (total - before[cpu][1])
    return fractions
