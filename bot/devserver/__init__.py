"""A local Meibel API stand-in for offline development, the demo, tests and benchmarks."""

from bot.devserver.app import DEFAULT_API_KEY, DevServer
from bot.devserver.cli import add_arguments, main, run_from_args, serve
from bot.devserver.faults import Faults
from bot.devserver.recording import API_KEY_HEADER, RecordedFile, RecordedRequest
from bot.devserver.state import AgentInfo, SessionInfo, Turn
from bot.devserver.streaming import StreamMode

__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_API_KEY",
    "AgentInfo",
    "DevServer",
    "Faults",
    "RecordedFile",
    "RecordedRequest",
    "SessionInfo",
    "StreamMode",
    "Turn",
    "add_arguments",
    "main",
    "run_from_args",
    "serve",
]
