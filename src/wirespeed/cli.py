"""Command-line interface: ``python -m wirespeed COMMAND``.

Commands:

* ``demo`` - start an echo server and a client on localhost, exchange messages
  of several sizes and print round-trip times and messages per second.
"""

from __future__ import annotations

import argparse
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m wirespeed", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="echo server and client on localhost, with figures")
    demo.add_argument(
        "--duration", type=float, default=0.5, help="seconds spent on each message size"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        import asyncio

        from .demo import run_demo

        asyncio.run(run_demo(args.duration))
    return 0
