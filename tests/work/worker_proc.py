"""A worker process for the fault tests: `python -m tests.work.worker_proc URL PREFIX`.

It runs the FakeChat handler on the queue under PREFIX until killed or sent SIGTERM. The
chat lives on the same Redis unless `--chat-url` names another (so that a test can stall
the queue's Redis while the chat platform still answers, as Slack would).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal

from bot.store import RedisStore
from bot.work import RedisWorkQueue
from tests.work.chat import FakeChat, answering
from tests.work.helpers import FAST


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("prefix")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--visibility", type=float, default=FAST.visibility_timeout)
    parser.add_argument("--tag", default="")
    parser.add_argument("--chat-url", default="")
    args = parser.parse_args()
    store = RedisStore.from_url(args.url, prefix=args.prefix)
    chat_store = RedisStore.from_url(args.chat_url, prefix=args.prefix) if args.chat_url else store
    config = dataclasses.replace(FAST, visibility_timeout=args.visibility)
    queue = RedisWorkQueue(store, config=config)
    chat = FakeChat(chat_store.client, args.prefix)
    handler = answering(chat, queue.posted, delay=args.delay, tag=args.tag)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    runner = asyncio.create_task(queue.run(handler, concurrency=args.concurrency))
    await stopping.wait()
    await queue.stop(grace_seconds=5)
    await runner
    await store.aclose()
    if chat_store is not store:
        await chat_store.aclose()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main())
