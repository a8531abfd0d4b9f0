"""What a run over the library needs to know besides the library and the
query: :class:`RunOptions`, made by ``settings.Settings.run_options`` and
read by the selection, the saving and the re-deriving of fields.

It lives apart from ``settings`` and ``runner`` so that both depend on it
and neither on the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..labels import fields


@dataclass(frozen=True)
class RunOptions:
    """What a run needs to know besides the library and the query."""

    models: tuple[str, ...]
    backend: str
    overlap: float
    field_settings: Any  # fields.FieldSettings
    #: Set ``item.genres`` (and so the file's genre tag) from musicnn_genre.
    write_genre: bool = False
    #: Write musicnn_mood to the files too (it is then a media field).
    write_mood: bool = False
    #: Write changed tags to the files (``ui.should_write``).
    write: bool = False
    #: Fast mode: patches analysed per track; ``None`` analyses them all.
    patch_budget: int | None = None
    #: ``((model, share), ...)``: share of the patches each model hears.
    patch_shares: tuple[tuple[str, float], ...] = ()
    #: The ``calibration.Calibration`` in force; ``None``: the shipped one.
    calibration: Any = None
    #: Where it comes from: ``shipped`` or ``library`` (``auto`` resolved).
    calibration_source: str = "shipped"

    @property
    def version(self) -> str:
        return fields.analysis_version(
            self.models, self.overlap, self.patch_budget, dict(self.patch_shares)
        )

    @property
    def current_versions(self) -> frozenset[str]:
        """The analyses that count as up to date for this run: its own, and
        in fast mode also the full analysis, which a sampled one estimates."""
        full = fields.analysis_version(
            self.models, self.overlap, patch_shares=dict(self.patch_shares)
        )
        return frozenset({self.version, full})

    @cached_property
    def labels(self) -> str:
        """The labels revision (``musicnn_labels``) of fields derived in this
        run: items whose analysis is current but whose labels are not get
        their fields derived again from the store."""
        return fields.labels_revision(
            self.field_settings,
            self.calibration,
            self.calibration_source,
            extra={"write_genre": self.write_genre},
        )

    @property
    def file_fields(self) -> tuple[str, ...]:
        """The item fields this plugin changes that end up in the files."""
        return ("genres",) * self.write_genre + (fields.MOOD_FIELD,) * self.write_mood
