"""The dependency check that scripts/test.sh runs (deptry) fails on any undeclared import.

For every package in requirements.txt, a copy of the project without that one line must fail the
check, naming the package's module; the project as it is must pass. The check is the real deptry
over a copy of the real sources, with the project's own configuration.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ["soundkit", "soundkit_app", "pages", "streamlit_app.py"]


def requirement_lines() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def project_copy(dest: Path, *, without: str | None = None) -> Path:
    dest.mkdir()
    (dest / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    kept = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln != without]
    (dest / "requirements.txt").write_text("\n".join(kept) + "\n")
    for extra in ROOT.glob("requirements-*.txt"):  # the optional extras pyproject.toml names
        shutil.copy(extra, dest / extra.name)
    for name in CODE:  # copies: deptry does not follow links
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, dest / name)
    return dest


def deptry(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deptry", ".", "--no-ansi"], cwd=project, capture_output=True,
                          text=True, timeout=300)


def module_of(requirement: str) -> str:
    """The import name deptry reports for a requirement line (from pyproject's name map, else the name)."""
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
    mapping = dict(re.findall(r'^([a-z0-9_.-]+) = "([A-Za-z0-9_]+)"$', (ROOT / "pyproject.toml").read_text(), re.M))
    return mapping.get(name, name.replace("-", "_"))


def test_the_project_as_it_is_passes(tmp_path):
    proc = deptry(project_copy(tmp_path / "p"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("line", [ln for ln in requirement_lines() if not ln.startswith("tensorflow-cpu")])
def test_dropping_a_requirement_fails_the_check_naming_it(line, tmp_path):
    proc = deptry(project_copy(tmp_path / "p", without=line))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"deptry passed without {line!r}:\n{out}"
    # DEP001 (missing) where nothing else brings the package in, DEP003 (transitive) where another does
    assert re.search(rf"DEP00[13] '{re.escape(module_of(line))}' imported but", out), out
