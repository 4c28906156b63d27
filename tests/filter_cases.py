"""The filter cases both memory suites run: 3,000 records with every filterable field, and the filters.

tests/test_store_behaviour.py runs them on every engine; tests/test_memory_store.py on each of the local
store's search strategies (exact scan, graph with filter callback), which only the local engine has.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sensorium.memory.store import Filter, NewMemory, Source

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def filter_records(vecs: np.ndarray, space: str) -> list[NewMemory]:
    """One record per vector; 'rare' episode holds 15 of 3000. Clustered vectors are never near-duplicates."""
    return [
        NewMemory(
            vector=v,
            space=space,
            modality=["text", "image", "audio"][i % 3],
            episode_id=f"ep{i % 20}" if i % 200 else "rare",
            source=Source(app=["Code", "Firefox", "Slack"][i % 3 == 0 and 2 or i % 2]),
            tags=[t for t, keep in (("a", i % 2 == 0), ("b", i % 3 == 0), ("c", i % 5 == 0)) if keep],
            metadata={"i": i, "even": i % 2 == 0, "kind": "x" if i % 4 else "y", "maybe": None if i % 7 else 1},
            created_at=T0 + timedelta(minutes=i),
        )
        for i, v in enumerate(vecs)
    ]


def expected_top(records: list[NewMemory], ids: list[int], query: np.ndarray, k: int, keep) -> list[int]:
    idx = [i for i, r in enumerate(records) if keep(i, r)]
    scores = np.array([float(records[i].vector @ query) for i in idx])
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[idx[o]] for o in order]


FILTERS = [
    (lambda ids: Filter(modalities=["audio"]), lambda i, r: r.modality == "audio"),
    (lambda ids: Filter(modalities=["audio", "image"]), lambda i, r: r.modality != "text"),
    (lambda ids: Filter(modalities=[]), lambda i, r: False),
    (lambda ids: Filter(episode_id="rare"), lambda i, r: r.episode_id == "rare"),
    (lambda ids: Filter(app="firefox"), lambda i, r: r.source.app == "Firefox"),
    (lambda ids: Filter(tags=["a", "b"]), lambda i, r: {"a", "b"} <= set(r.tags)),
    (lambda ids: Filter(tags=["b", "c"]), lambda i, r: {"b", "c"} <= set(r.tags)),
    (lambda ids: Filter(metadata={"even": True, "kind": "y"}), lambda i, r: r.metadata["even"] and r.metadata["kind"] == "y"),
    (lambda ids: Filter(metadata={"maybe": None}), lambda i, r: r.metadata["maybe"] is None),
    (lambda ids: Filter(metadata={"maybe": 1.0}), lambda i, r: r.metadata["maybe"] == 1),
    (lambda ids: Filter(metadata={"i": 77}), lambda i, r: i == 77),
    (lambda ids: Filter(metadata={"maybe": True}), lambda i, r: r.metadata["maybe"] == 1),  # true is 1 (SQLite's JSON)
    (lambda ids: Filter(metadata={"even": 1}), lambda i, r: r.metadata["even"]),
    (lambda ids: Filter(metadata={"even": 0.0}), lambda i, r: not r.metadata["even"]),
    (lambda ids: Filter(metadata={"kind": 1}), lambda i, r: False),  # a string never equals a number
    (lambda ids: Filter(metadata={"absent": None}), lambda i, r: True),  # a missing key is null
    (lambda ids: Filter(since=T0 + timedelta(minutes=100), until=T0 + timedelta(minutes=140)), lambda i, r: 100 <= i <= 140),
    (lambda ids: Filter(since=T0 + timedelta(minutes=2990)), lambda i, r: i >= 2990),
    (lambda ids: Filter(ids=[ids[4], ids[49], ids[499], 10**15]), lambda i, r: i in (4, 49, 499)),
    (lambda ids: Filter(ids=[]), lambda i, r: False),
    (
        lambda ids: Filter(modalities=["image"], tags=["c"], episode_id="ep5"),
        lambda i, r: r.modality == "image" and "c" in r.tags and r.episode_id == "ep5",
    ),
]
