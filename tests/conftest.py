"""Fixtures and paths shared by the test modules."""

import json
from functools import cache
from pathlib import Path

import pytest

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


def _song_scores(folder: Path) -> dict[str, dict]:
    """File name -> {model: song-level scores} of every clip in ``folder``."""
    from beetsplug.musicnn.analysis import analyze

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
