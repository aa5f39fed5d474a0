"""The installed package, as a user gets it from ``pip install .``: the ``soundkit`` command and the
README's library snippet work from any folder, with no PYTHONPATH and away from this checkout.

scripts/test.sh installs the project into a new virtualenv before running the tests, so these run
in CI; in an environment without the installed command they skip with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from synth import tone, write_wav
from tiny_run import make_run

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMAND = BIN / "soundkit"

pytestmark = pytest.mark.skipif(not COMMAND.exists(), reason=f"no installed soundkit command beside {sys.executable} "
                                "(scripts/test.sh installs the project with pip install .)")


def outside(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run from ``cwd`` with no PYTHONPATH, so only the installed package can be found."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SOUNDKIT_DEBUG")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def subcommands() -> list[str]:
    from soundkit.cli import COMMANDS

    return list(COMMANDS)


def test_the_installed_package_is_not_this_checkout(tmp_path):
    proc = outside(sys.executable, "-c", "import soundkit, sys; print(soundkit.__file__)", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    where = Path(proc.stdout.strip()).resolve()
    if ROOT in where.parents:
        pytest.skip("soundkit is installed in editable mode (it is this checkout)")
    # every module of the checkout's package was installed (pip install . finds every subpackage)
    installed = where.parent
    mine = sorted(str(p.relative_to(ROOT / "soundkit")) for p in (ROOT / "soundkit").rglob("*.py"))
    missing = [m for m in mine if not (installed / m).is_file()]
    assert not missing, f"pip install . left out {missing}"


def test_version_and_every_subcommand_help_from_any_folder(tmp_path):
    from soundkit import __version__

    proc = outside(str(COMMAND), "--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"soundkit {__version__}", proc.stderr
    names = subcommands()
    assert {"train", "predict", "cv", "import", "download", "augment"} <= set(names)
    for name in names:
        proc = outside(str(COMMAND), name, "--help", cwd=tmp_path)
        assert proc.returncode == 0, f"soundkit {name} --help: {proc.stderr[-2000:]}"
        assert proc.stdout.startswith(f"usage: soundkit {name}"), proc.stdout[:200]
        assert "Traceback" not in proc.stderr


def test_a_bad_command_line_is_one_error_line(tmp_path):
    proc = outside(str(COMMAND), "predict", str(tmp_path / "no-run"), str(tmp_path / "no.wav"), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr


def test_the_readme_library_snippet_runs_from_any_folder(tmp_path):
    snippet = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert "Predictor.load" in snippet
    paths = re.findall(r'"([^"]+)"', snippet)  # the files it names: an audio file and a run directory
    audio_files = [p for p in paths if Path(p).suffix in (".wav", ".ogg", ".flac")]
    runs = [p for p in paths if p.startswith("runs/")]
    assert audio_files and runs, paths
    for name in audio_files:
        write_wav(tmp_path / name, tone(300.0, 1.5, 22050), 22050)  # a low tone
    make_run(tmp_path / runs[0])
    proc = outside(sys.executable, "-c", snippet, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "low" in proc.stdout  # the tiny run's verdict on a low tone
