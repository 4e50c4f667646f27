"""Side-by-side WebSocket echo benchmark: wirespeed against picows, websockets,
aiohttp and websocket-client, with a raw TCP ceiling.

Prints, in one run:

* round trips per second on ONE connection for each message size, with the CPU
  microseconds the client process and the server process each spend per round
  trip, for every client library against a fixed server (picows), and for every
  server library against a fixed client (picows), on the default asyncio loop
  and on uvloop; each row as a ratio to picows (same run) and to the ceiling;
* the ceiling: a raw asyncio TCP echo (length-prefixed) of the same sizes;
* 100 concurrent connections x 256 B (messages/s in total) for each server;
* the RSS each server process spends per idle connection (1,000 connections).

Client and server are separate processes pinned to the SAME CPU (see README.md).

Usage::

    python bench/bench_echo.py                     # about 5 minutes
    python bench/bench_echo.py --runs 2 --json out.json
    python bench/bench_echo.py --quick             # smoke run, 1-2 minutes

Peers come from the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from echo import registry, report
from echo.driver import JobFailed, Settings, environment, other_cpu, run_job
from echo.plan import CEILING, REFERENCE, build_plan, jobs_of

DEFAULT_SIZES = "256,8192,100000,1000000"
BUSY_WARNING = 0.15


def main(argv: list | None = None) -> int:
    args = _parse(argv)
    if args.quick:
        args.duration, args.warmup = min(args.duration, 0.3), min(args.warmup, 0.1)
        args.idle_connections = min(args.idle_connections, 200)
    settings = Settings(
        sizes=[int(s) for s in args.sizes.split(",") if s],
        warmup=args.warmup,
        duration=args.duration,
        connections=args.connections,
        idle_connections=args.idle_connections,
        pin=args.pin,
        cpu=args.cpu,
        stand_in=False,
        nice=args.nice,
        windows=args.windows,
    )
    notes: list = []
    loops, clients, servers = _select(args, settings, notes)
    peer_loop = args.peer_loop if args.peer_loop in loops else loops[0]
    ceilings = [CEILING] + ([CEILING + "/aiofastnet"] if _importable("aiofastnet") else [])
    sections = [s for s in args.sections.split(",") if s]
    rows = build_plan(loops, peer_loop, clients, servers, sections, ceilings)
    jobs = jobs_of(rows)

    meta = _meta(args, settings, loops, peer_loop)
    print(_header(meta, notes), flush=True)
    started = time.monotonic()
    runs, problems = _run_all(jobs, settings, args.runs)
    elapsed = time.monotonic() - started

    records = report.records(rows, runs, peer_loop, settings.sizes)
    if settings.stand_in:
        for record in records:
            if record["lib"] == "wirespeed":
                record["lib"] = "wirespeed*"
    print(_tables(records, settings, peer_loop, args.runs))
    print(f"\n{len(jobs)} jobs x {args.runs} run(s) in {elapsed:.0f} s.")
    print(_load_note(runs, settings))
    if problems:
        print("\nProblems:")
        for problem in problems:
            print("  " + problem)
    if args.json:
        _write_json(args.json, meta, notes, problems, records, runs)
        print(f"JSON written to {args.json}")
    return 1 if problems else 0


def _select(args, settings: Settings, notes: list):
    """Loops, client libraries and server libraries to measure; missing ones noted."""
    loops = [loop for loop in args.loops.split(",") if loop]
    if "uvloop" in loops and not _importable("uvloop"):
        notes.append("uvloop is not installed: uvloop rows skipped")
        loops.remove("uvloop")
    if not loops:
        raise SystemExit("no event loop to measure")
    if not _importable("picows"):
        raise SystemExit("picows (the reference) is missing: pip install -e '.[bench]'")
    clients = _libs(args.clients, registry.CLIENTS)
    servers = _libs(args.servers, registry.SERVERS)
    for name in sorted(set(clients + servers) - {"wirespeed", "picows"}):
        if not _importable(registry.IMPORT_NAMES[name]):
            notes.append(f"{name} is not installed: its rows are skipped")
            clients = [c for c in clients if c != name]
            servers = [s for s in servers if s != name]
    if "wirespeed" in clients + servers and not _importable("wirespeed", "ws_connect"):
        if args.wirespeed_stand_in:
            settings.stand_in = True
            notes.append(
                "* wirespeed's listener face is not importable: the wirespeed rows run "
                "picows (a stand-in, to validate the harness; expect x picows ~ 1.00)"
            )
        else:
            notes.append("wirespeed's listener face is not importable: wirespeed rows skipped")
            clients = [c for c in clients if c != "wirespeed"]
            servers = [s for s in servers if s != "wirespeed"]
    return loops, clients, servers


def _run_all(jobs: list, settings: Settings, runs: int):
    """Run every job ``runs`` times; return one {job: result or None} per run, and problems."""
    results, problems = [], []
    for run_index in range(runs):
        run = {}
        # Alternate the order, so slow drift of the machine doesn't favour one side.
        ordered = jobs if run_index % 2 == 0 else jobs[::-1]
        for number, job in enumerate(ordered, 1):
            _progress(f"run {run_index + 1}/{runs} job {number}/{len(jobs)}: {job.describe()}")
            try:
                run[job] = run_job(job, settings)
            except JobFailed as exc:
                problems.append(f"run {run_index + 1}: {job.describe()}: {exc}")
                run[job] = None
        results.append(run)
    _progress("")
    return results, problems


def _write_json(path: str, meta, notes, problems, records, runs) -> None:
    document = {
        "meta": meta,
        "notes": notes,
        "problems": problems,
        "records": records,
        "runs": [
            [{"job": job.__dict__, "result": result} for job, result in run.items()] for run in runs
        ],
    }
    with open(path, "w") as file:
        json.dump(document, file, indent=1)


def _load_note(runs: list, settings: Settings) -> str:
    """How much of the pinned CPU the benchmark got, and how busy the other CPUs were."""
    shares, reported, busy = [], [], []
    for run in runs:
        for job, result in run.items():
            if not result:
                continue
            for entry in result.get("sizes", [result]):
                if "windows" in entry:
                    shares += [window["cpu_share"] for window in entry["windows"]]
                    reported.append(entry["cpu_share"])
            others = [v for cpu, v in result["cpu_busy"].items() if cpu not in _pinned(settings)]
            if others:
                busy.append((max(others), job))
    lines = []
    if shares and settings.pin == "same":
        lines.append(
            f"CPU share (client + server CPU time / wall time, ~100% on a quiet CPU): "
            f"all windows median {statistics.median(shares):.0%}, min {min(shares):.0%}; "
            f"reported (fastest) windows median {statistics.median(reported):.0%}, "
            f"min {min(reported):.0%}."
        )
    if busy:
        busy.sort(key=lambda item: item[0])
        noisy = sum(1 for value, _ in busy if value > BUSY_WARNING)
        lines.append(
            f"Other CPUs' load during jobs: median {busy[len(busy) // 2][0]:.0%}, "
            f"max {busy[-1][0]:.0%}."
        )
        if noisy:
            lines.append(
                f"WARNING: {noisy} of {len(busy)} jobs ran while another CPU was more than "
                f"{BUSY_WARNING:.0%} busy: the machine was shared, so rates are noisy (a low "
                "CPU share means time went to other processes); 'x picows cpu' is the "
                "steadier comparison. Rerun on a quiet machine, or read the spread over --runs."
            )
    return "\n".join(lines)


def _pinned(settings: Settings) -> set:
    if settings.pin == "same":
        return {settings.cpu}
    if settings.pin == "split":
        return {settings.cpu, other_cpu(settings.cpu)}
    return set()


def _tables(records: list, settings: Settings, peer_loop: str, runs: int) -> str:
    spread = " Values: median (min-max) over runs." if runs > 1 else ""
    parts = []
    if any(r["table"] == "ceiling" for r in records):
        parts += [
            f"\nCEILING: raw asyncio TCP echo, 4-byte length prefix (/aiofastnet: on the "
            f"transports picows uses). x ceiling divides by the raw-tcp {peer_loop} row of "
            f"the same size and run.{spread}",
            report.render_rtt(records, "ceiling", "ceiling"),
        ]
    if any(r["table"] == "client" for r in records):
        parts += [
            f"\nCLIENT SIDE: each client against the same server, {REFERENCE} on "
            f"{peer_loop}, one connection. x picows: vs the picows client on the same "
            f"loop (websocket-client, which has no loop: vs picows on {peer_loop}); "
            "x picows cpu: picows's CPU per round trip (both processes) / this row's.",
            report.render_rtt(records, "client", "client"),
        ]
    if any(r["table"] == "server" for r in records):
        parts += [
            f"\nSERVER SIDE: each server against the same client, {REFERENCE} on "
            f"{peer_loop}, one connection. x picows: vs the picows server on the same loop; "
            "x picows cpu: picows's CPU per round trip (both processes) / this row's.",
            report.render_rtt(records, "server", "server"),
        ]
    if any(r["table"] == "concurrent" for r in records):
        parts += [
            f"\nCONCURRENT: {settings.connections} connections x 256 B, one message in "
            f"flight on each, from one {REFERENCE} client process on {peer_loop}; total "
            f"messages/s.",
            report.render_concurrent(records),
        ]
    if any(r["table"] == "idle" for r in records):
        parts += [
            f"\nIDLE MEMORY: server RSS growth per connection while holding "
            f"{settings.idle_connections} idle connections (opened by a {REFERENCE} "
            f"client on {peer_loop}). Lower is better; x picows = KiB ratio.",
            report.render_idle(records),
        ]
    return "\n".join(parts)


def _meta(args, settings: Settings, loops: list, peer_loop: str) -> dict:
    versions = {}
    for name in ("wirespeed", "picows", "websockets", "aiohttp", "websocket-client", "uvloop"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {_cpu_model()}",
        "versions": versions,
        "wirespeed_build": _wirespeed_build(),
        "sizes": settings.sizes,
        "warmup": settings.warmup,
        "duration": settings.duration,
        "runs": args.runs,
        "loops": loops,
        "peer_loop": peer_loop,
        "pin": settings.pin if settings.pin == "none" else f"{settings.pin} (cpu {args.cpu})",
        "stand_in": settings.stand_in,
    }


def _header(meta: dict, notes: list) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    lines = [
        f"wirespeed echo benchmark  {meta['date']}",
        f"  Python {meta['python']} on {meta['machine']}",
        f"  {versions}",
        f"  wirespeed: {meta['wirespeed_build']}",
        f"  sizes {meta['sizes']}, {meta['warmup']} s warm-up + {meta['duration']} s per "
        f"size, {meta['runs']} run(s), loops {meta['loops']}, pinning: {meta['pin']}",
        "  us/rt = CPU microseconds (user + system) that process spends per round trip.",
    ]
    return "\n".join(lines + [f"  {note}" for note in notes])


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _wirespeed_build() -> str:
    code = "import wirespeed; print(wirespeed.__file__, getattr(wirespeed, 'COMPILED', '?'))"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=30,
            env=environment(),
        )
    except subprocess.TimeoutExpired:
        return "import timed out"
    if out.returncode:
        return "not importable"
    path, compiled = out.stdout.split()
    return f"{os.path.dirname(path)}, compiled: {compiled}"


def _importable(module: str, attribute: str | None = None) -> bool:
    code = f"import {module}" + (f"; {module}.{attribute}" if attribute else "")
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=60, env=environment()
        )
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0


def _libs(text: str, known: list) -> list:
    chosen = [name for name in text.split(",") if name] if text else list(known)
    unknown = set(chosen) - set(known)
    if unknown:
        raise SystemExit(f"unknown libraries: {', '.join(sorted(unknown))}")
    return chosen


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + message[:150])
        sys.stderr.flush()
    elif message:
        sys.stderr.write(message + "\n")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="message sizes in bytes")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds measured per size")
    parser.add_argument("--warmup", type=float, default=0.5, help="warm-up seconds per size")
    parser.add_argument("--loops", default="asyncio,uvloop", help="event loops to compare")
    parser.add_argument("--peer-loop", default="uvloop", help="loop of the fixed peer")
    parser.add_argument(
        "--windows", type=int, default=5, help="split each measurement; report the fastest"
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat everything; median + spread")
    parser.add_argument("--clients", default="", help="subset of: " + ",".join(registry.CLIENTS))
    parser.add_argument("--servers", default="", help="subset of: " + ",".join(registry.SERVERS))
    parser.add_argument(
        "--sections", default="rtt,concurrent,idle", help="any of rtt,concurrent,idle"
    )
    parser.add_argument("--connections", type=int, default=100, help="concurrent connections")
    parser.add_argument("--idle-connections", type=int, default=1000)
    parser.add_argument(
        "--pin",
        choices=["same", "split", "none"],
        default="same",
        help="same: both processes on --cpu (default); split: server on --cpu, client on "
        "the next CPU; none: no pinning",
    )
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument(
        "--nice",
        type=int,
        default=None,
        help="nice value of the benchmark processes, e.g. -10 on a shared machine "
        "(negative values need root; ignored otherwise)",
    )
    parser.add_argument(
        "--wirespeed-stand-in",
        action="store_true",
        help="if wirespeed's listener face is missing, run picows in its rows",
    )
    parser.add_argument("--quick", action="store_true", help="short smoke run (1-2 minutes)")
    parser.add_argument("--json", metavar="FILE", help="also write all results as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
