"""The result store: round trips, replacement, deletion, pruning, streaming."""

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from beetsplug.musicnn.engine.analysis import analyze_signal
from beetsplug.musicnn.labels.fields import (
    FieldSettings,
    analysis_version,
    derive_fields,
)
from beetsplug.musicnn.library.store import (
    ResultStore,
    StoreDamagedError,
    StoredResult,
    StoreError,
    set_aside,
)

VERSION = analysis_version(["msd", "mtt"])


def record(item_id, model="msd", seed=None, version=VERSION, n_tags=50):
    rng = np.random.default_rng(item_id if seed is None else seed)
    return StoredResult(
        item_id=item_id,
        model=model,
        version=version,
        scores=rng.random(n_tags, dtype=np.float32),
        embedding=rng.standard_normal(200).astype(np.float32),
        n_patches=7,
        duration=21.5,
        mtime=1_700_000_000.25,
        analyzed_at=1_780_000_000.5,
    )


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "library.musicnn.sqlite") as opened:
        yield opened


def test_for_library_puts_the_store_beside_the_database(tmp_path):
    with ResultStore.for_library(tmp_path / "library.db") as opened:
        assert opened.path == str(tmp_path / "library.musicnn.sqlite")
    assert (tmp_path / "library.musicnn.sqlite").is_file()
    with ResultStore.for_library(":memory:") as memory:
        assert memory.put_many([record(1)]) == 1
        assert len(memory) == 1


def test_store_uses_wal_mode(store):
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_round_trip_keeps_scores_exactly_and_embedding_to_float16(store):
    original = record(3)
    assert store.put_many([original, record(3, "mtt")]) == 2
    got = store.get(3)
    assert set(got) == {"msd", "mtt"}
    back = got["msd"]
    assert back.scores.dtype == np.float32
    np.testing.assert_array_equal(back.scores, original.scores)
    np.testing.assert_allclose(back.embedding, original.embedding, rtol=1e-3, atol=1e-3)
    assert (back.item_id, back.model, back.version) == (3, "msd", VERSION)
    assert (back.n_patches, back.duration) == (7, 21.5)
    assert (back.mtime, back.analyzed_at) == (1_700_000_000.25, 1_780_000_000.5)
    assert store.get(4) == {}


def test_put_replaces_the_row_of_the_same_item_and_model(store):
    store.put_many([record(1, seed=1)])
    store.put_many([record(1, seed=2, version="2:msd:overlap=0")])
    assert len(store) == 1
    got = store.get(1)["msd"]
    assert got.version == "2:msd:overlap=0"
    np.testing.assert_array_equal(got.scores, record(1, seed=2).scores)


def test_put_many_is_one_transaction(store):
    def records():
        yield record(1)
        yield record(2)
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        store.put_many(records())
    assert len(store) == 0


def test_delete_removes_every_model_of_the_items(store):
    store.put_many(record(i, m) for i in range(1, 6) for m in ("msd", "mtt"))
    assert store.delete([2, 4, 99]) == 4
    assert list(store.item_ids()) == [1, 3, 5]
    assert store.delete([]) == 0


def test_prune_keeps_only_live_items(store):
    store.put_many(record(i, m) for i in range(1, 2001) for m in ("msd", "mtt"))
    live = (i for i in range(1, 2001) if i % 3)  # a generator: streamed
    assert store.prune(live) == 2 * 666
    assert len(store) == 2 * (2000 - 666)
    assert store.get(3) == {}
    assert set(store.get(4)) == {"msd", "mtt"}
    assert store.prune(range(1, 2001)) == 0  # idempotent, temp table reset
    assert store.prune([]) == 2 * (2000 - 666)
    assert len(store) == 0


def test_iter_results_streams_in_item_order_and_filters_by_model(store):
    store.put_many(record(i, m) for i in (5, 1, 3) for m in ("mtt", "msd"))
    assert [(r.item_id, r.model) for r in store.iter_results()] == [
        (1, "msd"), (1, "mtt"), (3, "msd"), (3, "mtt"), (5, "msd"), (5, "mtt"),
    ]
    assert [r.item_id for r in store.iter_results("mtt")] == [1, 3, 5]
    iterator = store.iter_results()
    assert next(iterator).item_id == 1
    iterator.close()  # an abandoned stream does not block writers
    assert store.delete([1]) == 2


def test_mtimes_of_a_page_of_ids_for_one_model(store):
    store.put_many([record(2), record(3, "mtt"), record(5), record(6)])
    mtime = record(1).mtime
    assert store.mtimes("msd", range(1, 6)) == {2: mtime, 5: mtime}
    assert store.mtimes("mtt", range(1, 6)) == {3: mtime}
    assert store.mtimes("msd", range(7, 9)) == {}


def test_store_persists_and_reopens(tmp_path):
    path = tmp_path / "lib.musicnn.sqlite"
    with ResultStore(path) as first:
        first.put_many([record(7)])
    with ResultStore(path) as second:
        assert list(second.item_ids()) == [7]


