"""Writing the files nirdeploy exports so that an interrupted write never leaves a file behind.

A writer that stops midway (an exception, Ctrl-C, a full disk) can leave a
truncated file that still opens: h5py closes an HDF5 file cleanly on an
exception, so a half-written ``.nir`` or ``.net`` would read as a smaller
graph. Every export therefore writes a hidden file beside the final one and
renames it into place only once it is complete.
"""

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union


def file_stem(name: str) -> str:
    """A run name ('xylo:syns65302/float') as a file or folder name that every shell and file system takes."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


@contextmanager
def atomic_path(path: Union[str, Path]) -> Iterator[Path]:
    """A temporary path in ``path``'s folder to write to: when the block ends normally it replaces ``path``
    (``os.replace``, atomic on one file system), when it raises anything (KeyboardInterrupt too) it is
    removed, so ``path`` is either untouched or the complete new file."""
    path = Path(path)
    # The writer creates the file itself, so it gets the permissions any file written there gets; the suffix
    # stays last for writers that choose the format by it (matplotlib).
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.partial{path.suffix}")
    try:
        yield temporary
        _flush_to_disk(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _flush_to_disk(path: Path) -> None:
    """Without it, a power cut soon after the rename can leave the new name pointing at unwritten blocks."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
