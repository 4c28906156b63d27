"""`sensorium memory export|import` (memory/exchange.py): round trips that lose nothing, idempotent
re-imports, and a specific message with exit code 2 for every bad input (CLI in-process, real files)."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from memory_support import JPEG, clustered
from sensorium.memory.config import MemorySettings
from sensorium.memory.exchange import ExchangeError, check_export, export_store, import_export
from sensorium.memory.store import thumbnails_of
from sensorium.memory.store import Filter, NewMemory, Source, open_store

SPACE = "test/exchange@32"
DIM = 32
T0 = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
FORMATS = ["parquet", "jsonl"]


def _records(n: int) -> list[NewMemory]:
    vecs = clustered(n, DIM, seed=11)
    rng = np.random.default_rng(4)
    return [
        NewMemory(
            vector=v * (1 + i % 3), space=SPACE, modality=["image", "text", "audio"][i % 3],
            episode_id=None if i % 11 == 0 else f"ep{i % 4}",
            source=Source(app=["Code", "Firefox", None][i % 3], window_title=f"w{i} — ünïcode", monitor=i % 2,
                          region=(i, 2 * i, 30, 40) if i % 2 else None, path=f"/tmp/f{i}.png" if i % 5 == 0 else None),
            content_hash=f"h{i}" if i % 2 else None,
            text=f"memory {i}: \"quoted\"\nnew line" if i % 5 else None, tags=[f"t{i % 4}", "x"] if i % 2 else [],
            metadata={"i": i, "flag": i % 2 == 0, "none": None, "f": i / 7, "nested": {"a": [1, "b"]}},
            thumbnail=JPEG + bytes([i % 256]) * (i % 50) if i % 3 == 0 else None,
            visual=rng.standard_normal(16).astype(np.float32).tolist() if i % 3 == 0 else None,
            created_at=T0 + timedelta(seconds=i, microseconds=i),
            last_seen=T0 + timedelta(seconds=i + i % 4),
            seen_count=1 + i % 4,
        )
        for i, v in enumerate(vecs)
    ]


async def _seed(data_dir: Path, n: int = 60, delete: bool = True) -> None:
    store = await open_store(MemorySettings(), data_dir, SPACE, DIM)
    await store.add(_records(n), merge_duplicates=False)
    if delete:
        await store.delete(Filter(episode_id="ep3", modalities=["audio"]))  # holes in the ids
    await store.close()


async def _dump(data_dir: Path, space: str = SPACE, dim: int = DIM, thumbnails: bool = True) -> dict[int, tuple]:
    store = await open_store(MemorySettings(), data_dir, space, dim)
    try:
        memories = await store.get_many(await store.list_ids(), with_vector=True)
        thumbs = await thumbnails_of(store, memories) if thumbnails else {}
        return {
            m.id: (
                m.model_dump(mode="json", exclude={"has_thumbnail"} if not thumbnails else None),
                m.vector.tobytes(),  # type: ignore[union-attr]
                None if m.visual is None else np.asarray(m.visual, np.float32).tobytes(),
                thumbs.get(m.id),
            )
            for m in memories
        }
    finally:
        await store.close()


async def _export(data_dir: Path, out: Path, fmt: str | None = None, **kw: object) -> object:
    store = await open_store(MemorySettings(), data_dir, SPACE, DIM)
    try:
        return await export_store(store, out, fmt, **kw)  # type: ignore[arg-type]
    finally:
        await store.close()


async def _import(data_dir: Path, path: Path, space: str = SPACE, dim: int = DIM, **kw: object) -> object:
    store = await open_store(MemorySettings(), data_dir, space, dim)
    try:
        return await import_export(store, path, **kw)  # type: ignore[arg-type]
    finally:
        await store.close()


def _need_pyarrow(fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="pyarrow is not installed: pip install '.[integrations]'")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_round_trip_keeps_every_field_vector_and_thumbnail(tmp_path: Path, fmt: str) -> None:
    _need_pyarrow(fmt)
    await _seed(tmp_path / "a")
    before = await _dump(tmp_path / "a")
    out = tmp_path / f"memory.{fmt}"
    report = await _export(tmp_path / "a", out, thumbnails=True)
    assert report.memories == len(before) and report.thumbnails == sum(v[3] is not None for v in before.values())  # type: ignore[attr-defined]
    imported = await _import(tmp_path / "b", out)
    assert imported.ok and imported.imported == len(before) and imported.already_there == 0, imported  # type: ignore[attr-defined]
    assert await _dump(tmp_path / "b") == before  # ids, every field, vectors and thumbnails byte for byte

    again = await _import(tmp_path / "b", out)  # idempotent: nothing added, nothing doubled
    assert again.ok and again.imported == 0 and again.already_there == len(before)  # type: ignore[attr-defined]
    assert await _dump(tmp_path / "b") == before


@pytest.mark.parametrize("fmt", FORMATS)
async def test_without_thumbnails_everything_else_survives(tmp_path: Path, fmt: str) -> None:
    _need_pyarrow(fmt)
    await _seed(tmp_path / "a")
    out = tmp_path / f"memory.{fmt}"
    assert (await _export(tmp_path / "a", out)).thumbnails == 0  # type: ignore[attr-defined]
    if fmt == "jsonl":
        assert "thumbnail" not in out.read_text().splitlines()[1]
    else:
        import pyarrow.parquet as pq

        assert "thumbnail" not in pq.ParquetFile(out).schema_arrow.names
    assert (await _import(tmp_path / "b", out)).ok  # type: ignore[attr-defined]
    assert await _dump(tmp_path / "b", thumbnails=False) == await _dump(tmp_path / "a", thumbnails=False)
    store = await open_store(MemorySettings(), tmp_path / "b", SPACE, DIM)
    assert all(not m.has_thumbnail for m in await store.get_many(await store.list_ids()))
    await store.close()


async def test_episodes_filter_and_the_manifest(tmp_path: Path) -> None:
    await _seed(tmp_path / "a", delete=False)
    out = tmp_path / "ep.jsonl"
    await _export(tmp_path / "a", out, episodes=["ep1", "ep2"])
    manifest = json.loads(out.read_text().splitlines()[0])
    assert manifest["space"] == SPACE and manifest["dimension"] == DIM and manifest["metric"] == "cosine"
    assert manifest["episodes"] == ["ep1", "ep2"] and manifest["sensorium_export"] == 1 and manifest["format"] == "jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert manifest["count"] == len(rows) > 0 and {r["episode_id"] for r in rows} == {"ep1", "ep2"}
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert all(len(r["vector"]) == DIM and r["dimension"] == DIM and r["space"] == SPACE for r in rows)
    with pytest.raises(ExchangeError, match=r"no memories in episode\(s\) \['nope'\]; episodes in this store: \['ep0'"):
        await _export(tmp_path / "a", tmp_path / "none.jsonl", episodes=["nope"])


async def test_an_interrupted_import_resumes(tmp_path: Path) -> None:
    await _seed(tmp_path / "a", n=90, delete=False)
    out = tmp_path / "m.jsonl"
    await _export(tmp_path / "a", out)
    calls = 0

    def stop_after_two(phase: str, done: int, total: int) -> None:
        nonlocal calls
        if phase == "import":
            calls += 1
            if calls == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await _import(tmp_path / "b", out, batch=20, progress=stop_after_two)
    report = await _import(tmp_path / "b", out, batch=20)
    assert report.already_there == 40 and report.imported == 50 and report.ok  # type: ignore[attr-defined]
    assert await _dump(tmp_path / "b", thumbnails=False) == await _dump(tmp_path / "a", thumbnails=False)


async def test_an_id_holding_another_memory_is_refused(tmp_path: Path) -> None:
    await _seed(tmp_path / "a", n=10, delete=False)
    out = tmp_path / "m.jsonl"
    await _export(tmp_path / "a", out)
    other = await open_store(MemorySettings(), tmp_path / "b", SPACE, DIM)
    await other.add([NewMemory(vector=np.ones(DIM, np.float32), space=SPACE, modality="text", text="mine")])
    await other.close()
    with pytest.raises(ExchangeError, match="memory 1 is already in this store but differs .*vector"):
        await _import(tmp_path / "b", out)
    assert len(await _dump(tmp_path / "b")) == 1  # nothing was added


async def test_ids_below_the_store_s_highest_are_refused(tmp_path: Path) -> None:
    await _seed(tmp_path / "a", n=10, delete=False)
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    await _export(tmp_path / "a", full)
    await _export(tmp_path / "a", part, episodes=["ep1"])
    await _import(tmp_path / "b", part)  # ids 2, 6, 10
    with pytest.raises(ExchangeError, match="id 1 is not in this store, whose highest id is 10"):
        await _import(tmp_path / "b", full)


# ---- the CLI and bad inputs ---------------------------------------------------------------------


def _cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
         data: str = "a") -> tuple[int, str, str]:
    from sensorium.server.cli import main

    monkeypatch.setenv("SENSORIUM_DATA_DIR", str(tmp_path / data))
    monkeypatch.setenv("SENSORIUM_BACKEND", "hashing")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    asyncio.run(_seed(tmp_path / "a", n=30))
    return tmp_path


def test_cli_export_then_import_prints_reports(seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    tmp = seeded
    code, out, err = _cli(tmp, monkeypatch, capsys, "memory", "export", "m.jsonl", "--space", SPACE, "--thumbnails")
    assert code == 0, err
    report = json.loads(out)  # stdout is the report only: the progress bar goes to stderr
    assert report["memories"] > 0 and report["format"] == "jsonl" and (tmp / "m.jsonl").is_file()
    code, out, err = _cli(tmp, monkeypatch, capsys, "memory", "import", "m.jsonl", "--space", SPACE, data="b")
    assert code == 0, err
    assert json.loads(out)["imported"] == report["memories"]
    code, out, err = _cli(tmp, monkeypatch, capsys, "memory", "import", "m.jsonl", "--space", SPACE, data="b")
    assert code == 0 and json.loads(out)["imported"] == 0 and json.loads(out)["already_there"] == report["memories"]

    code, _, err = _cli(tmp, monkeypatch, capsys, "memory", "export", "m.jsonl", "--space", SPACE)
    assert code == 2 and "m.jsonl exists: choose another name or pass --force" in err
    code, _, err = _cli(tmp, monkeypatch, capsys, "memory", "export", "m.jsonl", "--space", SPACE, "--force")
    assert code == 0, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("memory", "export", "m.csv", "--space", SPACE), "cannot tell the format from 'm.csv': pass --format parquet or --format jsonl"),
        (("memory", "export", "m.out", "--format", "xml", "--space", SPACE), "unknown export format 'xml': use one of parquet, jsonl"),
        (("memory", "export", "m.jsonl", "--space", "nope/x@8"), f"no memory store of space 'nope/x@8'; stores: {SPACE}"),
        (("memory", "export", "nodir/m.jsonl", "--space", SPACE), "the folder nodir does not exist"),
        (("memory", "import", "missing.parquet"), "no such file: missing.parquet"),
        (("memory", "import", "."), "is not a file"),
    ],
)
def test_cli_bad_arguments(seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys, argv: tuple[str, ...], message: str) -> None:
    code, out, err = _cli(seeded, monkeypatch, capsys, *argv)
    assert code == 2 and message in err and out == "", err


def test_cli_export_without_space_takes_the_only_store_and_says_when_there_is_none(
    seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """The store is chosen as `memory report` chooses it (memory.store.choose_space): the configured backend's
    (hashing, absent here), else the only one; an empty data dir is a specific error, not an empty file."""
    code, out, err = _cli(seeded, monkeypatch, capsys, "memory", "export", "m.jsonl")
    assert code == 0, err
    assert json.loads(out)["memories"] > 0 and json.loads(out)["space"] == SPACE
    code, out, err = _cli(seeded, monkeypatch, capsys, "memory", "export", "n.jsonl", data="empty")
    assert code == 2 and out == "" and "no memory store to export" in err and not (seeded / "n.jsonl").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_refuses_an_export_of_another_space(seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys, fmt: str) -> None:
    _need_pyarrow(fmt)
    code, _, err = _cli(seeded, monkeypatch, capsys, "memory", "export", f"m.{fmt}", "--space", SPACE)
    assert code == 0, err
    # the configured backend (hashing, 256-d) is not the export's space (32-d)
    code, out, err = _cli(seeded, monkeypatch, capsys, "memory", "import", f"m.{fmt}", data="b")
    assert code == 2 and out == ""
    assert f"holds memories of space '{SPACE}' (32-d); this store is of 'hashing/v1@256' (256-d)" in err
    assert f"--space {SPACE}" in err
    code, _, err = _cli(seeded, monkeypatch, capsys, "memory", "import", f"m.{fmt}", "--space", "other/model@32", data="b")
    assert code == 2 and "this store is of 'other/model@32' (32-d)" in err
    assert not list((seeded / "b").glob("memory/*"))  # refused before any store was opened (or created)


def _corrupt_jsonl(src: Path, dst: Path, how: str) -> None:
    lines = src.read_text().splitlines(keepends=True)
    if how == "truncated":
        dst.write_text("".join(lines[:-3]) + lines[-3][:40])
    elif how == "dropped_rows":
        dst.write_text("".join(lines[:-2]))
    elif how == "bad_json":
        dst.write_text("".join(lines[:3]) + "{not json\n" + "".join(lines[4:]))
    elif how == "short_vector":
        row = json.loads(lines[2])
        row["vector"] = row["vector"][:-1]
        dst.write_text("".join(lines[:2]) + json.dumps(row) + "\n" + "".join(lines[3:]))
    elif how == "nan_vector":
        row = json.loads(lines[2])
        row["vector"][0] = float("nan")
        dst.write_text("".join(lines[:2]) + json.dumps(row) + "\n" + "".join(lines[3:]))
    elif how == "bad_thumbnail":
        row = json.loads(lines[2])
        row["thumbnail"] = "%%%"
        dst.write_text("".join(lines[:2]) + json.dumps(row) + "\n" + "".join(lines[3:]))
    elif how == "bad_metadata_key":
        row = json.loads(lines[2])
        row["metadata"] = {"no/slash": 1}
        dst.write_text("".join(lines[:2]) + json.dumps(row) + "\n" + "".join(lines[3:]))
    elif how == "unsorted":
        dst.write_text(lines[0] + "".join(reversed(lines[1:])))
    elif how == "no_manifest":
        dst.write_text("".join(lines[1:]))
    elif how == "future_version":
        man = json.loads(lines[0])
        man["sensorium_export"] = 99
        dst.write_text(json.dumps(man) + "\n" + "".join(lines[1:]))
    elif how == "garbage":
        dst.write_bytes(b"\x00\x01garbage" * 100)
    elif how == "empty":
        dst.write_bytes(b"")
    elif how == "duplicate_id":
        man = json.loads(lines[0])
        man["count"] += 1
        dst.write_text(json.dumps(man) + "\n" + "".join(lines[1:]) + lines[1])


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "not valid JSON"),
        ("dropped_rows", "memories but its manifest says"),
        ("bad_json", "line 4: not valid JSON"),
        ("short_vector", "line 3: the vector has 31 numbers, the manifest says dimension 32"),
        ("nan_vector", "line 3: the vector contains NaN or infinity"),
        ("bad_thumbnail", "line 3: thumbnail is not valid base64"),
        ("bad_metadata_key", "line 3: metadata: Value error, metadata key 'no/slash' must be"),
        ("unsorted", "the ids are not in ascending order"),
        ("no_manifest", "has no valid Sensorium export manifest"),
        ("future_version", "is export format version 99; this Sensorium reads version 1"),
        ("garbage", "is not a Sensorium export: neither Parquet nor JSONL"),
        ("empty", "is not a Sensorium export: neither Parquet nor JSONL"),
        ("duplicate_id", "holds the same id more than once"),
    ],
)
def test_cli_refuses_a_damaged_jsonl_and_imports_nothing(
    seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys, how: str, message: str
) -> None:
    code, _, err = _cli(seeded, monkeypatch, capsys, "memory", "export", "m.jsonl", "--space", SPACE, "--thumbnails")
    assert code == 0, err
    _corrupt_jsonl(seeded / "m.jsonl", seeded / "bad.jsonl", how)
    code, out, err = _cli(seeded, monkeypatch, capsys, "memory", "import", "bad.jsonl", "--space", SPACE, data="b")
    assert code == 2 and message in err and out == "", err
    store_dir = seeded / "b"
    if store_dir.exists():
        assert asyncio.run(_dump(store_dir)) == {}  # validated first: a bad file imports nothing


@pytest.mark.parametrize("how", ["truncated", "garbage_tail", "not_an_export"])
def test_cli_refuses_a_damaged_parquet(seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys, how: str) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed: pip install '.[integrations]'")
    import pyarrow.parquet as pq

    code, _, err = _cli(seeded, monkeypatch, capsys, "memory", "export", "m.parquet", "--space", SPACE)
    assert code == 0, err
    raw = (seeded / "m.parquet").read_bytes()
    bad = seeded / "bad.parquet"
    if how == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
        message = "is not a readable Parquet file (damaged or truncated?)"
    elif how == "garbage_tail":
        bad.write_bytes(raw[:8] + b"\x00" * (len(raw) - 16) + raw[-8:])
        message = "is not a readable Parquet file (damaged or truncated?)"
    else:
        pq.write_table(pa.table({"id": [1, 2]}), bad)
        message = "is a Parquet file but not a Sensorium export (no 'sensorium_export' metadata)"
    code, out, err = _cli(seeded, monkeypatch, capsys, "memory", "import", "bad.parquet", "--space", SPACE, data="b")
    assert code == 2 and message in err and out == "", err


def test_parquet_without_pyarrow_names_the_extra(seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, out, err = _cli(seeded, monkeypatch, capsys, "memory", "export", "m.parquet", "--space", SPACE)
    assert code == 2 and out == ""
    assert "Parquet needs pyarrow, which is not installed: pip install 'sensorium-mcp[integrations]' (or use --format jsonl)" in err
    assert not (seeded / "m.parquet").exists()


def test_check_export_reads_vectors_exactly(tmp_path: Path) -> None:
    asyncio.run(_seed(tmp_path / "a", n=12, delete=False))
    out = tmp_path / "m.jsonl"
    asyncio.run(_export(tmp_path / "a", out, thumbnails=True))
    ef, ids = check_export(out)
    rows = [r for batch in ef.batches() for r in batch]
    stored = asyncio.run(_dump(tmp_path / "a"))
    assert ids == sorted(stored) and all(r.vector.tobytes() == stored[r.id][1] for r in rows)
    thumbs = [json.loads(line).get("thumbnail") for line in out.read_text().splitlines()[1:]]
    assert [None if t is None else base64.b64decode(t) for t in thumbs] == [stored[i][3] for i in ids]


async def test_round_trip_through_a_milvus_store(milvus_server, tmp_path: Path) -> None:
    """Export and import go through the MemoryStore protocol only: local -> file -> Milvus -> file -> local
    loses nothing (the Milvus engine keeps thumbnails in chunked rows, ids are kept on both)."""
    import uuid

    pytest.importorskip("pyarrow", reason="pyarrow is not installed: pip install '.[integrations]'")
    await _seed(tmp_path / "a")
    before = await _dump(tmp_path / "a")
    first, second = tmp_path / "first.parquet", tmp_path / "second.jsonl"
    await _export(tmp_path / "a", first, thumbnails=True)
    milvus = MemorySettings(engine="milvus", milvus_uri=milvus_server.uri, milvus_collection_prefix=f"x{uuid.uuid4().hex[:8]}_")
    store = await open_store(milvus, tmp_path, SPACE, DIM)
    try:
        report = await import_export(store, first)
        assert report.ok and report.imported == len(before), report
        assert (await import_export(store, first)).imported == 0
        await export_store(store, second, thumbnails=True, engine="milvus")
    finally:
        await store.close()
    assert json.loads(second.read_text().splitlines()[0])["engine"] == "milvus"
    assert (await _import(tmp_path / "b", second)).ok  # type: ignore[attr-defined]
    assert await _dump(tmp_path / "b") == before


def test_jsonl_vector_numbers_read_back_to_the_same_float32() -> None:
    """9 significant digits are exact for float32, through Python's float64 json parser too: every bit
    pattern class (subnormals, tiny, huge, negative zero), not only unit-vector components."""
    from sensorium.memory.exchange import _vector_json

    bits = np.random.default_rng(0).integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32)
    values = values[np.isfinite(values)]
    values = np.concatenate([values, np.array([0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, 1.0, -1.0], np.float32)])
    back = np.array(json.loads(_vector_json(values)), dtype=np.float32)
    assert back.tobytes() == values.tobytes()
