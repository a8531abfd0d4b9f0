"""A query that matches no item: one message and one exit status for every
command (``musicnn`` and its ``-p``, ``-r`` and ``--calibrate``,
``musicnn-similar``, ``musicnn-families``, ``musicnn-report``).

A query matching nothing is nearly always a typo (``title:Clair de lune``
unquoted, a misspelt artist); running on and reporting "analysed 0 tracks"
would hide it. The command stops with :class:`NoMatchError`, a beets
``UserError``: beets prints ``error: musicnn: no item matches 'QUERY'`` and
exits with :data:`NO_MATCH_STATUS`, before any work and without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from beets import ui

#: Exit status of a command whose query matches no item: beets' own status
#: for a ``UserError`` (docs/troubleshooting.md, "Exit codes").
NO_MATCH_STATUS = 1


class NoMatchError(ui.UserError):
    """No item matches ``query``; with no query, the library is empty.

    Parameters
    ----------
    query : sequence of str
        The command's query (the seeds' of ``musicnn-similar``), as given
        on the command line.
    """

    def __init__(self, query: Sequence[str]) -> None:
        self.query = tuple(query)
        super().__init__(no_match_message(self.query))


def no_match_message(query: Sequence[str]) -> str:
    """``musicnn: no item matches 'QUERY'``, or ``musicnn: the library is
    empty`` without a query."""
    if not query:
        return "musicnn: the library is empty: import some music first"
    return f"musicnn: no item matches {' '.join(query)!r}"


def check_matched(matched: int, query: Sequence[str]) -> None:
    """Raise :class:`NoMatchError` when ``matched`` (items the query
    matched, whatever their state) is 0."""
    if not matched:
        raise NoMatchError(query)
