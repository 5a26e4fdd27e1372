"""One registry (pipeline/catalog.py): a generator and a menu option registered from here alone
show up in the config's choices, in `augment run --help` and on the gate's menu, and leave
nothing behind when taken out again."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import pipeline
from pipeline import catalog
from pipeline.catalog import Kind, Option
from pipeline.config import DataSpec, RunConfig, SampleConfig
from pipeline.errors import ConfigError
from pipeline.synthesizers.base import Synthesizer
from pipeline.synthesizers.baselines import as_logits


class ToyCopiesSynthesizer(Synthesizer):
    """The smallest generator: copies of the real rows' encodings, first row of each class."""

    kind = "toy_copies"
    modalities = ("table",)

    def _fit(self, x, y, unlabelled) -> None:
        self.x, self.y = x.x, y

    def _generate(self, y: torch.Tensor, gen: torch.Generator) -> pd.DataFrame:
        first = torch.stack([torch.nonzero(self.y == c).flatten()[0] for c in y.tolist()]) if len(y) else y
        return self.codec.decode(as_logits(self.codec, self.x[first]), generator=gen)

    def _state_tensors(self) -> dict[str, torch.Tensor]:
        return {"x": self.x, "y": self.y}

    def _restore(self, state: dict[str, Any], tensors: dict, tables: dict) -> None:
        self.x, self.y = tensors["x"], tensors["y"]


TOY = Kind("toy_copies", ToyCopiesSynthesizer, "table", "the first row of each class, again")
TOY_OPTION = Option("toy_copies", 2, "your real rows plus toy copies", ("toy_copies",), menus=("table",))


def _config(generator: str) -> RunConfig:
    return RunConfig(data=DataSpec(source="iris"), sample=SampleConfig(per_class=3), generator=generator)


def _run_help() -> str:
    """`augment run --help` as one line of words (the panel's borders and wrapping taken out)."""
    from flows.cli import app

    result = CliRunner().invoke(app, ["run", "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.replace("│", " ").split())


def _menu_names(modality: str, product: str = "cvae") -> list[str]:
    from pipeline.quality.menu import menu

    return [o.name for o in menu(modality, product)]


@pytest.fixture
def toy():
    """The toy generator and option, registered for one test; the tables restored after it."""
    with catalog.registered(TOY, TOY_OPTION):
        yield


def test_a_registered_generator_and_option_show_everywhere(toy):
    from pipeline import job
    from pipeline.synthesizers.registry import KINDS

    assert "toy_copies" in catalog.generator_choices()
    assert _config("toy_copies").generator == "toy_copies"
    help_text = _run_help()
    assert "toy_copies (tables: the first row of each class, again)" in help_text
    assert help_text.index("pseudo_label") < help_text.index("toy_copies") < help_text.index("or auto")
    names = _menu_names("table")
    assert names[names.index("smote") + 1] == "toy_copies"  # after the table menu's built-ins, in order
    assert "toy_copies" not in _menu_names("image")
    assert _menu_names("table", "toy_copies").count("toy_copies") == 1
    assert KINDS["toy_copies"] is ToyCopiesSynthesizer and pipeline.ToyCopiesSynthesizer is ToyCopiesSynthesizer
    assert isinstance(job.make_generator(_config("toy_copies")), ToyCopiesSynthesizer)


def test_the_toy_generator_makes_and_reloads_rows(toy, tmp_path):
    from pipeline.synthesizers.registry import load_synthesizer

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "x", "y"], "label": ["p", "p", "q", "q"]})
    gen = ToyCopiesSynthesizer(seed=0).fit(frame, label="label")
    rows = gen.sample(per_class=2)
    assert list(rows["label"]) == ["p", "p", "q", "q"] and list(rows["a"]) == pytest.approx([1.0, 1.0, 3.0, 3.0])
    again = load_synthesizer(gen.save(tmp_path / "toy"))
    assert isinstance(again, ToyCopiesSynthesizer) and again.sample(per_class=2).equals(rows)


