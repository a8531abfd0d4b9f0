"""Reading items from a real beets library by id."""

from __future__ import annotations

from beets.library import Item, Library

from beetsplug.musicnn.library.selection import count_items, items_by_id


def test_items_by_id_keeps_the_order_and_skips_what_is_gone():
    lib = Library(":memory:")
    ids = [lib.add(Item(title=f"track {n}", path=f"/music/{n}.mp3")) for n in range(7)]
    lib.get_item(ids[3]).remove()
    wanted = [ids[5], ids[0], ids[3], ids[6], ids[1], 999]
    # Batches of two: the order holds across batches too.
    found = list(items_by_id(lib, iter(wanted), batch_size=2))
    assert [item.id for item in found] == [ids[5], ids[0], ids[6], ids[1]]
    assert [item.title for item in found] == [
        "track 5",
        "track 0",
        "track 6",
        "track 1",
    ]
    assert list(items_by_id(lib, [])) == []


def test_count_items_counts_what_a_query_matches():
    lib = Library(":memory:")
    for n in range(5):
        lib.add(Item(title=f"track {n}", artist="A" if n < 2 else "B",
                     path=f"/music/{n}.mp3"))
    assert count_items(lib) == 5
    assert count_items(lib, ["artist:A"]) == 2
    assert count_items(lib, ["artist:B", "title:track 4"]) == 1
    assert count_items(lib, ["artist:nobody"]) == 0
