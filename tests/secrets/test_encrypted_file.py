import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from avesa.domain.errors import ConfigError, NotFoundError
from avesa.secrets.encrypted_file import EncryptedFileSecretStore, load_or_create_key


def test_round_trip_and_nothing_in_clear(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "secret.key", None)
    store = EncryptedFileSecretStore(tmp_path / "secrets.enc", key)
    store.put("avesa/acme/connectwise", {"private_key": "s3cr3t-value"})
    assert store.get("avesa/acme/connectwise") == {"private_key": "s3cr3t-value"}
    assert b"s3cr3t-value" not in (tmp_path / "secrets.enc").read_bytes()
    assert stat.S_IMODE(os.stat(tmp_path / "secret.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "secrets.enc").st_mode) == 0o600
    # the same key file is reused, not regenerated
    assert load_or_create_key(tmp_path / "secret.key", None) == key
    store.delete("avesa/acme/connectwise")
    with pytest.raises(NotFoundError):
        store.get("avesa/acme/connectwise")


def test_key_from_environment_and_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    EncryptedFileSecretStore(tmp_path / "s.enc", key).put("r", {"a": "b"})
    other = EncryptedFileSecretStore(tmp_path / "s.enc", Fernet.generate_key())
    with pytest.raises(ConfigError, match="does not match"):
        other.get("r")
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        EncryptedFileSecretStore(tmp_path / "s.enc", b"short")