def test_store_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "future.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        ResultStore(path)


def test_fields_rederive_from_the_store_equal_fresh_ones(store):
    """The point of the store: changing settings needs no audio decoding."""
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 8) / 16000
    signal = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size))
    results = analyze_signal(signal.astype(np.float32), ["msd", "mtt"])
    store.put_many(
        StoredResult.from_analysis(
            42, results, version=VERSION, duration=8.0, mtime=1.0, analyzed_at=2.0
        )
    )
    stored = {m: r.scores for m, r in store.get(42).items()}
    for settings in (
        FieldSettings.from_config("all", 0.5, ["msd", "mtt"]),
        FieldSettings.from_config(["happy"], 0.99, ["msd"]),
    ):
        fresh = derive_fields({m: r.scores for m, r in results.items()}, settings)
        assert derive_fields(stored, settings) == fresh


# Damage and other failures -------------------------------------------------


def test_garbage_is_damage_and_a_folder_is_not(tmp_path):
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00not sqlite\xff" * 1000)
    with pytest.raises(StoreDamagedError) as damaged:
        ResultStore(garbage)
    assert damaged.value.path == str(garbage)
    assert damaged.value.reason == "file is not a database"
    # A folder where the file should be: SQLite cannot open it, but nothing
    # is damaged, and a new store would not help.
    folder = tmp_path / "folder.sqlite"
    folder.mkdir()
    with pytest.raises(StoreError) as error:
        ResultStore(folder)
    assert not isinstance(error.value, StoreDamagedError)
    assert error.value.reason.startswith("unable to open database file")


def test_a_healthy_store_is_opened_as_it_is(tmp_path):
    with ResultStore.for_library(tmp_path / "library.db") as store:
        store.put_many([record(1)])
    with ResultStore.for_library(tmp_path / "library.db", recover=True) as store:
        assert store.recovery is None
        assert list(store.item_ids()) == [1]
    assert not list(tmp_path.glob("*damaged*"))


def test_a_damaged_store_is_set_aside_with_its_wal_files(tmp_path):
    """The write-ahead log may hold the latest results: it is kept, unchanged,
    beside the damaged file (closing a connection to a file SQLite cannot
    read would delete it)."""
    path = tmp_path / "library.musicnn.sqlite"
    with ResultStore(tmp_path / "live.sqlite") as live:
        live.put_many(record(i) for i in range(1, 2001))
        live._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # into the file
        live.put_many([record(5000)])  # in the WAL until closed
        # A copy (a backup, a sync tool) taken while the store is in use.
        for side in ("", "-wal", "-shm"):
            shutil.copy(tmp_path / f"live.sqlite{side}", f"{path}{side}")
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    damaged = path.read_bytes()
    wal = Path(f"{path}-wal").read_bytes()
    assert len(wal) > 4096

    with ResultStore.for_library(tmp_path / "library.db", recover=True) as store:
        assert len(store) == 0  # a new, working store
        store.put_many([record(3)])
        aside = store.recovery
    assert aside.path == str(path)
    assert aside.reason in (
        "file is not a database",
        "database disk image is malformed",
    )
    main, moved_wal, moved_shm = aside.moved
    assert main.endswith(".sqlite") and ".musicnn.damaged-" in main
    assert (moved_wal, moved_shm) == (main + "-wal", main + "-shm")
    assert Path(main).read_bytes() == damaged  # renamed, never changed
    assert Path(moved_wal).read_bytes() == wal
    with ResultStore(path) as store:
        assert list(store.item_ids()) == [3]


def test_an_empty_file_with_a_write_ahead_log_is_damage(tmp_path):
    """SQLite would take it for a new database and delete the log."""
    path = tmp_path / "library.musicnn.sqlite"
    with ResultStore(tmp_path / "live.sqlite") as live:
        live.put_many([record(1)])
        shutil.copy(tmp_path / "live.sqlite-wal", f"{path}-wal")
    path.write_bytes(b"")
    wal = Path(f"{path}-wal").read_bytes()
    with ResultStore(path, recover=True) as store:
        assert store.recovery.reason.startswith("the file is empty")
        assert Path(store.recovery.moved[1]).read_bytes() == wal


def test_set_aside_never_overwrites(tmp_path):
    path = tmp_path / "library.musicnn.sqlite"
    moved = []
    for number in range(3):  # within the same second, most likely
        path.write_bytes(b"damaged %d" % number)
        moved.append(set_aside(path, "file is not a database").moved[0])
    assert len(set(moved)) == 3
    assert [Path(m).read_bytes() for m in moved] == [
        b"damaged 0", b"damaged 1", b"damaged 2"
    ]


def test_a_new_store_does_not_continue_an_old_ones_generation(tmp_path):
    """The radio's index keys on the generation: a new store at the path of
    one set aside must not reach the old one's numbers by chance."""
    generations = set()
    for number in range(5):
        with ResultStore(tmp_path / f"{number}.sqlite") as store:
            generations.add(store.generation())
    assert len(generations) == 5
