"""Fixtures and paths shared by the test modules."""

import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import soundfile

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Free-licensed clips committed with the project, with the outputs of the
#: original musicnn package for them (tools/make_reference.py): always present.
BUNDLED_MUSIC = REPO_ROOT / "tests" / "data" / "music"
#: Real music clips beside the repository on developers' and CI machines only.
SHARED_AUDIO = REPO_ROOT.parent / "shared" / "audio"


@cache
def load_reference(folder: Path) -> dict[str, dict]:
    """The original musicnn package's outputs for the clips in ``folder``.

    Keys starting with ``_`` (provenance) are left out.
    """
    reference = json.loads((folder / "reference.json").read_text())
    return {name: entry for name, entry in reference.items() if name[0] != "_"}


@pytest.fixture(scope="session")
def bundled_music() -> Path:
    """The clips committed in ``tests/data/music`` (never skipped: they ship)."""
    return BUNDLED_MUSIC


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """The real music clips in ``../shared/audio``; skips where it is absent.

    A user's clone of the repository does not have that folder.
    """
    if not SHARED_AUDIO.is_dir():
        pytest.skip(f"no shared audio clips at {SHARED_AUDIO}")
    return SHARED_AUDIO


@pytest.fixture(scope="session")
def write_segments(bundled_music) -> Callable[..., list[Path]]:
    """Write consecutive segments of each bundled clip as tagged Ogg files.

    The fixture is the writer: ``write_segments(folder, seconds, count,
    title=..., album=...)`` makes ``folder`` and writes ``count`` segments of
    ``seconds`` of each clip into it, as ``<clip>_<number>.ogg``, with the
    clip as artist; ``title`` and ``album`` are formats of ``{stem}`` (the
    clip's name) and ``{number}``. Segments of one recording sound alike,
    which gives similarity and families something real to find.
    """

    def write(
        folder: Path,
        seconds: float,
        count: int,
        title: str = "{stem} {number}",
        album: str = "{stem} excerpts",
    ) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for source in sorted(bundled_music.glob("*.ogg")):
            signal, rate = soundfile.read(source)
            size = int(seconds * rate)
            for number in range(count):
                path = folder / f"{source.stem}_{number}.ogg"
                with soundfile.SoundFile(
                    path, "w", rate, signal.shape[1], format="OGG", subtype="VORBIS"
                ) as sound:
                    sound.title = title.format(stem=source.stem, number=number)
                    sound.artist = source.stem
                    sound.album = album.format(stem=source.stem, number=number)
                    sound.write(signal[number * size : (number + 1) * size])
                paths.append(path)
        return paths

    return write


@pytest.fixture(scope="session")
def python_output() -> Callable[[str], str]:
    """Run Python code in a fresh interpreter from the repository root.

    The fixture is the runner: ``python_output(code)`` is the stripped
    standard output of ``python -c code`` (a failure raises), for what must
    be measured in a process of its own, such as the modules an import pulls in.
    """

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        )
        return done.stdout.strip()

    return run


def _song_scores(folder: Path) -> dict[str, dict]:
    """File name -> {model: song-level scores} of every clip in ``folder``."""
    from beetsplug.musicnn.engine.analysis import analyze

    suffixes = {".ogg", ".mp3", ".flac", ".wav", ".opus"}
    return {
        path.name: {key: r.scores for key, r in analyze(path).results.items()}
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in suffixes
    }


@pytest.fixture(scope="session")
def shared_clip_scores(shared_audio) -> dict[str, dict]:
    """Song-level MSD and MTT scores of each clip of ``../shared/audio``."""
    return _song_scores(shared_audio)


@pytest.fixture(scope="session")
def bundled_clip_scores(bundled_music) -> dict[str, dict]:
    """Song-level MSD and MTT scores of each clip shipped with the tests."""
    return _song_scores(bundled_music)
