"""A write the machine refused — a full disk, a read-only mount, a folder this user may not write —
said as what a user can act on.

These are not bugs and not the data's fault: retrying cannot help until someone frees space or
points AVESA_HOME somewhere writable, so the message says exactly that and names the path. The
operating system reports them as an OSError (errno ENOSPC, EDQUOT, EACCES, EPERM, EROFS; pyarrow
puts the errno only in its message) and SQLite as its own result codes (SQLITE_FULL, SQLITE_READONLY,
SQLITE_CANTOPEN, SQLITE_IOERR), with no path: the caller says which file the state is in.
"""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from pathlib import Path

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_ALLOWED = (errno.EACCES, errno.EPERM)
_READ_ONLY = (errno.EROFS,)
_ERRNO_IN_TEXT = re.compile(r"\[errno (\d+)\]", re.IGNORECASE)

# SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14


def _errno_of(exc: OSError) -> int | None:
    if exc.errno is not None:
        return exc.errno
    match = _ERRNO_IN_TEXT.search(str(exc))  # pyarrow: "... Detail: [errno 28] No space left on device"
    return int(match.group(1)) if match else None


def _advice(code: int, path: str) -> str | None:
    if code in _NO_SPACE:
        return (f"no space left on the disk holding {path}: free some space there, or point AVESA_HOME (the "
                "lake: AVESA_LAKE_URL) at a disk with room; what was written before stays as it was")
    if code in _READ_ONLY:
        return f"cannot write {path}: its file system is read-only; point AVESA_HOME at a writable folder"
    if code in _NOT_ALLOWED:
        return (f"cannot use {path}: permission denied; make it readable and writable for this user, or point "
                "AVESA_HOME at a folder you can write")
    return None


def storage_problem(exc: BaseException, *, state_path: Path | None = None, where: str | None = None) -> str | None:
    """What to tell a user about `exc` if it is a refused write, else None (it is something else).

    `state_path` names the SQLite state file for SQLite's errors, which carry no path; `where` names
    the place for an OSError that does not say which file it was about."""
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) is not None:
        primary = exc.sqlite_errorcode & 0xFF
        path = str(state_path) if state_path is not None else "the state database in AVESA_HOME"
        if primary == _SQLITE_FULL:
            return _advice(errno.ENOSPC, path)
        if primary in (_SQLITE_READONLY, _SQLITE_PERM, _SQLITE_CANTOPEN):
            return (f"cannot write the state database {path} ({exc}): make it and its folder writable for "
                    "this user, or point AVESA_HOME at a folder you can write")
        if primary == _SQLITE_IOERR:
            return (f"the disk failed writing the state database {path} ({exc}): check that disk has room and "
                    "works, or point AVESA_HOME at another one")
        return None
    if isinstance(exc, OSError):
        code = _errno_of(exc)
        if code is None:
            return None
        named = exc.filename if exc.filename is not None else where
        return _advice(code, os.fsdecode(named) if named is not None else "the lake or AVESA_HOME")
    return None
