"""Finding the files of a folder: the fast listing must find what pathlib's rglob finds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bgmigrate.project import discovery
from bgmigrate.project.layouts import looks_like_sql

REVISION = "revision = 'a'\ndown_revision = None\n\ndef upgrade():\n    op.execute('SELECT 1')\n"
NAMES = ["a.sql", "B.sql", "10_x.sql", "2_x.SQL", "x.pgsql", "notes.md", "env.py", "v.py", ".hidden.sql",
         "a.sql.postgres", "m.mysql", "ä ö.sql", "dir.sql"]  # fmt: skip


def _by_rglob(root: Path) -> list[Path]:
    """The listing as it was: every path rglob finds that is a SQL-looking file or a revision."""

    def candidate(path: Path) -> bool:
        if path.suffix == ".py":
            return path.is_file() and discovery._is_revision(path)
        return looks_like_sql(path.name) and path.is_file()

    return sorted(p for p in root.rglob("*") if candidate(p))


def test_the_listing_finds_what_rglob_finds(tmp_path: Path) -> None:
    for folder in ["", "sub", "sub/deeper", "Other", "with space"]:
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        for name in NAMES:
            target = tmp_path / folder / name
            if name == "dir.sql":
                target.mkdir(exist_ok=True)  # a folder with a SQL name is no file
            else:
                target.write_text(REVISION if name.endswith(".py") else "SELECT 1;", encoding="utf-8")
    os.symlink(tmp_path / "sub", tmp_path / "link_to_sub")  # a link to a folder is not followed
    os.symlink(tmp_path / "a.sql", tmp_path / "link.sql")  # a link to a file is a file
    os.symlink(tmp_path / "missing.sql", tmp_path / "broken.sql")  # a dangling link is not
    found = discovery._candidates_under(tmp_path)
    assert found == _by_rglob(tmp_path)
    assert tmp_path / "link.sql" in found and tmp_path / "broken.sql" not in found
    assert not any("link_to_sub" in p.parts for p in found)


@pytest.mark.skipif(os.name != "posix", reason="the string fast path is for POSIX paths")
def test_shown_paths_are_what_relative_to_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def by_pathlib(path: Path) -> str:
        try:
            return path.relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    for cwd in (Path("/"), tmp_path):
        monkeypatch.chdir(cwd)
        here = Path.cwd().resolve()
        for path in (Path("/"), here, here / "a.sql", here / "x" / "y.sql", Path(f"{here}x"), here.parent):
            assert discovery.shown_path(path) == by_pathlib(path), (cwd, path)
