"""The `aidemed` command. Each sub-command lives in its own module with a `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from aidemed import __version__

# One module per top-level command group; each defines register(subparsers).
COMMAND_MODULES = (
    "aidemed.cli.data",
    "aidemed.cli.reports",
    "aidemed.cli.evaluate",
    "aidemed.cli.train",
    "aidemed.cli.pretrain",
    "aidemed.cli.train_cls",
    "aidemed.cli.bench",
    "aidemed.cli.demo",
    "aidemed.cli.audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aidemed",
        description="Train medical image models when expert labels are scarce, noisy or uncertain.",
    )
    parser.add_argument("--version", action="version", version=f"aidemed {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from aidemed.data.io import DataError
    from aidemed.engine.checkpoint import CheckpointError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (DataError, CheckpointError, ValueError) as exc:
        # Bad inputs and bad options end with one clear line; AIDEMED_DEBUG=1 shows the traceback.
        if os.environ.get("AIDEMED_DEBUG"):
            raise
        print(f"aidemed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aidemed: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
