"""MPD, the player: play or queue a list of beets items, follow what plays.

A thin layer over python-mpd2 (the client beets' own ``mpdstats`` plugin
uses), imported only when MPD is used, with the ``mpd`` extra's name in the
message when it is missing. Where MPD is comes from beets' own top-level
``mpd:`` section (``host``, ``port``, ``password``, with the defaults
``mpdstats`` and ``mpdupdate`` give them), so one configuration serves all
three plugins.

MPD names a track by its path relative to its music directory (its
"URI"). :class:`MusicRoot` turns a library path into that URI and back; the
directory is ``musicnn: mpd_music_directory`` if set, else what MPD says
when it is reached over a local socket (only there does MPD tell), else
beets' ``directory``.

Whatever goes wrong talking to MPD becomes an :class:`MPDError` (a beets
``UserError``) that names the server and the cause; :class:`MPDUnreachable`
marks the ones worth trying again (MPD down, the connection lost).

``--play``/``--queue`` on the list commands are :func:`add_play_options`
and :func:`play_or_queue`.
"""

from __future__ import annotations

import contextlib
import functools
import optparse
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beets import config as beets_config
from beets import ui
from beets.util import normpath

from ..library import selection

if TYPE_CHECKING:
    from beets.library import Item, Library

#: Settings of this module, added to the plugin's configuration.
DEFAULT_CONFIG: dict[str, Any] = {
    # MPD's music directory as this machine sees it, where it is not beets'
    # `directory` (MPD elsewhere, another mount point); null: what MPD says
    # over a local socket, else beets' `directory`.
    "mpd_music_directory": None,
}
MPD_EXTRA = "pip install 'beets-musicnn[mpd]'"
#: beets' own defaults for its `mpd:` section (mpdstats, mpdupdate).
DEFAULT_HOST = "localhost"
DEFAULT_PORT = 6600
#: Seconds to wait for MPD to answer a command (not for `idle`).
TIMEOUT = 10.0
#: MPD's error codes (``ACK [code@line]``) told apart here.
ACK_PERMISSION = 4
ACK_NO_EXIST = 50
#: Unknown tracks named in a message; the rest are counted.
NAMED = 3


class MPDError(ui.UserError):
    """Something went wrong with MPD; the message names the server and why."""


class MPDUnreachable(MPDError):
    """MPD cannot be reached, or the connection was lost: try again later."""


