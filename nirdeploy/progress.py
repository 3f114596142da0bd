"""Progress bars for the phases a user waits on (training, each target's run, Lava's samples).

One library (tqdm) and one place: every bar is labelled in words a user knows, written to stderr,
kept on screen when done, and shown only where ``enabled`` (the command line enables it on a TTY).
In a scale-out worker (:func:`forwarded`) the bars draw nothing and send their fraction done to the
driver instead, which shows one bar per target over every worker's samples.
"""

import contextlib
import os
from typing import Callable, Iterable, Optional

from tqdm import tqdm

_forward: list = []  # while forwarded(): (the callable that receives each bar's fraction done, os.devnull)


class _Bar(tqdm):
    def update(self, n=1):
        shown = super().update(n)
        self._forward()
        return shown

    def close(self):
        self._forward()
        super().close()

    def _forward(self) -> None:
        if _forward and self.total:
            _forward[-1][0](min(self.n / self.total, 1.0))


def progress_bar(iterable: Optional[Iterable] = None, *, label: str, enabled: bool, total: Optional[int] = None,
                 unit: str = "step") -> tqdm:
    if _forward:
        return _Bar(iterable, total=total, desc=label, unit=unit, file=_forward[-1][1], mininterval=0.5)
    return _Bar(iterable, total=total, desc=label, unit=unit, disable=not enabled, leave=True, dynamic_ncols=True)


@contextlib.contextmanager
def forwarded(report: Callable[[float], None]):
    """Bars made inside draw nothing and call ``report(fraction done)`` as they advance."""
    with open(os.devnull, "w") as nowhere:
        _forward.append((report, nowhere))
        try:
            yield
        finally:
            _forward.pop()
