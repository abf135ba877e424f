"""The :eyes: on a question while its answer is not visible yet.

A fast answer needs no sign of work: the reaction is added only when nothing of the answer
shows after `delay` seconds (a slow agent still gets it), and removed at the end only if it
was added, by this run or by an earlier run of the same job (noted in the journal). Both
calls only decorate: when Slack's budget for them is used up they are skipped
(ratelimits.optional), never waited for.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.journal import REACTED, Journal
from adapters.slack.ratelimits import CallSkipped, optional

if TYPE_CHECKING:
    from adapters.slack.posting import Poster

log = logging.getLogger(__name__)

PROGRESS_REACTION = "eyes"
# A removal may wait this long for its budget (inside the responder's clean-up bound):
# eyes left on an answered question are worse than a short wait.
REMOVE_WAIT_SECONDS = 2.0


class EyesSign:
    """See the module docstring: `start`, `shown` when the answer becomes visible, `end`."""

    def __init__(
        self, *, poster: Poster, channel: str, ts: str, delay: float, journal: Journal
    ) -> None:
        self.poster = poster
        self.channel = channel
        self.ts = ts
        self.delay = delay
        self.journal = journal
        self.added = bool(journal.get(REACTED))  # an earlier run's eyes are ours to remove
        self._adding = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._react_later(), name=f"eyes:{self.ts}")

    def shown(self) -> None:
        """Something of the answer is visible: no reaction from now on (one being added
        is let finish, and taken away at the end)."""
        if self._task is not None and not self._task.done() and not self._adding:
            self._task.cancel()

    async def end(self) -> None:
        """No more reaction; take it away if it was added."""
        task = self._task
        if task is not None:
            if not self._adding:
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # we are cancelled ourselves
            except Exception:
                log.exception("the progress reaction failed")
        if self.added:
            await remove(self.poster, channel=self.channel, ts=self.ts)

    async def _react_later(self) -> None:
        await asyncio.sleep(self.delay)
        self._adding = True
        try:
            with optional():
                await self.poster.client.reactions_add(
                    channel=self.channel, timestamp=self.ts, name=PROGRESS_REACTION
                )
        except CallSkipped:
            return
        except SlackApiError as exc:
            error = slack_error(exc)
            # Already there: an earlier run of the same job put it; this run takes it away.
            if error != "already_reacted":
                log.warning("reactions.add refused: %s", error)
                return
        except TRANSPORT_ERRORS as exc:
            log.warning("reactions.add failed: %s", type(exc).__name__)
            return
        finally:
            self._adding = False
        self.added = True
        await self.journal.note(**{REACTED: "1"})


async def remove(poster: Poster, *, channel: str, ts: str) -> None:
    """Take the progress reaction away (best effort, and only within its budget)."""
    with optional(REMOVE_WAIT_SECONDS):
        await poster.call_quietly(
            "reactions.remove",
            poster.client.reactions_remove(channel=channel, timestamp=ts, name=PROGRESS_REACTION),
        )
