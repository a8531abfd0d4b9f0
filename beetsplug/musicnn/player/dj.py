"""``beet musicnn-dj``: keep MPD's queue topped up with tracks that sound
like what it plays.

The :class:`DJ` follows MPD (``idle`` on the ``player`` and ``playlist``
events); whenever fewer than ``ahead`` tracks follow the current one, it
appends tracks that sound like the current one and the last few played,
chosen by :class:`SoundPicker` with the radio's similarity (the seeds'
common direction in the embedding space, ``--where``, per-artist and
per-album caps). It never removes or moves anything: tracks queued by hand
stay where they are and count towards ``ahead``, and the DJ appends after
them. A track played or queued within the last ``no_repeat`` tracks is not
queued again. A lost connection (MPD restarted, the network) is retried
with a growing delay, and said; Ctrl-C stops it.

MPD's I/O is :class:`mpd.Player`'s; the decisions are here; the command
is :mod:`..commands.dj`.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from beets import context, ui
from beets.dbcore.query import InvalidQueryError, PathQuery, TrueQuery

from ..library import selection
from ..sound import radio
from .mpd import MPDUnreachable, MusicRoot, Player

if TYPE_CHECKING:
    from beets.library import Item, Library

    from ..sound.similarity import EmbeddingIndex

#: MPD's events after which the queue is looked at again.
EVENTS = ("player", "playlist")
#: Seconds before the first attempt to reconnect, and the longest wait.
RETRY_FIRST = 1.0
RETRY_MAX = 30.0


@dataclass(frozen=True)
class DJSettings:
    """How the DJ chooses."""

    #: Tracks to keep queued after the current one.
    ahead: int = 5
    #: Tracks played before the current one that are seeds too.
    seeds: int = 3
    #: No track played or queued within this many tracks is queued again.
    no_repeat: int = 50
    #: Candidates must also match this beets query.
    where: tuple[str, ...] = ()
    #: At most this many of one artist / album among the current track and
    #: those queued after it; ``None``: no cap.
    max_per_artist: int | None = None
    max_per_album: int | None = None

    def __post_init__(self) -> None:
        for name, least in (
            ("ahead", 1),
            ("seeds", 0),
            ("no_repeat", 0),
            ("max_per_artist", 1),
            ("max_per_album", 1),
        ):
            value = getattr(self, name)
            if value is not None and value < least:
                raise ui.UserError(
                    f"musicnn-dj: --{name.replace('_', '-')} must be at least "
                    f"{least}, not {value}"
                )


class SoundPicker:
    """What comes next: the library's items nearest to the seeds in sound.

    Parameters
    ----------
    lib : Library
    open_index : callable
        Returns the embedding index, current with the store (called again
        by :meth:`refresh`, so that tracks analysed meanwhile count too).
    settings : DJSettings
        Its ``where`` is parsed here: a bad query fails at once.
    """

    def __init__(
        self,
        lib: Library,
        open_index: Callable[[], EmbeddingIndex],
        settings: DJSettings,
    ) -> None:
        self.lib = lib
        self.open_index = open_index
        self.settings = settings
        try:
            self.where = (
                selection.parse_query(lib, settings.where)
                if settings.where
                else TrueQuery()
            )
        except InvalidQueryError as exc:
            raise ui.UserError(f"musicnn-dj: bad --where query: {exc}") from None
        self._items: dict[bytes, int | None] = {}
        self._index: EmbeddingIndex | None = None

    def refresh(self) -> None:
        """Read the embedding index again at the next use (once per look at
        MPD's queue: opening it checks the store for changes)."""
        self._index = None

    @property
    def index(self) -> EmbeddingIndex:
        if self._index is None:
            self._index = self.open_index()
        return self._index

    def item_of(self, path: bytes) -> Item | None:
        """The library item of the file ``path``, if there is one."""
        if path not in self._items:
            with context.music_dir(self.lib.directory):
                found = self.lib.items(PathQuery("path", path)).get()
            self._items[path] = None if found is None else found.id
        item_id = self._items[path]
        return None if item_id is None else self.lib.get_item(item_id)

    def analysed(self, item_ids: Sequence[int]) -> list[int]:
        """Those of ``item_ids`` that have an embedding."""
        index = self.index
        present = set(index.ids[index.rows_of(item_ids)].tolist())
        return [item_id for item_id in item_ids if item_id in present]

    def pick(
        self,
        seeds: Sequence[int],
        exclude: set[int],
        queued: Sequence[Item],
        count: int,
    ) -> list[Item]:
        """Up to ``count`` items nearest to ``seeds``, best first.

        Parameters
        ----------
        seeds : sequence of int
            Item ids; each counts equally.
        exclude : set of int
            Item ids never to pick (the seeds are never picked either).
        queued : sequence of Item
            The current track and those queued after it: they count towards
            the caps before anything is picked.
        """
        import numpy as np

        from ..sound import similarity

        index = self.index
        seed_rows = index.rows_of(seeds)
        if not len(seed_rows) or count < 1:
            return []
        scores = index.similarities(similarity.seed_profile(index.vectors[seed_rows]))
        scores[seed_rows] = -np.inf
        scores[index.rows_of(exclude)] = -np.inf
        fresh = radio.library_candidates(
            self.lib, index, similarity.ranked(scores), self.where, count
        )
        ahead = [radio.ItemCandidate(item) for item in queued]
        chosen = similarity.capped(
            itertools.chain(ahead, fresh),
            len(ahead) + count,
            max_per_artist=self.settings.max_per_artist,
            max_per_album=self.settings.max_per_album,
        )
        queued_ids = {item.id for item in queued}
        picked = [c.item for c in chosen if c.item_id not in queued_ids]
        return picked[:count]


class DJ:
    """Follows MPD and keeps ``settings.ahead`` tracks queued after the
    current one.

    Parameters
    ----------
    player : Player
        Connected, or not yet (:meth:`run` connects).
    root : MusicRoot
        MPD's music directory as this machine sees it.
    picker : SoundPicker
    settings : DJSettings
    say : callable
        Where the DJ says what it does (a line at a time).
    describe : callable
        An item as a line (the ``-f`` format).
    """

    def __init__(
        self,
        player: Player,
        root: MusicRoot,
        picker: SoundPicker,
        settings: DJSettings,
        say: Callable[[str], None] = ui.print_,
        describe: Callable[[Item], str] = format,
    ) -> None:
        self.player = player
        self.root = root
        self.picker = picker
        self.settings = settings
        self.say = say
        self.describe = describe
        #: Items played or queued recently, oldest first (the no-repeat window).
        self._recent: OrderedDict[int, None] = OrderedDict()
        #: Items played before the current one, the latest last (seeds).
        self._played: deque[int] = deque(maxlen=max(settings.seeds, 1))
        #: The file of the current track at the last look, and its item.
        self._current_file: str | None = None
        self._current_id: int | None = None
        #: Items MPD does not know (never tried again).
        self._unplayable: set[int] = set()
        self._notice: str | None = None
        self._stop = threading.Event()
        #: Tracks queued since the start.
        self.queued = 0

    # One look at the queue.

    def top_up(self) -> list[Item]:
        """Look at MPD's queue once, and append what it lacks.

        Returns
        -------
        list of Item
            The items appended.
        """
        self.picker.refresh()
        status = self.player.status()
        if "song" not in status:
            self._say_once("musicnn-dj: MPD has no current track: waiting for one")
            return []
        position = int(status["song"])
        length = int(status["playlistlength"])
        if self._current_file is None:  # first look: what was played before
            earlier = self.player.songs(
                max(position - self.settings.seeds, 0), position
            )
            for song in earlier:
                self._follow(song["file"])
        entries = self.player.songs(position, length)
        if not entries:
            return []
        current = self._follow(entries[0]["file"])
        needed = self.settings.ahead - (len(entries) - 1)
        if needed <= 0:
            return []
        if current is None:
            self._say_once(
                f"musicnn-dj: MPD plays {entries[0]['file']}, which is not in the "
                f"beets library under {self.root}: nothing to follow"
            )
            return []
        seeds = self.picker.analysed([current.id, *reversed(self._played)])
        seeds = seeds[: 1 + self.settings.seeds]
        if not seeds:
            self._say_once(
                f"musicnn-dj: {self.describe(current)} is not analysed yet "
                "(`beet musicnn`): nothing to follow"
            )
            return []
        queued = [current, *self._items_of(entry["file"] for entry in entries[1:])]
        return self._append(seeds, queued, needed)

    def _append(self, seeds: list[int], queued: list[Item], needed: int) -> list[Item]:
        added: list[Item] = []
        while len(added) < needed:
            exclude = set(self._recent) | self._unplayable | {i.id for i in queued}
            picks = self.picker.pick(seeds, exclude, queued, needed - len(added))
            if not picks:
                break
            for item in picks:
                path = selection.absolute_path(self.picker.lib, item)
                uri = self.root.uri(path)
                if uri is None or not self.player.add(uri):
                    self._unplayable.add(item.id)
                    where = "outside" if uri is None else "unknown to MPD, under"
                    self.say(
                        f"musicnn-dj: skipped {path}: {where} its music "
                        f"directory {self.root}"
                    )
                    continue
                self._remember(item.id)
                queued.append(item)
                added.append(item)
                self.queued += 1
                self._notice = None
                self.say(f"musicnn-dj: queued {self.describe(item)}")
        if len(added) < needed:
            self._say_once(
                "musicnn-dj: nothing more to queue: every candidate was played or "
                f"queued within the last {self.settings.no_repeat} tracks, is over "
                "a cap, or does not match --where"
            )
        return added

    def _follow(self, file: str) -> Item | None:
        """Note that ``file`` is the current track; the item it is, if any."""
        item = self.picker.item_of(self.root.path_of(file))
        if file != self._current_file:
            if self._current_id is not None:
                self._played.append(self._current_id)
            self._current_file = file
            self._current_id = None if item is None else item.id
            if item is not None:
                self._remember(item.id)
        return item

    def _items_of(self, files: Iterable[str]) -> list[Item]:
        items = (self.picker.item_of(self.root.path_of(file)) for file in files)
        return [item for item in items if item is not None]

    def _remember(self, item_id: int) -> None:
        self._recent.pop(item_id, None)
        self._recent[item_id] = None
        while len(self._recent) > self.settings.no_repeat:
            self._recent.popitem(last=False)

    def _say_once(self, line: str) -> None:
        """Say ``line`` unless it was the last thing said of the kind."""
        if line != self._notice:
            self._notice = line
            self.say(line)

    # Following MPD.

    def run(
        self, retry_first: float = RETRY_FIRST, retry_max: float = RETRY_MAX
    ) -> None:
        """Follow MPD until :meth:`stop` (or Ctrl-C, which is raised).

        A lost connection is said and tried again after ``retry_first``
        seconds, then twice as long each time up to ``retry_max``.

        Raises
        ------
        MPDError
            When MPD refuses something (e.g. the password after a restart).
        """
        delay = retry_first
        lost = False
        while not self._stop.is_set():
            try:
                if not self.player.connected:
                    self.player.connect()
                if lost:
                    address = self.player.address
                    self.say(f"musicnn-dj: connected again to MPD at {address}")
                    lost, delay = False, retry_first
                self.top_up()
                if self._stop.is_set():  # stop() came while connecting
                    break
                self.player.idle(*EVENTS)
            except MPDUnreachable as problem:
                if self._stop.is_set():
                    break
                self.player.close()
                self.say(f"{problem}; trying again in {delay:g} s")
                lost = True
                self._stop.wait(delay)
                delay = min(delay * 2, retry_max)

    def stop(self) -> None:
        """Make :meth:`run` return (from another thread)."""
        self._stop.set()
        self.player.interrupt()
