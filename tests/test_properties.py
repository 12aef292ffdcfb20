"""Property tests (hypothesis): random, mutated and truncated IDX and weights files give either
a correct array or a ValueError naming the file, never anything else.

Only these tests need hypothesis (the test extra); without it this file is skipped with that
reason and test_mlp.py still runs in full."""

import gzip
import math
import struct

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="the property tests need hypothesis: pip install -e '.[test]'")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st

import mlp  # noqa: E402


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(header=st.binary(max_size=24), body=st.binary(max_size=64), gz=st.booleans(), cut=st.integers(0, 200))
def test_idx_loader_never_fails_other_than_value_error(tmp_path_factory, header, body, gz, cut):
    raw = header + body
    data = gzip.compress(raw)[:cut] if gz else raw
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(data)
    try:
        array = mlp.read_idx(path)
    except ValueError as e:
        assert str(path) in str(e)
    else:
        assert array.nbytes == len(raw) - 4 - 4 * raw[3]


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    dims=st.lists(st.integers(0, 70000), min_size=1, max_size=4),
    extra=st.integers(-3, 3),
    code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]),
)
def test_idx_loader_checks_byte_count_against_header(tmp_path_factory, dims, extra, code):
    itemsize = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}[code]
    needed = math.prod(dims) * itemsize
    body = b"\x01" * max(0, min(needed, 4096) + extra)  # lying headers declare far more than we give
    path = tmp_path_factory.mktemp("fuzz") / "f"
    path.write_bytes(struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + body)
    if len(body) == needed:
        assert mlp.read_idx(path).shape == tuple(dims)
    else:
        with pytest.raises(ValueError, match="truncated|extra bytes|GiB"):
            mlp.read_idx(path)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_weights_files_load_or_raise_value_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("npz")
    mlp.save(folder / "w.npz", mlp.init([5, 4, 3], "tanh"), {"activation": "tanh"})
    raw = bytearray((folder / "w.npz").read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    (folder / "m.npz").write_bytes(bytes(raw))
    try:
        params, meta = mlp.load(folder / "m.npz")
    except ValueError as e:
        assert "m.npz" in str(e)
    else:
        assert meta["sizes"] == [5, 4, 3] and all(np.isfinite(p).all() for p in params.values())
