"""The result store: every analysis, kept whole, beside the beets library.

Flexible fields only hold what the configuration selects (a few calibrated
scores, genre, mood, tags). The store keeps the *full* song-level output of
every enabled model for every analysed item — all tag scores and the 200-d
embedding — so that:

- a new ``scores``/``threshold`` setting (or a new calibration) re-derives the
  fields of the whole library without decoding any audio;
- later features (nearest-neighbour "radio", recalibration against the user's
  own library) can read embeddings and scores in one streaming pass.

It is an SQLite file next to the library database, ``<library stem>.musicnn.
sqlite`` (``library.db`` -> ``library.musicnn.sqlite``), in WAL mode, with one
row per (item id, model)::

    results(item_id INTEGER, model TEXT, version TEXT,
            scores BLOB     -- float32, little-endian, model order
            embedding BLOB  -- float16, little-endian (see EMBEDDING_DTYPE)
            n_patches INTEGER, duration REAL, mtime REAL, analyzed_at REAL,
            PRIMARY KEY (item_id, model))

Float16 halves the embedding (400 bytes instead of 800) at a relative error
of about 5e-4, irrelevant for cosine similarity; scores stay float32 so that
re-derived fields equal freshly computed ones. Measured on 100,000 synthetic
items with both models (a busy 2-core machine): 702 bytes per row, 1.4 kB per
item (a 500,000-item library: about 0.7 GB); ``put_many`` writes about 15,000
items (30,000 rows) per second, streams ``iter_results`` at about 27,000 rows
per second, and ``prune`` against 100,000 live ids takes about 2 s.

Items removed from the library are dropped with :meth:`ResultStore.delete`
(the ``item_removed`` event) and, in bulk, :meth:`ResultStore.prune`.

Every SQLite error of the store comes out as a :class:`StoreError` that
names the file; one that says the file's content is damaged (SQLite's
``SQLITE_CORRUPT`` and ``SQLITE_NOTADB``: garbage, a truncated file, a bad
page) is a :class:`StoreDamagedError`. Opening checks what is cheap to check
(the header, the schema, the last page of the table and of its index): the
whole open takes 0.4 ms on 500,000 rows with the file cached, where ``PRAGMA
quick_check``, which reads every page, takes 0.57 s (more from a cold disk;
``bench/bench_store_check.py``), so damage elsewhere shows up when its page
is first read or written. Opening writes nothing once the schema is there
(a write made every open 36 ms, most of it the checkpoint at close).
:meth:`ResultStore.for_library` with ``recover=True`` sets a damaged file
aside (:func:`set_aside`: renamed with a time stamp, never deleted) and
starts a new store in its place.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from os import PathLike, fsdecode
from pathlib import Path
from typing import TypeVar

import numpy as np

SCORES_DTYPE = np.dtype("<f4")
EMBEDDING_DTYPE = np.dtype("<f2")
#: ``PRAGMA user_version`` of the schema below.
SCHEMA_VERSION = 1
#: Replaces the library file's suffix: ``library.db`` -> ``library.musicnn.sqlite``.
STORE_SUFFIX = ".musicnn.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    item_id INTEGER NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    scores BLOB NOT NULL,
    embedding BLOB NOT NULL,
    n_patches INTEGER NOT NULL,
    duration REAL NOT NULL,
    mtime REAL NOT NULL,
    analyzed_at REAL NOT NULL,
    PRIMARY KEY (item_id, model)
)
"""
_COLUMNS = (
    "item_id, model, version, scores, embedding, n_patches, duration, mtime, "
    "analyzed_at"
)
#: A counter bumped by every change of ``results``, whoever makes it, so that
#: what is derived from the store (the radio's embedding index) can tell
#: whether it is stale without reading the rows. Added to existing stores on
#: open; it needs no schema version (older code ignores it, and its writes
#: still bump it through the triggers). A new store starts it at a random
#: 48-bit number, not 0: an index built from an earlier store at the same
#: path (one set aside as damaged, or deleted) must not look current.
_GENERATION_SCHEMA = """
CREATE TABLE IF NOT EXISTS generation (n INTEGER NOT NULL);
INSERT INTO generation (n) SELECT random() & 281474976710655
WHERE NOT EXISTS (SELECT 1 FROM generation);
""" + "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS results_{event.lower()} AFTER {event} ON results
BEGIN UPDATE generation SET n = n + 1; END;
"""
    for event in ("INSERT", "UPDATE", "DELETE")
)
#: Rows fetched per step when streaming.
_FETCH = 1024
#: SQLite's primary result codes that say the file's content is damaged:
#: SQLITE_CORRUPT (a bad page, a truncated file) and SQLITE_NOTADB (not an
#: SQLite file at all). Everything else (a full disk, a lock, an I/O error,
#: permissions) is about the surroundings, and a new store would not help.
_DAMAGE_CODES = {11: "SQLITE_CORRUPT", 26: "SQLITE_NOTADB"}
#: Their messages, for Python 3.10, whose exceptions carry no code.
_DAMAGE_MESSAGES = ("file is not a database", "database disk image is malformed")
#: Files SQLite keeps beside the store in WAL mode; set aside with it.
_SIDE_FILES = ("-wal", "-shm")
#: Free bytes below which an error of the store mentions the free space.
_LOW_DISK_SPACE = 16 * 1024**2
#: Time stamp in the name of a store set aside (UTC).
_STAMP = "%Y%m%d-%H%M%S"


class StoreError(Exception):
    """The result store cannot be read or written.

    Attributes
    ----------
    path : str
        The store's file.
    reason : str
        SQLite's reason, one line (``"database or disk is full"``).
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreDamagedError(StoreError):
    """The store's file is damaged (not SQLite, truncated, a bad page).

    Raised at open, it holds the connection that found the damage, still
    open: :meth:`set_aside` renames the files, then closes it (if nobody
    does, the garbage collector closes it, and SQLite may then delete the
    ``-wal`` file).
    """

    #: The connection that found the damage at open, if any.
    connection: sqlite3.Connection | None = None

    def set_aside(self) -> SetAside:
        """:func:`set_aside` the store, then close :attr:`connection`.

        Raises
        ------
        OSError
            If a file cannot be renamed.
        """
        try:
            return set_aside(self.path, self.reason)
        finally:
            if self.connection is not None:
                self.connection.close()
                self.connection = None


