"""Sampling counts, reproducibility and the user's schema on the way out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from pipeline.bundle import GeneratorBundle
from pipeline.config import ModelConfig, SampleConfig, TrainConfig
from pipeline.data.codec import ClassIndex, ImageCodec, TableCodec
from pipeline.errors import ConfigError, DataError
from pipeline.generate import _Anchors, generate_frames, plan_counts
from pipeline.train import train_cvae


@pytest.fixture
def bundle(mixed_table, tmp_path) -> GeneratorBundle:
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    classes = ClassIndex.fit(mixed_table["label"])
    result = train_cvae(
        codec.encode(features),
        classes.encode(mixed_table["label"]),
        codec,
        2,
        ModelConfig(latent_dim=4),
        TrainConfig(epochs=5),
        seed=0,
    )
    saved = GeneratorBundle(result.model, codec, classes, "label", {"a": 20, "b": 5}).save(tmp_path / "g.pt")
    return GeneratorBundle.load(saved)


def test_counts_per_class_balance_and_selection(bundle):
    assert plan_counts(bundle, SampleConfig(per_class=3)) == {"a": 3, "b": 3}
    assert plan_counts(bundle, SampleConfig(balance_to=12)) == {"a": 0, "b": 7}
    assert plan_counts(bundle, SampleConfig(per_class=2, classes=["b"])) == {"b": 2}
    with pytest.raises(DataError, match="unknown class 'c'"):
        plan_counts(bundle, SampleConfig(per_class=2, classes=["c"]))
    with pytest.raises(ConfigError, match="exactly one of --per-class N or --balance-to N"):
        SampleConfig()


def test_same_seed_same_rows_in_the_users_schema(bundle, mixed_table):
    first = pd.concat(generate_frames(bundle, {"a": 7, "b": 5}, seed=3, batch_rows=4), ignore_index=True)
    again = pd.concat(generate_frames(bundle, {"a": 7, "b": 5}, seed=3, batch_rows=4), ignore_index=True)
    other = pd.concat(generate_frames(bundle, {"a": 7, "b": 5}, seed=4, batch_rows=4), ignore_index=True)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)
    assert first["label"].tolist() == ["a"] * 7 + ["b"] * 5
    assert first.dtypes.to_dict() == mixed_table.dtypes.to_dict()


def test_bundle_keeps_the_posteriors_of_every_training_row(bundle, mixed_table):
    model = bundle.model
    assert model.post_mu.shape == model.post_logvar.shape == (len(mixed_table), 4)
    assert model.post_y.tolist() == bundle.classes.encode(mixed_table["label"]).tolist()
    assert torch.isfinite(model.post_mu).all() and torch.isfinite(model.post_logvar).all()


@pytest.mark.parametrize("mode", ["variations", "interpolate"])
def test_posterior_modes_are_reproducible_and_in_the_users_schema(bundle, mixed_table, mode):
    counts = {"a": 7, "b": 25}  # b has 20 real rows: some rows get two variations
    first = pd.concat(generate_frames(bundle, counts, seed=3, batch_rows=4, mode=mode), ignore_index=True)
    again = pd.concat(generate_frames(bundle, counts, seed=3, batch_rows=4, mode=mode), ignore_index=True)
    other = pd.concat(generate_frames(bundle, counts, seed=4, batch_rows=4, mode=mode), ignore_index=True)
    prior = pd.concat(generate_frames(bundle, counts, seed=3, batch_rows=4), ignore_index=True)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other) and not first.equals(prior)
    assert first["label"].tolist() == ["a"] * 7 + ["b"] * 25
    assert first.dtypes.to_dict() == mixed_table.dtypes.to_dict()


def test_anchors_take_every_real_row_in_turn_and_partners_from_the_same_class(bundle):
    gen = torch.Generator().manual_seed(0)
    anchors = _Anchors(bundle, {"b": 45, "a": 3}, gen)
    source = anchors.source(slice(0, 48))
    post_y = bundle.model.post_y
    b, a = bundle.classes.index_of("b"), bundle.classes.index_of("a")
    assert (post_y[source[:45]] == b).all() and (post_y[source[45:]] == a).all()
    uses = torch.bincount(source[:45], minlength=len(post_y))[post_y == b]
    assert sorted(set(uses.tolist())) == [2, 3]  # 45 rows over 20 real rows: round-robin
    assert len(set(source[45:].tolist())) == 3
    partner = anchors.partner(slice(0, 48), gen)
    assert (post_y[partner] == post_y[source]).all() and (partner != source).all()


def test_variations_stay_near_real_rows_without_copying_them():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (30, 2))  # 30 distinct real rows per class, spread apart
    frame = pd.DataFrame(
        {
            "u": np.r_[centres[:, 0], -centres[:, 0]],
            "v": np.r_[centres[:, 1], 10 - centres[:, 1]],
            "label": np.repeat(["a", "b"], 30),
        }
    )
    features = frame[["u", "v"]]
    codec, classes = TableCodec.fit(features), ClassIndex.fit(frame["label"])
    result = train_cvae(
        codec.encode(features),
        classes.encode(frame["label"]),
        codec,
        2,
        ModelConfig(latent_dim=2, hidden=[64, 64]),
        TrainConfig(epochs=400, val_fraction=0),
        seed=0,
    )
    bundle = GeneratorBundle(result.model, codec, classes, "label", {"a": 30, "b": 30})
    real = codec.encode(features).x

    def nearest(mode: str) -> np.ndarray:
        rows = pd.concat(generate_frames(bundle, {"a": 60, "b": 60}, seed=1, mode=mode, temperature=0.5))
        x = codec.encode(rows[["u", "v"]]).x
        return torch.cdist(x, real).min(1).values.numpy()

    real_nn = torch.cdist(real, real).fill_diagonal_(float("inf")).min(1).values.median().item()
    variations, prior = nearest("variations"), nearest("prior")
    assert np.median(variations) < np.median(prior)
    assert np.median(variations) < real_nn  # nearer to a real row than real rows come to each other
    assert (variations > 0).all()  # but never an exact copy


def test_old_bundles_without_posteriors_still_sample_from_the_prior(bundle, tmp_path):
    path = bundle.save(tmp_path / "new.pt")
    state = torch.load(path, weights_only=True)
    for name in ("post_mu", "post_logvar", "post_y"):
        del state["state_dict"][name]
    torch.save(state, tmp_path / "old.pt")
    old = GeneratorBundle.load(tmp_path / "old.pt")
    assert len(pd.concat(generate_frames(old, {"a": 3}, seed=0))) == 3
    with pytest.raises(ConfigError, match="no real rows of class 'a'"):
        list(generate_frames(old, {"a": 3}, seed=0, mode="variations"))
    with pytest.raises(ConfigError, match="use mode prior"):
        list(generate_frames(old, {"a": 3}, seed=0, mode="warp"))


def test_warp_bends_real_images_of_the_class_reproducibly(image_frame, tmp_path):
    codec, classes = ImageCodec.fit(image_frame[["image"]]), ClassIndex.fit(image_frame["label"])
    real = codec.encode(image_frame[["image"]]).x
    y = classes.encode(image_frame["label"])
    result = train_cvae(
        codec.encode(image_frame[["image"]]), y, codec, 2, ModelConfig(latent_dim=4), TrainConfig(epochs=60), seed=0
    )
    bundle = GeneratorBundle.load(
        GeneratorBundle(result.model, codec, classes, "label", {"0": 12, "1": 12}).save(tmp_path / "g.pt")
    )
    assert bundle.model.post_x.shape == (24, 1, 16, 16)  # the real pixels travel with the weights

    def draw() -> pd.DataFrame:
        return pd.concat(generate_frames(bundle, {"0": 15, "1": 15}, seed=3, mode="warp", batch_rows=7))

    rows = draw()
    assert rows.equals(draw())  # same seed, same images
    x = codec.encode(rows[["image"]]).x
    labels = torch.as_tensor(rows["label"].to_numpy(dtype=np.int64))
    # the bright square stays where its class has it: top-left for 0, bottom-right for 1
    top_left, bottom_right = x[:, 0, 2:7, 2:7].mean((1, 2)), x[:, 0, 9:14, 9:14].mean((1, 2))
    assert ((top_left > bottom_right) == (labels == 0)).all()
    # sharp like the real images (a decoded sample is a blurry mean), yet not copies of them
    assert (x.amax((1, 2, 3)) > 0.75).all()
    distance = torch.cdist(x.flatten(1), real.flatten(1)).min(1).values
    assert (distance > 0).float().mean() > 0.5


def test_warp_needs_images(bundle):
    with pytest.raises(ConfigError, match="trained on a table"):
        list(generate_frames(bundle, {"a": 3}, seed=0, mode="warp"))


def test_a_model_alone_cannot_pseudo_label(bundle):
    with pytest.raises(ConfigError, match="a model holds none"):
        list(generate_frames(bundle, {"a": 3}, seed=0, mode="pseudo_label"))


def test_sampling_mode_is_validated():
    assert SampleConfig(per_class=1).mode == "prior"
    with pytest.raises(ValidationError):
        SampleConfig(per_class=1, mode="mixup")
