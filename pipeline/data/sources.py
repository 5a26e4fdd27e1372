"""Read the user's real rows from a Parquet or CSV file or folder, an image folder or a built-in set.

Every source ends as one pandas frame in the user's own schema (images as PNG structs),
so validation, encoding and writing never need to know where the rows came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.checks import name_hint
from pipeline.config import DataSpec
from pipeline.data.builtin import BUILTINS
from pipeline.data.codec import fit_codec
from pipeline.data.csv_files import csv_files, is_csv, read_csv
from pipeline.data.images import IMAGE_STRUCT_FIELDS, image_struct
from pipeline.data.text_numbers import numbers_in_text
from pipeline.data.validate import refuse_look_alike_names, validate_frame
from pipeline.errors import DataError, cut

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class RealData:
    """The validated real rows and what the rest of the pipeline needs to know about them."""

    frame: pd.DataFrame  # user's schema: features + label, original dtypes
    label: str
    features: list[str]
    image_column: str | None  # set when the features are one image column
    name: str  # short data set name, used for run and model names
    unlabelled: pd.DataFrame | None = None  # feature columns of rows without a label (DataSpec.unlabelled = use)
    notes: list[str] = field(default_factory=list)  # what was read differently than stored, for the console

    @property
    def modality(self) -> str:
        return "image" if self.image_column else "table"


def load_real(spec: DataSpec, seed: int = 0) -> RealData:
    """Load, select columns, validate and (optionally) subsample the real rows."""
    read = _read_source(spec.source, spec.label)
    frame, name = read.frame, read.name
    label = spec.label or read.label
    if label is None:
        raise DataError(
            f"no label column given for {cut(spec.source, 160)!r}",
            f"pass --label with one of: {cut(', '.join(map(str, frame.columns)), 300)}",
        )
    if spec.image_paths and (column := _find_image_column(frame)) is not None:
        frame[column] = _read_image_paths(frame[column], _base_folder(spec.source))
    notes = list(read.notes)
    if spec.source not in BUILTINS:
        candidates = [c for c in (spec.columns or frame.columns) if c in frame.columns and c != label]
        frame, found = numbers_in_text(frame, candidates, where=cut(spec.source, 160), decimal=read.decimal)
        notes += found
    real = prepare_rows(frame, label, spec.columns, spec.unlabelled, where=cut(spec.source, 160), name=name)
    real.notes = notes
    if spec.real_per_class is None:
        return real
    kept = subsample_per_class(real.frame, label, spec.real_per_class, seed)
    if isinstance(kept[label].dtype, pd.CategoricalDtype):
        kept[label] = kept[label].cat.remove_unused_categories()
    validate_frame(kept, label, where=spec.source)
    parts = [] if real.unlabelled is None else [real.unlabelled]
    if spec.unlabelled == "use":  # the rows left out join the unlabelled ones
        parts.append(real.frame.drop(index=kept.index)[real.features])
    real.frame = kept.reset_index(drop=True)
    real.unlabelled = pd.concat(parts, ignore_index=True) if sum(map(len, parts)) else None
    return real


def prepare_rows(
    frame: pd.DataFrame,
    label: str,
    columns: list[str] | None = None,
    unlabelled: str = "error",
    where: str = "data",
    name: str = "data",
) -> RealData:
    """Select the label and feature columns, set rows without a label apart (or refuse them)
    and validate: every source and `Synthesizer.fit` pass here, so one set of rules holds."""
    image_column = _find_image_column(frame)
    features = _select_features(frame, label, columns, image_column)
    if image_column is not None and image_column in features and len(features) > 1:
        extra = [c for c in features if c != image_column]
        raise DataError(
            f"image data has extra feature columns {extra}",
            f"pass --columns {image_column} to generate images only",
        )
    keep = set(features) | {label}
    frame = frame[[c for c in frame.columns if c in keep]]  # the user's column order
    if isinstance(frame[label].dtype, pd.CategoricalDtype):  # a level no row has is not a class
        frame = frame.assign(**{label: frame[label].cat.remove_unused_categories()})
    pool = None
    if unlabelled != "error":
        missing = frame[label].isna()
        pool = frame.loc[missing, features] if unlabelled == "use" and missing.any() else None
        frame = frame[~missing]
    validate_frame(frame, label, where=where)
    _refuse_empty_rows(frame[features], where)
    image_column = image_column if image_column in features else None
    # encode once now so bad columns and mismatched images fail before anything is written
    both = pd.concat([frame[features], *([] if pool is None else [pool])])
    try:
        fit_codec(both, image_column).encode(both)
    except DataError as exc:  # name the source in every error about its rows
        problem = exc.problem if exc.problem.startswith(where) else f"{where}: {exc.problem}"
        raise DataError(problem, exc.fix) from None
    return RealData(
        frame=frame.reset_index(drop=True),
        label=label,
        features=features,
        image_column=image_column,
        name=name,
        unlabelled=None if pool is None else pool.reset_index(drop=True),
    )


def subsample_per_class(frame: pd.DataFrame, label: str, k: int, seed: int) -> pd.DataFrame:
    """At most k rows of each class, drawn with the seed, in the original row order."""
    parts = [
        group.sample(n=min(k, len(group)), random_state=seed)
        for _, group in frame.groupby(label, sort=True, observed=True)
    ]
    return pd.concat(parts).sort_index()


@dataclass
class _Source:
    """What a source holds before columns are chosen, and what reading it decided."""

    frame: pd.DataFrame
    label: str | None  # the label column a source names itself (built-ins, image folders)
    name: str
    decimal: str | None = None  # the decimal mark a text table's numbers show
    notes: list[str] = field(default_factory=list)


PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


def _read_source(source: str, label: str | None = None) -> _Source:
    if not source.strip():
        raise DataError(
            "the data source is empty",
            f"pass --data with a Parquet or CSV file or folder, an image folder, or one of: {', '.join(BUILTINS)}",
        )
    if source in BUILTINS:
        frame, default = BUILTINS[source]()
        return _Source(frame, default, source)
    path = Path(source).expanduser()
    if not _exists(path):
        raise DataError(
            f"data source {cut(source, 160)!r} is neither a file, a folder nor a built-in set",
            f"give a Parquet or CSV file or folder, an image folder, or one of: {', '.join(BUILTINS)}",
        )
    name = path.stem if path.is_file() else path.name
    if path.is_file() and not _is_parquet(path):  # x.csv, or x.txt / x.dat whose content is a table
        table = read_csv(path, label, sniffed=not is_csv(path))
        # a ';'-separated file with no number that shows its decimal mark: Europe's comma
        decimal = table.decimal or ("," if table.delimiter == ";" else None)
        return _Source(table.frame, None, name.removesuffix(".csv").removesuffix(".tsv"), decimal, table.notes)
    if path.is_dir():
        for entry in sorted(path.rglob("*")):
            _inside(entry, path)
        kind = _folder_kind(path)
        if kind == "images":
            return _Source(_read_image_folder(path), "label", name)
        if kind == "csv":
            table = read_csv(path, label)
            decimal = table.decimal or ("," if table.delimiter == ";" else None)
            return _Source(table.frame, None, name, decimal, table.notes)
    frame, notes = _read_parquet(path)
    return _Source(frame, None, name, notes=notes)


def _is_parquet(path: Path) -> bool:
    """A Parquet file by its name or by its first bytes ("PAR1")."""
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return True
    try:
        with path.open("rb") as file:
            return file.read(4) == b"PAR1"
    except OSError:
        return False


def _exists(path: Path) -> bool:
    """Path.exists, False for a name the system refuses to look up (too long, a NUL byte)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _folder_kind(root: Path) -> str:
    """parquet, csv or images: what the folder holds. Two kinds at once is refused by name
    (a stray results.parquet beside the class folders made an image folder a Parquet one)."""
    parquet = sorted(root.rglob("*.parquet"))
    csvs = csv_files(root)
    images = [p for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") for p in _image_files(d)]
    found = {k: v for k, v in (("Parquet", parquet), ("CSV", csvs), ("image", images)) if v}
    if len(found) > 1:
        kinds = " and ".join(f"{k} files (e.g. {cut(str(v[0].relative_to(root)), 80)!r})" for k, v in found.items())
        raise DataError(
            f"folder {cut(str(root), 160)!r} holds {kinds}",
            "pass one file as --data, or move the other files out so the folder holds one kind",
        )
    return {"Parquet": "parquet", "CSV": "csv"}.get(next(iter(found), ""), "images")


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """The table, with decimal columns read as float64 numbers (one note each): as Python
    Decimals they would be text categories, every synthetic value a copy of a real one."""
    _check_one_schema(sorted(path.rglob("*.parquet")) if path.is_dir() else [path])
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"cannot read {cut(str(path), 160)!r} as Parquet: {cut(str(exc), 300)}",
            "check that the file is a complete Parquet file (e.g. pandas.read_parquet opens it)",
        ) from exc
    notes = []
    for i, column in enumerate(table.schema):
        if pa.types.is_decimal(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(pa.float64()))
            notes.append(
                f"{cut(str(path), 160)}: column {cut(column.name, 60)!r} is {column.type} in the file; "
                "read as float64 numbers (and written so)"
            )
    return table.to_pandas(), notes


