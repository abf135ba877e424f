"""Feedback that reaches the agent's owners: a click is kept with its answer's context,
counted in /metrics, and exported as CSV by `meibel-bot feedback export`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import urlencode

from slack_sdk.models.views import View

from adapters.slack.comments import COMMENT_ACTION
from adapters.slack.render import FEEDBACK_ACTION
from bot.store.sqlite import SqliteStore
from tests.fixtures.slack import TEAM
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


async def test_a_comment_added_to_feedback_is_kept_beside_it(
    start_bot: StartBot, sqlite_store: SqliteStore, tmp_path: Path
) -> None:
    harness = await start_bot(store=sqlite_store)
    root = harness.slack.next_ts()
    await harness.event(mention("How do refunds work?", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    [buttons_block] = buttons(answer, FEEDBACK_ACTION)
    await harness.click(
        action_id=FEEDBACK_ACTION, value=buttons_block["positive_button"]["value"], message=answer
    )
    [thanks] = await harness.slack.wait_for("chat.postEphemeral")
    [add] = [e for b in thanks.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert add["text"]["text"] == "Add a comment"
    await harness.click(action_id=COMMENT_ACTION, value=add["value"], message=answer)
    [opened] = await harness.slack.wait_for("views.open")
    view = opened.args["view"]
    View(**view).validate_json()  # a modal Slack accepts

    submission = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": OTHER_USER, "team_id": TEAM},
        "api_app_id": "A0000001",
        "trigger_id": "trig.comment",
        "view": {
            **view,
            "id": "V0000001",
            "team_id": TEAM,
            "state": {"values": {"comment": {"comment_text": {"type": "plain_text_input",
                      "value": "Right answer, but cite the refund policy page"}}}},
        },
    }  # fmt: skip
    body = urlencode({"payload": json.dumps(submission)}).encode()
    response = await harness.send(body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    await harness.settle()

    env = clean_env(tmp_path, MEIBEL_BOT_DB=sqlite_store.path)
    code, out, err = await run(["feedback", "export"], env=env, cwd=tmp_path)
    assert code == 0, err
    # two rows, in the order they were kept: the verdict is kept in the background, so
    # under load the comment may come first
    rows = list(csv.DictReader(io.StringIO(out)))
    [verdict] = [r for r in rows if not r["comment"]]
    [comment] = [r for r in rows if r["comment"]]
    assert verdict["verdict"] == comment["verdict"] == "positive"
    assert comment["signal_id"] == verdict["signal_id"] != ""
    assert comment["comment"] == "Right answer, but cite the refund policy page"
    assert comment["link"] == verdict["link"] != ""
