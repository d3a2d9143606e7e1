"""The ``skae`` command line: ``skae demo`` and ``skae plugins``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .exceptions import PluginError


def _plugins(args: argparse.Namespace) -> int:
    """List every name that works; report each broken plugin or clash on stderr."""
    from . import _plugins

    rows = [("kind", "name", "distribution", "version", "description")]
    problems = []
    for hook_name, (_, kind) in _plugins.HOOKS.items():
        table = _plugins.table(hook_name, installed=True)
        problems += [p for p in table.failures if p not in problems]
        problems += table.clashes.values()
        for name, entry in sorted(table.entries.items()):
            if name in table.clashes:
                continue
            provider = entry.provider
            rows.append(
                (
                    kind,
                    name,
                    provider.distribution,
                    provider.version,
                    entry.spec.description,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    for problem in problems:
        print(f"skae: error: {problem.message}", file=sys.stderr)
    return 1 if problems else 0


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.main(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skae`` command."""
    parser = argparse.ArgumentParser(
        prog="skae", description="scikit-learn autoencoders on PyTorch."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="train the classic autoencoders and save pictures"
    )
    from . import demo

    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=_demo)
    plugins_parser = commands.add_parser(
        "plugins", help="list registered architectures and noise schemes"
    )
    plugins_parser.set_defaults(run=_plugins)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``skae`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except PluginError as exc:
        print(f"skae: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
