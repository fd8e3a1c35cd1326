"""Layer 1: object ids are BLAKE3 of content; FastCDC cuts are bounded, stable, dedup-friendly."""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlv.core import chunking
from mlv.core.chunking import (
    CHUNK_AVG,
    CHUNK_MAX,
    CHUNK_MIN,
    SINGLE_CHUNK_LIMIT,
    chunker_implementation,
    cut_buffer,
    cut_stream,
)
from mlv.core.hashing import (
    ID_BYTES,
    ID_HEX_LENGTH,
    Hasher,
    hash_bytes,
    id_from_bytes,
    id_to_bytes,
    is_object_id,
)
from mlv.repo.blobs import hash_file

KIB = 1024

# Published BLAKE3 test vectors (BLAKE3 repository, test_vectors.json): the input of
# length n is the byte pattern 0, 1, ..., 250, 0, 1, ... (i % 251); first 32 bytes of output.
OFFICIAL_VECTORS = {
    0: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    1: "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    2: "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63",
    3: "e1be4d7a8ab5560aa4199eea339849ba8e293d55ca0a81006726d184519e647f",
    63: "e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b",
    64: "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98",
}


def _vector_input(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def _random_bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _lengths(chunks) -> list[int]:  # type: ignore[no-untyped-def]
    return [len(c) for c in chunks]


# -- hashing -------------------------------------------------------------------


@pytest.mark.parametrize(("length", "digest"), sorted(OFFICIAL_VECTORS.items()))
def test_hash_matches_published_blake3_vectors(length: int, digest: str) -> None:
    assert hash_bytes(_vector_input(length)) == digest


def test_empty_input_digest_is_the_published_one() -> None:
    assert hash_bytes(b"") == "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def _reference_digest(path: Path) -> str:
    """``b3sum`` of the file when the binary is installed, else the blake3 package's digest."""
    b3sum = shutil.which("b3sum")
    if b3sum is not None:
        out = subprocess.run(
            [b3sum, "--no-names", str(path)], check=True, capture_output=True, text=True
        ).stdout
        return out.strip()
    hasher = blake3.blake3()
    hasher.update_mmap(path)
    return hasher.hexdigest()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 16 * KIB + 1, 3 * 1024 * KIB + 7])
