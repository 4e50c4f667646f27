"""Benchmark wirespeed's leaf primitives: payload masking and UTF-8 validation.

Prints throughput in GB/s (10**9 bytes per second) for:

* masking 16 B, 1 KiB, 64 KiB and 1 MiB payloads with the compiled and the
  pure-Python ``apply_mask``, the compiled ``mask_slice`` (reading out of a
  receive buffer) and ``mask_inplace``, and, when the ``websockets`` package
  is installed, its C ``apply_mask`` for comparison;
* validating ASCII and mixed-script UTF-8 text with the compiled and the
  pure-Python ``Utf8Validator``, next to CPython's ``bytes.decode`` for
  reference (which decodes, not only validates).

Run it from the repository after building the extensions::

    python setup.py build_ext --inplace
    python bench/bench_mask.py

``websockets`` is only a point of comparison (``pip install websockets``);
wirespeed never depends on it. This is a script, not a test.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import pathlib
import platform
import sys
import time
import timeit
from typing import Callable, Dict, List, Optional, Sequence, Tuple

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"

KIB = 1024
MIB = 1024 * KIB
MASK_SIZES = [("16 B", 16), ("1 KiB", KIB), ("64 KiB", 64 * KIB), ("1 MiB", MIB)]
KEY = b"\x9a\x3c\xe1\x07"

MIXED_TEXT = (
    "The quick brown fox jumps over the lazy dog. "
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. "
    "Съешь же ещё этих мягких французских булок, да выпей чаю. "
    "いろはにほへと ちりぬるを 色は匂へど 散りぬるを. "
    "Emoji: 🎉🚀✨ and some plain ASCII words to finish the line.\n"
)


def import_wirespeed():
    """Import wirespeed, from ``src/`` when it is not installed."""
    try:
        import wirespeed  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(SRC))
    import wirespeed._core.mask as mask
    import wirespeed._core.utf8 as utf8

    return mask, utf8


def load_pure(name: str):
    """Import ``wirespeed/_core/<name>.py`` itself, even when compiled."""
    import wirespeed._core

    path = pathlib.Path(wirespeed._core.__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_bench_pure_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_compiled(module) -> bool:
    return isinstance(module.__spec__.loader, importlib.machinery.ExtensionFileLoader)


def throughput(
    statement: str, namespace: Dict[str, object], nbytes: int, min_time: float, repeat: int
) -> float:
    """Best throughput, in GB/s, of ``statement`` processing ``nbytes`` per run.

    The number of runs per measurement grows until one measurement lasts at
    least ``min_time`` seconds; the best of ``repeat`` measurements counts.
    """
    timer = timeit.Timer(statement, globals=namespace, timer=time.perf_counter)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_time:
            break
        number = max(number * 2, int(number * min_time / max(elapsed, 1e-9) * 1.2))
    best = min([elapsed, *timer.repeat(repeat=repeat - 1, number=number)])
    return nbytes * number / best / 1e9


def print_table(title: str, columns: Sequence[str], rows: List[Tuple[str, List[str]]]) -> None:
    first = max(len(title), *(len(name) for name, _ in rows))
    widths = [max(9, len(column)) for column in columns]
    header = title.ljust(first) + "".join(f"  {c:>{w}}" for c, w in zip(columns, widths))
    print(header)
    print("-" * len(header))
    for name, cells in rows:
        print(name.ljust(first) + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths)))
    print()


def gbps(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def bench_masking(compiled, pure, min_time: float, repeat: int) -> None:
    functions: List[Tuple[str, Optional[Callable], str]] = []
    if compiled is not None:
        functions += [
            ("wirespeed apply_mask (C)", compiled.apply_mask, "f(data, key)"),
            ("wirespeed mask_slice (C)", compiled.mask_slice, "f(buffer, 1, size + 1, key, 3)"),
            ("wirespeed mask_inplace (C)", compiled.mask_inplace, "f(buffer, 1, size + 1, key, 3)"),
        ]
    functions.append(("wirespeed apply_mask (pure)", pure.apply_mask, "f(data, key)"))
    try:
        from websockets.speedups import apply_mask as websockets_apply_mask
    except ImportError:
        functions.append(("websockets apply_mask (C)", None, ""))
    else:
        functions.append(("websockets apply_mask (C)", websockets_apply_mask, "f(data, key)"))

    rows = []
    for name, function, statement in functions:
        cells = []
        for _, size in MASK_SIZES:
            if function is None:
                cells.append("n/a")
                continue
            data = os.urandom(size)
            namespace = {
                "f": function,
                "data": data,
                "key": KEY,
                "size": size,
                "buffer": bytearray(b"\x00" + data + b"\x00" * 7),
            }
            cells.append(gbps(throughput(statement, namespace, size, min_time, repeat)))
        rows.append((name, cells))
    print_table("Masking, GB/s", [label for label, _ in MASK_SIZES], rows)


def text_payload(text: str, size: int) -> bytes:
    """``text`` repeated to about ``size`` bytes of UTF-8, cut between characters."""
    encoded = text.encode()
    data = encoded * (size // len(encoded) + 1)
    cut = size
    while cut < len(data) and (data[cut] & 0xC0) == 0x80:
        cut += 1
    return data[:cut]


def bench_utf8(compiled, pure, min_time: float, repeat: int) -> None:
    payloads = [
        ("ASCII 1 KiB", text_payload("The quick brown fox jumps over the lazy dog. ", KIB)),
        ("ASCII 1 MiB", text_payload("The quick brown fox jumps over the lazy dog. ", MIB)),
        ("mixed 1 KiB", text_payload(MIXED_TEXT, KIB)),
        ("mixed 1 MiB", text_payload(MIXED_TEXT, MIB)),
    ]
    for _, data in payloads:
        data.decode()  # valid, or the benchmark is meaningless

    validators = []
    if compiled is not None:
        validators.append(("wirespeed Utf8Validator (C)", compiled.Utf8Validator()))
    validators.append(("wirespeed Utf8Validator (pure)", pure.Utf8Validator()))

    rows = []
    for name, validator in validators:
        cells = []
        for _, data in payloads:
            namespace = {"feed": validator.feed, "finish": validator.finish, "data": data}
            speed = throughput("feed(data); finish()", namespace, len(data), min_time, repeat)
            cells.append(gbps(speed))
        rows.append((name, cells))
    cells = []
    for _, data in payloads:
        speed = throughput("data.decode('utf-8')", {"data": data}, len(data), min_time, repeat)
        cells.append(gbps(speed))
    rows.append(("bytes.decode (reference)", cells))
    print_table("UTF-8 validation, GB/s", [label for label, _ in payloads], rows)
    print(f"mixed text: {MIXED_TEXT.strip()!r}")
    print()


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.2,
        help="seconds per measurement (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="measurements, best counts (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    active_mask, active_utf8 = import_wirespeed()
    pure_mask, pure_utf8 = load_pure("mask"), load_pure("utf8")
    compiled_mask = active_mask if is_compiled(active_mask) else None
    compiled_utf8 = active_utf8 if is_compiled(active_utf8) else None

    try:
        import websockets

        websockets_version = websockets.__version__
    except ImportError:
        websockets_version = "not installed"
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {platform.system()}"
    )
    print(
        f"wirespeed compiled: mask={compiled_mask is not None}, "
        f"utf8={compiled_utf8 is not None}; websockets: {websockets_version}"
    )
    print(f"best of {args.repeat} measurements of >= {args.min_time} s each; GB/s = 10**9 B/s")
    print()

    bench_masking(compiled_mask, pure_mask, args.min_time, args.repeat)
    bench_utf8(compiled_utf8, pure_utf8, args.min_time, args.repeat)


if __name__ == "__main__":
    main()
