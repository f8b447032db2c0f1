"""The sandbox is a distribution of its own (packages/avesa-sandbox) and the HTTP side an extra
(`avesa[web]`): the sandbox imports nothing of the engine, the engine's wheel (and so its Lambda
image) carries neither, and the commands that need one say how to install it when it is missing
instead of failing on an import."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "packages" / "avesa-sandbox"
ENGINE = REPO / "src" / "avesa"


def _imported_modules(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node))
    return found


def _loaded_with_the_module(body: list[ast.stmt]) -> list[str]:
    """The modules a body imports when it runs: its import statements and those of its `if` and
    `try` blocks, not those inside functions or classes, nor under `if TYPE_CHECKING:`."""
    names = []
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            names += [name for name, _ in _imported_modules(statement)]
        elif isinstance(statement, ast.If) and ast.unparse(statement.test) != "TYPE_CHECKING":
            names += _loaded_with_the_module(statement.body) + _loaded_with_the_module(statement.orelse)
        elif isinstance(statement, ast.Try):
            names += _loaded_with_the_module(statement.body)
            for handler in statement.handlers:
                names += _loaded_with_the_module(handler.body)
    return names


def test_the_sandbox_imports_nothing_of_the_engine() -> None:
    offending = [f"{path.relative_to(SANDBOX)}: {name}"
                 for path in sorted((SANDBOX / "src" / "avesa_sandbox").rglob("*.py"))
                 for name, _ in _imported_modules(ast.parse(path.read_text()))
                 if name == "avesa" or name.startswith("avesa.")]
    assert offending == []


def test_the_engine_imports_the_sandbox_only_inside_the_commands_that_run_it() -> None:
    """No module of the engine imports the sandbox when it is loaded (a top-level import outside
    `if TYPE_CHECKING:`): the engine loads, and its handlers run, without the package."""
    offending = [f"{path.relative_to(REPO)}: {name}" for path in sorted(ENGINE.rglob("*.py"))
                 for name in _loaded_with_the_module(ast.parse(path.read_text()).body)
                 if name.split(".")[0] == "avesa_sandbox"]
    assert offending == []


BLOCK = """
import importlib.abc, sys
BLOCKED = sys.argv.pop(1).split(",")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{name} is not installed")
sys.meta_path.insert(0, Block())
from avesa.cli.app import main
sys.argv = ["avesa", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(("blocked", "command", "says"), [
    ("avesa_sandbox", ["demo"], "avesa-sandbox is not installed: pip install avesa-sandbox"),
    ("avesa_sandbox", ["sandbox", "serve", "--port", "0"], "avesa-sandbox is not installed: pip install avesa-sandbox"),
    ("starlette,uvicorn", ["serve", "--port", "0"],
     ("`avesa serve` serves HTTP, which needs the web extra (starlette, uvicorn not installed): "
     "pip install 'avesa[web]'")),
    ("pygal", ["dashboard", "--port", "0"], "needs the web extra (pygal not installed): pip install 'avesa[web]'"),
])
def test_a_command_that_needs_an_optional_part_says_how_to_install_it(
        blocked: str, command: list[str], says: str, tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    env = {**os.environ, "AVESA_HOME": str(tmp_path / "home"), "AVESA_CONFIG": str(tmp_path / "none.toml")}
    done = subprocess.run([sys.executable, "-c", BLOCK, blocked, *command], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and says in " ".join(done.stderr.split())
    assert not any((tmp_path / "home").iterdir())  # refused before anything was made


def test_the_engine_loads_without_the_web_extra() -> None:
    """The CLI, the pipeline and the Lambda handlers import with starlette, uvicorn, jinja2 and pygal
    unimportable: only `serve` and `dashboard` need them, when they run."""
    program = BLOCK.replace("from avesa.cli.app import main\nsys.argv = [\"avesa\", *sys.argv[1:]]\nmain()\n", "") + (
        "import avesa.cli.app, avesa.pipeline.units, avesa.runtime.aws.handlers, avesa.alerts.incidents\n"
        "print('loaded')\n")
    done = subprocess.run([sys.executable, "-c", program, "starlette,uvicorn,jinja2,pygal"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "loaded", done.stderr[-2000:]


def _wheel(project: Path, out: Path) -> zipfile.ZipFile:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
                    str(project)], check=True, timeout=600, capture_output=True)
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheels_keep_engine_and_sandbox_apart(tmp_path: Path) -> None:
    engine_wheel = _wheel(REPO, tmp_path / "engine")
    engine = engine_wheel.namelist()
    assert not [name for name in engine if "sandbox" in name.split("/")[0] or "/sandbox/" in name]
    assert "avesa/catalog/services/connectwise.json" in engine and "avesa/py.typed" in engine
    [metadata] = [name for name in engine if name.endswith(".dist-info/METADATA")]
    engine_requires = [line for line in engine_wheel.read(metadata).decode().splitlines()
                       if line.startswith("Requires-Dist")]
    for web in ("starlette", "uvicorn", "jinja2", "pygal"):  # only with the web extra
        [line] = [line for line in engine_requires if line.split()[1].startswith(web)]
        assert "extra == \"web\"" in line, line

    sandbox = _wheel(SANDBOX, tmp_path / "sandbox")
    names = sandbox.namelist()
    assert {"avesa_sandbox/__init__.py", "avesa_sandbox/py.typed",
            "avesa_sandbox/connectwise/openapi-2025.8-subset.json",
            "avesa_sandbox/servicenow/tables-subset.json"} <= set(names)
    assert not [name for name in names if name.startswith("avesa/")]
    [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
    requires = [line for line in sandbox.read(metadata).decode().splitlines() if line.startswith("Requires-Dist")]
    assert requires and not [line for line in requires if line.split()[1].startswith("avesa")]
