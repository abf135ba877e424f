"""Accepted Slack work as queue jobs: built at intake, read back by whichever worker runs it.

A job carries everything needed to answer and post, as plain strings: the Question (its
`reply_to` says where the answer goes) and `data` (what to react to, where a private note
goes, the shared files' metadata, the response_url of a command or click). Nothing in it
is a Slack object, and files are downloaded when the job runs, not at intake.

The job id is the idempotency key across deliveries and processes: the same post arrives
as `app_mention` and as `message`, again on Slack's retries, and maybe at two processes;
they all make the job `slack:<workspace>:<channel>:<ts>`, which the queue accepts once.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from adapters.slack.inbound import PLATFORM, Click, Post, SharedFile, SlashCommand, reply_to
from adapters.slack.payloads import ButtonKind, ButtonPayload
from bot.domain import Question
from bot.work import Job

log = logging.getLogger(__name__)

POST = "slack.post"  # a message to answer: @mention, DM, thread reply, assistant thread
ASK = "slack.ask"  # /ask: post the question as a new message, answer in its thread
CLICK = "slack.click"  # a follow-up, call-to-action or "Try again" button


def post_job(post: Post, *, bot_user: str | None, assistant: bool) -> Job:
    """The job for a post addressed to the bot."""
    data = {
        "react_to": post.ts,
        # A private note about a top-level post goes in the channel, as before the queue.
        "whisper_thread": post.thread_ts or "",
        "assistant": "1" if assistant else "",
    }
    if post.files:
        data["files"] = encode_files(post.files)
    return Job.accept(
        id=f"slack:{post.workspace}:{post.channel}:{post.ts}",
        kind=POST,
        question=post.question(bot_user=bot_user),
        data=data,
    )


def shortcut_job(post: Post, *, trigger: str, bot_user: str | None) -> Job:
    """The job for "Ask Meibel about this": the selected message, asked by the person who
    used the shortcut, answered in that message's thread (with the thread as context)."""
    job = post_job(post, bot_user=bot_user, assistant=False)
    return Job.accept(
        id=f"slack:{post.workspace}:shortcut:{trigger}",
        kind=POST,
        question=job.question.model_copy(update={"event_id": f"shortcut:{trigger}"}),
        data=dict(job.data),
    )


def ask_job(command: SlashCommand) -> Job:
    """The job for `/ask <question>`. Its thread does not exist yet (the worker posts the
    question first); the trigger id stands in for it, a thread of its own."""
    # Slack gives every command a trigger id; without one, the job must not share an id.
    trigger = command.trigger_id or uuid.uuid4().hex
    where = {"channel": command.channel}
    if command.user_team:
        where["team"] = command.user_team  # the recipient of a streamed answer
    question = Question(
        platform=PLATFORM,
        workspace=command.workspace,
        channel=command.channel,
        thread=f"ask-{trigger}",
        user=command.user,
        text=command.question_text,
        reply_to=where,
        event_id=f"command:{trigger}",
    )
    return Job.accept(
        id=f"slack:{command.workspace}:command:{trigger}",
        kind=ASK,
        question=question,
        data={"response_url": command.response_url or ""},
    )


def click_job(click: Click, payload: ButtonPayload) -> Job:
    """The job for a follow-up, call-to-action or "Try again" click, asked in the clicked
    message's thread and session."""
    question = Question(
        platform=PLATFORM,
        workspace=payload.workspace,
        channel=click.channel,
        thread=click.thread,
        user=click.user,
        text=payload.text,
        reply_to=reply_to(
            channel=click.channel,
            thread_ts=click.thread,
            message_ts=click.message_ts,
            team=click.user_team,
        ),
        event_id=click.click_id,
    )
    return Job.accept(
        id=f"slack:{payload.workspace}:{click.click_id}",
        kind=CLICK,
        question=question,
        data={
            "button": payload.kind.value,
            "shown": payload.shown,
            "message_ts": click.message_ts,
            "response_url": click.response_url or "",
        },
    )


@dataclass(frozen=True, slots=True)
class PostWork:
    """A POST job, read back."""

    question: Question
    react_to: str
    whisper_thread: str | None
    assistant: bool
    files: tuple[SharedFile, ...]

    @classmethod
    def of(cls, job: Job) -> PostWork:
        data = job.data
        return cls(
            question=job.question,
            react_to=data.get("react_to") or job.question.thread,
            whisper_thread=data.get("whisper_thread") or None,
            assistant=data.get("assistant") == "1",
            files=decode_files(data.get("files", "")),
        )


@dataclass(frozen=True, slots=True)
class ClickWork:
    """A CLICK job, read back."""

    question: Question
    retry: bool  # "Try again": no "asked" line, the clicked notice gets the reaction
    shown: str  # what the "asked" line shows
    message_ts: str
    response_url: str | None

    @classmethod
    def of(cls, job: Job) -> ClickWork:
        data = job.data
        return cls(
            question=job.question,
            retry=data.get("button") == ButtonKind.RETRY.value,
            shown=data.get("shown") or job.question.text,
            message_ts=data.get("message_ts") or job.question.thread,
            response_url=data.get("response_url") or None,
        )


def encode_files(files: tuple[SharedFile, ...]) -> str:
    return json.dumps(
        [{"name": f.name, "url": f.url, "size": f.size, "mime": f.mime_type} for f in files],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_files(text: str) -> tuple[SharedFile, ...]:
    """The files of a job; unreadable entries are dropped with a log line (never a crash:
    the question still deserves its answer)."""
    if not text:
        return ()
    try:
        items = json.loads(text)
        return tuple(
            SharedFile(
                name=str(item["name"]),
                url=item["url"] if isinstance(item.get("url"), str) else None,
                size=item["size"] if isinstance(item.get("size"), int) else None,
                mime_type=str(item["mime"]),
            )
            for item in items
        )
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable file list in a job; answering without the files")
        return ()
