"""Every generator and every option of the gate's menu, in one place, with `register`.

The config's accepted `generator` values (pipeline/config.py), `augment run --help`'s list of
them (flows/cli_config.py), the lazy exports of `pipeline` and `pipeline.synthesizers`, the
classes by kind (pipeline/synthesizers/registry.py) and the gate's menu
(pipeline/quality/menu.py) all read the two tables here, so a new generator or option is one
`register(...)` call (and its class):

    register(Kind("mixup", "mypackage.mixup:MixupSynthesizer", "table", "convex mixes of rows"))
    register(Option("mixup", 3, "your real rows plus mixup rows", ("mixup",), menus=("table",)))

This module sits low: it imports nothing of the project but its errors, and names each class
as "module:Class", imported on first use, so `import pipeline.config` stays free of torch.
What is registered holds for this process only; a worker process (the gate's) sees what its
imports register, so a plug-in registers itself in the module that defines its class.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Literal, TypeVar

from pipeline.errors import ConfigError

REAL_ONLY = "real_only"  # the option every menu holds: the real rows alone, the bar to beat
AUTO = "auto"  # --generator auto: train the CVAE, ship the training set the gate recommends
MODALITIES = ("table", "image", "both")
# torchvision's policies (pipeline.transforms.POLICIES), as the verdict names them; of the four, the
# one the image menu measures beside affine views: the best with the CNN on digits (rare 5 and 10,
# tuning seeds 0-2; BENCHMARKS.md "Images: torchvision's policies")
POLICY_WORDS = {
    "rand_augment": "RandAugment",
    "trivial_augment": "TrivialAugmentWide",
    "auto_augment": "AutoAugment",
    "augmix": "AugMix",
}
IMAGE_POLICY = "rand_augment"
NAME = re.compile(r"[a-z][a-z0-9_]*")  # a name a flag, a JSON key and a saved spec.json can carry
Modality = Literal["table", "image", "both"]
T = TypeVar("T")


@dataclass(frozen=True)
class Kind:
    """A generator: the name --generator, spec.json and the menu's `sources` use; its class as
    "module:Class" (imported on first use) or the class itself; the data it makes rows for; and
    what --generator's help says of it beyond its name and modality ("": the name says it)."""

    name: str
    target: str | type
    modality: Modality
    words: str = ""

    @property
    def class_name(self) -> str:
        """The class's name, as `pipeline` exports it, without importing it."""
        return self.target.rpartition(":")[2] if isinstance(self.target, str) else self.target.__name__

    def load(self) -> type:
        """The class (imports its module the first time)."""
        if not isinstance(self.target, str):
            return self.target
        module, _, attr = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"generator {self.name!r}: {self.target} cannot be loaded ({exc})",
                "register it with the module:Class that defines it, importable here",
            ) from exc

    def note(self) -> str:
        """What the help puts in brackets after the name: the data it serves, then `words`."""
        where = {"table": "tables", "image": "images", "both": ""}[self.modality]
        return ": ".join(part for part in (where, self.words) if part)


@dataclass(frozen=True)
class Option:
    """One training set: the real rows, maybe weighted, maybe plus rows from generators; and on
    which menus the gate measures it."""

    name: str
    cost: int  # ties go to the lower: cheaper to make and simpler to explain
    words: str  # what a user trains on, for the verdict
    sources: tuple[str, ...] = ()  # generator kinds whose rows are added; a class's count split evenly
    balanced: bool = False  # class weights on every row (sample_weight), closing `strength` of the imbalance
    strength: float = 1.0  # 1: balanced weights; 0.5: weights that close half the gap to the largest class
    fraction: float = 1.0  # the share of each class's asked rows the sources add (0.5: half the deficit)
    # the kinds of data whose menu measures it ("table", "image"); (): only as the run's own generator
    menus: tuple[str, ...] = ()
    partial: bool = False  # on those menus only when asked for the half-way options (menu(partial=True))
    beside: str | None = None  # on those menus only when the run's generator is this kind


_KINDS: dict[str, Kind] = {}
_OPTIONS: dict[str, Option] = {}


