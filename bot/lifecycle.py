"""Running a long-lived process: stop gracefully on SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


async def until_signalled(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until it ends or SIGTERM/SIGINT arrives; a signal cancels it, which
    stops it gracefully (it drains answers in flight), and then returns normally."""
    task = asyncio.create_task(work)
    loop = asyncio.get_running_loop()
    stopping = False

    def stop(signum: signal.Signals) -> None:
        nonlocal stopping
        if not stopping:
            log.info("%s received: stopping gracefully", signum.name)
        stopping = True
        task.cancel()

    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop, signum)
    try:
        await task
    except asyncio.CancelledError:
        if not stopping:
            raise  # cancelled from outside, not by a signal
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
