"""Tables as people have them, read: a CSV (UTF-8 or UTF-16; commas, semicolons, tabs or pipes;
quoted as RFC 4180 says; a header or none; .gz, .tsv, UCI's .data) streamed into columns
(numbers, or words with their levels), the label column and the task found from the values, and
a table file as the toolkit's Data (numpy_mlp.columns reads each column's kind and encodes them).

    table = mlp_tables.read_table("houses.csv")          # streamed: memory of the columns only
    data = mlp_tables.csv_data("houses.csv", ("train", "test"), label_column="price")

Gaps (empty, NA, N/A, NaN, NULL, None, ?, -) are read as gaps in any column. NumPy and the
standard library only.
"""

import codecs
import contextlib
import csv
import gzip
import io
import os
import re
import warnings
import zlib

import numpy as np

from numpy_mlp import columns as mlp_columns
from numpy_mlp import guard as mlp_guard
from numpy_mlp.columns import Column, Table

CHUNK_ROWS = 1 << 14  # rows parsed at a time: the text of one chunk is all a read holds beside the columns
LABEL_NAMES = ("label", "target", "y", "class")  # a label column found without --label-column, any case
CLASS_LIMIT = 30  # whole-number targets of more distinct values are amounts (a regression), not classes
DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+([eE][-+]?\d+)?")  # 1,5 in a table whose fields are separated by ';'
CSV_DELIMITERS = ",;\t|"  # commas, European Excel's semicolons, tabs and pipes separate CSV fields


# ----------------------------------------------------------------------------- text


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
        return any(not is_number(v) and v.strip().lower() not in mlp_columns.GAPS for v in first)
    for i, value in enumerate(first):
        column = [row[i] for row in below if i < len(row) and row[i].strip().lower() not in mlp_columns.GAPS]
        if (
            column
            and all(is_number(v) for v in column)
            and not is_number(value)
            and value.strip().lower() not in mlp_columns.GAPS
        ):
            return True
    if all(is_number(v) or v.strip().lower() in mlp_columns.GAPS for v in first):
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
    """(N,) bool: which of the stripped fields `text` (N,) str are gaps (mlp_columns.GAPS, any case)."""
    return np.isin(np.char.lower(text), mlp_columns.GAPS)


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
    with mlp_guard.stops_deferred():  # a Stop raised inside NumPy's parser would read as "not whole numbers"
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
            with mlp_guard.stops_deferred():  # see below
                rows += add_chunk(building, chunk, rows, header, width, trailing, path, delimiter, commas)
            chunk = []
    # A stop signal waits for the chunk's end: raised inside NumPy's string conversions, its Stop
    # came out as the ValueError of a word (the column then read as words) or a TypeError.
    with mlp_guard.stops_deferred():
        rows += add_chunk(building, chunk, rows, header, width, trailing, path, delimiter, commas)
    if rows == 0:
        raise ValueError(f"{path}: no rows of data" + (" (only a header)" if header else ""))
    return Table(path, names, header, tuple(finished(c) for c in building), rows, delimiter)


# ----------------------------------------------------------------------------- kinds


# ----------------------------------------------------------------------------- the encoding


# ----------------------------------------------------------------------------- the label and the task


def label_of(table, label_column, kinds):
    """The name of a table's label column: `label_column` (any case; several separated by commas
    name a multilabel table's label columns, returned as a list), else one named as in
    LABEL_NAMES; a header-less file's is its first column, or its last when that holds words and
    the first numbers (UCI's layout). ValueError listing the columns when there is none."""
    lowered = {n.lower(): n for n in reversed(table.names)}
    if label_column:
        if not table.header:
            raise ValueError(
                f"{table.path}: --label-column {label_column} names a column, but the file has no header row"
            )
        from numpy_mlp.data import BadOption

        asked = [label_column] if label_column.lower() in lowered else [n.strip() for n in label_column.split(",")]
        for name in asked:
            if name.lower() not in lowered:
                raise BadOption(
                    f"{table.path}: --label-column {label_column}: no column named {name!r} "
                    f"(columns: {mlp_columns.listed(table.names)})"
                )
        found = list(dict.fromkeys(lowered[n.lower()] for n in asked))
        return found[0] if len(found) == 1 else found
    if table.header:
        found = next((lowered[n] for n in LABEL_NAMES if n in lowered), None)
        if found is None:
            raise ValueError(
                f"{table.path}: no column named label, target, y or class; say which holds the labels with "
                f"--label-column (columns: {mlp_columns.listed(table.names)})"
            )
        return found
    first, last = table.names[0], table.names[-1]
    return last if kinds[last] in ("words", "boolean") and kinds[first] == "number" else first