def is_damage(error: sqlite3.Error) -> bool:
    """Does ``error`` say that the database file's content is damaged?"""
    code = getattr(error, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in _DAMAGE_CODES
    return any(message in str(error) for message in _DAMAGE_MESSAGES)


def store_error(path: str, error: sqlite3.Error) -> StoreError:
    """``error`` as a :class:`StoreError` (or :class:`StoreDamagedError`)."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if is_damage(error):
        return StoreDamagedError(path, reason)
    return StoreError(path, reason + disk_space_note(path))


def disk_space_note(path: str | PathLike[str]) -> str:
    """``" (its disk has 12 kB free)"`` when the filesystem holding ``path``
    is nearly full, else ``""``. SQLite says "disk I/O error", not "full",
    when it cannot grow its shared-memory file; this says why."""
    if fsdecode(path) == ":memory:":
        return ""
    folder = os.path.dirname(os.path.abspath(fsdecode(path)))
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    if free >= _LOW_DISK_SPACE:
        return ""
    return f" (its disk has {free / 1000:,.0f} kB free)"


_Method = TypeVar("_Method", bound=Callable)


def _reported(method: _Method) -> _Method:
    """Raise the sqlite3 errors of a :class:`ResultStore` method (or of the
    generator it returns) as :class:`StoreError` naming the store's file."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(self: ResultStore, *args, **kwargs):
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.Error as error:
                raise store_error(self.path, error) from error

        return generator  # type: ignore[return-value]

    @functools.wraps(method)
    def wrapper(self: ResultStore, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error

    return wrapper  # type: ignore[return-value]


def _empty_with_log(path: str) -> bool:
    """Is the file empty (truncated) while its ``-wal`` file is not?"""
    try:
        return os.path.getsize(path) == 0 and os.path.getsize(f"{path}-wal") > 0
    except OSError:  # either is missing: nothing to lose
        return False


@dataclass(frozen=True)
class SetAside:
    """A damaged store that was renamed out of the way."""

    #: Where the store was (and where a new one now is).
    path: str
    #: Its file, and its ``-wal``/``-shm`` files if any, as renamed.
    moved: tuple[str, ...]
    #: What SQLite said about it.
    reason: str


def set_aside(path: str | PathLike[str], reason: str) -> SetAside:
    """Rename a damaged store and its WAL files out of the way, never
    deleting anything: ``library.musicnn.sqlite`` becomes
    ``library.musicnn.damaged-20261201-083000.sqlite`` (UTC; ``-2``, ``-3``
    ... if that name is taken), its ``-wal`` and ``-shm`` files likewise, so
    that SQLite (or ``sqlite3 FILE .recover``) still opens them together.

    Raises
    ------
    OSError
        If a file cannot be renamed (what was renamed before stays renamed).
    """
    original = Path(fsdecode(path))
    stamp = time.strftime(_STAMP, time.gmtime())
    target = original.with_name(f"{original.stem}.damaged-{stamp}{original.suffix}")
    number = 1
    while any(os.path.lexists(f"{target}{side}") for side in ("", *_SIDE_FILES)):
        number += 1
        target = original.with_name(
            f"{original.stem}.damaged-{stamp}-{number}{original.suffix}"
        )
    moved = []
    for side in ("", *_SIDE_FILES):
        source = f"{original}{side}"
        if os.path.lexists(source):
            os.rename(source, f"{target}{side}")
            moved.append(f"{target}{side}")
    return SetAside(str(original), tuple(moved), reason)


@dataclass(frozen=True, eq=False)
class StoredResult:
    """The song-level output of one model for one library item."""

    item_id: int
    model: str
    #: :func:`fields.analysis_version` of the analysis.
    version: str
    #: (n_tags,) float32, raw song-level scores in model order.
    scores: np.ndarray
    #: (200,) embedding (float16 once read back from the store).
    embedding: np.ndarray
    n_patches: int
    #: Seconds of audio analysed.
    duration: float
    #: Modification time of the file when it was analysed.
    mtime: float
    #: Unix time of the analysis.
    analyzed_at: float

    @classmethod
    def from_analysis(
        cls,
        item_id: int,
        results: Mapping[str, object],
        *,
        version: str,
        duration: float,
        mtime: float,
        analyzed_at: float | None = None,
    ) -> list[StoredResult]:
        """One record per model of an ``Analysis`` (or its ``.results`` dict)."""
        when = time.time() if analyzed_at is None else analyzed_at
        return [
            cls(
                item_id=int(item_id),
                model=key,
                version=version,
                scores=np.asarray(result.scores, dtype=np.float32),
                embedding=np.asarray(result.embedding, dtype=np.float32),
                n_patches=int(result.n_patches),
                duration=float(duration),
                mtime=float(mtime),
                analyzed_at=float(when),
            )
            for key, result in results.items()
        ]

    def _row(self) -> tuple:
        return (
            int(self.item_id),
            self.model,
            self.version,
            np.ascontiguousarray(self.scores, dtype=SCORES_DTYPE).tobytes(),
            np.ascontiguousarray(self.embedding, dtype=EMBEDDING_DTYPE).tobytes(),
            int(self.n_patches),
            float(self.duration),
            float(self.mtime),
            float(self.analyzed_at),
        )

    @classmethod
    def _from_row(cls, row: tuple) -> StoredResult:
        item_id, model, version, scores, embedding, n_patches, duration, mtime, at = row
        return cls(
            item_id=item_id,
            model=model,
            version=version,
            scores=np.frombuffer(scores, dtype=SCORES_DTYPE),
            embedding=np.frombuffer(embedding, dtype=EMBEDDING_DTYPE),
            n_patches=n_patches,
            duration=duration,
            mtime=mtime,
            analyzed_at=at,
        )


class ResultStore:
    """An SQLite file of :class:`StoredResult` rows; a context manager.

    Parameters
    ----------
    path : str or path-like
        The store's file (created with its folder if missing), or
        ``":memory:"`` for a store that lives as long as the object.
    recover : bool
        Set a damaged file aside (:meth:`StoreDamagedError.set_aside`) and
        start a new store in its place; :attr:`recovery` says what was moved.

    Raises
    ------
    StoreDamagedError
        If the file is damaged (checked at open: see the module's notes),
        without ``recover``.
    StoreError
        If SQLite cannot open or write it (permissions, a full disk).
    RuntimeError
        If a newer version of this plugin wrote it.
    OSError
        If its folder cannot be created.
    """

    #: What was set aside when this store was opened, if anything
    #: (``recover=True``).
    recovery: SetAside | None = None

    def __init__(self, path: str | PathLike[str], *, recover: bool = False) -> None:
        self.path = fsdecode(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect()
        except StoreDamagedError as damage:
            if not recover:
                raise
            self.recovery = damage.set_aside()
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and _empty_with_log(self.path):
            # SQLite would take it for a new database and delete the log.
            raise StoreDamagedError(
                self.path, "the file is empty but its write-ahead log is not"
            )
        try:
            # Not bound to one thread: the plugin opens one store per thread,
            # but must close them all, from one, once it has set a damaged
            # file aside (a connection closed later would delete the WAL of
            # the new store at the same path).
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise store_error(self.path, error) from error
        try:
            self._open(db)
        except sqlite3.Error as error:
            problem = store_error(self.path, error)
            if isinstance(problem, StoreDamagedError):
                # Closed only once the files are renamed (or kept): closing a
                # connection to a file SQLite cannot read deletes its -wal and
                # -shm files, which may hold the latest results.
                problem.connection = db
            else:
                db.close()
            raise problem from error
        except BaseException:
            db.close()
            raise
        return db

    def _open(self, db: sqlite3.Connection) -> None:
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")  # reads the header
            db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer beets-musicnn "
                f"(schema {version} > {SCHEMA_VERSION})"
            )
        db.execute(_SCHEMA)  # reads the schema
        db.executescript(_GENERATION_SCHEMA)
        if version != SCHEMA_VERSION:  # no write (nor disk space) when it is
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        # The right edge of the table and of its primary-key index: a few
        # pages, the last ones written, so the ones a truncated file lacks.
        db.execute("SELECT MAX(rowid) FROM results").fetchone()
        db.execute("SELECT MAX(item_id) FROM results").fetchone()

    @classmethod
    def for_library(
        cls, library_path: str | PathLike[str], *, recover: bool = False
    ) -> ResultStore:
        """The store belonging to the beets library database at ``library_path``.

        ``~/.config/beets/library.db`` -> ``~/.config/beets/library.musicnn.sqlite``;
        an in-memory library (``":memory:"``) gets an in-memory store.

        ``recover`` is the constructor's.
        """
        return cls(cls.path_for_library(library_path), recover=recover)

    @staticmethod
    def path_for_library(library_path: str | PathLike[str]) -> str:
        """The store's file for the library database at ``library_path``."""
        name = fsdecode(library_path)
        if name == ":memory:":
            return name
        path = Path(name).expanduser()
        return str(path.with_name(path.stem + STORE_SUFFIX))

    # -- context manager --------------------------------------------------------

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._db.close()

    # -- writing ----------------------------------------------------------------

    @_reported
    def put_many(self, records: Iterable[StoredResult]) -> int:
        """Insert or replace records, all in one transaction; returns how many."""
        count = 0

        def rows() -> Iterator[tuple]:
            nonlocal count
            for record in records:
                count += 1
                yield record._row()

        with self._transaction():
            self._db.executemany(
                f"INSERT OR REPLACE INTO results ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows(),
            )
        return count

    @_reported
    def delete(self, item_ids: Iterable[int]) -> int:
        """Drop every row of these items (e.g. on ``item_removed``); returns rows."""
        with self._transaction():
            cursor = self._db.executemany(
                "DELETE FROM results WHERE item_id = ?", ((int(i),) for i in item_ids)
            )
        return max(cursor.rowcount, 0)

    @_reported
    def prune(self, live_item_ids: Iterable[int]) -> int:
        """Drop rows of every item *not* in ``live_item_ids``; returns rows dropped.

        The live ids are streamed into a temporary table, so memory stays
        bounded for any library size.
        """
        with self._transaction():
            self._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS live (id INTEGER PRIMARY KEY)"
            )
            self._db.execute("DELETE FROM temp.live")
            self._db.executemany(
                "INSERT OR IGNORE INTO temp.live (id) VALUES (?)",
                ((int(i),) for i in live_item_ids),
            )
            cursor = self._db.execute(
                "DELETE FROM results WHERE item_id NOT IN (SELECT id FROM temp.live)"
            )
            dropped = cursor.rowcount
            self._db.execute("DROP TABLE temp.live")
        return dropped

    # -- reading ----------------------------------------------------------------

    @_reported
    def get(self, item_id: int) -> dict[str, StoredResult]:
        """The results of one item, by model key (empty if never analysed)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM results WHERE item_id = ?", (int(item_id),)
        ).fetchall()
        return {row[1]: StoredResult._from_row(row) for row in rows}

    @_reported
    def mtimes(self, model: str, item_ids: range) -> dict[int, float]:
        """The file modification times stored with ``model``'s results of the
        items in ``item_ids`` (a range: one indexed query for a whole page)."""
        rows = self._db.execute(
            "SELECT item_id, mtime FROM results "
            "WHERE item_id BETWEEN ? AND ? AND model = ?",
            (item_ids.start, item_ids[-1], model),
        )
        return dict(rows.fetchall())

    @_reported
    def iter_results(self, model: str | None = None) -> Iterator[StoredResult]:
        """Every stored result (of one model, if given), by item id, streaming."""
        if model is None:
            cursor = self._db.execute(
                f"SELECT {_COLUMNS} FROM results ORDER BY item_id, model"
            )
        else:
            cursor = self._db.execute(
                f"SELECT {_COLUMNS} FROM results WHERE model = ? ORDER BY item_id",
                (model,),
            )
        try:
            while rows := cursor.fetchmany(_FETCH):
                for row in rows:
                    yield StoredResult._from_row(row)
        finally:
            cursor.close()

    @_reported
    def iter_embeddings(self, model: str) -> tuple[int, Iterator[tuple[int, bytes]]]:
        """How many items ``model`` has results for, and their ``(item_id,
        embedding bytes)`` (float16, little-endian) by item id, streaming.

        Reads only the two columns, without building records: about ten
        times faster than :meth:`iter_results` for a whole library.
        """
        count = self._db.execute(
            "SELECT COUNT(*) FROM results WHERE model = ?", (model,)
        ).fetchone()[0]
        return count, self._embedding_rows(model)

    @_reported
    def _embedding_rows(self, model: str) -> Iterator[tuple[int, bytes]]:
        cursor = self._db.execute(
            "SELECT item_id, embedding FROM results WHERE model = ? ORDER BY item_id",
            (model,),
        )
        try:
            while batch := cursor.fetchmany(_FETCH):
                yield from batch
        finally:
            cursor.close()

    @_reported
    def generation(self) -> int:
        """A number that changes whenever any result is added, replaced or
        removed (by any connection)."""
        return self._db.execute("SELECT n FROM generation").fetchone()[0]

    @_reported
    def item_ids(self) -> Iterator[int]:
        """Ids of the items with at least one stored result, ascending."""
        cursor = self._db.execute("SELECT DISTINCT item_id FROM results ORDER BY 1")
        try:
            while rows := cursor.fetchmany(_FETCH):
                yield from (row[0] for row in rows)
        finally:
            cursor.close()

    @_reported
    def __len__(self) -> int:
        """Number of stored (item, model) rows."""
        return self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on an exception."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if not exc_type:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.Error:
                self._rollback()  # a COMMIT that failed leaves it open
                raise
        self._rollback()

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (a full disk);
        # a second ROLLBACK would raise and hide the first error.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
