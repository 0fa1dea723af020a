"""`ctjobs --help` and every command's help: each command and option explains itself.

The commands and their options are read from the Click command Typer builds, so a
command or flag added later without help text fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ctjobs.cli import app

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = re.compile(r"[\u2500-\u257f]")
# The commands the README and the Makefile rely on; any others are checked too.
EXPECTED = {
    "run",
    "backfill",
    "replay",
    "history",
    "show",
    "sandbox",
    "samples",
    "schema accept",
    "webhook serve",
    "webhook compact",
}


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _walk(sub, (*path, name))
    return found


ROOT = typer.main.get_command(app)
PATHS = _walk(ROOT)


def _command(path: tuple[str, ...]) -> Any:
    command = ROOT
    for name in path:
        command = command.commands[name]
    return command


def _help(*args: str) -> str:
    result = CliRunner().invoke(
        app,
        [*args, "--help"],
        prog_name="ctjobs",
        env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
    assert result.exit_code == 0, result.output
    return ANSI.sub("", result.output)


def _flat(text: str) -> str:
    """Help output without panel borders, its whitespace collapsed."""
    return " ".join(BOX.sub(" ", text).split())


def test_every_expected_command_is_registered() -> None:
    registered = {" ".join(path) for path in PATHS if path}
    assert not EXPECTED - registered, "missing commands"


def test_top_level_help_lists_every_command() -> None:
    text = _help()
    assert "Usage: ctjobs" in text
    assert _flat(ROOT.help.split("\n\n")[0]) in _flat(text)
    commands = text[text.index("Commands") :]
    for name, command in ROOT.commands.items():
        assert re.search(rf"^\W*{name}\s", commands, re.MULTILINE), name
        assert _flat(command.help.split("\n\n")[0]) in _flat(commands)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "ctjobs")
def test_help_describes_the_command_and_every_option(path: tuple[str, ...]) -> None:
    command = _command(path)
    text = _help(*path)
    flat = _flat(text)

    description = (command.help or "").strip()
    assert description, f"`ctjobs {' '.join(path)}` has no description"
    summary, *_ = description.split("\n\n")
    # The first paragraph is the line shown in the parent's command list.
    assert "\n" not in summary.strip(), f"summary spans lines: {summary!r}"
    assert summary.strip().endswith("."), summary
    assert _flat(summary) in flat

    for param in command.params:
        help_text = (getattr(param, "help", None) or "").strip()
        assert help_text, f"`ctjobs {' '.join(path)}` {param.name} has no help"
        assert _flat(help_text) in flat, f"{param.name} help not shown"
        if param.param_type_name == "option":
            assert param.opts[0] in text

    for name, sub in getattr(command, "commands", {}).items():
        assert name in text
        assert (sub.help or "").strip()
