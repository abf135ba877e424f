"""The `meibel-bot` command line itself, run as a user runs it: --version, help, --verbose."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.terminal.tty import Tty, tty_env
from tests.test_terminal import clean_env, run

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ["demo", "chat", "check", "slack", "discord", "run", "dev-server", "feedback"]


async def test_version_comes_from_the_installed_package(tmp_path: Path) -> None:
    code, out, err = await run(["--version"], env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 0 and not err
    assert out.strip() == f"meibel-bot {version('meibel-bot')}"


async def test_help_lists_the_commands_in_the_readmes_order(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    in_readme = re.findall(r"^\| `meibel-bot ([a-z-]+)", readme, flags=re.MULTILINE)
    assert in_readme == COMMANDS
    code, out, _ = await run(["--help"], env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 0
    listed = re.findall(r"^    ([a-z-]+)", out, flags=re.MULTILINE)
    assert listed == COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
async def test_each_commands_help_says_what_it_does_and_what_it_reads(
    name: str, tmp_path: Path
) -> None:
    code, out, _ = await run([name, "--help"], env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 0
    usage, _, rest = out.partition("\n\n")
    assert usage.startswith(f"usage: meibel-bot {name}")
    description = rest.split("options:")[0]
    assert len(description.split()) > 15, out  # a paragraph, not just a usage line
    assert "Reads:" in description


async def test_piped_demo_writes_logs_to_stderr_only_and_more_with_verbose(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in clean_env(tmp_path).items() if k != "LOG_LEVEL"}
    code, out, err = await run(["demo"], env=env, cwd=tmp_path, stdin="hello\n")
    assert code == 0 and "meibel> " in out
    assert " INFO " not in out + err  # quiet unless asked (or LOG_LEVEL set on purpose)
    code, out, err = await run(["demo", "--verbose"], env=env, cwd=tmp_path, stdin="hello\n")
    assert code == 0 and "meibel> " in out
    assert " INFO " in err and " INFO " not in out


def test_verbose_shows_log_lines_in_a_terminal(tmp_path: Path) -> None:
    env = tty_env(tmp_path, LOG_LEVEL="INFO")
    tty = Tty(["demo", "-v"], env=env, cwd=tmp_path)
    try:
        tty.wait_prompt()
        tty.ask("hello", until="to ask a follow-up")
        assert tty.end_input() == 0
    finally:
        tty.kill()
    lines, _ = tty.screen()
    assert any(" INFO " in line for line in lines), lines
