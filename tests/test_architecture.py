"""The package structure users and contributors rely on (docs/architecture.md).

`make test` also runs `lint-imports` (the layer and no-cycle contracts in pyproject.toml); these tests pin what
import-linter cannot see: first-party imports hidden inside functions, and what a wheel installs.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("a2bench", "metrics", "baselines", "animatex", "reports")  # the folders a2bench.* is made of


def _modules() -> list[Path]:
    return sorted(p for name in PACKAGES for p in (ROOT / name).rglob("*.py"))


def _function_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of each first-party import inside a function of ``path``."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [("." * node.level) + node.module] if node.level else [node.module]
            else:
                continue
            found += [(node.lineno, n) for n in names if n.split(".")[0] in ("a2bench", "") or n.startswith(".")]
    return found


def test_first_party_imports_inside_functions_are_deliberately_lazy() -> None:
    """An in-function import of a2bench hides a dependency from the layer contracts; it is allowed only for an
    optional heavy dependency, and the line says so (``# lazy: <why>``)."""
    hidden = []
    for path in _modules():
        lines = path.read_text().splitlines()
        for line, module in _function_imports(path):
            if "# lazy:" not in lines[line - 1]:
                hidden.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not hidden, "first-party imports inside functions without a '# lazy: <reason>' comment:\n" + "\n".join(
        hidden
    )


def test_the_compatibility_hook_is_installed_in_one_place() -> None:
    """Only ``a2bench/__init__.py`` installs the torchvision hook; nothing imports ``a2bench`` for its side effect."""
    offenders = []
    for folder in (*PACKAGES, "tests", "scripts", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            calls = [s for s in ast.parse(text).body if isinstance(s, ast.Expr) and "install_torchvision_hook" in
                     ast.unparse(s)]  # fmt: skip
            if calls and path != ROOT / "a2bench" / "__init__.py":
                offenders.append(str(path.relative_to(ROOT)))
            if any(line.strip().startswith("import a2bench  # noqa") for line in text.splitlines()):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.slow
def test_the_wheel_installs_only_the_a2bench_name(tmp_path: Path) -> None:
    """``pip install a2bench`` claims no generic top-level module (``metrics``, ``reports``, ``baselines``): the
    top-level folders are installed as ``a2bench.metrics`` etc., with their package data."""
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ and *.egg-info there
    skip = shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "docs", "scripts")
    shutil.copytree(ROOT, source, symlinks=True, ignore=skip)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp_path),
         str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("a2bench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"a2bench", wheel.name.split("-py3")[0] + ".dist-info"}
    for data in ("a2bench/baselines/templates/README.md", "a2bench/animatex/assets/animatex-tiny/config.json"):
        assert data in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # From an empty folder, with the unpacked wheel first on the path (the venv's site-packages stay, for numpy etc.)
    probe = (
        "import importlib.util, a2bench, a2bench.metrics, a2bench.reports, a2bench.baselines, a2bench.animatex\n"
        f"assert a2bench.__file__.startswith({str(site)!r}), a2bench.__file__\n"
        "print([n for n in ('metrics', 'reports', 'baselines', 'animatex') if importlib.util.find_spec(n)])\n"
    )
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
