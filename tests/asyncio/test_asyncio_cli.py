"""``python -m wirespeed connect URI`` and ``python -m wirespeed serve --echo HOST:PORT``."""

from __future__ import annotations

import io
import os
import pathlib
import signal
import subprocess
import sys

from asyncio_helpers import HOST, echo_server, run

from wirespeed.cli import interactive_client, main, show

SRC = str(pathlib.Path(__file__).resolve().parents[2] / "src")

#: ``python -m wirespeed serve --echo ADDRESS``, SIGINT handled as Python does by default.
SERVE_WITH_DEFAULT_SIGINT = (
    "import runpy, signal, sys; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['wirespeed', 'serve', '--echo', sys.argv[1]]; "
    "runpy.run_module('wirespeed', run_name='__main__', alter_sys=True)"
)


class Typist(io.StringIO):
    """Standard input that types ``lines``, then ends once ``done(stdout)`` is true."""

    def __init__(self, lines, stdout, done):
        super().__init__()
        self.lines = list(lines)
        self.stdout = stdout
        self.done = done

    def readline(self, *args):
        import time

        if self.lines:
            return self.lines.pop(0)
        deadline = time.monotonic() + 5
        while not self.done(self.stdout.getvalue()) and time.monotonic() < deadline:
            time.sleep(0.005)
        return ""


def test_interactive_client_sends_lines_and_prints_messages() -> None:
    async def main_() -> None:
        async with echo_server() as (_, uri):
            stdout = io.StringIO()
            stdin = Typist(["hello\n", "world\n"], stdout, lambda out: "< world" in out)
            status = await interactive_client(uri, stdin, stdout)
            assert status == 0
            lines = stdout.getvalue().splitlines()
            assert lines[0] == f"Connected to {uri}."
            assert lines[1:3] == ["< hello", "< world"]
            assert lines[-1] == "Connection closed: 1000."

    run(main_())


def test_interactive_client_stops_when_the_server_closes() -> None:
    async def handler(ws):
        await ws.send(b"\x01\x02")
        await ws.close(1001, "bye")

    class Blocking(io.StringIO):
        def readline(self, *args):
            import time

            time.sleep(0.5)
            return ""

    async def main_() -> None:
        async with echo_server(handler=handler) as (_, uri):
            stdout = io.StringIO()
            await interactive_client(uri, Blocking(), stdout)
            lines = stdout.getvalue().splitlines()
            assert lines[1] == "< (binary) 0102"
            assert lines[-1] == "Connection closed: 1001 bye."

    run(main_())


def test_interactive_client_reports_connection_failures() -> None:
    async def main_() -> None:
        stdout = io.StringIO()
        assert await interactive_client(f"ws://{HOST}:1/", io.StringIO(""), stdout) == 1
        assert stdout.getvalue().startswith("Failed to connect")

    run(main_())


def test_show() -> None:
    assert show("text") == "< text"
    assert show(b"\xff") == "< (binary) ff"


def test_bad_address() -> None:
    import pytest

    with pytest.raises(SystemExit):
        main(["serve", "--echo", "nowhere"])


def test_command_line_end_to_end() -> None:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    # ``python -m wirespeed serve --echo HOST:0``, with Ctrl-C's default
    # handling: a process started in the background by a non-interactive
    # shell (as CI may be) inherits SIGINT ignored, and then ignores Ctrl-C.
    server = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-c", SERVE_WITH_DEFAULT_SIGINT, f"{HOST}:0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = server.stdout.readline()
        assert banner.startswith(f"Serving echo on ws://{HOST}:")
        uri = banner.split()[3]
        client = subprocess.Popen(
            [sys.executable, "-m", "wirespeed", "connect", uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert client.stdout.readline() == f"Connected to {uri}.\n"
            client.stdin.write("ping me\n")
            client.stdin.flush()
            assert client.stdout.readline() == "< ping me\n"
            client.stdin.close()  # Ctrl-D
            assert client.wait(10) == 0
            assert client.stdout.read() == "Connection closed: 1000.\n"
        finally:
            if client.poll() is None:
                client.kill()
            client.stdout.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            try:
                returncode = server.wait(30)
            except subprocess.TimeoutExpired:
                # Show where it is stuck: faulthandler (-X faulthandler) dumps
                # every thread's stack to stderr on SIGABRT.
                server.send_signal(signal.SIGABRT)
                server.wait(10)
                raise
            assert returncode == 0
        finally:
            if server.poll() is None:
                server.kill()
            server.stdout.close()
