"""Slack payloads -> typed, platform-neutral pieces, parsed once at the edge.

Nothing past this module reads a raw Slack dict: listeners call `parse_*`, get a typed
object (or None for anything the bot must ignore) and build a `Question` from it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from slack_bolt.request.internals import (
    extract_enterprise_id,
    extract_is_enterprise_install,
    extract_team_id,
)

from bot.domain import Question, Tenant, ThreadKey

PLATFORM = "slack"
# Message subtypes that are still a person writing something new; every other subtype
# (edits, deletions, joins, bot messages, topic changes, ...) is ignored, so the bot never
# answers itself or loops with another bot.
_ANSWERED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_MARKUP = re.compile(r"<([^<>]*)>")


def workspace_of(body: dict[str, Any]) -> str | None:
    """The workspace a payload belongs to: the team id, or the org id for an org-wide install.

    An org-wide (Enterprise Grid) install serves many workspaces with one bot, and a channel
    can be shared among them; keying by the org keeps one session per thread whichever
    workspace the poster or clicker belongs to.
    """
    if extract_is_enterprise_install(body):
        enterprise = extract_enterprise_id(body)
        if enterprise:
            return enterprise
    team = extract_team_id(body)
    if not team and isinstance(body.get("user"), dict):
        team = body["user"].get("team_id")
    return team or None


def plain_text(text: str, *, drop_user: str | None = None) -> str:
    """Slack's message markup as plain text: `<@U1|ann>` -> @ann, `<url|label>` -> label (url).

    The mention of `drop_user` (the bot) is removed, since it is how people address the bot,
    not part of the question.
    """
    if drop_user:
        text = re.sub(rf"<@{re.escape(drop_user)}(?:\|[^>]*)?>", "", text)

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            if label:
                return label
            return "@" + target[1:].split("^", 1)[0]
        if target.startswith("mailto:"):
            return label or target[len("mailto:") :]
        if label and label != target:
            return f"{label} ({target})"
        return target

    return html.unescape(_MARKUP.sub(replace, text)).strip()


def mentioned_users(text: str) -> set[str]:
    return set(_MENTION.findall(text))


@dataclass(frozen=True, slots=True)
class SharedFile:
    """A file shared with a message, as the event describes it (not yet downloaded)."""

    name: str
    url: str | None  # url_private_download; None when Slack gives nothing to download
    size: int | None
    mime_type: str


def parse_file(data: dict[str, Any]) -> SharedFile:
    name = str(data.get("name") or data.get("title") or "file")
    url = data.get("url_private_download") or data.get("url_private")
    size = data.get("size")
    mime = data.get("mimetype")
    # External links (Google Drive, ...) and deleted files have nothing to fetch.
    fetchable = data.get("mode") not in ("external", "tombstone") and isinstance(url, str)
    return SharedFile(
        name=name,
        url=url if fetchable and isinstance(url, str) and url else None,
        size=size if isinstance(size, int) and size >= 0 else None,
        mime_type=mime if isinstance(mime, str) and mime else "application/octet-stream",
    )


@dataclass(frozen=True, slots=True)
class Post:
    """A message a person wrote in a channel, DM or thread."""

    workspace: str
    channel: str
    channel_type: str  # channel, group, im, mpim, app_home
    ts: str
    thread_ts: str | None
    user: str
    text: str  # Slack markup, as received
    files: tuple[SharedFile, ...] = ()
    user_team: str | None = None  # the poster's own team: a streamed answer's recipient
    shared: bool = False  # a channel shared with other organisations (Slack Connect)
    home_team: str | None = None  # the team the app is installed in

    @property
    def from_outside(self) -> bool:
        """Written by someone of another organisation, in a Slack Connect channel."""
        return bool(
            self.shared and self.user_team and self.home_team and self.user_team != self.home_team
        )

    @property
    def thread(self) -> str:
        """The thread this post belongs to; a top-level post starts its own."""
        return self.thread_ts or self.ts

    @property
    def in_thread(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def is_dm(self) -> bool:
        return self.channel_type == "im"

    @property
    def post_id(self) -> str:
        """The same post arrives as app_mention and as message, and again on retries."""
        return f"post:{self.channel}:{self.ts}"

    @property
    def tenant(self) -> Tenant:
        return Tenant(PLATFORM, self.workspace)

    @property
    def thread_key(self) -> ThreadKey:
        return ThreadKey(self.tenant, self.channel, self.thread)

    def mentions(self, user: str | None) -> bool:
        return bool(user) and user in mentioned_users(self.text)

    def mentions_others(self, bot_user: str | None) -> bool:
        """True when people are addressed here, but not the bot: a conversation between them."""
        return bool(mentioned_users(self.text) - {bot_user, self.user})

    def question(self, *, bot_user: str | None) -> Question:
        return Question(
            platform=PLATFORM,
            workspace=self.workspace,
            channel=self.channel,
            thread=self.thread,
            user=self.user,
            text=plain_text(self.text, drop_user=bot_user),
            reply_to=reply_to(
                channel=self.channel, thread_ts=self.thread, message_ts=self.ts, team=self.user_team
            ),
            event_id=self.post_id,
            shared=self.shared,
        )


def reply_to(*, channel: str, thread_ts: str, message_ts: str, team: str | None) -> dict[str, str]:
    """Where an answer goes; `team` is the asker's team, which Slack's chat streaming needs
    (as recipient_team_id) outside direct messages."""
    where = {"channel": channel, "thread_ts": thread_ts, "message_ts": message_ts}
    if team:
        where["team"] = team
    return where


def parse_message(body: dict[str, Any]) -> Post | None:
    """A `message` or `app_mention` event as a Post; None for anything not to answer."""
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
        return None
    if event.get("subtype") not in _ANSWERED_SUBTYPES or event.get("hidden"):
        return None
    if event.get("bot_id") or event.get("bot_profile") or event.get("app_id"):
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    workspace = workspace_of(body)
    if not (
        isinstance(user, str)
        and isinstance(channel, str)
        and isinstance(ts, str)
        and user
        and channel
        and ts
        and workspace
    ):
        return None
    thread_ts = event.get("thread_ts")
    files = tuple(parse_file(f) for f in event.get("files") or () if isinstance(f, dict))
    user_team = event.get("user_team") or event.get("team") or extract_team_id(body)
    channel_type = event.get("channel_type")
    if not isinstance(channel_type, str):
        # app_mention events carry no channel_type; a mention happens in a conversation
        # with several people, so treat it as a channel. DM ids start with D.
        channel_type = "im" if channel.startswith("D") else "channel"
    return Post(
        workspace=workspace,
        channel=channel,
        channel_type=channel_type,
        ts=ts,
        thread_ts=thread_ts if isinstance(thread_ts, str) and thread_ts else None,
        user=user,
        text=str(event.get("text") or ""),
        files=files,
        user_team=user_team if isinstance(user_team, str) and user_team else None,
        shared=body.get("is_ext_shared_channel") is True,
        home_team=extract_team_id(body),
    )


def parse_shortcut(body: dict[str, Any]) -> tuple[Post, str] | None:
    """The "Ask Meibel about this" message shortcut, as a post by the person who used it
    (its text the selected message's, its thread that message's thread), and the
    shortcut's trigger id; None for anything malformed."""
    message, channel, user = _dict(body, "message"), _dict(body, "channel"), _dict(body, "user")
    workspace = workspace_of(body)
    ts, channel_id, user_id = message.get("ts"), channel.get("id"), user.get("id")
    trigger = _text(body.get("trigger_id"))
    if not (workspace and trigger and _text(ts) and _text(channel_id) and _text(user_id)):
        return None
    thread_ts = message.get("thread_ts")
    files = tuple(parse_file(f) for f in message.get("files") or () if isinstance(f, dict))
    post = Post(
        workspace=workspace,
        channel=str(channel_id),
        channel_type="im" if str(channel_id).startswith("D") else "channel",
        ts=str(ts),
        thread_ts=thread_ts if isinstance(thread_ts, str) and thread_ts else None,
        user=str(user_id),
        text=str(message.get("text") or ""),
        files=files,
        user_team=_team_of(user.get("team_id")),
    )
    return post, trigger


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """`/ask <question>`."""

    workspace: str
    channel: str
    user: str
    text: str
    trigger_id: str
    user_team: str | None = None
    response_url: str | None = None  # a private reply to the user, valid for 30 minutes

    @property
    def question_text(self) -> str:
        return plain_text(self.text)

    @property
    def is_dm(self) -> bool:
        return self.channel.startswith("D")