class View(Mapping[str, T]):
    """A read-only view of one of the tables, always current: what register() adds shows at once
    to every module that took the view at import."""

    def __init__(
        self,
        table: dict[str, Any],
        keep: Callable[[Any], bool] = lambda _: True,
        get: Callable[[Any], T] | None = None,
    ) -> None:
        self._table, self._keep, self._get = table, keep, get or (lambda item: item)

    def __getitem__(self, name: str) -> T:
        item = self._table[name]
        if not self._keep(item):
            raise KeyError(name)
        return self._get(item)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, item in self._table.items() if self._keep(item)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"View({list(self)})"

    def where(self, keep: Callable[[Any], bool]) -> "View[T]":
        """The entries of this view that `keep` holds true of, as a view just as current."""
        return View(self._table, lambda item: self._keep(item) and keep(item), self._get)


KINDS: View[Kind] = View(_KINDS)  # name -> Kind, in registration order (the help's order)
CLASSES: View[type] = View(_KINDS, get=Kind.load)  # name -> class, imported on first use
OPTIONS: View[Option] = View(_OPTIONS)  # name -> Option, in registration order (the menu's order)


def register(item: Kind | Option) -> Kind | Option:
    """Add a generator or a menu option; refused, with the fix, when the name is taken or the
    entry does not hold together (an option's sources must be registered generators)."""
    if isinstance(item, Kind):
        _check_kind(item)
        _KINDS[item.name] = item
    elif isinstance(item, Option):
        _check_option(item)
        _OPTIONS[item.name] = item
    else:
        raise ConfigError(
            f"register() takes a Kind or an Option, not {type(item).__name__}", "pass Kind(...) or Option(...)"
        )
    return item


def unregister(item: Kind | Option) -> None:
    """Take a generator or an option out again (an option that draws on the generator first)."""
    table: dict[str, Any] = _KINDS if isinstance(item, Kind) else _OPTIONS
    if table.get(item.name) != item:
        raise ConfigError(f"{item.name!r} is not registered as given", "unregister what register() returned")
    users = [o.name for o in _OPTIONS.values() if isinstance(item, Kind) and item.name in o.sources]
    if users:
        raise ConfigError(f"the options {users} draw on generator {item.name!r}", "unregister those options first")
    del table[item.name]


@contextmanager
def registered(*items: Kind | Option) -> Iterator[None]:
    """register() each of `items` for the length of a `with` block, then put both tables back as
    they were (a test, a notebook cell)."""
    kinds, options = dict(_KINDS), dict(_OPTIONS)
    try:
        for item in items:
            register(item)
        yield
    finally:
        _KINDS.clear()
        _KINDS.update(kinds)
        _OPTIONS.clear()
        _OPTIONS.update(options)


def _check_name(name: Any, what: str, table: dict[str, Any]) -> None:
    fix = f"name the {what} with lower-case letters, digits and '_', starting with a letter"
    if not isinstance(name, str) or not NAME.fullmatch(name) or name == AUTO:
        raise ConfigError(f"{name!r} cannot name a {what}" + (" ('auto' is taken)" if name == AUTO else ""), fix)
    if name in table:
        raise ConfigError(
            f"a {what} named {name!r} is already registered", "unregister it first, or choose another name"
        )


def _check_kind(kind: Kind) -> None:
    _check_name(kind.name, "generator", _KINDS)
    if kind.modality not in MODALITIES:
        raise ConfigError(f"generator {kind.name!r} names the modality {kind.modality!r}", "pass table, image or both")
    if isinstance(kind.target, str) and not re.fullmatch(r"[\w.]+:\w+", kind.target):
        raise ConfigError(
            f"generator {kind.name!r} names the class {kind.target!r}", 'pass "package.module:ClassName" or the class'
        )


def _check_option(option: Option) -> None:
    _check_name(option.name, "menu option", _OPTIONS)
    unknown = [s for s in option.sources if s not in _KINDS]
    if unknown:
        raise ConfigError(
            f"option {option.name!r} draws on {unknown}, which no registered generator is",
            f"register the generator first (Kind), or use one of: {', '.join(_KINDS)}",
        )
    wrong = [m for m in option.menus if m not in ("table", "image")]
    if wrong or (option.beside is not None and option.beside not in _KINDS):
        raise ConfigError(
            f"option {option.name!r} names the menus {list(option.menus)} and beside={option.beside!r}",
            "menus hold 'table' and 'image'; beside names a registered generator",
        )
    if not (0 < option.fraction <= 1 and 0 <= option.strength <= 1 and option.cost >= 0):
        raise ConfigError(
            f"option {option.name!r}: cost {option.cost}, strength {option.strength}, fraction {option.fraction}",
            "pass a cost of 0 or more, a strength in [0, 1] and a fraction in (0, 1]",
        )


