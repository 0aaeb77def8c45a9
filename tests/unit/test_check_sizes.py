"""tools/check_sizes.py: `make lint` refuses a Python source file over 600 lines."""

from __future__ import annotations

from pathlib import Path

from tools import check_sizes


def test_a_file_at_the_limit_passes_and_one_line_more_fails(tmp_path: Path) -> None:
    # Given a file of exactly 600 lines and one of 601
    at_limit = tmp_path / "at_limit.py"
    at_limit.write_text("x = 1\n" * 600)
    over = tmp_path / "over.py"
    over.write_text("x = 1\n" * 601)

    # Then only the longer one is refused, with its size
    assert check_sizes.oversize([at_limit, over]) == [(over, 601)]
    assert check_sizes.main([str(at_limit)]) == 0
    assert check_sizes.main([str(at_limit), str(over)]) == 1


def test_the_repository_is_listed_from_git() -> None:
    # The check covers the tracked sources, this file among them.
    root = Path(__file__).resolve().parents[2]
    listed = check_sizes.tracked_sources(root)
    assert Path(__file__).resolve() in listed
    assert all(path.suffix == ".py" for path in listed)


def test_outside_a_git_work_tree_the_folder_is_walked(tmp_path: Path) -> None:
    # Given a source tree that is not a git work tree, with a venv and hidden folders in it
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    for skipped in (".venv/lib", ".git", "out"):
        (tmp_path / skipped).mkdir(parents=True)
        (tmp_path / skipped / "big.py").write_text("x = 1\n" * 700)

    # Then only the sources are listed
    assert check_sizes.tracked_sources(tmp_path) == [tmp_path / "pkg" / "mod.py"]
