"""Tables as people have them: a CSV read into columns (numbers, or words with their levels), the
kind of each column read from its values, and the encoding that turns the columns into the
numbers a network takes, fitted on the training rows and stored with the weights.

    table = mlp_tables.read_table("houses.csv")          # streamed: memory of the columns only
    kinds = mlp_tables.column_kinds(table)                # {"price": "number", "town": "words", ...}
    encoding = mlp_tables.fit_encoding(table, kinds, label="price", rows=train_rows)
    x, names = mlp_tables.encode(table, encoding)         # (N, D) float32, D feature names

The kinds: numbers (with currency signs, percent signs and thousands separators where
unambiguous); words (categories); yes/no and true/false; ISO dates (year, month, day of the
week); gaps (empty, NA, N/A, NaN, NULL, None, ?, -) in any of them; row names (an unnamed first
column of 1..N) and IDs (words that all differ), which are left out. The encoding: numbers get
the training median in their gaps and a 0/1 column saying where the gaps were; words get one
column per level (the MAX_LEVELS most frequent with two training rows or more), an "other"
column for the rest and a "gap" column, plus, past MAX_LEVELS levels, each level's training
frequency as one more number. mlp.py then standardises the columns as for any table.
NumPy and the standard library only.
"""

import codecs
import contextlib
import csv
import datetime
import gzip
import io
import os
import re
import warnings
import zlib
from typing import NamedTuple

import numpy as np

CHUNK_ROWS = 1 << 14  # rows parsed at a time: the text of one chunk is all a read holds beside the columns
GAPS = ("", "na", "n/a", "nan", "null", "none", "?", "-", "#n/a", "nil", "missing", "<na>")
BOOLEANS = {"yes": 1, "no": 0, "true": 1, "false": 0, "y": 1, "n": 0, "t": 1, "f": 0}
LABEL_NAMES = ("label", "target", "y", "class")  # a label column found without --label-column, any case
ROW_NAME_HEADERS = ("", "unnamed: 0", "rownames", "index", "id")  # R's write.csv, pandas' to_csv
MAX_LEVELS = 32  # one-hot columns of a word column at most (skrub: 40, RealMLP: 8)
MIN_LEVEL_ROWS = 2  # a level on fewer training rows joins "other"
CLASS_LIMIT = 30  # whole-number targets of more distinct values are amounts (a regression), not classes
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
FORMATTED = re.compile(r"[-+]?[$€£¥]?[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?%?")  # $1,200.50  -$5  $-5  45%  €30
DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+([eE][-+]?\d+)?")  # 1,5 in a table whose fields are separated by ';'
CSV_DELIMITERS = ",;\t|"  # commas, European Excel's semicolons, tabs and pipes separate CSV fields


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


# ----------------------------------------------------------------------------- text


def shown_name(name):
    """A column's name for a message: as it is, or quoted when it is empty or holds only spaces."""
    return name if name.strip() else repr(name)


