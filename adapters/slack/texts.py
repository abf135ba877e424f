"""What Slack users read from the adapter itself (the core's texts are in bot/replies.py).

Texts posted through render_notice are Markdown (the renderer converts and escapes them);
texts sent as an ephemeral, an ack or a response_url reply are Slack mrkdwn as they stand.
"""

from __future__ import annotations

# mrkdwn: a literal "<" would start a Slack link, so the usage line names no placeholder.
ASK_USAGE = (
    "Usage: `/ask` followed by your question, for example `/ask How do I reset my password?` "
    "I'll post your question and my answer here as a new thread, where you can keep asking "
    "follow-ups."
)
CHANNEL_NOT_ALLOWED = (
    "I'm not set up to answer in this conversation. Please ask me in one of the channels "
    "an admin has enabled for me."
)
BUTTON_EXPIRED = "This button has expired. Please ask your question again."
ADD_COMMENT = "Add a comment"
COMMENT_LABEL = "What was right or wrong with this answer? (The agent's owners read this.)"
FEEDBACK_THANKS = "Thanks for the feedback! It helps improve the agent's answers."
POST_FAILED = (
    "I have an answer, but Slack would not let me post it here. "
    "Please try again; if this keeps happening, tell an admin."
)
# Markdown (a notice): the job's deadline passed before the answer could be shown.
NO_TEXT_IN_MESSAGE = "That message has no text to ask about. Mention me with your question instead."
EXTERNAL_REFUSED = (
    "Sorry, I only answer people of this workspace's organisation. "
    "Please ask someone from it to help."
)
STILL_WORKING = "The agent may still be working on this; ask again if nothing arrives."
UNAVAILABLE = "I'm temporarily unavailable, please try again in a minute."
UPLOAD_FAILED = "I couldn't attach the file {name} to this thread."
THINKING = "thinking..."
LOADING_MESSAGES = (
    "Reading your question...",
    "Asking the agent...",
    "Putting the answer together...",
)
SUGGESTED_PROMPTS_TITLE = "Try asking:"
SUGGESTED_PROMPTS = (
    ("What can you help me with?", "What can you help me with?"),
    ("Summarize a topic", "Give me a short summary of the most important things I should know."),
    ("Find a document", "Where can I find the documentation about our main product?"),
)


def not_in_channel(bot_user: str | None) -> str:
    who = f"<@{bot_user}>" if bot_user else "me"
    return (
        "I'm not a member of this channel, so I can't post here. "
        f"Invite me: type `/invite` and pick {who} (or mention {who} and choose "
        "*Invite them*), then ask again."
    )


_WINDOWS = {1: "a second", 60: "a minute", 3600: "an hour", 86400: "a day"}


def rate_limited(count: int, window_seconds: int) -> str:
    """The private note for a user over USER_RATE_LIMIT: the limit, and when to ask again
    (the window starts at the user's first question, so at most one window from now)."""
    window = _WINDOWS.get(window_seconds, f"{window_seconds} seconds")
    unit = window.split(" ", 1)[1]
    questions = "question" if count == 1 else "questions"
    return (
        f"You've reached the limit of {count} {questions} per {unit}. "
        f"Please wait up to {window} before asking again; your question was not sent."
    )


def asked(user: str, question: str) -> str:
    """The line that shows a question as asked by `user`, safe to post as mrkdwn."""
    return f"<@{user}> asked: {escape(shorten(question, 2900))}"


def code(name: str) -> str:
    """A file name as inline Markdown code, so its characters are shown, not interpreted."""
    return "`" + " ".join(name.replace("`", "'").split())[:200] + "`"


def escape(text: str) -> str:
    """Slack's three control characters, so user text cannot ping @channel or fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
