"""A table's columns: their kinds, read from the values, and the encoding that turns them into
the numbers a network takes, fitted on the training rows and stored with the weights
(numpy_mlp.tables reads a CSV into these columns; the estimators a DataFrame).

    kinds = mlp_columns.column_kinds(table)               # {"price": "number", "town": "words", ...}
    encoding = mlp_columns.fit_encoding(table, kinds, label="price", rows=train_rows)
    x, names = mlp_columns.encode(table, encoding)        # (N, D) float32, D feature names

The kinds: numbers (with currency signs, percent signs and thousands separators where
unambiguous); words (categories); yes/no and true/false; ISO dates (year, month, day of the
week); gaps in any of them; row names (an unnamed first column of 1..N) and IDs (words that all
differ), which are left out. The encoding: numbers get the training median in their gaps and a
0/1 column saying where the gaps were; words get one column per level (the MAX_LEVELS most
frequent with two training rows or more), an "other" column for the rest and a "gap" column,
plus, past MAX_LEVELS levels, each level's training frequency as one more number. mlp.py then
standardises the columns as for any table. NumPy and the standard library only.
"""

import datetime
import re
from typing import NamedTuple

import numpy as np

GAPS = ("", "na", "n/a", "nan", "null", "none", "?", "-", "#n/a", "nil", "missing", "<na>")  # any case
BOOLEANS = {"yes": 1, "no": 0, "true": 1, "false": 0, "y": 1, "n": 0, "t": 1, "f": 0}

ROW_NAME_HEADERS = ("", "unnamed: 0", "rownames", "index", "id")  # R's write.csv, pandas' to_csv

MAX_LEVELS = 32  # one-hot columns of a word column at most (skrub: 40, RealMLP: 8)

MIN_LEVEL_ROWS = 2  # a level on fewer training rows joins "other"

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")

FORMATTED = re.compile(r"[-+]?[$€£¥]?[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?%?")  # $1,200.50  -$5  $-5  45%  €30


class Column(NamedTuple):
    """One column as read: numbers (N,) float64 with NaN for gaps, or, when any value is not a
    number, codes (N,) int32 into levels (the distinct words, in order met; -1 for a gap)."""

    numbers: np.ndarray | None
    codes: np.ndarray | None
    levels: tuple


class Table(NamedTuple):
    """A CSV as columns: names (unique: a repeated name gets .1, .2 as pandas does), whether the
    file had a header, the columns by position, the number of rows and the delimiter."""

    path: str
    names: tuple
    header: bool
    columns: tuple
    rows: int
    delimiter: str


# ----------------------------------------------------------------------------- words for messages


def shown_name(name):
    """A column's name for a message: as it is, or quoted when it is empty or holds only spaces."""
    return name if name.strip() else repr(name)


