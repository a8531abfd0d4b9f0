"""Run analysis workers at low CPU and I/O priority, so that a scan of hours
leaves a desktop in use or a server streaming music responsive.

:func:`lower_priority` is called by each worker process at its start (the
``nice`` option, on by default). What it can do depends on the system:

- Linux: niceness :data:`NICENESS` (``setpriority``) and the "idle" I/O
  class (``ioprio_set`` through psutil), which gets the disk only when
  nobody else wants it; where the idle class is refused, the lowest
  best-effort level. With autogroup scheduling (``kernel.sched_autogroup_
  enabled``, on in most distributions' kernels) the CPU is shared first
  between sessions and niceness only orders the processes of one session,
  so a nice worker in the user's terminal session would still take its
  session's full share from a browser or a media server in another one.
  The worker therefore starts a session of its own (``setsid``: it already
  ignores the terminal's Ctrl-C, and asks the kernel to kill it when beets
  exits, ``PR_SET_PDEATHSIG``) and gives that session's group the same
  niceness (``/proc/self/autogroup``); measured in
  ``bench/bench_priority.py``;
- macOS and other Unix systems: niceness only (they have no I/O priority
  classes psutil can set);
- elsewhere (Windows): nothing.

It never fails: what could not be done is returned as notes for ``beet -v``.
"""

from __future__ import annotations

import os
import signal
import sys

#: The lowest CPU priority: a nice-19 worker gets about 1.5 % of a core that
#: a nice-0 program also wants (CFS weights 15 against 1024).
NICENESS = 19

#: Best-effort I/O level used where the idle class is not allowed (0-7,
#: 7 the lowest).
LOWEST_BEST_EFFORT = 7


def lower_priority() -> tuple[str, ...]:
    """Lower this process's CPU and I/O priority as far as the system allows.

    Returns
    -------
    notes : tuple of str
        One line for each thing that could not be done, for ``beet -v``.
    """
    notes = []
    if sys.platform.startswith("linux"):
        notes.extend(_own_autogroup())
    if hasattr(os, "setpriority"):
        try:
            current = os.getpriority(os.PRIO_PROCESS, 0)
            # Never raise it: a beet already started with `nice -n 5` keeps
            # its workers at least that low.
            os.setpriority(os.PRIO_PROCESS, 0, max(current, NICENESS))
        except OSError as error:
            notes.append(f"cannot lower the CPU priority: {error}")
    else:
        notes.append(f"no CPU priority to lower on {sys.platform}")
    if sys.platform.startswith("linux"):
        notes.extend(_lower_io_priority())
    else:
        notes.append(f"no I/O priority to lower on {sys.platform}")
    return tuple(notes)


def _lower_io_priority() -> list[str]:
    import psutil

    process = psutil.Process()
    try:
        process.ionice(psutil.IOPRIO_CLASS_IDLE)
        return []
    except (OSError, psutil.Error) as idle_error:
        try:
            process.ionice(psutil.IOPRIO_CLASS_BE, LOWEST_BEST_EFFORT)
        except (OSError, psutil.Error) as error:
            return [f"cannot lower the I/O priority: {error}"]
        return [
            f"idle I/O priority refused ({idle_error}); "
            f"using the lowest best-effort level"
        ]


#: Whether the kernel shares the CPU between sessions first (Linux).
AUTOGROUP_SWITCH = "/proc/sys/kernel/sched_autogroup_enabled"


def _own_autogroup() -> list[str]:
    """With autogroup scheduling on, move this process into a session of its
    own and lower that session's scheduling group to :data:`NICENESS`."""
    try:
        with open(AUTOGROUP_SWITCH) as switch:
            if switch.read().strip() != "1":
                return []
    except OSError:
        return []  # no autogroup in this kernel: niceness alone works
    try:
        os.setsid()
    except OSError as error:
        return [f"cannot start a session for the worker: {error}"]
    notes = _die_with_parent()
    try:
        with open("/proc/self/autogroup", "w") as group:
            group.write(str(NICENESS))
    except OSError as error:
        notes.append(f"cannot lower the priority of the worker's session: {error}")
    return notes


#: prctl(2) option: the signal this process gets when its parent exits.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> list[str]:
    """Have the kernel kill this process when its parent (beets) exits.

    Out of beets' process group, a worker no longer gets what is sent to the
    whole group (``kill -- -PGID``, the hangup of a closed terminal); left
    alone it would notice only after its current file, and never if that
    file's decoder hangs.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        error = os.strerror(ctypes.get_errno())
        return [f"cannot tie the worker's life to beets' ({error})"]
    return []
