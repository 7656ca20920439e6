"""The design document cited by code, schema, README and tests exists, and every citation names
a section it has."""

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DESIGN = REPO / "docs/design.md"
#: The reference design's file name, which the repository once cited (spelt so that this file
#: does not contain it).
OLD_NAME = "DESIGN" + ".md"


def tracked_files() -> list[Path]:
    """The repository's text files (git's list where there is one; else every file)."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True,
                             text=True, check=True, timeout=60).stdout.split()
        files = [REPO / name for name in out]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in REPO.rglob("*") if ".git" not in p.parts]
    return [p for p in files if p.is_file() and p.suffix in
            {".py", ".smk", ".md", ".yaml", ".yml", ".js", ".rst", ".txt", ""}]


def section_numbers(text: str) -> set[str]:
    """Numbers of the document's headings: ``## 8. Similarity`` -> 8, ``### 8.5.1 ...`` -> 8.5.1."""
    return {m.group(1) for m in re.finditer(r"^#{2,6} (\d+(?:\.\d+)*)\.? ", text, re.M)}


def test_section_numbers_are_read_from_headings():
    text = "# Title\n## 1. One\n### 1.2 Two\n#### 1.2.3 Three\n## Contents 4\n"
    assert section_numbers(text) == {"1", "1.2", "1.2.3"}


def test_every_citation_of_the_design_document_names_one_of_its_sections():
    sections = section_numbers(DESIGN.read_text())
    assert {str(n) for n in range(1, 14)} <= sections
    citations = []
    for path in tracked_files():
        text = path.read_text(errors="replace")
        assert OLD_NAME not in text, f"{path}: cites {OLD_NAME}, which is not in the repository"
        for match in re.finditer(r"docs/design\.md((?:,? ?§\d+(?:\.\d+)*(?:,| and)?)*)", text):
            for number in re.findall(r"§(\d+(?:\.\d+)*)", match.group(1)):
                citations.append((path.relative_to(REPO), number))
    assert len(citations) >= 20
    unknown = [(str(p), n) for p, n in citations if n not in sections]
    assert unknown == []
