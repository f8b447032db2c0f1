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


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_other_users_can_open_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret.key"
    load_or_create_key(path, None)
    path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        load_or_create_key(path, None)
    message = str(refused.value)
    assert f"chmod 600 {path}" in message and f"{mode:04o}" in message and "\n" not in message
    path.chmod(0o600)
    assert load_or_create_key(path, None)
    path.chmod(0o400)  # read-only for its owner is private too
    assert load_or_create_key(path, None)


def test_avesa_refuses_a_world_readable_key_with_exit_2(avesa_home: Path) -> None:
    from typer.testing import CliRunner

    from avesa.cli.app import app

    runner = CliRunner()
    assert runner.invoke(app, ["tenant", "add", "acme", "--company-name", "Acme"]).exit_code == 0
    key = avesa_home / "secret.key"
    key.chmod(0o644)
    result = runner.invoke(app, ["tenant", "list"])
    assert result.exit_code == 2, result.output
    assert f"chmod 600 {key}" in result.output and "Traceback" not in result.output


def test_two_processes_writing_at_once_never_break_the_file_or_leave_temporaries(tmp_path: Path) -> None:
    import threading

    key = load_or_create_key(tmp_path / "secret.key", None)
    stores = [EncryptedFileSecretStore(tmp_path / "secrets.enc", key) for _ in range(2)]  # one per process
    start, errors = threading.Barrier(len(stores)), []

    def write(store: EncryptedFileSecretStore, n: int) -> None:
        start.wait()
        try:
            for i in range(50):
                store.put(f"avesa/t{n}/s{i}", {"password": "x"})
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(store, n)) for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stores[0].refs()  # decrypts: never half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.key", "secrets.enc"]


def test_a_temporary_file_a_killed_write_left_is_removed_by_the_next_write(tmp_path: Path) -> None:
    store = EncryptedFileSecretStore(tmp_path / "secrets.enc", load_or_create_key(tmp_path / "secret.key", None))
    store.put("avesa/acme/connectwise", {"private_key": "a"})
    leftover = tmp_path / ".secrets.enc.k1ll3d.tmp"
    leftover.write_bytes(b"half a secrets file")
    os.utime(leftover, (0, 0))
    store.put("avesa/acme/connectwise", {"private_key": "b"})
    assert not leftover.exists()
    assert store.get("avesa/acme/connectwise") == {"private_key": "b"}


def test_processes_making_the_key_at_once_all_get_the_one_key_on_disk(tmp_path: Path) -> None:
    import threading

    results: list[bytes] = []
    errors: list[Exception] = []
    for attempt in range(10):
        path = tmp_path / f"attempt-{attempt}" / "secret.key"
        start = threading.Barrier(8)

        def make(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                results.append(load_or_create_key(path, None))
            except OSError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=make) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert set(results) == {path.read_bytes()}
        Fernet(path.read_bytes())  # a whole key
        assert [p.name for p in path.parent.iterdir()] == ["secret.key"]
        results.clear()
