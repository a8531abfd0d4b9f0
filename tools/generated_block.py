"""Shared by the ``tools/make_*_table.py`` generators: splice a generated
block between two marker lines of a file, then write the file or, with
``--check``, only say whether it is out of date."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def splice(text: str, begin: str, end: str, block: str) -> str:
    """``text`` with everything from ``begin`` to ``end`` (markers included)
    replaced by ``block``, which carries its own markers."""
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{block}{tail}"


def write_or_check(
    description: str, path: Path, render: Callable[[str], str], script: str, what: str
) -> None:
    """Command line of a generator: rewrite ``path`` with ``render`` of its
    text, or with ``--check`` exit 1 when that would change it.

    Parameters
    ----------
    description
        The ``--help`` description.
    path
        The file holding the generated block.
    render
        The file's text with the block regenerated.
    script
        The generator's path, named in the out-of-date message.
    what
        What was written, for the confirmation line (``the field table``).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only compare")
    args = parser.parse_args()
    current = path.read_text()
    updated = render(current)
    if args.check:
        if updated != current:
            sys.exit(f"{path} is out of date: run python {script}")
        return
    path.write_text(updated)
    print(f"wrote {what} of {path}")
