"""Every relative link in the README, docs/*.md and examples/README.md resolves: to a file that
exists and, with a `#anchor`, to a heading of that file under GitHub's rules for anchors. Images
too. Links to http(s) and mailto are not followed; code blocks and inline code are not links."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([REPO / "README.md", REPO / "examples" / "README.md", *(REPO / "docs").glob("*.md")])

# [text](target) and ![alt](target), with an optional title: `(target "title")`, `(<target>)`.
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_INLINE_CODE = re.compile(r"(`+).*?\1")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = ("http://", "https://", "mailto:")


def markdown_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code blanked out."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        yield number, _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as rendered, lowercased, punctuation dropped
    (letters, digits, `_`, `-` and spaces stay), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated one gets -1, -2, ..."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in markdown_lines(path.read_text()):
        heading = _HEADING.match(line)
        if not heading:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in markdown_lines(path.read_text()):
        for match in _LINK.finditer(line):
            yield number, match.group(1).strip("<>")


def broken(path: Path, root: Path = REPO) -> Iterator[str]:
    """The links of `path` that do not resolve, as `file:line: target: why` (paths from `root`)."""
    where = path.relative_to(root)
    for number, target in links(path):
        if target.startswith(_EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not resolved.exists():
            yield f"{where}:{number}: {target}: no file {os.path.relpath(resolved, root)}"
            continue
        if anchor and resolved.is_file() and resolved.suffix == ".md" and anchor not in anchors(resolved):
            yield f"{where}:{number}: {target}: no heading with the anchor #{anchor} in {resolved.name}"


def test_the_documents_are_there() -> None:
    names = {p.relative_to(REPO).as_posix() for p in DOCUMENTS}
    assert {"README.md", "docs/walkthrough.md", "docs/decisions.md", "docs/crd-reference.md"} <= names


def test_every_relative_link_and_anchor_resolves() -> None:
    problems = [problem for path in DOCUMENTS for problem in broken(path)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_readme_links_every_document_in_docs() -> None:
    linked = {
        (REPO / target.partition("#")[0]).resolve()
        for _, target in links(REPO / "README.md")
        if not target.startswith(_EXTERNAL)
    }
    unlinked = [p.relative_to(REPO).as_posix() for p in DOCUMENTS if p.resolve() not in linked]
    assert unlinked == ["README.md"], f"the README's table of contents leaves out {unlinked[1:]}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Walk-through (real output)", "walk-through-real-output"),
        ("A service, from `kubectl apply` to `Running`", "a-service-from-kubectl-apply-to-running"),
        ("Current results (2026-12-03)", "current-results-2026-12-03"),
        ("v1alpha2 models and profiles", "v1alpha2-models-and-profiles"),
        ("Install on a cluster", "install-on-a-cluster"),
        (
            "Render and explain a catalog (offline, real output)",
            "render-and-explain-a-catalog-offline-real-output",
        ),
        ("fields_sets and `msgspec`", "fields_sets-and-msgspec"),
        ("See [the floor](#the-floor)", "see-the-floor"),
    ],
)
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n## Install\n```yaml\n# Install\n```\n## Install\n## Install\n")
    assert anchors(doc) == {"title", "install", "install-1", "install-2"}


def test_broken_links_are_named_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Doc\n"
        "[ok](other.md) [ok](#doc) [ok](other.md#other) ![ok](other.md) [web](https://example.com/x)\n"
        "`[not a link](missing.md)`\n"
        "```\n[not a link](missing.md)\n```\n"
        "[gone](missing.md) [no anchor](other.md#nothing) ![no image](img.png)\n"
    )
    assert list(broken(doc, root=tmp_path)) == [
        "doc.md:7: missing.md: no file missing.md",
        "doc.md:7: other.md#nothing: no heading with the anchor #nothing in other.md",
        "doc.md:7: img.png: no file img.png",
    ]
