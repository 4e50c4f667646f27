"""websockets' quick-start programs run on wirespeed.asyncio with only the import changed.

The programs in examples/asyncio/ import from ``wirespeed.asyncio``. Each test
runs them as written, and again with that import pointed at websockets, and
checks that both versions behave the same against the same peers.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from typing import Dict, Iterator, List, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples", "asyncio")

#: Where websockets keeps each name the examples import from wirespeed.asyncio.
WEBSOCKETS_MODULE = {
    "serve": "websockets.asyncio.server",
    "broadcast": "websockets.asyncio.server",
    "connect": "websockets.asyncio.client",
}

LIBRARIES = ["wirespeed", "websockets"]


def program_source(name: str, library: str) -> str:
    """The example's source, with its ``wirespeed.asyncio`` import moved to ``library``."""
    with open(os.path.join(EXAMPLES, name), encoding="utf-8") as file:
        source = file.read()
    imports = re.findall(r"^from wirespeed\.asyncio import (.+)$", source, re.MULTILINE)
    assert len(imports) == 1, "each example imports from wirespeed.asyncio once"
    if library == "wirespeed":
        return source
    names = [name.strip() for name in imports[0].split(",")]
    replacement = "\n".join(f"from {WEBSOCKETS_MODULE[name]} import {name}" for name in names)
    changed = source.replace(f"from wirespeed.asyncio import {imports[0]}", replacement)
    assert "import wirespeed" not in changed and "from wirespeed" not in changed
    return changed


def child_environment() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def write_program(tmp_path, name: str, library: str) -> str:
    path = tmp_path / f"{library}_{name}"
    path.write_text(program_source(name, library), encoding="utf-8")
    return str(path)


def start_server(path: str) -> Tuple[subprocess.Popen, str]:
    """Start an example server on a free port; return the process and its URI."""
    server = subprocess.Popen(
        [sys.executable, path, "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_environment(),
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    match = re.match(r"listening on (ws://\S+)", line)
    if match is None:
        server.kill()
        _, errors = server.communicate(timeout=10)
        pytest.fail(f"the example server did not start: {line!r} {errors}")
    return server, match.group(1)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()


@pytest.fixture
def servers(tmp_path) -> Iterator[List[subprocess.Popen]]:
    started: List[subprocess.Popen] = []
    yield started
    for server in started:
        stop(server)


def run_client(path: str, uri: str) -> str:
    result = subprocess.run(
        [sys.executable, path, uri],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("server_library", LIBRARIES)
def test_echo_server_and_client(tmp_path, servers, server_library: str) -> None:
    pytest.importorskip("websockets.asyncio.server")
    server, uri = start_server(write_program(tmp_path, "echo_server.py", server_library))
    servers.append(server)
    outputs = {
        library: run_client(write_program(tmp_path, "client.py", library), uri)
        for library in LIBRARIES
    }
    assert outputs["wirespeed"] == outputs["websockets"]
    assert outputs["wirespeed"].splitlines() == [
        "text: Hello!",
        "binary: b'\\x00\\x01\\x02'",
        "fragmented: fragmented",
        "ping answered: True",
        "closed with code 1000",
    ]


async def chat_room(uri: str) -> List[List[str]]:
    """Three members join one by one; each says something; collect what they hear."""
    from wirespeed.asyncio import connect

    members = []
    heard: List[List[str]] = [[], [], []]
    for index in range(3):
        member = await connect(uri)
        members.append(member)
        # Every member present hears the arrival announcement.
        for listener in range(index + 1):
            heard[listener].append(await asyncio.wait_for(members[listener].recv(), 10))
    for index, member in enumerate(members):
        await member.send(f"member {index} speaking")
        for listener in range(3):
            heard[listener].append(await asyncio.wait_for(members[listener].recv(), 10))
    for member in members:
        await member.close()
    return heard


@pytest.mark.parametrize("server_library", LIBRARIES)
def test_broadcast_server(tmp_path, servers, server_library: str) -> None:
    pytest.importorskip("websockets.asyncio.server")
    server, uri = start_server(write_program(tmp_path, "broadcast_server.py", server_library))
    servers.append(server)
    heard = asyncio.run(chat_room(uri))
    speeches = [f"member {index} speaking" for index in range(3)]
    assert heard[0] == ["1 in the room", "2 in the room", "3 in the room", *speeches]
    assert heard[1] == ["2 in the room", "3 in the room", *speeches]
    assert heard[2] == ["3 in the room", *speeches]
