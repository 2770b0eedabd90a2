"""REPORT.md as safe HTML: the one Markdown renderer of every page (report.html, feedback pages, `grader review`).

Built on markdown-it-py (CommonMark) with raw HTML off: a `<script>` or `<img onerror=...>` in the
text comes out as escaped text, like every other character of it. Links and images are inert: a
link renders as its text followed by its address in brackets, an image as "[image: alt <address>]",
so a page never points anywhere a student chose and never loads anything. Nesting is capped by
markdown-it's maxNesting, so a hostile text cannot make the renderer recurse without bound.
"""

from __future__ import annotations

from html import escape

from markdown_it import MarkdownIt
from markupsafe import Markup

MAX_URL = 200  # characters of a link's address shown


def _link_open(self, tokens, idx, options, env):
    env.setdefault("links", []).append(tokens[idx].attrGet("href") or "")
    return '<span class="md-link">'


def _link_close(self, tokens, idx, options, env):
    href = env.get("links", [""]).pop() if env.get("links") else ""
    return f'</span> <span class="md-href">&lt;{escape(href[:MAX_URL])}&gt;</span>'


def _image(self, tokens, idx, options, env):
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = token.attrGet("src") or ""
    return f'<span class="md-image">[image: {escape(alt)} &lt;{escape(src[:MAX_URL])}&gt;]</span>'


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["table", "strikethrough"])
    parser.add_render_rule("link_open", _link_open)
    parser.add_render_rule("link_close", _link_close)
    parser.add_render_rule("image", _image)
    return parser


PARSER = _parser()


def render_markdown(text: str) -> Markup:
    """Untrusted Markdown as HTML that holds no markup of the author's: every text escaped, no raw HTML, no live link."""
    return Markup(PARSER.render(str(text or ""), {}))
