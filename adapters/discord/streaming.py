"""A streamed answer in Discord: one message edited as the agent writes, then the full answer.

"typing" shows until the first message is posted. The text so far and the agent's activity
go to a `Pacer` (at most one write a second, the first text at once), which writes them
through a `LiveAnswer`. When the pipeline's Final arrives, the messages become the full
answer in one last paced write; a stream that showed nothing yet ends as a plain answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence

import discord

from adapters.discord.delivery import Typing, send_all
from adapters.discord.final import NO_OFFER, Answered, Offer, Ready, prepare
from adapters.discord.live import LiveAnswer, live_parts
from adapters.discord.pacing import Pacer, Snapshot
from adapters.discord.services import Services
from bot import replies
from bot.domain import Answer, Final, PartialText, Progress, Question
from bot.meibel.client import FilePart
from bot.turnlog import Notes
from bot.work.fence import FenceLost

log = logging.getLogger(__name__)


async def stream_answer(
    services: Services,
    question: Question,
    *,
    files: Sequence[FilePart],
    note: str | None,
    typing_channel: discord.abc.Messageable | None,
    live: LiveAnswer,
    notes: Notes | None = None,
    offer: Offer = NO_OFFER,
) -> Answered:
    """Answer as the agent writes, through `live`; says whether the whole answer was
    posted somewhere. `notes`: the job's, for the pipeline."""
    typing = Typing(typing_channel)
    await typing.start()

    async def write(snapshot: Snapshot) -> None:
        await live.show(live_parts(snapshot.text, snapshot.status))
        if live.posted:
            await typing.stop()  # the message itself shows the agent at work now

    pacer = Pacer(write, interval=services.edit_interval_seconds)
    try:
        answer, shown_text = await _consume(
            services, question, files=files, pacer=pacer, notes=notes
        )
        await pacer.drain()
        if note:
            answer = replies.with_note(answer, note)
        ready = await prepare(services, question.thread_key, answer, offer)
        if not live.posted:  # the places that refused a live message had their chance
            return Answered(await send_all(ready.render, live.remaining_targets), ready.answer)
        await pacer.wait_turn()
        return Answered(await _finish(live, ready, shown_text=shown_text), ready.answer)
    finally:
        pacer.cancel()
        await typing.stop()


async def _consume(
    services: Services,
    question: Question,
    *,
    files: Sequence[FilePart],
    pacer: Pacer,
    notes: Notes | None,
) -> tuple[Answer, str]:
    """Feed the pacer until the Final; returns it and the last text so far."""
    text, status = "", None
    final: Answer | None = None
    stream = services.pipeline.ask_stream(question, files=files, notes=notes)
    try:
        async for update in stream:
            if isinstance(update, Progress):
                status = update.text
            elif isinstance(update, PartialText):
                text = update.text
            elif isinstance(update, Final):
                final = update.answer
                continue
            pacer.update(Snapshot(text, status))
    except FenceLost:
        raise  # another worker answers: nothing more from this run
    except Exception:  # the pipeline answers its own failures; this is the last net
        log.exception("the answer stream failed in %s", question.thread_key)
    finally:
        # Left early (an error, or cancelled at shutdown): release the thread's lock now.
        if isinstance(stream, AsyncGenerator):
            await stream.aclose()
    if final is None:
        log.error("the answer stream of %s ended without a final answer", question.thread_key)
        final = replies.cut_off(text) if text else replies.INTERNAL
    return final, text


async def _finish(live: LiveAnswer, ready: Ready, *, shown_text: str) -> bool:
    """The live messages become the answer; a failure keeps the text shown and says so."""
    if not ready.answer.ok and shown_text.strip():
        # A failure after text was shown: keep that text (without the status line) and
        # post the explanation under it rather than replace what the user already read.
        await live.show(live_parts(shown_text, None))
        return await send_all(ready.render, live.remaining_targets)
    if await live.finish(ready.render()):
        return True
    log.warning("could not turn the live messages into the answer; posting it afresh")
    return await send_all(ready.render, live.remaining_targets)
