"""Plot files read as series: JSON, CSV and TSV as DVC writes them, the x axis chosen,
long series thinned, and files that cannot be drawn said so."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mlv.lineage.plots import MAX_POINTS, parse_plot


def test_a_list_of_objects_with_a_step() -> None:
    data = json.dumps([{"step": s, "loss": 1 / (s + 1), "acc": s / 10} for s in range(5)])
    plot = parse_plot("train.json", data.encode())
    assert plot.problem == "" and plot.x_name == "step"
    assert [s.name for s in plot.series] == ["loss", "acc"]
    assert plot.series[1].x == [0, 1, 2, 3, 4] and plot.series[1].y == [0, 0.1, 0.2, 0.3, 0.4]


def test_an_object_holding_one_list_and_an_object_of_lists() -> None:
    wrapped = {"train": [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]}
    plot = parse_plot("p.json", json.dumps(wrapped).encode())
    assert plot.x_name == "epoch" and plot.series[0].y == [0.5, 0.25]
    columns = {"fpr": [0, 0.5, 1], "tpr": [0, 0.9, 1]}
    plot = parse_plot("roc.json", json.dumps(columns).encode())
    assert plot.x_name == "fpr" and plot.series[0].name == "tpr"


def test_csv_and_tsv_take_the_first_numeric_column_as_x() -> None:
    plot = parse_plot("roc.csv", b"fpr,tpr,note\n0,0,a\n0.5,0.9,b\n1,1,c\n")
    assert plot.x_name == "fpr" and [s.name for s in plot.series] == ["tpr"]
    assert plot.series[0].x == [0, 0.5, 1] and plot.series[0].y == [0, 0.9, 1]
    tsv = parse_plot("p.tsv", b"label\tvalue\nx\t1\ny\t2\n")
    assert tsv.x_name == "row" and tsv.series[0].x == [0, 1] and tsv.series[0].y == [1, 2]


def test_gaps_stay_gaps() -> None:
    plot = parse_plot("p.csv", b"step,a,b\n1,1,\n2,,5\n3,3,6\n")
    a, b = plot.series
    assert a.y == [1, None, 3] and b.y == [None, 5, 6]


def test_what_cannot_be_drawn_says_why() -> None:
    assert "no numeric column" in parse_plot("p.csv", b"a,b\nx,y\n").problem
    assert "cannot read" in parse_plot("p.json", b"{not json").problem
    assert "list of objects" in parse_plot("p.json", b"[1, 2, 3]").problem
    assert parse_plot("p.csv", b"").problem == "no rows"
    assert "cannot read" in parse_plot("p.csv", b"\xff\xfe\x00bad").problem


def test_long_series_are_thinned_with_both_ends() -> None:
    rows = "".join(f"{i},{i * i}\n" for i in range(50_000))
    plot = parse_plot("p.csv", ("step,sq\n" + rows).encode())
    (series,) = plot.series
    assert len(series.x) == MAX_POINTS
    assert series.x[0] == 0 and series.x[-1] == 49_999 and series.y[-1] == 49_999**2
    assert series.x == sorted(series.x)


finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=100)
@given(
    names=st.lists(
        st.text("abcdefghij", min_size=1, max_size=6), min_size=2, max_size=5, unique=True
    ),
    data=st.data(),
)
def test_csv_round_trip(names: list[str], data: st.DataObject) -> None:
    names = [n for n in names if n not in ("step", "epoch", "x", "iter")] or ["a", "b"]
    if len(names) < 2:
        names.append("zz")
    count = data.draw(st.integers(1, 30))
    rows = [[data.draw(finite) for _ in names] for _ in range(count)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    writer.writerows([repr(v) for v in row] for row in rows)
    plot = parse_plot("p.csv", out.getvalue().encode())
    assert plot.x_name == names[0]
    assert [s.name for s in plot.series] == names[1:]
    for j, series in enumerate(plot.series, start=1):
        assert series.x == [row[0] for row in rows]
        assert series.y == [row[j] for row in rows]
