"""`--out` never takes what is not augment's: every command refuses, before any work, a
folder that holds a user's files, the input, the artifacts home or the current folder, and
a rerun into an earlier output removes only what that output listed. No Prefect or MLflow
is started here: the refusals come first, and `augment score` runs without either."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from pipeline.data.builtin import load_iris
from pipeline.outputs import MARKER, _lock_path, publish, staging_folder

MODEL = "models:/augment-iris@candidate"


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the current one) with an artifacts home, the real rows in data/, a
    synthetic file in other/, and a user's file planted in each folder a command may be
    pointed at."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUGMENT_HOME", str(tmp_path / "artifacts"))
    (tmp_path / "artifacts").mkdir()
    frame, _ = load_iris()
    for folder in ("data", "other", "documents"):
        (tmp_path / folder).mkdir()
    frame.to_parquet(tmp_path / "data" / "train.parquet")
    frame.head(30).to_parquet(tmp_path / "other" / "synthetic.parquet")
    previous = tmp_path / "previous"
    (previous / "plots").mkdir(parents=True)
    (previous / "synthetic.parquet").write_text("an earlier run's rows")
    (previous / MARKER).write_text(json.dumps({"written_by": "augment", "files": ["synthetic.parquet"]}))
    for folder in (tmp_path, tmp_path / "data", tmp_path / "other", tmp_path / "documents", previous / "plots"):
        (folder / "mine.txt").write_text("the user's own file")
    (tmp_path / "artifacts" / "mlflow.db").write_text("not to be lost")
    return tmp_path


def _command(name: str, out: str) -> list[str]:
    if name == "run":
        return ["run", "--data", "data/train.parquet", "--label", "species", "--per-class", "3", "--out", out]
    if name == "generate":
        return ["generate", "--model", MODEL, "--per-class", "3", "--out", out]
    return ["score", "--real", "data/train.parquet", "--synthetic", "other/synthetic.parquet", "--label", "species"] + (
        ["--out", out] if out else []
    )


TARGETS = {
    "a folder of the user's files": ("documents", "is not empty and not an earlier augment output"),
    "the input's folder": ("data", "holds the input data"),
    "the scored file's folder": ("other", "holds the input data"),
    "inside an input folder": ("data/sub", "is inside the input folder"),
    "inside a previous output": ("previous/plots", "is not empty and not an earlier augment output"),
    "the current folder": (".", "is the current folder"),
    "the project folder above it": ("..", "holds the current folder"),
    "the artifacts home": ("artifacts", "is the artifacts home"),
    "the home folder": ("~", "is your home folder"),
    "the root folder": ("/", "is the root folder"),
    "a path under a file": ("documents/mine.txt/sub", "lies under a file"),
}
INPUT_ONLY = {"the input's folder": ("run", "score"), "the scored file's folder": ("score",)}


def _cases():
    for target, (folder, expected) in TARGETS.items():
        for command in INPUT_ONLY.get(target, ("run", "generate", "score")):
            yield pytest.param(command, folder, expected, id=f"{command}: {target}")


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_bytes().hex()[:64] for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command,folder,expected", list(_cases()))
def test_every_command_refuses_an_out_that_is_not_its_own(place, command, folder, expected):
    if folder == "data/sub":
        (place / "data").rename(place / "input")  # the input is a folder of Parquet files here: --data input/
        (place / "input" / "mine.txt").unlink()  # Arrow would read it as a Parquet part
        args = ["run", "--data", "input", "--label", "species", "--per-class", "3", "--out", "input/sub"]
        if command == "score":
            args = ["score", "--real", "input", "--synthetic", "other/synthetic.parquet", "--label", "species"]
            args += ["--out", "input/sub"]
        elif command == "generate":
            pytest.skip("generate reads no input folder")
    else:
        args = _command(command, os.path.expanduser(folder))
    before = _snapshot(place)
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, (result.output, result.exception)
    assert text.startswith("error: --out") and expected in text and "fix:" in text, result.output
    assert "Traceback" not in result.output
    assert _snapshot(place) == before  # nothing written, nothing removed
    assert not list(place.rglob(".*staging*")) and not (place / "artifacts" / "prefect").exists()


def test_score_with_its_default_out_leaves_the_users_files(place):
    """The default --out of score is `scored/` beside the synthetic file: written, with the
    user's file beside it untouched; a rerun replaces only what the first one listed."""
    runner = CliRunner()
    assert runner.invoke(app, _command("score", "")).exit_code == 0
    scored = place / "other" / "scored"
    (scored / "mine.txt").write_text("added by the user")
    listed = json.loads((scored / MARKER).read_text())["files"]
    assert "scored.parquet" in listed and "mine.txt" not in listed
    again = runner.invoke(app, _command("score", "other/scored"))
    assert again.exit_code == 0, again.output
    assert (scored / "mine.txt").read_text() == "added by the user"
    assert (place / "other" / "mine.txt").read_text() == "the user's own file"
    assert (place / "other" / "synthetic.parquet").exists()


