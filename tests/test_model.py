"""The CVAE and its loss: shapes, the KL against the class prior, learning, determinism."""

from __future__ import annotations

import pytest
import torch

from pipeline.config import ModelConfig, TrainConfig
from pipeline.data.codec import ClassIndex, ImageCodec, TableCodec
from pipeline.train import TrainHooks, build_model, stratified_split, train_cvae

TINY = TrainConfig(epochs=30, batch_size=16, val_fraction=0.2, patience=100)


def test_conv_and_mlp_shapes(image_frame):
    codec = ImageCodec.fit(image_frame[["image"]])
    x = codec.encode(image_frame[["image"]]).x
    y = torch.tensor(image_frame["label"].to_numpy())
    for arch in ("mlp", "conv"):
        model = build_model(codec, 2, ModelConfig(arch=arch, latent_dim=4, hidden=[32, 16], conv_channels=[4, 8]))
        raw, mu, logvar = model(x, y)
        assert raw.shape == (24, 256) and mu.shape == (24, 4) and model.shape.arch == arch
        assert model.mean_input(raw).shape == x.shape
        assert model.output_noise(raw).shape == raw.shape
        terms = model.loss(x, y, None, beta=1.0)
        assert set(terms) >= {"loss", "recon", "kl", "clf_real", "clf_fake"} and torch.isfinite(terms["loss"])


def test_kl_is_zero_at_the_class_prior_and_grows_away_from_it(mixed_table):
    codec = TableCodec.fit(mixed_table.drop(columns=["label"]))
    model = build_model(codec, 2, ModelConfig(latent_dim=3))
    y = torch.tensor([0, 1])
    mu = model.prior_mu[y].detach().clone()
    assert torch.allclose(model.kl(mu, torch.zeros_like(mu), y), torch.zeros(3), atol=1e-6)
    assert model.kl(mu + 1.0, torch.zeros_like(mu), y).sum() > 1.0  # 0.5 * 1^2 * 3 units, mean over 2 rows


def test_standard_prior_is_fixed_at_zero(mixed_table):
    codec = TableCodec.fit(mixed_table.drop(columns=["label"]))
    model = build_model(codec, 2, ModelConfig(prior="standard"))
    assert "prior_mu" not in dict(model.named_parameters()) and float(model.prior_mu.abs().sum()) == 0


def test_recon_nll_prefers_the_right_category(mixed_table):
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    model = build_model(codec, 2, ModelConfig())
    x = codec.encode(features).x[:1]
    good = x.clone() * 20 - 10
    bad = -good
    assert model.recon_nll(good, x, None) < model.recon_nll(bad, x, None)


def _fit(mixed_table, seed: int, config: TrainConfig = TINY):
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    classes = ClassIndex.fit(mixed_table["label"])
    return train_cvae(
        codec.encode(features),
        classes.encode(mixed_table["label"]),
        codec,
        2,
        ModelConfig(latent_dim=4),
        config,
        seed=seed,
    )


def test_training_lowers_the_loss_and_is_deterministic(mixed_table):
    first, again, other = _fit(mixed_table, 0), _fit(mixed_table, 0), _fit(mixed_table, 1)
    assert first.history[-1]["recon"] < first.history[0]["recon"]
    epochs = [h["epoch"] for h in first.history]  # validations several epochs apart, on the epoch axis
    assert epochs == sorted(set(epochs)) and epochs[-1] == first.epochs_run
    state, same, diff = (r.model.state_dict() for r in (first, again, other))
    assert all(torch.equal(state[k], same[k]) for k in state)
    assert not all(torch.equal(state[k], diff[k]) for k in state)


def test_mixed_precision_trains_in_bfloat16_and_stays_deterministic(mixed_table):
    bf16 = TINY.model_copy(update={"mixed_precision": True})
    first, again, full = _fit(mixed_table, 0, bf16), _fit(mixed_table, 0, bf16), _fit(mixed_table, 0)
    assert first.history[-1]["recon"] < first.history[0]["recon"]
    state, same, other = (r.model.state_dict() for r in (first, again, full))
    assert all(v.dtype != torch.bfloat16 for v in state.values())  # the weights stay float32
    assert all(torch.equal(state[k], same[k]) for k in state)
    assert not all(torch.equal(state[k], other[k]) for k in state)  # the loss really ran in bfloat16


