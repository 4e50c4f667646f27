#!/usr/bin/env python3
"""Run the Autobahn|Testsuite against wirespeed and summarize the results.

Usage::

    python compliance/run.py [--side server|client|both] [--testee sansio]
                             [--cases "1.*,2.*"] [--exclude "12.*,13.*"]
                             [--python-path src] [--timeout SECONDS] [--verbose]

Server side: a testee echo server is started on a free port of 127.0.0.1 and
``wstest -m fuzzingclient`` runs the cases against it. Client side:
``wstest -m fuzzingserver`` is started on a free port and a testee client runs
every case against it. Either way Autobahn writes its reports, ``index.json``
and one JSON and one HTML file per case, into
``compliance/reports/<testee>-<side>/``, along with the spec and the logs of
every process, and this script prints, per case group, how many cases got each
verdict, then every case that is not OK.

Autobahn|Testsuite (``wstest``) runs on Python 2.7. The interpreter is taken
from ``$WSTEST_PYTHON`` if set, else pyenv's 2.7.18 (``$PYENV_ROOT`` or
``~/.pyenv``), else ``python2.7`` on ``PATH``. The ``autobahntestsuite``
package is installed into it with pip, quietly, only when it cannot be
imported already.

Exit status: 0 when every case is OK (INFORMATIONAL counts as OK: Autobahn only
gives it to cases that have no right answer), 1 when some case is not,
2 when the suite could not run or produced no report.

This script uses the standard library only. Every process it starts is bounded
by a timeout and stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORTS = HERE / "reports"


class Testee(NamedTuple):
    """Scripts that put one face of wirespeed in front of Autobahn.

    The server script takes the port to listen on; the client script takes the
    port of the fuzzing server and the agent name to report under.
    """

    server: Path
    client: Path


#: Every testee this runner knows, by name. A new face needs one line here.
TESTEES: Dict[str, Testee] = {
    "sansio": Testee(HERE / "testees" / "sansio_server.py", HERE / "testees" / "sansio_client.py"),
    "listener": Testee(
        HERE / "testees" / "listener_server.py", HERE / "testees" / "listener_client.py"
    ),
    "sync": Testee(HERE / "testees" / "sync_server.py", HERE / "testees" / "sync_client.py"),
    "sync-app": Testee(
        HERE / "testees" / "sync_server.py", HERE / "testees" / "sync_app_client.py"
    ),
    "asyncio": Testee(
        HERE / "testees" / "asyncio_server.py", HERE / "testees" / "asyncio_client.py"
    ),
}

#: The Autobahn|Testsuite release this runner was written against.
AUTOBAHN_REQUIREMENT = "autobahntestsuite==25.10.1"
PYTHON2_VERSION = "2.7.18"

#: Groups run by default: all of them except 9 (performance, several minutes)
#: and 12-13 (permessage-deflate: every testee negotiates it, but the two
#: groups take ten minutes or more per side).
DEFAULT_CASES = "1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*"
DEFAULT_EXCLUDE = "12.*,13.*"

#: Options for Autobahn's side of each connection, all at the values that
#: Autobahn|Testsuite documents as its defaults. ``failByDrop`` decides how
#: *Autobahn* fails a connection when the testee misbehaves: ``false`` (the
#: testsuite's "spec conformance" setting) makes it send a close frame and wait
#: for the testee's answer, so the testee's closing handshake is judged too.
#: Timeouts inside a case are set by the case itself; the handshake timeouts
#: below bound the opening and closing handshakes of every case.
AUTOBAHN_OPTIONS = {
    "failByDrop": False,
    "openHandshakeTimeout": 5,
    "closeHandshakeTimeout": 1,
}

#: Verdicts in the order the summary shows them. Autobahn also uses
#: "WRONG CODE", "UNCLEAN" and "FAILED BY CLIENT" for ``behaviorClose``; they
#: are counted as OTHER.
VERDICTS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
ACCEPTABLE = ("OK", "INFORMATIONAL")

#: Seconds a process gets to exit after SIGTERM before it gets SIGKILL.
STOP_GRACE = 5.0
#: Seconds a server process gets to start listening.
START_TIMEOUT = 30.0
#: Seconds the pip install of autobahntestsuite may take.
INSTALL_TIMEOUT = 900.0


class RunError(Exception):
    """The suite could not be run to completion."""


# Python 2.7 and wstest


def find_python2() -> str:
    """Locate the Python 2.7 interpreter that runs wstest."""
    explicit = os.environ.get("WSTEST_PYTHON")
    if explicit:
        return explicit
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [pyenv_root / "versions" / PYTHON2_VERSION / "bin" / "python"]
    candidates += sorted((pyenv_root / "versions").glob("2.7.*/bin/python"), reverse=True)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    for name in ("python2.7", "python2"):
        found = shutil.which(name)
        if found:
            return found
    raise RunError(
        "no Python 2.7 interpreter found for Autobahn|Testsuite; "
        f"install it with `pyenv install {PYTHON2_VERSION}` or set WSTEST_PYTHON"
    )


def python2_env() -> Dict[str, str]:
    """Environment for Python 2.7 processes: no Python 3 paths, no warnings."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONWARNINGS"] = "ignore"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def wstest_importable(python2: str) -> bool:
    """Tell whether ``autobahntestsuite`` can be imported by ``python2``."""
    try:
        result = subprocess.run(
            [python2, "-c", "import autobahntestsuite.wstest"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=python2_env(),
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def ensure_wstest(python2: str, log_path: Path) -> List[str]:
    """Install autobahntestsuite if needed; return the command that runs wstest."""
    if not wstest_importable(python2):
        print(f"installing {AUTOBAHN_REQUIREMENT} for {python2} (log: {rel(log_path)})")
        command = [python2, "-m", "pip", "install", "--quiet", AUTOBAHN_REQUIREMENT]
        returncode = run_bounded(command, log_path, INSTALL_TIMEOUT, env=python2_env())
        if returncode != 0 or not wstest_importable(python2):
            raise RunError(f"installing autobahntestsuite failed:\n{tail(log_path)}")
    # The console script that pip installs next to the interpreter, run by that
    # interpreter so that its shebang doesn't matter; else the module itself.
    script = Path(python2).parent / "wstest"
    if script.is_file():
        return [python2, str(script)]
    return [python2, "-m", "autobahntestsuite.wstest"]


# Processes


def rel(path: Path) -> str:
    """Show ``path`` relative to the repository when it is inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def tail(path: Path, lines: int = 30) -> str:
    """Return the last lines of a log file, indented."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "    (no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def start(
    command: List[str], log_path: Path, *, env: Dict[str, str], cwd: Path
) -> subprocess.Popen:
    """Start ``command`` in the background, with its output going to ``log_path``."""
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )


def stop(process: subprocess.Popen) -> None:
    """Stop a process started by this script: SIGTERM, then SIGKILL, by PID."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_bounded(process: subprocess.Popen, timeout: float, label: str, log_path: Path) -> int:
    """Wait for ``process`` to exit, at most ``timeout`` seconds; stop it after that.

    Prints a progress line every minute with the number of lines in its log
    that announce a test case.
    """
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 60
    try:
        while True:
            try:
                return process.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if now >= deadline:
                raise RunError(f"{label} did not finish within {timeout:.0f}s:\n{tail(log_path)}")
            if now >= next_report:
                next_report = now + 60
                print(f"  ... {label}: {count_case_lines(log_path)} cases so far", flush=True)
    finally:
        stop(process)


def count_case_lines(log_path: Path) -> int:
    """Count the test cases a log reports as started."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return 0
    return sum(
        1
        for line in text.splitlines()
        if line.startswith("Running test case ID") or line.startswith("case ")
    )


def run_bounded(command: List[str], log_path: Path, timeout: float, *, env: Dict[str, str]) -> int:
    """Run ``command`` to completion, at most ``timeout`` seconds; return its status."""
    process = start(command, log_path, env=env, cwd=ROOT)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired as exc:
        raise RunError(f"{command[0]} did not finish within {timeout:.0f}s") from exc
    finally:
        stop(process)


def describe_status(returncode: int) -> str:
    """Describe a process exit status, naming the signal that killed it if any."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, label: str, log_path: Path) -> None:
    """Wait until something accepts connections on ``port`` of 127.0.0.1."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RunError(f"{label} exited with status {process.returncode}:\n{tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise RunError(f"{label} is not listening on port {port} after {START_TIMEOUT:.0f}s")


def wait_for_plan(process: subprocess.Popen, label: str, log_path: Path) -> int:
    """Wait until wstest says how many cases it will run; fail if there are none.

    wstest would otherwise wait forever for cases that don't exist.
    """
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        planned = planned_case_count(log_path)
        if planned == 0:
            raise RunError("no case matches the --cases patterns minus the --exclude patterns")
        if planned is not None:
            return planned
        if process.poll() is not None:
            raise RunError(f"{label} exited with status {process.returncode}:\n{tail(log_path)}")
        time.sleep(0.2)
    raise RunError(f"{label} did not announce its cases within {START_TIMEOUT:.0f}s")


# The two sides


class Run(NamedTuple):
    """What one side of the suite needs."""

    testee: str
    side: str
    cases: List[str]
    exclude: List[str]
    wstest: List[str]
    testee_env: Dict[str, str]
    timeout: float

    @property
    def agent(self) -> str:
        """Name of the testee in Autobahn's reports."""
        return f"wirespeed-{self.testee}"

    @property
    def report_dir(self) -> Path:
        """Directory of the spec, the logs and Autobahn's reports."""
        return REPORTS / f"{self.testee}-{self.side}"


def prepare_report_dir(run: Run) -> Path:
    """Empty the report directory of ``run`` and return it."""
    report_dir = run.report_dir
    if report_dir.exists():
        shutil.rmtree(report_dir)
    report_dir.mkdir(parents=True)
    return report_dir


def write_spec(path: Path, spec: dict) -> None:
    """Write a wstest spec file."""
    path.write_text(json.dumps(spec, indent=2) + "\n")


def run_server_side(run: Run) -> List[str]:
    """Run ``wstest -m fuzzingclient`` against the testee server.

    Returns the problems that make the run incomplete, if any; raises
    :class:`RunError` if there is no report at all.
    """
    report_dir = prepare_report_dir(run)
    port = free_port()
    spec = {
        "outdir": str(report_dir),
        "servers": [{"agent": run.agent, "url": f"ws://127.0.0.1:{port}"}],
        "cases": run.cases,
        "exclude-cases": run.exclude,
        "exclude-agent-cases": {},
        "options": AUTOBAHN_OPTIONS,
    }
    spec_path = report_dir / "fuzzingclient.json"
    write_spec(spec_path, spec)
    testee_log = report_dir / "testee.log"
    wstest_log = report_dir / "wstest.log"
    script = TESTEES[run.testee].server
    server = start(
        [sys.executable, str(script), str(port)], testee_log, env=run.testee_env, cwd=ROOT
    )
    try:
        wait_for_port(port, server, f"testee server {rel(script)}", testee_log)
        print(f"  testee server on port {port} (log: {rel(testee_log)})")
        print(f"  wstest -m fuzzingclient (log: {rel(wstest_log)})", flush=True)
        wstest = start(
            [*run.wstest, "-m", "fuzzingclient", "-s", str(spec_path)],
            wstest_log,
            env=python2_env(),
            cwd=report_dir,
        )
        wait_for_plan(wstest, "wstest fuzzingclient", wstest_log)
        status = wait_bounded(wstest, run.timeout, "wstest fuzzingclient", wstest_log)
        problems = []
        if server.poll() is not None:
            problems.append(
                f"the testee server died during the run ({describe_status(server.returncode)}):"
                f"\n{tail(testee_log)}"
            )
        if status != 0:
            raise RunError(f"wstest fuzzingclient exited with status {status}:\n{tail(wstest_log)}")
    finally:
        stop(server)
    return problems


def run_client_side(run: Run) -> List[str]:
    """Run the testee client against ``wstest -m fuzzingserver``.

    Returns the problems that make the run incomplete, if any; raises
    :class:`RunError` if there is no report at all.
    """
    report_dir = prepare_report_dir(run)
    port = free_port()
    spec = {
        "url": f"ws://127.0.0.1:{port}",
        "outdir": str(report_dir),
        "cases": run.cases,
        "exclude-cases": run.exclude,
        "exclude-agent-cases": {},
        "options": AUTOBAHN_OPTIONS,
    }
    spec_path = report_dir / "fuzzingserver.json"
    write_spec(spec_path, spec)
    testee_log = report_dir / "testee.log"
    wstest_log = report_dir / "wstest.log"
    script = TESTEES[run.testee].client
    server = start(
        [*run.wstest, "-m", "fuzzingserver", "-s", str(spec_path), "--webport", "0"],
        wstest_log,
        env=python2_env(),
        cwd=report_dir,
    )
    try:
        wait_for_port(port, server, "wstest fuzzingserver", wstest_log)
        wait_for_plan(server, "wstest fuzzingserver", wstest_log)
        print(f"  wstest -m fuzzingserver on port {port} (log: {rel(wstest_log)})")
        print(f"  testee client {rel(script)} (log: {rel(testee_log)})", flush=True)
        client = start(
            [sys.executable, str(script), str(port), run.agent],
            testee_log,
            env=run.testee_env,
            cwd=ROOT,
        )
        status = wait_bounded(client, run.timeout, "testee client", testee_log)
        problems = []
        if status != 0:
            problems.append(
                f"the testee client failed ({describe_status(status)}):\n{tail(testee_log)}"
            )
        if server.poll() is not None:
            problems.append(
                f"wstest fuzzingserver died during the run ({describe_status(server.returncode)})"
                f":\n{tail(wstest_log)}"
            )
    finally:
        stop(server)
    return problems


# Reports


def case_key(case_id: str) -> Tuple[int, ...]:
    """Sort key for case ids such as ``"6.4.10"``."""
    return tuple(int(part) for part in case_id.split("."))


def load_results(index_path: Path, agent: str) -> Dict[str, dict]:
    """Read Autobahn's ``index.json`` and return the results of ``agent`` by case id."""
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"no usable report at {rel(index_path)}: {exc}") from exc
    if agent not in index:
        raise RunError(f"{rel(index_path)} has no results for agent {agent!r}")
    return index[agent]


def planned_case_count(wstest_log: Path) -> Optional[int]:
    """Read how many cases wstest announced it would run, from its log."""
    try:
        text = wstest_log.read_text(errors="replace")
    except OSError:
        return None
    match = re.search(r"will run (\d+) test cases", text)
    return int(match.group(1)) if match else None


def verdict_column(verdict: str) -> str:
    """Column of the summary that counts ``verdict``."""
    return verdict if verdict in VERDICTS else "OTHER"


def summarize(results: Dict[str, dict], report_dir: Path, verbose: bool) -> bool:
    """Print per-group counts and the cases that are not OK; return whether all are."""
    columns = (*VERDICTS, "OTHER")
    short = {"NON-STRICT": "NONSTR", "INFORMATIONAL": "INFO", "UNIMPLEMENTED": "UNIMPL"}
    groups: Dict[str, Dict[str, Dict[str, int]]] = {}
    for case_id, result in results.items():
        group = groups.setdefault(
            case_id.split(".")[0],
            {field: dict.fromkeys(columns, 0) for field in ("behavior", "behaviorClose")},
        )
        for field in ("behavior", "behaviorClose"):
            group[field][verdict_column(result[field])] += 1

    width = 6
    block = len(columns) * (width + 1) - 1
    heads = " ".join(f"{short.get(c, c):>{width}}" for c in columns)
    print(f"\n  {'':11} | {'behavior':^{block}} | {'behaviorClose':^{block}}".rstrip())
    print(f"  {'group':>5} {'cases':>5} | {heads} | {heads}")
    totals = {field: dict.fromkeys(columns, 0) for field in ("behavior", "behaviorClose")}
    rows = [(group_id, groups[group_id]) for group_id in sorted(groups, key=int)]
    rows.append(("all", totals))
    for group_id, group in rows:
        if group is not totals:
            for field in ("behavior", "behaviorClose"):
                for column in columns:
                    totals[field][column] += group[field][column]
        size = sum(group["behavior"].values())
        cells = [
            " ".join(f"{group[field][c]:>{width}}" for c in columns)
            for field in ("behavior", "behaviorClose")
        ]
        print(f"  {group_id:>5} {size:>5} | {cells[0]} | {cells[1]}")

    informational = []
    failures = []
    for case_id in sorted(results, key=case_key):
        result = results[case_id]
        verdicts = (result["behavior"], result["behaviorClose"])
        if any(v not in ACCEPTABLE for v in verdicts):
            failures.append(case_id)
        elif "INFORMATIONAL" in verdicts:
            informational.append(case_id)

    if informational:
        print(f"\n  INFORMATIONAL (accepted, no right answer): {', '.join(informational)}")
    if not failures:
        print(f"\n  all {len(results)} cases OK")
        return True
    print(f"\n  {len(failures)} cases not OK:")
    for case_id in failures:
        result = results[case_id]
        print(
            f"    {case_id:<8} behavior={result['behavior']:<13} "
            f"behaviorClose={result['behaviorClose']:<16} "
            f"closeCode={result.get('remoteCloseCode')}"
        )
        details = case_details(report_dir / result["reportfile"])
        for key in ("result", "resultClose"):
            if details.get(key):
                print(f"             {key}: {details[key]}")
        if verbose:
            for key in ("description", "expectation", "expected", "received"):
                if key in details:
                    print(f"             {key}: {shorten(json.dumps(details[key]), 300)}")
        print(f"             report: {rel(report_dir / result['reportfile'])}")
    return False


def case_details(path: Path) -> dict:
    """Read the per-case JSON report of Autobahn, or nothing if it is missing."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, showing that it was cut."""
    return text if len(text) <= limit else text[: limit - 5] + " ..."


# Command line


def split_patterns(value: str) -> List[str]:
    """Turn ``"1.*, 2.*"`` into ``["1.*", "2.*"]``."""
    return [pattern.strip() for pattern in value.split(",") if pattern.strip()]


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Run Autobahn|Testsuite against a wirespeed testee and summarize the results."
    )
    parser.add_argument("--side", choices=("server", "client", "both"), default="both")
    parser.add_argument("--testee", choices=sorted(TESTEES), default="sansio")
    parser.add_argument(
        "--cases", default=DEFAULT_CASES, help=f"case patterns to run (default: {DEFAULT_CASES})"
    )
    parser.add_argument(
        "--exclude",
        default=DEFAULT_EXCLUDE,
        help=f"case patterns to leave out (default: {DEFAULT_EXCLUDE})",
    )
    parser.add_argument(
        "--python-path",
        default="src",
        help="directory put first on the testees' PYTHONPATH, relative to the repository "
        "(default: src)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds allowed for the cases of one side (default: 1800)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show expected and received events of failures"
    )
    return parser.parse_args(argv)


def testee_env(python_path: str) -> Dict[str, str]:
    """Environment of the testees: wirespeed's source directory first on PYTHONPATH."""
    env = dict(os.environ)
    directory = Path(python_path)
    if not directory.is_absolute():
        directory = ROOT / directory
    paths = [str(directory)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def main(argv: Optional[List[str]] = None) -> int:
    """Run the requested sides and return the exit status."""
    args = parse_args(argv)
    # Keep the progress lines in order with error messages when piped to a log.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sides = ("server", "client") if args.side == "both" else (args.side,)
    REPORTS.mkdir(parents=True, exist_ok=True)
    try:
        python2 = find_python2()
        wstest = ensure_wstest(python2, REPORTS / "install.log")
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    status = 0
    for side in sides:
        run = Run(
            testee=args.testee,
            side=side,
            cases=split_patterns(args.cases),
            exclude=split_patterns(args.exclude),
            wstest=wstest,
            testee_env=testee_env(args.python_path),
            timeout=args.timeout,
        )
        print(f"\n== {run.testee} testee, {side} side: cases {args.cases} except {args.exclude}")
        started = time.monotonic()
        try:
            runner = run_server_side if side == "server" else run_client_side
            problems = runner(run)
            results = load_results(run.report_dir / "index.json", run.agent)
        except RunError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        elapsed = time.monotonic() - started
        planned = planned_case_count(run.report_dir / "wstest.log")
        if planned is not None and len(results) < planned:
            problems.append(f"only {len(results)} of the {planned} cases have a result")
        if not results:
            problems.append("no case ran: check the patterns given to --cases and --exclude")
        ok = summarize(results, run.report_dir, args.verbose)
        print(f"\n  {side} side: {len(results)} cases in {elapsed:.1f}s")
        print(f"  reports: {rel(run.report_dir / 'index.html')}")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            status = 2
        elif not ok:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
