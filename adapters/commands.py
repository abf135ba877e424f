"""The core's commands: check, chat, demo, dev-server, run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from adapters.launch import (
    STORE_UNUSABLE,
    fail,
    platforms,
    secrets_of,
    serve_until_stopped,
    settings_or_exit,
)
from adapters.terminal.chat import run_chat
from bot.check import CheckReport, as_written, mask, need
from bot.logs import configure_logging
from bot.meibel.client import MeibelClient
from bot.meibel.errors import MeibelAuthError, MeibelError, MeibelNotFound
from bot.meibel.retry import RetryPolicy
from bot.runtime import Runtime, open_runtime
from bot.settings import Settings, meibel_problems
from bot.store import StoreError, open_store

SubParsers = Any  # argparse._SubParsersAction is private; its type is not worth importing
Register = Callable[[SubParsers], None]

CHECK_HELP = """Show every setting (secrets masked, values as you wrote them) and test each
service: Meibel (the API key and the agent), the conversation store and each configured
platform. Exits 1 when anything needed fails.

Reads: MEIBEL_API_KEY, MEIBEL_BASE_URL, MEIBEL_AGENT_ID or MEIBEL_AGENT_NAME, AGENT_ROUTES,
REDIS_URL or MEIBEL_BOT_DB, and the SLACK_* and DISCORD_* settings (see .env.example)."""
CHAT_HELP = """Talk to your Meibel agent in the terminal. Type a question; a number asks a
follow-up, a1, a2, ... an action; /new starts over, /help lists the commands. Piped, the
output is plain text and the exit code is 1 if any answer failed.

Reads: MEIBEL_API_KEY, MEIBEL_BASE_URL, MEIBEL_AGENT_ID or MEIBEL_AGENT_NAME, STREAMING,
REDIS_URL or MEIBEL_BOT_DB, LOG_LEVEL."""
DEMO_HELP = """The whole bot offline: a local Meibel stand-in and the terminal chat. Needs no
credentials and no network.

Reads: MEIBEL_BOT_DB, STREAMING, LOG_LEVEL (every Meibel setting is replaced by the stand-in)."""
RUN_HELP = """Run every configured platform (Slack and/or Discord) in one process, until
SIGTERM or Ctrl-C.

Reads: every core setting (MEIBEL_*, REDIS_URL, ...) and the SLACK_* and DISCORD_* settings."""
DEV_SERVER_HELP = """Run the local Meibel stand-in (what `demo` uses), with optional latency and
faults, for trying the bot or its tests without Meibel.

