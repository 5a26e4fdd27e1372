"""benchmarks/imbalance.py's results: the data sets and classifiers its entries hold, the
per-setting tables and overviews, the advice analysis (following the gate's recommendation
against fixed rules and the best option with hindsight; rules replayed on the gate's stored
gains; menu.TYPICAL_GAINS), and the merge into the stored JSON. Reads results only: nothing here
trains or measures."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from benchmarks._natural import FRESH, NATURAL

TABLES = ["iris", "wine", "breast_cancer", "penguins"]
NATURALS = list(NATURAL)  # naturally imbalanced real tables (benchmarks/_natural.py), split in their own proportions
FRESHS = list(FRESH)  # real tables never tuned on, split the rare way (benchmarks/_natural.py)
IMAGES = ["digits", "mnist"]
# the overviews' groups: title, the gate's menu (MENU_METHODS) and the data sets
GROUPS = [
    ("tables", "tables", TABLES),
    ("natural tables", "tables", NATURALS),
    ("fresh tables", "tables", FRESHS),
    ("images", "images", IMAGES),
]
POLICY_BASELINES = ["trivial_augment", "rand_augment", "auto_augment", "augmix"]  # torchvision's, images
BASELINES = ["class_weights", "oversample", "smote", "affine", *POLICY_BASELINES]
CLASSIFIERS = {"table": ["lr", "second", "boosting"], "image": ["lr", "second"]}
KEYS = [f"{k}_{m}" for k in CLASSIFIERS["table"] for m in ("recall", "f1")]  # every metric a result may hold

# the gate's judge for each of this benchmark's classifiers: the same scikit-learn models (fit_predict)
JUDGES = {"lr": "logistic", "second": "forest", "boosting": "boosting"}


def setting_name(entry: dict) -> str:
    return f"{entry['dataset']}/{'natural' if entry.get('shape') == 'natural' else entry['rare_rows']}"


def _keys(entry: dict) -> list[str]:
    """The metrics measured in this entry, in KEYS order (entries measured before boosting lack it)."""
    present = {k for runs in entry["methods"].values() for result in runs.values() for k in result}
    return [k for k in KEYS if k in present]


def classifier_name(kind: str, dataset: str) -> str:
    return {"lr": "LR", "boosting": "HGB"}.get(kind) or ("CNN" if dataset in IMAGES else "RF")


def summarise(entry: dict) -> dict:
    """Mean ± std per method and metric; paired differences against real only and the best baseline."""
    methods = entry["methods"]
    ran = {m: r for m, r in methods.items() if r and not any("skipped" in v for v in r.values())}
    seeds = [str(s) for s in entry["seeds"]]
    keys = _keys(entry)

    def values(method: str | None, key: str) -> list[float] | None:
        """Per seed; None where the method did not run or did not measure the key on every seed."""
        found = [ran[method][s].get(key) for s in seeds] if method in ran else [None]
        return None if None in found else found

    best = {}
    for key in keys:
        present = [b for b in BASELINES if values(b, key)]
        best[key] = max(present, key=lambda b: statistics.mean(values(b, key))) if present else None
    out = {"best_baseline": best, "methods": {}}
    for method in ran:
        row = {}
        for key in keys:
            if (mine := values(method, key)) is None:
                continue
            row[key] = _mean_std(mine)
            for name, other in (("real", "real"), ("best", best[key])):
                if theirs := values(other, key):
                    row[f"{key}_vs_{name}"] = _mean_std([a - b for a, b in zip(mine, theirs)])
        row["seconds"] = statistics.mean(ran[method][s]["seconds_total"] for s in seeds)
        spreads = [ran[method][s]["spread"] for s in seeds if "spread" in ran[method][s]]
        row["spread"] = statistics.mean(spreads) if spreads else None
        out["methods"][method] = row
    out["skipped"] = {m: next(iter(r.values()))["skipped"] for m, r in methods.items() if m not in ran and r}
    return out


def _mean_std(xs: list[float]) -> list[float]:
    return [statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0]


def _fmt(pair: list[float] | None, signed: bool = False) -> str:
    if pair is None:
        return ""
    return f"{pair[0]:+.1f} ± {pair[1]:.1f}" if signed else f"{pair[0]:.1f} ± {pair[1]:.1f}"


def _title(entry: dict) -> str:
    seeds = ", ".join(map(str, entry["seeds"]))
    if entry.get("shape") != "natural":
        rare_names = ", ".join("/".join(s["rare"]) for s in entry["splits"].values())
        return (
            f"### {entry['dataset']}: {entry['rare_rows']} rare rows vs {entry['others']} (seeds "
            f"{seeds}; rare classes per seed: {rare_names})"
        )
    first = next(iter(entry["splits"].values()))
    counts = ", ".join(f"{c} {n}" for c, n in first["train_counts"].items())
    return (
        f"### {entry['dataset']}: natural classes, {first['train_rows']} training rows ({counts}; seeds {seeds}; "
        f"rare: {'/'.join(first['rare'])}, {first['rare_test_rows']} of {first['test_rows']} test rows)"
    )


def markdown(entry: dict) -> str:
    """One table per setting: absolute numbers, then the paired differences."""
    summary = summarise(entry)
    keys = _keys(entry)
    names = []
    for key in keys:
        kind, metric = key.rsplit("_", 1)
        names.append(f"{classifier_name(kind, entry['dataset'])} {'rare recall' if metric == 'recall' else 'macro-F1'}")
    short = " | ".join(n.replace("rare recall", "recall").replace("macro-F1", "F1") for n in names)
    lines = [
        _title(entry),
        "",
        f"| method | {' | '.join(names)} | Δ best: {short} | Δ real: {short} | spread | s/seed |",
        "|---" * (3 * len(keys) + 3) + "|",
    ]
    for method, row in summary["methods"].items():
        cells = [_fmt(row.get(k)) for k in keys]
        cells += [_fmt(row.get(f"{k}_vs_best"), True) for k in keys]
        cells += [_fmt(row.get(f"{k}_vs_real"), True) for k in keys]
        cells.append("" if row["spread"] is None else f"{row['spread']:.2f}")
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {row['seconds']:.1f} |")
    lines.append("")
    lines.append("Best baseline (by mean): " + ", ".join(f"{k} {v}" for k, v in summary["best_baseline"].items()) + ".")
    for method, why in summary["skipped"].items():
        if why != "images only":
            lines.append(f"{method}: {why}.")
    return "\n".join(lines) + "\n"


def _setting_delta(entry: dict, method: str, other: str | None, key: str) -> float | None:
    """Mean over seeds of method - other on one setting (other None: the setting's best baseline)."""
    ran = entry["summary"]["methods"]
    other = other or entry["summary"]["best_baseline"].get(key)
    if key not in ran.get(method, {}) or key not in ran.get(other, {}):
        return None
    rows = entry["methods"]
    return statistics.mean(rows[method][s][key] - rows[other][s][key] for s in rows[method])


def _describe(keys: list[str], dataset: str) -> str:
    """'LR recall / LR F1 / RF recall / ...': what the values of a cell are."""
    return " / ".join(f"{classifier_name(k.rsplit('_', 1)[0], dataset)} {k.rsplit('_', 1)[1].upper()}" for k in keys)


def _partly(group: list[dict], keys: list[str], dataset: str) -> list[str]:
    """A line naming the classifiers measured on only some settings of a group (added since), and where."""
    notes = []
    for key in [k for k in keys if k.endswith("_f1")]:
        some = [setting_name(e) for e in group if key in _keys(e)]
        if len(some) < len(group):
            notes.append(f"{classifier_name(key[:-3], dataset)} only on {', '.join(some)}")
    if not notes:
        return []
    return [f"Measured on some settings only (added later, by the methods run again): {'; '.join(notes)}.", ""]


def overview(entries: list[dict]) -> str:
    """Per group, each method's paired differences averaged over the settings (data set x rare rows), and
    its worst setting's macro-F1 against real only: the issue's targets in one table."""
    lines = ["## Overview: mean over settings of the per-setting paired differences", ""]
    for title, _, names in GROUPS:
        group = [e for e in entries if e["dataset"] in names]
        if not group:
            continue
        keys = [k for k in KEYS if any(k in _keys(e) for e in group)]
        f1_keys = [k for k in keys if k.endswith("_f1")]
        settings = ", ".join(setting_name(e) for e in group)
        lines += [
            f"{title} ({settings}); each cell: {_describe(keys, names[0]).replace('RECALL', 'recall')}",
            "",
            *_partly(group, keys, names[0]),
            "| method | Δ best baseline | Δ oversample | Δ textbook_cvae | Δ real "
            f"| worst Δ real F1 ({', '.join(classifier_name(k[:-3], names[0]) for k in f1_keys)}) |",
            "|---|---|---|---|---|---|",
        ]
        methods = list(dict.fromkeys(m for e in group for m in e["summary"]["methods"]))  # as first run
        for method in methods:
            cells = []
            for other in (None, "oversample", "textbook_cvae", "real"):
                means = []
                for key in keys:
                    deltas = [d for e in group if (d := _setting_delta(e, method, other, key)) is not None]
                    means.append(f"{statistics.mean(deltas):+.1f}" if deltas else "")
                cells.append(" / ".join(means))
            worst = []
            for key in f1_keys:
                deltas = [d for e in group if (d := _setting_delta(e, method, "real", key)) is not None]
                worst.append(f"{min(deltas):+.1f}" if deltas else "")
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {', '.join(worst)} |")
        lines.append("")
    return "\n".join(lines) + "\n"


# the benchmark method that measures each option of the gate's menu (pipeline/quality/menu.py)
MENU_METHODS = {
    "tables": {
        "real_only": "real",
        "class_weight": "class_weights",
        "oversample": "oversample",
        "smote": "smote",
        "cvae": "shipped-all",
    },
    "images": {
        "real_only": "real",
        "class_weight": "class_weights",
        "oversample": "oversample",
        "affine": "affine",
        "rand_augment": "rand_augment",
        "cvae": "shipped-quality",
        "cvae_affine": "product-prior+affine",
    },
}
F1_KEYS = {kind: f"{kind}_f1" for kind in CLASSIFIERS["table"]}


def _mean(entry: dict, method: str, key: str) -> float | None:
    rows = entry["methods"].get(method) or {}
    values = [r[key] for r in rows.values() if key in r]
    return statistics.mean(values) if values and len(values) == len(entry["seeds"]) else None


GROUP_DATASETS = {"tables": TABLES + NATURALS, "images": IMAGES}
MODALITY = {"tables": "table", "images": "image"}  # menu.TYPICAL_GAINS's names


def _judge(kind: str, modality: str) -> str:
    return "cnn" if kind == "second" and modality == "images" else JUDGES[kind]


def option_priors(entries: list[dict], modality: str, exclude: str | None = None) -> dict[str, dict[str, float]]:
    """Per judge, each menu option's test macro-F1 gain over the real rows alone, averaged over the
    settings of this kind of data where every option was measured (leaving out the data set
    `exclude`): menu.TYPICAL_GAINS, and the replay's prior for a data set made from the others only."""
    menu = MENU_METHODS[modality]
    out: dict[str, dict[str, float]] = {}
    for kind, key in F1_KEYS.items():
        per_setting = []
        for e in entries:
            if e["dataset"] in GROUP_DATASETS[modality] and e["dataset"] != exclude:
                means = {option: _mean(e, method, key) for option, method in menu.items()}
                if None not in means.values():
                    per_setting.append({o: v - means["real_only"] for o, v in means.items() if o != "real_only"})
        if per_setting:
            options = per_setting[0]
            out[_judge(kind, modality)] = {o: round(statistics.mean(g[o] for g in per_setting), 1) for o in options}
    return out


def _replayed(entry: dict, entries: list[dict], modality: str, kind: str, tie: float, shrink: float) -> float | None:
    """Macro-F1 a user gets under a rule, replayed from the gate's own gains (kept in the follow
    method's notes, every class weighing the same) and read off the menu method's test score:
    the product's rule (menu.expected_gains, menu.pick) with weight `shrink` and tie width `tie`,
    the prior made from the other data sets only (option_priors)."""
    from pipeline.quality.menu import expected_gains, pick

    prior = option_priors(entries, modality, exclude=entry["dataset"]).get(_judge(kind, modality), {})
    scores = []
    for seed, result in (entry["methods"].get("follow") or {}).items():
        gains = result.get("notes", {}).get(kind, {}).get("gate_gains_balanced")
        if not gains:
            return None
        _, chosen = pick(expected_gains(gains, prior, shrink), tie)
        row = (entry["methods"].get(MENU_METHODS[modality].get(chosen)) or {}).get(seed) or {}
        if F1_KEYS[kind] not in row:
            return None
        scores.append(row[F1_KEYS[kind]])
    return statistics.mean(scores) if scores else None


def _honest_best(entry: dict, menu: dict, key: str) -> float | None:
    """The best menu option chosen with hindsight, without the luck of the draw: for each seed,
    the option with the best mean on the other seeds, scored on this seed; the mean over seeds.
    The plain best (max over options of their means) is biased upwards: with 3 seeds and a few
    options within a point of each other, it picks whichever drew well, by 0.6-1.0 points here."""
    methods = [m for m in menu.values() if _mean(entry, m, key) is not None]
    seeds = list(entry["seeds"])
    if not methods or len(seeds) < 2:
        return None
    scores = {m: {str(s): r[key] for s, r in entry["methods"][m].items()} for m in methods}
    picked = []
    for seed in map(str, seeds):
        others = [s for s in map(str, seeds) if s != seed]
        best = max(methods, key=lambda m: statistics.mean(scores[m][s] for s in others))
        picked.append(scores[best][seed])
    return statistics.mean(picked)


def _against_hindsight(group: list[dict], menu: dict, value_of, kinds: list[str]) -> dict[str, list[str]] | None:
    """Per classifier of `kinds`, mean and worst of (value - best menu option chosen with hindsight), of
    (value - that best chosen on the other seeds: _honest_best) and of (value - real rows
    alone) over the settings; value_of(entry, kind, key) is a training set's mean macro-F1 on
    one setting (None: not measured there)."""
    names = ["hind", "hind_worst", "honest", "honest_worst", "real", "real_worst"]
    cells: dict[str, list[str]] = {name: [] for name in names}
    for kind in kinds:
        key = F1_KEYS[kind]
        deltas: dict[str, list[float]] = {"hind": [], "honest": [], "real": []}
        for e in group:
            value, real = value_of(e, kind, key), _mean(e, "real", key)
            options = [v for m in menu.values() if (v := _mean(e, m, key)) is not None]
            honest = _honest_best(e, menu, key)
            if value is None or not options or real is None or honest is None:
                continue
            deltas["hind"].append(value - max(options))
            deltas["honest"].append(value - honest)
            deltas["real"].append(value - real)
        if deltas["hind"]:
            for name, values in deltas.items():
                cells[name].append(f"{statistics.mean(values):+.1f}")
                cells[f"{name}_worst"].append(f"{min(values):+.1f}")
    return cells if cells["hind"] else None


def advice_overview(entries: list[dict]) -> str:
    """The gate's advice against what a user could have picked: 'follow' (train on what
    `--generator auto` ships) and the fixed rules, each as macro-F1 minus the best menu option
    chosen with hindsight (per setting, by mean over seeds) and minus the real rows alone; then
    other recommendation rules, replayed from the gate's own gains."""
    lines = ["## Follow the recommendation (`--generator auto`)", ""]
    header = (
        "| Δ best with hindsight (mean) | worst Δ best | Δ best chosen on the other seeds (mean) | worst "
        "| Δ real rows alone (mean) | worst Δ real |"
    )
    for title, modality, names in GROUPS:
        menu = MENU_METHODS[modality]
        group = [e for e in entries if e["dataset"] in names and "follow" in e["methods"]]
        if not group:
            continue
        settings = ", ".join(setting_name(e) for e in group)
        kinds = [k for k, key in F1_KEYS.items() if any(_mean(e, "follow", key) is not None for e in group)]
        lines += [
            f"{title} ({settings}): macro-F1, {' / '.join(classifier_name(k, names[0]) for k in kinds)} "
            "(the gate judged by the same classifier)",
            "",
            "| training set " + header,
            "|---" * 7 + "|",
        ]
        for rule in ["follow", *[m for m in menu.values() if m != "real"]]:
            cells = _against_hindsight(group, menu, lambda e, kind, key, rule=rule: _mean(e, rule, key), kinds)
            if cells:
                name = "**follow**" if rule == "follow" else f"always {rule}"
                lines.append(f"| {name} | " + " | ".join(" / ".join(v) for v in cells.values()) + " |")
        lines += [
            "",
            "Rules replayed from the gate's own gains (every class weighing the same): the weight of the gate's "
            "measured gain against each option's average gain on the other data sets (1: the measurement alone), "
            "and the tie width (points) within which the cheaper option wins:",
            "",
            "| weight | tie " + header,
            "|---" * 8 + "|",
        ]
        for shrink in (1.0, 0.75, 0.5, 0.25, 0.0):
            for tie in (0.0, 0.5, 1.0):
                replay = lambda e, kind, key, t=tie, w=shrink: _replayed(e, entries, modality, kind, t, w)  # noqa: E731
                cells = _against_hindsight(group, menu, replay, kinds)
                if cells:
                    row = " | ".join(" / ".join(v) for v in cells.values())
                    lines.append(f"| {shrink:g} | {tie:g} | {row} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def merge_entry(old: dict | None, new: dict) -> dict:
    """A rerun of some methods (--methods) on the same seeds replaces those methods only, so the product can
    be measured again after a change without rerunning the baselines; other reruns replace the entry."""
    if old is None or old["seeds"] != new["seeds"] or set(new["methods"]) >= set(old["methods"]):
        return new
    versions = old.get("versions") or {m: old.get("product_version") for m in old["methods"]}
    versions.update({m: new["product_version"] for m in new["methods"]})
    return {**old, "methods": {**old["methods"], **new["methods"]}, "versions": versions}


def write(results: dict, out: str) -> None:
    """Merge into the existing JSON (other settings kept) and rewrite the markdown from every entry."""
    path = Path(out + ".json")
    stored = json.loads(path.read_text()) if path.exists() else {"entries": {}}
    for key, entry in results["entries"].items():
        stored["entries"][key] = merge_entry(stored["entries"].get(key), entry)
    if results.get("run"):
        stored.setdefault("runs", []).append(results["run"])
    order = {n: i for i, n in enumerate(TABLES + NATURALS + FRESHS + IMAGES)}
    entries = sorted(stored["entries"].values(), key=lambda e: (order.get(e["dataset"], 99), e["rare_rows"] or 0))
    for entry in entries:
        entry["summary"] = summarise(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=1))
    header = (
        "# Rare-class benchmark (benchmarks/imbalance.py)\n\nPercent on the fixed real test set, mean ± std "
        "over seeds; Δ columns are paired differences per seed. 'Δ best' is against the best (by mean, per "
        "column) of class_weights / oversample / smote / affine. 'spread': per-feature std of the new rare rows "
        "over that of the real rare rows (1: as varied as the real ones).\n\n"
    )
    body = header + advice_overview(entries) + "\n" + overview(entries) + "\n" + "\n".join(markdown(e) for e in entries)
    Path(out + ".md").write_text(body)
    print(f"\nwrote {out}.md and {out}.json")


def print_priors(out: str) -> None:
    """menu.TYPICAL_GAINS as Python, from every setting of the stored results."""
    entries = list(json.loads(Path(out + ".json").read_text())["entries"].values())
    print("TYPICAL_GAINS: dict[tuple[str, str], dict[str, float]] = {")
    for modality in GROUP_DATASETS:
        for judge, gains in option_priors(entries, modality).items():
            print(f"    ({MODALITY[modality]!r}, {judge!r}): {gains},")
    print("}")
