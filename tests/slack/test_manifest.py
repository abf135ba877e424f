"""The app manifest asks for exactly what the bot uses: no missing scope, no spare one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.slack.app import ASK_COMMAND
from adapters.slack.channel_settings import MEIBEL_COMMAND
from tests.slack.conftest import USER, Harness, mention, message_event

yaml = pytest.importorskip("yaml")  # PyYAML comes with the dev tools (schemathesis)

MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "slack-manifest.yaml"
# The scope each Web API method the bot calls needs (Slack's method reference).
METHOD_SCOPES = {
    "auth.test": None,
    "views.open": None,  # the feedback comment modal, /meibel settings
    "views.publish": None,  # the Home tab
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.startStream": "chat:write",
    "chat.appendStream": "chat:write",
    "chat.stopStream": "chat:write",
    # shared files, fetched from their url_private_download with the bot token
    "download": "files:read",
    "reactions.add": "reactions:write",
    "reactions.remove": "reactions:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "assistant.threads.setStatus": "assistant:write",
    "assistant.threads.setTitle": "assistant:write",
    "assistant.threads.setSuggestedPrompts": "assistant:write",
    # thread context (the *:history scope of the conversation's kind; public channels here)
    "conversations.replies": "channels:history",
    "users.info": "users:read",
    "usergroups.list": "usergroups:read",  # hand-off groups in /meibel settings
    # who asks and where (SHARE_IDENTITY): a public channel's name
    "conversations.info": "channels:read",
}
# The scope each event subscription needs.
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "assistant_thread_started": "assistant:write",
    # sent when the user opens another channel beside the assistant pane (no scope of its own)
    "assistant_thread_context_changed": "assistant:write",
    "app_home_opened": None,  # the Home tab (no scope of its own)
}


def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(data, dict)
    return data


def test_scopes_are_exactly_those_of_the_events_methods_and_command() -> None:
    data = manifest()
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    events = set(data["settings"]["event_subscriptions"]["bot_events"])
    assert events == set(EVENT_SCOPES)
    needed = {s for e in events if (s := EVENT_SCOPES[e])} | {
        s for s in METHOD_SCOPES.values() if s
    }
    needed.add("commands")
    assert scopes == needed
    commands = [c["command"] for c in data["features"]["slash_commands"]]
    assert commands == [ASK_COMMAND, MEIBEL_COMMAND]
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert "assistant_view" in data["features"]  # needed for assistant:write


async def test_the_bot_calls_no_method_the_manifest_does_not_cover(harness: Harness) -> None:
    """Every method called while exercising the features is in the table above."""
    shared = harness.slack.add_file("notes.txt", b"some notes")
    await harness.event(mention("Everything please", ts="1710000005.000100", files=[shared]))
    await harness.answers(1, thread_ts="1710000005.000100")
    await harness.event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {"user_id": USER, "channel_id": "D1", "thread_ts": "5.0"},
        }
    )
    await harness.event(
        message_event("hi", ts="5.1", channel="D1", channel_type="im", thread_ts="5.0")
    )
    await harness.answers(1, thread_ts="5.0")
    await harness.settle()
    called = {c.method for c in harness.slack.calls} - {"upload", "response_url"}
    assert called <= set(METHOD_SCOPES), called - set(METHOD_SCOPES)
