"""The core parts the Discord adapter uses, and how it answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.attachments import AttachmentPolicy
from bot.pipeline import Pipeline
from bot.store.base import Store


@dataclass(frozen=True, slots=True)
class Services:
    """The pipeline and store, and the answering settings (streaming, attachments)."""

    pipeline: Pipeline
    store: Store
    session_ttl_seconds: int
    # Show the answer as the agent writes it (DISCORD_STREAMING, else STREAMING).
    streaming: bool = True
    # Files attached to questions that go to the agent (MAX_ATTACHMENT_MB, MAX_ATTACHMENTS).
    attachments: AttachmentPolicy = field(default_factory=AttachmentPolicy)
    # A live answer is edited at most once per this many seconds (Discord rate-limits edits).
    edit_interval_seconds: float = 1.0
