"""The documentation's shape: README.md stays a landing page that reaches every page of the site,
the site's nav names only pages that exist, and every `make` target the docs mention exists.
`make docs` (mkdocs build --strict, in .ci/run) checks the links inside the site."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 200


def nav_pages() -> list[str]:
    """Every page file named in mkdocs.yml's nav, in order (nested sections flattened)."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages: list[str] = []

    def walk(entries: list) -> None:
        for entry in entries:
            target = next(iter(entry.values())) if isinstance(entry, dict) else entry
            if isinstance(target, list):
                walk(target)
            else:
                pages.append(target)

    walk(config["nav"])
    return pages


def test_readme_is_a_landing_page_of_at_most_200_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    for command in ("make repro", "make test"):
        assert re.search(rf"^ {{4}}{command} ", readme, re.M), f"README lacks `{command}`"


def test_every_nav_page_exists_and_every_page_is_in_nav():
    pages = nav_pages()
    docs = ROOT / "docs"
    missing = [page for page in pages if not (docs / page).is_file()]
    assert not missing, f"mkdocs.yml nav names missing pages: {missing}"
    on_disk = sorted(str(path.relative_to(docs)) for path in docs.rglob("*.md"))
    assert sorted(pages) == on_disk, "docs/ pages and mkdocs.yml nav differ"


def test_readme_links_every_page_and_only_existing_files():
    readme = (ROOT / "README.md").read_text()
    targets = {link.split("#")[0] for link in re.findall(r"\]\(([^)#][^)]*)\)", readme)}
    local = {target for target in targets if "://" not in target}
    broken = sorted(target for target in local if not (ROOT / target).exists())
    assert not broken, f"README.md links to missing files: {broken}"
    unlinked = [page for page in nav_pages() if f"docs/{page}" not in local]
    assert not unlinked, f"README.md does not link these pages: {unlinked}"


def test_every_make_target_the_docs_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {
        (path.name, target)
        for path in texts
        for target in re.findall(r"(?:`|^ {4,})make ([a-z][a-z-]*)", path.read_text(), re.M)
    }
    unknown = sorted((name, target) for name, target in named if target not in targets)
    assert not unknown, f"docs name make targets the Makefile lacks: {unknown}"
