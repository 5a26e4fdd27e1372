"""Checks of what a command is given, made before any flow, server or file write.

Everything that can be known from the arguments, the config file and the registry is
checked here, so a mistake ends in seconds as one `error:` / `fix:` instead of a traceback
from inside a Prefect flow minutes later. Imports stay light: nothing here imports MLflow or
torch (the registry check, which needs both, is pipeline.tracking.check_registered).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, TrackingError, cut

SEED_LIMIT = 2**32  # numpy and torch seeds; also RunConfig.seed's bound
MAX_CONFIG_BYTES = 1 << 20  # a RunConfig is a few hundred bytes; a megabyte is a mistake
MAX_CONFIG_DEPTH = 16  # a RunConfig nests three levels; json/pydantic recurse on deeper input


def check_seed(seed: int, flag: str = "--seed") -> None:
    """Seeds go to numpy and torch, which take 0 <= seed < 2**32 and fail deep inside otherwise."""
    if not 0 <= seed < SEED_LIMIT:
        raise ConfigError(
            f"{flag} {cut(str(seed), 40)} is out of range", f"pass a whole number from 0 to {SEED_LIMIT - 1}"
        )


def one_count(per_class: int | None, balance_to: int | None) -> None:
    """How many synthetic rows to make, said in exactly one way: the one check of it, with one
    message, for a run's config (SampleConfig: the CLI's flags and config file, `augment
    generate`) and for Synthesizer.sample / plan in Python."""
    if (per_class is None) == (balance_to is None):
        raise ConfigError(
            "say how many synthetic rows to make with exactly one of --per-class and --balance-to",
            "pass --per-class N (N rows for each class) or --balance-to N (each class below N brought up to N)",
        )


def split_list(text: str | None, flag: str) -> list[str] | None:
    """A comma-separated flag as a list of stripped names; a list naming nothing is an error
    (`--classes " , ,"` would otherwise mean an empty choice and fail later)."""
    if text is None:
        return None
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ConfigError(
            f"{flag} {cut(repr(text), 60)} names nothing", f"pass names separated by commas, or leave {flag} out"
        )
    return items


SHOWN_NAMES = 8  # names listed in a fix line when no name is close; a longer list is cut, with its count


def did_you_mean(name: str, names: list[str]) -> list[str]:
    """The names `name` may have meant: the same but for case (first), then near misses
    (difflib, the way a typo or a missing letter reads)."""
    import difflib

    same = [n for n in names if n.lower() == name.lower() and n != name]
    if same:
        return same
    lowered = {n.lower(): n for n in names}
    return [lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]


def name_hint(name: str, names: list[str], flag: str, what: str = "one of") -> tuple[str, str]:
    """(" (did you mean 'x'?)" or "", the fix line) for a name not among `names`: the close
    names when there are some, else the first SHOWN_NAMES names and how many there are."""
    close = did_you_mean(name, names)
    if close:
        shown = " or ".join(repr(c) for c in close)
        return f" (did you mean {shown}?)", f"pass {flag} {close[0]}" + (
            " (names are case-sensitive)" if close[0].lower() == name.lower() else ""
        )
    listed = ", ".join(cut(n, 40) for n in names[:SHOWN_NAMES])
    more = f", ... ({len(names)} in all)" if len(names) > SHOWN_NAMES else ""
    return "", f"pass {flag} with {what}: {listed}{more}"


def invalid_setting(exc: Any, names: dict[str, str] | None = None) -> ConfigError:
    """A pydantic ValidationError of the settings as one error naming the flag (`names`: dotted
    field -> flag, e.g. "quality.judge" -> "--judge"; else the config field) and a fix line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    name = (names or {}).get(where) or f"config field {where}"
    value, ctx, kind = err.get("input"), err.get("ctx") or {}, err["type"]
    given = cut(repr(value), 60)
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    if kind == "literal_error":
        choices = [c.strip(" '") for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        flag = name if name.startswith("--") else f"{where} ="
        return ConfigError(
            f"{name} {given} is not one of its choices{more}", f"pass {flag} one of: {', '.join(choices)}"
        )
    fixes = {
        "finite_number": "pass a finite number",
        "int_parsing": "pass a whole number",
        "int_from_float": "pass a whole number",
        "float_parsing": "pass a number",
        "bool_parsing": "pass true or false",
        "extra_forbidden": "remove it: pipeline/config.py lists the fields",
    }
    msg = str(err["msg"])
    fix = fixes.get(kind) or (
        f"pass a value that is {msg.removeprefix('Input should be ')}" if msg.startswith("Input should be") else ""
    )
    return ConfigError(f"{name}: {cut(msg, 200)} (given {given}){more}", fix or "see `augment run --help`")


def choose_classes(asked: list[str] | None, names: list[str]) -> list[str]:
    """The class names `asked` means, in the model's order. An exact name wins; otherwise a
    name that differs only in surrounding whitespace (so class " a" is chosen by `--classes a`,
    which the shell and the comma list strip)."""
    if asked is None:
        return list(names)
    if not asked:
        raise ConfigError("--classes names no class", "pass class names separated by commas, or leave --classes out")
    chosen, unknown = set(), []
    for item in map(str, asked):
        loose = [n for n in names if n.strip() == item.strip()]
        if item in names:
            chosen.add(item)
        elif len(loose) == 1:
            chosen.add(loose[0])
        elif loose:
            raise ConfigError(
                f"class {cut(item, 60)!r} could be any of {cut(loose, 200)} (they differ only in spaces)",
                "name the class exactly in the config file's sample.classes",
            )
        else:
            unknown.append(item)
    if unknown:
        hint, fix = name_hint(unknown[0], [str(n) for n in names], "--classes", "classes among")
        raise ConfigError(f"unknown class(es) {cut([cut(u, 60) for u in unknown[:5]], 300)}{hint}", fix)
    return [n for n in names if n in chosen]


def read_config_file(path: str) -> dict[str, Any]:
    """A JSON object from `path`, refused with a short message when it is missing, too big,
    too deeply nested or not an object (the file's content is never echoed whole)."""
    shown = cut(path, 100)
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"config file {shown!r} is {size / 1e6:.1f} MB; a run's config is a few hundred bytes",
                "pass a RunConfig JSON file (see README); data goes in --data, not in the config",
            )
        text = Path(path).read_text(encoding="utf-8-sig")  # Notepad writes a byte-order mark
    except OSError as exc:
        raise ConfigError(
            f"cannot read the config file {shown!r}: {exc.strerror}", "pass an existing JSON file"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {shown!r} is not text", "pass a UTF-8 JSON file (see README)") from None
    if not text.strip():
        raise ConfigError(f"config file {shown!r} is empty", 'write a JSON object, e.g. {"data": {"source": "iris"}}')
    try:
        value = json.loads(text, object_pairs_hook=_once)
    except RecursionError:
        value = None  # nested deeper than Python recurses: refused below like any deep file
        depth = MAX_CONFIG_DEPTH + 1
    except ConfigError as exc:
        raise ConfigError(f"config file {shown!r}: {exc.problem}", exc.fix) from None
    except ValueError as exc:
        raise ConfigError(
            f"config file {shown!r} is not valid JSON: {cut(str(exc), 200)}{_json_hint(text)}",
            "fix the JSON (see README)",
        ) from None
    else:
        depth = json_depth(value)
    if depth > MAX_CONFIG_DEPTH:
        raise ConfigError(
            f"config file {shown!r} is nested more than {MAX_CONFIG_DEPTH} levels deep; a run's config has three",
            'see pipeline/config.py for the shape (e.g. {"data": {"source": "iris"}, "sample": {"per_class": 10}})',
        )
    if not isinstance(value, dict):
        raise ConfigError(f"config file {shown!r} holds a {type(value).__name__}, not an object", "see README")
    return value


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: with a key twice, Python keeps the last
    and drops the first without a word."""
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"field(s) {cut(twice, 120)} given twice in one object", "keep one of each")
    return dict(pairs)


def _json_hint(text: str) -> str:
    """What JSON's own message leaves unsaid for the mistakes a hand-written config makes."""
    import re

    if re.search(r"^\s*(//|#)|/\*", text, re.MULTILINE):
        return " (JSON has no comments: remove the // , /* */ or # lines)"
    if re.search(r",\s*[}\]]", text):
        return " (a comma before a closing } or ]: JSON allows no trailing comma)"
    if re.match(r"^\s*[A-Za-z_][\w-]*\s*:", text):
        return " (it looks like YAML: the config is JSON)"
    return ""


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the value may be very deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_CONFIG_DEPTH:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///` tracking URI (None for servers)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])


def tracking_uri_for(root: str | Path) -> str:
    """pipeline.tracking.default_tracking_uri without importing MLflow (seconds) or creating folders."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def check_tracking_store(tracking_uri: str) -> None:
    """SQLite writes the database and a journal beside it: a read-only file or folder made
    MLflow retry for minutes before failing; here it fails at once."""
    path = sqlite_path(tracking_uri)
    if path is None:
        return
    folder = next((p for p in (path.parent, *path.parents) if p.exists()), None)
    if folder is None:
        return
    fix = "make it writable, or set AUGMENT_HOME (or MLFLOW_TRACKING_URI) to a place you can write"
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrackingError(f"the MLflow database's folder {cut(str(folder), 160)!r} is read-only", fix)
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise TrackingError(f"the MLflow database {cut(str(path), 160)!r} is read-only", fix)
