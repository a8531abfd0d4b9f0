"""Long scans on a machine in use (issue 12): no C library's stderr on the
terminal, workers at low priority, a time limit, and exit codes that say how
a run ended.

Real beets libraries, real audio (MP3s damaged at test time), real worker
processes and real ``beet`` subprocesses; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile
from beets import ui
from beets.library import Item

from beetsplug.musicnn.engine.audio import load_audio
from beetsplug.musicnn.executors import priority
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job
from beetsplug.musicnn.executors.native_stderr import (
    DAMAGED_FRAMES,
    capture_stderr,
    notes_from_stderr,
)
from beetsplug.musicnn.executors.pool import AnalysisPool
from beetsplug.musicnn.labels import fields
from beetsplug.musicnn.library.runner import open_pool
from beetsplug.musicnn.library.settings import Overrides, Settings
from tests import test_plugin
from tests.test_plugin import MusicnnHelper, wait_for, worker_of

#: Random bytes written over the middle of an MP3 at three places: enough for
#: libmpg123 to complain about frames it skips, little enough that the rest
#: of the file still decodes (checked by the fixture).
DAMAGE_BYTES = 200

SUMMARY_NOTE = "1 file had damaged frames; analysed what decoded"

#: The first seconds of each bundled clip, as small Ogg files (a fixture).
excerpts = test_plugin.excerpts


# Fixtures ------------------------------------------------------------------


@pytest.fixture(scope="session")
def damaged_mp3(bundled_music, tmp_path_factory) -> Path:
    """20 s of a bundled clip as MP3, with damaged frames in the middle."""
    folder = tmp_path_factory.mktemp("damaged")
    signal_, rate = soundfile.read(bundled_music / "hsr_rock.ogg", frames=20 * 44100)
    path = folder / "damaged.mp3"
    soundfile.write(path, signal_, rate, format="MP3", subtype="MPEG_LAYER_III")
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for fraction in (0.25, 0.5, 0.75):
        start = int(len(data) * fraction)
        data[start : start + DAMAGE_BYTES] = rng.integers(
            0, 256, DAMAGE_BYTES, dtype=np.uint8
        ).tobytes()
    path.write_bytes(data)
    # Without the capture, decoding it prints libmpg123's own lines to fd 2
    # (not to sys.stderr) and still yields the whole clip.
    decode = subprocess.run(
        [sys.executable, "-c", DECODE_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(test_plugin.REPO_ROOT)},
        check=True,
    )
    assert "[src/libmpg123/" in decode.stderr, decode.stderr
    assert float(decode.stdout) > 19.5
    return path


DECODE_SCRIPT = """
import sys
from beetsplug.musicnn.engine.audio import load_audio
print(load_audio(sys.argv[1]).size / 16000)
"""


def long_files(folder: Path, excerpt: Path, count: int, seconds: float) -> list[Path]:
    """``count`` FLAC files of about ``seconds`` of real music each."""
    signal_, rate = soundfile.read(excerpt)
    repeats = int(np.ceil(seconds * rate / len(signal_)))
    long = np.tile(signal_, (repeats, 1))
    paths = []
    for number in range(count):
        path = folder / f"long_{number}.flac"
        soundfile.write(path, long, rate)
        paths.append(path)
    return paths


class BeetSubprocess(MusicnnHelper):
    """Runs ``beet`` in a subprocess on the test's library, as a user does."""

    start_beet = test_plugin.TestInterrupt.start_beet

    def add_paths(self, paths: list[Path]) -> list[Item]:
        items = [Item.from_path(path) for path in paths]
        for item in items:
            self.lib.add(item)
        return items


# 1. No C library's stderr on the terminal ---------------------------------


def test_capture_keeps_c_stderr_off_the_terminal(damaged_mp3, capfd):
    with capture_stderr() as captured:
        y = load_audio(damaged_mp3)
    assert y.size > 19.5 * 16000
    assert "[src/libmpg123/" in captured.text
    assert captured.notes == (DAMAGED_FRAMES,)
    assert "libmpg123" not in capfd.readouterr().err
    os.write(2, b"after the capture\n")  # descriptor 2 is the terminal again
    assert capfd.readouterr().err == "after the capture\n"


