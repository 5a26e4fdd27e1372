"""Per-row scores on constructed cases: copies, wrong labels, and rows drawn like the real ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.quality.fidelity import LabelScorer, SampleScorer
from pipeline.quality.scores import ClassReference


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well separated Gaussian classes in 6 dimensions."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[4.0] * 3 + [0.0] * 3, [0.0] * 3 + [4.0] * 3, [-4.0] * 6])
    y = torch.arange(3).repeat_interleave(n)
    return centres[y] + torch.randn(len(y), 6, generator=g), y


@pytest.fixture(scope="module")
def scorer() -> SampleScorer:
    x, y = _blobs(40, seed=0)
    label_scorer = LabelScorer.fit(x, y, ["a", "b", "c"], seed=0)
    return SampleScorer(label_scorer, x, y)


def test_exact_copies_of_real_rows_are_rejected(scorer):
    copies_x, copies_y = scorer.refs[0].features[:10], torch.zeros(10, dtype=torch.long)
    scores = scorer.score(copies_x, copies_y)
    assert np.allclose(scores["authenticity"], 0.0)
    assert not scores["accepted"].any()


def test_wrong_label_rows_get_low_fidelity_and_are_rejected(scorer):
    x, y = _blobs(20, seed=5)
    wrong = (y + 1) % 3
    right_scores, wrong_scores = scorer.score(x, y), scorer.score(x, wrong)
    assert wrong_scores["label_fidelity"].mean() < 0.1 < 0.9 < right_scores["label_fidelity"].mean()
    assert not wrong_scores["accepted"].any()


def test_rows_from_the_real_distribution_score_like_real_rows(scorer):
    x, y = _blobs(40, seed=7)  # fresh draws from the same distribution
    scores = scorer.score(x, y)
    assert scores["accepted"].mean() > 0.85
    assert 0.5 < np.median(scores["realism"]) < 2.0
    assert 0.5 < np.median(scores["authenticity"]) < 2.5


def test_off_manifold_rows_have_no_realism(scorer):
    x = torch.full((5, 6), 30.0)
    scores = scorer.score(x, torch.zeros(5, dtype=torch.long))
    assert (scores["realism"] == 0).all() and not scores["accepted"].any()


def test_reference_radii_and_scale_from_real_rows():
    ref = ClassReference.fit(torch.tensor([[0.0], [1.0], [2.0], [3.0]]), k=1)
    assert ref.radii.tolist() == [1.0, 1.0, 1.0, 1.0] and ref.nn_scale == 1.0
    realism, authenticity, inside = ref.score(torch.tensor([[1.5], [10.0]]))
    assert realism.tolist() == [2.0, 0.0] and authenticity.tolist() == [0.5, 7.0] and inside.tolist() == [True, False]


def test_set_metrics_are_perfect_for_the_real_rows_themselves_and_poor_far_away():
    from pipeline.quality.report import class_set_metrics, frechet_distance

    x, y = _blobs(30, seed=3)
    ref = ClassReference.fit(x[y == 0])
    same = class_set_metrics(ref, x[y == 0])
    assert same["precision"] == 1.0 and same["coverage"] == 1.0 and same["recall"] == 1.0
    far = class_set_metrics(ref, x[y == 0] + 50)
    assert far["precision"] == 0.0 and far["coverage"] == 0.0 and far["density"] == 0.0
    assert frechet_distance(x, x) < 1e-3 < 100 < frechet_distance(x, x + 10)


def test_column_similarity_scores(mixed_table):
    from pipeline.quality.report import column_pair_trends, column_shapes

    columns = ["height", "count", "colour", "city"]
    assert all(v == pytest.approx(1.0) for v in column_shapes(mixed_table, mixed_table, columns).values())
    shifted = mixed_table.assign(height=mixed_table["height"] + 100, colour="red")
    shapes = column_shapes(mixed_table, shifted, columns)
    assert shapes["height"] == pytest.approx(0.0) and shapes["colour"] < 0.5 and shapes["count"] == pytest.approx(1.0)
    assert column_pair_trends(mixed_table, mixed_table, columns) == pytest.approx(1.0)


def test_score_any_synthetic_file_from_the_cli(tmp_path, mixed_table):
    from typer.testing import CliRunner

    from flows.cli import app

    real = tmp_path / "real.parquet"
    mixed_table.to_parquet(real)
    copies = mixed_table.iloc[:10].assign(source="other-tool")  # exact copies, plus a foreign column
    copies.to_parquet(tmp_path / "synthetic.parquet")
    result = CliRunner().invoke(
        app,
        [
            "score",
            "--real",
            str(real),
            "--synthetic",
            str(tmp_path / "synthetic.parquet"),
            "--label",
            "label",
            "--out",
            str(tmp_path / "scored"),
        ],
    )
    assert result.exit_code == 0, result.output
    import pandas as pd

    scored = pd.read_parquet(tmp_path / "scored" / "scored.parquet")
    assert (
        (scored["authenticity"] == 0).all()
        and not scored["accepted"].any()
        and (scored["source"] == "other-tool").all()
    )
    assert "| a |" in (tmp_path / "scored" / "quality_report.md").read_text()


def test_score_refuses_a_file_without_the_real_columns(tmp_path, mixed_table):
    from pipeline.errors import DataError
    from pipeline.quality.score_file import score_file

    mixed_table.to_parquet(tmp_path / "real.parquet")
    mixed_table.drop(columns=["height"]).to_parquet(tmp_path / "synthetic.parquet")
    with pytest.raises(DataError, match=r"lacks columns \['height'\]"):
        score_file(str(tmp_path / "real.parquet"), str(tmp_path / "synthetic.parquet"), "label", tmp_path / "out")
    assert not (tmp_path / "out" / "scored.parquet").exists()


def test_report_memory_is_flat_in_the_number_of_rows(monkeypatch):
    """Shares and means stay exact; DCR quantiles come from a bounded uniform sample."""
    from pipeline.quality import report

    monkeypatch.setattr(report, "MAX_DCR_SAMPLE", 500)
    acc = report.QualityAccumulator(["a", "b"])
    rng = np.random.default_rng(0)
    truth = {"accepted": [], "authenticity": []}
    for _ in range(40):  # 40 batches of 1000 rows, classes mixed
        y = torch.from_numpy(rng.integers(0, 2, 1000))
        scores = {
            "accepted": rng.random(1000) > 0.3,
            "label_fidelity": rng.random(1000),
            "follows_label": rng.random(1000) > 0.1,
            "authenticity": rng.random(1000) * 2,
        }
        truth["accepted"].append(scores["accepted"][y.numpy() == 0])
        truth["authenticity"].append(scores["authenticity"][y.numpy() == 0])
        acc.add(torch.zeros(1000, 3), y, scores)
    tally = acc.tallies[0]
    assert len(tally.dcr) == 500 and tally.rows == sum(len(a) for a in truth["accepted"])
    assert sum(len(f) for f in acc.features[0]) == report.MAX_ROWS_PER_CLASS
    built = report.build_report(acc, {}, {}, 1.0, image=False)["per_class"]["a"]
    assert built["accepted_share"] == pytest.approx(np.concatenate(truth["accepted"]).mean(), abs=1e-12)
    assert built["dcr_relative_median"] == pytest.approx(np.median(np.concatenate(truth["authenticity"])), abs=0.1)
    # below the cap the quantiles are exact
    small = report.QualityAccumulator(["a"])
    values = rng.random(300)
    small.add(
        torch.zeros(300, 3),
        torch.zeros(300, dtype=torch.long),
        {"accepted": values > 0.5, "label_fidelity": values, "follows_label": values > 0.2, "authenticity": values},
    )
    assert report.build_report(small, {}, {}, 1.0, image=False)["per_class"]["a"]["dcr_relative_median"] == np.median(
        values
    )
