"""``python -m lowrank``: the command-line interface (see lowrank.cli)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
