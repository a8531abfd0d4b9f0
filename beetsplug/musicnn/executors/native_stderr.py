"""Keep what C libraries print on standard error off the user's terminal,
and turn it into notes on the file being analysed.

Decoders written in C write straight to file descriptor 2: libmpg123 (inside
libsndfile) prints ``[src/libmpg123/layer3.c:...] error: part2_3_length ...``
for every damaged MP3 frame it skips, and ffmpeg and ONNX Runtime have their
own say. Replacing ``sys.stderr`` catches none of it, so
:func:`capture_stderr` points descriptor 2 itself at a temporary file while
a file is analysed, and :func:`notes_from_stderr` says in one line what the
text meant.

The redirection is shared by every thread of the process and counted: the
first capture redirects, the last one restores, so concurrent analyses (a
Dask worker with several threads) never leave descriptor 2 pointing at a
closed file. Each capture reads only what was written while it was open;
with concurrent captures a line may be attributed to the wrong file, never
lost to the terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: The note a file gets when its decoder skipped damaged data.
DAMAGED_FRAMES = "damaged frames skipped; analysed what decoded"

#: What decoders print about damaged data they skip: libmpg123's errors and
#: resync notes, and the PyAV path's own warning (audio._pyav_blocks).
_DAMAGE = re.compile(
    r"libmpg123|Illegal Audio-MPEG-Header|Trying to resync|Skipped \d+ bytes"
    r"|decoding stopped early|Invalid data found|corrupt|damaged",
    re.IGNORECASE,
)

#: Bytes of captured text kept per capture: a badly damaged file makes
#: libmpg123 print a line per frame, and one note is all that is needed.
MAX_CAPTURED = 64 * 1024

_FD = 2


@dataclass
class Captured:
    """What was written to descriptor 2 during one :func:`capture_stderr`."""

    text: str = ""

    @property
    def notes(self) -> tuple[str, ...]:
        return notes_from_stderr(self.text)


class _Redirection:
    """Descriptor 2 pointed at one temporary file while anyone captures."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: int | None = None
        self.file = None

    def start(self) -> int:
        """Redirect if nobody does yet; the offset this capture reads from."""
        with self.lock:
            _flush_python_stderr()
            if self.users == 0:
                # Open from start() to the last stop(), not one block.
                self.file = tempfile.TemporaryFile()  # noqa: SIM115
                self.saved = os.dup(_FD)
                os.dup2(self.file.fileno(), _FD)
            self.users += 1
            return os.lseek(_FD, 0, os.SEEK_END)

    def stop(self, start: int) -> str:
        """The text written since ``start``; restore descriptor 2 if last."""
        with self.lock:
            _flush_python_stderr()
            end = os.lseek(_FD, 0, os.SEEK_END)
            size = min(end - start, MAX_CAPTURED)
            data = os.pread(self.file.fileno(), size, start) if size > 0 else b""
            self.users -= 1
            if self.users == 0:
                os.dup2(self.saved, _FD)
                os.close(self.saved)
                self.file.close()
                self.saved = self.file = None
            return data.decode("utf-8", "replace")


_redirection = _Redirection()


@contextmanager
def capture_stderr() -> Iterator[Captured]:
    """Send what this process writes to descriptor 2 (C code included) to a
    temporary file, and hand it over as ``captured.text`` on exit.

    Python's ``sys.stderr`` is flushed on entry and exit, so its text lands
    on the right side of the redirection.
    """
    captured = Captured()
    if not hasattr(os, "pread"):  # Windows: no C decoder prints there
        yield captured
        return
    start = _redirection.start()
    try:
        yield captured
    finally:
        captured.text = _redirection.stop(start)


def notes_from_stderr(text: str) -> tuple[str, ...]:
    """One-line notes for people about what a decoder printed.

    Damage a decoder skipped becomes :data:`DAMAGED_FRAMES`; anything else
    is kept as ``"printed during the analysis: ..."`` (its first line), so no message
    is lost, only moved off the terminal.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ()
    notes = []
    if any(_DAMAGE.search(line) for line in lines):
        notes.append(DAMAGED_FRAMES)
    other = [line for line in lines if not _DAMAGE.search(line)]
    if other:
        first = " ".join(other[0].split())[:200]
        more = f" (and {len(other) - 1} more lines)" if len(other) > 1 else ""
        notes.append(f"printed during the analysis: {first}{more}")
    return tuple(notes)


def _flush_python_stderr() -> None:
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):  # closed
            sys.stderr.flush()
