"""The walk-through's reader (tests/support/walkthrough.py): what it runs and how it compares, and
that docs/walkthrough.md is a walk-through it can run from the repository root."""

from __future__ import annotations

import itertools
import shlex
from pathlib import Path

import pytest

from tests.support.walkthrough import (
    DOCUMENT,
    REPO_TREES,
    Command,
    Directive,
    File,
    kubectl_verb,
    lines_match,
    mask,
    parse,
)

REPO = Path(__file__).resolve().parents[2]

DOC = """# Title

```console
$ not in the walk-through
```

# Walk-through (real output)

## A part of it

```yaml
# file: model.yaml
kind: AIMModel
```

```yaml
kind: NotAFile
```

<!-- walkthrough: operator -->

```console
$ kubectl -n ml-team get aimmodels
NAME   AGE
a      3s
$ kubectl apply -f model.yaml \\
    -f other.yaml
created

$ echo $?
0
```

# Next section

```console
$ not in the walk-through either
```
"""


def test_parse_reads_files_directives_and_commands_of_the_section_only() -> None:
    # `## A part of it` and the YAML's `# file:` line are inside the section; `# Next section` ends it.
    steps = parse(DOC)
    assert [type(s) for s in steps] == [File, Directive, Command, Command, Command]
    file, directive, get, apply, echo = steps
    assert isinstance(file, File) and file.name == "model.yaml" and file.text == "kind: AIMModel\n"
    assert isinstance(directive, Directive) and directive.name == "operator"
    assert isinstance(get, Command) and get.expected == ["NAME   AGE", "a      3s"] and get.polled
    assert isinstance(apply, Command) and apply.command == "kubectl apply -f model.yaml \\\n    -f other.yaml"
    assert apply.expected == ["created", ""] and not apply.polled
    assert isinstance(echo, Command) and echo.expected == ["0"]
    assert DOC.splitlines()[get.line - 1] == "$ kubectl -n ml-team get aimmodels"


def test_parse_rejects_output_before_a_command_and_unclosed_blocks() -> None:
    with pytest.raises(ValueError, match="before any"):
        parse("# Walk-through\n```console\noutput\n```\n")
    with pytest.raises(ValueError, match=f"{DOCUMENT} line 2: .* not closed"):
        parse("# Walk-through\n```console\n$ true\n")
    with pytest.raises(ValueError, match="no heading"):
        parse("# nothing here\n")
    with pytest.raises(ValueError, match="no heading"):
        parse("## Walk-through\n")  # a level-2 heading is not the walk-through's


@pytest.mark.parametrize(
    ("command", "verb"),
    [
        ("kubectl get aimmodels", "get"),
        ("kubectl -n ml-team describe aimservice chat", "describe"),
        ("kubectl --namespace x get pods", "get"),
        ("kubectl apply -f x.yaml", "apply"),
        ("helm install x", None),
        ("kubectl 'unclosed", None),
    ],
)
def test_kubectl_verb(command: str, verb: str | None) -> None:
    assert kubectl_verb(command) == verb


def test_mask_hides_what_changes_between_runs_and_nothing_else() -> None:
    line = "qwen-1x-mi300x-lat-fp8-354a2503   Ready   127.0.0.1:41129/img:0.8.5   2m5s"
    assert mask(line) == "qwen-1x-mi300x-lat-fp8-HASH  Ready  127.0.0.1:PORT/img:0.8.5  AGE"
    assert mask("sha256:" + "a" * 64) == "sha256:DIGEST"
    assert mask("UID: 09745056-b9b9-4964-85b6-8fbf8ba49b4f") == "UID: UID"
    assert mask("at 2026-12-02T00:17:05Z") == "at TIME"
    assert mask("LAST DEPLOYED: Wed Dec  2 05:30:00 2026") == "LAST DEPLOYED: TIME"
    # what an operator decides is not masked: counts, versions, quantities, reasons
    kept = 'TEMPLATES 3 version 0.9.0 {"memory":"64Gi"} x 1 RegistryAuthFailed (HTTP 401)'
    assert mask(kept) == kept


def test_lines_match_with_any_lines() -> None:
    assert lines_match(["a", "...", "d"], ["a", "b", "c", "d"])
    assert lines_match(["a", "...", "d"], ["a", "d"])
    assert lines_match(["...", "c", "..."], ["a", "b", "c", "d"])
    assert not lines_match(["a", "...", "d"], ["a", "b", "c"])
    assert not lines_match(["a"], ["a", "b"])


def test_command_matches_masked_output_ignoring_padding_and_trailing_blank_lines() -> None:
    step = Command("kubectl get aimmodels", ["NAME   STATUS   AGE", "m      Ready    3s", ""])
    assert step.matches("NAME       STATUS   AGE\nm          Ready    2m1s\n")
    assert not step.matches("NAME   STATUS   AGE\nm      Failed   3s\n")


def test_the_walkthrough_document_runs_from_the_repository_root() -> None:
    """docs/walkthrough.md parses, starts the operator once, and every path its commands name is
    a file it writes or one of the repository's, under a folder the test links into its working
    directory (the commands run there, not next to the document)."""
    steps = parse((REPO / DOCUMENT).read_text())
    assert [s.name for s in steps if isinstance(s, Directive)] == ["operator"]
    written = {s.name for s in steps if isinstance(s, File)}
    assert {"qwen.yaml", "service.yaml"} <= written
    named: list[tuple[int, str]] = []
    for step in steps:
        if not isinstance(step, Command):
            continue
        words = shlex.split(step.command.replace("\\\n", " "))
        for before, word in itertools.pairwise(words):
            if before == "-f" and word != "-":
                named.append((step.line, word))
        named += [(step.line, w) for w in words if w.split("/", 1)[0] in REPO_TREES and "/" in w]
    assert named, "the walk-through names no files"
    wrong = [
        f"{DOCUMENT} line {line}: {path}"
        for line, path in named
        if path not in written and not (path.split("/", 1)[0] in REPO_TREES and (REPO / path).exists())
    ]
    assert not wrong, "paths the walk-through's commands cannot find:\n" + "\n".join(wrong)
