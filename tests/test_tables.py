"""Tables as people download them (numpy_mlp.tables): column kinds read from the values, an
encoding fitted on the training rows and kept with the weights, labels and tasks found without
options, and every command taking the raw rows (columns by name, gaps, unseen words)."""

import csv
import gzip
import json

import numpy as np
import pytest

import mlp
from conftest import run
from numpy_mlp import columns as mlp_columns
from numpy_mlp import data as mlp_data
from numpy_mlp import tables as mlp_tables


def people(n=200, seed=0):
    """Rows of a table as an R export writes it: an unnamed row-name column 1..N, a name that
    differs in every row, numbers with gaps (NA), a word column, yes/no, an ISO date, a price in
    dollars with thousands separators, and a label of words that the numbers and words decide."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    town = rng.choice(["Oslo", "Bergen", "Tromsø"], n)
    smoker = rng.choice(["yes", "no"], n)
    income = rng.normal(50_000, 15_000, n).round(2)
    risk = (age > 50).astype(int) + (smoker == "yes") + (town == "Tromsø")
    label = np.array(["low", "mid", "high", "high"])[risk]
    rows = ['"","name","age","town","smoker","joined","income","risk"']
    for i in range(n):
        shown_age = "NA" if i % 17 == 3 else str(age[i])
        day = f"2020-{1 + i % 12:02d}-{1 + i % 28:02d}"
        rows.append(
            f'"{i + 1}","person {i}",{shown_age},"{town[i]}","{smoker[i]}",{day},"${income[i]:,.2f}","{label[i]}"'
        )
    return "\n".join(rows) + "\n"


@pytest.fixture
def people_csv(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(people(), "utf-8")
    return path


def test_each_column_kind_is_read_from_its_values(people_csv):
    table = mlp_tables.read_table(people_csv)
    assert table.header and table.rows == 200 and table.names[0] == ""
    assert mlp_columns.column_kinds(table) == {
        "": "row names",
        "name": "id",
        "age": "number",
        "town": "words",
        "smoker": "boolean",
        "joined": "date",
        "income": "number",
        "risk": "words",
    }


def test_the_encoding_is_fitted_on_the_training_rows_only(people_csv):
    table = mlp_tables.read_table(people_csv)
    kinds = mlp_columns.column_kinds(table)
    rows = np.arange(100)
    encoding = mlp_columns.fit_encoding(table, kinds, label="risk", rows=rows)
    assert encoding["left_out"] == {"": "row names", "name": "every value differs"}
    age = next(p for p in encoding["parts"] if p["column"] == "age")
    ages = mlp_columns.numbers_of(table.columns[2], "age", "t")[rows]
    assert age == {"column": "age", "kind": "number", "fill": [np.nanmedian(ages)], "gaps": True}
    x, names = mlp_columns.encode(table, encoding)
    assert x.dtype == np.float32 and x.shape == (200, len(names))
    assert names[:2] == ["age", "age missing"] and "town=Oslo" in names and "joined weekday" in names
    gaps = np.array([i % 17 == 3 for i in range(200)])
    assert (x[gaps, 0] == np.float32(np.nanmedian(ages))).all() and (x[:, 1] == gaps).all()
    income = x[:, names.index("income")]
    assert abs(income.mean() - 50_000) < 5_000 and income.min() < 0  # "$52,321.07" and "$-6,584.13" read as numbers
    assert set(np.unique(x[:, names.index("smoker")])) == {0.0, 1.0}


def test_unseen_words_and_gaps_at_prediction_take_no_level_or_their_own(people_csv, tmp_path):
    table = mlp_tables.read_table(people_csv)
    encoding = mlp_columns.fit_encoding(table, mlp_columns.column_kinds(table), label="risk", rows=np.arange(200))
    town = next(p for p in encoding["parts"] if p["column"] == "town")
    assert town["levels"] == ["Bergen", "Oslo", "Tromsø"] or sorted(town["levels"]) == ["Bergen", "Oslo", "Tromsø"]
    assert not town["other"] and not town["gap"]
    new = tmp_path / "new.csv"
    new.write_text(
        '"","name","age","town","smoker","joined","income","risk"\n'
        '"1","x",40,"Paris","no",2021-05-05,"$1,000.00","low"\n"2","y",,,"yes",2021-05-06,"$2,000.00","low"\n'
    )
    x, names = mlp_columns.encode(mlp_tables.read_table(new, as_words=mlp_columns.word_columns(encoding)), encoding)
    towns = [names.index(f"town={t}") for t in town["levels"]]
    assert x[0, towns].sum() == 0 and x[1, towns].sum() == 0  # a town never seen, and a gap: no level
    assert x[1, names.index("age missing")] == 1 and x[1, names.index("age")] == encoding["parts"][0]["fill"][0]


def test_a_mixed_table_trains_evaluates_and_predicts_with_no_options(people_csv, tmp_path):
    out = tmp_path / "w.npz"
    result = run("train", "relu", "--data", people_csv, "--label-column", "risk", "--out", out)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert (
        "(columns: 2 numbers, 1 words (one-hot), 1 yes/no, 1 dates (year, month, weekday); gaps filled in age "
        "(median, flagged); left out: '' (row names), name (every value differs))" in said
    )
    meta = mlp.load(out)[1]
    assert meta["input"]["table"]["label"] == "risk" and meta["classes"] == ["high", "low", "mid"]
    assert mlp.load(out)[1]["test_accuracy"] >= 0.75  # most common class: 40%; ages in gaps decide nothing
    held_out = run("eval", out, "--data", people_csv, "--json", tmp_path / "e.json")
    assert held_out.exit_code == 0 and json.loads((tmp_path / "e.json").read_text())["n"] == 40
    other = tmp_path / "other.csv"
    other.write_text(people(seed=1), "utf-8")
    whole = run("eval", out, "--data", other, "--json", tmp_path / "o.json")
    scored = json.loads((tmp_path / "o.json").read_text())
    assert whole.exit_code == 0 and scored["n"] == 200 and scored["accuracy"] >= 0.75  # every row
    predicted = run("predict", out, other)
    assert predicted.exit_code == 0 and predicted.stdout.splitlines()[1].split(",")[1] in ("low", "mid", "high")
    shown = run("summary", out)
    assert shown.exit_code == 0
    columns = [" ".join(line.strip("│ ").split()) for line in shown.stdout.split("the network gets")[1].splitlines()]
    assert columns[2:10] == [
        "'' │ left out │ row names",
        "name │ left out │ every value differs",
        f"age │ number │ age; a gap: {meta['input']['table']['parts'][0]['fill'][0]:g} (the median), flagged in age missing",
        "town │ words │ one-hot: " + ", ".join(meta["input"]["table"]["parts"][1]["levels"]),
        "smoker │ yes/no │ smoker (1 for yes/true, 0 for no/false)",
        "joined │ date │ joined year, joined month, joined weekday",
        "income │ number │ income",
        "risk │ the label",
    ]


def test_columns_are_matched_by_name_and_a_missing_one_is_named(people_csv, tmp_path):
    out = tmp_path / "w.npz"
    assert (
        run("train", "relu", "--data", people_csv, "--label-column", "risk", "--epochs", "5", "--out", out).exit_code
        == 0
    )
    lines = people(seed=1).splitlines()
    fields = list(csv.reader(lines))
    reordered = tmp_path / "reordered.csv"
    with open(reordered, "w", newline="") as f:
        csv.writer(f).writerows(row[::-1] for row in fields)  # every column, backwards
    original = tmp_path / "original.csv"
    original.write_text("\n".join(lines) + "\n")
    first, second = (run("predict", out, p) for p in (original, reordered))
    assert first.exit_code == 0 and second.exit_code == 0, second.stderr
    first, second = first.stdout, second.stdout
    assert first == second and len(first.splitlines()) == 201
    missing = tmp_path / "missing.csv"
    with open(missing, "w", newline="") as f:
        csv.writer(f).writerows(row[:2] + row[3:] for row in fields)  # no age
    result = run("predict", out, missing)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "its columns differ from the training table's (missing 'age')" in result.stderr


def test_whole_number_prices_are_a_regression_and_an_odd_value_among_classes_is_named(tmp_path):
    rng = np.random.default_rng(0)
    size = rng.uniform(50, 250, 300)
    price = (size * 3000 + rng.normal(0, 20_000, 300)).round().astype(int)
    path = tmp_path / "houses.csv"
    path.write_text("size,price\n" + "".join(f"{s:.1f},{p}\n" for s, p in zip(size, price)))
    found = mlp_data.load_data(path, label_column="price")
    assert found.task == "regression" and "different whole numbers, taken as amounts" in found.table["said"]
    grades = tmp_path / "grades.csv"
    grades.write_text("a,label\n" + "".join(f"{i},{i % 3}\n" for i in range(60)) + "61,1.5\n")
    with pytest.raises(ValueError, match=r"data row 61: label '1.5' is not a whole number, and the others are 3"):
        mlp_data.load_data(grades)
    assert mlp_data.load_data(grades, task="regression").task == "regression"


def test_without_a_label_column_the_columns_are_listed_and_target_y_class_are_found(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,kind\n" + "".join(f"{i},{i % 5},{'xy'[i % 2]}\n" for i in range(40)))
    with pytest.raises(ValueError, match=r"no column named label, target, y or class; .*\(columns: a, b, kind\)"):
        mlp_data.load_data(path)
    for name in ("Target", "y", "CLASS"):
        path.write_text(f"a,b,{name}\n" + "".join(f"{i},{i % 5},{'xy'[i % 2]}\n" for i in range(40)))
        assert mlp_data.load_data(path).classes == ("x", "y")


def test_uci_layout_tsv_and_gzip_tables_are_read(tmp_path):
    rows = [
        f"{5 + i % 3}.{i % 10},{3 + i % 2}.5,Iris-{['setosa', 'versicolor', 'virginica'][i % 3]}" for i in range(60)
    ]
    (tmp_path / "iris.data").write_text("\n".join(rows) + "\n")
    found = mlp_data.load_data(tmp_path / "iris.data")  # no header, the label last, in words
    assert found.classes == ("Iris-setosa", "Iris-versicolor", "Iris-virginica") and found.x_train.shape[1] == 2
    (tmp_path / "iris.tsv").write_text("a\tb\tlabel\n" + "\n".join(r.replace(",", "\t") for r in rows) + "\n")
    with gzip.open(tmp_path / "iris.csv.gz", "wt") as f:
        f.write("a,b,label\n" + "\n".join(rows) + "\n")
    for name in ("iris.tsv", "iris.csv.gz"):
        again = mlp_data.load_data(tmp_path / name)
        assert again.classes == found.classes and np.array_equal(again.x_train, found.x_train)


def test_a_table_with_no_usable_feature_is_refused_in_one_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('"",name,label\n' + "".join(f'"{i + 1}",n{i},{i % 2}\n' for i in range(40)))
    result = run("train", "relu", "--data", path, "--out", tmp_path / "w.npz")
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert (
        "no column of features beside the label column label: '' (row names), name (every value differs) left out"
        in (" ".join(result.stderr.split()))
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def graded(n=120, seed=0):
    """A table whose grade (1-4, written as numbers) decides the label as categories do (1 and
    3 against 2 and 4), with an empty column, a column that gives the answer away, and a note."""
    rng = np.random.default_rng(seed)
    grade = rng.integers(1, 5, n)
    rows = ["grade,size,empty,answer,label"]
    rows += [f"{g},{rng.normal():.3f},,{g % 2},{'ab'[g % 2]}" for g in grade]
    return "\n".join(rows) + "\n"


def test_categorical_and_ignore_correct_the_reading_and_an_empty_column_is_refused(tmp_path):
    path, out = tmp_path / "t.csv", tmp_path / "w.npz"
    path.write_text(graded())
    result = run("train", "relu", "--data", path, "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert "column empty is empty in every row; leave it out with --ignore empty, or fill it" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    given = ("--categorical", "GRADE", "--ignore", "empty,answer", "--epochs", "30", "--out", out)
    result = run("train", "relu", "--data", path, *given)
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "(columns: 1 words (one-hot), 1 numbers; left out: empty (--ignore), answer (--ignore))" in said
    encoding = mlp.load(out)[1]["input"]["table"]
    made = [sorted(mlp_columns.part_names(p)) for p in encoding["parts"]]  # levels by how often they are seen
    assert made == [["grade=1", "grade=2", "grade=3", "grade=4"], ["size"]]
    other = tmp_path / "other.csv"
    other.write_text(graded(seed=1))  # grades as categories decide the label: as numbers they do not
    scored = run("eval", out, "--data", other, "--json", tmp_path / "e.json")
    assert scored.exit_code == 0 and json.loads((tmp_path / "e.json").read_text())["accuracy"] == 1
    assert run("train", "relu", "--data", path, *given[2:], "--out", out).exit_code == 0  # grade as a number
    scored = run("eval", out, "--data", other, "--json", tmp_path / "e.json")
    assert scored.exit_code == 0 and json.loads((tmp_path / "e.json").read_text())["accuracy"] < 0.9
    for wrong, message in (
        (
            ("--ignore", "size,nope"),
            "--ignore nope: no column named 'nope' (columns: grade, size, empty, answer, label)",
        ),
        (("--ignore", "label"), "--ignore label: label holds the labels, not a feature"),
        (("--categorical", "size", "--ignore", "Size"), "--categorical Size and --ignore Size: give one"),
        (("--data", "mnist", "--ignore", "a"), "--ignore a names a table's columns, but mnist is idx data"),
    ):
        result = run("train", "relu", "--data", path, *wrong, "--out", tmp_path / "x.npz")
        assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "x.npz").exists()


def test_a_large_table_is_read_in_chunks_to_the_same_columns(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text(
        "a,b,label\n" + "".join(f"{i},{'NA' if i == 70 else 'w' if i == 90 else i},{i % 2}\n" for i in range(100))
    )
    whole = mlp_tables.read_table(path)
    monkeypatch.setattr(mlp_tables, "CHUNK_ROWS", 7)  # a word arrives after chunks of numbers
    chunked = mlp_tables.read_table(path)
    assert chunked.names == whole.names and chunked.rows == 100
    for one, other in zip(whole.columns, chunked.columns):
        assert (one.numbers is None) == (other.numbers is None)
        if one.numbers is None:
            assert [one.levels[c] if c >= 0 else None for c in one.codes] == [
                other.levels[c] if c >= 0 else None for c in other.codes
            ]
        else:
            np.testing.assert_array_equal(one.numbers, other.numbers)
    b = mlp_columns.words_of(chunked.columns[1])
    assert b[90] == "w" and b[70] is None and b[5] == "5"


def test_a_sweep_and_the_figures_run_on_a_mixed_table(people_csv, tmp_path):
    pytest.importorskip("optuna", reason="sweeps need optuna: pip install -e '.[test]'")
    pytest.importorskip("matplotlib", reason="figures need matplotlib: pip install -e '.[test]'")
    out = tmp_path / "best.npz"
    given = ("--label-column", "risk", "--ignore", "joined", "--epochs", "3", "--trials", "2", "--out", out)
    result = run("sweep", "relu", "--data", people_csv, "--storage", f"sqlite:///{tmp_path / 's.db'}", *given)
    assert result.exit_code == 0, result.stderr
    assert "--ignore joined" in result.stdout  # the best trial's train command keeps it
    encoding = mlp.load(out)[1]["input"]["table"]
    assert encoding["left_out"]["joined"] == "--ignore" and encoding["label"] == "risk"
    for figure in ("confusion", "curves"):
        drawn = run("plot", figure, out, "--out", tmp_path / f"{figure}.png")
        assert drawn.exit_code == 0 and (tmp_path / f"{figure}.png").read_bytes()[:4] == b"\x89PNG", drawn.stderr
