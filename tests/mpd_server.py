"""A throwaway MPD for the tests: Debian's ``mpd``, on a free loopback port.

Each :class:`MPDServer` has its own folder (configuration, database, state),
plays to a null audio output, and serves a music folder given by the test.
``.ci/run`` installs ``mpd`` and ``mpc``; there ``MUSICNN_REQUIRE_MPD=1``
makes a missing server fail the tests instead of skipping them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

#: Set (to 1) where a missing MPD must fail the tests instead of skipping them.
REQUIRE_ENV = "MUSICNN_REQUIRE_MPD"
#: Seconds to wait for the server to answer, or its database to be built.
STARTUP_TIMEOUT = 30.0


def missing_reason() -> str | None:
    """Why the MPD tests cannot run here, or ``None`` if they can."""
    try:
        import mpd  # noqa: F401
    except ImportError:
        return "python-mpd2 is not installed (pip install 'beets-musicnn[mpd]')"
    if not shutil.which("mpd"):
        return "no mpd on PATH (apt-get install -y mpd mpc)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MPDServer:
    """``mpd --no-daemon`` over ``music``, in ``folder``, on a free port.

    Parameters
    ----------
    folder : Path
        Its configuration, database, state, log (and socket) go here.
    music : Path
        Its ``music_directory``.
    password : str, optional
        Then only a client that sends it may do anything.
    unix_socket : bool
        Also listen on the socket ``folder/socket``.
    """

    def __init__(
        self,
        folder: Path,
        music: Path,
        password: str | None = None,
        unix_socket: bool = False,
    ) -> None:
        self.folder = folder
        self.music = music
        self.port = free_port()
        self.socket = folder / "socket" if unix_socket else None
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f'music_directory "{music}"',
            f'db_file "{folder / "database"}"',
            f'state_file "{folder / "state"}"',
            f'log_file "{folder / "log"}"',
            'bind_to_address "127.0.0.1"',
            f'port "{self.port}"',
            'zeroconf_enabled "no"',
            'audio_output {\n  type "null"\n  name "null"\n}',
        ]
        if self.socket is not None:
            lines.append(f'bind_to_address "{self.socket}"')
        if password is not None:
            # Without the password a client may do nothing at all.
            lines.append(f'password "{password}@read,add,control,admin"')
        self.config = folder / "mpd.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> MPDServer:
        """Start the server and wait until it answers and has indexed the
        music folder."""
        self.process = subprocess.Popen(
            ["mpd", "--no-daemon", "--stderr", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mpd did not start: {self.log()}") from None
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop it as a service manager would (SIGTERM: the queue is saved
        in the state file and restored by the next start)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=STARTUP_TIMEOUT)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self):
        """A connected python-mpd2 client (with the password if any)."""
        import mpd

        client = mpd.MPDClient()
        client.timeout = STARTUP_TIMEOUT
        client.connect("127.0.0.1", self.port)
        return client

    def update(self, client) -> None:
        """Index the music folder, and wait until MPD is done."""
        client.update()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "updating_db" in client.status():
            if time.monotonic() > deadline:
                raise RuntimeError(f"mpd did not finish indexing: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"

    def __enter__(self) -> MPDServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def queue_files(client) -> list[str]:
    """MPD's queue, as its URIs in order."""
    return [song["file"] for song in client.playlistinfo()]
