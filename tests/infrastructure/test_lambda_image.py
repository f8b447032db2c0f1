"""The functions' container image as far as it can be checked without Docker: the Dockerfile's base
image, platform and install step; the build context `.dockerignore` leaves (read by the CDK's own
Docker ignore rules, the ones it stages the asset with); and that the handlers import without what
the image leaves out — the sandbox and every test or CDK tool. (test_stacks.py checks the staged
asset of a real synth.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from infrastructure.stacks.data_pipeline import DOCKERFILE

from avesa.runtime.aws.definitions import FUNCTIONS

REPO_ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT_OF_THE_IMAGE = ("avesa_sandbox", "pytest", "moto", "hypothesis", "playwright", "aws_cdk", "constructs",
                         "cdk_nag", "jsonschema", "starlette", "uvicorn", "jinja2", "pygal")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (REPO_ROOT / DOCKERFILE).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_image_is_the_x86_64_lambda_python_312_base_with_the_engine_and_its_aws_extra_only() -> None:
    steps = instructions()
    [base] = [args for word, args in steps if word == "FROM"]
    assert shlex.split(base) == ["--platform=linux/amd64", "public.ecr.aws/lambda/python:3.12"]
    assert not [word for word, _ in steps if word in ("CMD", "ENTRYPOINT")]  # the CDK sets each function's CMD
    [install] = [args for word, args in steps if word == "RUN"]
    pip = install.split("&&")[0]
    assert "pip install" in pip and '--target "${LAMBDA_TASK_ROOT}"' in pip
    extras = re.findall(r"\[([a-z,]+)\]", pip)
    assert extras == ["aws"]  # not cdk, not dev: no CDK, pytest, moto, playwright in the image
    assert "rm -rf /tmp/avesa-build" in install and "avesa-sandbox" not in pip  # the sandbox is its own package
    checked = re.search(r"for n in \(([^)]*)\)", install).group(1)
    assert set(re.findall(r"'(\w+)'", checked)) == {h.rsplit(".", 1)[-1] for h in FUNCTIONS.values()}
    for word, args in steps:
        if word == "COPY":
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (REPO_ROOT / source).exists(), source


@pytest.fixture(scope="module")
def ignored():
    from aws_cdk import IgnoreStrategy

    patterns = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    strategy = IgnoreStrategy.docker(str(REPO_ROOT), patterns)
    return lambda relative: strategy.ignores(str(REPO_ROOT / relative))


@pytest.mark.parametrize("path", ["tests", "tests/cli/test_aws_run.py", "benchmarks", "node_modules", ".venv",
                                  ".venv/bin/python", "cdk.out", ".git", ".git/config", "docs", "scripts",
                                  "infrastructure/app.py", "avesa.toml", "avesa-data",
                                  "src/avesa/__pycache__/settings.cpython-312.pyc", "src/avesa.egg-info",
                                  "packages/avesa-sandbox", "packages/avesa-sandbox/src/avesa_sandbox/server.py"])
def test_dockerignore_leaves_out_what_the_image_does_not_need(ignored, path: str) -> None:
    assert ignored(path)


@pytest.mark.parametrize("path", ["pyproject.toml", "README.md", "src", "src/avesa/runtime/aws/handlers.py",
                                  "src/avesa/runtime/aws/statemachines/pipeline_orchestrator.asl.json",
                                  "src/avesa/catalog", DOCKERFILE])
def test_dockerignore_keeps_what_the_dockerfile_copies(ignored, path: str) -> None:
    assert (REPO_ROOT / path).exists() and not ignored(path)


def test_the_handlers_import_without_the_sandbox_and_the_test_and_cdk_tools() -> None:
    """What the Dockerfile's own import check runs, with everything the image lacks made unimportable."""
    program = f"""
import importlib.abc, sys
BLOCKED = {LEFT_OUT_OF_THE_IMAGE!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is not in the image")
sys.meta_path.insert(0, Block())
import avesa.runtime.aws.handlers as h
for handler in {sorted(FUNCTIONS.values())!r}:
    assert callable(getattr(h, handler.rsplit(".", 1)[-1]))
print(sorted(m for m in sys.modules if m.startswith("avesa.")) and "ok")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env,
                            cwd=REPO_ROOT, check=False, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
