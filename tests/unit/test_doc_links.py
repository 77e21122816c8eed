"""The docs a clone ships: every relative link resolves to a file inside the repository,
and none points outside it (a reader who clones the project has nothing beyond it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "simulator" / "README.md",
               *(ROOT / "docs").glob("*.md")])
# [text](target) and ![alt](target); a target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(text: str) -> list[str]:
    """Link targets that name a file of the repository (no URL, no in-page anchor)."""
    targets = (m.group(1) for m in LINK.finditer(text))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def test_the_pattern_finds_links() -> None:
    text = "see [a](docs/A.md#flow), ![b](c.png \"t\"), [u](https://x.org), [h](#top)"
    assert relative_links(text) == ["docs/A.md#flow", "c.png"]


def test_architecture_is_linked_from_the_readme() -> None:
    assert "docs/ARCHITECTURE.md" in relative_links((ROOT / "README.md").read_text())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert "../shared" not in text, f"{doc.name} points outside the repository"
    for target in relative_links(text):
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name}: {target} is outside the repository"
        assert path.exists(), f"{doc.name}: {target} does not exist"
