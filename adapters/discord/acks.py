"""Whether an interaction was acknowledged, for the worker that answers it.

Intake queues the job first and acknowledges Discord second (so that an acknowledged
question is never lost), which means a fast worker can hold the job before the deferral
has reached Discord, when its follow-up webhook does not work yet. So intake writes down
how the acknowledgement went, and the worker waits for that (briefly) before answering:
acknowledged, go ahead; refused (the interaction expired), the user was told to ask again,
so do nothing. In the same process the wait ends at once; across processes it reads the
store.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging

from bot.domain import Tenant
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

TTL_SECONDS = 3600  # an interaction token lives 15 minutes; a retry may come later
KEPT_LOCALLY = 10_000
FIRST_POLL = 0.01
MAX_POLL = 0.2


class Ack(enum.Enum):
    DONE = "done"  # Discord took the acknowledgement: the webhook works
    GONE = "gone"  # refused (expired, or Discord failed): do not answer


class Acks:
    """Acknowledgements by interaction id: in memory for this process, in the store for all."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: collections.OrderedDict[int, Ack] = collections.OrderedDict()
        self._waiters: dict[int, asyncio.Event] = {}

    async def record(self, tenant: Tenant, interaction_id: int, ack: Ack) -> None:
        """How the acknowledgement went. Never raises: a worker that learns nothing
        waits its bound and then answers anyway."""
        self._known[interaction_id] = ack
        if len(self._known) > KEPT_LOCALLY:
            self._known.popitem(last=False)
        waiter = self._waiters.get(interaction_id)
        if waiter is not None:
            waiter.set()
        try:
            await self._store.put_value(
                tenant, _name(interaction_id), ack.value, ttl_seconds=TTL_SECONDS
            )
        except StoreError as exc:
            log.warning("could not note the acknowledgement of %s: %s", interaction_id, exc)

    async def wait(self, tenant: Tenant, interaction_id: int, *, within: float) -> Ack | None:
        """The acknowledgement, waiting up to `within` seconds; None if none was noted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        delay = FIRST_POLL
        waiter = self._waiters.setdefault(interaction_id, asyncio.Event())
        try:
            while True:
                ack = self._known.get(interaction_id) or await self._read(tenant, interaction_id)
                left = deadline - loop.time()
                if ack is not None or left <= 0:
                    return ack
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(delay, left)):
                        await waiter.wait()
                delay = min(delay * 2, MAX_POLL)
        finally:
            self._waiters.pop(interaction_id, None)

    async def _read(self, tenant: Tenant, interaction_id: int) -> Ack | None:
        try:
            raw = await self._store.get_value(tenant, _name(interaction_id))
        except StoreError:
            return None  # keep waiting; the deadline bounds it
        try:
            return Ack(raw) if raw is not None else None
        except ValueError:
            return None


def _name(interaction_id: int) -> str:
    return f"ack:{interaction_id}"