class MPDRefused(MPDError):
    """MPD answered a command with an error (``ACK [code@line] {command}
    reason``)."""

    def __init__(self, message: str, code: int | None, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def import_mpd() -> Any:
    """python-mpd2's ``mpd`` module.

    Raises
    ------
    beets.ui.UserError
        If it is not installed, naming the extra that brings it.
    """
    try:
        import mpd
    except ImportError:
        raise ui.UserError(
            "musicnn: playing in MPD needs python-mpd2, which is not installed: "
            f"{MPD_EXTRA}"
        ) from None
    return mpd


# Where MPD is -----------------------------------------------------------------


@dataclass(frozen=True)
class MPDAddress:
    """Where MPD listens, and its password: beets' ``mpd:`` section."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password: str = field(default="", repr=False)

    @classmethod
    def from_config(cls) -> MPDAddress:
        """beets' ``mpd:`` settings, with the defaults ``mpdstats`` and
        ``mpdupdate`` give them (``MPD_HOST`` and ``MPD_PORT`` from the
        environment, else localhost:6600).

        Raises
        ------
        beets.ui.UserError
            For a port that is not a number from 1 to 65535.
        """
        section = beets_config["mpd"]

        def value(key: str, default: Any) -> Any:
            setting = section[key]
            return setting.get() if setting.exists() else default

        host = str(value("host", os.environ.get("MPD_HOST", DEFAULT_HOST)))
        port = value("port", os.environ.get("MPD_PORT", DEFAULT_PORT))
        try:
            number = int(port)
        except (TypeError, ValueError):
            number = 0
        if isinstance(port, bool) or not 1 <= number <= 65535:
            raise ui.UserError(
                f"musicnn: bad `mpd: port` setting {port!r}: expected a port "
                "number from 1 to 65535"
            )
        if host.startswith("~"):
            host = os.path.expanduser(host)
        return cls(host, number, str(value("password", "") or ""))

    @property
    def local_socket(self) -> bool:
        """A Unix socket (a path, or ``@name`` for an abstract one)."""
        return self.host.startswith(("/", "@"))

    def __str__(self) -> str:
        return self.host if self.local_socket else f"{self.host}:{self.port}"


# Library paths and MPD's URIs -------------------------------------------------


@dataclass(frozen=True)
class MusicRoot:
    """MPD's music directory as this machine sees it: paths <-> URIs."""

    #: Absolute and normalised (beets' bytes paths).
    path: bytes
    #: Where it comes from, for messages.
    source: str

    @classmethod
    def choose(
        cls, plugin_config: Any, lib: Library, reported: str | None = None
    ) -> MusicRoot:
        """``musicnn: mpd_music_directory``, else ``reported`` (what MPD
        said), else beets' ``directory``."""
        configured = plugin_config["mpd_music_directory"].get()
        if configured:
            return cls(
                normpath(os.path.expanduser(str(configured))),
                "`musicnn: mpd_music_directory`",
            )
        if reported:
            return cls(normpath(reported), "MPD's own configuration")
        return cls(normpath(lib.directory), "beets' `directory`")

    def uri(self, path: str | bytes) -> str | None:
        """MPD's name for the file ``path`` (absolute); ``None`` if it is not
        under this directory."""
        relative = os.path.relpath(normpath(path), self.path)
        parent = os.pardir.encode()
        if relative in (os.curdir.encode(), parent) or relative.startswith(
            parent + os.sep.encode()
        ):
            return None
        return os.fsdecode(relative).replace(os.sep, "/")

    def path_of(self, uri: str) -> bytes:
        """The file of MPD's ``uri``, as beets stores paths."""
        return normpath(os.path.join(self.path, os.fsencode(uri)))

    def __str__(self) -> str:
        return f"{os.fsdecode(self.path)} (from {self.source})"


def item_uri(lib: Library, item: Item, root: MusicRoot) -> str | None:
    """MPD's URI of ``item``'s file, ``None`` if it is outside ``root``."""
    return root.uri(selection.absolute_path(lib, item))


# The connection -----------------------------------------------------------------


class Player:
    """One connection to MPD; every failure is an :class:`MPDError`.

    Use as a context manager, or call :meth:`connect` and :meth:`close`.
    """

    def __init__(self, address: MPDAddress) -> None:
        self.address = address
        self._mpd = import_mpd()
        self._client: Any = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    def connect(self) -> None:
        """Connect, and send the password if there is one.

        Raises
        ------
        MPDUnreachable
            When nothing answers at the address.
        MPDError
            When MPD refuses the password.
        """
        self.close()
        client = _client_class(self._mpd)()
        client.timeout = TIMEOUT
        try:
            client.connect(self.address.host, self.address.port)
        except (OSError, self._mpd.MPDError) as exc:
            raise MPDUnreachable(
                f"musicnn: cannot connect to MPD at {self.address}: {_reason(exc)} "
                "(is it running? beets' `mpd: host` and `mpd: port` say where)"
            ) from None
        self._client = client
        if self.address.password:
            try:
                self.call("password", self.address.password)
            except MPDRefused as exc:
                self.close()
                raise MPDError(
                    f"musicnn: MPD at {self.address} refused the password "
                    f"(beets' `mpd: password`): {exc.reason}"
                ) from None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # Closing what may be gone already.
            with contextlib.suppress(OSError, self._mpd.MPDError):
                client.disconnect()

    def __enter__(self) -> Player:
        self.connect()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def interrupt(self) -> None:
        """Make a blocking :meth:`idle` in another thread return (with
        :class:`MPDUnreachable`): shut the socket down under it."""
        client = self._client
        if client is None:
            return
        try:
            sock = socket.socket(fileno=os.dup(client.fileno()))
        except (OSError, self._mpd.MPDError):
            return
        with sock, contextlib.suppress(OSError):  # OSError: already closed
            sock.shutdown(socket.SHUT_RDWR)

    def call(self, command: str, *args: Any) -> Any:
        """MPD's ``command``.

        Raises
        ------
        MPDRefused
            When MPD answers with an error.
        MPDUnreachable
            When the connection is lost (it is then closed).
        """
        mpd = self._mpd
        if self._client is None:
            raise MPDUnreachable(f"musicnn: not connected to MPD at {self.address}")
        try:
            return getattr(self._client, command)(*args)
        except mpd.CommandError as exc:
            code = exc.errno.value if exc.errno is not None else None
            reason = exc.msg or str(exc)
            # In a command list, the command MPD refused is in its answer.
            refused = exc.command or command
            raise MPDRefused(
                self._refusal(refused, code, reason), code, reason
            ) from None
        except (OSError, mpd.MPDError) as exc:
            self.close()
            raise MPDUnreachable(
                f"musicnn: lost the connection to MPD at {self.address}: {_reason(exc)}"
            ) from None

    def _refusal(self, command: str, code: int | None, reason: str) -> str:
        if code == ACK_PERMISSION:
            return (
                f"musicnn: MPD at {self.address} does not allow `{command}` "
                f"without a password (beets' `mpd: password`): {reason}"
            )
        return f"musicnn: MPD at {self.address} refused `{command}`: {reason}"

    # What the commands and the DJ use.

    def music_directory(self) -> str | None:
        """MPD's music directory as it says it; ``None`` where it does not
        (MPD tells only clients on a local socket)."""
        if not self.address.local_socket:
            return None
        try:
            answer = self.call("config")
        except MPDRefused:
            return None
        return answer.get("music_directory") or None

    def status(self) -> dict[str, str]:
        return self.call("status")

    def songs(self, start: int, stop: int) -> list[dict[str, str]]:
        """The queue's entries at positions ``start`` to ``stop - 1``."""
        if stop <= start:
            return []
        return self.call("playlistinfo", f"{start}:{stop}")

    def known(self, uris: Sequence[str]) -> set[str]:
        """Those of ``uris`` that are in MPD's database (one round trip)."""
        if not uris:
            return set()
        self.call("command_list_ok_begin")
        for uri in uris:
            self.call("find", "file", uri)
        answers = self.call("command_list_end")
        return {uri for uri, found in zip(uris, answers, strict=True) if found}

    def add(self, uri: str) -> bool:
        """Append ``uri`` to the queue; ``False`` if MPD does not know it."""
        try:
            self.call("addid", uri)
        except MPDRefused as exc:
            if exc.code == ACK_NO_EXIST:
                return False
            raise
        return True

    def enqueue(self, uris: Sequence[str], replace: bool) -> None:
        """Put ``uris`` in the queue in one go: after what is there, or
        instead of it, and then play from the first."""
        self.call("command_list_ok_begin")
        if replace:
            self.call("clear")
        for uri in uris:
            self.call("add", uri)
        if replace:
            self.call("play", 0)
        self.call("command_list_end")

    def idle(self, *subsystems: str) -> list[str]:
        """Wait, as long as it takes, for a change in ``subsystems``.

        MPD remembers changes between two ``idle`` commands, so nothing that
        happened while this client was busy is missed.
        """
        return self.call("idle", *subsystems)


@functools.cache
def _client_class(mpd: Any) -> type:
    """python-mpd2's client, reading the answer to ``config`` whole (its
    own keeps an answer of one line only, and MPD sends several), and
    closing the socket of a failed command."""

    class Client(mpd.MPDClient):
        def _reset(self) -> None:
            # python-mpd2 forgets, without closing it, the socket of a
            # command it could not send (MPD gone): close it here.
            sock = getattr(self, "_sock", None)
            if sock is not None:
                for stream in (self._rbfile, self._wfile):
                    with contextlib.suppress(Exception):
                        stream.close()
                sock.close()
            super()._reset()

    Client.add_command("config", mpd.MPDClient._parse_object)
    return Client


def _reason(exc: BaseException) -> str:
    """What went wrong, in words (an OSError's strerror, not its repr)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@contextmanager
def connected(plugin_config: Any, lib: Library) -> Iterator[tuple[Player, MusicRoot]]:
    """A connection to the MPD of beets' configuration, and its music root."""
    with Player(MPDAddress.from_config()) as player:
        root = MusicRoot.choose(plugin_config, lib, player.music_directory())
        yield player, root


# `--play` and `--queue` ---------------------------------------------------------

_ACTIONS = {"--play": "replace", "--queue": "append"}


class _FlagOption(optparse.Option):
    """An option whose callback takes no value: beets makes every callback
    option of optparse take one (for its `-f`), which these must not."""

    ALWAYS_TYPED_ACTIONS = ("store", "append")


def add_play_options(parser: optparse.OptionParser) -> None:
    """Add ``--play`` and ``--queue`` to a command that lists items; the
    command then hands its list to :func:`play_or_queue`."""

    def choose(option: Any, flag: str, value: Any, parser: Any) -> None:
        chosen = parser.values.mpd_action
        if chosen is not None and chosen != _ACTIONS[flag]:
            raise optparse.OptionValueError("use --play or --queue, not both")
        import_mpd()  # a missing client fails now, not after the work
        parser.values.mpd_action = _ACTIONS[flag]

    parser.set_defaults(mpd_action=None)
    for flag, help_text in (
        (
            "--play",
            "replace MPD's queue with the list and play it (beets' `mpd:` "
            "settings say where MPD is)",
        ),
        ("--queue", "append the list to MPD's queue"),
    ):
        parser.add_option(
            _FlagOption(flag, action="callback", callback=choose, help=help_text)
        )


@dataclass
class Queued:
    """What :func:`send_to_mpd` did."""

    added: int = 0
    #: Items MPD does not know, and items outside its music directory.
    unknown: list[Item] = field(default_factory=list)
    outside: list[Item] = field(default_factory=list)


def play_or_queue(
    plugin_config: Any, lib: Library, opts: Any, items: Sequence[Item]
) -> None:
    """Do what ``--play``/``--queue`` asked (nothing without them) with
    ``items``, in their order, and say what was done.

    Raises
    ------
    MPDError
        When MPD cannot be reached, refuses, or knows none of the items.
    """
    action = getattr(opts, "mpd_action", None)
    if action is None:
        return
    if not items:
        raise ui.UserError("musicnn: nothing to play: the list is empty")
    with connected(plugin_config, lib) as (player, root):
        done = send_to_mpd(lib, player, root, items, replace=action == "replace")
        address = player.address
    for line in _skipped(lib, done, root):
        ui.print_(line)
    if action == "replace":
        ui.print_(f"musicnn: MPD at {address} plays the {done.added} tracks")
    else:
        ui.print_(f"musicnn: added {done.added} tracks to MPD's queue at {address}")


def send_to_mpd(
    lib: Library,
    player: Player,
    root: MusicRoot,
    items: Sequence[Item],
    replace: bool,
) -> Queued:
    """Queue the items MPD knows; the queue is left alone if it knows none.

    Raises
    ------
    MPDError
        When MPD knows none of ``items`` (naming them and the likely cause).
    """
    done = Queued()
    uris = []
    for item in items:
        uri = item_uri(lib, item, root)
        if uri is None:
            done.outside.append(item)
        else:
            uris.append((item, uri))
    known = player.known([uri for _, uri in uris])
    done.unknown = [item for item, uri in uris if uri not in known]
    playable = [uri for _, uri in uris if uri in known]
    if not playable:
        raise MPDError(
            f"musicnn: MPD at {player.address} knows none of the "
            f"{len(items)} tracks; its queue is unchanged. "
            + " ".join(_skipped(lib, done, root))
        )
    player.enqueue(playable, replace)
    done.added = len(playable)
    return done


def _skipped(lib: Library, done: Queued, root: MusicRoot) -> list[str]:
    """Lines that say which items were left out and why."""
    lines = []
    if done.outside:
        lines.append(
            f"musicnn: {_files(lib, done.outside)} not under MPD's music "
            f"directory {root}: left out (set `musicnn: mpd_music_directory` "
            "to MPD's music directory as this machine sees it)."
        )
    if done.unknown:
        lines.append(
            f"musicnn: MPD does not know {_files(lib, done.unknown)}: left out "
            f"(update MPD's database, e.g. `mpc update`, if they are new; its "
            f"music directory is taken to be {root})."
        )
    return lines


def _files(lib: Library, items: Sequence[Item]) -> str:
    named = ", ".join(selection.absolute_path(lib, item) for item in items[:NAMED])
    more = len(items) - NAMED
    count = f"{len(items)} track{'s' * (len(items) != 1)}"
    return f"{count} ({named}{f' and {more} more' if more > 0 else ''})"