def parse_command(body: dict[str, Any]) -> SlashCommand | None:
    workspace = workspace_of(body)
    channel, user = body.get("channel_id"), body.get("user_id")
    if not (workspace and isinstance(channel, str) and channel and isinstance(user, str) and user):
        return None
    return SlashCommand(
        workspace=workspace,
        channel=channel,
        user=user,
        text=str(body.get("text") or ""),
        trigger_id=str(body.get("trigger_id") or ""),
        user_team=extract_team_id(body) or None,
        response_url=_text(body.get("response_url")),
    )


@dataclass(frozen=True, slots=True)
class Click:
    """A button click on one of the bot's messages."""

    teams: frozenset[str]  # every workspace/org id the payload names, to check a button's
    channel: str
    thread: str  # the thread the clicked message is in
    message_ts: str
    user: str
    action_id: str
    value: str
    action_ts: str
    user_team: str | None = None
    response_url: str | None = None
    workspace: str | None = None
    team_domain: str | None = None  # for links to the thread
    message_text: str = ""  # the clicked message's text (its notification fallback)

    @property
    def thread_link(self) -> str:
        """A link to the clicked message in its thread (empty without the team's domain)."""
        if not self.team_domain:
            return ""
        link = f"https://{self.team_domain}.slack.com/archives/{self.channel}/p"
        link += self.message_ts.replace(".", "")
        return f"{link}?thread_ts={self.thread}&cid={self.channel}"

    @property
    def click_id(self) -> str:
        return f"click:{self.channel}:{self.message_ts}:{self.action_ts}:{self.user}"


