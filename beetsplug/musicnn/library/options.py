"""What a run over the library needs to know besides the library and the
query: :class:`RunOptions`, made by ``settings.Settings.run_options`` and
read by the selection, the saving and the re-deriving of fields.

It lives apart from ``settings`` and ``runner`` so that both depend on it
and neither on the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ..labels import fields

if TYPE_CHECKING:
    from ..executors.jobs import AnalysisSettings
    from ..labels.calibration import Calibration


@dataclass(frozen=True)
class RunOptions:
    """What a run needs to know besides the library and the query."""

    #: The analysis every job of the run gets.
    analysis: AnalysisSettings
    field_settings: fields.FieldSettings
    #: Set ``item.genres`` (and so the file's genre tag) from musicnn_genre.
    write_genre: bool = False
    #: Write musicnn_mood to the files too (it is then a media field).
    write_mood: bool = False
    #: Write changed tags to the files (``ui.should_write``).
    write: bool = False
    #: The calibration in force; ``None``: the shipped one.
    calibration: Calibration | None = None
    #: Where it comes from: ``shipped`` or ``library`` (``auto`` resolved).
    calibration_source: str = "shipped"

    @property
    def models(self) -> tuple[str, ...]:
        return self.analysis.models

    @property
    def version(self) -> str:
        analysis = self.analysis
        return fields.analysis_version(
            analysis.models,
            analysis.overlap,
            analysis.patch_budget,
            dict(analysis.patch_shares),
        )

    @property
    def current_versions(self) -> frozenset[str]:
        """The analyses that count as up to date for this run: its own, and
        in fast mode also the full analysis, which a sampled one estimates."""
        analysis = self.analysis
        full = fields.analysis_version(
            analysis.models, analysis.overlap, patch_shares=dict(analysis.patch_shares)
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
