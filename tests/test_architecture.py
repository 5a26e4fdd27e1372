"""docs/architecture.md's "Where to change what" points at code that exists: every module and
folder it names, and every name in brackets after a module, defined in that module (a table
that sends a reader to a function moved away by a restructure is worse than none)."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
# a module or folder in backticks, maybe followed by names in brackets: `pipeline/x.py` (`f`, `C.m`; words)
ENTRY = re.compile(r"`(?P<path>(?:pipeline|flows)/[\w/]*?(?:\.py|/))`(?:\s*\((?P<inner>[^()]*)\))?")
NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def where_to_change_what(text: str) -> list[tuple[str, str]]:
    """(what to change, where to look) for each row of the section's table."""
    section = text.split("## Where to change what", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in rows[1:]]  # the header aside
    return [(what, where) for what, where in cells]


def pointers(where: str) -> list[tuple[str, list[str]]]:
    """(module or folder, the names in brackets after it) in one cell; every backticked word of the
    cell must be one of them, so a name cannot float free of the module that defines it."""
    found = [(m["path"], re.findall(r"`([^`]+)`", m["inner"] or "")) for m in ENTRY.finditer(where)]
    loose = re.findall(r"`([^`]+)`", ENTRY.sub("", where))
    assert not loose, f"{loose} in {where!r} name no module: write `path.py` (`name`)"
    return found


def resolve(module: Any, dotted: str) -> Any:
    """module.a.b, where a pydantic model's field counts as an attribute (QualityConfig.accept)."""
    obj = module
    for part in dotted.split("."):
        fields = getattr(obj, "model_fields", None)
        if isinstance(fields, dict) and part in fields:
            obj = fields[part]
        else:
            obj = getattr(obj, part)
    return obj


ROWS = where_to_change_what(DOC.read_text(encoding="utf-8"))


def test_the_table_is_there():
    assert len(ROWS) >= 10 and any("pipeline/catalog.py" in where for _, where in ROWS)


@pytest.mark.parametrize(("what", "where"), ROWS, ids=[what for what, _ in ROWS])
def test_every_module_and_name_exists(what, where):
    found = pointers(where)
    assert found, f"{what!r}: no module named"
    for path, names in found:
        assert (ROOT / path).exists(), f"{what!r}: {path} does not exist"
        if path.endswith("/"):
            assert not names, f"{what!r}: names after the folder {path}"
            continue
        module = importlib.import_module(path.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
        for name in names:
            assert NAME.fullmatch(name), f"{what!r}: {name!r} after {path} is not a name"
            assert hasattr(module, name.split(".")[0]), f"{what!r}: {path} has no {name.split('.')[0]}"
            top = getattr(module, name.split(".")[0])
            if inspect.isclass(top) or inspect.isfunction(top):  # defined there, not imported from elsewhere
                assert top.__module__ == module.__name__, f"{what!r}: {name} is {top.__module__}'s, not {path}'s"
            try:
                resolve(module, name)
            except AttributeError:
                pytest.fail(f"{what!r}: {path} has no {name}")


def test_the_reading_of_the_table():
    cell = "`pipeline/a.py` (`f`, `C.m`; the rest), `pipeline/data/` (the data)"
    assert pointers(cell) == [("pipeline/a.py", ["f", "C.m"]), ("pipeline/data/", [])]
    with pytest.raises(AssertionError, match="name no module"):
        pointers("`pipeline/a.py` (`f`), `QualityConfig.accept`")
