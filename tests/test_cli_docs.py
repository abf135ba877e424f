"""The docs show what the bot really prints: every message quoted in
docs/troubleshooting.md comes from a string in the code, and the docs run the CLI as the
README does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "troubleshooting.md"
# Prefixes that are not the message: the CLI's name, check's label, a log line's header.
PREFIX = re.compile(r"^(meibel-bot: |\[FAIL\] |\.\.\. WARNING [\w.]+: )")
PRINTF = re.compile(r"%[-\d.]*[sdfr]")
MIN_LITERAL = 12


def templates() -> list[re.Pattern[str]]:
    """Every string in the code as a pattern: f-string fields and %-fields match anything.
    The parser has already joined implicitly concatenated literals, as Python prints them."""
    found: list[re.Pattern[str]] = []
    for path in [*ROOT.glob("adapters/**/*.py"), *ROOT.glob("bot/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            parts: list[str | None] = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts = [node.value]
            elif isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else None for v in node.values]
            else:
                continue
            literal = sum(len(p) for p in parts if p)
            if literal < MIN_LITERAL:
                continue
            pattern = "".join(
                ".+?" if p is None else ".+?".join(map(re.escape, PRINTF.split(p))) for p in parts
            )
            if pattern.endswith(".+?"):  # a field at the end takes the rest of the line
                pattern = pattern[:-1]
            found.append(re.compile(pattern))
    return found


def quoted_messages() -> list[str]:
    blocks = re.findall(r"```\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [PREFIX.sub("", line) for block in blocks for line in block.splitlines() if line]


def test_troubleshooting_covers_ten_failures_with_messages_from_the_code() -> None:
    assert len(re.findall(r"^## \d+\. ", DOC.read_text(), flags=re.MULTILINE)) == 10
    patterns = templates()
    messages = quoted_messages()
    assert len(messages) >= 10
    missing = [m for m in messages if covered(m, patterns) < 0.9]
    assert not missing, f"not printed by any code: {missing}"


def covered(message: str, patterns: list[re.Pattern[str]]) -> float:
    """The share of the message's characters that some string of the code produces."""
    seen = [False] * len(message)
    for pattern in patterns:
        for match in pattern.finditer(message):
            seen[match.start() : match.end()] = [True] * (match.end() - match.start())
    return sum(seen) / max(len(message), 1)


def test_docs_run_the_cli_as_the_readme_does() -> None:
    for doc in (ROOT / "docs").glob("*.md"):
        for line in doc.read_text().splitlines():
            bare = re.findall(
                r"(?:^|[`\s])meibel-bot (?:check|chat|demo|slack|discord|run)\b", line
            )
            assert not bare or ".venv/bin/meibel-bot" in line, f"{doc.name}: {line}"
