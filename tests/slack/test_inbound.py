"""Parsing at the edge: Slack payloads -> typed posts, commands, clicks; workspaces."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.inbound import (
    SharedFile,
    parse_click,
    parse_command,
    parse_message,
    plain_text,
    workspace_of,
)
from adapters.slack.payloads import ButtonKind, ButtonPayload, decode, encode
from bot.store.base import Store


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UBOT> what is <https://meibel.ai|Meibel>?", "what is Meibel (https://meibel.ai)?"),
        ("<@UBOT> see <https://x.io/a?b=1&amp;c=2>", "see https://x.io/a?b=1&c=2"),
        ("ask <@U123|ann> in <#C42|general>", "ask @ann in #general"),
        ("ask <@U123> now", "ask @U123 now"),
        ("<!here> 1 &lt; 2 &amp;&amp; 3 &gt; 2", "@here 1 < 2 && 3 > 2"),
        ("<!subteam^S1|@support> help", "@support help"),
        ("mail <mailto:a@b.c|a@b.c>", "mail a@b.c"),
        ("   <@UBOT>   ", ""),
    ],
)
def test_plain_text(text: str, expected: str) -> None:
    assert plain_text(text, drop_user="UBOT") == expected


def envelope(event: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"type": "event_callback", "team_id": "T1", "event": event, **top}


def test_workspace_is_the_team_or_the_org_for_org_wide_installs() -> None:
    event = {"type": "message", "user": "U1", "channel": "C1", "ts": "1.0", "text": "hi"}
    assert workspace_of(envelope(event)) == "T1"
    org_wide = envelope(
        event,
        enterprise_id="E1",
        authorizations=[{"enterprise_id": "E1", "team_id": None, "is_enterprise_install": True}],
    )
    assert workspace_of(org_wide) == "E1"
    # clicks and commands of an org-wide install name the org the same way
    click = {
        "is_enterprise_install": True,
        "enterprise": {"id": "E1"},
        "team": None,
        "user": {"id": "U1", "team_id": "T9"},
    }
    assert workspace_of(click) == "E1"
    command = {"team_id": "T9", "enterprise_id": "E1", "is_enterprise_install": "true"}
    assert workspace_of(command) == "E1"
    assert (
        workspace_of({"team_id": "T9", "enterprise_id": "E1", "is_enterprise_install": "false"})
        == "T9"
    )


def test_message_becomes_a_post_with_its_thread() -> None:
    post = parse_message(
        envelope(
            {
                "type": "message",
                "channel_type": "channel",
                "user": "U1",
                "channel": "C1",
                "ts": "2.0",
                "thread_ts": "1.0",
                "text": "<@UBOT> hi",
            }
        )
    )
    assert post is not None
    assert (post.thread, post.in_thread, post.post_id) == ("1.0", True, "post:C1:2.0")
    question = post.question(bot_user="UBOT")
    assert (question.workspace, question.channel, question.thread, question.text) == (
        "T1",
        "C1",
        "1.0",
        "hi",
    )
    top = parse_message(
        envelope({"type": "app_mention", "user": "U1", "channel": "C1", "ts": "3.0", "text": "x"})
    )
    assert top is not None and top.thread == "3.0" and not top.in_thread


@pytest.mark.parametrize(
    "event",
    [
        {"subtype": "bot_message", "bot_id": "B1"},
        {"bot_id": "B1"},
        {"subtype": "message_changed", "hidden": True},
        {"subtype": "message_deleted", "hidden": True},
        {"subtype": "channel_join"},
        {"subtype": "channel_topic"},
        {"user": None},
    ],
)
def test_messages_not_to_answer(event: dict[str, Any]) -> None:
    base = {
        "type": "message",
        "channel_type": "channel",
        "user": "U1",
        "channel": "C1",
        "ts": "1.0",
        "text": "x",
    }
    assert parse_message(envelope(base | event)) is None


def test_file_share_is_a_post_with_its_files() -> None:
    url = "https://files.slack.com/files-pri/T1-F1/download/a.pdf"
    post = parse_message(
        envelope(
            {
                "type": "message",
                "subtype": "file_share",
                "user": "U1",
                "channel": "C1",
                "ts": "1.0",
                "text": "see",
                "user_team": "T9",
                "files": [
                    {
                        "name": "a.pdf",
                        "size": 1234,
                        "mimetype": "application/pdf",
                        "url_private_download": url,
                    },
                    {"title": "Doc", "mode": "external", "url_private": "https://docs.example"},
                    {"name": "gone.txt", "mode": "tombstone"},
                    {"name": "odd", "size": -1, "mimetype": ""},
                ],
            }
        )
    )
    assert post is not None
    assert post.files == (
        SharedFile("a.pdf", url, 1234, "application/pdf"),
        SharedFile("Doc", None, None, "application/octet-stream"),
        SharedFile("gone.txt", None, None, "application/octet-stream"),
        SharedFile("odd", None, None, "application/octet-stream"),
    )
    # the poster's team is the recipient of a streamed answer
    assert post.user_team == "T9"
    assert post.question(bot_user=None).reply_to["team"] == "T9"


def test_command_and_click_parsing() -> None:
    command = parse_command(
        {
            "team_id": "T1",
            "channel_id": "D1",
            "user_id": "U1",
            "text": " <@U2|bob> hi ",
            "trigger_id": "t",
        }
    )
    assert command is not None and command.is_dm and command.question_text == "@bob hi"
    assert command.user_team == "T1"
    click = parse_click(
        {
            "user": {"id": "U1", "team_id": "T1"},
            "team": {"id": "T1"},
            "channel": {"id": "C1"},
            "container": {"message_ts": "5.0", "channel_id": "C1", "thread_ts": "4.0"},
            "message": {"ts": "5.0", "thread_ts": "4.0"},
            "actions": [{"action_id": "meibel_followup:0", "value": "v", "action_ts": "6.0"}],
        }
    )
    assert click is not None
    assert (click.channel, click.thread, click.message_ts, click.user) == ("C1", "4.0", "5.0", "U1")
    assert click.user_team == "T1"
    assert parse_click({"actions": []}) is None


async def test_button_payloads_inline_and_stored(redis_store: Store) -> None:
    short = ButtonPayload(ButtonKind.ACTION, "T1", "Please do it", label="Do it ✅")
    value = await encode(short, store=redis_store, ttl_seconds=60)
    assert value.startswith("m1|act|T1|")
    assert await decode(value, store=redis_store) == short
    long = ButtonPayload(ButtonKind.RETRY, "T1", "q" * 5000)
    value = await encode(long, store=redis_store, ttl_seconds=60)
    assert len(value) < 100 and value.startswith("m1|ref|T1|")
    assert await decode(value, store=redis_store) == long
    # another workspace cannot read it: values are namespaced by tenant
    assert await decode(value.replace("|T1|", "|T2|"), store=redis_store) is None
    for junk in ("", "hello", "m1|ask|T1|not json", "m1|nope|T1|{}", 'm2|ask|T1|{"t":"x"}'):
        assert await decode(junk, store=redis_store) is None
