"""The Lava worker failing in the ways it fails in life, with the real runtime and the real subprocess.

After each failure: one TargetError that says what happened and what to do, no process of the run left
running, no shared memory segment of the run left in /dev/shm, nothing left in the temporary folder.
The truth about processes and segments is read here from /proc, independently of nirdeploy: the worker
is the child of this test process whose command line is ``-m lava_worker``; the processes Lava forks
share its session; the segments are the /dev/shm files those processes map.
"""

import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

import nirdeploy
from graphs import DT, feedforward, spikes
from nirdeploy import errors
from nirdeploy.errors import InvalidArgumentError, TargetError
from nirdeploy.targets.lava import runtime as lava_runtime


@pytest.fixture(scope="module", autouse=True)
def lava_runtime_ready():
    lava_runtime.setup(log=lambda line: None)


@pytest.fixture
def temp(tmp_path, monkeypatch) -> Path:
    """A temporary folder of this test's own, for nirdeploy and (TMPDIR) the worker, so that what is left in it
    after a run is this run's."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _stat(pid: str) -> list:
    """/proc/PID/stat after the command: state, ppid, pgrp, session, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def running_in_session(session: int) -> list:
    """Processes of ``session`` that still run (a zombie has ended; this machine's init does not reap them)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = _stat(entry.name)
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def mapped_segments(pid: int) -> set:
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return set()
    return {Path(line[line.index("/dev/shm/"):]) for line in lines
            if "/dev/shm/" in line and not line.endswith("(deleted)")}


def our_worker():
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if b"-m\0lava_worker\0" in (entry / "cmdline").read_bytes() and int(_stat(entry.name)[1]) == os.getpid():
                return int(entry.name)
        except OSError:
            continue
    return None


class Watch(threading.Thread):
    """Follows the worker this process starts: its pid and every segment its session maps. Half a second after
    Lava's processes run and their channels exist, it SIGKILLs the worker alone (``act="kill"``) or interrupts
    this process as Ctrl-C does (``act="interrupt"``)."""

    def __init__(self, act=None):
        super().__init__(daemon=True)
        self.act, self.pid, self.segments, self.acted_at = act, None, set(), None
        self.finished = threading.Event()

    def run(self):
        started = None
        while not self.finished.is_set() and self.acted_at is None:
            self.pid = self.pid or our_worker()
            if self.pid is not None:
                members = running_in_session(self.pid)
                self.segments |= {s for pid in members for s in mapped_segments(pid)}
                if started is None and len(members) >= 3 and self.segments:
                    started = time.perf_counter()
                if self.act and started is not None and time.perf_counter() - started > 0.5:
                    os.kill(*((self.pid, signal.SIGKILL) if self.act == "kill" else (os.getpid(), signal.SIGINT)))
                    self.acted_at = time.perf_counter()
            time.sleep(0.05)

    def stop(self):
        self.finished.set()
        self.join(10)


def assert_nothing_left(watch: Watch, temp: Path) -> None:
    assert watch.pid is not None, "the worker was never seen"
    assert running_in_session(watch.pid) == []
    assert [s for s in watch.segments if s.exists()] == []
    assert list(temp.iterdir()) == []


def test_a_killed_worker_is_a_clear_error_and_leaves_nothing(temp):
    graph, n = feedforward()
    deployment = nirdeploy.deploy(graph, "lava", dt=DT, timeout=120)
    watch = Watch("kill")
    watch.start()
    try:
        with pytest.raises(TargetError, match=r"the Lava worker died of signal 9 \(SIGKILL\) before it finished .*"
                                              r"out-of-memory killer.*every process it started was stopped"):
            deployment.run(spikes(n, batch=1, steps=300_000))  # minutes of Lava steps: it dies long before
    finally:
        watch.stop()
    assert watch.acted_at is not None and watch.segments  # it died mid-run, its channels open
    assert time.perf_counter() - watch.acted_at < 10  # noticed at once, not at the timeout
    assert_nothing_left(watch, temp)


def test_ctrl_c_during_a_run_leaves_nothing(temp):
    graph, n = feedforward()
    deployment = nirdeploy.deploy(graph, "lava", dt=DT, timeout=120)
    watch = Watch("interrupt")
    watch.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            deployment.run(spikes(n, batch=1, steps=300_000))
    finally:
        watch.stop()
    assert watch.acted_at is not None and watch.segments
    assert_nothing_left(watch, temp)


def test_a_run_past_its_timeout_is_killed_whole(temp):
    graph, n = feedforward()
    deployment = nirdeploy.deploy(graph, "lava", dt=DT, timeout=8)
    watch = Watch()
    watch.start()
    start = time.perf_counter()
    try:
        with pytest.raises(TargetError, match=r"did not finish within 8 s and was killed, with every process it "
                                              r"started; pass a larger timeout=\.\.\. to deploy, or run fewer steps"):
            deployment.run(spikes(n, batch=1, steps=300_000))
    finally:
        watch.stop()
    assert 8 <= time.perf_counter() - start < 20
    assert watch.segments  # Lava's processes ran, their channels open, when the timeout came
    assert_nothing_left(watch, temp)


def test_a_missing_runtime_names_the_setup_command(temp, tmp_path, monkeypatch):
    graph, n = feedforward()
    monkeypatch.setenv(lava_runtime.RUNTIME_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(TargetError, match=r"Lava runtime not set up at .*missing; run `nirdeploy setup lava`"):
        nirdeploy.deploy(graph, "lava", dt=DT)
    # removed between deploy and run
    monkeypatch.delenv(lava_runtime.RUNTIME_VARIABLE)
    deployment = nirdeploy.deploy(graph, "lava", dt=DT)
    monkeypatch.setenv(lava_runtime.RUNTIME_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(TargetError, match=r"Python .*missing/bin/python cannot be started \(No such file or "
                                          r"directory\); recreate the runtime with `nirdeploy setup lava --force`"):
        deployment.run(spikes(n, batch=1, steps=5))
    assert list(temp.iterdir()) == []


def base_python() -> str:
    """The interpreter the runtime's venv was made from (pyvenv.cfg's home): Python 3.10 without lava or numpy."""
    config = (lava_runtime.runtime_dir() / "pyvenv.cfg").read_text().splitlines()
    home = next(line.partition("=")[2].strip() for line in config if line.startswith("home"))
    return str(Path(home) / "python3.10")


def break_python(python: Path, how: str) -> None:
    if how == "no lava":
        python.symlink_to(base_python())
    elif how == "fails to start":
        python.write_text("#!/bin/sh\necho 'python: error while loading shared libraries: libpython3.10.so.1.0' >&2\n"
                          "exit 127\n")
        python.chmod(python.stat().st_mode | stat.S_IXUSR)
    else:
        python.write_text("not a program")


BROKEN = {
    "no lava": r"the Lava runtime at .*broken is broken: its Python cannot import what the worker needs "
               r"\(ModuleNotFoundError: No module named '(numpy|lava)'\)",
    "fails to start": r"(?s)exited with status 127 without running the worker; the runtime is broken.*libpython3\.10",
    "not executable": r"cannot be started \(Permission denied\)",
}


@pytest.mark.parametrize("how", BROKEN)
def test_a_broken_runtime_is_a_clear_error(how, temp, tmp_path, monkeypatch):
    """A runtime whose marker says it is ready (so status() starts nothing) but whose Python is broken."""
    broken = tmp_path / "broken"
    (broken / "bin").mkdir(parents=True)
    shutil.copy(lava_runtime.runtime_dir() / lava_runtime.MARKER, broken / lava_runtime.MARKER)
    break_python(broken / "bin" / "python", how)
    monkeypatch.setenv(lava_runtime.RUNTIME_VARIABLE, str(broken))
    graph, n = feedforward()
    deployment = nirdeploy.deploy(graph, "lava", dt=DT)
    with pytest.raises(TargetError, match=BROKEN[how]) as info:
        deployment.run(spikes(n, batch=1, steps=5))
    assert "nirdeploy setup lava --force" in str(info.value)
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("timeout", [0, -5, float("nan"), "60", True])
def test_a_timeout_that_is_not_seconds_is_refused_in_the_readers_words(timeout, monkeypatch):
    graph, _ = feedforward()
    with pytest.raises(InvalidArgumentError, match=r"timeout=.* for the Lava target is not a number of seconds "
                                                   r"above 0; pass e.g. timeout=600"):
        nirdeploy.deploy(graph, "lava", dt=DT, timeout=timeout)
    monkeypatch.setitem(errors._audience, "cli", True)  # what nirdeploy's CLI switches on before any work
    with pytest.raises(InvalidArgumentError, match="set the target option timeout, e.g. timeout: 600"):
        nirdeploy.deploy(graph, "lava", dt=DT, timeout=timeout)


def test_the_worker_reports_its_samples_as_it_runs(temp, monkeypatch):
    import nirdeploy.targets.lava as lava_target

    heard = []
    real = lava_target.run_worker
    monkeypatch.setattr(lava_target, "run_worker", lambda folder, timeout, on_progress: real(
        folder, timeout, on_progress=lambda done, total: (heard.append((done, total)), on_progress(done, total))))
    graph, n = feedforward()
    nirdeploy.deploy(graph, "lava", dt=DT).run(spikes(n, batch=3, steps=20), progress=True)
    assert heard and heard[-1] == (3, 3) and heard == sorted(heard)  # the worker's own count, last when it ended
    assert list(temp.iterdir()) == []
