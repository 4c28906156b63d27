"""The five evaluation-set formats as pydantic models, and loaders that resolve their paths.

Every manifest path is relative to its set's folder, so a set can be copied anywhere (or cut
down to a few items for a test) and still load; a loader resolves each path against the
folder and checks the file exists up front, so a broken copy fails before any model runs,
naming the manifest line, not deep inside an embedding call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import InvalidInput, NotFound
from ..regions import Box

SetName = Literal["ui_grounding", "icons", "spoken_instructions", "screen_states", "sound_events"]
SET_NAMES: tuple[SetName, ...] = ("ui_grounding", "icons", "spoken_instructions", "screen_states", "sound_events")

T = TypeVar("T", bound=BaseModel)


class _Row(BaseModel):
    # Manifests may grow fields (debug info, provenance): ignore what the harness does not use.
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---------------------------------------------------------------- ui_grounding
class UICandidate(_Row):
    box: Box
    tag: str = ""
    role: str = ""
    name: str = ""
    icon_only: bool = False
    text: str = ""
    href: str = ""

    @property
    def label(self) -> str:
        """What an accessibility tree would offer: the name, else visible text, else the role.

        Unlabeled icon buttons have an empty name (realistic); falling back to the role keeps
        them rankable by text instead of silently dropping them."""
        return (self.name or self.text or self.role or self.tag or "element").strip() or "element"


class UIItem(_Row):
    id: str
    image: Path
    width: int
    height: int
    instruction: str
    instruction_type: str
    target_box: Box
    target_index: int
    acceptable_indices: list[int]
    candidates: list[UICandidate]

    @model_validator(mode="after")
    def _indices_in_range(self) -> UIItem:
        n = len(self.candidates)
        if n == 0:
            raise ValueError("an item needs at least one candidate")
        bad = [i for i in [self.target_index, *self.acceptable_indices] if not 0 <= i < n]
        if bad:
            raise ValueError(f"candidate indices {bad} are outside 0..{n - 1}")
        return self


# ---------------------------------------------------------------- icons
class IconItem(_Row):
    id: str
    image: Path
    name: str
    description: str
    tags: list[str] = Field(default_factory=list)
    set: str = "unknown"


# ---------------------------------------------------------------- spoken_instructions
class SpokenItem(_Row):
    id: str
    audio: Path
    transcript: str
    voice: str = ""
    noisy: bool = False
    duration_s: float | None = None


# ---------------------------------------------------------------- screen_states
class ScreenState(_Row):
    id: str
    image: Path
    width: int | None = None
    height: int | None = None
    state_label: str = ""
    description: str = ""


class Perturbation(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str


class ImageQuery(_Row):
    id: str
    image: Path
    perturbation: Perturbation
    expected_state_id: str


class TextQuery(_Row):
    id: str
    text: str
    expected_state_id: str


# ---------------------------------------------------------------- sound_events
class SoundItem(_Row):
    id: str
    audio: Path
    label: str
    category: str = ""
    description: str = ""
    is_speech: bool = False


# ---------------------------------------------------------------- loaded sets
class UIGroundingSet(BaseModel):
    folder: Path
    items: list[UIItem]


class IconsSet(BaseModel):
    folder: Path
    items: list[IconItem]


class SpokenSet(BaseModel):
    folder: Path
    items: list[SpokenItem]


class ScreenStatesSet(BaseModel):
    folder: Path
    states: list[ScreenState]
    image_queries: list[ImageQuery]
    text_queries: list[TextQuery]

    @model_validator(mode="after")
    def _expected_states_exist(self) -> ScreenStatesSet:
        ids = {s.id for s in self.states}
        missing = sorted({q.expected_state_id for q in [*self.image_queries, *self.text_queries]} - ids)
        if missing:
            raise ValueError(f"queries expect states that states.jsonl does not hold: {missing[:5]}")
        return self


class SoundEventsSet(BaseModel):
    folder: Path
    items: list[SoundItem]


AnySet = UIGroundingSet | IconsSet | SpokenSet | ScreenStatesSet | SoundEventsSet

MANIFESTS: dict[SetName, tuple[str, ...]] = {
    "ui_grounding": ("items.jsonl",),
    "icons": ("items.jsonl",),
    "spoken_instructions": ("items.jsonl",),
    "screen_states": ("states.jsonl", "image_queries.jsonl", "text_queries.jsonl"),
    "sound_events": ("items.jsonl",),
}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise NotFound(f"manifest {path} does not exist: a set folder holds its JSONL manifest(s) and meta.json")
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{n} is not valid JSON ({exc.msg}); every manifest line is one JSON object") from exc
        if not isinstance(row, dict):
            raise InvalidInput(f"{path}:{n} is not a JSON object")
        rows.append(row)
    if not rows:
        raise InvalidInput(f"manifest {path} holds no items")
    return rows


def _parse(model: type[T], rows: list[dict[str, Any]], path: Path, folder: Path) -> list[T]:
    out: list[T] = []
    for n, row in enumerate(rows, start=1):
        try:
            item = model.model_validate(row)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise InvalidInput(f"{path} item {n}: field '{where}': {err['msg']}") from exc
        updates: dict[str, Path] = {}
        for field in ("image", "audio"):
            rel = getattr(item, field, None)
            if rel is None:
                continue
            full = rel if rel.is_absolute() else folder / rel
            if not full.is_file():
                raise NotFound(f"{path} item {n} ({row.get('id', '?')}): {field} file {full} does not exist (paths are relative to the set folder)")
            updates[field] = full
        out.append(item.model_copy(update=updates) if updates else item)
    ids = [getattr(i, "id", None) for i in out]
    dupes = sorted({i for i in ids if i is not None and ids.count(i) > 1})
    if dupes:
        raise InvalidInput(f"{path}: duplicate ids {dupes[:5]}")
    return out


def load_ui_grounding(folder: Path) -> UIGroundingSet:
    p = folder / "items.jsonl"
    return UIGroundingSet(folder=folder, items=_parse(UIItem, _read_jsonl(p), p, folder))


def load_icons(folder: Path) -> IconsSet:
    p = folder / "items.jsonl"
    return IconsSet(folder=folder, items=_parse(IconItem, _read_jsonl(p), p, folder))


def load_spoken_instructions(folder: Path) -> SpokenSet:
    p = folder / "items.jsonl"
    return SpokenSet(folder=folder, items=_parse(SpokenItem, _read_jsonl(p), p, folder))


def load_screen_states(folder: Path) -> ScreenStatesSet:
    ps, pi, pt = (folder / m for m in MANIFESTS["screen_states"])
    try:
        return ScreenStatesSet(
            folder=folder,
            states=_parse(ScreenState, _read_jsonl(ps), ps, folder),
            image_queries=_parse(ImageQuery, _read_jsonl(pi), pi, folder),
            text_queries=_parse(TextQuery, _read_jsonl(pt), pt, folder),
        )
    except ValidationError as exc:
        raise InvalidInput(f"{folder}: {exc.errors()[0]['msg']}") from exc


def load_sound_events(folder: Path) -> SoundEventsSet:
    p = folder / "items.jsonl"
    return SoundEventsSet(folder=folder, items=_parse(SoundItem, _read_jsonl(p), p, folder))


LOADERS = {
    "ui_grounding": load_ui_grounding,
    "icons": load_icons,
    "spoken_instructions": load_spoken_instructions,
    "screen_states": load_screen_states,
    "sound_events": load_sound_events,
}


def load_set(name: SetName, folder: Path) -> AnySet:
    return LOADERS[name](folder)  # type: ignore[no-any-return]


def detect_set(folder: Path) -> SetName | None:
    """Which set format a folder holds: meta.json's `set`, else the shape of its first manifest line.

    Sniffing the manifest lets a hand-cut folder without meta.json still be evaluated."""
    meta = folder / "meta.json"
    if meta.is_file():
        try:
            name = json.loads(meta.read_text(encoding="utf-8")).get("set")
        except (json.JSONDecodeError, AttributeError):
            name = None
        if name in SET_NAMES:
            return name  # type: ignore[return-value]
    if (folder / "states.jsonl").is_file():
        return "screen_states"
    items = folder / "items.jsonl"
    if not items.is_file():
        return None
    with items.open(encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "")
    try:
        keys = set(json.loads(first))
    except (json.JSONDecodeError, TypeError):
        return None
    if "candidates" in keys:
        return "ui_grounding"
    if "audio" in keys and "transcript" in keys:
        return "spoken_instructions"
    if "audio" in keys and "label" in keys:
        return "sound_events"
    if "image" in keys and "description" in keys:
        return "icons"
    return None


def resolve_sets(set_name: str, data_dir: Path) -> dict[SetName, Path]:
    """Map the requested set(s) to folders: `data_dir` may be one set's folder or their parent."""
    if set_name != "all" and set_name not in SET_NAMES:
        raise InvalidInput(f"unknown evaluation set '{set_name}': choose one of {', '.join(SET_NAMES)} or 'all'")
    if not data_dir.is_dir():
        raise NotFound(f"evaluation data folder {data_dir} does not exist: pass --data DIR or set SENSORIUM_EVAL_DIR")
    own = detect_set(data_dir)
    if own is not None:
        if set_name not in ("all", own):
            raise InvalidInput(f"{data_dir} holds the '{own}' set, not '{set_name}': run `sensorium eval {own}` or point --data at the parent folder")
        return {own: data_dir}
    wanted = SET_NAMES if set_name == "all" else (set_name,)
    found: dict[SetName, Path] = {}
    for name in wanted:
        sub = data_dir / name
        if sub.is_dir() and detect_set(sub) == name:
            found[name] = sub  # type: ignore[index]
    if not found:
        raise NotFound(
            f"no evaluation set {'' if set_name == 'all' else repr(set_name) + ' '}found in {data_dir}: "
            f"expected a set folder (meta.json + manifests) or a parent holding {', '.join(wanted)}"
        )
    return found
