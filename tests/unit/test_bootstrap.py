"""`make` finds Python 3.13 where an operator's machine has it, or says what to install.

Each case runs tools/python313 (and make) with a PATH that has no python3.13 on it: only
the system's /usr/bin and /bin, whose python3 may be any version.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIND = ROOT / "tools" / "python313"
# The interpreter behind this venv: a Python 3.13 that is not a virtual environment.
REAL_313 = os.path.realpath(sys.executable)


def bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No python3.13 on PATH, no pyenv, no uv-managed Pythons, no downloads."""
    assert sys.version_info[:2] == (3, 13)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYENV_ROOT": str(tmp_path / "no-pyenv"),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "no-uv-pythons"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
    }
    env.update(extra)
    return env


def find(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FIND), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def uv_binary() -> str:
    for candidate in (ROOT / ".tools" / "uv" / "bin" / "uv", Path(sys.prefix) / "bin" / "uv"):
        if candidate.exists():
            return str(candidate)
    pytest.skip("no uv bootstrapped")


def test_a_pyenv_build_is_found_without_python313_on_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "no-pyenv" / "versions" / "3.13.9" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3.13").symlink_to(REAL_313)
    found = find(bare_env(tmp_path))
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(bin_dir / "python3.13")


def test_python313_on_path_is_found_and_named_by_its_own_executable(
    tmp_path: Path,
) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python3.13").symlink_to(REAL_313)
    found = find(bare_env(tmp_path, PATH=f"{shims}:/usr/bin:/bin"))
    assert found.returncode == 0, found.stderr
    # sys.executable: for a pyenv shim (a script) the interpreter it runs, never the shim
    assert os.path.realpath(found.stdout.strip()) == REAL_313


def test_a_virtual_environment_is_not_taken_for_a_python(tmp_path: Path) -> None:
    # This venv's python is 3.13, but a venv is no base for the project's venv
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    (venv_bin / "python3.13").symlink_to(sys.executable)
    found = find(bare_env(tmp_path, PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin"))
    assert found.returncode == 1


def test_without_python313_one_line_says_what_to_install(tmp_path: Path) -> None:
    found = find(bare_env(tmp_path), uv_binary())
    assert found.returncode == 1
    assert found.stdout == ""
    [line] = found.stderr.splitlines()
    assert "needs Python 3.13" in line
    assert "pyenv install 3.13" in line
    assert "uv python install 3.13" in line
    assert "PYTHON313=" in line


def test_a_wrong_explicit_choice_is_named(tmp_path: Path) -> None:
    found = find(bare_env(tmp_path, PYTHON313="/usr/bin/false"))
    assert found.returncode == 1
    assert found.stderr.strip() == (
        "PYTHON313=/usr/bin/false does not run Python 3.13: point it at a python3.13, or unset it"
    )


def make_venv(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # -n: print what `make venv` would run after a lock-file change, run nothing
    return subprocess.run(
        ["make", "-n", "--no-print-directory", "-W", "uv.lock", ".venv/bin/python", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_uses_the_python_it_found(tmp_path: Path) -> None:
    bin_dir = tmp_path / "no-pyenv" / "versions" / "3.13.2" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python3.13").symlink_to(REAL_313)
    made = make_venv(bare_env(tmp_path))
    assert made.returncode == 0, made.stderr
    assert f"sync --frozen --python '{bin_dir / 'python3.13'}'" in made.stdout


def test_make_without_python313_stops_with_the_one_line(tmp_path: Path) -> None:
    # (make runs for real here: only where nothing is found, so nothing is synced)
    assert find(bare_env(tmp_path), uv_binary()).returncode == 1
    made = subprocess.run(
        ["make", "--no-print-directory", "-W", "uv.lock", ".venv/bin/python"],
        cwd=ROOT,
        env=bare_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode != 0
    assert "fleetpatch needs Python 3.13" in made.stderr
    assert "Traceback" not in made.stderr + made.stdout