def test_file_id_is_b3sum_of_the_file(tmp_path: Path, size: int) -> None:
    data = _random_bytes(size, size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    file_id, info = hash_file(path, "file")
    assert file_id == hash_bytes(data) == blake3.blake3(data).hexdigest()
    assert file_id == _reference_digest(path)
    assert info.size == size


def test_incremental_hasher_equals_one_shot() -> None:
    data = _random_bytes(7, 300_000)
    hasher = Hasher()
    for i in range(0, len(data), 4096):
        hasher.update(data[i : i + 4096])
    assert hasher.hexdigest() == hash_bytes(data) == hash_bytes(memoryview(data))


def test_object_id_text_form() -> None:
    object_id = hash_bytes(b"abc")
    assert len(object_id) == ID_HEX_LENGTH and is_object_id(object_id)
    assert len(id_to_bytes(object_id)) == ID_BYTES
    assert id_from_bytes(id_to_bytes(object_id)) == object_id
    for bad in ["", object_id[:-1], object_id + "0", object_id.upper(), "g" * 64, " " + object_id]:
        assert not is_object_id(bad), bad


# -- chunking ------------------------------------------------------------------


def test_compiled_chunker_is_in_use() -> None:
    # The pure-Python fallback is ~100x slower; a broken wheel must not go unnoticed.
    assert chunker_implementation().startswith("pyfastcdc.cy"), chunker_implementation()


def test_chunk_parameters() -> None:
    assert (CHUNK_MIN, CHUNK_AVG, CHUNK_MAX) == (16 * KIB, 64 * KIB, 256 * KIB)
    assert SINGLE_CHUNK_LIMIT == CHUNK_MIN


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunk_sizes_respect_bounds_on_random_data(seed: int) -> None:
    data = _random_bytes(seed, 8 * 1024 * KIB)
    lengths = _lengths(cut_buffer(data))
    assert sum(lengths) == len(data)
    assert all(n >= CHUNK_MIN for n in lengths[:-1])
    assert all(0 < n <= CHUNK_MAX for n in lengths)
    # pyfastcdc's effective mean is about CHUNK_AVG + CHUNK_MIN (~80 KiB).
    mean = sum(lengths) / len(lengths)
    assert CHUNK_AVG * 0.75 < mean < (CHUNK_AVG + CHUNK_MIN) * 1.3, mean


def test_low_entropy_data_cuts_at_max() -> None:
    lengths = _lengths(cut_buffer(bytes(1024 * KIB)))
    assert lengths == [CHUNK_MAX] * 4


@pytest.mark.parametrize("size", [0, 1, 100, CHUNK_MIN - 1, CHUNK_MIN])
def test_small_file_is_one_chunk(size: int) -> None:
    data = _random_bytes(size, size)
    assert [bytes(c) for c in cut_buffer(data)] == [data]
    assert [bytes(c) for c in cut_stream(io.BytesIO(data))] == [data]


def test_just_over_the_limit_may_be_cut_but_rejoins() -> None:
    data = _random_bytes(5, CHUNK_MIN + 1)
    assert b"".join(cut_buffer(data)) == data


def test_insertion_changes_only_nearby_chunks() -> None:
    data = _random_bytes(11, 6 * 1024 * KIB)
    edit_at = len(data) // 2
    edited = data[:edit_at] + b"inserted bytes" * 10 + data[edit_at:]
    before = [hash_bytes(c) for c in cut_buffer(data)]
    after = [hash_bytes(c) for c in cut_buffer(edited)]
    new = [c for c in after if c not in set(before)]
    assert 1 <= len(new) <= 3, len(new)
    # Chunks ending before the edit are untouched, and the cuts resynchronise after it.
    common_prefix = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
    common_suffix = next(
        i for i, (a, b) in enumerate(zip(reversed(before), reversed(after), strict=False)) if a != b
    )
    assert common_prefix + common_suffix >= len(before) - 3
    assert common_prefix >= len(before) // 2 - 4


_data = st.one_of(
    st.binary(max_size=4096),
    st.builds(_random_bytes, st.integers(0, 2**32), st.integers(0, 700 * KIB)),
    # Repetitive data: long runs make FastCDC cut at CHUNK_MAX, edits near them at the minimum.
    st.builds(
        lambda block, count, tail: block * count + tail,
        st.binary(min_size=1, max_size=64),
        st.integers(0, 12_000),
        st.binary(max_size=64),
    ),
)


class _ShortReads(io.RawIOBase):
    """A stream whose reads return fewer bytes than asked, like a pipe."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@settings(max_examples=40, deadline=None)
@given(_data)
def test_chunks_rejoin_to_the_input(data: bytes) -> None:
    chunks = [bytes(c) for c in cut_buffer(data)]
    assert b"".join(chunks) == data
    assert chunks, "every input, even empty, is at least one chunk"
    assert all(len(c) <= CHUNK_MAX for c in chunks)
    assert all(len(c) >= CHUNK_MIN for c in chunks[:-1])


@settings(max_examples=40, deadline=None)
@given(_data, st.integers(1, 100_000))
def test_stream_cuts_where_buffer_cuts(data: bytes, step: int) -> None:
    expected = _lengths(cut_buffer(data))
    # Copy each view at once: cut_stream's views are valid only until the next one.
    assert _lengths(cut_stream(io.BytesIO(data))) == expected
    streamed = [bytes(c) for c in cut_stream(_ShortReads(data, step))]
    assert _lengths(streamed) == expected
    assert b"".join(streamed) == data


def test_stream_of_a_real_file(tmp_path: Path) -> None:
    data = _random_bytes(99, 3 * 1024 * KIB + 5)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with open(path, "rb") as f:
        streamed = [hash_bytes(c) for c in cut_stream(f)]
    assert streamed == [hash_bytes(c) for c in cut_buffer(data)]


def test_chunker_is_shared() -> None:
    assert chunking.chunker() is chunking.chunker()
