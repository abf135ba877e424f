"""Adversarial agent text through the pipeline's safety step and then the Discord renderer
(content, embeds, buttons, split messages): no ping survives in Discord's syntax, no link
shows a host other than its target's, and every Discord limit holds. End to end, every
send, edit and follow-up carries allowed_mentions parse []."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings

from adapters.discord.render import ButtonKeys, DiscordMessage, render_answer
from bot.devserver import DevServer
from bot.domain import Answer
from bot.safety import safe_answer
from tests.adversarial import HUGE_ANSWER, answers, lies, lying_links, pings
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, pings_no_one, thread_opened_in
from tests.discord.test_render import assert_message_limits, components
from tests.fixtures.discord import StartBot

PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def keys(answer: Answer) -> ButtonKeys:
    return ButtonKeys(
        follow_ups=[f"{i:016x}" for i in range(len(answer.follow_ups))],
        actions=[f"{i + 100:016x}" for i in range(len(answer.actions))],
    )


def shown(message: DiscordMessage) -> list[str]:
    """Every text Discord shows for a message: content, embed texts, button labels."""
    texts = [message.content]
    for embed in message.embeds:
        data = embed.to_dict()
        texts += [data.get("title", ""), data.get("description", "")]
        texts += [data.get("footer", {}).get("text", "")]
        texts += [f["name"] + "\n" + f["value"] for f in data.get("fields", [])]
    texts += [b["label"] for row in components(message) for b in row["components"]]
    return texts


@PROPERTY
@given(answers())
@example(HUGE_ANSWER)
def test_every_message_pings_no_one_links_honestly_and_fits_discord(answer: Answer) -> None:
    for message in render_answer(safe_answer(answer), keys=keys(answer)):
        assert_message_limits(message)  # includes allowed_mentions: parse []
        for text in shown(message):
            assert pings(text) == [], text
            assert lying_links(text) == [], text
        for row in components(message):
            for button in row["components"]:
                if "url" in button:
                    assert not lies(button["label"], button["url"]), button


def test_the_reported_attacks_render_defused() -> None:
    answer = Answer(
        text="Heads up @everyone <@&42> [https://sso.example.com](https://evil.example/phish)",
    )
    [message] = render_answer(safe_answer(answer), keys=keys(answer))
    assert pings(message.content) == [] and "[evil.example](https://evil.example/phish)" in (
        message.content
    )


async def test_every_send_edit_and_followup_pings_no_one(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    """End to end, streaming on: the dev agent quotes each loud question in its answer,
    through channel sends and edits (a mention) and the interaction's follow-up and its
    edits (/ask in the thread); Discord receives allowed_mentions parse [] on every one."""
    await start_discord_bot(discord_streaming=True)
    w = fake_discord.world
    meibel_server.stream_chunk_delay_seconds = 0.3  # slow enough for edits
    loud = f"@everyone @here <@&{w.member_role_id}> <@{w.bob_id}> <#{w.general_id}> look"
    await fake_discord.say(loud, user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=thread_id, options={"question": loud + " again"}
    )
    token = payload["token"]
    await fake_discord.recorder.wait_for(
        lambda c: (
            c.matches("PATCH", rf"/webhooks/\d+/{token}/messages/\d+")
            and bool((c.json or {}).get("components"))
        )
    )
    calls = fake_discord.message_calls()
    paths = {
        "send": [c for c in calls if c.matches("POST", r"/channels/\d+/messages")],
        "edit": [c for c in calls if c.matches("PATCH", r"/channels/\d+/messages/\d+")],
        "followup": [c for c in calls if c.matches("POST", rf"/webhooks/\d+/{token}")],
        "followup edit": [
            c for c in calls if c.matches("PATCH", rf"/webhooks/\d+/{token}/messages/\d+")
        ],
    }
    for name, sent in paths.items():
        assert sent, f"no {name} seen"
        for call in sent:
            body = call.message_payload or {}
            assert pings_no_one(body), (name, body)
            assert pings(str(body.get("content") or "")) == [], (name, body)
    quoted = [str((c.message_payload or {}).get("content")) for c in paths["followup edit"]]
    assert any(f"<\u200b@{w.bob_id}>" in text for text in quoted)  # shown, defused
