"""`meibel-bot dev-server`: run the stand-in until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import TextIO

from bot.devserver.app import DEFAULT_API_KEY, DevServer
from bot.devserver.faults import Faults
from bot.devserver.streaming import STREAM_MODES

# The spec lists http://localhost:8000/v2 as "Local Development"; matching it means the
# bot's dev configuration works against this server unchanged.
DEFAULT_PORT = 8000


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the dev-server options to a (sub)parser."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to bind, 0 for any (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        default=DEFAULT_API_KEY,
        help="the key clients must send (default: %(default)s)",
    )
    parser.add_argument(
        "--any-key", action="store_true", help="accept any API key (one must still be sent)"
    )
    parser.add_argument(
        "--latency", type=_non_negative, default=0.0, metavar="S", help="seconds added to each chat"
    )
    parser.add_argument(
        "--error-rate", type=_rate, default=0.0, metavar="F", help="fraction of chats answered 503"
    )
    parser.add_argument(
        "--rate-limit-rate", type=_rate, default=0.0, metavar="F", help="fraction answered 429"
    )
    parser.add_argument(
        "--retry-after", type=int, default=1, metavar="S", help="Retry-After of those 429s"
    )
    parser.add_argument(
        "--lose-session-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="fraction of chats whose session is forgotten first (404)",
    )
    parser.add_argument(
        "--drop-after-request-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="fraction of chats whose connection is cut once the request is read "
        "(the agent still runs the turn)",
    )
    parser.add_argument(
        "--drop-after-connected-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="fraction of streams cut right after `connected` (the agent still runs the turn)",
    )
    parser.add_argument(
        "--rate-limit",
        type=_positive_int,
        default=None,
        metavar="N",
        help="answer at most N requests per API key in each --rate-window, with "
        "X-RateLimit-* headers on every answer and 429 beyond (default: no limit)",
    )
    parser.add_argument(
        "--rate-window",
        type=_positive,
        default=60.0,
        metavar="S",
        help="seconds of each --rate-limit window (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the fault dice")
    parser.add_argument(
        "--stream-mode",
        choices=STREAM_MODES,
        default="cumulative",
        help="partial_response text: the whole text so far, or only the new piece",
    )
    parser.add_argument(
        "--stream-chunk-delay",
        type=_non_negative,
        default=0.05,
        metavar="S",
        help="pause between partial_response events (default: %(default)s)",
    )
    parser.add_argument(
        "--stream-piece-chars",
        type=int,
        default=None,
        metavar="N",
        help="stream answers in pieces of N characters (default: about six pieces)",
    )
    parser.add_argument(
        "--answer-chars",
        type=int,
        default=None,
        metavar="N",
        help="pad every answer to N characters (for size and load tests)",
    )


def server_from_args(args: argparse.Namespace) -> DevServer:
    faults = Faults(
        latency_seconds=args.latency,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        retry_after_seconds=args.retry_after,
        lose_session_rate=args.lose_session_rate,
        drop_after_request_rate=args.drop_after_request_rate,
        drop_after_connected_rate=args.drop_after_connected_rate,
        seed=args.seed,
    )
    return DevServer(
        api_key=None if args.any_key else args.api_key,
        faults=faults,
        stream_mode=args.stream_mode,
        stream_chunk_delay_seconds=args.stream_chunk_delay,
        stream_piece_chars=args.stream_piece_chars,
        answer_chars=args.answer_chars,
        access_log=True,
        rate_limit=args.rate_limit,
        rate_window_seconds=args.rate_window,
    )


async def serve(
    server: DevServer,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Start `server`, say where it is, and run until `stop` is set or SIGINT/SIGTERM.

    `started` is set once the server listens, so a caller can wait for it without polling.
    """
    out = out or sys.stdout
    if stop is None:
        stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows or outside the main thread; Ctrl-C then ends asyncio.run.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        await server.start(host, port)
        key = server.api_key if server.api_key is not None else "<any non-empty key>"
        print(f"Meibel dev server listening on {server.base_url}", file=out)
        print(f"  MEIBEL_BASE_URL={server.base_url}", file=out)
        print(f"  MEIBEL_API_KEY={key}", file=out)
        print("Press Ctrl-C to stop.", file=out, flush=True)
        if started is not None:
            started.set()
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await server.stop()
    print("Meibel dev server stopped.", file=out, flush=True)
    return 0


async def run_from_args(args: argparse.Namespace) -> int:
    """Run the server the parsed `dev-server` options describe; returns the exit code."""
    if not logging.getLogger().handlers:
        # Show one access-log line per request; the bot's CLI may have set up logging already.
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not 0 <= args.port <= 65535:
        print(
            f"meibel-bot: --port {args.port} is not a port: give a number 0-65535 "
            "(0 picks a free one)",
            file=sys.stderr,
        )
        return 2
    try:
        return await serve(server_from_args(args), host=args.host, port=args.port)
    except OSError as exc:
        print(f"cannot start the dev server on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="meibel-bot dev-server", description="Run a local Meibel API stand-in."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run_from_args(args))
    except KeyboardInterrupt:
        return 0
