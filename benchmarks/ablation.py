"""Issue 24, item 1: the product's recipe against the textbook CVAE, one difference at a time.

On the rare-class splits of benchmarks/imbalance.py (one rare class of --rare rows beside 40 of
every other class, the same fixed test rows, seeds and classifiers), each variant starts from
the product's default (what `augment run` ships for a table: the prior strategy, rows kept by
the `all` accept rule) and changes ONE thing toward the textbook recipe
(../shared/reference/textbook_cvae.py, run as a plug-in):

    default          the product as shipped (ModelConfig / TrainConfig / QualityConfig defaults)
    prior-standard   p(z|y) = N(0, I) instead of a learned per-class mean   (ModelConfig.prior)
    kl-plain         no KL warm-up and no free bits (beta 1 in both)         (kl_warmup_fraction, free_bits;
                     the default for tables since 0.8, so a rerun finds it equal to default)
    no-label-loss    no auxiliary classifier loss on prior samples           (ModelConfig.label_loss_weight=0;
                     the default for tables since this ablation, so a rerun finds it equal to default)
    no-early-stop    no validation split (which holds out 1 of a rare class's 5 or 10 rows), no early
                     stopping: every target step, as the textbook            (TrainConfig.val_fraction=0)
    data-codec       numbers scaled and clipped by the data set's codec (every row, as the textbook's)
                     instead of the generator's own (its training rows)     (no knob: a subclass here)
    textbook-size    the textbook's widths and latent (2 x 128, latent 8)
    textbook-train   the textbook's optimisation: 1500 steps of batch 256, weight decay 1e-5, no early stopping
    textbook-train+prior-standard, textbook-train+size+prior   those together
    means            decoder means, no output noise                          (output_noise=False)
    filter-none      every generated row, no scoring (what sample() returns)
    filter-quality   QualityConfig.accept=quality (follows its label, realistic, not a near-copy)
    filter-label     QualityConfig.accept=label (follows its label, not a near-copy)
    no-label-loss+kl-plain  the two best single changes together
    all-textbook     every change above at once (filter none): the product's code with the textbook's
                     settings; what is left against textbook_cvae is what has no knob (SiLU vs ReLU,
                     a learned per-column sigma, category levels calibrated by pipeline/gaps.py)
    textbook_cvae    the textbook recipe itself (its own process, 1500 steps of batch 256), every row used
    real             the real rows alone, for scale

Results measured before 0.9 compared against the project's own weaker copy of the recipe
(fixed-variance Gaussian, decoder means, 3000 steps of batch 64): results/ablation_v07.md.

Metrics (rare-class recall, macro-F1, logistic regression and random forest) come from
benchmarks/imbalance.py; per setting (data set, rare rows) the paired difference per seed
against default and against textbook_cvae, then the mean over settings.

    .venv/bin/python benchmarks/ablation.py                       # iris wine breast_cancer penguins, rare 5 10, 3 seeds
    .venv/bin/python benchmarks/ablation.py --datasets iris --rare 5 --seeds 1 --steps 30   # seconds
    .venv/bin/python benchmarks/ablation.py --datasets hdma pbc --seeds 5 --variants default kl-plain textbook_cvae
                     # naturally imbalanced tables (benchmarks/_natural.py), split in their own proportions

Gradient boosting (HGB) is scored beside LR and RF; settings measured before it came have no HGB column.

Results merge into benchmarks/results/ablation.{md,json} (--out): a rerun replaces the
(data set, rare rows) settings it ran, or, run with some --variants on the same seeds, those variants only.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _imbalance_report as report  # noqa: E402
from benchmarks import imbalance as bench  # noqa: E402
from benchmarks._results import machine  # noqa: E402
from pipeline import CVAESynthesizer  # noqa: E402
from pipeline.runtime import configure_threads  # noqa: E402

KEYS = report.KEYS  # lr_recall, lr_f1, second_recall (RF), second_f1, boosting_recall (HGB), boosting_f1
HEADS = ("LR rare recall", "LR macro-F1", "RF rare recall", "RF macro-F1", "HGB rare recall", "HGB macro-F1")
REFERENCES = ("default", "textbook_cvae")


@dataclass(frozen=True)
class Variant:
    """One way of making rows: the product with some settings changed, or a reference method."""

    name: str
    change: str  # in words, for the table
    fit: dict = field(default_factory=dict)  # CVAESynthesizer options (ModelConfig / TrainConfig fields)
    rule: str = "all"  # accept rule of the shipped rows, or "none": every generated row
    output_noise: bool = True
    data_codec: bool = False  # the data set's codec instead of the generator's own
    textbook_size: bool = False
    method: str | None = None  # a benchmarks/imbalance.py method instead of the product

    def options(self, split: bench.Split, steps: int | None) -> dict:
        """The CVAESynthesizer options of this variant on this split."""
        opts = dict(self.fit)
        if self.textbook_size:
            opts |= {"latent_dim": TEXTBOOK_LATENT, "hidden": [TEXTBOOK_HIDDEN, TEXTBOOK_HIDDEN]}
        if steps:
            opts["target_steps"] = steps
        return opts


TEXTBOOK_LATENT, TEXTBOOK_HIDDEN = 8, 128  # the recipe's MLP 2 x 128, latent 8
# the recipe's optimisation: 1500 steps of batch 256 (every row of these small tables in every step),
# Adam 1e-3 with weight decay 1e-5, no validation split and so no early stopping
TEXTBOOK_TRAIN = {"target_steps": 1500, "batch_size": 256, "weight_decay": 1e-5, "val_fraction": 0.0}
_TEXTBOOK_SETTINGS = TEXTBOOK_TRAIN | {
    "prior": "standard",
    "kl_warmup_fraction": 0.0,
    "free_bits": 0.0,
    "label_loss_weight": 0.0,
    "val_fraction": 0.0,
}
VARIANTS = [
    Variant("default", "the product as shipped (accept all)"),
    Variant("prior-standard", "prior N(0, I), not a learned per-class mean", {"prior": "standard"}),
    Variant("kl-plain", "no KL warm-up (0.2), no free bits (0.5)", {"kl_warmup_fraction": 0.0, "free_bits": 0.0}),
    Variant("no-label-loss", "no auxiliary label loss (was weight 3)", {"label_loss_weight": 0.0}),
    Variant("no-early-stop", "no validation split, no early stopping", {"val_fraction": 0.0}),
    Variant("data-codec", "codec fit on every row of the data set", data_codec=True),
    Variant("textbook-size", "widths 2 x 128, latent 8 (not 256-128, 16)", textbook_size=True),
    Variant("textbook-train", "1500 steps of batch 256, weight decay 1e-5, no early stopping", TEXTBOOK_TRAIN),
    Variant(
        "textbook-train+prior-standard",
        "the textbook's optimisation and prior N(0, I)",
        TEXTBOOK_TRAIN | {"prior": "standard"},
    ),
    Variant(
        "textbook-train+size+prior",
        "the textbook's optimisation, widths and prior N(0, I) (the shipped filter kept)",
        TEXTBOOK_TRAIN | {"prior": "standard"},
        textbook_size=True,
    ),
    Variant("means", "decoder means, no output noise", output_noise=False),
    Variant("filter-none", "every generated row (no scoring)", rule="none"),
    Variant("filter-quality", "accept rule quality", rule="quality"),
    Variant("filter-label", "accept rule label", rule="label"),
    Variant(
        "no-label-loss+kl-plain",
        "both of the two best single changes",
        {"label_loss_weight": 0.0, "kl_warmup_fraction": 0.0, "free_bits": 0.0},
    ),
    Variant(
        "all-textbook",
        "all of the above toward the textbook at once (filter none)",
        _TEXTBOOK_SETTINGS,
        rule="none",
        data_codec=True,
        textbook_size=True,
    ),
    Variant("textbook_cvae", "the textbook recipe (../shared/reference/textbook_cvae.py)", method="textbook_cvae"),
    Variant("real", "real rows alone", method="real"),
]
BY_NAME = {v.name: v for v in VARIANTS}

_DATA_CODEC_FITS: dict[tuple, object] = {}


class DataCodecCVAE(CVAESynthesizer):
    """The product's CVAE on the data set's codec (fit on every row, as the textbook CVAE's) instead of
    one fit on its training rows: how the few rows of a rare class are scaled and clipped."""

    def __init__(self, codec, **options) -> None:
        super().__init__(**options)
        self.data_codec = codec

    def _prepare(self, frame, label, columns, unlabelled):
        _, y, pool = super()._prepare(frame, label, columns, unlabelled)
        self.codec = self.data_codec
        return self.codec.encode(frame[self.features]), y, pool


def _fit(split: bench.Split, variant: Variant, steps: int | None):
    """The fitted product generator of this variant (fits are shared by variants that differ after fitting)."""
    opts = {**variant.options(split, steps), "strategy": "prior"}
    if not variant.data_codec:
        return bench.product_fit(split, opts)
    key = bench._product_key(split, opts)
    if key not in _DATA_CODEC_FITS:
        data = split.data
        gen = DataCodecCVAE(data.codec, seed=split.seed, **opts)
        _DATA_CODEC_FITS[key] = gen.fit(split.frame[data.features + [data.label]], label=data.label)
    return _DATA_CODEC_FITS[key]


def method_of(variant: Variant, steps: int | None) -> bench.Method:
    """The variant as a benchmarks/imbalance.py method: the training split in, the extra rows out."""
    if variant.method:
        inner = bench.METHODS[variant.method]
        return lambda split, options: inner(split, {**options, "textbook": {"steps": steps} if steps else {}})

    def method(split: bench.Split, options: dict) -> bench.Extra:
        gen = _fit(split, variant, steps)
        if isinstance(gen, str):
            return bench.Extra(skipped=gen)
        if not variant.output_noise:
            gen = copy.copy(gen)  # the same weights, sampled differently
            gen.output_noise = False
        if variant.rule == "none":
            extra = bench.rows_extra(split, gen.sample(balance_to=split.target))
        else:
            extra = bench.shipped_extra(split, gen, variant.rule)
        result = gen.result
        extra.notes["training"] = {
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
        }
        return extra

    return method


def run_setting(data: bench.Data, rare_rows: int | None, seeds: list[int], names: list[str], steps: int | None) -> dict:
    """Every variant on every seed of one setting (natural tables: rare_rows None, split in their own
    proportions), in benchmarks/imbalance.py's entry format."""
    per_seed: dict[str, dict] = {n: {} for n in names}
    options: dict = {}
    for seed in seeds:
        split = bench.make_natural_split(data, seed) if rare_rows is None else bench.make_split(data, seed, rare_rows)
        for name in names:
            result = bench.measure(split, method_of(BY_NAME[name], steps), options)
            per_seed[name][str(seed)] = result
            shown = result.get("skipped") or " ".join(f"{k}={result[k]:.1f}" for k in KEYS if k in result)
            print(f"  {_setting(data.name, rare_rows)} seed={seed} {name:15s} {shown}", flush=True)
        for cache in (bench._PRODUCT_FITS, bench._PRODUCT_ROWS, bench._LABEL_SCORERS, _DATA_CODEC_FITS):
            cache.clear()  # fits are per split
    return {"dataset": data.name, "rare_rows": rare_rows, "seeds": seeds, "methods": per_seed}


def _setting(dataset: str, rare_rows: int | None) -> str:
    return f"{dataset}/{'natural' if rare_rows is None else rare_rows}"


# --- tables -------------------------------------------------------------------------------


def setting_delta(entry: dict, name: str, other: str, key: str) -> float | None:
    """Mean over seeds of (name - other) on one setting; None where either did not run."""
    rows = entry["methods"]
    if name not in rows or other not in rows:
        return None
    seeds = [s for s in rows[name] if key in rows[name][s] and key in rows[other].get(s, {})]
    return statistics.mean(rows[name][s][key] - rows[other][s][key] for s in seeds) if seeds else None


def summarise(entries: list[dict]) -> dict:
    """Per variant: the mean over settings of its per-setting Δ against each reference, and its worst setting."""
    out = {}
    for variant in VARIANTS:
        row: dict = {}
        for ref in REFERENCES:
            for key in KEYS:
                deltas = [d for e in entries if (d := setting_delta(e, variant.name, ref, key)) is not None]
                if deltas:
                    row[f"{key}_vs_{ref}"] = statistics.mean(deltas)
                    row[f"{key}_vs_{ref}_worst"] = min(deltas)
                    row[f"{key}_vs_{ref}_settings"] = len(deltas)
        if row:
            out[variant.name] = row
    return out


def _cells(row: dict, ref: str, suffix: str = "") -> str:
    return " / ".join(f"{row[f'{k}_vs_{ref}{suffix}']:+.1f}" if f"{k}_vs_{ref}{suffix}" in row else "" for k in KEYS)


def overview(entries: list[dict], title: str) -> str:
    """The ablation table: each variant's mean paired Δ over the settings, against default and textbook."""
    summary = summarise(entries)
    settings = ", ".join(_setting(e["dataset"], e["rare_rows"]) for e in entries)
    lines = [
        f"## {title}",
        "",
        f"Settings: {settings}. Each cell: {' / '.join(HEADS)} (HGB where measured), "
        "percentage points, mean over the settings a variant ran on (n) of the per-setting mean paired Δ "
        "(per seed); 'worst': the lowest per-setting Δ.",
        "",
        "| variant | change | n | Δ default | worst Δ default | Δ textbook_cvae |",
        "|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        row = summary.get(variant.name)
        if row and "lr_recall_vs_default" in row:
            lines.append(
                f"| {variant.name} | {variant.change} | {row['lr_recall_vs_default_settings']} "
                f"| {_cells(row, 'default')} | {_cells(row, 'default', '_worst')} | {_cells(row, 'textbook_cvae')} |"
            )
    return "\n".join(lines) + "\n"


def setting_table(entry: dict) -> str:
    """One setting: absolute means ± std over seeds, and the paired Δ against default."""
    lines = [
        f"### {_heading(entry)} (seeds {', '.join(map(str, entry['seeds']))})",
        "",
        "| variant | " + " | ".join(HEADS) + " | Δ default (in that order) | epochs run |",
        "|---|" + "---|" * (len(HEADS) + 2),
    ]
    for name, per_seed in entry["methods"].items():
        runs = [r for r in per_seed.values() if "skipped" not in r]
        if not runs:
            continue
        cells = [report._fmt(report._mean_std([r[k] for r in runs])) if k in runs[0] else "" for k in KEYS]
        delta = " / ".join(
            f"{d:+.1f}" if (d := setting_delta(entry, name, "default", k)) is not None else "" for k in KEYS
        )
        epochs = [r["notes"]["training"]["epochs_run"] for r in runs if "training" in r.get("notes", {})]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {delta} | {'/'.join(map(str, epochs))} |")
    return "\n".join(lines) + "\n"


def _heading(entry: dict) -> str:
    if entry["rare_rows"] is None:
        return f"{entry['dataset']}, natural classes"
    return f"{entry['dataset']}, {entry['rare_rows']} rare rows"


def _group_title(rare_rows: int | None) -> str:
    return "Natural tables (their own classes)" if rare_rows is None else f"{rare_rows} rare rows"


def write(entries: dict, run: dict | None, out: str) -> dict:
    """Merge into the existing JSON (other settings kept) and rewrite the markdown from every entry."""
    path = Path(out + ".json")
    stored = json.loads(path.read_text()) if path.exists() else {"entries": {}, "runs": []}
    for key, entry in entries.items():  # a rerun of some variants on the same seeds replaces those only
        stored["entries"][key] = report.merge_entry(stored["entries"].get(key), entry)
    if run:
        stored["runs"].append(run)
    order = {n: i for i, n in enumerate(report.TABLES + report.NATURALS + report.FRESHS + report.IMAGES)}
    ordered = sorted(stored["entries"].values(), key=lambda e: (order.get(e["dataset"], 99), e["rare_rows"] or 0))
    stored["summary"] = summarise(ordered)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1))
    body = (
        "# Ablation: the product's recipe against the textbook CVAE (benchmarks/ablation.py)\n\n"
        + overview(ordered, "All settings")
        + "".join(
            "\n" + overview([e for e in ordered if e["rare_rows"] == r], _group_title(r))
            for r in sorted({e["rare_rows"] for e in ordered}, key=lambda r: r or 0)
        )
        + "\n"
        + "\n".join(setting_table(e) for e in ordered)
    )
    Path(out + ".md").write_text(body)
    print(f"\nwrote {out}.md and {out}.json")
    return stored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--datasets", nargs="+", default=report.TABLES, choices=report.TABLES + report.NATURALS + report.FRESHS
    )
    parser.add_argument("--seeds", type=int, default=3, help="N seeds, from --first-seed")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds K..K+N-1 (tune on some, report on others)")
    parser.add_argument("--rare", type=int, nargs="+", default=[5, 10], help="real training rows of the rare class")
    parser.add_argument("--variants", nargs="+", default=list(BY_NAME), choices=list(BY_NAME))
    parser.add_argument("--steps", type=int, default=None, help="steps of every fit (tests)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/ablation"), help="path prefix for .md/.json")
    parser.add_argument("--rewrite", action="store_true", help="only render the markdown again from the JSON")
    args = parser.parse_args(argv)
    if args.rewrite:
        write({}, None, args.out)
        return
    names = list(dict.fromkeys(args.variants))
    configure_threads(1)
    version = bench.product_version()
    t0 = time.perf_counter()
    entries, walls = {}, {}
    for name in args.datasets:
        data = bench.load_data(name)
        for rare_rows in [None] if data.is_natural else args.rare:
            key = f"{name}/natural" if rare_rows is None else f"{name}/rare{rare_rows}"
            t1 = time.perf_counter()
            entry = run_setting(data, rare_rows, bench.seed_list(args), names, args.steps)
            entry["wall_seconds"] = walls[key] = round(time.perf_counter() - t1, 1)
            entry["product_version"] = version
            entries[key] = entry
            print(setting_table(entry), flush=True)
    run = {
        "argv": sys.argv[1:] if argv is None else argv,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "settings_wall_seconds": walls,
        "machine": machine(),
        "product_version": version,
    }
    write(entries, run, args.out)


if __name__ == "__main__":
    main()
