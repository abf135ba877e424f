"""Feedback that reaches the agent's owners: a click is kept with its answer's context,
counted in /metrics, and exported as CSV by `meibel-bot feedback export`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from adapters.slack.render import FEEDBACK_ACTION
from bot.store.sqlite import SqliteStore
from tests.slack.conftest import CHANNEL, OTHER_USER, StartBot, mention
from tests.slack.test_commands_and_clicks import buttons
from tests.test_terminal import clean_env, run


async def test_a_thumbs_down_is_exported_with_its_signal_question_answer_and_link(
    start_bot: StartBot, sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    harness = await start_bot(store=sqlite_store)
    root = harness.slack.next_ts()
    await harness.event(mention("How do refunds work?", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    [feedback] = buttons(answer, FEEDBACK_ACTION)
    value = feedback["negative_button"]["value"]
    signal_id = value.split(":", 1)[1]
    await harness.click(action_id=FEEDBACK_ACTION, value=value, message=answer)
    await harness.settle()

    env = clean_env(tmp_path, MEIBEL_BOT_DB=sqlite_store.path)
    code, out, err = await run(["feedback", "export", "--since", "1d"], env=env, cwd=tmp_path)
    assert code == 0, err
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["verdict"] == "negative"
    assert row["signal_id"] == signal_id
    assert row["question"] == "How do refunds work?"
    assert "How do refunds work?" in row["answer"]  # the answer's text, as Slack showed it
    assert row["link"] == (
        f"https://test.slack.com/archives/{CHANNEL}/p{answer['ts'].replace('.', '')}"
        f"?thread_ts={root}&cid={CHANNEL}"
    )
    assert row["user"] == ""  # identity sharing is off in this harness
    assert row["platform"] == "slack" and row["channel"] == CHANNEL

    metrics = (await harness.http.get("/metrics")).text
    assert 'meibel_bot_feedback_total{platform="slack",verdict="negative"} 1.0' in metrics
    assert OTHER_USER not in out


async def test_a_bad_since_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = await run(
        ["feedback", "export", "--since", "a week"], env=clean_env(tmp_path), cwd=tmp_path
    )
    assert code == 2 and not out
    assert err.strip() == (
        "meibel-bot: --since: bad duration 'a week': expected a number and s, m, h, d or w (7d)"
    )