def generator_choices() -> list[str]:
    """What RunConfig.generator accepts: every registered generator, then `auto`."""
    return [*_KINDS, AUTO]


def generator_class(name: str) -> type:
    """The class of a registered generator, or an error naming the choices."""
    if name not in _KINDS:
        raise ConfigError(f"no generator is registered as {name!r}", f"use one of: {', '.join(_KINDS)}")
    return _KINDS[name].load()


def option(name: str) -> Option:
    """A registered option, or an error saying how to add one (a generator's own option is the
    one the menu measures when the run trains it)."""
    if name not in _OPTIONS:
        raise ConfigError(
            f"no menu option is registered as {name!r}",
            f"register an Option named {name!r} (pipeline/catalog.py), with sources=({name!r},) for a generator",
        )
    return _OPTIONS[name]


def class_names() -> dict[str, str]:
    """Class name -> generator name, for the lazy exports (`from pipeline import SMOTESynthesizer`)."""
    return {kind.class_name: name for name, kind in _KINDS.items()}


def generator_help() -> str:
    """--generator's list of generators, as the help prints it: each name in registration order,
    with its note in brackets after the last of a run of generators that share it."""
    kinds = list(_KINDS.values())
    parts = []
    for i, kind in enumerate(kinds):
        last_of_run = i + 1 == len(kinds) or kinds[i + 1].note() != kind.note()
        parts.append(f"{kind.name} ({kind.note()})" if kind.note() and last_of_run else kind.name)
    return ", ".join(parts)


def _builtins() -> None:
    """The generators and options the product ships. The order is the help's and the menu's."""
    here = "pipeline.synthesizers.baselines"
    policies = "torchvision's policies"
    for kind in (
        Kind("cvae", "pipeline.synthesizers.cvae:CVAESynthesizer", "both"),
        Kind("smote", f"{here}:SMOTESynthesizer", "table"),
        Kind("affine", f"{here}:AffineSynthesizer", "image", "random affine views"),
        Kind("rand_augment", f"{here}:RandAugmentSynthesizer", "image", policies),
        Kind("trivial_augment", f"{here}:TrivialAugmentSynthesizer", "image", policies),
        Kind("auto_augment", f"{here}:AutoAugmentSynthesizer", "image", policies),
        Kind("augmix", f"{here}:AugmixSynthesizer", "image", policies),
        Kind("oversample", f"{here}:OversampleSynthesizer", "both"),
        Kind("pseudo_label", f"{here}:PseudoLabelSynthesizer", "both", "your unlabelled rows, labelled"),
    ):
        register(kind)
    both, table, image = ("table", "image"), ("table",), ("image",)
    for option in (
        Option(REAL_ONLY, 0, "your real rows alone", menus=both),
        Option("class_weight", 1, "your real rows with balanced class weights", balanced=True, menus=both),
        Option("oversample", 2, "your real rows plus random copies of them", ("oversample",), menus=both),
        Option("smote", 3, "your real rows plus SMOTE rows", ("smote",), menus=table),
        Option("affine", 3, "your real images plus random affine views of them", ("affine",), menus=image),
        *(
            Option(p, 3, f"your real images plus {words} views of them", (p,), menus=image if p == IMAGE_POLICY else ())
            for p, words in POLICY_WORDS.items()
        ),
        # partial rebalancing: half the gap to the largest class, in weights or in rows. Off the default
        # menu (menu(partial=True) measures them; benchmarks/meta.py decides whether they pay)
        Option(
            "class_weight_half",
            1,
            "your real rows with class weights that close half the imbalance",
            balanced=True,
            strength=0.5,
            menus=both,
            partial=True,
        ),
        Option(
            "oversample_half",
            2,
            "your real rows plus random copies for half of each class's deficit",
            ("oversample",),
            fraction=0.5,
            menus=both,
            partial=True,
        ),
        Option(
            "smote_half",
            3,
            "your real rows plus SMOTE rows for half of each class's deficit",
            ("smote",),
            fraction=0.5,
            menus=table,
            partial=True,
        ),
        Option("cvae", 4, "your real rows plus the CVAE's rows", ("cvae",)),
        Option("pseudo_label", 4, "your real rows plus your unlabelled rows, labelled", ("pseudo_label",)),
        Option(
            "cvae_affine",
            5,
            "your real images plus half CVAE rows, half affine views",
            ("cvae", "affine"),
            menus=image,
            beside="cvae",
        ),
    ):
        register(option)


_builtins()
