"""The `smsbatch-bot` command line: the app by default, and its subcommands.

Each subcommand lives in its own module exposing `add_arguments(parser)` and
`run(args) -> int`; modules are imported only when their command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from bot.errors import ConfigError, StoreError

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bot.cli.run", "start the Slack app and its sender worker (the default)"),
    "check": ("bot.cli.check", "check a CSV file and print the preview, touching no network"),
    "simulator": ("bot.cli.simulator", "serve a local stand-in for the BulkSMS EAPI"),
    "audit": ("bot.cli.audit", "print or verify the audit log"),
    "health": ("bot.cli.health", "exit 0 when the database opens and the sender is alive"),
    "restore": ("bot.cli.restore", "restore the database from a Litestream replica, made safe"),
    "report": ("bot.cli.report", "print the delivery state of every message of a batch"),
    "optout": ("bot.cli.optout", "add, remove, list or import numbers of the suppression list"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser; only the `chosen` command's module is imported for its options.

    `check` must not pay for (or depend on) the Slack libraries that `run` imports.
    """
    parser = argparse.ArgumentParser(
        prog="smsbatch-bot", description="Send approved SMS batches from Slack."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; configuration problems end in one readable line and exit code 2."""
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] not in (*SUBCOMMANDS, "-h", "--help"):
        words = ["run", *words]  # `smsbatch-bot --host 127.0.0.1` is `run --host 127.0.0.1`
    name = words[0] if words[0] in SUBCOMMANDS else "run"
    args = build_parser(name).parse_args(words)
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        code: int = module.run(args)
    except (ConfigError, StoreError) as exc:
        # Set-up problems (a variable, the database file): one line, never a traceback.
        print(f"smsbatch-bot {name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`audit | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code
