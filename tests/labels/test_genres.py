"""MusicNN genres in beets' vocabulary, checked against the installed lastgenre."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from beetsplug.musicnn.labels import genres
from beetsplug.musicnn.labels.fields import GENRE_TAGS, tag_label

REPO_ROOT = Path(__file__).resolve().parents[2]
LASTGENRE = Path(
    next(iter(importlib.util.find_spec("beetsplug.lastgenre").submodule_search_locations))
)


def branches() -> list[list[str]]:
    found: list[list[str]] = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, key])
        elif isinstance(node, list):
            for child in node:
                walk(child, path)
        else:
            found.append([*path, node])

    walk(yaml.safe_load((LASTGENRE / "genres-tree.yaml").read_text()), [])
    return found


TREE = branches()
TREE_NODES = {node for branch in TREE for node in branch}
WHITELIST = {
    line.strip().lower()
    for line in (LASTGENRE / "genres.txt").read_text().splitlines()
    if line.strip()
}


def test_every_genre_tag_of_both_models_has_a_lastgenre_name():
    labels = {tag_label(tag) for tags in GENRE_TAGS.values() for tag in tags}
    assert labels == set(genres.CANONICAL)


@pytest.mark.parametrize("name", sorted(set(genres.CANONICAL.values())))
def test_every_name_is_one_lastgenre_writes(name):
    # In the whitelist (or a tree root, which lastgenre's canonicalisation
    # also writes), so that lastgenre itself would keep it.
    roots = {branch[0] for branch in TREE}
    assert name in WHITELIST or name in roots


def test_all_but_one_name_is_in_the_tree():
    # "new age music": the whitelist's spelling; the tree says "new-age music".
    outside = {n for n in genres.CANONICAL.values() if n not in TREE_NODES}
    assert outside == {"new age music"}


@pytest.mark.parametrize("name", sorted(set(genres.CANONICAL.values())))
def test_parents_are_those_of_the_first_tree_branch_holding_the_genre(name):
    branch = next((b for b in TREE if name in b), [name])
    expected = list(reversed(branch[: branch.index(name)]))
    assert list(genres.PARENTS[name]) == expected
    assert genres.lineage(genres.title(name)) == [
        n.title() for n in [name, *expected]
    ]


def test_names_are_title_cased_as_lastgenre_writes_them():
    source = (LASTGENRE / "__init__.py").read_text()
    assert re.search(r"tag\.title\(\)", source), "lastgenre no longer uses str.title"
    assert genres.canonical_genre("metal") == "Heavy Metal"
    assert genres.canonical_genre("Hip-Hop") == "Hip Hop"
    assert genres.canonical_genre("rnb") == "R&B"
    assert genres.canonical_genre("classical") == "Classical"
    assert genres.lineage("Heavy Metal") == ["Heavy Metal", "Rock"]
    assert genres.lineage("Indie Pop") == ["Indie Pop", "Alternative Rock", "Rock"]
    assert genres.lineage("Jazz") == ["Jazz"]
    assert genres.family("Indie Pop") == "Rock"


def test_aliases_agree_with_lastgenre_where_it_has_one():
    """Where lastgenre's aliases rewrite a MusicNN tag, we map it the same way."""
    aliases = yaml.safe_load((LASTGENRE / "aliases.yaml").read_text())
    for label, name in genres.CANONICAL.items():
        for target, patterns in aliases.items():
            for pattern in patterns:
                match = re.fullmatch(pattern, label)
                if match and "\\" not in target:
                    assert name == target, (label, pattern)


def test_the_generated_table_matches_the_installed_tree():
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "make_genre_table.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
