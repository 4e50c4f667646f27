"""Runs the benchmark plan: one server process and one client process per job,
started with the benchmark's own interpreter, pinned, bounded in time, and
stopped by PID."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from .runtime import busy_fractions, cpu_jiffies

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The working tree's wirespeed (built in place) is what the benchmark measures.
SOURCE_DIR = os.path.join(os.path.dirname(BENCH_DIR), "src")
SERVER_START_TIMEOUT = 30.0
STOP_GRACE = 3.0


@dataclass(frozen=True)
class Job:
    """One measurement: a client library on a loop against a server library on a loop."""

    mode: str  # "rtt", "concurrent" or "idle"
    client: str
    client_loop: str
    server: str
    server_loop: str

    def describe(self) -> str:
        return (
            f"{self.mode}: {self.client} client ({self.client_loop}) -> "
            f"{self.server} server ({self.server_loop})"
        )


@dataclass
class Settings:
    sizes: list
    warmup: float
    duration: float
    connections: int  # concurrent mode
    idle_connections: int
    pin: str  # "same", "split" or "none"
    cpu: int
    stand_in: bool  # run picows where the plan says wirespeed
    nice: int | None = None  # scheduling priority of both children
    windows: int = 5  # measured windows per size; the fastest is reported


class JobFailed(Exception):
    pass


def run_job(job: Job, settings: Settings) -> dict:
    """Run ``job``; return the client's result, or raise ``JobFailed``.

    The result also gets ``cpu_busy``: how busy each CPU was during the job (the
    pinned CPU should be ~1.0, the others ~0.0 on a quiet machine).
    """
    before = cpu_jiffies()
    result = _run_pair(job, settings)
    result["cpu_busy"] = busy_fractions(before, cpu_jiffies())
    return result


def _run_pair(job: Job, settings: Settings) -> dict:
    budget = _client_budget(job, settings)
    server_cpu, client_cpu = _cpus(settings)
    server = _start(
        ["server", "--lib", _actual(job.server, settings), "--loop", job.server_loop],
        server_cpu,
        timeout=budget + SERVER_START_TIMEOUT + 30,
        nice=settings.nice,
    )
    try:
        port, server_pid = _wait_ready(server)
        args = [
            "client",
            "--lib", _actual(job.client, settings),
            "--loop", job.client_loop,
            "--port", str(port),
            "--server-pid", str(server_pid),
            "--mode", job.mode,
            "--warmup", str(settings.warmup),
            "--duration", str(settings.duration),
            "--windows", str(settings.windows),
        ]  # fmt: skip
        if job.mode == "rtt":
            args += ["--sizes", ",".join(map(str, settings.sizes))]
        elif job.mode == "concurrent":
            args += ["--sizes", "256", "--connections", str(settings.connections)]
        else:
            args += ["--connections", str(settings.idle_connections)]
        return _run_client(args, client_cpu, budget, settings.nice)
    finally:
        _stop(server)


def _actual(lib: str, settings: Settings) -> str:
    return "picows" if lib == "wirespeed" and settings.stand_in else lib


def _cpus(settings: Settings):
    if settings.pin == "same":
        return settings.cpu, settings.cpu
    if settings.pin == "split":
        return settings.cpu, other_cpu(settings.cpu)
    return None, None


def other_cpu(cpu: int) -> int:
    """The CPU after ``cpu`` among those this process may use (wrapping around)."""
    allowed = sorted(os.sched_getaffinity(0))
    later = [c for c in allowed if c > cpu]
    return later[0] if later else allowed[0]


def _client_budget(job: Job, settings: Settings) -> float:
    per_size = 4 * settings.warmup + 4 * settings.duration + 2
    if job.mode == "rtt":
        return 30 + per_size * len(settings.sizes)
    if job.mode == "concurrent":
        return 30 + per_size
    return 60 + settings.idle_connections * 0.05


def _command(args: list, cpu, timeout: float, nice) -> list:
    command = [sys.executable, "-m", "echo.child", *args, "--timeout", str(round(timeout))]
    if nice is not None:
        command += ["--nice", str(nice)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    return command


def environment() -> dict:
    """Environment of every child: ``bench/`` and the repository's ``src/`` on the path."""
    env = dict(os.environ)
    paths = [BENCH_DIR]
    if os.path.isdir(os.path.join(SOURCE_DIR, "wirespeed")):
        paths.append(SOURCE_DIR)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*paths, env.get("PYTHONPATH")]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _start(args: list, cpu, timeout: float, nice) -> subprocess.Popen:
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in _stop)
    process = subprocess.Popen(
        _command(args, cpu, timeout, nice),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=environment(),
    )
    process.stderr_file = stderr  # type: ignore[attr-defined]
    return process


def _wait_ready(server: subprocess.Popen):
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([server.stdout], [], [], 0.2)
        if ready:
            line = server.stdout.readline()
            if line.startswith("READY "):
                _, port, pid = line.split()
                return int(port), int(pid)
            if not line:
                break
        elif server.poll() is not None:
            break
    raise JobFailed("server did not start: " + _stderr_tail(server))


def _run_client(args: list, cpu, budget: float, nice) -> dict:
    import json

    command = _command(args, cpu, budget + 10, nice)
    try:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=budget, env=environment()
        )
    except subprocess.TimeoutExpired as exc:
        raise JobFailed(f"client timed out after {budget:.0f} s") from exc
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = completed.stderr.strip().splitlines()[-3:]
    raise JobFailed(f"client failed (exit {completed.returncode}): " + " | ".join(tail))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.stdout.close()
    process.stderr_file.close()  # type: ignore[attr-defined]


def _stderr_tail(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        process.wait()
    file = process.stderr_file  # type: ignore[attr-defined]
    file.seek(0)
    lines = file.read().strip().splitlines()
    return " | ".join(lines[-3:]) or f"exit {process.returncode}"
