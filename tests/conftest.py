"""Fixtures and paths shared by the test modules."""

import json
import os
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


@pytest.fixture(scope="session")
def mpd_required() -> None:
    """Skip the test where no MPD can run (fail instead under
    ``MUSICNN_REQUIRE_MPD=1``, as in CI)."""
    from mpd_server import REQUIRE_ENV, missing_reason

    reason = missing_reason()
    if reason:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def six_second_segments(write_segments, tmp_path_factory) -> list[Path]:
    """Three 6-second segments of each bundled clip as tagged Ogg files
    (``write_segments``): 12 tracks, those of one recording alike."""
    return write_segments(tmp_path_factory.mktemp("six-second-segments"), 6.0, 3)


# Files that are not audio, or hold none ----------------------------------------

#: Formats the decoders take, with how to write a real file of each: soundfile
#: (libsndfile) ``(format, subtype)``, or PyAV (ffmpeg) ``(codec,)``.
ENCODINGS = {
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "opus": ("OGG", "OPUS"),
    "wav": ("WAV", "PCM_16"),
    "aiff": ("AIFF", "PCM_16"),
    "m4a": ("aac",),
    "wv": ("wavpack",),
    "wma": ("wmav2",),
}
#: Encodings whose zero-length stream comes from ffmpeg: libsndfile writes
#: nothing at all for an empty MP3 or FLAC, and Opus pages only with audio.
EMPTY_WITH_PYAV = {"mp3": "libmp3lame", "flac": "flac", "opus": "libopus"}
#: Ways a file can fail, for each encoding: random bytes, a text file, the
#: first bytes of a real file (its header cut short), and a real file whose
#: stream holds no sample.
BAD_KINDS = ("random bytes", "text", "truncated header", "zero-length stream")
#: Bytes of a real file kept as its "truncated header".
HEADER_BYTES = 24


def encode_audio(path: Path, encoding: tuple, signal, rate: int) -> Path:
    """Write (frames, 2) float32 ``signal`` with a real encoder."""
    if len(encoding) == 2:
        soundfile.write(path, signal, rate, format=encoding[0], subtype=encoding[1])
    else:
        encode_with_pyav(path, encoding[0], signal, rate)
    return path


def encode_with_pyav(path: Path, codec: str, signal, rate: int) -> Path:
    """Write ``signal`` (possibly empty) with an ffmpeg encoder; the
    container follows the file name."""
    import av
    import numpy as np

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        stream.bit_rate = 128_000  # wmav2 has no default
        # Each encoder takes its own sample format: convert to it.
        convert = av.AudioResampler(format=stream.format.name, layout="stereo")
        frames = []
        if len(signal):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(signal.T), format="fltp", layout="stereo"
            )
            frame.sample_rate = rate
            frames = [*convert.resample(frame), *convert.resample(None)]
        container.start_encoding()  # the header, even without a packet
        for frame in [*frames, None]:
            for packet in stream.encode(frame):
                container.mux(packet)
    return path


@pytest.fixture(scope="session")
def bad_audio_files(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """``(encoding, kind) -> file`` for every encoding of :data:`ENCODINGS`
    and every kind of :data:`BAD_KINDS`, named like a file of that encoding."""
    import numpy as np

    folder = tmp_path_factory.mktemp("bad_audio")
    rng = np.random.default_rng(0)
    rate = 48000  # Opus's own rate; every other encoder takes it too
    tone = np.sin(np.arange(rate) * 2 * np.pi * 440 / rate) * 0.3
    signal = np.stack([tone, tone], axis=1).astype(np.float32)
    files = {}
    for name, encoding in ENCODINGS.items():
        real = encode_audio(folder / f"real.{name}", encoding, signal, rate)
        contents = {
            "random bytes": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "text": b"Track listing\n1. Overture\n2. Finale\n" * 20,
            "truncated header": real.read_bytes()[:HEADER_BYTES],
        }
        for kind, content in contents.items():
            path = folder / f"{kind.replace(' ', '_')}.{name}"
            path.write_bytes(content)
            files[name, kind] = path
        empty = folder / f"zero_length_stream.{name}"
        nothing = np.zeros((0, 2), np.float32)
        if name in EMPTY_WITH_PYAV:
            encode_with_pyav(empty, EMPTY_WITH_PYAV[name], nothing, rate)
        else:
            encode_audio(empty, encoding, nothing, rate)
        assert empty.stat().st_size > 0, empty  # a container, not an empty file
        files[name, "zero-length stream"] = empty
    return files