def test_concurrent_captures_restore_stderr(damaged_mp3, capfd):
    texts = []

    def decode() -> None:
        with capture_stderr() as captured:
            load_audio(damaged_mp3)
        texts.append(captured.text)

    threads = [threading.Thread(target=decode) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(texts) == 3
    assert "libmpg123" in "".join(texts)
    assert "libmpg123" not in capfd.readouterr().err
    os.write(2, b"restored\n")
    assert capfd.readouterr().err == "restored\n"


def test_notes_from_stderr():
    assert notes_from_stderr("") == ()
    assert notes_from_stderr(
        "[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length "
        "(1088) too large for available bit count (1048)\n"
    ) == (DAMAGED_FRAMES,)
    assert notes_from_stderr("Note: Illegal Audio-MPEG-Header 0x16fa818e\n") == (
        DAMAGED_FRAMES,
    )
    other = notes_from_stderr("something odd\nand more\n")
    assert other == ("printed during the analysis: something odd (and 1 more lines)",)


class TestDamagedFrames(BeetSubprocess):
    @pytest.mark.parametrize("workers", ["0", "1"])
    def test_terminal_is_clean_and_the_summary_counts_the_file(
        self, damaged_mp3, excerpts, workers
    ):
        damaged = self.add_file(damaged_mp3)
        self.add_file(excerpts[0])
        self.add_broken("notes.mp3", b"just some text\n" * 50)

        beet = self.start_beet("musicnn", "-j", workers)
        output, errors = beet.communicate(timeout=120)

        assert beet.returncode == 0, (output, errors)  # failed files are normal
        assert "libmpg123" not in output + errors
        assert "[src/" not in output + errors
        assert "analysed 2 tracks" in output
        assert "1 failed" in output
        assert SUMMARY_NOTE in output, output
        assert fields.VERSION_FIELD in self.lib.get_item(damaged.id)

        # `beet -v` names the file and says what the note means.
        beet = self.start_beet("-v", "musicnn", "-f", "-j", workers)
        output, errors = beet.communicate(timeout=120)
        path = self.lib.get_item(damaged.id).path.decode()
        # beets puts the plugin's name before the note: once.
        assert f"\nmusicnn: {path}: {DAMAGED_FRAMES}\n" in errors, errors
        assert "musicnn: musicnn:" not in output + errors
        assert "libmpg123" not in output + errors


# 2. Workers at low priority --------------------------------------------------


def pool_worker_after_a_job(clip: Path, nice: bool) -> tuple[AnalysisPool, int]:
    pool = AnalysisPool(AnalysisSettings(), 1, nice=nice)
    outcomes = list(pool.imap_unordered([Job(1, str(clip))]))
    assert outcomes[0].ok, outcomes[0].error
    return pool, pool.worker_pids[0]


def test_workers_run_at_low_cpu_and_io_priority(excerpts):
    pool, pid = pool_worker_after_a_job(excerpts[0], nice=True)
    with pool:
        worker = psutil.Process(pid)
        assert worker.nice() == max(os.getpriority(os.PRIO_PROCESS, 0), 19)
        if sys.platform.startswith("linux"):
            assert worker.ionice().ioclass == psutil.IOPRIO_CLASS_IDLE
            if Path(priority.AUTOGROUP_SWITCH).read_text().strip() == "1":
                # Its own session, whose scheduling group is nice too.
                assert os.getsid(pid) == pid != os.getsid(0)
                autogroup = Path(f"/proc/{pid}/autogroup").read_text()
                assert autogroup.strip().endswith("nice 19"), autogroup
        assert pool.priority_notes == set()


NICE_RUN = """
import json, sys
from beetsplug.musicnn.executors.jobs import AnalysisSettings, Job
from beetsplug.musicnn.executors.pool import AnalysisPool

if __name__ == "__main__":
    with AnalysisPool(AnalysisSettings(), 1, nice=True) as pool:
        outcomes = pool.imap_unordered([Job(1, sys.argv[1]), Job(2, sys.argv[2])])
        next(outcomes)  # the worker is now busy with the long file
        print(json.dumps(pool.worker_pids), flush=True)
        next(outcomes)
"""


@pytest.mark.skipif(
    not Path(priority.AUTOGROUP_SWITCH).is_file()
    or Path(priority.AUTOGROUP_SWITCH).read_text().strip() != "1",
    reason="workers keep beets' session without autogroup scheduling",
)
def test_a_worker_in_its_own_session_dies_with_beets(tmp_path, excerpts):
    """Out of beets' process group, a worker must still not outlive beets,
    even busy with a long file: the kernel kills it (PR_SET_PDEATHSIG)."""
    (long,) = long_files(tmp_path, excerpts[0], 1, 600)
    script = tmp_path / "run.py"
    script.write_text(NICE_RUN)
    with subprocess.Popen(
        [sys.executable, str(script), str(excerpts[0]), str(long)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(test_plugin.REPO_ROOT)},
    ) as run:
        try:
            (worker,) = json.loads(run.stdout.readline())
            assert os.getsid(worker) == worker  # a session of its own
        finally:
            run.kill()  # no chance to clean up
    _, alive = psutil.wait_procs([psutil.Process(worker)], timeout=5)
    assert not alive


def test_nice_off_gives_normal_priority(excerpts):
    pool, pid = pool_worker_after_a_job(excerpts[0], nice=False)
    with pool:
        worker, me = psutil.Process(pid), psutil.Process()
        assert worker.nice() == me.nice()
        assert os.getsid(pid) == os.getsid(0)
        if sys.platform.startswith("linux"):
            assert worker.ionice() == me.ionice()


class TestPriorityOption(MusicnnHelper):
    def test_nice_is_on_by_default_and_can_be_turned_off(self):
        def pool_nice() -> bool:
            config = self.config["musicnn"]
            settings = Settings.from_config(config, Overrides(workers=1))
            return open_pool(settings, 1).nice

        assert pool_nice() is True
        self.config["musicnn"]["nice"] = False
        assert pool_nice() is False
        self.config["musicnn"]["nice"] = "low"
        with pytest.raises(ui.UserError, match="bad `nice` setting: 'low'"):
            self.musicnn()


# 3. A time limit --------------------------------------------------------------


class TestMaxTime(MusicnnHelper):
    def test_a_run_stops_starting_files_at_its_time_limit(self, excerpts):
        # Three files of a minute: each takes about a second to analyse, so
        # a one-second limit leaves at least two.
        paths = long_files(self.lib_path, excerpts[0], 3, 60)
        for path in paths:
            self.lib.add(Item.from_path(path))

        output = self.musicnn("--max-time", "1s")  # returns: exit status 0

        match = re.search(r"Time limit of 1s reached: (\d+) items? left", output)
        assert match, output
        left = int(match[1])
        done = int(re.search(r"analysed (\d+) track", output)[1])
        assert 2 <= left <= 3 and done + left == 3, output
        analysed = [i for i in self.lib.items() if fields.VERSION_FIELD in i]
        assert len(analysed) == done
        with self.store() as store:
            assert set(store.item_ids()) == {i.id for i in analysed}
        # The config option, with room to finish: the rest is done.
        self.config["musicnn"]["max_time"] = "1h30m"
        rerun = self.musicnn()
        assert f"analysed {left} track" in rerun
        assert "Time limit" not in rerun

    @pytest.mark.parametrize("value", ["2x", "soon", "1m2h", "0s", -5])
    def test_bad_values_are_config_errors(self, value):
        self.config["musicnn"]["max_time"] = value
        with pytest.raises(ui.UserError, match=r"bad `max_time` setting: .*"):
            self.musicnn()

    def test_bad_command_line_value(self):
        with pytest.raises(ui.UserError, match="bad `max_time` setting: '90 min'"):
            self.musicnn("--max-time", "90 min")


# 4. Exit codes ----------------------------------------------------------------


class TestPoolGivesUp(BeetSubprocess):
    def test_a_pool_that_gives_up_exits_1_after_saving_and_summing_up(
        self, excerpts
    ):
        """Workers killed (SIGKILL) as soon as they start, after a first file:
        the pool gives up; what finished is saved and the run exits 1."""
        self.add_paths(long_files(self.lib_path, excerpts[0], 3, 45))
        beet = self.start_beet("musicnn", "-j", "1")
        first = wait_for(lambda: worker_of(beet))
        wait_for(lambda: test_plugin.reading(first, "long_1.flac"), timeout=60)
        time.sleep(0.3)  # for the first result to reach the main process
        killed = set()
        while beet.poll() is None:
            worker = worker_of(beet)
            if worker is not None and worker.pid not in killed:
                killed.add(worker.pid)
                os.kill(worker.pid, signal.SIGKILL)
            time.sleep(0.01)
        output, errors = beet.communicate(timeout=20)

        assert beet.returncode == 1, (output, errors)
        assert "analysed 1 track" in output, output
        assert "Stopped by an error: what finished is saved." in output
        assert "error: musicnn: the analysis stopped: analysis workers" in errors
        assert "Traceback" not in errors
        analysed = [i for i in self.lib.items() if fields.VERSION_FIELD in i]
        assert len(analysed) == 1
        with self.store() as store:
            assert set(store.item_ids()) == {analysed[0].id}

