"""Discord messages and interactions -> where they happened and the neutral `Question`."""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from bot.domain import Question, Tenant, ThreadKey
from bot.identity import Asker, Where

PLATFORM = "discord"
DM_WORKSPACE = "dm"
THREAD_NAME_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Place:
    """Where something happened, in thread-key terms.

    `channel` is the parent channel for a thread, so allow-lists and agent routes see a
    thread as its channel. `thread` is the thread (or DM channel) id; None in a plain
    server channel, where the answer opens a thread of its own.
    """

    workspace: str
    channel: str
    thread: str | None
    can_open_threads: bool = False

    @property
    def tenant(self) -> Tenant:
        return Tenant(PLATFORM, self.workspace)

    @property
    def is_dm(self) -> bool:
        return self.workspace == DM_WORKSPACE

    def key(self, thread: str | None = None) -> ThreadKey:
        """The conversation key: this place's thread, or the one given (a new thread)."""
        chosen = thread or self.thread
        if chosen is None:
            raise ValueError("a plain channel has no thread yet; pass the new thread's id")
        return ThreadKey(self.tenant, self.channel, chosen)


def place_of(channel: object, *, guild_id: int | None) -> Place | None:
    """The place of a channel discord.py knows; None when only its id is known (a
    PartialMessageable, e.g. a thread created before a restart): fetch it, then ask again."""
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return Place(DM_WORKSPACE, str(channel.id), str(channel.id))
    if guild_id is None:
        return None
    workspace = str(guild_id)
    if isinstance(channel, discord.Thread):
        return Place(workspace, str(channel.parent_id), str(channel.id))
    if isinstance(channel, discord.TextChannel):
        return Place(workspace, str(channel.id), None, can_open_threads=True)
    if isinstance(channel, discord.VoiceChannel | discord.StageChannel):
        # Text chat in a voice channel has no threads: the channel is the conversation.
        return Place(workspace, str(channel.id), str(channel.id))
    return None


def thread_place(*, guild_id: int, parent_id: int | str, thread_id: int) -> Place:
    """The place of a thread known by ids only (e.g. one remembered in the store)."""
    return Place(str(guild_id), str(parent_id), str(thread_id))


def strip_mentions(content: str, *, bot_id: int) -> str:
    """The message text without the mentions that addressed the bot."""
    return re.sub(rf"<@!?{bot_id}>", " ", content).strip()


def thread_name(text: str) -> str:
    """A thread name from a question: one line, at most 100 characters, never empty."""
    line = " ".join(text.split())
    if len(line) > THREAD_NAME_LIMIT:
        line = line[: THREAD_NAME_LIMIT - 1].rstrip() + "…"
    return line or "Question"


def to_question(
    key: ThreadKey,
    *,
    user: int,
    text: str,
    event_id: str | None,
    reply_to: dict[str, str] | None = None,
    asker: Asker | None = None,
    where: Where | None = None,
) -> Question:
    """The neutral question for one message, command or button click."""
    return Question(
        asker=asker,
        where=where,
        platform=key.platform,
        workspace=key.workspace,
        channel=key.channel,
        thread=key.thread,
        user=str(user),
        text=text,
        reply_to=reply_to or {},
        event_id=event_id,
    )


def asker_of(user: discord.abc.User) -> Asker:
    """Who asks, as Discord shows them (it tells no time zone or email)."""
    return Asker(name=user.display_name)


def where_of(channel: object, guild: discord.Guild | None) -> Where:
    """The guild's and the channel's names; a thread is named by its parent channel."""
    if isinstance(channel, discord.Thread) and channel.parent is not None:
        channel = channel.parent
    name = getattr(channel, "name", None)
    return Where(
        workspace=guild.name if guild is not None else None,
        channel=f"#{name}" if isinstance(name, str) and name else None,
    )


def message_event_id(message: discord.Message) -> str:
    return f"message:{message.id}"


def interaction_event_id(interaction: discord.Interaction[discord.Client]) -> str:
    return f"interaction:{interaction.id}"


def role_ids(user: discord.abc.User | None) -> frozenset[int] | None:
    """The user's role ids in the server; None outside a server (or for a bare user)."""
    if isinstance(user, discord.Member):
        return frozenset(role.id for role in user.roles)
    return None
