"""Sharded evaluation on Ray: each target's samples split across workers and merged back in order.

Every sample runs from its own reset on every target, so a shard's outputs are the same numbers as
that shard's samples in one in-process run, and the merged outputs equal the in-process run's.
Each shard is one Ray task: it deploys the target on its worker (so a Lava task starts its node's
own Lava runtime) and runs its samples. Ray runs a task again on another worker where its worker
dies (``max_retries``); a board actor counts each shard's starts, which is how the report knows
that a shard was retried, and collects each worker's progress for the driver's bar.

Ray is an optional extra: ``pip install 'nirdeploy[ray]'``.
"""

import functools
import logging
import os
import socket
import uuid
from typing import Optional

import torch

from .errors import InvalidArgumentError, NirdeployError, TargetError, spell
from .progress import forwarded, progress_bar

RETRIES = 3  # how often Ray runs a shard again after its worker died
BOARD = "nirdeploy-board-"  # a run's board is the named actor BOARD + a random suffix
WRITES_FILES = ("netx_path", "overwrite")  # options that write the deployment's files: the driver's job


def import_ray():
    try:
        import ray
    except ImportError:
        raise InvalidArgumentError(
            f"{spell('workers= and address=', '--workers and --address')} run the evaluation on Ray, which is not "
            "installed here: pip install 'nirdeploy[ray]'") from None
    return ray


def shards(samples: int, workers: int) -> list:
    """Contiguous [start, stop) sample ranges, as even as they can be, at most one per sample."""
    count = max(1, min(workers, samples))
    edges = [round(i * samples / count) for i in range(count + 1)]
    return list(zip(edges, edges[1:]))


class Board:
    """A Ray actor's state: per shard (run, index), how often it started, where, and its fraction done."""

    def __init__(self):
        self.starts, self.pids, self.done = {}, {}, {}

    def started(self, shard: tuple, pid: int) -> None:
        self.starts[shard] = self.starts.get(shard, 0) + 1
        self.pids[shard], self.done[shard] = pid, 0.0

    def advanced(self, shard: tuple, fraction: float) -> None:
        self.done[shard] = fraction

    def read(self) -> dict:
        return {"starts": dict(self.starts), "pids": dict(self.pids), "done": dict(self.done)}


def evaluate_shard(semantics, name: str, options: dict, inputs: tuple, shard: tuple, board) -> tuple:
    """(outputs tuple, layers) of ``inputs`` on run ``name``, deployed here; runs inside a Ray worker."""
    from .compare import as_tuple
    from .deploy import deploy_on
    from .targets import get_target

    board.started.remote(shard, os.getpid())
    with forwarded(lambda fraction: board.advanced.remote(shard, fraction)):
        try:
            deployment = deploy_on(get_target(name.partition("/")[0]), semantics, options)
            outputs, layers = deployment.run(*inputs, record=True, progress=True)
        except NirdeployError as error:
            raise type(error)(f"on Ray node {socket.gethostname()}: {error}") from None
    return as_tuple(outputs), layers


@functools.cache
def _remote(ray):
    return (ray.remote(num_cpus=1, max_retries=RETRIES)(evaluate_shard),
            ray.remote(num_cpus=0)(Board))


class Cluster:
    """Ray workers for sharded runs: a local Ray of ``workers`` CPUs, or the cluster at ``address``
    ('auto', 'ray://HOST:PORT'), whose CPU count is the number of shards unless ``workers`` is given.
    A Ray this process started is shut down on exit; one already running is left running."""

    def __init__(self, workers: Optional[int] = None, address: Optional[str] = None):
        if workers is not None and workers < 1:
            raise InvalidArgumentError(f"{spell('workers', '--workers')} must be 1 or more, not {workers}")
        self.ray, self.workers, self.address = import_ray(), workers, address
        self.retried = {}  # run name -> the shard indices Ray ran again
        self.ranges = []

    def __enter__(self):
        ray = self.ray
        self.started = not ray.is_initialized()
        if self.started:
            local = self.address is None
            # Ray's note that a local Ray enables token authentication (its default) is muted; its errors are not.
            note = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level, note.level = note.level, logging.ERROR
            try:
                ray.init(address=self.address, num_cpus=self.workers if local else None, include_dashboard=False,
                         log_to_driver=False, logging_level=logging.WARNING)
            finally:
                note.level = level
        if self.workers is None:
            self.workers = int(ray.cluster_resources().get("CPU", 1))
        self.task, board = _remote(ray)
        self.board = board.options(name=BOARD + uuid.uuid4().hex).remote()
        return self

    def __exit__(self, *exc):
        self.ray.kill(self.board)
        if self.started:
            self.ray.shutdown()

    def run(self, semantics, name: str, options: dict, inputs: tuple, progress: bool) -> tuple:
        """(outputs, layers) of ``inputs`` (``[T, B, ...]``) on run ``name``, samples sharded over the workers."""
        ray = self.ray
        self.ranges = shards(inputs[0].shape[1], self.workers)
        options = {k: v for k, v in options.items() if k not in WRITES_FILES}
        where = ray.put(semantics)
        pending = [self.task.remote(where, name, options, tuple(x[:, a:b].clone() for x in inputs), (name, i),
                                    self.board) for i, (a, b) in enumerate(self.ranges)]
        refs = list(pending)
        with progress_bar(label=f"{name} on {len(refs)} Ray workers", enabled=progress,
                          total=inputs[0].shape[1], unit="sample") as bar:
            while pending:
                _, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
                done = ray.get(self.board.read.remote())["done"]
                bar.update(round(sum((b - a) * done.get((name, i), 0.0)
                                     for i, (a, b) in enumerate(self.ranges))) - bar.n)
        results = [self._result(ref, name, i) for i, ref in enumerate(refs)]
        starts = ray.get(self.board.read.remote())["starts"]
        self.retried[name] = [i for i in range(len(refs)) if starts.get((name, i), 1) > 1]
        outputs = tuple(torch.cat(parts, dim=1) for parts in zip(*(out for out, _ in results)))
        layers = {layer: torch.cat([found[layer] for _, found in results], dim=1) for layer in results[0][1]}
        return outputs, layers

    def _result(self, ref, name: str, index: int):
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, NirdeployError):
                raise error.cause from None
            raise
        except self.ray.exceptions.RayError as error:
            raise TargetError(f"run {name}: shard {index} (samples {self.ranges[index][0]} to "
                              f"{self.ranges[index][1] - 1}) failed on Ray {RETRIES + 1} times: {error}") from None

    def record(self) -> dict:
        """What report.json says of the scale-out."""
        return {"workers": self.workers, "address": self.address or "local", "shards": [list(r) for r in self.ranges],
                "retried_shards": self.retried}
