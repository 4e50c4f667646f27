"""Micro-benchmark of the frame codec: frames parsed and serialized per second.

Runs each measurement twice, in child processes: once on the compiled core and
once on the pure-Python core (``WIRESPEED_NO_EXTENSIONS=1``), for 16 B, 1 KiB
and 64 KiB payloads, and prints one table with the ratio between the two.
When websockets is installed, its Sans-I/O frame parser is measured too, as a
point of comparison.

Usage::

    python bench/bench_frames.py [--seconds 0.5]

Each library parses with one reader for the whole measurement, as a connection
does. (A brand-new reader also pays for first touching its buffer's pages.)

This is a benchmark, not a test: it asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SIZES = [("16 B", 16), ("1 KiB", 1024), ("64 KiB", 65536)]


def measure(function, seconds: float) -> float:
    """Call ``function`` (which handles ``n`` items per call) for ``seconds``; return items/s."""
    items = function()  # warm up
    calls = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        function()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    return calls * items / (now - start)


def run_wirespeed(seconds: float) -> dict:
    import wirespeed
    from wirespeed._core.framing import FrameReader, serialize_frame

    results = {"compiled": wirespeed.COMPILED}
    for label, size in SIZES:
        payload = os.urandom(size)
        batch = max(1, min(1000, 2**20 // size))

        def serialize(payload=payload, batch=batch):
            for _ in range(batch):
                serialize_frame(2, payload, True, False, False, False, True)
            return batch

        # A batch of masked client frames, as a server receives them.
        stream = b"".join(
            serialize_frame(2, payload, True, False, False, False, True) for _ in range(batch)
        )

        # One reader for the whole measurement, as one connection has.
        reader = FrameReader(True, None, None)

        def parse(stream=stream, batch=batch, reader=reader):
            reader.feed(stream)
            count = 0
            while reader.next_frame() is not None:
                count += 1
            assert count == batch
            return batch

        results[label] = {
            "parse": measure(parse, seconds),
            "serialize": measure(serialize, seconds),
        }
    return results


def run_websockets(seconds: float) -> dict:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    results = {}
    for label, size in SIZES:
        payload = os.urandom(size)
        batch = max(1, min(1000, 2**20 // size))
        frame = Frame(Opcode.BINARY, payload)

        def serialize(frame=frame, batch=batch):
            for _ in range(batch):
                frame.serialize(mask=True)
            return batch

        stream = b"".join(frame.serialize(mask=True) for _ in range(batch))

        reader = StreamReader()

        def parse(stream=stream, batch=batch, reader=reader):
            reader.feed_data(stream)
            for _ in range(batch):
                parser = Frame.parse(reader.read_exact, mask=True)
                try:
                    next(parser)
                except StopIteration:
                    pass
            return batch

        results[label] = {
            "parse": measure(parse, seconds),
            "serialize": measure(serialize, seconds),
        }
    return results


def child(kind: str, seconds: float) -> None:
    results = run_websockets(seconds) if kind == "websockets" else run_wirespeed(seconds)
    print(json.dumps(results))


def spawn(kind: str, seconds: float, pure: bool) -> dict:
    env = dict(os.environ)
    env.pop("WIRESPEED_NO_EXTENSIONS", None)
    if pure:
        env["WIRESPEED_NO_EXTENSIONS"] = "1"
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--seconds", str(seconds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per measurement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds)
        return

    compiled = spawn("wirespeed", args.seconds, pure=False)
    pure = spawn("wirespeed", args.seconds, pure=True)
    if not compiled.pop("compiled"):
        print("warning: the compiled core is not built; the 'compiled' column is pure Python")
    pure.pop("compiled")
    try:
        peer = spawn("websockets", args.seconds, pure=False)
    except subprocess.CalledProcessError:
        peer = None

    header = f"{'payload':>8} {'operation':>10} {'compiled/s':>12} {'pure/s':>12} {'ratio':>7}"
    if peer:
        header += f" {'websockets/s':>13} {'vs ws':>7}"
    print(header)
    print("-" * len(header))
    for label, _ in SIZES:
        for operation in ("parse", "serialize"):
            fast = compiled[label][operation]
            slow = pure[label][operation]
            row = f"{label:>8} {operation:>10} {fast:>12,.0f} {slow:>12,.0f} {fast / slow:>6.1f}x"
            if peer:
                other = peer[label][operation]
                row += f" {other:>13,.0f} {fast / other:>6.1f}x"
            print(row)


if __name__ == "__main__":
    main()
