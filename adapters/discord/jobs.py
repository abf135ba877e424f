"""What a queued Discord job carries: plain ids and strings, enough to answer from any process.

A worker never sees the discord.py objects of the event (it may run in another process,
minutes later), so intake writes down what the answer needs: where to post (channel,
message to reply to, the interaction's follow-up webhook), whether to open a thread, and
the metadata of attached files (downloaded at answer time). Values travel in `Job.data` as
strings: str fields as they are, anything else as JSON.

The interaction token is a secret (it lets anyone post as the bot for 15 minutes): it is
kept out of reprs here and out of every log line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Self

import discord
from pydantic import BaseModel, ConfigDict, Field

from adapters.discord.inbound import DM_WORKSPACE, PLATFORM

MESSAGE_JOB = "discord.message"
INTERACTION_JOB = "discord.interaction"


class FileRef(BaseModel):
    """A file attached to a question: what Discord said about it, not its bytes."""

    model_config = ConfigDict(frozen=True)

    id: int
    filename: str
    url: str
    size: int
    content_type: str | None = None

    @classmethod
    def of(cls, attachment: discord.Attachment) -> FileRef:
        return cls(
            id=attachment.id,
            filename=attachment.filename,
            url=attachment.url,
            size=attachment.size,
            content_type=attachment.content_type,
        )


def file_refs(attachments: Sequence[discord.Attachment]) -> tuple[FileRef, ...]:
    return tuple(FileRef.of(a) for a in attachments)


class JobData(BaseModel):
    """A model stored as `Job.data`: one string per field."""

    model_config = ConfigDict(frozen=True)

    def to_data(self) -> dict[str, str]:
        data: dict[str, str] = {}
        for name, value in self.model_dump(mode="json", exclude_none=True).items():
            data[name] = value if isinstance(value, str) else json.dumps(value)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> Self:
        """Parse `Job.data`; raises ValueError (pydantic's) when it does not fit."""
        values: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            if name not in data:
                continue
            raw = data[name]
            values[name] = raw if info.annotation in (str, str | None) else json.loads(raw)
        return cls.model_validate(values)


class MessageWork(JobData):
    """A gateway message to answer (a mention, a reply in the bot's thread, a DM).

    `channel_id` is where the message was written; the answer replies to `message_id`
    there, or goes to the thread opened from it (`open_thread`; the thread gets the
    message's id, which is why the job's thread key is known before the thread exists).
    """

    channel_id: int
    message_id: int
    guild_id: int | None = None
    author_id: int
    open_thread: bool = False
    thread_name: str = ""
    # A reply without a mention in the bot's thread: keep the thread known as the bot's.
    remember_thread: bool = False
    files: tuple[FileRef, ...] = ()
    # Read the thread's earlier messages for the agent (adapters.discord.history): set for a
    # question in a thread where not every message is a turn; `bot_id` tells its messages.
    context: bool = False
    bot_id: int = 0
    # A reply outside a thread: the replied-to chain is the context (this message's id
    # of the message replied to; 0: none).
    replied_to: int = 0


class InteractionWork(JobData):
    """An interaction to answer through its follow-up webhook (a command or a click).

    It was acknowledged at intake (a deferral or a public line); the answer goes through
    the webhook while its token lives (15 minutes), else into the channel. `open_thread`:
    the original response becomes `header` and a thread is opened from it.
    """

    application_id: int
    token: str = Field(repr=False)
    interaction_id: int
    channel_id: int
    guild_id: int | None = None
    user_id: int
    open_thread: bool = False
    header: str = ""
    thread_name: str = ""
    files: tuple[FileRef, ...] = ()
    # "Ask Meibel" on a message: the context is what came before it in its thread
    # (`context_before`, its id), or its replied-to chain (`replied_to`); `bot_id` tells the
    # bot's own messages (adapters.discord.history).
    context_before: int = 0
    replied_to: int = 0
    bot_id: int = 0
    # The channel answers privately: only through the webhook, ephemeral (never into the
    # channel), in a conversation of the asker's own (no thread).
    private: bool = False


def job_id(guild_id: int | None, event_id: int) -> str:
    """The job's idempotency key: a second delivery of the same event is the same job."""
    return f"{PLATFORM}:{guild_id if guild_id is not None else DM_WORKSPACE}:{event_id}"
