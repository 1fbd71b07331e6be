"""The layering holds: import-linter's contracts (.importlinter) are kept, and project modules
are imported inside functions only where a comment says why (a lazy import hides a dependency
from the linter and from the reader)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "core",
    "fleet",
    "traffic",
    "reboots",
    "cadence",
    "reports",
    "metrics",
    "api",
    "lab",
    "config",
)


def _explained(lines: list[str], index: int, import_lines: set[int]) -> bool:
    """A comment on the import, or just above it or the run of imports it belongs to."""
    if "#" in lines[index]:
        return True
    while index > 0:
        index -= 1
        if lines[index].strip().startswith("#"):
            return True
        if index not in import_lines:
            return False
    return False


def _inner_imports(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines), str(path))
    import_lines = {
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for line in range(node.lineno - 1, (node.end_lineno or node.lineno))
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                module = inner.module
            elif isinstance(inner, ast.Import):
                module = inner.names[0].name
            else:
                continue
            if module.split(".")[0] not in PACKAGES:
                continue
            if not _explained(lines, inner.lineno - 1, import_lines):
                found.append((inner.lineno, module))
    return sorted(set(found))


def test_project_modules_are_imported_inside_functions_only_with_a_reason():
    unexplained = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for line, module in _inner_imports(path)
    ]
    assert unexplained == []


def test_the_import_contracts_are_kept():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_check_tells_an_explained_lazy_import_from_a_bare_one(tmp_path):
    module = tmp_path / "example.py"
    module.write_text(
        "def bare():\n"
        "    from fleet.models import Host\n"
        "\n"
        "\n"
        "def explained():\n"
        "    # Loaded late: the models are not ready when this module is imported.\n"
        "    from fleet import (\n"
        "        audit,\n"
        "    )\n"
        "    from reboots import engine\n"
    )
    assert _inner_imports(module) == [(2, "fleet.models")]