def targets_of(table, label, task):
    """(raw targets of the rows kept (float64 numbers, or (n,) str words), the kept rows' indices,
    the task): rows whose target is a gap are left out; the task as given, else a regression for
    numbers not all whole or whole numbers of more than CLASS_LIMIT values (prices, counts, years),
    else classes. ValueError for one odd value among a few whole numbers (a 1.5 among 0/1/2) and
    for words as a regression's target."""
    column = table.columns[table.names.index(label)]
    words = mlp_columns.words_of(column)
    kept = np.flatnonzero(words != None)  # noqa: E711
    numbers, all_numbers = (
        (column.numbers, True) if column.numbers is not None else mlp_columns.level_numbers(column.levels)
    )
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


INDICATORS = {"0": 0, "1": 1, **mlp_columns.BOOLEANS}  # what a multilabel table's label columns may hold


def label_indicators(table, labels, task):
    """(labels (n, k) uint8 of 0 and 1, the kept rows' indices, "multilabel") of a table's label
    columns `labels`, one per label, each holding 0/1 (or yes/no, true/false) per row: rows with a
    gap in any are left out. BadOption for another task asked; ValueError naming the first value
    that is not 0 or 1."""
    from numpy_mlp.data import BadOption

    if task not in (None, "multilabel"):
        raise BadOption(
            f"--label-column {','.join(labels)}: several label columns are several labels per example; "
            f"leave out --task {task} (or give --task multilabel)"
        )
    if len(labels) < 2:
        raise BadOption(
            f"--task multilabel takes several label columns of 0 and 1: name them, e.g. --label-column {labels[0]},..."
        )
    words = np.column_stack([mlp_columns.words_of(table.columns[table.names.index(n)]) for n in labels])
    kept = np.flatnonzero((words != None).all(axis=1))  # noqa: E711
    values = np.zeros((len(kept), len(labels)), np.uint8)
    for j, name in enumerate(labels):  # each distinct value looked up once, not each row
        levels, codes = np.unique(words[kept, j].astype(str), return_inverse=True)
        read = [INDICATORS.get(level.strip().lower()) for level in levels]
        if None in read:  # the first row holding a value that is not one
            unread = [k for k, value in enumerate(read) if value is None]
            row = int(kept[np.flatnonzero(np.isin(codes.ravel(), unread))[0]])
            raise ValueError(
                f"{table.path}: data row {row + 1}, column {name}: {words[row, j]!r} is not 0 or 1; each label "
                "column of several holds 0 or 1 (or yes/no) per row"
            )
        values[:, j] = np.asarray(read, np.uint8)[codes.ravel()]
    return values, kept, "multilabel"


def task_in_words(table, label, task, raw):
    """Why whole numbers are a regression, for the defaults line: 'price: 372 different whole
    numbers, taken as amounts; --task classification takes them as classes' ('' otherwise:
    numbers with fractions say it themselves)."""
    values = np.unique(raw) if task == "regression" else np.zeros(1) + 0.5
    if not (values == np.round(values)).all():
        return ""
    return f"{label}: {len(values):,} different whole numbers, taken as amounts; --task classification takes them as classes"


# ----------------------------------------------------------------------------- a table file as data