def parse_click(body: dict[str, Any]) -> Click | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return None
    action = actions[0]
    container, message, clicker = (
        _dict(body, "container"),
        _dict(body, "message"),
        _dict(body, "user"),
    )
    channel = _dict(body, "channel").get("id") or container.get("channel_id")
    message_ts = message.get("ts") or container.get("message_ts")
    thread = message.get("thread_ts") or container.get("thread_ts") or message_ts
    user = clicker.get("id")
    if not all(isinstance(v, str) and v for v in (channel, message_ts, thread, user)):
        return None
    teams = {
        t
        for t in (
            workspace_of(body),
            extract_team_id(body),
            extract_enterprise_id(body),
            clicker.get("team_id"),
        )
        if isinstance(t, str) and t
    }
    return Click(
        teams=frozenset(teams),
        channel=str(channel),
        thread=str(thread),
        message_ts=str(message_ts),
        user=str(user),
        action_id=str(action.get("action_id") or ""),
        value=str(action.get("value") or ""),
        action_ts=str(action.get("action_ts") or message_ts),
        user_team=_team_of(clicker.get("team_id"), extract_team_id(body)),
        response_url=_text(body.get("response_url")),
        workspace=workspace_of(body),
        team_domain=_text(_dict(body, "team").get("domain")),
        message_text=str(message.get("text") or ""),
    )


def _team_of(*candidates: object) -> str | None:
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class AssistantThread:
    """A new Slack assistant thread (Agents & AI Apps) the user just opened."""

    workspace: str
    channel: str
    thread_ts: str
    user: str


def parse_assistant_thread(body: dict[str, Any]) -> AssistantThread | None:
    thread = _dict(body, "event").get("assistant_thread")
    workspace = workspace_of(body)
    if not isinstance(thread, dict) or not workspace:
        return None
    channel, ts, user = thread.get("channel_id"), thread.get("thread_ts"), thread.get("user_id")
    if not all(isinstance(v, str) and v for v in (channel, ts, user)):
        return None
    return AssistantThread(
        workspace=workspace, channel=str(channel), thread_ts=str(ts), user=str(user)
    )
