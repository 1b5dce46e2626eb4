"""Writing files so that a crash, a kill or a full disk never leaves a half-written one behind."""
from __future__ import annotations

import contextlib
import errno
import os
import secrets

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.ENOENT: "the folder does not exist",
    errno.EACCES: "permission denied",
    errno.EROFS: "the disk is read-only",
}


class AtomicWriteError(OSError):
    """Writing failed; the destination, if it existed, is unchanged and no temporary file is left."""


def _write_error(target: str, err: OSError) -> AtomicWriteError:
    reason = _REASONS.get(err.errno) or err.strerror or str(err)
    error = AtomicWriteError(f'could not write "{target}": {reason}; nothing was overwritten')
    error.errno = err.errno
    return error


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = True) -> None:
    """Write ``data`` to ``path``: the target ends up as the old file or the complete new one.

    The data goes to a temporary file in the target's folder, is synced, and is renamed over the
    target. ``overwrite=False`` is checked before writing, not atomically.

    Raises:
        FileExistsError: ``overwrite`` is False and ``path`` exists.
        AtomicWriteError: writing failed (full disk, no permission, missing folder).
    """
    target = os.fsdecode(path)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, f'"{target}" exists; choose another name or allow overwriting')
    folder, name = os.path.split(os.path.abspath(target))
    temp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        # os.open rather than mkstemp: mkstemp's 0600 mode would replace the usual umask-based one.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise _write_error(target, err) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as err:
        _remove_quietly(temp)
        raise _write_error(target, err) from err
    except BaseException:
        _remove_quietly(temp)
        raise
