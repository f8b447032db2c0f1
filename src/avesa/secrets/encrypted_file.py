"""Credentials in one Fernet-encrypted JSON file (embedded mode).

The key comes from AVESA_SECRET_KEY or from a key file generated on first use with mode 0600
beside the secrets. An existing key file that other users can read (a copy restored with the wrong
mode, a umask-created file) is refused, naming the `chmod` that fixes it: whoever reads the key reads
every credential. Both files are written whole to a temporary file of their own and then put in
place, so a crash never leaves either half-written and two processes writing at once never write
into each other's temporary file; one a killed process left behind is removed by the next write.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from avesa.domain.errors import ConfigError, NotFoundError

STALE_TEMPORARY_SECONDS = 3600.0
"""A temporary file older than this was left by a writer that died: a write takes milliseconds."""


def _write_temporary(path: Path, data: bytes) -> str:
    """`data` in a new file beside `path` (mode 0600, on disk before it returns); its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files of `path` that a killed writer left (and the fixed-name one older versions used)."""
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for leftover in [*path.parent.glob(f".{path.name}.*.tmp"), path.with_suffix(".tmp")]:
        with contextlib.suppress(OSError):  # gone already, or another process's cleanup got there first
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()


def load_or_create_key(key_path: Path, key_from_env: str | None) -> bytes:
    if key_from_env:
        return key_from_env.encode()
    if key_path.exists():
        _refuse_if_shared(key_path)
        return key_path.read_bytes().strip()
    tmp = _write_temporary(key_path, Fernet.generate_key())
    try:
        os.link(tmp, key_path)  # appears whole or not at all, and never replaces a key another process made
    except FileExistsError:
        pass  # another process made it first: everyone uses that one
    finally:
        os.unlink(tmp)
    return key_path.read_bytes().strip()


def _refuse_if_shared(key_path: Path) -> None:
    """A key file group or others may read (or write) is a ConfigError with the fix."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"the secret key {key_path} is open to other users (mode {mode:04o}): make it private "
                          f"with `chmod 600 {key_path}`")


class EncryptedFileSecretStore:
    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "the secret key is not a valid Fernet key (AVESA_SECRET_KEY or the key file): "
                "use a urlsafe base64 32-byte key, e.g. from `python -c 'from cryptography.fernet import "
                "Fernet; print(Fernet.generate_key().decode())'`"
            ) from exc
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            return json.loads(self._fernet.decrypt(self.path.read_bytes()))
        except InvalidToken as exc:
            raise ConfigError(
                f"cannot decrypt {self.path}: the secret key does not match the one the file was written with "
                "(check AVESA_SECRET_KEY or the key file beside it)"
            ) from exc

    def _write(self, data: dict[str, dict[str, str]]) -> None:
        tmp = _write_temporary(self.path, self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()))
        try:
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _remove_stale_temporaries(self.path)

    def put(self, ref: str, values: dict[str, str]) -> None:
        with self._lock:
            data = self._read()
            data[ref] = dict(values)
            self._write(data)

    def put_many(self, values: dict[str, dict[str, str]]) -> None:
        """Every reference in one write of the file: all of them, or (the write failing) none."""
        with self._lock:
            data = self._read()
            data.update({ref: dict(v) for ref, v in values.items()})
            self._write(data)

    def get(self, ref: str) -> dict[str, str]:
        data = self._read()
        if ref not in data:
            raise NotFoundError("secret", ref, list(data), "Run `avesa service add` to store credentials")
        return data[ref]

    def delete(self, ref: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(ref, None) is not None:
                self._write(data)

    def refs(self) -> list[str]:
        return sorted(self._read())
