"""Adversarial agent text through the pipeline's safety step and then the Discord renderer
(content, embeds, buttons, split messages): no ping survives in Discord's syntax, no link
shows a host other than its target's, and every Discord limit holds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from adapters.discord.render import ButtonKeys, DiscordMessage, render_answer
from bot.domain import Answer
from bot.safety import safe_answer
from tests.adversarial import answers, lies, lying_links, pings
from tests.discord.test_render import assert_message_limits, components

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
