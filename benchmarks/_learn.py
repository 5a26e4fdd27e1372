"""Learning the recommendation from the meta-benchmark's cells (benchmarks/meta.py --learn).

Per cell and judge a cell holds every option's held-out test macro-F1 and what the run saw (its
description and the gate's fold gains). A candidate rule turns what the run saw into a choice: it
ranks the options by an expected gain, w * the fold gain + (1 - w) * the option's typical test gain
on the learning tables (the typical gains per judge and, with `described`, per description: imbalanced
or balanced classes, pipeline/quality/prior.py describe), and picks as the product does (menu.pick:
ties within menu.TIE to the simpler option). The candidates:

    measured            w = 1 (the fold gains alone)
    typical[-described] w = 0
    fixed-W[-described] w = W, W in FIXED
    evidence-N[-described]  w = m / (m + N), m the smallest class's training rows, N in EVIDENCE

and, for comparison only, every fixed rule (always one option) and hindsight (the best option of
each cell on its test rows).

Validation: leave one data set out. Every learning table is scored by a rule whose typical gains
were fitted on the other learning tables only; the candidate with the best mean test macro-F1 over
the judges is chosen (this choice among a few candidates is itself made on the same scores: the
check that is never chosen on is the leave-out list of the issue, scored last by the rule fitted on
every learning table, beside the fixed rule that was best on the learning tables). The chosen
candidate, fitted on every learning table, is written to pipeline/quality/advice_prior.json; the
report goes to benchmarks/results/meta/learn.{md,json}.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from pipeline.quality.menu import PARTIAL  # measured on the test rows only (benchmarks/meta.py seen)

ROOT = Path(__file__).resolve().parents[1]
FIXED = (0.25, 0.5, 0.75)
EVIDENCE = (5, 10, 20, 40, 80)


def load_cells(folder: Path) -> list[dict]:
    """Every finished, measured cell of the folder (skipped ones and failed judges left out)."""
    cells = []
    for path in sorted(Path(folder).glob("*.json")):
        cell = json.loads(path.read_text())
        if "skipped" not in cell:
            cells.append(cell)
    return cells


def rows(cells: list[dict]) -> list[dict]:
    """One row per (cell, judge): table, held_out, bucket, smallest, fold gains, test gains, test f1."""
    from pipeline.quality.prior import describe

    out = []
    for cell in cells:
        seen = cell["seen"]
        counts = np.array([seen["smallest_class"], seen["largest_class"]])
        for judge, gate in seen["gate"].items():
            if "options" not in gate:
                continue
            f1 = {o: v[judge] for o, v in cell["heldout_f1"].items() if judge in v}
            options = [o for o in gate["options"] if o in f1 and o not in PARTIAL]
            if "real_only" not in f1 or len(options) < 2:
                continue
            out.append(
                {
                    "table": cell["table"],
                    "held_out": cell["held_out"],
                    "cell": f"{cell['table']}/{cell['shape']}/{cell['seed']}",
                    "judge": judge,
                    "bucket": describe(counts),
                    "smallest": int(seen["smallest_class"]),
                    "fold": {o: gate["options"][o]["gain"] for o in options},
                    "test": {o: f1[o] - f1["real_only"] for o in f1},
                    "f1": dict(f1),
                    "recorded": gate.get("recommended"),
                }
            )
    return out


def typical(train: list[dict], described: bool) -> dict[str, dict[str, dict[str, float]]]:
    """judge -> bucket -> option -> mean test gain, each table weighing the same."""
    per_table: dict = defaultdict(lambda: defaultdict(list))
    for r in train:
        buckets = ["all"] + ([r["bucket"]] if described else [])
        for bucket in buckets:
            for option, gain in r["test"].items():
                per_table[(r["judge"], bucket, option)][r["table"]].append(gain)
    out: dict = defaultdict(lambda: defaultdict(dict))
    for (judge, bucket, option), tables in per_table.items():
        if option != "real_only":
            out[judge][bucket][option] = round(float(np.mean([np.mean(v) for v in tables.values()])), 3)
    return {j: dict(b) for j, b in out.items()}


def weight_of(candidate: dict, smallest: int) -> float:
    if candidate["kind"] == "evidence":
        return smallest / (smallest + candidate["rows"])
    return candidate["weight"]


def choose(candidate: dict, r: dict, prior: dict) -> str:
    """The option a candidate rule picks for one row, from the fold gains and the typical gains."""
    from pipeline.quality.menu import expected_gains, pick

    if candidate["kind"] == "always":
        return candidate["option"] if candidate["option"] in r["test"] else "real_only"
    if candidate["kind"] == "recorded":  # what the run recommended with the advice it shipped with
        return r["recorded"] if r.get("recorded") in r["test"] else "real_only"
    buckets = prior.get(r["judge"], {})
    bet = buckets.get(r["bucket"] if candidate.get("described") else "all") or buckets.get("all") or {}
    w = 1.0 if candidate["kind"] == "measured" else weight_of(candidate, r["smallest"])
    return pick(expected_gains(r["fold"], bet, w) if bet else dict(r["fold"]))[1]


def candidates(options: list[str]) -> dict[str, dict]:
    out = {"measured": {"kind": "measured"}}
    for described in (False, True):
        tail = "-described" if described else ""
        out["typical" + tail] = {"kind": "fixed", "weight": 0.0, "described": described}
        for w in FIXED:
            out[f"fixed-{w:g}{tail}"] = {"kind": "fixed", "weight": w, "described": described}
        for n in EVIDENCE:
            out[f"evidence-{n}{tail}"] = {"kind": "evidence", "rows": n, "described": described}
    for o in options:
        out[f"always-{o}"] = {"kind": "always", "option": o}
    return out | {"recorded": {"kind": "recorded"}}


def other_seeds(scored: list[dict]) -> dict[int, str]:
    """Per row (by position): the option with the best mean test gain on the other seeds of the same
    table, shape and judge (absent where there is no other seed)."""
    groups: dict = defaultdict(list)
    for i, r in enumerate(scored):
        groups[(*r["cell"].split("/")[:2], r["judge"])].append(i)
    out = {}
    for members in groups.values():
        for i in members:
            peers = [scored[k] for k in members if scored[k]["cell"] != scored[i]["cell"]]
            if peers:
                gains = {o: np.mean([q["test"].get(o, -np.inf) for q in peers]) for o in scored[i]["test"]}
                out[i] = max(gains, key=gains.get)
    return out


def score(rule: dict, scored: list[dict], prior_for) -> dict[str, dict[str, float]]:
    """Per judge: mean test macro-F1 gain over the real rows alone, share of rows at most 1 point below
    them, mean shortfall from hindsight, and share of rows within 1 point of the option best on the
    other seeds of the same table and shape (None where no cell has another seed)."""
    per: dict = defaultdict(lambda: {"gain": [], "safe": [], "regret": [], "seeds": []})
    best_elsewhere = other_seeds(scored)
    for i, r in enumerate(scored):
        option = choose(rule, r, prior_for(r))
        per[r["judge"]]["gain"].append(r["test"][option])
        per[r["judge"]]["safe"].append(r["test"][option] >= -1)
        per[r["judge"]]["regret"].append(max(r["f1"].values()) - r["f1"][option])
        if i in best_elsewhere:
            per[r["judge"]]["seeds"].append(r["f1"][option] >= r["f1"][best_elsewhere[i]] - 1)
    return {
        j: {
            "gain": round(float(np.mean(v["gain"])), 3),
            "within_1_of_real": round(float(np.mean(v["safe"])), 3),
            "below_hindsight": round(float(np.mean(v["regret"])), 3),
            "within_1_of_other_seeds_best": round(float(np.mean(v["seeds"])), 3) if v["seeds"] else None,
            "rows": len(v["gain"]),
        }
        for j, v in per.items()
    }


def learn(folder: Path, write: bool = True, artifact: Path | None = None, results: Path | None = None) -> dict:
    """Validate every candidate leaving one learning table out, choose, fit on all, check on the
    leave-out tables; write the report (learn.json beside the cells' folder, or in `results`) and,
    with `write`, the artifact."""
    from pipeline.quality.prior import ADVICE_FILE

    artifact = artifact or ADVICE_FILE
    everything = rows(load_cells(folder))
    learning = [r for r in everything if not r["held_out"]]
    held_out = [r for r in everything if r["held_out"]]
    tables = sorted({r["table"] for r in learning})
    if len(tables) < 2:
        raise SystemExit(f"{len(tables)} learning table(s) in {folder}: leave-one-out needs 2 or more")
    options = sorted({o for r in everything for o in r["test"]})
    rules = candidates(options)
    folds = {t: typical([r for r in learning if r["table"] != t], True) for t in tables}
    validation = {name: score(rule, learning, lambda r: folds[r["table"]]) for name, rule in rules.items()}
    validation["hindsight"] = {
        j: {"gain": round(float(np.mean([max(r["test"].values()) for r in learning if r["judge"] == j])), 3)}
        for j in sorted({r["judge"] for r in learning})
    }
    learnt = {n: v for n, v in validation.items() if rules.get(n, {}).get("kind") in ("measured", "fixed", "evidence")}
    chosen = max(learnt, key=lambda n: np.mean([s["gain"] for s in learnt[n].values()]))
    fixed = {n: v for n, v in validation.items() if n.startswith("always-")}
    best_fixed = max(fixed, key=lambda n: np.mean([s["gain"] for s in fixed[n].values()]))
    judges = sorted({r["judge"] for r in learning})
    best_fixed_per_judge = {j: max(fixed, key=lambda n: fixed[n].get(j, {"gain": -np.inf})["gain"]) for j in judges}
    prior = typical(learning, rules[chosen].get("described", False))
    check = {}
    if held_out:
        check = {n: score(rules[n], held_out, lambda r: prior) for n in rules}
        check["hindsight"] = {
            j: round(float(np.mean([max(r["test"].values()) for r in held_out if r["judge"] == j])), 3)
            for j in sorted({r["judge"] for r in held_out})
        }
    spec = rules[chosen]
    shrink = (
        {"kind": "evidence", "rows": spec["rows"]}
        if spec["kind"] == "evidence"
        else {"kind": "fixed", "weight": 1.0 if spec["kind"] == "measured" else spec["weight"]}
    )
    old = json.loads(Path(artifact).read_text())
    where = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    out = {
        "version": int(old.get("version", 0)) + 1,
        "source": f"benchmarks/meta.py --learn on {where}",
        "product_version": sorted({json.dumps(c.get("product_version")) for c in load_cells(folder)}),
        "model": chosen,
        "tables": len(tables),
        "cells": len({r["cell"] for r in learning}),
        "shrink": shrink,
        "typical": {f"table/{j}": b for j, b in prior.items()}
        | {k: v for k, v in old["typical"].items() if not k.startswith("table/")},  # images: not learned here
        "validation": {
            "chosen": chosen,
            "leave_one_table_out": validation[chosen],
            "best_fixed_rule": best_fixed,
            "best_fixed_rule_scores": validation[best_fixed],
            "best_fixed_rule_per_judge": best_fixed_per_judge,
            "held_out_tables": sorted({r["table"] for r in held_out}),
            "held_out": {n: check[n] for n in (chosen, best_fixed, "measured", "recorded", "hindsight") if n in check},
        },
    }
    report = {
        "validation": validation,
        "chosen": chosen,
        "best_fixed": best_fixed,
        "best_fixed_per_judge": best_fixed_per_judge,
        "held_out": check,
        "artifact": out,
    }
    print(f"{len(tables)} learning tables, {len(learning)} (cell, judge) rows; held out: {len(held_out)} rows")
    for name in [chosen, best_fixed, "measured"]:
        print(f"  leave-one-table-out {name:26s} {validation[name]}")
    print(f"  chosen: {chosen}")
    results = results or folder.parent
    results.mkdir(parents=True, exist_ok=True)
    (results / "learn.json").write_text(json.dumps(report, indent=1) + "\n")
    (results / "learn.md").write_text(markdown(report, len(tables), sorted({r["table"] for r in held_out})))
    print(f"wrote {results / 'learn.json'} and learn.md")
    if write:
        Path(artifact).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {artifact}")
    return report


def _table(scores: dict[str, dict], names: list[str], judges: list[str], hindsight: dict[str, float]) -> list[str]:
    """One Markdown table: per rule and judge, the mean test macro-F1 gain over the real rows alone,
    and the share of cells within 1 point of them and of the option best on the other seeds."""
    head = " | ".join(f"{j}: gain / within 1 of real / of other seeds' best" for j in judges)
    lines = [f"| rule | {head} |", "|---|" + "---|" * len(judges)]
    for name in names:
        cells = []
        for j in judges:
            s = scores.get(name, {}).get(j)
            if not s:
                cells.append("")
                continue
            seeds = s.get("within_1_of_other_seeds_best")
            cells.append(
                f"{s['gain']:+.2f} / {100 * s['within_1_of_real']:.0f} %"
                + (f" / {100 * seeds:.0f} %" if seeds is not None else " / -")
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    best = " | ".join(f"{hindsight.get(j, 0):+.2f}" for j in judges)
    lines.append(f"| hindsight (best option per cell) | {best} |")
    return lines


def markdown(report: dict, tables: int, held_out: list[str]) -> str:
    """learn.md: the held-out check and the leave-one-table-out validation, per judge."""
    chosen, validation, check = report["chosen"], report["validation"], report["held_out"]
    judges = sorted(validation[chosen])
    fixed = sorted(n for n in validation if n.startswith("always-"))
    names = [chosen, "measured", "recorded", *fixed]
    out = [
        "# The advice learned from the meta-benchmark (benchmarks/meta.py --learn)",
        "",
        f"Chosen by leave-one-table-out validation on {tables} learning tables: `{chosen}`. Best fixed rule on"
        f" the learning tables, per judge: {report['best_fixed_per_judge']}. `measured`: the fold gains alone;"
        " `recorded`: what the runs recommended with the advice they shipped with; gains are test macro-F1"
        " points over the real rows alone, mean over (cell, judge).",
        "",
    ]
    if check:
        out += [f"## Held-out tables (never learned from): {', '.join(held_out)}", ""]
        out += _table(check, names, judges, check.get("hindsight", {})) + [""]
    out += ["## Leave one learning table out", ""]
    hind = {j: v["gain"] for j, v in validation["hindsight"].items()}
    out += _table(validation, names, judges, hind) + [""]
    return "\n".join(out)
