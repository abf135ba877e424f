"""`meibel-bot feedback export`: the feedback people gave on answers, as CSV for the agent's
owners (bot.feedback)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from adapters.launch import fail, settings_or_exit
from bot import feedback
from bot.store import StoreError, open_store

FEEDBACK_HELP = """Write the feedback people gave on answers (thumbs up or down, on Slack and
Discord) as CSV on standard output: when, where, the verdict, the answer's signal_id, a link to the
thread, excerpts of the question and the answer, and who (unless SHARE_IDENTITY is off).
Feedback is kept for 90 days.

Reads: REDIS_URL or MEIBEL_BOT_DB (the store the bot writes to)."""


def register_feedback(sub: Any) -> None:
    parser = sub.add_parser(
        "feedback",
        help="export the feedback on answers as CSV",
        description=FEEDBACK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write CSV to standard output")
    export.add_argument(
        "--since", default="7d", help="how far back: a number and s, m, h, d or w (default 7d)"
    )
    parser.set_defaults(handler=cmd_feedback)


async def cmd_feedback(args: argparse.Namespace) -> int:
    try:
        seconds = feedback.parse_duration(args.since)
    except ValueError as exc:
        return fail([f"--since: {exc}"], code=2)
    settings = settings_or_exit()
    try:
        store = await open_store(redis_url=settings.redis_dsn, sqlite_path=settings.meibel_bot_db)
        try:
            rows = await feedback.since(store, seconds=seconds, now=time.time())
        finally:
            await store.aclose()
    except StoreError as exc:
        return fail([f"the store cannot be read: {exc}"], code=1)
    sys.stdout.write(feedback.to_csv(rows))
    return 0
