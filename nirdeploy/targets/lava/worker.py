"""Running the Lava worker (``python -m lava_worker FOLDER`` in the Lava runtime) and ending it whole.

The worker runs in its own process group. Lava forks into that group one process
per process model, a shared-memory manager and multiprocessing's resource tracker,
and its channels are POSIX shared memory (``/dev/shm/psm_*``). When the worker
dies or is killed, those processes stay blocked on their channels and the
segments stay allocated (no one unlinks them), so every run, however it ends,
freezes the group, notes the segments its processes map, kills the group and
unlinks them. The worker's TMPDIR is its working folder, the run folder, so that the temporary
files of multiprocessing (its listener socket) go when the folder goes.

Failures come back as :class:`TargetError`: the worker's own exception and
traceback (``error.json``), a runtime that cannot import Lava or cannot start,
a worker killed by a signal, a run past its timeout.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

from ...errors import TargetError, spell
from . import lava_worker, runtime

LOG = "worker.log"
PROGRESS = "progress.json"  # [samples done, samples], which the worker replaces after each batch of samples
POLL_SECONDS = 0.5
REPAIR = "recreate the runtime with `nirdeploy setup lava --force`"
SHARED_MEMORY = Path("/dev/shm")
SHARED_MEMORY_PREFIX = "psm_"  # the names Python's multiprocessing.shared_memory gives its segments
IMPORT_ERRORS = ("ModuleNotFoundError", "ImportError")
TIMEOUT_OPTION = "raise the target option timeout (in the config: targets: {lava: {timeout: SECONDS}})"


def run_worker(folder: Path, timeout: float, python: Optional[Path] = None,
               on_progress: Optional[Callable] = None) -> None:
    """Run the worker on ``folder``; its failure or a hang (killed after ``timeout`` s) is a TargetError.
    ``on_progress(samples done, samples)`` hears, while it runs, what the worker last reported."""
    folder, python = Path(folder).resolve(), Path(python or runtime.runtime_python())
    # TMPDIR "." (the worker's cwd, the run folder), not the folder's path: multiprocessing binds a Unix socket
    # there, whose path may have at most 107 bytes, and Python 3.10's tempfile keeps a relative folder relative.
    process = _start(python, folder, {**os.environ, "PYTHONPATH": str(_worker_path(folder)), "TMPDIR": os.curdir})
    try:
        _wait(process, folder, timeout, on_progress)
    finally:  # also on KeyboardInterrupt: nothing of the run may outlive it
        end_group(process.pid)
        process.wait()
    _raise_failure(folder, process.returncode, python)


def _wait(process: subprocess.Popen, folder: Path, timeout: float, on_progress: Optional[Callable]) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(timeout=max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
            ended = True
        except subprocess.TimeoutExpired:
            ended = False
            if time.monotonic() >= deadline:
                raise TargetError(f"the Lava worker did not finish within {timeout:g} s and was killed, with every "
                                  f"process it started; {spell('pass a larger timeout=... to deploy', TIMEOUT_OPTION)}"
                                  ", or run fewer steps") from None
        if on_progress is not None and (folder / PROGRESS).exists():
            on_progress(*json.loads((folder / PROGRESS).read_text()))
        if ended:
            return


def _worker_path(folder: Path) -> Path:
    """A folder holding only the worker package, for PYTHONPATH: nothing that imports torch can be reached."""
    path = folder / "pythonpath"
    path.mkdir(exist_ok=True)
    if not (path / "lava_worker").exists():
        os.symlink(Path(lava_worker.__file__).parent, path / "lava_worker")
    return path


def _start(python: Path, folder: Path, env: dict) -> subprocess.Popen:
    try:
        # A file, not a pipe: Lava's processes inherit it, and a pipe stays open until the last of them ends.
        with open(folder / LOG, "wb") as log:
            return subprocess.Popen([str(python), "-m", "lava_worker", str(folder)], cwd=folder, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as error:
        raise TargetError(f"the Lava runtime's Python {python} cannot be started ({error.strerror or error}); "
                          f"{REPAIR}") from None


def _raise_failure(folder: Path, status: int, python: Path) -> None:
    error_file = folder / "error.json"
    if error_file.exists():
        error = json.loads(error_file.read_text())
        if error["type"] in IMPORT_ERRORS:
            raise TargetError(f"the Lava runtime at {python.parent.parent} is broken: its Python cannot import what "
                              f"the worker needs ({error['type']}: {error['message']}); {REPAIR}")
        raise TargetError(f"the Lava worker failed: {error['type']}: {error['message']}\n"
                          f"worker traceback:\n{error['traceback']}")
    if status < 0:
        raise TargetError(_death(-status, _tail(folder)))
    if status != 0:
        raise TargetError(f"the Lava runtime's Python {python} exited with status {status} without running the "
                          f"worker; the runtime is broken: {REPAIR}. Its output:\n{_tail(folder)}")


def _death(number: int, output: str) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown"
    cause = (" (the kernel's out-of-memory killer sends SIGKILL, as does `kill -9`: if memory ran out, run fewer "
             "samples at once or a smaller network)" if number == signal.SIGKILL else "")
    return (f"the Lava worker died of signal {number} ({name}) before it finished{cause}; every process it "
            f"started was stopped. Its last output:\n{output}")


def _tail(folder: Path, characters: int = 3000) -> str:
    text = (folder / LOG).read_text(errors="replace") if (folder / LOG).exists() else ""
    return text[-characters:].strip() or "(none)"


def end_group(group: int) -> None:
    """Kill every process of process group ``group`` and unlink the shared memory segments they map."""
    try:
        os.killpg(group, signal.SIGSTOP)  # frozen: no member forks or creates a segment while they are listed
    except ProcessLookupError:
        return  # every member has exited
    members = group_members(group)
    segments = {segment for pid in members for segment in shared_memory(pid)}
    os.killpg(group, signal.SIGKILL)
    _wait_until_ended(members)
    for segment in segments:
        segment.unlink(missing_ok=True)


def _stat(pid) -> Optional[list]:
    """/proc/PID/stat's fields after the command (state, ppid, pgrp, ...), None once the process is gone."""
    try:
        # "pid (command) state ppid pgrp ...": the command may hold spaces and brackets
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def group_members(group: int) -> list:
    """Process ids in process group ``group`` (from /proc; none where there is no /proc)."""
    return [int(entry.name) for entry in Path("/proc").glob("[0-9]*")
            if (fields := _stat(entry.name)) is not None and int(fields[2]) == group]


def _wait_until_ended(pids: list, seconds: float = 5.0) -> None:
    """SIGKILL takes effect asynchronously: wait (a few milliseconds) until each process has ended, so that none
    runs once the run has returned. An ended process may stay a zombie until its parent, or init, reaps it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any((fields := _stat(pid)) is not None and fields[0] not in "ZX"
                                              for pid in pids):
        time.sleep(0.01)


def shared_memory(pid: int) -> set:
    """The multiprocessing shared memory segments (``/dev/shm/psm_*``, not yet unlinked) process ``pid`` maps."""
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return set()
    # maps: "address perms offset dev inode path"; an unlinked segment's path ends in " (deleted)"
    paths = {Path(line.split(maxsplit=5)[5]) for line in lines
             if len(line.split(maxsplit=5)) == 6 and not line.endswith(" (deleted)")}
    return {path for path in paths if path.parent == SHARED_MEMORY and path.name.startswith(SHARED_MEMORY_PREFIX)}
