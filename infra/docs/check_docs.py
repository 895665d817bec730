#!/usr/bin/env python3
"""The docs stand alone: every reference inside the repository resolves.

Checks, over the files git tracks:
  1. Markdown links and images to a path in the repository: the file exists,
     and an `#anchor` names a heading of the target (GitHub's anchors).
  2. Code and scripts citing a document: `docs/x.md` exists; `docs/x.md#anchor`
     names one of its headings; `docs/x.md, "Heading"` (or `docs/x.md "Heading"`,
     `docs/x.md ("Heading"`) names one of its headings, or the part of one
     before its colon, also when the comment wraps the citation over two lines.
  3. Nothing refers to documents outside the repository (`shared/docs/`, a
     "contract section").
External URLs are listed with `--urls`, not fetched.

Usage: check_docs.py [--repo DIR] [--urls]
Exit status 1 with one line per broken reference.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

CODE_SUFFIXES = {".rs", ".py", ".sh", ".yaml", ".yml", ".toml", ".js", ".html", ".css", ".txt", ".sql"}
CODE_NAMES = {"Makefile", "run"}

MD_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
URL = re.compile(r"https?://[^\s)\"'<>`\]]+")
DOC_CITATION = re.compile(
    r"(?<![\w./-])((?:\.\./)*docs/[A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?"
    r"(?:,?\s*\(?\s*(?:section\s+)?[\"“]([^\"”]{1,100})[\"”])?"
)
OUTSIDE = re.compile(r"shared/docs/|contract v\d|contract section|contract §", re.I)
COMMENT_PREFIX = re.compile(r"^\s*(?://[!/]?|#!?|--|\*|/\*+|<!--)?\s?")


def tracked_files(repo: Path) -> list[Path]:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    return [repo / p for p in out.decode().split("\0") if p]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation out, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def normalized(heading: str) -> str:
    """A heading as prose cites it: no markup, case or extra spaces."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return " ".join(text.replace("`", "").replace("*", "").lower().split())


class Headings:
    """Each Markdown file's headings, read once."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[set[str], set[str]]] = {}

    def of(self, path: Path) -> tuple[set[str], set[str]]:
        if path not in self._cache:
            text = FENCE.sub("", path.read_text(encoding="utf-8"))
            anchors: set[str] = set()
            names: set[str] = set()
            for _, title in HEADING.findall(text):
                base = slug(title)
                anchor, n = base, 1
                while anchor in anchors:  # GitHub numbers repeated headings
                    anchor, n = f"{base}-{n}", n + 1
                anchors.add(anchor)
                names.add(normalized(title))
                # "Bounds" cites "Bounds: how long a slice runs, how much it holds".
                names.add(normalized(title.split(":")[0]))
            self._cache[path] = (anchors, names)
        return self._cache[path]


def check_markdown(repo: Path, path: Path, headings: Headings, urls: set[str]) -> list[str]:
    problems = []
    raw = path.read_text(encoding="utf-8")
    text = INLINE_CODE.sub("", FENCE.sub("", raw))
    urls.update(URL.findall(raw))
    targets = MD_LINK.findall(text) + MD_REF_DEF.findall(text)
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # https:, mailto: and the like
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(repo)}: link {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
            continue
        if anchor and dest.suffix == ".md" and anchor.lower() not in headings.of(dest)[0]:
            problems.append(f"{where}: no heading with anchor #{anchor} in {dest.relative_to(repo)}")
    return problems


def comment_text(raw: str) -> str:
    """The file's lines without comment markers, joined, so a citation may wrap."""
    return " ".join(COMMENT_PREFIX.sub("", line, count=1) for line in raw.splitlines())


def check_code(repo: Path, path: Path, headings: Headings, urls: set[str]) -> list[str]:
    problems = []
    raw = path.read_text(encoding="utf-8", errors="replace")
    urls.update(URL.findall(raw))
    joined = re.sub(r"\s+", " ", comment_text(raw).replace('\\"', '"').replace("\\n", " "))
    for doc, anchor, heading in DOC_CITATION.findall(joined):
        target = repo / re.sub(r"^(\.\./)+", "", doc)
        where = f"{path.relative_to(repo)}: cites {doc}"
        if not target.is_file():
            problems.append(f"{where}: no such document")
            continue
        anchors, names = headings.of(target)
        if anchor and anchor[1:].lower() not in anchors:
            problems.append(f"{where}{anchor}: no such heading")
        if heading and normalized(heading) not in names:
            problems.append(f'{where}, "{heading}": no such heading')
    return problems


def check_outside(repo: Path, path: Path) -> list[str]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    return [
        f"{path.relative_to(repo)}:{n}: refers to a document outside the repository: {line.strip()}"
        for n, line in enumerate(raw.splitlines(), 1)
        if OUTSIDE.search(line)
    ]


def check(repo: Path) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    urls: set[str] = set()
    headings = Headings()
    this_file = Path(__file__).resolve()
    for path in tracked_files(repo):
        if not path.is_file() or path.resolve() == this_file or path.name.startswith("test_check_docs"):
            continue
        if path.suffix == ".md":
            problems += check_markdown(repo, path, headings, urls)
        elif path.suffix in CODE_SUFFIXES or path.name in CODE_NAMES:
            problems += check_code(repo, path, headings, urls)
        else:
            continue
        problems += check_outside(repo, path)
    return problems, urls


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=Path(__file__).resolve().parents[2], type=Path)
    parser.add_argument("--urls", action="store_true", help="list the external URLs (not fetched)")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    problems, urls = check(repo)
    if args.urls:
        print("\n".join(sorted(urls)))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check_docs: {len(problems)} broken reference(s)", file=sys.stderr)
        return 1
    print(f"check_docs: every reference inside the repository resolves ({len(urls)} external URLs, not fetched)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
