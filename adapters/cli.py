"""`meibel-bot`: the command line, the one place that wires the core to every adapter."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from adapters import commands
from adapters.feedback_command import register_feedback
from adapters.launch import fail, platforms
from bot.settings import SettingsError

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
DESCRIPTION = """Meibel AI agents in Slack, Discord and the terminal.

Settings come from the environment first, then `.env` in the working directory; every
setting is described in .env.example. `meibel-bot COMMAND --help` says what a command does
and which settings it reads."""


def package_version() -> str:
    try:
        return version("meibel-bot")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meibel-bot",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"meibel-bot {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The README's order: try it, talk to it, check it, then the platforms, then the rest.
    commands.register_demo(sub)
    commands.register_chat(sub)
    commands.register_check(sub)
    for module in platforms():
        module.register(sub)
    commands.register_run(sub)
    commands.register_dev_server(sub)
    register_feedback(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.handler
    try:
        return asyncio.run(command(args))
    except KeyboardInterrupt:
        return 130
    except SettingsError as exc:
        return fail(exc.problems)
    finally:
        logging.shutdown()


if __name__ == "__main__":
    sys.exit(main())
