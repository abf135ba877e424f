"""The Slack app: Bolt listeners that turn events into queued jobs, and what they share.

A listener parses the payload, decides whether the bot should answer, and submits a job to
the work queue (jobs.py, intake.py) before it returns; only then does Bolt acknowledge
(`process_before_response`), in HTTP and Socket Mode alike. So an acknowledged question is
never lost, and the ack still comes in a few milliseconds: the answer is the worker's job
(work.py), in this process or any other of the fleet.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.assistant.async_assistant import AsyncAssistant
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.background import Background
from adapters.slack.channel_settings import MEIBEL_COMMAND, SETTINGS_VIEW, ChannelSettingsUI
from adapters.slack.clicks import ClickHandler
from adapters.slack.comments import COMMENT_ACTION, COMMENT_VIEW, Comments
from adapters.slack.downloads import Downloader
from adapters.slack.fleet import FleetOptions
from adapters.slack.handoff import RESOLVED_ACTION, HandOff
from adapters.slack.history import ThreadHistory
from adapters.slack.home import Home
from adapters.slack.identity import SlackIdentity
from adapters.slack.inbound import (
    PLATFORM,
    Post,
    parse_assistant_thread,
    parse_command,
    parse_message,
    parse_shortcut,
    plain_text,
)
from adapters.slack.intake import LOOKUP_SECONDS, Intake
from adapters.slack.jobs import ask_job, post_job, shortcut_job
from adapters.slack.live import StreamOptions
from adapters.slack.ratelimits import Budgets, Limits, PacingMetrics, slack_limits
from adapters.slack.render import (
    CALL_TO_ACTION,
    FEEDBACK_ACTION,
    FOLLOW_UP_ACTION,
    HANDOFF_ACTION,
    LINK_ACTION,
    RETRY_ACTION,
)
from adapters.slack.responder import (
    NOT_A_MEMBER,
    PROGRESS_DELAY_SECONDS,
    TRANSPORT_ERRORS,
    Responder,
    Whisper,
    slack_error,
)
from adapters.slack.settings import SlackSettings
from adapters.slack.share import SHARE_ACTION, Share
from adapters.slack.threads import is_bot_thread
from adapters.slack.webclient import CALL_SECONDS, SlackClient, session_timeout
from adapters.slack.work import SlackWork
from bot.attachments import AttachmentPolicy
from bot.channel_settings import looks_like_question
from bot.domain import Tenant
from bot.meibel.client import MeibelClient
from bot.pipeline import Pipeline
from bot.ratelimit import UserRateLimiter
from bot.store.base import Store, StoreError
from bot.work import Job, WorkQueue
from bot.work.fence import guard

log = logging.getLogger(__name__)

ASK_COMMAND = "/ask"
# The message shortcut "Ask Meibel about this" (its callback_id in the manifest).
MESSAGE_SHORTCUT = "ask_meibel_about_this"
# Slack allows about one edit a second per message (chat.update is Tier 3, appendStream
# Tier 4 per workspace); the first text of an answer never waits for it.
STREAM_INTERVAL_SECONDS = 1.0


def build_client(
    settings: SlackSettings,
    *,
    session: aiohttp.ClientSession | None = None,
    budgets: Budgets | None = None,
) -> AsyncWebClient:
    """The Web API client: retries on rate limits (honouring Retry-After) and lost
    connections. Pass a `session` to keep connections to Slack open between calls (without
    one, slack_sdk opens a connection per call); make it with `slack_session()`, so that
    one attempt is bounded as a call is. Every call is fenced and bounded (webclient.py),
    and paced by `budgets` (ratelimits.py)."""
    return SlackClient(
        token=settings.bot_token,
        base_url=settings.slack_api_url,
        session=session,
        budgets=budgets,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


def slack_session() -> aiohttp.ClientSession:
    """Connections to Slack kept open between calls, each attempt bounded in time."""
    return aiohttp.ClientSession(timeout=session_timeout())


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
    """The Bolt app with every listener, the worker, and what they share."""

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
        fleet: FleetOptions | None = None,
        meibel: MeibelClient | None = None,
        limits: Limits | None = None,
        progress_delay: float = PROGRESS_DELAY_SECONDS,
    ) -> None:
        """`core_streaming` is the core's STREAMING (SLACK_STREAMING wins when set);
        `stream_interval` the seconds between two updates of a message being written;
        `meibel` the client /readyz probes (by default the pipeline's); `limits` this
        process's Slack rate limits (by default Slack's, shared as the settings say);
        `progress_delay` how long an answer may take before the question gets the :eyes:."""
        self.settings = settings
        self.store = store
        self.fleet = fleet or FleetOptions()
        self.metrics = pipeline.metrics
        self.meibel = meibel or (
            pipeline.meibel if isinstance(pipeline.meibel, MeibelClient) else None
        )
        # Owned here (and closed by `aclose`) only when no client was given.
        self._session = None if client else slack_session()
        limits = limits or slack_limits(posts_per_minute=settings.slack_posts_per_minute).shared(
            settings.slack_rate_processes
        )
        self.limits = limits
        self.budgets = Budgets(limits, metrics=PacingMetrics(self.metrics.registry))
        self.client = client or build_client(settings, session=self._session, budgets=self.budgets)
        self.background = Background()
        self.queue: WorkQueue = self.fleet.open_queue(store)
        self.intake = Intake(
            store=store,
            queue=self.queue,
            limiter=UserRateLimiter(store, self.fleet.rate_limit, timeout_seconds=LOOKUP_SECONDS),
            metrics=self.metrics,
            background=self.background,
        )
        self.work = SlackWork(bot=self)
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
            progress_delay=progress_delay,
        )
        self.identity = SlackIdentity(self.client, options=pipeline.config.identity)
        self.policies = pipeline.config.policies
        self.places = pipeline.places  # what channel managers set (/meibel settings)
        self.responder.places = self.places
        self.history = ThreadHistory(
            self.client,
            limits=pipeline.config.context,
            bot_user=lambda: self.responder.bot_user,
            reply_without_mention=settings.slack_reply_without_mention,
            names=self.identity,
        )
        self.clicks = ClickHandler(bot=self)
        self.comments = Comments(bot=self)
        self.home = Home(bot=self)
        self.channel_settings = ChannelSettingsUI(bot=self)
        self.handoff = HandOff(bot=self)
        self.share = Share(bot=self)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=settings.signing_secret,
            # Listeners queue the job before Bolt acknowledges: acknowledged means kept.
            process_before_response=True,
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
        app.event("app_home_opened")(self.home.on_opened)
        app.event("message")(self.on_message)
        app.command(ASK_COMMAND)(self.on_ask)
        app.shortcut(MESSAGE_SHORTCUT)(self.on_message_shortcut)
        for prefix in (FOLLOW_UP_ACTION, CALL_TO_ACTION, RETRY_ACTION):
            app.action(re.compile(rf"^{re.escape(prefix)}(:|$)"))(self.clicks.on_ask_button)
        app.action(re.compile(rf"^{re.escape(FEEDBACK_ACTION)}(:|$)"))(self.clicks.on_feedback)
        app.action(re.compile(rf"^{re.escape(LINK_ACTION)}(:|$)"))(self.on_link)
        app.action(COMMENT_ACTION)(self.comments.on_button)
        app.view(COMMENT_VIEW)(self.comments.on_submit)
        app.command(MEIBEL_COMMAND)(self.channel_settings.on_command)
        app.view(SETTINGS_VIEW)(self.channel_settings.on_submit)
        app.action(HANDOFF_ACTION)(self.handoff.on_request)
        app.action(RESOLVED_ACTION)(self.handoff.on_resolved)
        app.action(SHARE_ACTION)(self.share.on_share)

    # -- events --------------------------------------------------------------------------
    async def on_mention(
        self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest
    ) -> None:
        await self._post_received(body, context, request, mentioned=True)

    async def on_message(
        self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest
    ) -> None:
        await self._post_received(body, context, request, mentioned=False)

    async def on_ignored(self) -> None:
        return None

    async def _post_received(
        self,
        body: dict[str, Any],
        context: AsyncBoltContext,
        request: AsyncBoltRequest,
        *,
        mentioned: bool,
    ) -> None:
        post = parse_message(body)
        if post is None:
            return
        bot_user = self.remember_bot_user(context)
        if await self.addressed(post, bot_user=bot_user, mentioned=mentioned):
            if post.from_outside and self.policies.refuse_external:
                whisper = self.ephemeral(
                    channel=post.channel, user=post.user, thread_ts=post.thread_ts
                )
                self.background.spawn(whisper(texts.EXTERNAL_REFUSED), name="refuse-external")
                return
            job = post_job(post, bot_user=bot_user, assistant=False)
            await self.take_post(job, post, retry=is_retry(request))

    async def addressed(self, post: Post, *, bot_user: str | None, mentioned: bool) -> bool:
        """True when the post is for the bot: a DM, a mention, a reply in its thread, or,
        where the channel's reply mode says so, a new message that looks like a question."""
        if post.is_dm or mentioned or post.mentions(bot_user):
            return True
        if post.mentions_others(bot_user):
            return False  # people talking to each other
        if not post.in_thread:
            return await self._answers_questions(post)
        if not self.settings.slack_reply_without_mention:
            return False
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                return await is_bot_thread(self.store, post.thread_key)
        except (StoreError, TimeoutError) as exc:
            log.warning("cannot tell whether %s is the bot's thread: %s", post.thread_key, exc)
            return False

    async def _answers_questions(self, post: Post) -> bool:
        """The channel's managers chose to have questions answered without a mention."""
        if not looks_like_question(plain_text(post.text, drop_user=None)):
            return False
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                place = await self.places.get(Tenant(PLATFORM, post.workspace), post.channel)
        except TimeoutError:
            return False
        return place.answers_questions()

    async def take_post(self, job: Job, post: Post, *, retry: bool) -> None:
        """Queue the post's job (once, however often Slack delivers it), or tell the poster
        privately why not."""
        await self.intake.take_event(
            job,
            whisper=self.ephemeral(channel=post.channel, user=post.user, thread_ts=post.thread_ts),
            retry=retry,
            allowed=self.settings.channel_allowed(post.channel, is_dm=post.is_dm),
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

    async def on_assistant_message(
        self, body: dict[str, Any], context: AsyncBoltContext, request: AsyncBoltRequest
    ) -> None:
        post = parse_message(body)
        if post is None:
            return
        job = post_job(post, bot_user=self.remember_bot_user(context), assistant=True)
        await self.take_post(job, post, retry=is_retry(request))

    # -- /ask ------------------------------------------------------------------------------
    async def on_ask(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        """Queue `/ask <question>`; refusals travel in the ack, seen only by the asker."""
        self.remember_bot_user(context)
        command = parse_command(body)
        if command is None:
            await ack()
            return
        if not self.settings.channel_allowed(command.channel, is_dm=command.is_dm):
            await ack(text=texts.CHANNEL_NOT_ALLOWED)
            return
        if not command.question_text:
            await ack(text=texts.ASK_USAGE)
            return
        refusal = await self.intake.accept(ask_job(command))
        await ack(text=refusal.text) if refusal else await ack()

    # -- "Ask Meibel about this" ---------------------------------------------------------
    async def on_message_shortcut(
        self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Queue the selected message as a question, answered in its thread; what was said
        before it in the thread goes with it (adapters.slack.history). Acknowledged once
        queued, or once the person was told privately why not."""
        parsed = parse_shortcut(body)
        if parsed is None:
            await ack()
            return
        post, trigger = parsed
        bot_user = self.remember_bot_user(context)
        if not plain_text(post.text, drop_user=bot_user):
            await ack()
            await self.ephemeral(channel=post.channel, user=post.user, thread_ts=post.thread_ts)(
                texts.NO_TEXT_IN_MESSAGE
            )
            return
        await self.take_post(
            shortcut_job(post, trigger=trigger, bot_user=bot_user), post, retry=False
        )
        await ack()

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
            await guard()  # not through the Web API client: fenced here
            try:
                async with asyncio.timeout(CALL_SECONDS):
                    await respond(text=text, response_type="ephemeral", replace_original=False)
            except Exception as exc:  # a webhook failure must not end the job
                log.warning("could not reply through response_url: %s", type(exc).__name__)

        return whisper

    async def _call(self, method: str, call: Coroutine[Any, Any, object]) -> None:
        await self.responder.call_quietly(method, call)

    async def aclose(self) -> None:
        """Close the connections to Slack this bot opened (after `run_bot` has returned)."""
        if self._session is not None:
            await self._session.close()

    async def learn_bot_user(self) -> None:
        """Ask Slack who the bot is, for a worker that answers jobs before it has seen an
        event (its notes name the bot: "invite @Meibel")."""
        try:
            response = await self.client.auth_test()
        except SlackApiError as exc:
            log.warning("auth.test refused: %s", slack_error(exc))
            return
        except TRANSPORT_ERRORS as exc:
            log.warning("auth.test failed: %s", type(exc).__name__)
            return
        team, url = response.get("team"), response.get("url")
        if isinstance(team, str) and team:
            self.identity.workspace_name = team
        if isinstance(url, str) and url.startswith("https://"):
            self.identity.workspace_url = url
        user = response.get("user_id")
        if isinstance(user, str) and user and not self.responder.bot_user:
            self.responder.bot_user = user

    def remember_bot_user(self, context: AsyncBoltContext) -> str | None:
        """The bot's user id (from auth.test, via Bolt), kept for messages that name it."""
        bot_user = context.bot_user_id
        if bot_user:
            self.responder.bot_user = bot_user
        return bot_user


def is_retry(request: AsyncBoltRequest) -> bool:
    """Slack's redelivery of an event it saw no ack for (HTTP header; Bolt sets the same
    header from a Socket Mode envelope's retry_attempt)."""
    values = request.headers.get("x-slack-retry-num") or []
    return any(value not in ("", "0") for value in values)
