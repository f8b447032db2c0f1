"""Credentials in one Fernet-encrypted JSON file (embedded mode).

The key comes from AVESA_SECRET_KEY or from a key file generated on first use with mode 0600
beside the secrets. An existing key file that other users can read (a copy restored with the wrong
mode, a umask-created file) is refused, naming the `chmod` that fixes it: whoever reads the key reads
every credential. The file is replaced atomically, so a crash never leaves it half-written.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from avesa.domain.errors import ConfigError, NotFoundError


def load_or_create_key(key_path: Path, key_from_env: str | None) -> bytes:
    if key_from_env:
        return key_from_env.encode()
    if key_path.exists():
        _refuse_if_shared(key_path)
        return key_path.read_bytes().strip()
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._fernet.encrypt(json.dumps(data, sort_keys=True).encode()))
        os.replace(tmp, self.path)

    def put(self, ref: str, values: dict[str, str]) -> None:
        with self._lock:
            data = self._read()
            data[ref] = dict(values)
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
