"""The Slack app: Bolt listeners that acknowledge at once and answer in the background.

Listeners only parse and acknowledge; the work (claiming the post, asking Meibel, posting)
runs in tracked background tasks, so Slack gets its ack well inside 3 s in HTTP and Socket
Mode alike, however long the agent takes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.assistant.async_assistant import AsyncAssistant
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.background import Background
from adapters.slack.clicks import ClickHandler
from adapters.slack.downloads import Downloader
from adapters.slack.inbound import (
    PLATFORM,
    Post,
    parse_assistant_thread,
    parse_command,
    parse_message,
    reply_to,
)
from adapters.slack.live import StreamOptions
from adapters.slack.render import (
    CALL_TO_ACTION,
    FEEDBACK_ACTION,
    FOLLOW_UP_ACTION,
    LINK_ACTION,
    RETRY_ACTION,
)
from adapters.slack.responder import (
    NOT_A_MEMBER,
    TRANSPORT_ERRORS,
    Progress,
    Responder,
    Whisper,
    slack_error,
)
from adapters.slack.settings import SlackSettings
from adapters.slack.threads import is_bot_thread
from bot.attachments import AttachmentPolicy
from bot.domain import Question, Tenant
from bot.pipeline import Pipeline
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

# Slack retries an event for about an hour at most; a day leaves a wide margin.
CLAIM_TTL_SECONDS = 24 * 3600
ASK_COMMAND = "/ask"
TITLE_CHARS = 60
# Slack allows about one edit a second per message (chat.update is Tier 3, appendStream
# Tier 4 per workspace); the first text of an answer never waits for it.
STREAM_INTERVAL_SECONDS = 1.0


def build_client(settings: SlackSettings) -> AsyncWebClient:
    """The Web API client: retries on rate limits (honouring Retry-After) and lost connections."""
    return AsyncWebClient(
        token=settings.bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


class _TokenFromEnvironment(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client (which holds the same
    token, and the API URL) wins; that warning is noise, not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("As you gave `client` as well")


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("adapters.slack.bolt")
    if not any(isinstance(f, _TokenFromEnvironment) for f in logger.filters):
        logger.addFilter(_TokenFromEnvironment())
    return logger


class SlackBot:
    """The Bolt app with every listener, and what they share."""

    def __init__(
        self,
        *,
        settings: SlackSettings,
        pipeline: Pipeline,
        store: Store,
        session_ttl_seconds: int,
        client: AsyncWebClient | None = None,
        core_streaming: bool = True,
        attachments: AttachmentPolicy | None = None,
        stream_interval: float = STREAM_INTERVAL_SECONDS,
    ) -> None:
        """`core_streaming` is the core's STREAMING (SLACK_STREAMING wins when set);
        `stream_interval` the seconds between two updates of a message being written."""
        self.settings = settings
        self.store = store
        self.client = client or build_client(settings)
        self.background = Background()
        streaming = settings.streaming_enabled(core_streaming)
        self.responder = Responder(
            client=self.client,
            pipeline=pipeline,
            store=store,
            button_ttl_seconds=session_ttl_seconds,
            downloader=Downloader(
                token=settings.bot_token,
                api_url=settings.slack_api_url,
                policy=attachments or AttachmentPolicy(),
            ),
            stream=StreamOptions(mode=settings.slack_streaming_mode, interval=stream_interval)
            if streaming
            else None,
        )
        self.clicks = ClickHandler(bot=self)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret,
            # Events are acked before listeners run; the answer is background work.
            process_before_response=False,
            logger=_bolt_logger(),
        )
        self._register()

    # -- wiring --------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        assistant = AsyncAssistant()
        assistant.thread_started(self.on_assistant_thread_started)
        assistant.user_message(self.on_assistant_message)
        # We do not use the thread context; the default handler would store it in
        # message metadata through extra API calls and scopes.
        assistant.thread_context_changed(self.on_ignored)
        app.assistant(assistant)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.command(ASK_COMMAND)(self.on_ask)
        for prefix in (FOLLOW_UP_ACTION, CALL_TO_ACTION, RETRY_ACTION):
            app.action(re.compile(rf"^{re.escape(prefix)}(:|$)"))(self.clicks.on_ask_button)
        app.action(re.compile(rf"^{re.escape(FEEDBACK_ACTION)}(:|$)"))(self.clicks.on_feedback)
        app.action(re.compile(rf"^{re.escape(LINK_ACTION)}(:|$)"))(self.on_link)

    # -- events --------------------------------------------------------------------------
    async def on_mention(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        self._post_received(body, context, mentioned=True)

    async def on_message(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        self._post_received(body, context, mentioned=False)

    async def on_ignored(self) -> None:
        return None

    def _post_received(
        self, body: dict[str, Any], context: AsyncBoltContext, *, mentioned: bool
    ) -> None:
        post = parse_message(body)
        if post is None:
            return
        bot_user = self.remember_bot_user(context)
        self.background.spawn(
            self.handle_post(post, bot_user=bot_user, mentioned=mentioned), name=post.post_id
        )

    async def handle_post(self, post: Post, *, bot_user: str | None, mentioned: bool) -> None:
        """Answer a post when it is addressed to the bot, once across all processes."""
        addressed = post.is_dm or mentioned or post.mentions(bot_user)
        if not addressed:
            if not (self.settings.slack_reply_without_mention and post.in_thread):
                return
            if post.mentions_others(bot_user):
                return  # people talking to each other in the bot's thread
            try:
                if not await is_bot_thread(self.store, post.thread_key):
                    return
            except StoreError as exc:
                log.warning("cannot tell whether %s is the bot's thread: %s", post.thread_key, exc)
                return
        if not await self.claim(post.tenant, post.post_id):
            return
        whisper = self.ephemeral(channel=post.channel, user=post.user, thread_ts=post.thread_ts)
        if not self.settings.channel_allowed(post.channel, is_dm=post.is_dm):
            await whisper(texts.CHANNEL_NOT_ALLOWED)
            return
        question = post.question(bot_user=bot_user)
        await self.responder.respond(
            question, progress=Progress(react_to=post.ts), whisper=whisper, files=post.files
        )

    async def on_assistant_thread_started(self, body: dict[str, Any]) -> None:
        thread = parse_assistant_thread(body)
        if thread is None or not self.settings.channel_allowed(thread.channel, is_dm=True):
            return
        prompts = [
            {"title": title, "message": message} for title, message in texts.SUGGESTED_PROMPTS
        ]
        self.background.spawn(
            self._call(
                "assistant.threads.setSuggestedPrompts",
                self.client.assistant_threads_setSuggestedPrompts(
                    channel_id=thread.channel,
                    thread_ts=thread.thread_ts,
                    title=texts.SUGGESTED_PROMPTS_TITLE,
                    prompts=prompts,
                ),
            ),
            name=f"prompts:{thread.channel}:{thread.thread_ts}",
        )

    async def on_assistant_message(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        post = parse_message(body)
        if post is None:
            return
        self.background.spawn(
            self.handle_assistant_post(post, bot_user=self.remember_bot_user(context)),
            name=post.post_id,
        )

    async def handle_assistant_post(self, post: Post, *, bot_user: str | None) -> None:
        if not await self.claim(post.tenant, post.post_id):
            return
        whisper = self.ephemeral(channel=post.channel, user=post.user, thread_ts=post.thread_ts)
        if not self.settings.channel_allowed(post.channel, is_dm=True):
            await whisper(texts.CHANNEL_NOT_ALLOWED)
            return
        question = post.question(bot_user=bot_user)
        try:
            first = not await is_bot_thread(self.store, post.thread_key)
        except StoreError:
            first = False
        title = texts.shorten(question.text, TITLE_CHARS) if first and question.text else None
        progress = Progress(react_to=post.ts, assistant=True, title=title)
        await self.responder.respond(question, progress=progress, whisper=whisper, files=post.files)

    # -- /ask ------------------------------------------------------------------------------
    async def on_ask(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        self.remember_bot_user(context)
        command = parse_command(body)
        if command is None:
            await ack()
            return
        if not self.settings.channel_allowed(command.channel, is_dm=command.is_dm):
            await ack(text=texts.CHANNEL_NOT_ALLOWED)
            return
        if not command.question_text:
            await ack(text=texts.ASK_USAGE)  # the ack's text is shown only to the user
            return
        await ack()
        whisper = self.responder_url(respond)
        self.background.spawn(
            self.ask_in_new_thread(
                tenant=Tenant(PLATFORM, command.workspace),
                channel=command.channel,
                user=command.user,
                text=command.question_text,
                event_id=f"command:{command.trigger_id or command.channel}",
                whisper=whisper,
                team=command.user_team,
            ),
            name=f"ask:{command.channel}",
        )

    async def ask_in_new_thread(
        self,
        *,
        tenant: Tenant,
        channel: str,
        user: str,
        text: str,
        event_id: str,
        whisper: Whisper,
        team: str | None = None,
    ) -> None:
        """Post "<user> asked: ..." as a new message, then answer in its thread; `team` is
        the asker's team (a streamed answer's recipient)."""
        if not await self.claim(tenant, event_id):
            return
        ts = await self.post_asked(
            channel=channel, thread_ts=None, user=user, text=text, whisper=whisper
        )
        if ts is None:
            return
        question = Question(
            platform=PLATFORM,
            workspace=tenant.workspace,
            channel=channel,
            thread=ts,
            user=user,
            text=text,
            reply_to=reply_to(channel=channel, thread_ts=ts, message_ts=ts, team=team),
            event_id=event_id,
        )
        await self.responder.respond(question, progress=Progress(react_to=ts), whisper=whisper)

    async def post_asked(
        self, *, channel: str, thread_ts: str | None, user: str, text: str, whisper: Whisper
    ) -> str | None:
        """Show the question as asked by `user`; its ts, or None when Slack refused."""
        try:
            response = await self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=texts.asked(user, text)
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("could not post the question in %s: %s", channel, error)
            if error in NOT_A_MEMBER:
                await whisper(texts.not_in_channel(self.responder.bot_user))
            return None
        except TRANSPORT_ERRORS as exc:
            log.warning("could not post the question in %s: %s", channel, type(exc).__name__)
            return None
        ts = response.get("ts")
        return str(ts) if ts else None

    # -- small helpers ---------------------------------------------------------------------
    async def on_link(self, ack: AsyncAck) -> None:
        await ack()  # the browser opens the link; Slack still wants the click acknowledged

    async def claim(self, tenant: Tenant, event_id: str) -> bool:
        """True for the one process (and the one delivery) that should handle this event."""
        try:
            return await self.store.claim_event(tenant, event_id, ttl_seconds=CLAIM_TTL_SECONDS)
        except StoreError as exc:
            # Without the store, answering twice beats not answering: the pipeline will
            # tell the user the store is down.
            log.warning("could not claim %s in %s: %s", event_id, tenant, exc)
            return True

    def ephemeral(self, *, channel: str, user: str, thread_ts: str | None) -> Whisper:
        async def whisper(text: str) -> None:
            await self._call(
                "chat.postEphemeral",
                self.client.chat_postEphemeral(
                    channel=channel, user=user, text=text, thread_ts=thread_ts
                ),
            )

        return whisper

    def responder_url(self, respond: AsyncRespond) -> Whisper:
        async def whisper(text: str) -> None:
            try:
                await respond(text=text, response_type="ephemeral", replace_original=False)
            except Exception as exc:  # a webhook failure must not end the background task
                log.warning("could not reply through response_url: %s", type(exc).__name__)

        return whisper

    async def _call(self, method: str, call: Coroutine[Any, Any, object]) -> None:
        await self.responder.call_quietly(method, call)

    def remember_bot_user(self, context: AsyncBoltContext) -> str | None:
        """The bot's user id (from auth.test, via Bolt), kept for messages that name it."""
        bot_user = context.bot_user_id
        if bot_user:
            self.responder.bot_user = bot_user
        return bot_user
