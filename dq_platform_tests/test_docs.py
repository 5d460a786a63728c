"""The documentation holds together: a short README that starts with the two set-up commands,
relative links and anchors that resolve, and no docs page that nobody links to.

Pure text checks: no network, no import of the package.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
COMMENT = re.compile(r"<!--.*?-->", re.S)
# [text](target "title") and ![alt](target); link text may hold one level of brackets
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.I)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def doc_pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def pages() -> list[Path]:
    return [README, *doc_pages()]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks and HTML comments."""
    out, in_fence = [], False
    for line in COMMENT.sub("", text).splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped except '-' and '_', spaces -> '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images: their text
    parts = CODE_SPAN.split(text)  # [prose, ticks, code, ticks, code, ..., prose]
    text = "".join(
        re.sub(r"<[^>]+>", "", part) if i % 3 == 0 else part  # HTML tags in prose; code is literal
        for i, part in enumerate(parts)
        if i % 3 != 1
    )
    text = text.strip().lower()
    kept = "".join(ch for ch in text if ch in "-_ " or unicodedata.category(ch)[0] in ("L", "N", "M"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub generates for the headings of a Markdown file (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Every link and image target of a Markdown file, outside code."""
    found = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        line = CODE_SPAN.sub("code", line)
        found += [m.group(1) for m in INLINE_LINK.finditer(line)]
        found += [m.group(1) for m in HTML_LINK.finditer(line)]
        m = REFERENCE_DEF.match(line)
        if m:
            found.append(m.group(1))
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in found]


def is_relative(target: str) -> bool:
    return not SCHEME.match(target) and not target.startswith("//")


def resolve(page: Path, target: str) -> tuple[Path, str]:
    """(file the link points to, its #anchor or '')."""
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if not path_part:
        return page, anchor
    base = ROOT if path_part.startswith("/") else page.parent
    return (base / path_part.lstrip("/")).resolve(), anchor


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"


def test_readme_starts_with_the_two_set_up_commands():
    block, in_fence = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            if in_fence:
                break
            in_fence = True
            continue
        if in_fence:
            block.append(line)
    text = "\n".join(block)
    assert "make demo" in text and "make test" in text, f"first code block of README.md:\n{text}"


def test_there_are_docs_pages():
    assert (DOCS / "README.md").is_file()
    assert len(doc_pages()) > 1


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page):
    problems = []
    for target in links(page):
        if not is_relative(target):
            continue
        dest, anchor = resolve(page, target)
        if ROOT.resolve() not in (dest, *dest.parents):
            problems.append(f"{target}: outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(ROOT)}")
    assert not problems, f"{page.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_every_docs_page_is_linked_from_an_index():
    linked = set()
    for index in (README, DOCS / "README.md"):
        for target in links(index):
            if is_relative(target):
                dest, _ = resolve(index, target)
                if dest != index.resolve():
                    linked.add(dest)
    orphans = [str(p.relative_to(ROOT)) for p in doc_pages() if p.resolve() not in linked]
    assert not orphans, f"docs pages linked from neither README.md nor docs/README.md: {orphans}"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Audit log at 10,000 runs", "audit-log-at-10000-runs"),
        ("The stack (`docker-compose.yml`)", "the-stack-docker-composeyml"),
        ("Gold joins, filters, first/last", "gold-joins-filters-firstlast"),
        ("`<name>_anomalies` table", "name_anomalies-table"),
        ("Known facts about Dagster 1.13", "known-facts-about-dagster-113"),
        ("Re-run → same verdict", "re-run--same-verdict"),
    ],
)
def test_slug_follows_github(heading, anchor):
    assert slug(heading) == anchor