def _refuse_empty_rows(features: pd.DataFrame, where: str) -> None:
    """A row with every feature missing carries nothing to learn or score; filling it with
    column means would change what it says without a word."""
    empty = features.isna().all(axis=1).to_numpy()
    if empty.any():
        rows = features.index[empty].tolist()
        shown = ", ".join(map(str, rows[:5])) + (" ..." if len(rows) > 5 else "")
        raise DataError(f"{where}: {len(rows)} row(s) have no feature values at all (rows {shown})", "drop those rows")


def _base_folder(source: str) -> Path:
    path = Path(source).expanduser().resolve()
    return path.parent if path.is_file() else path


def _read_image_paths(column: pd.Series, base: Path) -> pd.Series:
    """Fill in the bytes of image structs that hold only a path, reading files under `base` only."""

    def load(value):
        if not isinstance(value, dict) or value.get("bytes") is not None or not value.get("path"):
            return value
        file = (base / value["path"]).resolve()
        if not file.is_relative_to(base) or not file.is_file():
            raise DataError(
                f"image path {value['path']!r} is not a file under the data's folder {str(base)!r}",
                "store the image bytes in the column, or keep the image files beside the Parquet file",
            )
        return image_struct(file.read_bytes(), value["path"])

    return column.map(load)


def _check_one_schema(files: list[Path]) -> None:
    """A folder of Parquet files is one table only when every file has the same columns and
    types; Arrow would otherwise drop or null columns without a word."""
    first = None
    for file in files:
        try:
            schema = pq.read_schema(file).remove_metadata()
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"cannot read {str(file)!r} as Parquet: {exc}", "remove or repair that file") from exc
        repeated = sorted({n for n in schema.names if schema.names.count(n) > 1})
        if repeated:
            raise DataError(f"{str(file)!r} has repeated column names {repeated}", "give every column its own name")
        if first is None:
            first = (file, schema)
        elif not schema.equals(first[1]):
            a, b = set(first[1].names), set(schema.names)
            diff = f"columns {sorted(a ^ b)} differ" if a != b else "column types differ"
            raise DataError(
                f"the Parquet files of the folder do not share one schema: {first[0].name} and {file.name} ({diff})",
                "write every file with the same columns and types, or pass one file",
            )


