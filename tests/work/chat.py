"""A stand-in chat platform on Redis, and the handler an adapter would write for it.

Messages "posted" go to a Redis hash and answers to a list, so that a test can count what
users would see even when the worker that posted them ran in another process (and was
killed). The handler follows the posted-log protocol every adapter follows: post a
placeholder once and record its id; on a re-run, reuse the recorded message. Like every
adapter, it calls `guard()` before anything a user would see, so a run that lost its job
to another worker (a stalled process) posts nothing more.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bot.work import Handler, Job, PostedLog
from bot.work.fence import guard


class FakeChat:
    """What users see: one message per question, filled in with its answer."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        self.messages = f"{prefix}:chat:messages"  # message id -> job id
        self.answers = f"{prefix}:chat:answers"  # list of "job id|message id", in order
        self.next_id = f"{prefix}:chat:next-id"
        self.started = f"{prefix}:chat:started"

    def thread_log(self, thread: str) -> str:
        """Answers of one thread, in the order users saw them."""
        return f"{self.messages}:thread:{thread}"

    def thread_events(self, thread: str) -> str:
        """ "start n" / "end n" of every handler run in one thread, to see overlaps."""
        return f"{self.messages}:events:{thread}"

    async def post(self, job: Job) -> str:
        await guard()
        message = str(await self.client.incr(self.next_id))
        await self.client.hset(self.messages, message, job.id)
        return message

    async def answer(self, job: Job, message: str, *, tag: str) -> None:
        await guard()
        await self.client.rpush(self.answers, f"{job.id}|{message}|{tag}")
        await self.client.rpush(self.thread_log(job.question.thread), job.data["n"])


def answering(chat: FakeChat, posted: PostedLog, *, delay: float, tag: str = "") -> Handler:
    """An adapter's handler: placeholder first (once per job), then a slow answer.

    `tag` names the worker in the answers, to see who did the work.
    """

    async def handle(job: Job) -> None:
        before = await posted.get(job)
        if before is not None and "message" in before.info:
            message = before.info["message"]  # a re-run: update, never post again
        else:
            message = await chat.post(job)
            await posted.record(job, {"message": message})
        await chat.client.incr(chat.started)
        events = chat.thread_events(job.question.thread)
        await chat.client.rpush(events, f"start {job.data['n']}")
        await asyncio.sleep(delay)  # the agent thinking
        await chat.answer(job, message, tag=tag)
        await chat.client.rpush(events, f"end {job.data['n']}")

    return handle
