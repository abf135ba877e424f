"""The Slack bot most tutorials show, as the fleet benchmark's point of comparison.

Bolt's synchronous `App`, one listener on `app_mention` that calls the agent API with a
blocking HTTP client (one httpx.Client shared by Bolt's threads: start a session, send the
question) and `say`s the answer in the thread, served by Bolt's own development server
(`app.start`). Everything else is Bolt's default: its listener thread pool, its request
logging, its http.server. Only the URLs differ from a tutorial, so that it talks to the
fakes: SLACK_API_URL (the fake Slack Web API) and MEIBEL_BASE_URL (the dev server).
Run by bench.fleet: .venv/bin/python -m bench.tutorial_bot   (settings from the environment)
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
from slack_bolt import App, Say
from slack_sdk import WebClient

MENTION = re.compile(r"<@[A-Z0-9]+>\s*")


def build_app() -> App:
    token = os.environ["SLACK_BOT_TOKEN"]
    app = App(
        token=token,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(token=token, base_url=os.environ["SLACK_API_URL"]),
    )
    meibel = httpx.Client(
        base_url=os.environ["MEIBEL_BASE_URL"].rstrip("/") + "/",
        headers={"Meibel-API-Key": os.environ["MEIBEL_API_KEY"]},
        timeout=60,
    )
    agent = os.environ["MEIBEL_AGENT_NAME"]

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Say) -> None:
        question = MENTION.sub("", event["text"]).strip()
        session = meibel.post(f"agents/name/{agent}/sessions", json={})
        session.raise_for_status()
        reply = meibel.post(
            f"sessions/{session.json()['session_id']}/chat", json={"user_message": question}
        )
        reply.raise_for_status()
        say(text=reply.json()["assistant_response"], thread_ts=event.get("thread_ts", event["ts"]))

    return app


if __name__ == "__main__":
    build_app().start(port=int(os.environ["PORT"]))