def test_taken_out_again_it_is_gone_everywhere():
    with catalog.registered(TOY, TOY_OPTION):
        assert "toy_copies" in _run_help()
    assert "toy_copies" not in catalog.generator_choices()
    assert "toy_copies" not in _run_help()
    assert "toy_copies" not in _menu_names("table")
    with pytest.raises(AttributeError):
        pipeline.ToyCopiesSynthesizer
    with pytest.raises(ConfigError, match="not one of its choices") as err:
        from flows.cli_config import run_config

        run_config(None, {"data": "iris", "per_class": 3, "generator": "toy_copies"})
    assert err.value.fix.startswith("pass --generator one of: cvae, smote,") and err.value.fix.endswith(", auto")


def test_unregister_takes_the_option_before_its_generator():
    catalog.register(TOY)
    catalog.register(TOY_OPTION)
    try:
        with pytest.raises(ConfigError, match="unregister those options first"):
            catalog.unregister(TOY)
    finally:
        catalog.unregister(TOY_OPTION)
        catalog.unregister(TOY)
    assert "toy_copies" not in catalog.KINDS and "toy_copies" not in catalog.OPTIONS


@pytest.mark.parametrize(
    ("item", "problem", "fix"),
    [
        (Kind("smote", ToyCopiesSynthesizer, "table"), "already registered", "choose another name"),
        (Kind("auto", ToyCopiesSynthesizer, "table"), "'auto' is taken", "lower-case letters"),
        (Kind("Toy Copies", ToyCopiesSynthesizer, "table"), "cannot name a generator", "lower-case letters"),
        (Kind("toy_copies", ToyCopiesSynthesizer, "tables"), "modality 'tables'", "table, image or both"),
        (Kind("toy_copies", "toy_module.ToyCopies", "table"), "names the class", "package.module:ClassName"),
        (Option("toy_copies", 2, "w", ("nope",)), "no registered generator", "register the generator first"),
        (Option("toy_half", 2, "w", ("smote",), fraction=0), "fraction 0", "a fraction in (0, 1]"),
        (Option("toy_both", 2, "w", ("smote",), menus=("tables",)), "menus ['tables']", "menus hold 'table'"),
        ("toy_copies", "takes a Kind or an Option", "pass Kind(...) or Option(...)"),
    ],
)
def test_register_refuses_what_does_not_hold_together(item, problem, fix):
    with pytest.raises(ConfigError) as err:
        with catalog.registered(item):
            pass
    assert problem in err.value.problem and fix in err.value.fix
    assert "toy_copies" not in catalog.generator_choices()


def test_every_shipped_generator_holds_together():
    """Each kind's class carries its name and the modality the catalog says, and has an option of
    its name, so the menu can measure it as a run's own generator on the data it serves."""
    for name, kind in catalog.KINDS.items():
        cls = kind.load()
        assert cls.kind == name and kind.class_name == cls.__name__
        assert set(cls.modalities) == ({"table", "image"} if kind.modality == "both" else {kind.modality}), name
        assert getattr(pipeline, cls.__name__) is cls
        assert catalog.option(name).sources == (name,)
        for modality in cls.modalities:
            assert name in _menu_names(modality, name)


def test_a_class_that_cannot_be_loaded_is_named():
    with catalog.registered(Kind("toy_missing", "pipeline.synthesizers.baselines:NoSuchSynthesizer", "table")):
        with pytest.raises(ConfigError, match="toy_missing.*cannot be loaded") as err:
            catalog.generator_class("toy_missing")
    assert "module:Class" in err.value.fix


def test_an_unknown_name_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="no generator is registered as 'nope'") as err:
        catalog.generator_class("nope")
    assert "cvae, smote" in err.value.fix
    with pytest.raises(ConfigError, match="no menu option is registered as 'nope'") as err:
        catalog.option("nope")
    assert "register an Option named 'nope'" in err.value.fix
