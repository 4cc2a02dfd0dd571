"""The walk-through (docs/walkthrough.md) as a script: its files, its console blocks and its
directives, in order.

The section under the heading `# Walk-through` (up to the next heading of the same level outside
a code block, or the end of the file) is read as:

* a ```` ```yaml ```` block whose first line is `# file: NAME`: a file the commands use, written
  to the working directory;
* a ```` ```console ```` block: `$ COMMAND` lines (a trailing backslash continues one), each
  followed by the output it prints; a line `...` stands for any number of lines;
* `<!-- walkthrough: NAME -->`: a step of the test's own between two blocks (the test starts the
  operator from the image there, as the kubelet would start the Deployment's pod).

Outputs are compared after masking what differs from run to run (`mask`): registry ports, ages,
digests, UIDs, timestamps, template-name hashes, and column padding. `kubectl get`/`describe` are
polled until they match (the operator works in the background); every other command must print
its output at once.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DOCUMENT = "docs/walkthrough.md"  # relative to the repository root, where its commands run
# The repository's folders the commands name (`deploy/chart`, `tests/data/...`, `examples/`): the
# test runs them in a working directory of its own that links these.
REPO_TREES = ("deploy", "tests", "examples")
HEADING = "# Walk-through"
ANY_LINES = "..."

_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*walkthrough:\s*([\w-]+)\s*-->\s*$")
_FILE = re.compile(r"^#\s*file:\s*(\S+)\s*$")

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(LAST DEPLOYED:).*$", re.M), r"\1 TIME"),
    (re.compile(r"\b127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"sha256:[0-9a-f]{64}"), "sha256:DIGEST"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "UID"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"), "TIME"),
    # kubectl's ages: 3s, 18s, 2m5s, 5m, 3h2m, 4d
    (re.compile(r"(?<![\w.:/-])(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?![\w.:/-])"), "AGE"),
    # generated names end in 8 hex digits of a hash of what they are made from
    (re.compile(r"-[0-9a-f]{8}(?![\w])"), "-HASH"),
    (re.compile(r" {2,}"), "  "),
)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


@dataclass(frozen=True)
class File:
    name: str
    text: str
    line: int


@dataclass(frozen=True)
class Directive:
    name: str
    line: int


@dataclass
class Command:
    command: str
    expected: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def polled(self) -> bool:
        """Reads that may be ahead of the operator: polled until they match."""
        return kubectl_verb(self.command) in {"get", "describe"}

    def matches(self, output: str) -> bool:
        return lines_match(trimmed(mask("\n".join(self.expected))), trimmed(mask(output)))


Step = File | Directive | Command


def kubectl_verb(command: str) -> str | None:
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or words[0] != "kubectl":
        return None
    rest = iter(words[1:])
    for word in rest:
        if word in ("-n", "--namespace", "--context", "--kubeconfig"):
            next(rest, None)
        elif not word.startswith("-"):
            return word
    return None


def trimmed(text: str) -> list[str]:
    """Lines without the blank ones at the end (a console block leaves one before the next `$`)."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """`expected` against `actual`, where an expected line `...` matches any run of lines."""
    if not expected:
        return not actual
    head, *tail = expected
    if head.strip() == ANY_LINES:
        return any(lines_match(tail, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and head == actual[0] and lines_match(tail, actual[1:])


def headings(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(index, line) of every Markdown heading, leaving out code blocks (where `# file:` is YAML)."""
    fenced = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            yield i, line


def level(heading: str) -> int:
    return len(heading) - len(heading.lstrip("#"))


def section(markdown: str, heading: str = HEADING, document: str = DOCUMENT) -> tuple[int, list[str]]:
    """The section's lines and the document's line number of its first one."""
    lines = markdown.splitlines()
    found = list(headings(lines))
    start = next((i for i, line in found if line.startswith(heading)), None)
    if start is None:
        raise ValueError(f"{document} has no heading {heading!r}")
    depth = level(heading.split(maxsplit=1)[0])
    end = next((i for i, line in found if i > start and level(line) <= depth), len(lines))
    return start + 1, lines[start:end]


def parse(markdown: str, heading: str = HEADING, document: str = DOCUMENT) -> list[Step]:
    """The steps of the section under `heading` (the walk-through's by default)."""
    first, lines = section(markdown, heading, document)
    steps: list[Step] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if directive := _DIRECTIVE.match(line):
            steps.append(Directive(directive.group(1), first + i))
            i += 1
            continue
        fence = _FENCE.match(line)
        if not fence or not fence.group(1):
            i += 1
            continue
        language = fence.group(1)
        body_start = i + 1
        j = body_start
        while j < len(lines) and lines[j].rstrip() != "```":
            j += 1
        if j == len(lines):
            raise ValueError(f"{document} line {first + i}: a ```{language} block is not closed")
        body = lines[body_start:j]
        if language == "yaml" and body and (named := _FILE.match(body[0])):
            steps.append(File(named.group(1), "\n".join(body[1:]) + "\n", first + i))
        elif language == "console":
            steps.extend(_commands(body, first + body_start, document))
        i = j + 1
    return steps


def _commands(body: list[str], first: int, document: str) -> Iterator[Command]:
    current: Command | None = None
    continued = False
    for offset, line in enumerate(body):
        if continued and current is not None:
            current.command += "\n" + line
            continued = line.endswith("\\")
        elif line.startswith("$ "):
            if current is not None:
                yield current
            current = Command(line[2:], line=first + offset)
            continued = line.endswith("\\")
        elif current is None:
            raise ValueError(f"{document} line {first + offset}: console output before any '$ ' command")
        else:
            current.expected.append(line)
    if current is not None:
        yield current


def record(path: Path, recorded: Mapping[int, tuple[Command, str]]) -> None:
    """Put what the commands printed in place of the document's outputs (bottom up, so that the
    line numbers of the steps above stay right): for a maintainer who changed what they print."""
    lines = path.read_text().splitlines()
    for line, (step, output) in sorted(recorded.items(), reverse=True):
        first = line - 1 + step.command.count("\n") + 1
        old = lines[first : first + len(step.expected)]
        new = output.rstrip("\n").splitlines()
        if old and not old[-1].strip():
            new.append("")
        lines[first : first + len(step.expected)] = new
    path.write_text("\n".join(lines) + "\n")
