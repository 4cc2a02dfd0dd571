"""The console blocks of `scripts/aim-engine` commands in the README and docs/render.md are what the
commands print: each is run in-process from the repository root, with the network cut off, and
its stdout then stderr (as a terminal shows them: render writes its stderr lines last) must be
the block's lines, where a line `...` stands for any number of lines; `$ echo $?` must show the
exit status it had. The README's first command is exactly the one its first block runs."""

from __future__ import annotations

import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aim_engine.cli import main
from tests.support.walkthrough import ANY_LINES, lines_match

REPO = Path(__file__).resolve().parents[2]
CHECKED = ("README.md", "docs/render.md")
PROGRAM = "scripts/aim-engine"
FIRST_COMMAND = f"{PROGRAM} render -f examples/"


@dataclass
class Step:
    where: str
    command: str
    output: list[str] = field(default_factory=list)


def blocks(text: str, language: str) -> list[tuple[int, list[str]]]:
    """(line of the fence, body) of every ```language block."""
    found: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == f"```{language}":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            found.append((i + 1, lines[i + 1 : end]))
            i = end
        i += 1
    return found


def console_steps(name: str) -> list[list[Step]]:
    """The console blocks of a document whose commands are all ours (or `echo $?`), as steps."""
    runs: list[list[Step]] = []
    for fence, body in blocks((REPO / name).read_text(), "console"):
        steps: list[Step] = []
        for offset, line in enumerate(body, start=fence + 1):
            if line.startswith("$ "):
                steps.append(Step(f"{name}:{offset}", line[2:]))
            else:
                assert steps, f"{name}:{offset}: output before any command"
                steps[-1].output.append(line)
        if steps and all(s.command.startswith(f"{PROGRAM} ") or s.command == "echo $?" for s in steps):
            runs.append(steps)
    return runs


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """From the repository root, as the docs' commands run, with no way out to the network."""
    monkeypatch.chdir(REPO)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the docs' commands run offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def run_block(steps: list[Step], capsys: pytest.CaptureFixture[str]) -> list[str]:
    problems: list[str] = []
    status = 0
    for step in steps:
        if step.command == "echo $?":
            if step.output != [str(status)]:
                problems.append(f"{step.where}: $ echo $? shows {step.output}; the exit status was {status}")
            continue
        status = main(shlex.split(step.command)[1:])
        captured = capsys.readouterr()
        printed = captured.out.splitlines() + captured.err.splitlines()
        expected = list(step.output)
        while expected and not expected[-1].strip():
            expected.pop()
        if not lines_match(expected, printed):
            problems.append(
                f"{step.where}: $ {step.command}\n--- the document says:\n"
                + "\n".join(expected)
                + "\n--- the command printed:\n"
                + "\n".join(printed)
            )
    return problems


def test_the_readme_runs_the_first_command_and_shows_its_status() -> None:
    (fence, two_commands), *_ = blocks((REPO / "README.md").read_text(), "sh")
    assert two_commands[0].split("#")[0].strip() == FIRST_COMMAND, f"README.md:{fence}"
    first, *_ = console_steps("README.md")
    assert first[0].command == FIRST_COMMAND
    assert ANY_LINES in first[0].output, "the README shows the output trimmed"
    assert [s.command for s in first[1:]] == ["echo $?"], "the README shows the exit status"
    assert any(line.startswith("aim-engine render: 1 object(s) would fail:") for line in first[0].output)


@pytest.mark.parametrize("name", CHECKED)
@pytest.mark.usefixtures("offline")
def test_the_console_blocks_are_what_the_commands_print(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = console_steps(name)
    assert runs, f"{name} has no console block of {PROGRAM} commands"
    problems = [problem for steps in runs for problem in run_block(steps, capsys)]
    assert not problems, "\n\n".join(problems)


def test_a_wrong_line_or_status_is_reported(capsys: pytest.CaptureFixture[str], offline: None) -> None:
    steps = [
        Step("doc.md:2", "scripts/aim-engine render -f examples/", ["KIND   NAME", ANY_LINES]),
        Step("doc.md:5", "echo $?", ["1"]),
    ]
    problems = run_block(steps, capsys)
    assert len(problems) == 2
    assert problems[0].startswith(
        "doc.md:2: $ scripts/aim-engine render -f examples/\n--- the document says:"
    )
    assert problems[1] == "doc.md:5: $ echo $? shows ['1']; the exit status was 0"
