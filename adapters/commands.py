"""The core's commands: check, chat, demo, dev-server, run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from adapters.terminal.chat import run_chat
from bot.check import CheckReport, mask
from bot.lifecycle import until_signalled
from bot.logs import configure_logging
from bot.meibel.client import MeibelClient
from bot.meibel.errors import MeibelAuthError, MeibelError
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings, SettingsError, meibel_problems
from bot.store import StoreError, open_store

P = TypeVar("P")
SubParsers = Any  # argparse._SubParsersAction is private; its type is not worth importing


def register_core(sub: SubParsers) -> None:
    from bot.devserver import add_arguments

    check = sub.add_parser("check", help="show the settings and test Meibel, the store, platforms")
    check.set_defaults(handler=cmd_check)
    chat = sub.add_parser("chat", help="talk to your Meibel agent in the terminal")
    chat.set_defaults(handler=cmd_chat)
    demo = sub.add_parser(
        "demo", help="the whole bot offline: a local Meibel stand-in and the terminal chat"
    )
    demo.set_defaults(handler=cmd_demo)
    dev = sub.add_parser("dev-server", help="run the local Meibel stand-in")
    add_arguments(dev)
    dev.set_defaults(handler=cmd_dev_server)
    run = sub.add_parser("run", help="run every configured platform in one process")
    run.set_defaults(handler=cmd_run)


def _settings(*, quiet: bool = False) -> Settings:
    """Settings and logging; `quiet` keeps INFO lines out of a terminal conversation
    unless LOG_LEVEL was set on purpose."""
    from adapters.cli import settings_or_exit

    settings = settings_or_exit()
    level = settings.log_level
    if quiet and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    configure_logging(level, secrets=_secrets(settings))
    return settings


def _secrets(settings: Settings) -> list[str]:
    return [settings.api_key, settings.redis_dsn or ""]


def fail(lines: Sequence[str], *, code: int = 2) -> int:
    """Print one line per problem on stderr; the exit code to return."""
    for line in lines:
        print(f"meibel-bot: {line}", file=sys.stderr)
    return code


def _require_meibel(settings: Settings) -> None:
    problems = meibel_problems(settings)
    if problems:
        fail([*problems, "`meibel-bot demo` runs without any of these."])
        raise SystemExit(2)


async def run_platform(
    *,
    load: Callable[[], P],
    secrets: Callable[[P], Sequence[str]],
    serve: Callable[[Runtime, P], Coroutine[Any, Any, None]],
) -> int:
    """`meibel-bot slack` / `discord`: settings checked (one line per problem, exit 2),
    logging with every secret redacted, then the platform until SIGTERM drains it."""
    from adapters.cli import settings_or_exit

    core = settings_or_exit()
    try:
        platform = load()
    except SettingsError as exc:
        return fail(exc.problems)
    if problems := meibel_problems(core):
        return fail(problems)
    configure_logging(
        core.log_level, secrets=[core.api_key, core.redis_dsn or "", *secrets(platform)]
    )
    try:
        async with open_runtime(core) as runtime:
            await until_signalled(serve(runtime, platform))
    except SettingsError as exc:  # found only once connected, e.g. a refused token
        return fail(exc.problems)
    except StoreError as exc:
        return fail([f"the conversation store cannot be used: {exc}"], code=1)
    return 0


async def cmd_chat(args: argparse.Namespace) -> int:
    settings = _settings(quiet=True)
    _require_meibel(settings)
    async with open_runtime(settings) as runtime:
        return await run_chat(runtime.pipeline, streaming=runtime.settings.streaming)


async def cmd_demo(args: argparse.Namespace) -> int:
    from bot.devserver import DevServer

    settings = _settings(quiet=True)
    async with DevServer(api_key="demo-key") as server:
        demo = settings.model_copy(
            update={
                "meibel_api_key": SecretStr("demo-key"),
                "meibel_base_url": server.base_url,
                "meibel_agent_id": None,
                "meibel_agent_name": "demo-agent",
                "redis_url": None,
                "agent_routes": "",
            }
        )
        print(
            f"meibel-bot demo: a local Meibel stand-in at {server.base_url}, "
            f"conversations kept in {demo.meibel_bot_db}. No credentials, no network.\n"
        )
        async with open_runtime(demo) as runtime:
            return await run_chat(runtime.pipeline, streaming=runtime.settings.streaming)


async def cmd_dev_server(args: argparse.Namespace) -> int:
    from bot.devserver import run_from_args

    configure_logging("INFO")
    return await run_from_args(args)


async def cmd_run(args: argparse.Namespace) -> int:
    from adapters.cli import platforms

    settings = _settings()
    _require_meibel(settings)
    active = [module for module in platforms() if module.configured()]
    if not active:
        print(
            "meibel-bot: no platform is configured: set SLACK_BOT_TOKEN (and "
            "SLACK_SIGNING_SECRET or SLACK_APP_TOKEN) or DISCORD_TOKEN. "
            "`meibel-bot check` shows what is missing.",
            file=sys.stderr,
        )
        return 2

    async def serve_all() -> None:
        async with open_runtime(settings) as runtime:
            await asyncio.gather(*(module.serve(runtime) for module in active))

    # SIGTERM cancels every platform at once; each drains its answers in flight.
    await until_signalled(serve_all())
    return 0


async def cmd_check(args: argparse.Namespace) -> int:
    from adapters.cli import platforms

    settings = _settings()
    report = CheckReport()
    report_settings(settings, report)
    await check_meibel(settings, report)
    await check_store(settings, report)
    modules = platforms()
    for module in modules:
        await module.check(report)
    if modules and not any(module.configured() for module in modules):
        report.warn("no chat platform is configured yet; `meibel-bot chat` works without one")
    print(report.render())
    print("\nAll needed settings are present." if not report.failed else "\nSome checks FAILED.")
    return 1 if report.failed else 0


def report_settings(settings: Settings, report: CheckReport) -> None:
    report.section("Settings")
    for name, value in settings.model_dump().items():
        if name == "meibel_api_key":
            shown = mask(settings.api_key)
        elif name == "redis_url":
            shown = _mask_url(settings.redis_dsn) if settings.redis_dsn else "(not set: embedded)"
        else:
            shown = repr(value) if value not in (None, "") else "(not set)"
        report.info(f"{name.upper()} = {shown}")
    for problem in meibel_problems(settings):
        report.fail(problem)


async def check_meibel(settings: Settings, report: CheckReport) -> None:
    report.section(f"Meibel at {settings.meibel_base_url}")
    if not settings.api_key:
        report.fail("not tried: MEIBEL_API_KEY is not set")
        return
    client = MeibelClient(
        base_url=settings.meibel_base_url, api_key=settings.api_key, timeout_seconds=10
    )
    try:
        await client.list_agents(limit=1)
        report.ok("reachable, and the API key is accepted")
        if settings.meibel_agent_id:
            await client.get_agent(settings.meibel_agent_id)
            report.ok(f"agent id {settings.meibel_agent_id} exists")
    except MeibelAuthError:
        report.fail("the API key was refused (401/403): check MEIBEL_API_KEY")
    except MeibelError as exc:
        report.fail(f"{exc.code}: {exc}")
    finally:
        await client.aclose()


async def check_store(settings: Settings, report: CheckReport) -> None:
    where = "Redis" if settings.redis_dsn else f"embedded store ({settings.meibel_bot_db})"
    report.section(f"Store: {where}")
    try:
        store = await open_store(redis_url=settings.redis_dsn, sqlite_path=settings.meibel_bot_db)
        try:
            await store.ping()
        finally:
            await store.aclose()
        report.ok("reachable and writable")
    except (StoreError, OSError) as exc:
        report.fail(f"cannot use the store: {exc}")


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
        return parts._replace(netloc=netloc).geturl()
    return url
