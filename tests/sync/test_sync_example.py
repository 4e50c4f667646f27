"""The websocket-client program in examples/ runs unchanged on wirespeed.sync."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "websocket_client_program.py")


def run_example(*arguments: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(
        [sys.executable, EXAMPLE, *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    return result.stdout


def test_example_runs_on_wirespeed() -> None:
    output = run_example()
    assert "opened" in output
    assert "message: 'Hello, World'" in output
    assert "received: message 4" in output


def test_example_behaves_like_websocket_client() -> None:
    pytest.importorskip("websocket")
    assert run_example() == run_example("--websocket-client")