def _read_image_folder(root: Path) -> pd.DataFrame:
    rows: list[dict] = []
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(
            f"folder {cut(str(root), 160)!r} has no Parquet or CSV files and no class sub-folders",
            "arrange images as <folder>/<class name>/<image file>, or give a Parquet or CSV file",
        )
    refuse_look_alike_names([d.name for d in class_dirs], f"folder {cut(str(root), 160)!r}: class folders")
    _refuse_splits(root, class_dirs)
    empty = []
    for class_dir in class_dirs:
        files = _image_files(class_dir)
        if not files:
            empty.append(class_dir.name)
        for file in files:
            _inside(file, root)  # checked again: the folder may have changed since
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise DataError(
                    f"cannot read the image {cut(str(file), 160)!r}: {exc.strerror}", "fix or remove it"
                ) from None
            rows.append({"image": image_struct(raw, str(file.relative_to(root))), "label": class_dir.name})
    if not rows:
        raise DataError(
            f"no image files under {str(root)!r}", f"put {', '.join(sorted(IMAGE_SUFFIXES))} files in the class folders"
        )
    if empty:
        raise DataError(
            f"folder {cut(str(root), 160)!r}: class folder(s) {cut(empty, 200)} hold no image files",
            "put that class's images in it, or remove the folder (a class without rows cannot be generated)",
        )
    frame = pd.DataFrame(rows)
    frame["label"] = frame["label"].astype("str")
    return frame


