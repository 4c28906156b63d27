"""The docs' Chroma recipe, run in an environment of its own (chromadb cannot share Sensorium's venv).

Usage: python chroma_client.py PLAN.json. The plan names docs/INTEGRATIONS.md, the export, a folder for
Chroma's files, k, and the query vectors; prints one JSON line: the collection's count after loading the
export twice, and each query's top-k ids.
"""

import json
import re
import sys

import chromadb


def main() -> None:
    plan = json.loads(open(sys.argv[1], encoding="utf-8").read())
    text = open(plan["docs"], encoding="utf-8").read()
    recipes = dict(re.findall(r"<!-- recipe: (\w+) -->\s*```python\n(.*?)```", text, flags=re.S))
    ns: dict = {}
    for name in ("read", "chroma"):  # executed as a reader pasting them would
        exec(compile(recipes[name], f"docs/INTEGRATIONS.md:recipe:{name}", "exec"), ns)  # noqa: S102
    client = chromadb.PersistentClient(path=plan["folder"], settings=chromadb.Settings(anonymized_telemetry=False))
    collection = ns["load_into_chroma"](client, plan["export"])
    ns["load_into_chroma"](client, plan["export"])  # loading again (upsert) adds nothing
    tops = [ns["chroma_top"](collection, vector, plan["k"]) for vector in plan["queries"]]
    print(json.dumps({"count": collection.count(), "tops": tops, "chromadb": chromadb.__version__}))


if __name__ == "__main__":
    main()
