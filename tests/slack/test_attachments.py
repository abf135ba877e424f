"""Files shared with a question: downloaded with the bot token, sent to the agent with the
message, and every file that does not get there named under the answer."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.attachments import AttachmentPolicy
from tests.fixtures.slack import BOT_TOKEN, BOT_USER
from tests.slack.conftest import Harness, message_event

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # 2,056 bytes, not text


def file_share(text: str, *, ts: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    return message_event(f"<@{BOT_USER}> {text}", ts=ts, subtype="file_share", files=files)


def note_of(message: dict[str, Any]) -> str:
    return str(message["blocks"])


async def test_shared_files_reach_the_agent_with_the_question(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    files = [
        harness.slack.add_file("notes.txt", b"meeting notes", mimetype="text/plain"),
        harness.slack.add_file("chart.png", PNG, mimetype="image/png"),
    ]
    ts = "1710000007.000100"
    with caplog.at_level(logging.DEBUG):
        await harness.event(file_share("What do these say?", ts=ts, files=files))
        [answer] = await harness.answers(1, thread_ts=ts)
    [chat] = harness.meibel.chat_requests()
    assert chat.form is not None and chat.form["user_message"] == "What do these say?"
    assert [(f.filename, f.size, f.content_type) for f in chat.files] == [
        ("notes.txt", len(b"meeting notes"), "text/plain"),
        ("chart.png", len(PNG), "image/png"),
    ]
    downloads = harness.slack.calls_to("download")
    assert len(downloads) == 2 and all(d.token == BOT_TOKEN for d in downloads)
    assert "Not sent to the agent" not in note_of(answer)
    assert not any(BOT_TOKEN in r.getMessage() for r in caplog.records)


async def test_files_over_the_limits_or_gone_are_named_under_the_answer(start_bot: Any) -> None:
    policy = AttachmentPolicy.from_megabytes(1, max_count=3)
    big = 1536 * 1024
    harness: Harness = await start_bot(bot_options={"attachments": policy})
    slack = harness.slack
    files = [
        slack.add_file("small.txt", b"fits"),
        slack.add_file("big.bin", b"x" * big, mimetype="application/octet-stream"),
        # Slack said it was small; the download shows otherwise
        slack.add_file("liar.txt", b"y" * big, size=10),
        slack.file_object("FGONE00001", "deleted.pdf", size=100),  # answers 404
        slack.add_file("third.txt", b"one too many"),
    ]
    ts = "1710000007.000200"
    await harness.event(file_share("Read what you can", ts=ts, files=files))
    [answer] = await harness.answers(1, thread_ts=ts)
    [chat] = harness.meibel.chat_requests()
    assert [(f.filename, f.size) for f in chat.files] == [("small.txt", 4)]
    note = note_of(answer)
    assert "Not sent to the agent" in note
    assert "`big.bin` (1.5 MB is over the 1.0 MB limit)" in note
    assert "`liar.txt` (over the 1.0 MB limit)" in note
    assert "`deleted.pdf` (could not be downloaded)" in note
    assert "`third.txt` (only 3 files per message)" in note
    # the answer itself is intact above the note
    assert "Read what you can" in answer["blocks"][0]["text"]
    # only what the policy let through was fetched
    assert sorted(d["name"] for d in slack.calls_to("download")) == [
        "deleted.pdf",
        "liar.txt",
        "small.txt",
    ]


async def test_the_token_goes_to_slack_only(harness: Harness) -> None:
    elsewhere = harness.slack.add_file("notes.txt", b"secret plans")
    # the same fake, reached by another host name: not Slack's host as configured
    for key in ("url_private", "url_private_download"):
        elsewhere[key] = elsewhere[key].replace("127.0.0.1", "localhost")
    ts = "1710000007.000300"
    await harness.event(file_share("Fetch this", ts=ts, files=[elsewhere]))
    [answer] = await harness.answers(1, thread_ts=ts)
    assert harness.slack.calls_to("download") == []
    assert "notes.txt" in note_of(answer) and "could not be downloaded" in note_of(answer)
    assert harness.meibel.chat_requests()[0].files == []


async def test_without_files_read_the_sign_in_page_is_not_sent_as_the_file(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.slack.files_read_scope = False
    ts = "1710000007.000400"
    with caplog.at_level(logging.WARNING):
        shared = harness.slack.add_file("report.pdf", b"%PDF-1.7", mimetype="application/pdf")
        await harness.event(file_share("Summarize", ts=ts, files=[shared]))
        [answer] = await harness.answers(1, thread_ts=ts)
    assert harness.meibel.chat_requests()[0].files == []
    assert "report.pdf" in note_of(answer)
    assert any("files:read" in r.getMessage() for r in caplog.records)


async def test_with_streaming_off_files_are_named_as_not_sent(start_bot: Any) -> None:
    harness: Harness = await start_bot(slack_streaming=False)
    ts = "1710000007.000500"
    shared = harness.slack.add_file("report.pdf", b"%PDF-1.7", mimetype="application/pdf")
    await harness.event(file_share("What does this say?", ts=ts, files=[shared]))
    [answer] = await harness.answers(1, thread_ts=ts)
    await harness.settle()
    assert harness.slack.calls_to("download") == []  # nothing to send them with
    assert [r.path.rsplit("/", 1)[-1] for r in harness.meibel.chat_requests()] == ["chat"]
    note = note_of(answer)
    assert "What does this say?" in note
    assert "report.pdf" in note and "only when streaming is on" in note
    assert len(harness.slack.messages(ts)) == 1  # the note is under the answer, not apart