def _refuse_splits(root: Path, class_dirs: list[Path]) -> None:
    """train/<class>/, test/<class>/: folders that each hold the same class folders and no image
    of their own are splits; read as classes, "train" and "test" would be the classes."""
    if len(class_dirs) < 2:
        return
    inner = []
    for folder in class_dirs:
        if any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            return
        inner.append({d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")})
    shared = set.intersection(*inner)
    if len(shared) >= 2:
        names = [d.name for d in class_dirs]
        raise DataError(
            f"folder {cut(str(root), 160)!r}: the folders {cut(names, 120)} each hold the same folders "
            f"{cut(sorted(shared), 120)} and no images of their own: they look like splits of one data set, "
            "not classes",
            f"pass one split as --data (e.g. {cut(str(class_dirs[0]), 160)!r}), whose folders are the classes",
        )


def _image_files(folder: Path) -> list[Path]:
    """The image files under `folder`; hidden ones (".x.png") and the "._x.png" files macOS
    writes beside each file on foreign disks are left out: they are not the user's images."""
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()  # a folder named x.png is not an image
    ]


def _inside(path: Path, root: Path) -> None:
    """Refuse a file or folder of the data folder that leads outside it (a symlink, or a
    mount): its contents would be read, and copied into the outputs, without a word."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise DataError(
            f"{cut(str(path), 160)!r} leads outside the data folder {cut(str(root), 160)!r} "
            f"(to {cut(str(path.resolve()), 160)!r})",
            "copy the file into the data folder instead of linking to it, or remove the link",
        )


def _find_image_column(frame: pd.DataFrame) -> str | None:
    """An image column is a struct column with `bytes` and `path`, as Hugging Face writes it."""
    for column in frame.columns:
        values = frame[column].dropna()
        if len(values) and isinstance(values.iloc[0], dict) and set(IMAGE_STRUCT_FIELDS) <= set(values.iloc[0]):
            return column
    return None


def _select_features(frame: pd.DataFrame, label: str, columns: list[str] | None, image_column: str | None) -> list[str]:
    present = [str(c) for c in frame.columns]
    if label not in present:
        hint, fix = name_hint(label, present, "--label")
        raise DataError(f"label column {cut(label, 60)!r} not found{hint}", fix)
    if columns is None:
        features = [c for c in present if c != label]
        if image_column is not None:
            features = [image_column] + [c for c in features if c != image_column]
    else:
        twice = sorted({c for c in columns if columns.count(c) > 1})
        if twice:
            raise DataError(f"--columns names {cut(twice, 200)} more than once", "name each column once")
        missing = [c for c in columns if c not in present]
        if missing:
            hint, fix = name_hint(missing[0], present, "--columns", "columns among")
            raise DataError(f"columns {cut(missing, 200)} not found{hint}", fix)
        features = [c for c in columns if c != label]
    if not features:
        raise DataError("no feature columns besides the label", "the data needs at least one column to generate")
    return features


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 of the rows as an Arrow IPC stream: same data and schema, same hash."""
    import hashlib

    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