def listed(names, most=12):
    """Column names for a message: 'a, b, c' (the first `most`, then how many more)."""
    shown = ", ".join(shown_name(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


# ----------------------------------------------------------------------------- kinds


def level_numbers(levels):
    """(L,) float64 of words read as numbers where unambiguous ($1,200.50, 45%, €30; NaN where
    not), and whether every level was one."""
    values = np.full(len(levels), np.nan)
    for i, level in enumerate(levels):
        if FORMATTED.fullmatch(level):
            text = re.sub(r"[$€£¥,%]", "", level)
            values[i] = -float(text.lstrip("+-")) if text.count("-") % 2 else float(text.lstrip("+-"))
    return values, bool(len(levels)) and not np.isnan(values).any()


def dates_of(levels):
    """(L, 3) float64 (year, month, day of the week 0-6) of ISO dates, or None when any level is not one."""
    if not levels or not all(ISO_DATE.fullmatch(level) for level in levels):
        return None
    try:
        days = [datetime.date.fromisoformat(level[:10]) for level in levels]
    except ValueError:  # 2023-02-30
        return None
    return np.array([[d.year, d.month, d.weekday()] for d in days], np.float64)


def kind_of(name, column, *, first, rows):
    """One column's kind (see column_kinds)."""
    if column.numbers is not None:
        values = column.numbers[~np.isnan(column.numbers)]
        if len(values) == 0:
            return "gaps"
        counting = np.array_equal(values, np.arange(len(values)) + values[0]) and values[0] in (0, 1)
        if first and name.lower() in ROW_NAME_HEADERS and counting and len(values) == rows:
            return "row names"
        whole_ids = name.lower() in ("id", "index") and (values == np.round(values)).all()
        return "id" if whole_ids and len(np.unique(values)) == len(values) and rows > 2 else "number"
    present = column.codes[column.codes >= 0]
    if len(present) == 0:
        return "gaps"
    levels = column.levels
    if {level.lower() for level in levels} <= set(BOOLEANS) and len({BOOLEANS[lv.lower()] for lv in levels}) == 2:
        return "boolean"
    if level_numbers(levels)[1]:
        return "number"
    if dates_of(levels) is not None:
        return "date"
    if len(levels) == len(present) and rows >= 20:  # every value differs: names or IDs, nothing to learn from
        return "id"
    return "words"


def column_kinds(table):
    """{name: kind} of a Table's columns: "number", "boolean", "date", "words", "gaps" (empty in
    every row), "row names" (an unnamed first column of 1..N or 0..N-1) or "id" (words, or a
    column named id/index, that differ in every row)."""
    kinds = {}
    for i, (name, column) in enumerate(zip(table.names, table.columns)):
        kinds[name] = kind_of(name, column, first=i == 0, rows=table.rows)
    return kinds


LEFT_OUT = {"row names": "row names", "id": "every value differs", "ignored": "--ignore"}

ASKED_KINDS = {"categorical": "words", "ignore": "ignored"}  # train's options that correct a column's reading


def labels_of(label):
    """The label columns of an encoding's (or label_of's) "label": one name, or a multilabel
    table's several (a list), as a list."""
    return list(label) if isinstance(label, (list, tuple)) else [label]


def asked_names(asked, option):
    """The column names one of train's options gives ({"categorical": [...], ...}'s), each value
    split at its commas, stripped, as written (any case)."""
    return [n.strip() for value in asked.get(option) or () for n in value.split(",") if n.strip()]


def asked_kinds(table, asked, label):
    """{column: kind} of the columns the user named ({"categorical": [...], "ignore": [...]}, names
    in any case, several in one value separated by commas). ValueError (naming the option, the
    column and the table's columns) for a column the table lacks, the label column, or a column
    named by both."""
    from numpy_mlp.data import BadOption

    lowered = {n.lower(): n for n in reversed(table.names)}
    kinds = {}
    for option, kind in ASKED_KINDS.items():
        for name in asked_names(asked, option):
            flag = f"--{option} {name}"
            if name.lower() not in lowered:
                raise BadOption(f"{table.path}: {flag}: no column named {name!r} (columns: {listed(table.names)})")
            column = lowered[name.lower()]
            if column in labels_of(label):
                raise BadOption(
                    f"{flag}: {column} holds the labels, not a feature"
                    + ("; --task classification takes its numbers as classes" if option == "categorical" else "")
                )
            if kinds.get(column, kind) != kind:
                raise BadOption(f"--categorical {name} and --ignore {name}: give one")
            kinds[column] = kind
    return kinds


def ignore_them(names):
    """The command line's fix for columns that cannot be taken: --ignore them."""
    return f"leave it out with --ignore {','.join(names)}, or fill it"


def check_kinds(table, kinds, label, fix=ignore_them):
    """ValueError for a feature column empty in every row (nothing to learn from, nothing to
    fill with), with fix(names of the empty columns) as its last words."""
    empty = [n for n in table.names if kinds[n] == "gaps" and n not in labels_of(label)]
    if empty:
        raise ValueError(
            f"{table.path}: column {shown_name(empty[0])} is empty in every row"
            + (f" (and {listed(empty[1:])})" if len(empty) > 1 else "")
            + f"; {fix(empty)}"
        )


def numbers_of(column, name, path):
    """(N,) float64 of a column the network takes as numbers (NaN for gaps); a ValueError naming
    the first word that is not one."""
    if column.numbers is not None:
        return column.numbers
    values, _ = level_numbers(column.levels)
    bad = np.flatnonzero(np.isnan(values))
    if len(bad):
        row = int(np.flatnonzero(column.codes == bad[0])[0])
        raise ValueError(
            f"{path}: data row {row + 1}, column {name}: {column.levels[bad[0]]!r} is not a number, and the "
            "network takes numbers there; fix that value"
        )
    return np.where(column.codes >= 0, values[column.codes], np.nan)


def words_of(column):
    """(N,) object array of a column's values as text (None for a gap)."""
    if column.codes is None:
        text = np.char.mod("%.15g", column.numbers).astype(object)
        text[np.isnan(column.numbers)] = None
        return text
    levels = np.array([*column.levels, None], dtype=object)
    return levels[column.codes]  # a gap's -1 picks the None at the end


# ----------------------------------------------------------------------------- a DataFrame's columns


def is_frame(X):
    """Whether X is a pandas DataFrame (columns, dtypes and rows by position)."""
    return all(hasattr(X, name) for name in ("columns", "dtypes", "iloc", "isna"))


def needs_encoding(X):
    """Whether X is a DataFrame that only an encoding makes numbers: a column of words,
    categories, yes/no or dates, or a gap anywhere."""
    if not is_frame(X):
        return False
    kinds = [getattr(dtype, "kind", "O") for dtype in X.dtypes]
    return any(kind not in "iuf" for kind in kinds) or bool(X.isna().to_numpy().any())


def frame_column(series):
    """One DataFrame column as a Column: numbers as float64 (NaN for gaps), anything else as
    words (a date as YYYY-MM-DD, a yes/no as True/False; NaN, None, NA, NaT and GAPS' words are
    gaps)."""
    kind = getattr(series.dtype, "kind", "O")
    if kind in "iuf":
        return Column(series.to_numpy(dtype=np.float64, na_value=np.nan), None, ())
    gaps = series.isna().to_numpy()
    shown = series.dt.strftime("%Y-%m-%d") if kind == "M" else series
    text = [None if gap else str(value).strip() for value, gap in zip(shown.to_numpy(dtype=object), gaps)]
    text = [None if t is None or t.lower() in GAPS else t for t in text]
    levels = tuple(dict.fromkeys(t for t in text if t is not None))
    slot = {level: i for i, level in enumerate(levels)}
    return Column(None, np.array([-1 if t is None else slot[t] for t in text], np.int32), levels)


def frame_table(frame, name="X"):
    """(Table, {column: kind}) of a DataFrame, its kinds read as a CSV's are (column_kinds),
    except that a column of the category dtype is words whatever its categories hold."""
    names = tuple(str(c) for c in frame.columns)
    columns = tuple(frame_column(frame.iloc[:, i]) for i in range(len(names)))
    table = Table(name, names, True, columns, len(frame), ",")
    categories = {n for n, dtype in zip(names, frame.dtypes) if str(dtype) == "category"}
    return table, column_kinds(table) | dict.fromkeys(categories, "words")


# ----------------------------------------------------------------------------- the encoding


def raw_values(kind, column, name, path):
    """(N,) float64 of a number or yes/no column, (N, 3) of a date column; NaN for gaps."""
    if kind == "boolean":
        words = words_of(column)
        return np.array([np.nan if w is None else BOOLEANS.get(str(w).lower(), np.nan) for w in words], np.float64)
    if kind == "date":
        levels = column.levels if column.codes is not None else ()
        days = dates_of(levels)
        if days is None:
            raise ValueError(
                f"{path}: column {name} holds values that are not dates (YYYY-MM-DD), as it did in training"
            )
        return np.where((column.codes >= 0)[:, None], days[column.codes], np.nan)
    return numbers_of(column, name, path)


def fitted_part(name, kind, column, rows, path):
    """One column's part of the encoding, fitted on `rows`."""
    if kind == "words":
        words = words_of(column)[rows]
        present = words[words != None]  # noqa: E711 (an object array's gaps are None)
        levels, counts = np.unique(present.astype(str), return_counts=True) if len(present) else ([], [])
        order = sorted(zip(-np.asarray(counts), levels))
        kept = [str(level) for minus, level in order if -minus >= MIN_LEVEL_ROWS][:MAX_LEVELS]
        part = {"column": name, "kind": kind, "levels": kept, "other": len(kept) < len(levels)}
        part["gap"] = bool(len(present) < len(words))
        if len(levels) > MAX_LEVELS:  # many levels: each one's share of the training rows, as one more number
            part["frequency"] = {str(level): int(count) / len(words) for level, count in zip(levels, counts)}
        return part
    values = raw_values(kind, column, name, path)[rows]
    gaps = np.isnan(values).any(axis=1) if values.ndim == 2 else np.isnan(values)
    fill = np.nanmedian(values, axis=0) if (~gaps).any() else np.zeros(values.shape[1:])
    return {"column": name, "kind": kind, "fill": np.atleast_1d(fill).tolist(), "gaps": bool(gaps.any())}


def fit_encoding(table, kinds, *, label, rows):
    """The encoding of a table's feature columns (all but `label` and those left out), fitted on
    the training rows `rows` (indices): a JSON-able dict {"columns": every column name of the
    file, "label", "parts": one per feature column, "left_out": {name: why}} that `encode` applies
    to this table or another with the same columns."""
    parts, left_out = [], {}
    for name, column in zip(table.names, table.columns):
        kind = kinds[name]
        if name in labels_of(label):
            continue
        if kind in LEFT_OUT:
            left_out[name] = LEFT_OUT[kind]
            continue
        parts.append(fitted_part(name, kind, column, rows, table.path))
    return {"columns": list(table.names), "label": label, "parts": parts, "left_out": left_out}


def part_names(part):
    """The feature names a part of the encoding makes, in order."""
    name, kind = part["column"], part["kind"]
    if kind == "words":
        made = [f"{name}={level}" for level in part["levels"]]
        made += [f"{name}=other"] * part["other"] + [f"{name}=gap"] * part["gap"]
        return made + ([f"{name} frequency"] if "frequency" in part else [])
    made = [f"{name} year", f"{name} month", f"{name} weekday"] if kind == "date" else [name]
    return made + ([f"{name} missing"] if part["gaps"] else [])


KIND_WORDS = {"number": "number", "words": "words", "boolean": "yes/no", "date": "date"}


def becomes(part):
    """What one column's part of the encoding makes of it, in words (encoding_rows)."""
    made = part_names(part)
    if part["kind"] == "words":
        slots = [*part["levels"], *["other"] * part["other"], *["gap"] * part["gap"]]
        said = f"one-hot: {listed(slots, most=8)}"
        return said + ("; and each level's share of the rows" if "frequency" in part else "")
    said = ", ".join(made[:-1] if part["gaps"] else made)
    if part["kind"] == "boolean":
        said += " (1 for yes/true, 0 for no/false)"
    if part["gaps"]:
        fill = ", ".join(f"{v:g}" for v in part["fill"])
        said += f"; a gap: {fill} (the median), flagged in {made[-1]}"
    return said


def encoding_rows(encoding):
    """(column, read as, becomes) per column of the training table, in its order, for `summary`:
    ('town', 'words', 'one-hot: Oslo, Bergen, other, gap'), ('age', 'number', 'age; a gap: 41
    (the median), flagged in age missing'), ('name', 'left out', 'every value differs')."""
    parts = {part["column"]: part for part in encoding["parts"]}
    rows = []
    for name in encoding["columns"]:
        if name in labels_of(encoding["label"]):
            rows.append((shown_name(name), "the label", ""))
        elif name in encoding["left_out"]:
            rows.append((shown_name(name), "left out", encoding["left_out"][name]))
        elif name in parts:
            part = parts[name]
            rows.append((shown_name(name), KIND_WORDS[part["kind"]], becomes(part)))
    return rows


def check_columns(table, encoding):
    """ValueError unless a table holds every column the encoding takes, by name (a header-less
    file: by position), and none it does not know."""
    known = set(encoding["columns"])
    needed = {part["column"] for part in encoding["parts"]}
    missing = [n for n in encoding["columns"] if n in needed and n not in table.names]
    extra = [n for n in table.names if n not in known]
    if missing or extra:
        labels = labels_of(encoding["label"])
        said = [
            f"missing {', '.join(map(repr, missing))}" if missing else "",
            f"not known {', '.join(map(repr, extra))}" if extra else "",
        ]
        raise ValueError(
            f"{table.path}: its columns differ from the training table's ({'; '.join(filter(None, said))}); "
            f"give a table with the columns {', '.join(n for n in encoding['columns'] if n not in labels)}"
        )


def encoded_part(part, column, path):
    """(N, k) float64 of one column by its part of the encoding."""
    if part["kind"] == "words":
        words = words_of(column)
        slot = {level: i for i, level in enumerate(part["levels"])}
        width = len(part["levels"]) + part["other"] + part["gap"]
        block = np.zeros((len(words), width + ("frequency" in part)))
        other, gap = len(part["levels"]), len(part["levels"]) + part["other"]
        for r, w in enumerate(words):
            i = (gap if part["gap"] else None) if w is None else slot.get(w, other if part["other"] else None)
            if i is not None:
                block[r, i] = 1.0
            if "frequency" in part and w is not None:
                block[r, width] = part["frequency"].get(w, 0.0)
        return block
    values = raw_values(part["kind"], column, part["column"], path)
    values = values.reshape(len(values), -1)
    gaps = np.isnan(values).any(axis=1)
    filled = np.where(np.isnan(values), np.asarray(part["fill"]), values)
    return np.column_stack([filled, gaps.astype(np.float64)]) if part["gaps"] else filled


def encode(table, encoding):
    """(x (N, D) float32, D feature names) of a Table's rows by `encoding` (`fit_encoding`'s):
    columns matched by name; a gap in a number gets the training median; an unseen word goes to
    "other" (or, with no "other", no level at all). ValueError naming missing or extra columns."""
    check_columns(table, encoding)
    where = {name: i for i, name in enumerate(table.names)}
    names = [n for part in encoding["parts"] for n in part_names(part)]
    x = np.zeros((table.rows, len(names)), np.float32)
    at = 0
    for part in encoding["parts"]:
        block = encoded_part(part, table.columns[where[part["column"]]], table.path)
        x[:, at : at + block.shape[1]] = block
        at += block.shape[1]
    return x, names


def is_plain(encoding):
    """Whether an encoding changes nothing: every column a number without gaps, none left out (the
    features are the columns as read, as for a table of numbers only)."""
    return not encoding["left_out"] and all(p["kind"] == "number" and not p["gaps"] for p in encoding["parts"])


def described(encoding):
    """The columns' kinds in words, for the defaults line: '5 numbers, 2 words (one-hot), 1 yes/no;
    gaps filled in age, fare; left out: name (every value differs)'."""
    counts = {}
    for part in encoding["parts"]:
        counts[part["kind"]] = counts.get(part["kind"], 0) + 1
    shown = {
        "number": "numbers",
        "words": "words (one-hot)",
        "boolean": "yes/no",
        "date": "dates (year, month, weekday)",
    }
    said = [", ".join(f"{n} {shown[k]}" for k, n in counts.items())]
    filled = [p["column"] for p in encoding["parts"] if p.get("gaps")]
    if filled:
        said.append(f"gaps filled in {', '.join(filled[:5])}{' ...' if len(filled) > 5 else ''} (median, flagged)")
    if encoding["left_out"]:
        said.append("left out: " + ", ".join(f"{shown_name(n)} ({why})" for n, why in encoding["left_out"].items()))
    return "columns: " + "; ".join(said)


def word_columns(encoding):
    """The columns an encoding takes as words: a file read for it reads them as words, whatever they hold."""
    return {
        part["column"] for part in (encoding or {}).get("parts", ()) if part["kind"] in ("words", "boolean", "date")
    }
