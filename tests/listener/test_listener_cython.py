"""The Cython listener example (examples/cython_echo_client.pyx), built and run."""

from __future__ import annotations

import importlib
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest
from listener_helpers import Recorder, run, serving

import wirespeed
import wirespeed._core.transport

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "cython_echo_client.pyx"


def build_example(tmp_path: pathlib.Path, name: str):
    """Cythonize and compile the example as module ``name`` in ``tmp_path``; import it."""
    pytest.importorskip("Cython")
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip("no C compiler")
    shutil.copy(EXAMPLE, tmp_path / f"{name}.pyx")
    src_dir = pathlib.Path(wirespeed.__file__).resolve().parents[1]
    (tmp_path / "setup.py").write_text(
        textwrap.dedent(
            f"""
            from setuptools import setup
            from Cython.Build import cythonize
            setup(ext_modules=cythonize("{name}.pyx", include_path=[{str(src_dir)!r}], quiet=True))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.compiled_only
@pytest.mark.skipif(
    not wirespeed.COMPILED or wirespeed._implementation.extensions_disabled(),
    reason="the example cimports the compiled listener types; the pure-Python path has none",
)
def test_cython_echo_client(tmp_path):
    module = build_example(tmp_path, "wirespeed_example_cython_echo_client")
    # The listener is a subclass of the compiled WSListener.
    assert issubclass(module.EchoClientListener, wirespeed.WSListener)

    async def main():
        async with serving(lambda: Recorder(echo=True)) as srv:
            for size, rounds in ((0, 5), (256, 200), (70000, 20), (1_000_000, 3)):
                round_trips = await module.run_echo(srv.url, size, rounds)
                assert len(round_trips) == rounds
                assert all(0 <= rtt < 2 for rtt in round_trips)
            # The server saw the close the example sends when done.
            assert all(listener.close_code() == 1000 for listener in srv.listeners)

    run(main(), timeout=30)


def test_example_source_cimports_the_listener_types():
    source = EXAMPLE.read_text()
    assert "from wirespeed._core.transport cimport WSFrame, WSListener, WSTransport" in source
    pxd = pathlib.Path(wirespeed._core.transport.__file__).with_name("transport.pxd")
    if pxd.exists():
        text = pxd.read_text()
        for name in ("cdef class WSFrame", "cdef class WSListener", "cdef class WSTransport"):
            assert name in text
