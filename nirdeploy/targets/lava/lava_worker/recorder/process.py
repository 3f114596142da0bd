from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess


class SpikeRecorder(AbstractProcess):
    """Keeps ``steps`` steps of its input ``(size,)`` and saves them as ``[steps, size]`` to ``path`` on the last
    step (reading a Var from outside costs ~14 us per element)."""

    def __init__(self, *, size: int, steps: int, path: str) -> None:
        super().__init__(size=size, steps=steps, path=path)
        self.a_in = InPort(shape=(size,))
