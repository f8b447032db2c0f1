"""asl-validator (npm, installed by `make test`'s `npm ci`) on every state machine file: it catches
what moto accepts silently (unreachable states, missing targets, bad paths)."""

from __future__ import annotations

import subprocess
from importlib import resources

import pytest

from tests.infrastructure.conftest import REPO_ROOT

VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"
FILES = sorted(p.name for p in resources.files("avesa.runtime.aws.statemachines").iterdir()
               if p.name.endswith(".asl.json"))


def test_the_three_state_machines_are_there():
    assert len(FILES) >= 3


@pytest.mark.skipif(not VALIDATOR.exists(), reason="node_modules missing: run `npm ci` (make test does)")
@pytest.mark.parametrize("name", FILES)
def test_every_asl_file_is_valid_amazon_states_language(name):
    path = resources.files("avesa.runtime.aws.statemachines").joinpath(name)
    result = subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
