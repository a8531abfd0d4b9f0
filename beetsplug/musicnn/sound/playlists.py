"""Playlist files, written the way beets' ``smartplaylist`` plugin writes them.

Its ``relative_to``, ``forward_slash``, ``prefix``, ``urlencode`` and
``output`` settings apply here too, so that players and beets' ``playlist``
plugin read both alike. Used by the radio, the families and their commands.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from beets import config as beets_config
from beets import ui
from beets.util import bytestring_path, normpath, path_as_posix

from ..library import selection
from ..library.settings import ConfigError

if TYPE_CHECKING:
    from beets.library import Item, Library


@dataclass(frozen=True)
class PlaylistFormat:
    """How paths are written, from the ``smartplaylist`` configuration."""

    relative_to: bytes | None = None
    forward_slash: bool = False
    prefix: bytes = b""
    urlencode: bool = False
    extm3u: bool = False

    @classmethod
    def from_config(cls) -> PlaylistFormat:
        """The settings of beets' ``smartplaylist`` section (its defaults
        where the plugin is not configured)."""
        section = beets_config["smartplaylist"]

        def value(key: str, default: Any) -> Any:
            return section[key].get() if section[key].exists() else default

        relative_to = value("relative_to", None)
        output = value("output", "m3u")
        if output not in ("m3u", "extm3u"):
            raise ConfigError(
                "smartplaylist.output", f"{output!r} is not m3u or extm3u"
            )
        return cls(
            relative_to=normpath(relative_to) if relative_to else None,
            forward_slash=bool(value("forward_slash", False)),
            prefix=bytestring_path(str(value("prefix", "") or "")),
            urlencode=bool(value("urlencode", False)),
            extm3u=output == "extm3u",
        )

    def uri(self, lib: Library, item: Item) -> bytes:
        path = os.fsencode(selection.absolute_path(lib, item))
        if self.relative_to:
            path = os.path.relpath(path, self.relative_to)
        if self.forward_slash:
            path = path_as_posix(path)
        if self.urlencode:
            from urllib.request import pathname2url

            path = bytestring_path(pathname2url(os.fsdecode(path)))
        return self.prefix + path


def write_m3u(
    lib: Library, items: Iterable[Item], path: str | bytes, fmt: PlaylistFormat
) -> None:
    """Write ``items`` to the playlist file ``path`` (its folder is created).

    Raises
    ------
    beets.ui.UserError
        If the file cannot be written.
    """
    lines = [b"#EXTM3U\n"] if fmt.extm3u else []
    for item in items:
        if fmt.extm3u:
            lines.append(
                f"#EXTINF:{int(item.length)},{item.artist} - {item.title}\n".encode()
            )
        lines.append(fmt.uri(lib, item) + b"\n")
    target = normpath(path)
    try:
        os.makedirs(os.path.dirname(target) or b".", exist_ok=True)
        with open(target, "wb") as out:
            out.writelines(lines)
    except OSError as exc:
        raise ui.UserError(
            f"musicnn: cannot write the playlist {os.fsdecode(target)}: {exc}"
        ) from None



def query_parts(value: str | Sequence[str]) -> list[str]:
    """A query from the configuration, as command-line parts: a string is
    split like a shell would (``'title:"Clair de lune"'``)."""
    import shlex

    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ui.UserError(f"musicnn: bad query {value!r}: {exc}") from None
    return [str(part) for part in value]
