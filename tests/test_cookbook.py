"""Every query of the cookbook and of the demo, run on a real analysed library.

The queries are read from ``docs/cookbook.md`` (every ``query``, ``seeds``
and ``where`` of its YAML blocks) and from ``scripts/demo`` (its smart
playlists and ``beet ls`` queries), so a recipe that is edited is tested as
written. The library: consecutive 5-second segments of each bundled clip,
imported and analysed by ``beet musicnn`` with ``write_genre: yes`` (which
the cookbook's genre recipes need), in subprocesses like a user's.

Each query must parse, and return what it claims: the playlists are written
by smartplaylist itself (``beet splupdate``), and every term is checked here
on every item, independently of beets' query code. A plain ``field:value``
term on a field that holds a list (``musicnn_tags``, ``genres``, the words of
``musicnn_energy``) claims the items that *have* that value, so
``musicnn_tags:rock`` must not return a track tagged only "classic rock".
"""

from __future__ import annotations

import re
import shlex
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.report.test_report import beet

REPO_ROOT = Path(__file__).resolve().parents[1]
COOKBOOK = REPO_ROOT / "docs" / "cookbook.md"
DEMO = REPO_ROOT / "scripts" / "demo"
#: Fields whose value is a list: a plain term claims an element of it.
LIST_FIELDS = {
    "musicnn_tags": lambda value: value.split("; ") if value else [],
    "genres": lambda value: list(value or []),
    "musicnn_energy": lambda value: value.split() if value else [],
}
SECONDS = {"d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}


# Reading the queries ----------------------------------------------------------------


def _queries_in(data, where: str) -> list[tuple[str, dict]]:
    """``(where, entry)`` of every mapping with a query in parsed YAML."""
    found = []
    if isinstance(data, dict):
        if {"query", "seeds", "where"} & set(data):
            found.append((where, data))
        for key, value in data.items():
            found += _queries_in(value, f"{where}/{key}")
    elif isinstance(data, list):
        for number, value in enumerate(data):
            found += _queries_in(value, f"{where}[{number}]")
    return found


def cookbook_entries() -> list[tuple[str, dict]]:
    """Entries with a ``query``, ``seeds`` or ``where`` in the cookbook's
    YAML blocks (a block may be an indented part of a longer file)."""
    blocks = re.findall(r"```yaml\n(.*?)```", COOKBOOK.read_text(), re.S)
    entries = []
    for number, block in enumerate(blocks):
        entries += _queries_in(
            yaml.safe_load(textwrap.dedent(block)), f"cookbook block {number}"
        )
    return entries


def smart(where: str) -> bool:
    """Whether the entry at ``where`` is a smart playlist (not one of the
    plugin's radio or family playlist settings)."""
    return "musicnn/" not in where


def demo_playlists() -> list[dict]:
    """The smart playlists of the demo's configuration."""
    text = DEMO.read_text()
    config = re.search(r'config.yaml" <<EOF\n(.*?)\nEOF\n', text, re.S).group(1)
    config = config.replace("$demo", "/demo").replace("\\`", "`")
    return yaml.safe_load(config)["smartplaylist"]["playlists"]


def demo_ls_queries() -> list[list[str]]:
    """The queries of the demo's ``beet ls -f FORMAT QUERY`` commands (a
    format may go on over several lines)."""
    queries, command = [], ""
    for line in DEMO.read_text().splitlines():
        if line.startswith('"$beet" ls -f '):
            command = line
        elif command:
            command += "\n" + line
        if command:
            try:
                words = shlex.split(command)
            except ValueError:  # a quote still open: the format goes on
                continue
            queries.append(words[4:])  # after "$beet" ls -f FORMAT
            command = ""
    return queries


def alternatives(query) -> list[list[str]]:
    """A smartplaylist query (a string, or a list meaning "any of them") as
    alternatives of terms; within a string " , " means "or", as in beets."""
    strings = query if isinstance(query, list) else [query]
    return [
        shlex.split(part) for string in strings for part in re.split(r"\s,\s", string)
    ]


# Checking what a term claims ----------------------------------------------------------


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _in_range(value: float | None, text: str) -> bool:
    low, _, high = text.partition("..")
    if value is None:
        return False
    return (not low or value >= float(low)) and (not high or value <= float(high))


def claim(term: str, item: dict) -> bool | None:
    """Whether ``item`` is what ``term`` asks for (``None``: a sort term)."""
    if re.fullmatch(r"[\w]+[+-]", term):
        return None
    negate = term.startswith("^")
    field, _, pattern = term.lstrip("^").partition(":")
    value = item.get(field)
    if pattern.startswith(":"):  # regular expression
        result = re.search(pattern[1:], _text(value)) is not None
    elif pattern.startswith("="):  # exact
        result = _text(value) == pattern[1:]
    elif field == "added" and (
        relative := re.fullmatch(r"-(\d+)([dwmy])\.\.", pattern)
    ):
        since = time.time() - int(relative[1]) * SECONDS[relative[2]]
        result = (_number(value) or 0) >= since
    elif ".." in pattern:
        result = _in_range(_number(value), pattern)
    elif field in LIST_FIELDS:  # an element of the list, not a part of one
        elements = LIST_FIELDS[field](value)
        result = pattern.casefold() in (e.casefold() for e in elements)
    else:
        result = pattern.casefold() in _text(value).casefold()
    return result != negate


def _text(value) -> str:
    if isinstance(value, list):
        return "; ".join(value)
    return "" if value is None else str(value)


def selected(terms: list[str], item: dict) -> bool:
    return all(claim(term, item) is not False for term in terms)


def sort_keys(terms: list[str]) -> list[tuple[str, bool]]:
    return [(t[:-1], t[-1] == "-") for t in terms if re.fullmatch(r"\w+[+-]", t)]


# The library --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library(write_segments, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cookbook")
    segments = write_segments(folder / "clips", 5.0, 5, title="{stem} part {number}")
    (folder / "config.yaml").write_text(
        f"directory: {folder / 'music'}\nlibrary: {folder / 'library.db'}\n"
        "plugins: musicnn smartplaylist\ncreate_backup_before_migrations: no\n"
        "import: {copy: yes, write: no, quiet: yes}\n"
        "musicnn: {auto: no, workers: 0, write_genre: yes}\n"
    )
    beet(folder, "import", "-A", str(segments[0].parent))
    beet(folder, "musicnn")
    return folder


@pytest.fixture(scope="module")
def items(library) -> dict[str, dict]:
    """Every item's fields, by path, as beets reads them (no plugin types:
    flexible fields are the strings stored)."""
    from beets.library import Library

    lib = Library(str(library / "library.db"), str(library / "music"))
    found = {
        str(item.filepath): {key: item.get(key) for key in item.keys(with_album=False)}
        for item in lib.items()
    }
    lib._close()
    assert found and all(i.get("musicnn_genre") for i in found.values())
    return found


def write_playlists(library: Path, playlists: list[dict], folder: Path) -> None:
    config = yaml.safe_load((library / "config.yaml").read_text())
    config["smartplaylist"] = {
        "playlist_dir": str(folder),
        "auto": False,
        "playlists": playlists,
    }
    (library / "config.yaml").write_text(yaml.safe_dump(config))
    beet(library, "splupdate")


def check_playlists(playlists: list[dict], folder: Path, items: dict) -> None:
    """Every playlist holds exactly the items its query claims, in its order;
    a templated name (``genre-$musicnn_genre.m3u``) holds only its value."""
    for playlist in playlists:
        pattern = re.escape(playlist["name"])
        fields = re.findall(r"\\\$(\w+)", pattern)
        pattern = re.sub(r"\\\$\w+", "(.+)", pattern)
        options = alternatives(playlist["query"])
        wanted = {
            p for p, item in items.items() if any(selected(t, item) for t in options)
        }
        written = set()
        for path in folder.glob("*.m3u"):
            match = re.fullmatch(pattern, path.name)
            if not match:
                continue
            listed = path.read_text().splitlines()
            assert set(listed) <= set(items), path
            for field, value in zip(fields, match.groups(), strict=True):
                assert {items[p][field] for p in listed} == {value}, path.name
            for field, descending in sort_keys(options[0]):
                values = [float(items[p][field]) for p in listed]
                assert values == sorted(values, reverse=descending), path.name
            written |= set(listed)
        assert written == wanted, (playlist, sorted(written ^ wanted))


# The tests ----------------------------------------------------------------------------


def test_the_queries_are_found():
    entries = cookbook_entries()
    assert len([e for _, e in entries if "query" in e]) >= 12
    assert any("seeds" in e for _, e in entries)
    assert len(demo_playlists()) == 3 and len(demo_ls_queries()) >= 3


def test_the_cookbook_playlists_hold_what_they_claim(library, items, tmp_path):
    playlists = [entry for where, entry in cookbook_entries() if smart(where)]
    write_playlists(library, playlists, tmp_path)
    check_playlists(playlists, tmp_path, items)
    # The library is real music: some playlists hold something.
    assert len(list(tmp_path.glob("*.m3u"))) >= 5


def test_the_demo_playlists_hold_what_they_claim(library, items, tmp_path):
    playlists = demo_playlists()
    write_playlists(library, playlists, tmp_path)
    check_playlists(playlists, tmp_path, items)
    rock = (tmp_path / "rock.m3u").read_text().splitlines()
    assert rock and all("rock" in items[p]["musicnn_tags"].split("; ") for p in rock)


def test_every_other_query_parses_and_returns_what_it_claims(library, items):
    queries = [
        terms
        for where, entry in cookbook_entries()
        if not smart(where)
        for key in ("query", "seeds", "where")
        if key in entry
        for terms in alternatives(entry[key])
    ] + demo_ls_queries()
    assert queries
    for terms in queries:
        listed = beet(library, "ls", "-p", *terms).splitlines()  # fails if bad
        wanted = {p for p, item in items.items() if selected(terms, item)}
        assert set(listed) == wanted, (terms, sorted(set(listed) ^ wanted))
