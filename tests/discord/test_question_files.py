"""Files attached to questions: forwarded to the agent, or named in a note under the answer."""

from __future__ import annotations

from bot.attachments import AttachmentPolicy
from bot.devserver import DevServer
from bot.devserver.recording import RecordedFile
from tests.discord.fakes.payloads import Json
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, session_with, text_of, thread_opened_in
from tests.fixtures.discord import StartBot

FAST = 0.2  # edit interval: these tests are about files, not pacing
MB = 1024 * 1024


def sent_files(server: DevServer) -> list[tuple[str, int, str]]:
    """(filename, size, content type) of every file part the agent received."""
    return [
        (f.filename, f.size, f.content_type)
        for request in server.chat_requests()
        for f in request.files
        if isinstance(f, RecordedFile)
    ]


def downloads(fake: FakeDiscord) -> list[str]:
    return [c.path.rsplit("/", 1)[1] for c in fake.recorder.calls if c.path.startswith("/cdn/")]


async def ask_in_dm(fake: FakeDiscord, text: str, files: list[Json]) -> str:
    """Alice asks in her DM with files; returns the text of the finished answer."""
    w = fake.world
    dm_id = int(fake.dm_with(w.alice_id)["id"])
    await fake.say(text, user=w.alice, channel_id=dm_id, attachments=files)
    return text_of(await answer_in(fake, dm_id))


async def test_files_attached_to_a_message_reach_the_agent_with_it(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_streaming=True, edit_interval=FAST)
    files = [
        fake_discord.attachment("notes.txt", b"the key was rotated on monday"),
        fake_discord.attachment("screen.png", b"\x89PNG" + bytes(300), content_type="image/png"),
    ]
    answer = await ask_in_dm(fake_discord, "What do these say?", files)
    assert sent_files(meibel_server) == [
        ("notes.txt", 29, "text/plain"),
        ("screen.png", 304, "image/png"),
    ]
    assert "Not sent to the agent" not in answer and "Answer 1:" in answer
    assert meibel_server.chat_requests()[0].user_message == "What do these say?"


async def test_files_over_the_limits_are_named_in_the_note_and_never_downloaded(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    policy = AttachmentPolicy.from_megabytes(1, max_count=2)
    await start_discord_bot(discord_streaming=True, edit_interval=FAST, attachments=policy)
    files = [
        fake_discord.attachment("a.txt", b"first"),
        fake_discord.attachment("big.bin", bytes(int(1.2 * MB))),
        fake_discord.attachment("my_notes.txt", b"second"),
        fake_discord.attachment("c.txt", b"one too many"),
    ]
    answer = await ask_in_dm(fake_discord, "Read them all", files)
    assert [name for name, _, _ in sent_files(meibel_server)] == ["a.txt", "my_notes.txt"]
    assert downloads(fake_discord) == ["a.txt", "my_notes.txt"]
    assert answer.endswith(
        "_Not sent to the agent: big.bin (1.2 MB is over the 1.0 MB limit); "
        "c.txt (only 2 files per message)._"
    )


async def test_a_file_that_cannot_be_downloaded_is_named_and_the_others_still_go(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_streaming=True, edit_interval=FAST)
    files = [
        fake_discord.attachment("gone_now.pdf", b"%PDF", downloadable=False),
        fake_discord.attachment("kept.txt", b"still here"),
    ]
    answer = await ask_in_dm(fake_discord, "Compare these", files)
    assert [name for name, _, _ in sent_files(meibel_server)] == ["kept.txt"]
    assert answer.endswith(
        "_Not sent to the agent: gone\\_now.pdf (could not be downloaded from Discord)._"
    )


async def test_with_streaming_off_the_note_says_files_need_streaming(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_streaming=False)
    files = [fake_discord.attachment("notes.txt", b"text")]
    answer = await ask_in_dm(fake_discord, "What is in it?", files)
    assert answer.endswith(
        "_Not sent to the agent: notes.txt (files reach the agent only when streaming is on)._"
    )
    assert not downloads(fake_discord) and not sent_files(meibel_server)
    assert "Answer 1:" in answer


async def test_ask_meibel_on_a_message_with_only_a_file_asks_about_the_file(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_streaming=True, edit_interval=FAST)
    w = fake_discord.world
    log = fake_discord.attachment("deploy.log", b"error 42 on staging")
    target = await fake_discord.say("", user=w.bob, channel_id=w.general_id, attachments=[log])
    await fake_discord.menu("Ask Meibel", user=w.alice, channel_id=w.general_id, target=target)
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    question = "What can you tell me about the attached files?"
    assert session_with(meibel_server, question).user_messages == [question]
    assert sent_files(meibel_server) == [("deploy.log", 19, "text/plain")]


async def test_ask_with_a_file_option_sends_the_file(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_streaming=True, edit_interval=FAST)
    w = fake_discord.world
    csv = fake_discord.attachment("usage.csv", b"day,calls\nmon,3\n", content_type="text/csv")
    await fake_discord.slash(
        "ask",
        user=w.alice,
        channel_id=w.general_id,
        options={"question": "Summarize this"},
        files={"file": csv},
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    answer = text_of(await answer_in(fake_discord, thread_id))
    assert sent_files(meibel_server) == [("usage.csv", 16, "text/csv")]
    assert "Answer 1: Summarize this" in answer
