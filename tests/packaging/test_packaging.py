"""The systemd unit and the container, as far as this machine can check them: the unit parsed and
verified by `systemd-analyze verify`; the Dockerfile and compose file read, and the container's
entry point and health check run as processes — the same command line the image runs — up to a
SIGTERM that ends it cleanly. (There is no Docker daemon here to build the image itself.)"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read(PACKAGING / "avesa.service")
    return parser


def _unit_environment(unit: configparser.ConfigParser) -> dict[str, str]:
    # configparser keeps the last of repeated keys: read Environment= lines from the file itself
    text = (PACKAGING / "avesa.service").read_text()
    return dict(line.split("=", 2)[1:] for line in text.splitlines() if line.startswith("Environment="))


def test_the_unit_runs_serve_stops_it_with_sigterm_and_waits_longer_than_it_drains() -> None:
    unit = _unit()
    service = unit["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "avesa" and command[1] == "serve"
    assert command[command.index("--host") + 1] == "127.0.0.1", "loopback unless the operator says otherwise"
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    environment = _unit_environment(unit)
    assert environment["AVESA_HOME"] == service["WorkingDirectory"] == "/var/lib/avesa"
    drain = float(environment["AVESA_STOP_TIMEOUT_SECONDS"])
    assert int(service["TimeoutStopSec"]) > drain, "systemd must not kill avesa while its chunks land their files"
    assert service["ReadWritePaths"] == environment["AVESA_HOME"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this installation's avesa
    avesa = Path(sys.executable).with_name("avesa")
    assert avesa.exists()
    text = (PACKAGING / "avesa.service").read_text().replace("/opt/avesa/venv/bin/avesa", str(avesa))
    copy = tmp_path / "avesa.service"
    copy.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert str(copy) not in result.stderr and "avesa.service" not in result.stderr, result.stderr


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of packaging/Dockerfile, continuation lines joined."""
    text = (PACKAGING / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.MULTILINE)]


def _instruction(name: str) -> list[str]:
    return [args for instruction, args in _dockerfile() if instruction == name]


def _image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for args in _instruction("ENV"):
        environment.update(part.split("=", 1) for part in shlex.split(args))
    return environment


def _compose() -> dict:
    return yaml.safe_load((PACKAGING / "compose.yaml").read_text())["services"]["avesa"]


def test_the_image_keeps_avesa_home_on_its_volume_and_compose_mounts_one_there() -> None:
    environment = _image_environment()
    [volume] = _instruction("VOLUME")
    assert json.loads(volume) == [environment["AVESA_HOME"]] == ["/data"]
    assert _instruction("STOPSIGNAL") == ["SIGTERM"]
    assert json.loads(_instruction("ENTRYPOINT")[0]) == ["avesa"]
    assert json.loads(_instruction("CMD")[0])[0] == "serve"
    compose = _compose()
    assert compose["environment"]["AVESA_HOME"] == "/data"
    mounted = {mount.split(":")[1]: mount.split(":")[0] for mount in compose["volumes"]}
    assert mounted["/data"] == "avesa-home"
    assert "avesa-home" in yaml.safe_load((PACKAGING / "compose.yaml").read_text())["volumes"]
    assert compose["stop_signal"] == "SIGTERM"
    grace = int(compose["stop_grace_period"].removesuffix("s"))
    assert grace > float(compose["environment"]["AVESA_STOP_TIMEOUT_SECONDS"])
    assert compose["hostname"], "a fixed host name lets a recreated container resume its own runs"
    assert all(port.startswith("127.0.0.1:") for port in compose["ports"])
    assert compose["build"]["dockerfile"] == "packaging/Dockerfile"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _program(name: str) -> list[str]:
    """A program of the image's command line as this installation has it."""
    installed = Path(sys.executable).with_name(name)
    if name == "avesa":
        return [str(installed)] if installed.exists() else [sys.executable, "-m", "avesa"]
    return [sys.executable] if name == "python" else [name]


@pytest.mark.slow
def test_the_containers_entry_point_serves_passes_its_health_check_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    entrypoint, command = json.loads(_instruction("ENTRYPOINT")[0]), json.loads(_instruction("CMD")[0])
    argv = _program(entrypoint[0]) + entrypoint[1:] + [str(port) if arg == "8080" else arg for arg in command]
    home = tmp_path / "data"  # the volume: the image makes /data (and a mounted volume exists), so avesa finds it
    home.mkdir()
    environment = {**_image_environment(), **{k: str(v) for k, v in _compose()["environment"].items()}}
    assert environment["AVESA_HOME"] == "/data"
    env = {**os.environ, **environment, "AVESA_HOME": str(home)}
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError("the entry point never answered /healthz")
        health = _instruction("HEALTHCHECK")[0]
        check = json.loads(health[health.index("CMD") + 3:].strip())
        check = _program(check[0]) + [arg.replace(":8080/", f":{port}/") for arg in check[1:]]
        assert subprocess.run(check, timeout=30, check=False).returncode == 0
        assert (home / "state.sqlite3").exists() and (home / "logs" / "avesa.jsonl").exists()
        assert "avesa_runs_started_total" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=int(_compose()["stop_grace_period"].removesuffix("s")))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, out
    assert "stopped; interrupted runs resume at the next start" in out


@pytest.mark.parametrize("dockerfile", ["packaging/Dockerfile", "infrastructure/lambda/Dockerfile"])
def test_both_images_copy_every_file_the_package_build_reads(dockerfile: str) -> None:
    """`pip install .` in an image reads pyproject.toml's readme and license files: a Dockerfile that
    does not copy one fails to build (no Docker daemon here to find out the slow way)."""
    import tomllib

    root = PACKAGING.parent
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", project["readme"], *project.get("license-files", [])}
    copied = set()
    for line in (root / dockerfile).read_text().splitlines():
        if line.startswith("COPY "):
            copied.update(Path(source).name for source in shlex.split(line)[1:-1])
    assert needed <= copied, f"{dockerfile} does not copy {sorted(needed - copied)}"
