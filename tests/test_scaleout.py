"""Sharded evaluation on a local Ray cluster (``ray.init(num_cpus=2)``): the same figures as one process, a
worker killed mid-run changes nothing but the report's record of it, and no Ray says how to get it."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nirdeploy.errors import InvalidArgumentError
from nirdeploy.run import run_config
from nirdeploy.scaleout import BOARD, Cluster, shards
from nirdeploy.targets.lava.worker import _stat
from runs import digits_config, without_times

ray = pytest.importorskip("ray", reason="Ray is part of the README's set-up (nirdeploy[ray])")


@given(samples=st.integers(1, 500), workers=st.integers(1, 64))
def test_shards_cover_every_sample_once_in_order_and_evenly(samples, workers):
    ranges = shards(samples, workers)
    assert ranges[0][0] == 0 and ranges[-1][1] == samples
    assert all(a < b for a, b in ranges) and all(b == c for (_, b), (c, _) in zip(ranges, ranges[1:]))
    sizes = [b - a for a, b in ranges]
    assert len(ranges) == min(samples, workers) and max(sizes) - min(sizes) <= 1


def test_sharded_runs_give_the_figures_of_one_process(local_ray, tmp_path):
    """Lava float and fixed point on the conv net, Xylo on the MLP: 2 shards each, merged, equal to one process."""
    for name, targets in (("digits_conv", {"lava": {}, "lava/fixed": {"precision": "fixed"}}),
                          ("digits_mlp", {"snntorch": {}, "xylo:syns65302": {}})):
        config = digits_config(tmp_path, name, samples=25, targets=targets)
        alone = run_config(config, out=tmp_path / "alone")
        sharded = run_config(config, out=tmp_path / "sharded", workers=2)
        assert without_times(sharded.report) == without_times(alone.report)
        record = sharded.report["scaleout"]
        assert record["workers"] == 2 and record["shards"] == [[0, 12], [12, 25]]
        assert record["retried_shards"] == {run: [] for run in ["reference", *alone.report["targets"]]}
        assert "samples sharded over 2 Ray workers (local), shards 0-11, 12-24" in \
            (sharded.folder / "report.md").read_text()
        assert sorted(p.name for p in sharded.folder.rglob("*")) == sorted(p.name for p in alone.folder.rglob("*"))


def lava_worker_of(parent: int) -> bool:
    """Whether process ``parent`` has started a Lava worker (``python -m lava_worker``) that still runs."""
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)  # state, ppid, ...
        if fields is None or int(fields[1]) != parent:
            continue
        try:
            if b"lava_worker" in (entry / "cmdline").read_bytes().split(b"\0"):
                return True
        except OSError:  # it ended meanwhile
            continue
    return False


def kill_a_worker_once_it_runs(run: str) -> threading.Thread:
    """Kills, with SIGKILL, the Ray worker that runs shard 1 of ``run`` once its Lava worker runs (a fixed wait
    could outlast a shard that runs in a second); the run's board (the named actor its workers report to) says
    which process that is."""
    def kill():
        while True:
            boards = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(BOARD)]
            pids = ray.get(ray.get_actor(**boards[0]).read.remote())["pids"] if boards else {}
            if (run, 1) in pids and lava_worker_of(pids[(run, 1)]):
                os.kill(pids[(run, 1)], signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_a_killed_worker_s_shard_runs_again_and_the_report_says_so(local_ray, tmp_path):
    config = digits_config(tmp_path, "digits_conv", samples=60, targets={"lava": {}})
    alone = run_config(config, out=tmp_path / "alone")
    killer = kill_a_worker_once_it_runs("lava")
    sharded = run_config(config, out=tmp_path / "sharded", workers=2)
    killer.join(timeout=1)
    assert sharded.report["scaleout"]["retried_shards"]["lava"] == [1]
    assert without_times(sharded.report) == without_times(alone.report)
    assert "shards run again after their worker died: lava: shard(s) 1" in (sharded.folder / "report.md").read_text()


def test_without_ray_workers_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    config = digits_config(tmp_path, "digits_mlp", samples=4, targets={"snntorch": {}})
    with pytest.raises(InvalidArgumentError, match=r"pip install 'nirdeploy\[ray\]'"):
        run_config(config, out=tmp_path / "runs", workers=2)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(InvalidArgumentError, match="workers must be 1 or more"):
        Cluster(0)
