"""Starting a command: settings or one line per problem, the platforms, and the start-up
contracts every long-running command keeps (see bot/startup.py)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from types import ModuleType
from typing import Any, TypeVar

from bot.lifecycle import until_signalled
from bot.logs import configure_logging
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings, SettingsError, load_settings, meibel_problems
from bot.startup import PlatformRefused, PlatformUnreachable
from bot.store import StoreError

log = logging.getLogger(__name__)
STORE_UNUSABLE = "the conversation store cannot be used"
P = TypeVar("P")

# Each platform package has a `commands` module with:
#   def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None
#   async def check(report: bot.check.CheckReport) -> None
#   async def serve(runtime: bot.runtime.Runtime) -> None   (runs until cancelled)
#   def configured() -> bool                                   (its settings are present)
PLATFORM_MODULES: tuple[str, ...] = ("adapters.slack.commands", "adapters.discord.commands")


def platforms() -> list[ModuleType]:
    return [importlib.import_module(name) for name in PLATFORM_MODULES]


def fail(lines: Sequence[str], *, code: int = 2) -> int:
    """Print one line per problem on stderr; the exit code to return."""
    for line in lines:
        print(f"meibel-bot: {line}", file=sys.stderr)
    return code


def settings_or_exit() -> Settings:
    """Settings, or one clear line per problem on stderr and exit 2: never a traceback."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise SystemExit(fail(exc.problems)) from None


def secrets_of(settings: Settings) -> list[str]:
    return [settings.api_key, settings.redis_dsn or ""]


async def serve_until_stopped(settings: Settings, serve: Callable[[Runtime], Any]) -> int:
    """Run `serve(runtime)` until SIGTERM/SIGINT, keeping the start-up contracts: a refused
    credential or bad setting -> one line, exit 2; a platform or store out of reach ->
    one line, exit 1; anything unforeseen -> logged once with its traceback, exit 1."""
    try:
        async with open_runtime(settings) as runtime:
            await until_signalled(serve(runtime))
    except (SettingsError, PlatformRefused) as exc:
        return fail(exc.problems if isinstance(exc, SettingsError) else [exc.line])
    except PlatformUnreachable as exc:
        return fail([exc.line], code=1)
    except StoreError as exc:
        return fail([f"{STORE_UNUSABLE}: {exc}"], code=1)
    except Exception:
        log.exception("stopped by an unexpected error; a supervisor may restart the process")
        return 1
    return 0


async def run_platform(
    *,
    load: Callable[[], P],
    secrets: Callable[[P], Sequence[str]],
    serve: Callable[[Runtime, P], Coroutine[Any, Any, None]],
) -> int:
    """`meibel-bot slack` / `discord`: settings checked (one line per problem, exit 2),
    logging with every secret redacted, then the platform until SIGTERM drains it."""
    core = settings_or_exit()
    try:
        platform = load()
    except SettingsError as exc:
        return fail(exc.problems)
    if problems := meibel_problems(core):
        return fail(problems)
    configure_logging(core.log_level, secrets=[*secrets_of(core), *secrets(platform)])
    return await serve_until_stopped(core, lambda runtime: serve(runtime, platform))
