"""Command-line interface: ``lowrank`` / ``python -m lowrank``.

Sub-commands
------------
demo
    The package's main job on a small scale (see ``lowrank.demo``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lowrank", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="mean-field prediction against finite-N simulation")
    demo.add_argument("--out", default="figures/out", help="folder for the figure and the JSON (default: figures/out)")
    demo.add_argument("--neurons", type=int, default=4000, help="network size N (default: 4000)")
    demo.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import pitchfork_demo

        pitchfork_demo(out_dir=args.out, N=args.neurons, seed=args.seed)
    return 0
