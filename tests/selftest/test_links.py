"""Every relative link in README.md, CONTRIBUTING.md and docs/ leads somewhere: the file exists and, for a
`#anchor`, the Markdown file has that heading (GitHub's anchor rule) or an explicit <a id=...>."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

KIT = Path(__file__).resolve().parents[2]
markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py (the tutor extra) parses the Markdown")
PARSER = markdown_it.MarkdownIt("commonmark")
PAGES = [KIT / "README.md", KIT / "CONTRIBUTING.md", *sorted((KIT / "docs").rglob("*.md"))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (word characters, '-' and ' ' stay), ' ' -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors a Markdown page offers: its headings' (a repeated one gets -1, -2, ...) and explicit ids."""
    tokens, found, seen = PARSER.parse(page.read_text()), set(), {}
    for token, inline in zip(tokens, tokens[1:]):
        if token.type == "heading_open":
            name = slug("".join(c.content for c in inline.children or [] if c.type in ("text", "code_inline")))
            found.add(f"{name}-{seen[name]}" if name in seen else name)
            seen[name] = seen.get(name, 0) + 1
    return found | set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', page.read_text()))


def links(page: Path) -> list[str]:
    """The targets of the page's links and images, as the Markdown parser sees them (code blocks hold none)."""
    def walk(tokens):
        for token in tokens:
            if token.type in ("link_open", "image"):
                yield token.attrs.get("href") or token.attrs.get("src")
            yield from walk(token.children or [])

    return [target for target in walk(PARSER.parse(page.read_text())) if target]


def broken(page: Path) -> list[str]:
    """The relative links of `page` whose file or anchor does not exist, each with the reason."""
    problems = []
    for target in links(page):
        if re.match(r"^[a-zA-Z][a-zA-Z+.-]*:", target):
            continue  # http:, https:, mailto: are not checked (no network in CI)
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: no file {dest.relative_to(KIT) if dest.is_relative_to(KIT) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: {dest.name} has no heading with the anchor #{anchor}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(KIT)) for p in PAGES])
def test_relative_links_and_anchors_exist(page):
    """Does every relative link of this page name an existing file, and every #anchor a heading of that file?"""
    assert broken(page) == [], f"{page.relative_to(KIT)}: fix the link or the heading it points to"


def test_check_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    """Does the check report a link to a missing file and to a heading that is not there, and accept good ones?"""
    (tmp_path / "other.md").write_text("# Tutors: grade a class\n\n## `grader grade` in detail\n\n## Notes\n\n## Notes\n")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#tutors-grade-a-class) [b](other.md#grader-grade-in-detail) [c](other.md#notes-1) "
                    "[d](missing.md) [e](other.md#gone) [f](https://example.org/x#y) [g](#here)\n\n# Here\n\n"
                    "```\n[h](not-a-link.md)\n```\n")
    assert broken(page) == ["missing.md: no file " + str(tmp_path / "missing.md"),
                            "other.md#gone: other.md has no heading with the anchor #gone"]
