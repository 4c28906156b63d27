"""Several Sensorium processes share one Milvus collection: each sees the others' acknowledged writes and
deletes at once, and their ids never collide (tests/test_memory_multiprocess.py does this for local)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest
from memory_support import clustered
from sensorium.memory.config import MemorySettings
from sensorium.memory.milvus import MilvusMemoryStore
from sensorium.memory.store import NewMemory

SPACE = "test/shared@32"
DIM = 32

WRITER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from sensorium.memory.config import MemorySettings
    from sensorium.memory.milvus import MilvusMemoryStore
    from sensorium.memory.store import NewMemory
    settings = MemorySettings.model_validate_json(sys.argv[1])
    vecs = np.asarray(json.loads(sys.argv[2]), dtype=np.float32)
    store = MilvusMemoryStore.open_sync(settings, "test/shared@32", 32)
    seen_before = len(store.list_ids_sync())
    ids = []
    for v in vecs:  # one remember per call, as a server does
        [r] = store.add_sync([NewMemory(vector=v, space="test/shared@32", modality="text")])
        ids.append(r.id)
    print(json.dumps({"seen_before": seen_before, "ids": ids}), flush=True)
    store.close_sync()
    """
)


@pytest.mark.slow
def test_two_processes_share_one_collection(milvus_server, tmp_path: Path) -> None:
    settings = MemorySettings(
        engine="milvus", milvus_uri=milvus_server.uri, milvus_collection_prefix=f"mp{uuid.uuid4().hex[:8]}_"
    )
    vecs = clustered(120, DIM, seed=4)
    store = MilvusMemoryStore.open_sync(settings, SPACE, DIM)
    try:
        first = [r.id for r in store.add_sync([NewMemory(vector=v, space=SPACE, modality="text") for v in vecs[:40]])]
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, settings.model_dump_json(), json.dumps(vecs[40:80].tolist())],
            stdout=subprocess.PIPE, text=True,
        )
        mine = [store.add_sync([NewMemory(vector=v, space=SPACE, modality="text")])[0].id for v in vecs[80:]]
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        report = json.loads(out.strip().splitlines()[-1])
        assert report["seen_before"] >= 40  # the other process saw (at least) this one's writes acknowledged before it started
        theirs = report["ids"]
        everything = first + theirs + mine
        assert len(set(everything)) == 120  # no id collides
        assert store.list_ids_sync() == sorted(everything)
        for i, id_ in zip(range(40, 80, 7), theirs[::7], strict=False):
            assert store.search_sync(vecs[i], 1, space=SPACE)[0].memory.id == id_
        assert store.delete_sync(theirs[:10]) == 10
        other = MilvusMemoryStore.open_sync(settings, SPACE, DIM)  # a fresh connection sees the delete at once
        assert len(other.list_ids_sync()) == 110 and not other.get_many_sync(theirs[:10])
        other.close_sync()
        np.testing.assert_array_equal(store.get_many_sync([theirs[-1]], with_vector=True)[0].vector, vecs[79])
    finally:
        store.drop_sync()
        store.close_sync()
