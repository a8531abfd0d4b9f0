"""Option names nobody reads: typos that would otherwise pass in silence.

confuse returns the default of ``threshold`` whatever the user wrote under
``threshhold``, so a misspelt option changes nothing and says nothing.
:func:`unknown_options` finds the keys under ``musicnn:`` that no code
declared, and :func:`unknown_option` words the warning with the closest
known name ("did you mean 'threshold'?").

The known names are not listed here: they are every key that code added to
the section (``config.add(DEFAULT_CONFIG)`` of this plugin's modules, and of
any other plugin that adds to it), read from the configuration's sources.
A module that adds a ``DEFAULT_CONFIG`` makes its options known by that alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

#: How alike two names must be to suggest one for the other (difflib's ratio).
CLOSE_ENOUGH = 0.6


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like ``name``, if one is close enough."""
    matches = difflib.get_close_matches(
        str(name), sorted(known), n=1, cutoff=CLOSE_ENOUGH
    )
    return matches[0] if matches else None


def unknown_option(
    name: str, known: Iterable[str], where: str, otherwise: str = "it is ignored"
) -> str:
    """``unknown option 'threshhold' under musicnn: did you mean 'threshold'?``

    Parameters
    ----------
    name : str
        The unknown key.
    known : iterable of str
        The keys that mean something there.
    where : str
        The section or entry, as people read it (``musicnn``, ``entry 2``).
    otherwise : str
        What to say when no known key is close.
    """
    suggestion = closest(name, known)
    hint = f"did you mean {suggestion!r}?" if suggestion else otherwise
    return f"unknown option {str(name)!r} under {where}: {hint}"


def unknown_entry_key(entry: dict[str, Any], known: Iterable[str], where: str) -> str:
    """What is wrong with the first unknown key of a mapping of a list
    setting (``similar_playlists``...), or ``""`` if every key is known:
    such an entry is refused, so the message lists the keys it may have."""
    known = list(known)
    unknown = unknown_keys(entry, known)
    if not unknown:
        return ""
    return unknown_option(
        unknown[0], known, where, otherwise=f"the options are {', '.join(known)}"
    )


def unknown_keys(entry: dict[str, Any], known: Iterable[str]) -> list[str]:
    """The keys of a mapping that are not ``known``, in the mapping's order."""
    known = set(known)
    return [str(key) for key in entry if key not in known]


def declared_keys(view: Any) -> set[str]:
    """The keys of the section ``view`` that code declared.

    A source that does not come from a file was added by code:
    ``ConfigView.add`` (defaults) or ``set``; the user's options come from
    configuration files (``config.yaml``, ``beet -c FILE``).
    """
    keys: set[str] = set()
    for value, source in view.resolve():
        if getattr(source, "filename", None) is None and isinstance(value, dict):
            keys.update(str(key) for key in value)
    return keys


def unknown_options(view: Any) -> list[str]:
    """A warning for each key of the section ``view`` that code never
    declared, in the order of the configuration files."""
    known = declared_keys(view)
    found: dict[str, None] = {}
    for value, source in view.resolve():
        if getattr(source, "filename", None) is not None and isinstance(value, dict):
            found.update(dict.fromkeys(unknown_keys(value, known)))
    where = view.name
    return [unknown_option(key, known, where) for key in found]
