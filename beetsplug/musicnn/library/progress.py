"""What the user sees while ``beet musicnn`` runs, and the summary at the end.

The progress line goes to stderr and only to a terminal: redirected output
and logs stay free of carriage returns. The summary is one paragraph that
says what happened and where to look when something failed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TextIO

#: How often the progress line is redrawn at most, in seconds: often enough to
#: look alive, rarely enough to cost nothing next to a 2-second analysis.
REDRAW_INTERVAL = 0.25

#: The query that lists the files that could not be analysed, with the reason.
FAILED_QUERY = "beet ls -f '$path: $musicnn_error' musicnn_error::."

#: Exit status of a run stopped by Ctrl-C (SIGINT), after saving what
#: finished: 128 + 2, what shells report for a program killed by SIGINT.
EXIT_INTERRUPTED = 130
#: Exit status of a run stopped by an error it cannot go on after (the
#: models cannot load, the workers keep dying, the cluster is lost), after
#: saving what finished; the same status beets gives its own errors.
EXIT_STOPPED = 1


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1h 02m"``, ``75`` -> ``"1m 15s"``, ``4.2`` -> ``"4s"``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


@dataclass
class RunSummary:
    """Counts and times of one run, and the paragraph that reports them."""

    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    #: Up-to-date items whose fields were derived again from the store
    #: because their labels revision was stale (no audio decoded).
    relabelled: int = 0
    #: Of the ``analysed``, those analysed only with the models they lacked
    #: (the others' stored results were current), and which models those were.
    partial: int = 0
    partial_models: set[str] = field(default_factory=set)
    #: Seconds of audio in the files analysed successfully.
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    interrupted: bool = False
    #: Seconds the workers spent in each stage of the analyses (``decode``,
    #: ``features``, ``inference``), summed over the files.
    stage_seconds: dict[str, float] = field(default_factory=dict)
    #: Seconds this process spent saving results (library and store).
    saving_seconds: float = 0.0
    #: Files analysed although their decoder skipped damaged frames.
    damaged: int = 0
    #: The time budget (seconds) if it ran out, and the items not analysed.
    time_budget: float | None = None
    left: int = 0
    #: Why the run stopped before the end, if an error stopped it.
    error: str | None = None

    @property
    def exit_status(self) -> int:
        """0, or :data:`EXIT_INTERRUPTED` or :data:`EXIT_STOPPED`.

        Failed files and a time budget that ran out are normal ends (0): the
        summary says so, and the next run goes on.
        """
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_STOPPED if self.error else 0

    def add_partial(self, models: Iterable[str]) -> None:
        self.partial += 1
        self.partial_models.update(models)

    def add_stage_seconds(self, timings: Mapping[str, float]) -> None:
        for stage, seconds in timings.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def time_text(self) -> str:
        """Where the time went, for ``beet -v musicnn`` (and the benchmarks)."""
        total = sum(self.stage_seconds.values())
        stages = ", ".join(
            f"{stage} {seconds:.1f} s ({seconds / total:.0%})"
            for stage, seconds in self.stage_seconds.items()
        )
        return (
            f"time in the analyses: {stages or 'none'}; "
            f"saving results: {self.saving_seconds:.1f} s"
        )

    @property
    def audio_hours_per_wall_hour(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0

    def text(self) -> str:
        """The end-of-run paragraph, e.g. for ``ui.print_``."""
        analysed = f"musicnn: analysed {_plural(self.analysed, 'track')}"
        if self.partial:
            analysed += (
                f" ({self.partial:,} only with the models they lacked: "
                f"{', '.join(sorted(self.partial_models))})"
            )
        parts = [
            analysed,
            f"skipped {self.skipped:,} already up to date",
        ]
        if self.relabelled:
            parts[-1] += (
                f" (re-derived the labels of {self.relabelled:,} from stored "
                "results, no audio decoded)"
            )
        failed = f"{self.failed:,} failed"
        if self.failed:
            failed += f" (see why with: {FAILED_QUERY})"
        parts.append(failed)
        sentence = "; ".join(parts) + "."
        if self.damaged:
            sentence += (
                f" {_plural(self.damaged, 'file')} had damaged frames; "
                "analysed what decoded."
            )
        if self.time_budget is not None:
            sentence += (
                f" Time limit of {format_duration(self.time_budget)} reached: "
                f"{_plural(self.left, 'item')} left; run again to go on."
            )
        if self.interrupted:
            sentence += " Interrupted: what finished is saved; run again to go on."
        elif self.error:
            sentence += " Stopped by an error: what finished is saved."
        timing = f" Wall time {format_duration(self.wall_seconds)}"
        if self.analysed and self.wall_seconds:
            rate = self.audio_hours_per_wall_hour
            timing += f", {rate:,.1f} hours of audio per wall-clock hour"
        return sentence + timing + "."


class Progress:
    """A one-line, self-overwriting progress display on a terminal.

    ``done/total``, throughput in tracks per minute, the estimated time left
    and the last file that failed; ``what`` names the step when it is not
    the analysis (``"labels from stored results"``). Silent when ``stream``
    is not a terminal, so pipes and cron mails get only the summary.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        what: str = "",
    ) -> None:
        self.total = total
        self.what = what
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.clock = clock
        self.started = clock()
        self.done = 0
        self.last_failure: str | None = None
        self._last_draw = float("-inf")
        self._drawn_width = 0

    def advance(self, failed_path: str | None = None, reason: str = "") -> None:
        """Count one finished file; ``failed_path`` names it when it failed."""
        self.done += 1
        if failed_path is not None:
            name = os.path.basename(failed_path)
            self.last_failure = f"{name} ({reason})" if reason else name
        now = self.clock()
        if self.done >= self.total or now - self._last_draw >= REDRAW_INTERVAL:
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the progress line at time ``now``."""
        now = self.clock() if now is None else now
        elapsed = now - self.started
        percent = 100 * self.done / self.total if self.total else 100.0
        step = f"{self.what} " if self.what else ""
        text = f"musicnn: {step}{self.done:,}/{self.total:,} ({percent:.0f}%)"
        if self.done and elapsed > 0:
            per_minute = 60 * self.done / elapsed
            left = (self.total - self.done) * elapsed / self.done
            text += f", {per_minute:,.1f} tracks/min, ETA {format_duration(left)}"
        if self.last_failure:
            text += f", last failed: {self.last_failure}"
        return text

    def close(self) -> None:
        """Erase the progress line so the summary starts on a clean line."""
        if self.enabled and self._drawn_width:
            self.stream.write("\r" + " " * self._drawn_width + "\r")
            self.stream.flush()
            self._drawn_width = 0

    def __enter__(self) -> Progress:
        # Nothing to do, nothing to show (a run with no stale labels).
        if self.enabled and self.total:
            self._draw(self.clock())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if not self.enabled:
            return
        width = shutil.get_terminal_size().columns - 1
        text = self.line(now)[:width]
        # Pad with spaces to cover a longer previous line.
        padding = " " * max(0, self._drawn_width - len(text))
        self.stream.write("\r" + text + padding)
        self.stream.flush()
        self._drawn_width = len(text)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or file-like without a tty
        return False