def labelled_header(path, labels):
    """Whether a table file's header holds the label columns `labels` (a list; read from its start only)."""
    head, _, _ = start_of(path)
    return bool(head) and has_header(head) and set(labels) <= set(unique_names([n.strip() for n in head[0]]))


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
    categorical = {n.lower() for n in mlp_columns.asked_names(columns or {}, "categorical")}
    head = [] if encoding or not categorical else start_of(train_path)[0][:1]
    as_read = {n.strip() for row in head for n in row if n.strip().lower() in categorical}  # their text as written
    table = read_table(train_path, as_words=mlp_columns.word_columns(encoding) | as_read)
    kinds = mlp_columns.column_kinds(table)
    label = encoding["label"] if encoding else label_of(table, label_column, kinds)
    if not encoding:
        kinds |= mlp_columns.asked_kinds(table, columns or {}, label)
        mlp_columns.check_kinds(table, kinds, label)
    label_names = mlp_columns.labels_of(label)
    for name in label_names:
        if name not in table.names:
            raise ValueError(
                f"{train_path}: no column {name!r}, which holds labels the network was trained on; eval needs "
                "them (predict takes rows without)"
            )
    if not encoding and all(n in label_names or kinds[n] in mlp_columns.LEFT_OUT for n in table.names):
        left = [
            f"{mlp_columns.shown_name(n)} ({mlp_columns.LEFT_OUT[kinds[n]]})"
            for n in table.names
            if n not in label_names
        ]
        raise ValueError(
            f"{train_path}: no column of features beside the label column {', '.join(label_names)}"
            + (f": {', '.join(left)} left out" if left else "")
        )
    several = len(label_names) > 1 or task == "multilabel"
    targets = (lambda t: label_indicators(t, label_names, task)) if several else (lambda t: targets_of(t, label, task))
    raw, kept, task = targets(table)
    test_path = os.path.join(folder, "test.csv") if folder else None
    tested = test_path and not whole_file and os.path.isfile(test_path) and labelled_header(test_path, label_names)
    test_table = tested and read_table(
        test_path, as_words=mlp_columns.word_columns(encoding) | (set(table.names) - set(label_names))
    )
    test_raw, test_kept = targets(test_table)[:2] if tested else (raw[:0], kept[:0])
    if task in ("regression", "multilabel"):  # numbers, or a label per column named by its column
        y, classes = np.concatenate([raw, test_raw]), (tuple(label_names) if task == "multilabel" else None)
    else:
        y, classes = mlp_data._as_labels(np.concatenate([raw, test_raw]), path)
    rows = mlp_data.Data(kept[:, None], y[: len(kept)], None, None, classes, None, "test.csv", task=task)
    if tested:
        rows = rows._replace(x_test=test_kept[:, None], y_test=y[len(kept) :])
    elif whole_file:
        rows = rows._replace(x_train=kept[:0, None], y_train=y[:0], x_test=kept[:, None], y_test=y)
        rows = rows._replace(test_from=f"every row of {os.path.basename(train_path)}")
    else:
        rows = mlp_data._hold_out(rows, os.path.basename(train_path), path=train_path)
    fitted_on = rows.x_train[:, 0] if len(rows.x_train) else kept  # eval of a whole file by older weights
    encoding = encoding or mlp_columns.fit_encoding(table, kinds, label=label, rows=fitted_on)
    x, _ = mlp_columns.encode(table, encoding)
    plain = mlp_columns.is_plain(encoding) and not any(
        c.numbers is None or np.isnan(c.numbers).any() for c in table.columns
    )
    if plain:
        x = mlp_data._compact(
            np.column_stack([c.numbers for n, c in zip(table.names, table.columns) if n not in label_names]), path
        )
    x_test = mlp_columns.encode(test_table, encoding)[0] if tested else x[rows.x_test[:, 0]]
    said = [None if plain else mlp_columns.described(encoding)]
    said.append(task_in_words(table, label, task, raw) if task != "multilabel" else f"labels: {', '.join(label_names)}")
    if len(kept) < table.rows:
        said.append(f"{table.rows - len(kept):,} rows without a {' or '.join(label_names)} left out")
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
    table = read_table(path, as_words=mlp_columns.word_columns(encoding))
    taken = {}
    for part in encoding["parts"]:
        column = table.columns[table.names.index(part["column"])]
        numeric = part["kind"] == "number"
        taken[part["column"]] = (
            mlp_columns.numbers_of(column, part["column"], path) if numeric else mlp_columns.words_of(column)
        )[rows]
    return taken


def read_csv(path, label_column=None, n_features=None):
    """(features (N, D) as mlp_data._compact stores them, raw labels (N,) str or None, feature
    names or None) of a table of numbers: its label column as `label_of` finds it (none when the
    file has exactly n_features columns, or no label column and none asked for: rows to predict).
    ValueError for a gap or a word among the features."""
    from numpy_mlp import data as mlp_data

    table = read_table(path)
    kinds = mlp_columns.column_kinds(table)
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
    x = np.column_stack([mlp_columns.numbers_of(table.columns[table.names.index(n)], n, path) for n in names])
    if np.isnan(x).any():
        row, column = np.argwhere(np.isnan(x))[0]
        raise ValueError(f"{path}: data row {row + 1}, column {names[column]} is empty; fill or fix it")
    y = None if label is None else mlp_columns.words_of(table.columns[table.names.index(label)]).astype(str)
    return mlp_data._compact(x, path), y, names if table.header else None
