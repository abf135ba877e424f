"""What Discord users read from the adapter itself (answers and failures come from the core)."""

from __future__ import annotations

CHANNEL_NOT_ALLOWED = (
    "I'm not set up to answer in this channel. Please ask in one of the channels where "
    "I'm enabled, or ask an admin to add this one."
)
ROLE_NOT_ALLOWED = (
    "Only members with one of the allowed roles can ask me here. Ask an admin if you need access."
)
DM_NOT_ALLOWED = (
    "I only answer in the allowed channels of the server, not in direct messages. "
    "Please ask me there."
)
NEW_SESSION = (
    "Started a fresh conversation for this thread: my next answer here won't use "
    "anything said before."
)
NEW_IN_CHANNEL = (
    "`/new` works inside a thread or a DM. In a channel, every `/ask` already opens a "
    "thread with a fresh conversation."
)
BUTTON_EXPIRED = (
    "This button has expired: I no longer keep what it was about. "
    "Please ask again with `/ask` or by mentioning me."
)
NO_TEXT_IN_MESSAGE = "That message has no text I can ask about."
INTERACTION_EXPIRED = (
    "{user} I received your request too late to answer it (Discord gives bots only a few "
    "seconds). Please ask again."
)
NO_THREAD_PERMISSION = (
    "_I couldn't open a thread here (I'm missing the **Create Public Threads** "
    "permission), so I'm answering in the channel. Ask an admin to grant it so "
    "conversations can continue in threads._"
)
NO_SEND_PERMISSION = (
    "I couldn't post my answer in <#{channel}>: I'm missing the permission to send "
    "messages there. Please ask an admin to grant it, or ask me somewhere else."
)
NO_THREAD = "_I couldn't open a thread here, so I'm answering in the channel._"
CANNOT_ANSWER_HERE = "I can't answer in this kind of channel. Please ask me in a text channel."
INTERNAL = (
    "Something went wrong on my side while handling this. Please try again; "
    "if this keeps happening, tell an admin."
)


COMMENT_THANKS = "Thanks, your comment reaches the agent's owners."
FEEDBACK_THANKS = "Thanks for the feedback! It helps improve the agent's answers."


def asked_by(user_id: int, question: str, *, limit: int = 2000) -> str:
    """The public line that shows who asked what (a mention that pings no one)."""
    return _quoted(f"<@{user_id}> asked:", question, limit=limit)


def asked_about(user_id: int, jump_url: str, question: str, *, limit: int = 2000) -> str:
    """The public line for "Ask Meibel" on a message."""
    return _quoted(f"<@{user_id}> asked about {jump_url}:", question, limit=limit)


def _quoted(head: str, question: str, *, limit: int) -> str:
    quoted = "\n".join(f"> {line}" if line else ">" for line in question.splitlines())
    text = f"{head}\n{quoted}"
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


UNAVAILABLE = (
    "I'm temporarily unavailable and couldn't take your question. Please try again in a minute."
)


def rate_limited(count: int, unit: str) -> str:
    """The private note for someone over USER_RATE_LIMIT (`count` questions per `unit`)."""
    return (
        f"You've asked a lot in a short time: I answer up to {count} questions per {unit} "
        "for each person. Please wait a little, then ask again."
    )


# The job's deadline passed before the answer could be shown.
STILL_WORKING = "The agent may still be working on this; ask again if nothing arrives."
PRIVATE_CHANNEL = (
    "Answers in this channel are private: use `/ask` (or *Apps* → *Ask Meibel* on a "
    "message) and only you will see the answer, with a button to share it."
)

# -- channel settings (adapters.discord.manage, adapters.discord.place_actions) ----------
SETTINGS_NOT_ALLOWED = (
    "Only members who can manage this channel (or the server) can change my settings "
    "here. Nothing was changed."
)
SETTINGS_NOT_HERE = "Settings belong to a server channel: run `/meibel settings` in one."
SETTINGS_STORE_DOWN = (
    "I can't reach my settings store right now, so nothing was changed. "
    "Please try again in a minute."
)
SETTINGS_INVALID = "That can't be kept ({reason}). Nothing was changed."
SETTINGS_UNCHANGED = "Nothing changed: that was already the setting."
ALREADY_SHARED = "This answer was shared with the channel already."
SHARED_BY = "{user} shared an answer they got privately:"
NO_HANDOFF = (
    "Nobody is set up to take over in this channel. A channel manager can choose who "
    "in `/meibel settings`."
)
HANDOFF_ALREADY = "Someone has been called for this question already."
HANDOFF_CALL = "🙋 {targets}: {user} would like a person to help with this question."
HANDOFF_RESOLVED = "✅ Resolved by {user}."