def test_training_resumes_from_a_checkpoint_to_the_same_weights(mixed_table, tmp_path):
    features = mixed_table.drop(columns=["label"])
    codec = TableCodec.fit(features)
    classes = ClassIndex.fit(mixed_table["label"])
    args = (codec.encode(features), classes.encode(mixed_table["label"]), codec, 2, ModelConfig(latent_dim=4))
    straight = train_cvae(*args, TINY, seed=3)
    ckpt = tmp_path / "ckpt.pt"

    def crash(epoch, metrics):
        if epoch >= 20:  # killed after a checkpoint (the first validation at or after epoch 10)
            raise KeyboardInterrupt("worker killed")

    every10 = TINY.model_copy(update={"checkpoint_every": 10})
    with pytest.raises(KeyboardInterrupt):
        train_cvae(*args, every10, seed=3, hooks=TrainHooks(on_epoch=crash, checkpoint_path=ckpt))
    saved = torch.load(ckpt, weights_only=True)["epoch"]  # tensors and plain values only: no pickle needed
    assert 9 <= saved < 20
    resumed = train_cvae(*args, every10, seed=3, hooks=TrainHooks(checkpoint_path=ckpt))
    assert resumed.resumed_from_epoch == saved + 1
    assert all(torch.equal(v, resumed.model.state_dict()[k]) for k, v in straight.model.state_dict().items())


def test_stratified_split_keeps_every_class_in_training():
    y = torch.tensor([0] * 10 + [1] * 3)
    train, val = stratified_split(y, 0.2, torch.Generator().manual_seed(0))
    assert (y[val] == 0).sum() == 2 and (y[val] == 1).sum() == 0
    assert set(y[train].tolist()) == {0, 1}


def test_label_loss_is_off_for_tables_and_on_for_images_by_default(mixed_table, image_frame):
    """benchmarks/ablation.py: on rare-class tables the label loss cost recall; on images it keeps samples on label."""
    table = TableCodec.fit(mixed_table.drop(columns=["label"]))
    x = table.encode(mixed_table.drop(columns=["label"])).x
    y = ClassIndex.fit(mixed_table["label"]).encode(mixed_table["label"])
    assert "clf_fake" not in build_model(table, 2, ModelConfig()).loss(x, y, None, beta=1.0)
    assert "clf_fake" in build_model(table, 2, ModelConfig(label_loss_weight=3)).loss(x, y, None, beta=1.0)
    image = ImageCodec.fit(image_frame[["image"]])
    assert build_model(image, 2, ModelConfig(hidden=[32, 16], conv_channels=[4, 8])).label_weight == 3.0


def test_tables_train_on_the_plain_kl_and_images_keep_free_bits_and_warm_up(mixed_table, image_frame):
    """benchmarks/ablation.py `kl-plain`: tables have no free bits and no KL warm-up since 0.8;
    images keep both (docs/architecture.md). A setting given by the user wins either way."""
    table = TableCodec.fit(mixed_table.drop(columns=["label"]))
    x = table.encode(mixed_table.drop(columns=["label"])).x
    y = ClassIndex.fit(mixed_table["label"]).encode(mixed_table["label"])
    torch.manual_seed(0)
    plain = build_model(table, 2, ModelConfig())
    loss = plain.loss(x, y, None, beta=1.0)
    assert torch.allclose(loss["loss"], loss["recon"] + loss["kl"])  # no unit's KL raised to a floor
    free = build_model(table, 2, ModelConfig(free_bits=0.5))
    free.load_state_dict(plain.state_dict())
    assert free.loss(x, y, None, beta=1.0)["loss"] > loss["loss"]  # the floor binds on these weights
    image = ImageCodec.fit(image_frame[["image"]])
    assert build_model(image, 2, ModelConfig(hidden=[32, 16], conv_channels=[4, 8])).free_bits == 0.5
    assert (TrainConfig().kl_warmup_for("table"), TrainConfig().kl_warmup_for("image")) == (0.0, 0.2)
    assert TrainConfig(kl_warmup_fraction=0.3).kl_warmup_for("table") == 0.3