Reads: no settings; everything is given as options."""


def _add(sub: SubParsers, name: str, *, summary: str, description: str) -> Any:
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show log lines (on stderr) in a terminal"
    )


def register_check(sub: SubParsers) -> None:
    check = _add(
        sub,
        "check",
        summary="settings, Meibel, the store and each configured platform",
        description=CHECK_HELP,
    )
    check.set_defaults(handler=cmd_check)


def register_chat(sub: SubParsers) -> None:
    chat = _add(
        sub,
        "chat",
        summary="a terminal conversation with your agent (scriptable)",
        description=CHAT_HELP,
    )
    _verbose(chat)
    chat.set_defaults(handler=cmd_chat)


def register_demo(sub: SubParsers) -> None:
    demo = _add(
        sub,
        "demo",
        summary="the whole bot offline: a Meibel stand-in and the terminal chat",
        description=DEMO_HELP,
    )
    _verbose(demo)
    demo.set_defaults(handler=cmd_demo)


def register_run(sub: SubParsers) -> None:
    run = _add(sub, "run", summary="every configured platform in one process", description=RUN_HELP)
    run.set_defaults(handler=cmd_run)


def register_dev_server(sub: SubParsers) -> None:
    from bot.devserver import add_arguments

    dev = _add(
        sub,
        "dev-server",
        summary="a local Meibel stand-in, with optional latency and faults",
        description=DEV_SERVER_HELP,
    )
    add_arguments(dev)
    dev.set_defaults(handler=cmd_dev_server)


def _settings(*, quiet: bool = False) -> Settings:
    """Settings and logging; `quiet` keeps INFO lines out of a terminal conversation
    unless LOG_LEVEL was set on purpose."""
    settings = settings_or_exit()
    level = settings.log_level
    if quiet and "log_level" not in settings.model_fields_set:
        level = "WARNING"
    configure_logging(level, secrets=secrets_of(settings))
    return settings


def _require_meibel(settings: Settings) -> None:
    problems = meibel_problems(settings)
    if problems:
        fail([*problems, "`meibel-bot demo` runs without any of these."])
        raise SystemExit(2)


async def cmd_chat(args: argparse.Namespace) -> int:
    settings = _settings(quiet=not args.verbose)
    _require_meibel(settings)
    try:
        async with open_runtime(settings) as runtime:
            return await run_chat(
                runtime.pipeline, streaming=runtime.settings.streaming, verbose=args.verbose
            )
    except StoreError as exc:
        return fail([f"{STORE_UNUSABLE}: {exc}"], code=1)


async def cmd_demo(args: argparse.Namespace) -> int:
    from bot.devserver import DevServer

    settings = _settings(quiet=not args.verbose)
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
            return await run_chat(
                runtime.pipeline, streaming=runtime.settings.streaming, verbose=args.verbose
            )


async def cmd_dev_server(args: argparse.Namespace) -> int:
    from bot.devserver import run_from_args

    configure_logging("INFO")
    return await run_from_args(args)


async def cmd_run(args: argparse.Namespace) -> int:
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

    async def serve_all(runtime: Runtime) -> None:
        await asyncio.gather(*(module.serve(runtime) for module in active))

    # SIGTERM cancels every platform at once; each drains its answers in flight.
    return await serve_until_stopped(settings, serve_all)


async def cmd_check(args: argparse.Namespace) -> int:
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
    """Every core setting as written (secrets masked), labelled when it is needed."""
    report.section("Settings")
    written = as_written(Settings.model_fields)
    by_id = settings.meibel_agent_id is not None
    needed = {
        "meibel_api_key": need(True, "every command but demo"),
        "meibel_agent_id": need(not settings.meibel_agent_name, "this or MEIBEL_AGENT_NAME"),
        "meibel_agent_name": need(not by_id, "this or MEIBEL_AGENT_ID"),
    }
    for name, info in Settings.model_fields.items():
        key = name.upper()
        if name == "meibel_api_key":
            shown = mask(settings.api_key)
        elif name == "redis_url":
            shown = _mask_url(settings.redis_dsn) if settings.redis_dsn else "(not set: embedded)"
        elif key in written and written[key].strip():
            shown = written[key]
        else:
            shown = (
                f"(not set: {_default(info.default)})"
                if info.default not in (None, "")
                else "(not set)"
            )
        report.info(" ".join([f"{key} = {shown}", needed.get(name, "")]).rstrip())
    for problem in meibel_problems(settings):
        report.fail(problem)


async def check_meibel(settings: Settings, report: CheckReport) -> None:
    report.section(f"Meibel at {settings.meibel_base_url}")
    if not settings.api_key:
        report.fail("not tried: MEIBEL_API_KEY is not set")
        return
    client = MeibelClient(
        base_url=settings.meibel_base_url,
        api_key=settings.api_key,
        timeout_seconds=10,
        retry=RetryPolicy(max_attempts=1),  # a refused connection is said at once
    )
    try:
        await client.list_agents(limit=1)
        report.ok("reachable, and the API key is accepted")
        await check_agent(client, settings, report)
    except MeibelAuthError:
        report.fail("the API key was refused (401/403): check MEIBEL_API_KEY")
    except MeibelError as exc:
        report.fail(f"{exc.code}: {exc}")
    finally:
        await client.aclose()


async def check_agent(client: MeibelClient, settings: Settings, report: CheckReport) -> None:
    """The default agent and every AGENT_ROUTES agent exist (by id, or by name in the list)."""
    if settings.meibel_agent_id:
        try:
            await client.get_agent(settings.meibel_agent_id)
        except MeibelNotFound:
            report.fail(f"MEIBEL_AGENT_ID: no agent has the id {settings.meibel_agent_id!r}")
        else:
            report.ok(f"agent id {settings.meibel_agent_id} exists")
    names = {n for n in [settings.meibel_agent_name] if n}
    names.update(settings.router_routes().values())
    if not names:
        return
    known = await agent_names(client)
    for name in sorted(names):
        where = "MEIBEL_AGENT_NAME" if name == settings.meibel_agent_name else "AGENT_ROUTES"
        if name in known:
            report.ok(f"agent {name!r} exists")
        else:
            report.fail(f"{where}: no agent is named {name!r} (names are kebab-case, exact)")


async def agent_names(client: MeibelClient, *, page: int = 100, pages: int = 50) -> set[str]:
    """Every agent name the key can see, page by page."""
    names: set[str] = set()
    for number in range(pages):
        body = await client.list_agents(limit=page, offset=number * page)
        data = body.get("data", []) if isinstance(body, dict) else []
        names.update(str(agent.get("name")) for agent in data if isinstance(agent, dict))
        if len(data) < page:
            break
    return names


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


def _default(value: object) -> str:
    """A default as a user would write it: `on`/`off` rather than True/False."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
        return parts._replace(netloc=netloc).geturl()
    return url
