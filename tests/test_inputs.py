"""Inputs users have, read right: CSV files as their Parquet twins, numbers written as text,
class names with spaces, image folders with odd entries, grey and colour images together,
wide tables' plots; and the console filter that keeps the product's own errors to one message."""

from __future__ import annotations

import io
import logging
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from flows.console import HideProductErrors
from pipeline import plots
from pipeline.checks import choose_classes
from pipeline.config import DataSpec
from pipeline.data.sources import load_real
from pipeline.data.text_numbers import numbers_in_text
from pipeline.errors import ConfigError, DataError, cut


def _table(n: int = 30) -> pd.DataFrame:
    """What a CSV file can say exactly: floats with missing values, integers, text with missing
    values, booleans, the label."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "height": rng.normal(170, 10, n).round(3),
            "count": rng.integers(0, 50, n),
            "city": pd.Series(rng.choice(["Oslo", "Lima", "Pune"], n), dtype="str"),
            "member": rng.random(n) > 0.5,
            "label": pd.Series(np.repeat(["a", "b", "c"], n // 3), dtype="str"),
        }
    )
    frame.loc[[1, 5], "height"] = np.nan
    frame.loc[[2], "city"] = None
    return frame


def test_a_csv_file_reads_as_its_parquet_twin(tmp_path):
    frame = _table()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    csv = load_real(DataSpec(source=str(tmp_path / "t.csv"), label="label"))
    parquet = load_real(DataSpec(source=str(tmp_path / "t.parquet"), label="label"))
    pd.testing.assert_frame_equal(csv.frame, parquet.frame)
    assert csv.name == parquet.name == "t" and csv.notes == []


@pytest.mark.parametrize("sep, name", [(";", "t.csv"), ("\t", "t.tsv"), ("|", "t.csv")])
def test_other_delimiters_are_found_from_the_header(tmp_path, sep, name):
    frame = _table()
    frame.to_csv(tmp_path / name, index=False, sep=sep)
    read = load_real(DataSpec(source=str(tmp_path / name), label="label")).frame
    pd.testing.assert_frame_equal(read, frame)


def test_a_folder_of_csv_files_is_one_table(tmp_path):
    frame = _table()
    (tmp_path / "parts").mkdir()
    frame.iloc[:15].assign(count=frame["count"].iloc[:15] + 0.5).to_csv(tmp_path / "parts" / "a.csv", index=False)
    frame.iloc[15:].to_csv(tmp_path / "parts" / "b.csv", index=False)
    (tmp_path / "parts" / ".hidden.csv").write_text("not,a,table\n")
    read = load_real(DataSpec(source=str(tmp_path / "parts"), label="label")).frame
    assert len(read) == 30 and read["count"].dtype == "float64"  # whole in one file, not in the other


def test_european_csv_numbers_are_read_and_said(tmp_path):
    frame = _table()
    text = frame.assign(height=frame["height"].map(lambda v: "" if pd.isna(v) else f"{v:.3f}".replace(".", ",")))
    text.to_csv(tmp_path / "eu.csv", index=False, sep=";")
    real = load_real(DataSpec(source=str(tmp_path / "eu.csv"), label="label"))
    pd.testing.assert_series_equal(real.frame["height"], frame["height"])
    assert len(real.notes) == 1 and "column 'height'" in real.notes[0] and "',' as decimal mark" in real.notes[0]


@pytest.mark.parametrize(
    "texts, expected, dtype, words",
    [
        (["1,5", "2,25", None, "-3"], [1.5, 2.25, np.nan, -3.0], "float64", "',' as decimal mark"),
        (["1.234,5", "2,0", "12"], [1234.5, 2.0, 12.0], "float64", "'.' as thousands separator"),
        (["1,234.5", "12.5", "7"], [1234.5, 12.5, 7.0], "float64", "',' as thousands separator"),
        (["1,234,567", "12", "0"], [1234567, 12, 0], "int64", "',' as thousands separator"),
        (["1,234,567", None, "12"], [1234567, pd.NA, 12], "Int64", "',' as thousands separator"),
        (["12%", "5.5%", "100 %"], [0.12, 0.055, 1.0], "float64", "out of 100"),
        (["12,5%", "1%"], [0.125, 0.01], "float64", "',' as decimal mark out of 100"),
    ],
)
def test_numbers_written_as_text_are_read_when_unambiguous(texts, expected, dtype, words):
    frame = pd.DataFrame({"v": pd.Series(texts, dtype="str"), "label": ["a"] * len(texts)})
    read, notes = numbers_in_text(frame, ["v"], where="f.csv")
    pd.testing.assert_series_equal(read["v"], pd.Series(expected, dtype=dtype, name="v"))
    assert notes and words in notes[0] and notes[0].startswith("f.csv: column 'v'")


@pytest.mark.parametrize(
    "texts",
    [["007", "012", "100"], ["1.5", "2"], ["red", "green"], ["1,5 kg", "2,5 kg"], ["a,b", "c,d"]],
)
def test_text_that_is_not_numbers_with_separators_stays_text(texts):
    frame = pd.DataFrame({"v": pd.Series(texts, dtype="str")})
    read, notes = numbers_in_text(frame, ["v"], where="f")
    pd.testing.assert_frame_equal(read, frame)
    assert notes == []


def test_a_class_named_with_spaces_is_chosen_by_its_name():
    assert choose_classes(["a"], [" a", "b"]) == [" a"]
    assert choose_classes([" b ", "a"], ["a", " a", "b"]) == ["a", "b"]  # an exact name wins
    with pytest.raises(ConfigError, match="could be any of"):
        choose_classes(["a"], [" a", "a ", "b"])
    with pytest.raises(ConfigError, match="names no class"):
        choose_classes([], ["a"])


def test_an_image_folder_skips_a_folder_named_like_an_image(tmp_path):
    for cls in "ab":
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "a" / "x.png").mkdir()
    real = load_real(DataSpec(source=str(tmp_path)))
    assert len(real.frame) == 6 and real.image_column == "image"


def _png(mode: str, value: int) -> bytes:
    shape = (8, 8) if mode == "L" else (8, 8, len(mode))
    buffer = io.BytesIO()
    Image.fromarray(np.full(shape, value, dtype=np.uint8), mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_grey_and_rgba_images_of_one_size_plot_together(tmp_path):
    images = [{"bytes": _png("L" if i % 2 else "RGBA", 30 * i), "path": None} for i in range(8)]
    frame = pd.DataFrame({"image": images, "label": ["a", "b"] * 4, "accepted": [True, False] * 4})
    made = [
        plots.image_grid(frame, frame, "image", "label", tmp_path / "grid.png"),
        plots.accepted_rejected(frame, "image", "label", tmp_path / "ar.png"),
        plots.class_samples(frame, "image", tmp_path / "class.png"),
    ]
    assert all(p.stat().st_size > 500 for p in made)


def test_a_wide_table_plots_the_columns_least_alike(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    columns = [f"c{i}" for i in range(2000)]
    frame = pd.DataFrame(rng.normal(size=(40, 2000)), columns=columns)
    shapes = {c: 1.0 for c in columns} | {"c7": 0.1, "c1999": 0.2, "c500": float("nan")}
    drawn = plots.columns_to_draw(columns, shapes)
    assert len(drawn) == plots.MAX_COLUMN_PLOTS and {"c7", "c1999"} <= set(drawn) and "c500" not in drawn
    assert drawn == sorted(drawn, key=columns.index)  # the table's order
    titles: list[str] = []
    monkeypatch.setattr(plots.plt.Figure, "suptitle", lambda self, text, **kw: titles.append(text))
    path = plots.column_distributions(frame, frame, columns, tmp_path / "columns.png", shapes)
    assert path.exists() and titles == [
        "real vs synthetic, per column: 24 of 2,000 columns, the least alike by column shape"
    ]


def test_long_values_are_cut_in_messages():
    assert cut("x" * 10) == "x" * 10
    text = cut("y" * 1_000_000, 120)
    assert len(text) <= 120 and text.endswith("(1,000,000 characters)")


def _record(
    exc: BaseException | None, message: str = "Encountered exception during execution: %r"
) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, message, (exc,), info)


def test_the_console_drops_the_products_errors_and_keeps_bugs():
    keep = HideProductErrors().filter
    try:
        raise DataError("the rows are wrong", "fix them")
    except DataError as exc:
        product = exc
    try:
        raise KeyError("a bug")
    except KeyError as exc:
        bug = exc
    assert not keep(_record(product))
    assert keep(_record(bug))
    state = "Finished in state Failed('Flow run encountered an exception: DataError: the rows are wrong')"
    assert not keep(logging.LogRecord("prefect.flow_runs", logging.INFO, __file__, 1, state, None, None))
    retry = _record(product, "Task run failed with exception: %r - Retry 1/2 will start 5 second(s) from now")
    assert keep(retry) and retry.exc_info is None  # the notice stays, its traceback goes
    plain = logging.LogRecord(
        "prefect.flow_runs", logging.INFO, __file__, 1, "Finished in state Completed()", None, None
    )
    assert keep(plain)
    assert sys.exc_info() == (None, None, None)


def test_a_failed_run_keeps_its_traceback_in_mlflow():
    from pipeline.run_record import record_failure

    class Client:
        def log_text(self, run_id, text, path):
            saved[path] = (run_id, text)

    class Tracker:
        run_id, client = "r1", Client()

        def set_tags(self, tags):
            saved.update(tags)

    saved: dict = {}
    try:
        raise DataError("the rows are wrong", "fix them")
    except DataError as exc:
        record_failure(Tracker(), exc)
    assert saved["error"].startswith("DataError: the rows are wrong")
    run_id, text = saved["error/traceback.txt"]
    assert run_id == "r1" and "Traceback" in text and "the rows are wrong" in text


def _read(tmp_path, content: str | bytes, name: str = "t.csv", label: str = "label"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return load_real(DataSpec(source=str(path), label=label))


def test_the_label_is_read_as_the_text_written(tmp_path):
    """`NA` is a class where it is a value, `01` and `1` are two classes; an empty field is a
    row without a label."""
    real = _read(tmp_path, "x,label\n1,NA\n2,NA\n3,01\n4,01\n5,1\n6,1\n")
    assert real.frame["label"].tolist() == ["NA", "NA", "01", "01", "1", "1"]
    assert pd.api.types.is_string_dtype(real.frame["label"].dtype)
    assert any("label column 'label' holds ['NA']: read as class name(s)" in n for n in real.notes)
    with pytest.raises(DataError, match="1 row.s. have no label"):
        _read(tmp_path, "x,label\n1,NA\n2,NA\n3,b\n4,b\n5,\n", name="empty.csv")


def test_whole_numbers_with_leading_zeros_stay_codes(tmp_path):
    real = _read(tmp_path, "zip,x,label\n007,1,a\n012,2,a\n100,3,b\n100,4,b\n")
    assert real.frame["zip"].tolist() == ["007", "012", "100", "100"] and real.frame["x"].dtype == "int64"
    assert [n for n in real.notes if "column 'zip' holds whole numbers written with leading zeros" in n]


@pytest.mark.parametrize("index", [True, "Unnamed: 0"])
def test_the_index_written_by_to_csv_is_dropped_and_said(tmp_path, index):
    frame = _table()
    if index is True:
        frame.to_csv(tmp_path / "t.csv")  # header ",height,count,..."
    else:
        frame.reset_index().rename(columns={"index": index}).to_csv(tmp_path / "t.csv", index=False)
    real = load_real(DataSpec(source=str(tmp_path / "t.csv"), label="label"))
    pd.testing.assert_frame_equal(real.frame, frame)
    assert len(real.notes) == 1 and "the first column has no name and one value per row (0, 1, 2, ...)" in real.notes[0]


def test_an_unnamed_first_column_that_is_not_an_index_is_refused(tmp_path):
    with pytest.raises(DataError, match="the first column has no name and repeats values"):
        _read(tmp_path, ",x,label\n1,1,a\n1,2,a\n2,3,b\n2,4,b\n")


@pytest.mark.parametrize(
    "text, expected, words",
    [
        # the file's decimal comma (y) makes "1.299" one thousand two hundred and ninety-nine
        ("x;y;label\n1.299;0,5;a\n2.500;1,5;a\n3.000;2,5;b\n4.100;3,5;b\n", [1299, 2500, 3000, 4100], "'.' as th"),
        # the file's decimal point (y) makes "1,234" one thousand two hundred and thirty-four
        ('x,y,label\n"1,234",0.5,a\n"2,500",1.5,a\n"3,000",2.5,b\n"4,100",3.5,b\n', [1234, 2500, 3000, 4100], "','"),
        # a ';' file whose numbers show no mark: a comma is the decimal mark there
        ("x;y;label\n1,234;1;a\n2,500;2;a\n3,000;3;b\n4,100;4;b\n", [1.234, 2.5, 3.0, 4.1], "',' as decimal"),
        (
            "x;label\n1 234,56;a\n2 500,5;a\n3\u00a0000,25;b\n4\u202f100,75;b\n",
            [1234.56, 2500.5, 3000.25, 4100.75],
            "' '",
        ),
        ("x,label\n1 234.5,a\n2 500,a\n3 000,b\n4 100,b\n", [1234.5, 2500.0, 3000.0, 4100.0], "' ' as thousands"),
    ],
)
def test_thousands_separators_are_resolved_by_the_files_decimal_mark(tmp_path, text, expected, words):
    real = _read(tmp_path, text)
    assert real.frame["x"].tolist() == expected
    assert [n for n in real.notes if "column 'x'" in n and words in n], real.notes


@pytest.mark.parametrize(
    "encoding, noted",
    [
        ("utf-8", None),
        ("utf-8-sig", None),
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("latin-1", "latin-1"),
        ("cp1252", "cp1252"),
    ],
)
def test_encodings_are_found_from_the_bytes(tmp_path, encoding, noted):
    sign = "\u20ac" if encoding == "cp1252" else "\xb0"  # the euro sign is cp1252's own; the degree sign both
    text = f"temp {sign},caf\xe9,label\n1,2,\xe9t\xe9\n2,3,\xe9t\xe9\n3,4,b\n4,5,b\n"
    real = _read(tmp_path, text.encode(encoding))
    assert list(real.frame.columns) == [f"temp {sign}", "caf\xe9", "label"]
    assert real.frame["label"].tolist() == ["\xe9t\xe9", "\xe9t\xe9", "b", "b"]
    assert real.notes == ([] if noted is None else [f"{tmp_path / 't.csv'}: read as {noted} text (it is not UTF-8)"])


def test_the_delimiter_is_found_outside_quotes(tmp_path):
    real = _read(tmp_path, 'name;x;label\n"Smith, J.";1;a\n"Doe, K.";2;a\n"Roe, L.";3;b\n"Poe, M.";4;b\n')
    assert list(real.frame.columns) == ["name", "x", "label"] and real.frame["name"][0] == "Smith, J."


@pytest.mark.parametrize("name, sep", [("t.txt", "\t"), ("t.dat", ","), ("data", ";")])
def test_a_table_under_another_name_is_read_by_its_content(tmp_path, name, sep):
    frame = _table()
    frame.to_csv(tmp_path / name, index=False, sep=sep)
    real = load_real(DataSpec(source=str(tmp_path / name), label="label"))
    pd.testing.assert_frame_equal(real.frame, frame)
    assert real.notes == [f"{tmp_path / name}: read as a delimited text table ({sep!r} between fields)"]


def test_words_read_as_missing_in_a_text_column_are_said(tmp_path):
    real = _read(tmp_path, "region,x,label\nEU,1,a\nNA,2,a\nEU,3,b\nNA,4,b\n")
    assert real.frame["region"].isna().sum() == 2
    assert [n for n in real.notes if "column 'region': ['NA'] read as missing values (2 row(s))" in n]


def test_a_decimal_parquet_column_is_read_as_numbers_and_said(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    prices = [decimal.Decimal(v) for v in ("1.50", "2.25", "3.10", "4.75")] * 3
    table = pa.table({"price": pa.array(prices, pa.decimal128(10, 2)), "label": ["a", "b", "c"] * 4})
    pq.write_table(table, tmp_path / "t.parquet")
    real = load_real(DataSpec(source=str(tmp_path / "t.parquet"), label="label"))
    assert real.frame["price"].dtype == "float64" and real.frame["price"].tolist() == [float(p) for p in prices]
    assert real.notes == [
        f"{tmp_path / 't.parquet'}: column 'price' is decimal128(10, 2) in the file; "
        "read as float64 numbers (and written so)"
    ]


def _jpeg(array: np.ndarray, orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    Image.fromarray(array).save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


def test_exif_orientation_is_applied_and_hidden_files_are_skipped(tmp_path):
    """A phone stores an upright 8x12 photo as 12x8 pixels tagged "rotate 90"; macOS leaves a
    `._` file beside each image on a foreign disk."""
    upright = np.zeros((12, 8), dtype=np.uint8)
    upright[:4] = 255  # bright top: tells upright from rotated
    for cls in "ab":
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "0.jpg").write_bytes(_jpeg(upright))
        (tmp_path / cls / "1.jpg").write_bytes(_jpeg(np.rot90(upright, 1).copy(), orientation=6))
        (tmp_path / cls / "._0.jpg").write_bytes(b"\x00\x05\x16\x07 resource fork")
        (tmp_path / cls / ".thumb.png").write_bytes(b"not an image")
    real = load_real(DataSpec(source=str(tmp_path)))
    assert len(real.frame) == 4
    from pipeline.data.images import decode_image

    for value in real.frame["image"]:
        array = decode_image(value, "test")
        assert array.shape == (12, 8) and array[:4].mean() > 200 and array[8:].mean() < 50
