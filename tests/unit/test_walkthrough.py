"""The README walk-through's reader (tests/support/walkthrough.py): what it runs and how it compares."""

from __future__ import annotations

import pytest

from tests.support.walkthrough import Command, Directive, File, kubectl_verb, lines_match, mask, parse

README = """# Title

```console
$ not in the walk-through
```

## Walk-through (real output)

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

## Next section

```console
$ not in the walk-through either
```
"""


def test_parse_reads_files_directives_and_commands_of_the_section_only() -> None:
    steps = parse(README)
    assert [type(s) for s in steps] == [File, Directive, Command, Command, Command]
    file, directive, get, apply, echo = steps
    assert isinstance(file, File) and file.name == "model.yaml" and file.text == "kind: AIMModel\n"
    assert isinstance(directive, Directive) and directive.name == "operator"
    assert isinstance(get, Command) and get.expected == ["NAME   AGE", "a      3s"] and get.polled
    assert isinstance(apply, Command) and apply.command == "kubectl apply -f model.yaml \\\n    -f other.yaml"
    assert apply.expected == ["created", ""] and not apply.polled
    assert isinstance(echo, Command) and echo.expected == ["0"]
    assert README.splitlines()[get.line - 1] == "$ kubectl -n ml-team get aimmodels"


def test_parse_rejects_output_before_a_command_and_unclosed_blocks() -> None:
    with pytest.raises(ValueError, match="before any"):
        parse("## Walk-through\n```console\noutput\n```\n")
    with pytest.raises(ValueError, match="not closed"):
        parse("## Walk-through\n```console\n$ true\n")
    with pytest.raises(ValueError, match="no heading"):
        parse("# nothing here\n")


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