def listed(names, most=12):
    """Column names for a message: 'a, b, c' (the first `most`, then how many more)."""
    shown = ", ".join(shown_name(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def utf16_codec(raw):
    """The UTF-16 codec of CSV bytes (with a BOM, or without one: text whose every other byte of
    its start is 0, as Windows' "Unicode text" writes digits and commas), else None."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    start = raw[:512]
    if len(start) >= 4 and len(start) % 2 == 0:
        if start[1::2].count(0) == len(start) // 2 and start[0::2].count(0) == 0:
            return "utf-16-le"
        if start[0::2].count(0) == len(start) // 2 and start[1::2].count(0) == 0:
            return "utf-16-be"
    return None


def decoded(raw, path, final=True):
    """CSV bytes as text: UTF-16 with its BOM, else UTF-8 (a BOM dropped); with final=False, the
    start of a file, a character cut at its end kept back. A ValueError naming the file, the first
    byte that does not decode, and the fix."""
    codec = utf16_codec(raw) or "utf-8-sig"
    try:
        return codecs.getincrementaldecoder(codec)().decode(raw, final=final)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}, as Latin-1 or Windows-1252 "
            "write it); save it as UTF-8 (Excel: 'CSV UTF-8'), or convert it: iconv -f cp1252 -t utf-8"
        ) from None


def sniffed_delimiter(text):
    """Which of CSV_DELIMITERS separates the fields of a CSV's text, from its first lines
    (csv.Sniffer; the most frequent one in the first line when it cannot tell); a comma when the
    first line holds none of them (a file of one column)."""
    head = "\n".join(text.split("\n", 20)[:20])
    first = head.split("\n", 1)[0]
    if not any(d in first for d in CSV_DELIMITERS):
        return ","
    try:
        return csv.Sniffer().sniff(head, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return max(CSV_DELIMITERS, key=first.count)


def opened(path, mode="rb", **text):
    """A table file opened: through gzip for a .gz (a table.csv.gz as downloaded), else as it is."""
    if path.lower().endswith(".gz"):
        return gzip.open(path, mode if "b" in mode else mode + "t", **text)
    return open(path, mode, **text)


def text_lines(path, codec):
    """The lines of a CSV file's text, streamed; a ValueError for a NUL byte (naming its line) or
    for bytes that do not decode (naming the first: `decoded` of the whole file, only then)."""
    with opened(path, "r", encoding=codec, newline="") as f:
        try:
            for number, line in enumerate(f, start=1):
                if "\x00" in line:
                    raise ValueError(
                        f"{path}: line {number} holds a NUL byte (\\x00), which no text field has; remove it"
                    )
                yield line
        except UnicodeDecodeError:
            with opened(path) as raw:
                decoded(raw.read(), path)  # raises, naming the byte
            raise
        except (OSError, EOFError, zlib.error) as e:  # a damaged .gz
            raise ValueError(f"{path}: cannot read it ({e}); download it again") from None


def records(path, delimiter, codec):
    """The CSV's records as lists of fields, streamed, read as RFC 4180 says (quoted fields may
    hold the delimiter, quotes and line breaks; CRLF or LF), blank lines dropped."""
    reader = csv.reader(text_lines(path, codec), delimiter=delimiter, strict=True)
    try:
        for row in reader:
            if row:
                yield row
    except csv.Error as e:
        if "field limit" in str(e):  # an unclosed quote runs to the end; a table's fields are short
            e = f"a field longer than {csv.field_size_limit():,} characters, which no number or class name is"
        raise ValueError(f"{path}: line {reader.line_num}: {e}; check the quotes there") from None


def start_of(path):
    """(first records (up to 50), delimiter, codec) of a CSV file, reading only its start."""
    try:
        with opened(path) as f:
            start = f.read(1 << 16)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    text = decoded(start, path, final=len(start) < 1 << 16)
    delimiter = "\t" if re.search(r"\.tsv(\.gz)?$", path.lower()) else sniffed_delimiter(text)
    lines = text.splitlines(keepends=True)
    lines = lines[:-1] if len(start) == 1 << 16 and len(lines) > 1 else lines  # the last may be cut
    if "\x00" in text:  # Python 3.10's csv refuses it, 3.11's reads it as a character: said alike, here
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ValueError(f"{path}: line {line} holds a NUL byte (\\x00), which no text field has; remove it")
    head = []
    with contextlib.suppress(csv.Error):  # a quote left open: the rows before it; `records` says it, with its line
        for row in csv.reader(io.StringIO("".join(lines[:200]), newline=""), delimiter=delimiter):
            head += [row] if row else []
    return head[:50], delimiter, utf16_codec(start) or "utf-8-sig"


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def has_header(head):
    """Whether the first of a file's first records is a header: a field that is not a number
    above a column of numbers, or, in a table of words only, a first record none of whose values
    comes again below it (UCI's iris.data has no header: its first row is data)."""
    first, below = head[0], head[1:]
    if not below:
        return any(not is_number(v) and v.strip().lower() not in GAPS for v in first)
    for i, value in enumerate(first):
        column = [row[i] for row in below if i < len(row) and row[i].strip().lower() not in GAPS]
        if column and all(is_number(v) for v in column) and not is_number(value) and value.strip().lower() not in GAPS:
            return True
    if all(is_number(v) or v.strip().lower() in GAPS for v in first):
        return False
    return not any(value.strip() in {row[i].strip() for row in below if i < len(row)} for i, value in enumerate(first))


def unique_names(names):
    """Column names made unique as pandas makes them: a repeated name becomes name.1, name.2."""
    seen, made = {}, []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        made.append(name if count == 0 else f"{name}.{count}")
    return tuple(made)


# ----------------------------------------------------------------------------- columns


def gaps_of(text):
    """(N,) bool: which of the stripped fields `text` (N,) str are gaps (GAPS, any case)."""
    return np.isin(np.char.lower(text), GAPS)


def coded(column, text, gap):
    """Append the codes of words `text` (N,) str (gaps: -1) to a column being built as words."""
    codes = np.full(len(text), -1, np.int32)
    words, inverse = np.unique(text[~gap], return_inverse=True)
    levels = column["levels"]
    index = np.array([levels.setdefault(w, len(levels)) for w in words.tolist()], np.int32)
    codes[~gap] = index[inverse] if len(words) else codes[~gap]
    column["codes"].append(codes)


def as_words(column):
    """Turn a column read as numbers so far into words (a word came): its numbers as text."""
    chunks, column["numbers"], column["codes"] = column["numbers"], [], []
    for values in chunks:
        text = np.char.mod("%.15g", values)
        coded(column, text, np.isnan(values))


def added(column, strings, decimal_comma):
    """`column` (a dict of "numbers" or "codes" chunks and "levels") with the fields `strings` of
    one chunk added: as numbers while every field of the column so far is one, else as words."""
    text = np.char.strip(np.asarray(strings, dtype=str))
    gap = gaps_of(text)
    if column["codes"] is None:
        values = np.full(len(text), np.nan)
        shown = np.char.replace(text[~gap], ",", ".") if decimal_comma else text[~gap]
        try:
            values[~gap] = shown.astype(np.float64)
        except ValueError:
            as_words(column)
        else:
            values[~np.isfinite(values)] = np.nan  # infinity is no value a network can take: a gap
            column["numbers"].append(values)
            return column
    coded(column, text, gap)
    return column


def finished(column):
    """The Column of a dict `added` filled."""
    if column["codes"] is None:
        return Column(np.concatenate(column["numbers"]) if column["numbers"] else np.zeros(0), None, ())
    return Column(None, np.concatenate(column["codes"]), tuple(column["levels"]))


def fast_integers(path, delimiter, codec, skip):
    """The whole table as int64 when every field is a whole number and nothing needs the csv
    module (UTF-8, commas, no quotes, no '#'), else None: NumPy parses whole numbers from the file
    about six times faster than the csv module (Kaggle's 76 MB train.csv in about a second)."""
    if codec != "utf-8-sig" or delimiter != ",":
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": a header alone, said below in our words
            warnings.simplefilter("error", DeprecationWarning)  # NumPy < 2 stores a field beyond int64 as -2**63
            return np.loadtxt(
                path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.int64, encoding="utf-8-sig", comments=None
            )
    except (ValueError, UnicodeDecodeError, DeprecationWarning):  # not all whole numbers, or rows of other widths
        return None


def add_chunk(building, chunk, done, header, width, trailing, path, delimiter, commas):
    """Add a chunk of records to the columns being built; the data rows it held (the header, in
    the first chunk, is not one). A ValueError for a record of another width."""
    body = chunk[1:] if header and done == 0 else chunk
    first_row = done + 1 + int(header)  # of the file, counted as a spreadsheet counts them
    for r, row in enumerate(body):
        if len(row) != width:
            raise ValueError(
                f"{path}: row {first_row + r} has {len(row)} fields, the first row {width}; "
                f"give every row the same fields (separated by {delimiter!r})"
            )
    if body:
        for column, fields in zip(building, zip(*body)):
            added(column, fields, commas)
    return len(body)


def read_table(path, as_words=()):
    """The CSV at `path` as a Table: UTF-8 or UTF-16, fields separated by commas, semicolons,
    tabs or pipes (told apart from the first lines), quoted as RFC 4180 says, every record as wide
    as the first (a trailing delimiter on every row, as some exports write, dropped), a header
    when the first record is one (`has_header`; else columns "column 1", ...). Streamed: it holds
    the columns and one chunk of text. as_words: names of columns read as words whatever they
    hold (a test file's, for columns its network took as words)."""
    path = os.fspath(path)
    head, delimiter, codec = start_of(path)
    if not head:
        raise ValueError(f"{path}: no rows of data (an empty file)")
    header = has_header(head)
    width = len(head[0])
    trailing = width > 1 and all(not row[-1].strip() for row in head if len(row) == width)
    names = unique_names([n.strip() for n in head[0]] if header else [f"column {i + 1}" for i in range(width)])[
        : width - trailing
    ]
    whole = fast_integers(path, delimiter, codec, skip=int(header)) if not as_words else None
    if whole is not None and whole.shape[1] == width and not trailing:
        columns = tuple(Column(whole[:, i].astype(np.float64), None, ()) for i in range(width))
        return Table(path, names, header, columns, len(whole), delimiter)
    commas = delimiter == ";" and any(DECIMAL_COMMA.fullmatch(v.strip()) for row in head[1:] for v in row)
    building = [{"numbers": [], "codes": [] if n in as_words else None, "levels": {}} for n in names]
    rows, chunk = 0, []
    for row in records(path, delimiter, codec):
        chunk.append(row)
        if len(chunk) == CHUNK_ROWS:
            rows += add_chunk(building, chunk, rows, header, width, trailing, path, delimiter, commas)
            chunk = []
    rows += add_chunk(building, chunk, rows, header, width, trailing, path, delimiter, commas)
    if rows == 0:
        raise ValueError(f"{path}: no rows of data" + (" (only a header)" if header else ""))
    return Table(path, names, header, tuple(finished(c) for c in building), rows, delimiter)


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
        if name == label:
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
        if name == encoding["label"]:
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
        said = [
            f"missing {', '.join(map(repr, missing))}" if missing else "",
            f"not known {', '.join(map(repr, extra))}" if extra else "",
        ]
        raise ValueError(
            f"{table.path}: its columns differ from the training table's ({'; '.join(filter(None, said))}); "
            f"give a table with the columns {', '.join(encoding['columns'])}"
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


# ----------------------------------------------------------------------------- the label and the task


def label_of(table, label_column, kinds):
    """The name of a table's label column: `label_column` (any case), else one named as in
    LABEL_NAMES; a header-less file's is its first column, or its last when that holds words and
    the first numbers (UCI's layout). ValueError listing the columns when there is none."""
    lowered = {n.lower(): n for n in reversed(table.names)}
    if label_column:
        if not table.header:
            raise ValueError(
                f"{table.path}: --label-column {label_column} names a column, but the file has no header row"
            )
        if label_column.lower() not in lowered:
            from numpy_mlp.data import BadOption

            raise BadOption(
                f"{table.path}: --label-column {label_column}: no column named {label_column!r} "
                f"(columns: {listed(table.names)})"
            )
        return lowered[label_column.lower()]
    if table.header:
        found = next((lowered[n] for n in LABEL_NAMES if n in lowered), None)
        if found is None:
            raise ValueError(
                f"{table.path}: no column named label, target, y or class; say which holds the labels with "
                f"--label-column (columns: {listed(table.names)})"
            )
        return found
    first, last = table.names[0], table.names[-1]
    return last if kinds[last] in ("words", "boolean") and kinds[first] == "number" else first


def asked_kinds(table, asked, label):
    """{column: kind} of the columns the user named ({"categorical": [...], "ignore": [...]}, names
    in any case, several in one value separated by commas). ValueError (naming the option, the
    column and the table's columns) for a column the table lacks, the label column, or a column
    named by both."""
    from numpy_mlp.data import BadOption

    lowered = {n.lower(): n for n in reversed(table.names)}
    kinds = {}
    for option, kind in ASKED_KINDS.items():
        for name in (n.strip() for value in asked.get(option) or () for n in value.split(",") if n.strip()):
            flag = f"--{option} {name}"
            if name.lower() not in lowered:
                raise BadOption(f"{table.path}: {flag}: no column named {name!r} (columns: {listed(table.names)})")
            column = lowered[name.lower()]
            if column == label:
                raise BadOption(
                    f"{flag}: {column} holds the labels, not a feature"
                    + ("; --task classification takes its numbers as classes" if option == "categorical" else "")
                )
            if kinds.get(column, kind) != kind:
                raise BadOption(f"--categorical {name} and --ignore {name}: give one")
            kinds[column] = kind
    return kinds


def targets_of(table, label, task):
    """(raw targets of the rows kept (float64 numbers, or (n,) str words), the kept rows' indices,
    the task): rows whose target is a gap are left out; the task as given, else a regression for
    numbers not all whole or whole numbers of more than CLASS_LIMIT values (prices, counts, years),
    else classes. ValueError for one odd value among a few whole numbers (a 1.5 among 0/1/2) and
    for words as a regression's target."""
    column = table.columns[table.names.index(label)]
    words = words_of(column)
    kept = np.flatnonzero(words != None)  # noqa: E711
    numbers, all_numbers = (column.numbers, True) if column.numbers is not None else level_numbers(column.levels)
    if column.numbers is None and all_numbers:
        numbers = np.where(column.codes >= 0, numbers[column.codes], np.nan)
    if not all_numbers:
        if task == "regression":
            raise ValueError(
                f"{table.path}: column {label} holds words ({words[kept[0]]!r}), not numbers a regression can fit; "
                "train it as classes (without --task regression)"
            )
        return words[kept].astype(str), kept, "classification"
    values = numbers[kept]
    if task is None:
        whole = values == np.round(values)
        distinct = len(np.unique(values[whole]))
        if not whole.all() and distinct <= CLASS_LIMIT and (~whole).sum() <= max(1, len(values) // 100):
            odd = int(kept[np.flatnonzero(~whole)[0]])
            raise ValueError(
                f"{table.path}: data row {odd + 1}: label {words[odd]!r} is not a whole number, and the others are "
                f"{distinct} classes ({', '.join(f'{v:g}' for v in np.unique(values[whole])[:5])}, ...); fix that "
                "row, or give --task regression to fit the numbers"
            )
        task = "regression" if not whole.all() or distinct > CLASS_LIMIT else "classification"
    if task == "regression":
        return values.reshape(-1, 1), kept, task
    return words[kept].astype(str) if not (values == np.round(values)).all() else values, kept, task


def task_in_words(table, label, task, raw):
    """Why whole numbers are a regression, for the defaults line: 'price: 372 different whole
    numbers, taken as amounts; --task classification takes them as classes' ('' otherwise:
    numbers with fractions say it themselves)."""
    values = np.unique(raw) if task == "regression" else np.zeros(1) + 0.5
    if not (values == np.round(values)).all():
        return ""
    return f"{label}: {len(values):,} different whole numbers, taken as amounts; --task classification takes them as classes"


# ----------------------------------------------------------------------------- a table file as data


def word_columns(encoding):
    """The columns an encoding takes as words: a file read for it reads them as words, whatever they hold."""
    return {
        part["column"] for part in (encoding or {}).get("parts", ()) if part["kind"] in ("words", "boolean", "date")
    }


def labelled_header(path, label):
    """Whether a table file's header holds the column `label` (read from its start only)."""
    head, _, _ = start_of(path)
    return bool(head) and has_header(head) and label in unique_names([n.strip() for n in head[0]])


def check_kinds(table, kinds, label):
    """ValueError for a feature column empty in every row (nothing to learn from, nothing to
    fill with), naming --ignore."""
    empty = [n for n in table.names if kinds[n] == "gaps" and n != label]
    if empty:
        raise ValueError(
            f"{table.path}: column {shown_name(empty[0])} is empty in every row"
            + (f" (and {listed(empty[1:])})" if len(empty) > 1 else "")
            + f"; leave it out with --ignore {','.join(empty)}, or fill it"
        )


def csv_data(path, splits, label_column=None, task=None, encoding=None, whole_file=False, columns=None, **_):
    """A table file (the training set; a fifth held out for testing) or a folder with train.csv
    and test.csv (a test.csv without the label column, like Kaggle's, is for predict: then a
    fifth of train.csv is held out instead), as mlp_data.Data with `table`: {"encoding", "said",
    "rows" (the training and test rows' indices in "files", the training file and test.csv)}.
    encoding: a network's, to read the data it is scored on as it was trained (its columns, its
    label); whole_file: every row is for testing (a file the network did not train on); columns:
    the columns' kinds the user gave when training ({"categorical": [...], "ignore": [...]})."""
    from numpy_mlp import data as mlp_data

    folder = path if os.path.isdir(path) else None
    train_path = os.path.join(folder, "train.csv") if folder else path
    categorical = {n.strip().lower() for v in (columns or {}).get("categorical") or () for n in v.split(",")}
    head = [] if encoding or not categorical else start_of(train_path)[0][:1]
    as_read = {n.strip() for row in head for n in row if n.strip().lower() in categorical}  # their text as written
    table = read_table(train_path, as_words=word_columns(encoding) | as_read)
    kinds = column_kinds(table)
    label = encoding["label"] if encoding else label_of(table, label_column, kinds)
    if not encoding:
        kinds |= asked_kinds(table, columns or {}, label)
        check_kinds(table, kinds, label)
    if label not in table.names:
        raise ValueError(
            f"{train_path}: no column {label!r}, which holds the labels the network was trained on; eval needs "
            "them (predict takes rows without)"
        )
    if not encoding and all(n == label or kinds[n] in LEFT_OUT for n in table.names):
        left = [f"{shown_name(n)} ({LEFT_OUT[kinds[n]]})" for n in table.names if n != label]
        raise ValueError(
            f"{train_path}: no column of features beside the label column {label}"
            + (f": {', '.join(left)} left out" if left else "")
        )
    raw, kept, task = targets_of(table, label, task)
    test_path = os.path.join(folder, "test.csv") if folder else None
    tested = test_path and not whole_file and os.path.isfile(test_path) and labelled_header(test_path, label)
    test_table = tested and read_table(test_path, as_words=word_columns(encoding) | (set(table.names) - {label}))
    test_raw, test_kept = targets_of(test_table, label, task)[:2] if tested else (raw[:0], kept[:0])
    labels, classes = (
        (raw, None) if task == "regression" else mlp_data._as_labels(np.concatenate([raw, test_raw]), path)
    )
    rows = mlp_data.Data(kept[:, None], labels[: len(raw)], None, None, classes, None, "test.csv", task=task)
    if tested:
        rows = rows._replace(x_test=test_kept[:, None], y_test=labels[len(raw) :])
    elif whole_file:
        rows = rows._replace(x_train=kept[:0, None], y_train=labels[:0], x_test=kept[:, None], y_test=labels)
        rows = rows._replace(test_from=f"every row of {os.path.basename(train_path)}")
    else:
        rows = mlp_data._hold_out(rows, os.path.basename(train_path), path=train_path)
    fitted_on = rows.x_train[:, 0] if len(rows.x_train) else kept  # eval of a whole file by older weights
    encoding = encoding or fit_encoding(table, kinds, label=label, rows=fitted_on)
    x, _ = encode(table, encoding)
    plain = is_plain(encoding) and not any(c.numbers is None or np.isnan(c.numbers).any() for c in table.columns)
    if plain:
        x = mlp_data._compact(
            np.column_stack([c.numbers for n, c in zip(table.names, table.columns) if n != label]), path
        )
    x_test = encode(test_table, encoding)[0] if tested else x[rows.x_test[:, 0]]
    said = [None if plain else described(encoding), task_in_words(table, label, task, raw)]
    if len(kept) < table.rows:
        said.append(f"{table.rows - len(kept):,} rows without a {label} left out")
    return rows._replace(
        x_train=x[rows.x_train[:, 0]],
        x_test=x_test.astype(x.dtype),
        shape=mlp_data._square_image(x) if plain else None,
        target_names=(label,) if task == "regression" and table.header else None,
        table={
            "encoding": encoding,
            "said": "; ".join(filter(None, said)),
            "rows": (rows.x_train[:, 0], None if tested else rows.x_test[:, 0]),  # of the file(s) below
            "files": (train_path, test_path if tested else None),
        },
    )


def raw_columns(path, encoding, rows):
    """{column: (len(rows),) values} of the feature columns an encoding takes, as the file holds
    them (float64 numbers with NaN gaps; objects for words, dates and yes/no, None for gaps), for
    another library's pipeline on the same rows (bench's scikit-learn reference)."""
    table = read_table(path, as_words=word_columns(encoding))
    taken = {}
    for part in encoding["parts"]:
        column = table.columns[table.names.index(part["column"])]
        numeric = part["kind"] == "number"
        taken[part["column"]] = (numbers_of(column, part["column"], path) if numeric else words_of(column))[rows]
    return taken


def read_csv(path, label_column=None, n_features=None):
    """(features (N, D) as mlp_data._compact stores them, raw labels (N,) str or None, feature
    names or None) of a table of numbers: its label column as `label_of` finds it (none when the
    file has exactly n_features columns, or no label column and none asked for: rows to predict).
    ValueError for a gap or a word among the features."""
    from numpy_mlp import data as mlp_data

    table = read_table(path)
    kinds = column_kinds(table)
    label = None
    if n_features is None or len(table.names) != n_features:
        try:
            label = label_of(table, label_column, kinds)
        except ValueError:
            if label_column:
                raise
    names = [n for n in table.names if n != label]
    if not names:
        raise ValueError(f"{path}: only a label column; a table needs at least one column of features beside it")
    x = np.column_stack([numbers_of(table.columns[table.names.index(n)], n, path) for n in names])
    if np.isnan(x).any():
        row, column = np.argwhere(np.isnan(x))[0]
        raise ValueError(f"{path}: data row {row + 1}, column {names[column]} is empty; fill or fix it")
    y = None if label is None else words_of(table.columns[table.names.index(label)]).astype(str)
    return mlp_data._compact(x, path), y, names if table.header else None
