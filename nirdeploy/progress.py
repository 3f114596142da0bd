"""Progress bars for the phases a user waits on (training, each target's run, Lava's samples).

One library (tqdm) and one place: every bar is labelled in words a user knows, written to stderr,
kept on screen when done, and shown only where ``enabled`` (the command line enables it on a TTY).
"""

from typing import Iterable, Optional

from tqdm import tqdm


def progress_bar(iterable: Optional[Iterable] = None, *, label: str, enabled: bool, total: Optional[int] = None,
                 unit: str = "step") -> tqdm:
    return tqdm(iterable, total=total, desc=label, unit=unit, disable=not enabled, leave=True, dynamic_ncols=True)
