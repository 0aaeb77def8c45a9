"""Fail when a hand-written Python source file is over the line limit (make lint).

A file over 600 lines holds more than one job; split it by job rather than raise the limit.
The limit covers every tracked ``*.py`` file: product, CLI, local cloud, tests, benchmarks
and tools. Declarative definitions (template.yaml, the ASL, policy files) are not Python
source and are checked by their own linters; generated files are not ``*.py``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

LIMIT = 600


# Never sources of ours: virtual environments, tool installs, build and test output.
SKIPPED_DIRS = frozenset({".venv", ".tools", ".aws-sam", "out", "node_modules", "__pycache__"})


def tracked_sources(root: Path) -> list[Path]:
    """The ``*.py`` files git tracks (or would: untracked, not ignored) under root.

    Outside a git work tree (a source archive), every ``*.py`` file outside hidden folders
    and :data:`SKIPPED_DIRS`.
    """
    git = shutil.which("git")
    if git is not None:
        listed = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [git, "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
            cwd=root,
            check=False,
            capture_output=True,
            text=True,
        )
        if listed.returncode == 0:
            return [root / name for name in listed.stdout.split() if (root / name).is_file()]
    return sorted(
        path
        for path in root.rglob("*.py")
        if not any(
            part in SKIPPED_DIRS or part.startswith(".")
            for part in path.relative_to(root).parts[:-1]
        )
    )


def oversize(files: list[Path], limit: int = LIMIT) -> list[tuple[Path, int]]:
    found = []
    for path in files:
        with path.open("rb") as handle:
            lines = sum(1 for _ in handle)
        if lines > limit:
            found.append((path, lines))
    return sorted(found, key=lambda item: -item[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files to check (default: the repo)")
    parser.add_argument("--limit", type=int, default=LIMIT)
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    files = args.paths or tracked_sources(root)
    found = oversize(files, args.limit)
    for path, lines in found:
        print(f"{path}: {lines} lines (limit {args.limit}): split it by job", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
