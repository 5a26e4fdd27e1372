"""The generator interface: fit on a frame, sample per class or up to a count, save and load
the safe format; a tampered or planted file is refused and nothing from it runs."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pytest
import torch

from pipeline import AffineSynthesizer, CVAESynthesizer, SMOTESynthesizer, Synthesizer
from pipeline.errors import ConfigError, DataError, ModelLoadError
from pipeline.synthesizers.baselines import PseudoLabelSynthesizer

FAST = {"epochs": 5, "latent_dim": 4, "hidden": [32, 16]}


@pytest.fixture(scope="module")
def table():
    from palmerpenguins import load_penguins

    frame = load_penguins()
    frame["species"] = frame["species"].astype("str")
    return frame.groupby("species").head(12).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted(table):
    return CVAESynthesizer(seed=0, **FAST).fit(table, label="species")


def test_rows_come_back_in_the_users_schema(fitted, table):
    rows = fitted.sample(per_class=4)
    assert list(rows.columns) == list(table.columns)
    assert rows.dtypes.to_dict() == table.dtypes.to_dict()
    assert rows["species"].value_counts().to_dict() == {"Adelie": 4, "Chinstrap": 4, "Gentoo": 4}


def test_balance_to_writes_rows_only_for_the_classes_below(fitted, table):
    fitted.real_counts = {"Adelie": 12, "Chinstrap": 5, "Gentoo": 12}
    try:
        rows = fitted.sample(balance_to=12)
        assert rows["species"].value_counts().to_dict() == {"Chinstrap": 7}
        with pytest.raises(ConfigError, match="asks for nothing"):
            fitted.sample(balance_to=3)
    finally:
        fitted.real_counts = {"Adelie": 12, "Chinstrap": 12, "Gentoo": 12}
    with pytest.raises(ConfigError, match=r"unknown class\(es\) \['Emperor'\]"):
        fitted.sample(per_class=2, classes=["Emperor"])
    assert fitted.sample(per_class=2, classes=["Gentoo"])["species"].tolist() == ["Gentoo", "Gentoo"]


def test_same_seed_same_rows_and_save_load_keeps_them(fitted, tmp_path):
    first = fitted.sample(per_class=5, seed=3)
    pd.testing.assert_frame_equal(first, fitted.sample(per_class=5, seed=3))
    assert not first.equals(fitted.sample(per_class=5, seed=4))
    fitted.save(tmp_path / "model")
    loaded = Synthesizer.load(tmp_path / "model")
    assert isinstance(loaded, CVAESynthesizer)
    pd.testing.assert_frame_equal(first, loaded.sample(per_class=5, seed=3))
    spec = json.loads((tmp_path / "model" / "spec.json").read_text())
    assert spec["kind"] == "cvae" and spec["keeps_real_rows"] is False and "versions" in spec
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"spec.json", "weights.safetensors", "manifest.json"}


def test_transfer_keeps_the_posteriors_and_says_so(table, tmp_path):
    gen = CVAESynthesizer(seed=1, strategy="transfer", **FAST).fit(table, label="species")
    rows = gen.sample(per_class=3)
    assert len(rows) == 9 and gen.keeps_real_rows
    gen.save(tmp_path / "t")
    assert json.loads((tmp_path / "t" / "spec.json").read_text())["keeps_real_rows"] is True
    pd.testing.assert_frame_equal(rows, Synthesizer.load(tmp_path / "t").sample(per_class=3))


def test_a_changed_byte_is_refused(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    weights = folder / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="does not match its SHA-256"):
        Synthesizer.load(folder)


def test_a_planted_pickle_is_refused_and_never_runs(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (folder / "python_model.pkl").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelLoadError, match=r"unexpected files \['python_model.pkl'\]"):
        Synthesizer.load(folder)
    assert not marker.exists()
    (folder / "python_model.pkl").unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    with pytest.raises(ModelLoadError, match="not the one recorded"):
        Synthesizer.load(folder, expected_digest="0" * 64)
    assert Synthesizer.load(folder, expected_digest=None).kind == "cvae" and manifest


def test_baselines_share_the_interface(table, image_frame, tmp_path):
    smote = SMOTESynthesizer(seed=0).fit(table, label="species")
    rows = smote.sample(per_class=6)
    assert list(rows.columns) == list(table.columns) and len(rows) == 18
    smote.save(tmp_path / "s")
    pd.testing.assert_frame_equal(rows, Synthesizer.load(tmp_path / "s").sample(per_class=6))
    views = AffineSynthesizer(seed=0).fit(image_frame, label="label").sample(per_class=3)
    assert len(views) == 6 and views["image"][0]["bytes"].startswith(b"\x89PNG")
    with pytest.raises(ConfigError, match="makes image rows, and this data is a table"):
        AffineSynthesizer().fit(table, label="species")


@pytest.mark.parametrize("kind", [CVAESynthesizer, AffineSynthesizer])
def test_image_rows_come_with_the_pixels_their_pngs_hold(kind, image_frame):
    """The scorer takes the generator's pixels instead of decoding the PNGs it wrote: they must
    be exactly what decoding gives."""
    options = {"epochs": 1, "latent_dim": 4} if kind is CVAESynthesizer else {}
    gen = kind(seed=0, **options).fit(image_frame, label="label")
    for frame, pixels in gen.sample_written({"0": 300, "1": 5}, seed=1, batch_rows=128):
        assert pixels is not None and torch.equal(pixels, gen.codec.encode(frame[gen.features]).x)
    frames = [frame for frame, _ in gen.sample_written({"1": 3}, seed=2)]
    pd.testing.assert_frame_equal(pd.concat(frames), pd.concat(list(gen.sample_frames({"1": 3}, seed=2))))


def test_table_rows_are_read_back_by_re_encoding(fitted):
    assert all(encoded is None for _, encoded in fitted.sample_written({"Adelie": 5}, seed=0))


def test_pseudo_labels_deliver_only_sure_rows(table):
    pool = table.assign(species=None)
    labelled = pd.concat([table.groupby("species").head(4), pool], ignore_index=True)
    gen = PseudoLabelSynthesizer(seed=0, confidence=0.9).fit(labelled, label="species")
    rows = gen.sample(per_class=100)
    assert 0 < len(rows) <= len(pool)  # fewer than asked: only the sure rows exist
    with pytest.raises(ConfigError, match="there are none"):
        PseudoLabelSynthesizer().fit(table, label="species")


def test_bad_input_to_fit_is_one_clear_error(table):
    with pytest.raises(DataError, match="label column 'nope' not found"):
        CVAESynthesizer().fit(table, label="nope")
    with pytest.raises(ConfigError, match=r"unknown CVAE option\(s\) \['epoch'\]"):
        CVAESynthesizer(epoch=3)
    with pytest.raises(ConfigError, match="not fitted"):
        CVAESynthesizer().sample(per_class=1)


def test_the_readme_python_api_runs_as_written(tmp_path, monkeypatch):
    """The README's fit-and-sample block, executed (in a temporary folder)."""
    monkeypatch.chdir(tmp_path)
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("<!-- python-api -->")[1].split("```python")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(block.replace("epochs=300", "epochs=3"), "README.md", "exec"), namespace)  # noqa: S102
    assert len(namespace["rows"]) == 300 and namespace["rows"].equals(namespace["same"])
    assert set(namespace["smote_rows"]["species"]) == {"Chinstrap", "Gentoo"}  # only the classes below 150


