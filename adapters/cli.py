"""`meibel-bot`: the command line, the one place that wires the core to every adapter."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from types import ModuleType
from typing import Any

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

# Each platform package has a `commands` module with:
#   def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None
#   async def check(report: bot.check.CheckReport) -> None
#   async def serve(runtime: bot.runtime.Runtime) -> None   (runs until cancelled)
#   def configured() -> bool                                   (its settings are present)
PLATFORM_MODULES: tuple[str, ...] = ("adapters.slack.commands", "adapters.discord.commands")

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def platforms() -> list[ModuleType]:
    return [importlib.import_module(name) for name in PLATFORM_MODULES]


def settings_or_exit() -> Settings:
    """Settings, or one clear line per problem on stderr and exit 2: never a traceback."""
    try:
        return load_settings()
    except SettingsError as exc:
        for line in exc.problems:
            print(f"meibel-bot: {line}", file=sys.stderr)
        raise SystemExit(2) from None


def build_parser() -> argparse.ArgumentParser:
    from adapters.commands import register_core

    parser = argparse.ArgumentParser(
        prog="meibel-bot", description="Meibel AI agents in Slack, Discord and the terminal."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_core(sub)
    for module in platforms():
        module.register(sub)
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
        for line in exc.problems:
            print(f"meibel-bot: {line}", file=sys.stderr)
        return 2
    finally:
        logging.shutdown()


__all__ = ["configure_logging", "main", "platforms", "settings_or_exit"]

if __name__ == "__main__":
    raise SystemExit(main())
