"""What a command tells the user when the result store or the library cannot
be used: a store set aside as damaged, a full disk, an I/O error.

Each message says what happened, what was kept and what the next run does,
in one paragraph and without a traceback. The rule behind "what the next run
does": an item counts as up to date only when the store holds a result with
the file's modification time (``selection.is_current``), so an item whose
fields say it is analysed but whose results are gone (a new store) is
analysed again by the next ``beet musicnn``, and nothing else is needed.
"""

from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from ..labels import fields

if TYPE_CHECKING:
    from beets.library import Library

    from .store import SetAside, StoreError

#: What every message about a stopped command ends with.
_GO_ON = (
    "The command stopped; what it saved before is kept. Fix the cause (for a "
    "full disk: free some space) and run it again: `beet musicnn` goes on "
    "where it stopped."
)


def analysed_items(lib: Library) -> int:
    """How many items carry the fields of an analysis (``musicnn_version``)."""
    with lib.transaction() as tx:
        rows = tx.query(
            "SELECT COUNT(*) FROM item_attributes WHERE key = ?",
            (fields.VERSION_FIELD,),
        )
    return rows[0][0]


def _moved(aside: SetAside) -> str:
    first, *others = aside.moved
    if not others:
        return first
    return f"{first} (with its {', '.join(os.path.basename(o) for o in others)})"


def _reanalysed(lib: Library) -> str:
    count = analysed_items(lib)
    if not count:
        return "No item had been analysed yet."
    return (
        f"The {count:,} items analysed before keep their fields; `beet musicnn` "
        "analyses them again to store their results (the radio and `--rederive` "
        "need those)."
    )


def recovered(lib: Library, aside: SetAside) -> str:
    """A damaged store was found at open and set aside; the command goes on."""
    return (
        f"musicnn: the result store {aside.path} was damaged ({aside.reason}): "
        f"it was set aside as {_moved(aside)} and a new store started. "
        f"{_reanalysed(lib)}"
    )


def stopped_by_damage(lib: Library, aside: SetAside) -> str:
    """The store turned out damaged while a command used it: it was set aside
    and the command stopped."""
    return (
        f"musicnn: the result store {aside.path} is damaged ({aside.reason}), "
        f"so the command stopped. The file was set aside as {_moved(aside)}; "
        f"the next command starts a new store. {_reanalysed(lib)}"
    )


def not_set_aside(error: StoreError, problem: OSError) -> str:
    """The store is damaged and could not even be renamed."""
    return (
        f"musicnn: the result store {error.path} is damaged ({error.reason}) and "
        f"could not be set aside ({problem.strerror or problem}): move it and "
        "its -wal and -shm files out of the way, then run the command again."
    )


def stopped_by_store(error: StoreError) -> str:
    """The store could not be written or read (a full disk, an I/O error)."""
    return (
        f"musicnn: cannot use the result store {error.path}: {error.reason}. "
        f"{_GO_ON}"
    )


def cannot_open(error: StoreError) -> str:
    """The store could not even be opened: nothing was done."""
    return (
        f"musicnn: cannot open the result store {error.path}: {error.reason}. "
        "Nothing was changed. Fix the cause (for a full disk: free some space) "
        "and run the command again."
    )


def stopped_by_library(lib: Library, error: sqlite3.Error) -> str:
    """The beets library database could not be written or read."""
    from .store import disk_space_note

    path = os.fsdecode(lib.path)
    reason = " ".join(str(error).split()) or type(error).__name__
    return (
        f"musicnn: cannot use the beets library {path}: {reason}"
        f"{disk_space_note(path)}. {_GO_ON}"
    )