def test_affine_views_bend_every_real_image_as_often():
    """Affine views take the real images of a class in turn (a random order), so 5 rare images
    with 37 views each get 7 or 8 of them; random draws left some with few."""
    from pipeline.synthesizers.baselines import _in_turn

    of = torch.tensor([0] * 5 + [1] * 40)
    y = torch.tensor([0] * 37 + [1] * 3)
    gen = torch.Generator().manual_seed(0)
    source = _in_turn(y, of, gen)
    assert (of[source] == y).all()
    per_image = torch.bincount(source[:37], minlength=5)[:5]
    assert per_image.min() == 7 and per_image.max() == 8 and per_image.sum() == 37
    again = _in_turn(y, of, torch.Generator().manual_seed(1))
    assert not torch.equal(source, again)  # the order is drawn, not fixed


@pytest.mark.parametrize("policy", ["trivial_augment", "rand_augment", "auto_augment", "augmix"])
def test_torchvision_policies_are_generators_of_their_own(policy, image_frame, tmp_path):
    """Each of torchvision's policies makes views of the real images (one draw per image), the same
    views for the same seed, saved and loaded by its name; it leaves the global random state alone."""
    from pipeline.synthesizers.registry import KINDS

    gen = KINDS[policy](seed=0).fit(image_frame, label="label")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    views = gen.sample(per_class=12)
    assert torch.equal(torch.rand(1), before)  # the policy drew from its own seeded stream
    assert len(views) == 24 and set(views["label"]) == {0, 1}
    pixels = gen.codec.encode(views[["image"]]).x
    real = gen.codec.encode(image_frame[["image"]]).x
    assert pixels.shape[1:] == real.shape[1:]
    copies = sum(any(torch.equal(v, r) for r in real) for v in pixels)
    assert copies < len(pixels) / 2  # views (a policy may leave an image as it is: its identity op)
    gen.save(tmp_path / policy)
    loaded = Synthesizer.load(tmp_path / policy)
    assert loaded.kind == policy
    pd.testing.assert_frame_equal(views, loaded.sample(per_class=12))
