"""What a user's terminal shows: progress bars that end where their step ended, the gate's
progress, the run's housekeeping in its log file and not on the console, and a class table
that fits 80 columns without cutting words."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import warnings

import pytest
from rich.console import Console

from pipeline.config import ModelConfig, TrainConfig
from pipeline.data.codec import ClassIndex, TableCodec
from pipeline.train import TrainHooks, train_cvae

HOUSEKEEPING = (
    "Creating initial MLflow database tables",
    "Updating database tables",
    "Successfully registered model",
    "Created version",
    "Beginning flow run",
    "Finished in state",
    "alembic",
    "Context impl",
)


def test_the_training_bar_ends_full_at_the_epoch_early_stopping_ended_it(mixed_table, capsys):
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    y = ClassIndex.fit(mixed_table["label"]).encode(mixed_table["label"])
    config = TrainConfig(epochs=3000, batch_size=16, val_fraction=0.2, patience=20, kl_warmup_fraction=0.0)
    result = train_cvae(
        codec.encode(features), y, codec, 2, ModelConfig(latent_dim=2), config, hooks=TrainHooks(progress=True)
    )
    assert result.stopped_early and result.epochs_run < 3000
    printed = " ".join(capsys.readouterr().err.split())  # not a terminal: printed once, where it ended
    run = result.epochs_run
    assert re.search(rf"training, epoch .* {run}/{run} 100%", printed)
    assert "stopped early of 3000" in printed and "/3000" not in printed


def test_the_log_file_takes_the_housekeeping_and_the_console_keeps_warnings(tmp_path, capsys):
    from mlflow.utils.logging_utils import eprint

    from flows.run_log import current, run_log

    console, prefect = logging.StreamHandler(sys.stderr), logging.getLogger("prefect")
    logging.getLogger().addHandler(console)
    level, prefect.level = prefect.level, logging.INFO  # as Prefect's logging settings have it
    try:
        with run_log(tmp_path, "run") as path:
            assert current() == path
            logging.getLogger("prefect.flow_runs").info("Beginning flow run 'x' for flow 'augment'")
            logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
            eprint("Successfully registered model 'augment-x'.")
            warnings.warn("a library's advice", FutureWarning, stacklevel=1)
            logging.getLogger("prefect.task_runs").warning("Task run failed to report")
        logging.getLogger("prefect.flow_runs").info("after the run")
    finally:
        logging.getLogger().removeHandler(console)
        prefect.level = level
    printed, kept = capsys.readouterr().err, path.read_text()
    for line in ("Beginning flow run", "Creating initial MLflow", "Successfully registered", "library's advice"):
        assert line in kept and line not in printed
    assert "Task run failed to report" in printed and "Task run failed to report" in kept
    assert "after the run" in printed and "after the run" not in kept  # everything put back
    assert current() is None and path.parent == tmp_path / "logs"


def test_the_class_table_fits_80_columns_without_cutting_words():
    from flows.cli import class_table

    stats = {"requested": 50, "delivered": 50, "rows": 512, "follows_label": 0.9}
    stats |= {"label_fidelity": 0.8, "dcr_relative_median": 1.2}
    for names in (["malignant", "benign"], ["versicolor", "virginica"], ["a class name far longer than most", "b"]):
        summary = {"generator": "cvae", "per_class": {n: stats for n in names}, "real_counts": dict.fromkeys(names, 10)}
        console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the console
        console.print(class_table(summary))
        text = console.export_text()
        assert max(map(len, text.splitlines())) <= 80 and "…" not in text
        for word in ("delivered", "generated", "follows", "fidelity", "DCR/NN", *names[:1][0].split()):
            assert word in text


@pytest.mark.flow
def test_a_successful_cli_run_prints_words_and_progress_not_housekeeping(tmp_path):
    """A tiny table, few epochs: the console has the gate's progress and the summary, and none
    of Prefect's or MLflow's own lines, no dict dumps, no traceback or ERROR line."""
    config = tmp_path / "small.json"
    quality = {"folds": 2, "repeats": 1, "class_scores": 0, "fold_steps": 20, "classifier_steps": 20}
    config.write_text(json.dumps({"quality": quality, "model": {"latent_dim": 2, "hidden": [16]}}))
    args = ["--data", "iris", "--real-per-class", "6", "--per-class", "4", "--epochs", "3", "--seed", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", *args, "--config", str(config), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    console = result.stdout + result.stderr
    assert result.returncode == 0, console[-3000:]
    flat = " ".join(console.split())  # a bar's details may wrap onto a second line
    for line in HOUSEKEEPING:
        assert line not in console, line
    assert not re.search(r"\{'\w+': ", console)  # no dict dumps
    assert "Traceback" not in console and not re.search(r"\bERROR\b", console)
    assert re.search(r"gate: fitted .* (\d+)/\1 100% .*cvae per fold", flat)
    assert re.search(r"gate: judging .* (\d+)/\1 100% .*logistic judge on \d+ options", flat)
    assert re.search(r"training, epoch .* 3/3 100%", flat) and "recommended:" in flat
    log = re.search(r"log: +(\S+\.log)", console).group(1)
    assert "Beginning flow run" in open(log).read()
    assert len(console.splitlines()) < 40  # one screen
