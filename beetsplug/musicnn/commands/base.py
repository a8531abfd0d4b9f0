"""What every command gets: :class:`Musicnn`, the plugin as the commands
see it, and :func:`subcommand`, a beets command with its usage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from beets import ui

if TYPE_CHECKING:
    import confuse
    from beets.library import Library

    from ..library.settings import Overrides, Settings
    from ..library.store import ResultStore


class Musicnn(Protocol):
    """The plugin, as its commands use it (``plugin.MusicnnPlugin``)."""

    #: The ``musicnn`` section of the beets configuration.
    config: confuse.ConfigView

    def settings(self, overrides: Overrides | None = None) -> Settings:
        """The configuration, checked, with the command line's ``overrides``."""
        ...

    def store(self, lib: Library) -> ResultStore:
        """The result store beside ``lib``, open."""
        ...


def subcommand(name: str, help: str, usage: str) -> ui.Subcommand:
    """The beets command ``name``: ``help`` for ``beet help``, ``usage``
    (its synopsis line, then what it does) for ``beet name -h``."""
    command = ui.Subcommand(name, help=help)
    command.parser.usage = usage
    return command
