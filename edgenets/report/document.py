"""A tiny document model so the report's Markdown and HTML are two renderings of the same data.

Blocks: headings, paragraphs, code, tables, images, and :class:`Details` (blocks collapsed under a
one-line summary: ``<details>`` in HTML, and in the Markdown too, which GitHub renders the same way).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str  # plain text; `code` spans are kept as they are in Markdown and rendered in HTML


@dataclass
class Code:
    text: str


@dataclass
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""
    floatfmt: str = ".4g"


@dataclass
class Image:
    path: Path  # a PNG inside the report folder
    alt: str


@dataclass
class Details:
    """Blocks shown collapsed under ``summary`` until the reader opens them (long reference tables)."""

    summary: str
    blocks: list["Block"] = field(default_factory=list)


Block = Union[Heading, Paragraph, Code, Table, Image, Details]


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> "Document":
        self.blocks.extend(blocks)
        return self


def _cell(value: Any, floatfmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def _markdown_blocks(blocks: Sequence[Block], base: Path) -> list[str]:
    from tabulate import tabulate

    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Code):
            out += ["```", b.text.rstrip(), "```", ""]
        elif isinstance(b, Table):
            rows = [[_cell(v, b.floatfmt) for v in row] for row in b.rows]
            if b.caption:
                out += [f"*{b.caption}*", ""]
            out += [tabulate(rows, headers=list(b.headers), tablefmt="github", disable_numparse=True), ""]
        elif isinstance(b, Image):
            out += [f"![{b.alt}]({Path(b.path).relative_to(base).as_posix()})", ""]
        elif isinstance(b, Details):
            # GitHub renders Markdown inside <details> when blank lines separate it from the tags
            out += ["<details>", f"<summary>{_inline(b.summary)}</summary>", ""]
            out += _markdown_blocks(b.blocks, base)
            out += ["</details>", ""]
    return out


def to_markdown(doc: Document, base: Path) -> str:
    out = [f"# {doc.title}", ""] + _markdown_blocks(doc.blocks, base)
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    # `code` spans -> <code>; everything else escaped
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;margin:0.5em 0 1.5em} pre{background:#f6f6f6;padding:0.8em;overflow-x:auto}
caption{caption-side:top;text-align:left;font-style:italic;padding-bottom:4px}
details{margin:0.5em 0} summary{cursor:pointer;font-weight:600;padding:2px 0}
"""


def _numeric(text: str) -> str:
    try:
        float(text.replace(",", ""))
        return ' class="n"'
    except ValueError:
        return ""


def _html_blocks(blocks: Sequence[Block]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Code):
            out.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
        elif isinstance(b, Table):
            out.append("<table>")
            if b.caption:
                out.append(f"<caption>{_inline(b.caption)}</caption>")
            out.append("<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in b.headers) + "</tr>")
            for row in b.rows:
                cells = [_cell(v, b.floatfmt) for v in row]
                out.append("<tr>" + "".join(f'<td{_numeric(c)}>{html.escape(c)}</td>' for c in cells) + "</tr>")
            out.append("</table>")
        elif isinstance(b, Image):
            data = base64.b64encode(Path(b.path).read_bytes()).decode("ascii")
            out.append(f'<img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}">')
        elif isinstance(b, Details):
            out.append(f"<details><summary>{_inline(b.summary)}</summary>")
            out += _html_blocks(b.blocks)
            out.append("</details>")
    return out


def to_html(doc: Document) -> str:
    """A self-contained page: the PNGs are embedded as data URIs, so the file can be mailed or archived."""
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(doc.title)}</h1>"]
    out += _html_blocks(doc.blocks)
    out.append("</body></html>")
    return "\n".join(out) + "\n"