def _stage(out: Path, files: dict[str, str]) -> Path:
    stage = staging_folder(out)
    for name, text in files.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text)
    return stage


def test_a_rerun_replaces_only_what_the_earlier_output_listed(tmp_path):
    out = tmp_path / "out"
    publish(
        _stage(out, {"synthetic.parquet": "1", "plots/a.png": "1", "plots/b.png": "1", "model/spec.json": "1"}), out
    )
    (out / "plots" / "mine.png").write_text("the user's")
    (out / "notes.txt").write_text("the user's")
    publish(_stage(out, {"synthetic.parquet": "2", "plots/a.png": "2", "summary.json": "2"}), out)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [MARKER, "notes.txt", "plots/a.png", "plots/mine.png", "summary.json", "synthetic.parquet"]
    assert (out / "synthetic.parquet").read_text() == "2" and not (out / "model").exists()
    marker = json.loads((out / MARKER).read_text())
    assert marker["complete"] and marker["files"] == ["plots/a.png", "summary.json", "synthetic.parquet"]
    assert not list(tmp_path.glob(".out.*"))


def test_a_users_file_where_the_run_writes_is_never_overwritten(tmp_path):
    out = tmp_path / "out"
    publish(_stage(out, {"synthetic.parquet": "1"}), out)
    (out / "summary.json").write_text("the user's own summary")
    stage = _stage(out, {"synthetic.parquet": "2", "summary.json": "2"})
    with pytest.raises(Exception, match="holds files of its own where this run writes"):
        publish(stage, out)
    assert (out / "summary.json").read_text() == "the user's own summary"
    assert (out / "synthetic.parquet").read_text() == "1"


@pytest.mark.parametrize(
    "files",
    [["mine.txt"], ["../outside.txt"], ["/etc/hostname"], ["plots/../mine.txt"], "synthetic.parquet", [3]],
)
def test_a_marker_that_lists_what_augment_never_writes_is_refused(place, files):
    out = place / "documents"
    (out / MARKER).write_text(json.dumps({"written_by": "augment", "files": files}))
    result = CliRunner().invoke(app, _command("run", "documents"))
    assert result.exit_code == 2 and "is not one augment wrote" in " ".join(result.output.split()), result.output
    assert (out / "mine.txt").read_text() == "the user's own file"


def test_a_second_command_into_the_same_out_is_refused_in_words(place):
    out = (place / "previous").resolve()
    with open(_lock_path(out), "w") as held:  # as another augment process holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("pid 4242, since 10:00:00")
        held.flush()
        for command in ("run", "generate", "score"):
            result = CliRunner().invoke(app, _command(command, "previous"))
            text = " ".join(result.output.split())
            assert result.exit_code == 2 and "another augment command is writing to it (pid 4242" in text, text
    assert (place / "previous" / "synthetic.parquet").read_text() == "an earlier run's rows"


def test_a_read_only_out_is_refused_before_any_work(place, monkeypatch):
    folder = place / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: the system's answer for a read-only folder, as others get it
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != folder and access(path, mode))
    try:
        for out in ("locked", "locked/new"):
            result = CliRunner().invoke(app, _command("score", out))
            assert result.exit_code == 2 and "cannot write into" in " ".join(result.output.split()), result.output
    finally:
        folder.chmod(0o755)
