"""`sensorium memory report OUT.html`: one self-contained HTML page of a memory store.

Why a page and not a table: a store is a history of what an agent saw, and a person checking it
(what did it remember? did a private window slip in?) reads it fastest as episodes on a timeline
with the pictures beside the text that was read from them.

What the page is, and why:
- **One file, offline.** No CDN, no fetch, no external font: CSS and the small filter script are
  inline, thumbnails are `data:` URIs. A Content-Security-Policy meta tag (`default-src 'none'`,
  images only from `data:`, the one script allowed by its sha256) makes that a rule the browser
  enforces, not only a habit of this module: nothing the page holds can load or run anything else.
- **Everything from the store is escaped** (`html.escape`, quotes too) where it is written; the
  script never builds HTML from data, it only hides and shows elements. A window title holding
  `<script>` is text on the page (tested in headless Chromium).
- **Bounded.** At most `limit` memories (default 1,000: the newest, shown in time order; the page
  says how many were left out and how to choose others), each thumbnail re-encoded to at most
  `thumb_side` px and `thumb_max_bytes` (JPEG), text cut at `text_chars`. So a page holds at most
  about `limit` x 50 kB (`PER_MEMORY_MAX_BYTES`) whatever the store holds (~7 kB a typical memory).
- **Works without the script.** The timeline and every card are plain HTML; the script adds the
  filter box (hidden until it runs) and the "showing N of M" count.

The store is read only through the MemoryStore protocol (`list_ids`, `get_many`, thumbnails), so
both engines give the same page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

import anyio
from pydantic import BaseModel, Field

from .errors import MemoryStoreError
from .store import thumbnails_of
from .records import Filter, Memory
from .store import MemoryStore

Progress = Callable[[int, int], Awaitable[None] | None]

PER_MEMORY_MAX_BYTES = 50_000
"""Worst case one memory adds to the page at the default options: a 12 kB thumbnail as base64 (16 kB),
2,000 characters of text escaped (12 kB when every character is a quote, `&quot;`), app (300), window
title (500, and 150 in the timeline tooltip and the alt text), tags (500 characters in all), metadata
(1,000) escaped the same way, and the markup around them. Typical screen memories take ~7 kB."""
TAG_CHARS = 500

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ReportError(MemoryStoreError):
    """The report cannot be written (the output path), or was asked for something the store does not hold."""


class ReportOptions(BaseModel):
    """What goes into a report. The defaults keep a page of any store under ~50 MB (see PER_MEMORY_MAX_BYTES)."""

    limit: int = Field(1000, ge=1, le=100_000, description="at most this many memories: the newest ones")
    episodes: list[str] = Field(default_factory=list, description="only these episodes (empty: all)")
    thumb_side: int = Field(240, ge=32, le=1024, description="longer side of a thumbnail in the page, px")
    thumb_max_bytes: int = Field(12_000, ge=2_000, le=200_000, description="largest thumbnail in the page (JPEG)")
    text_chars: int = Field(2_000, ge=50, le=32_000, description="text of a memory shown up to this many characters")
    batch: int = Field(200, ge=1, le=5_000, description="memories read per store call")


class ReportSummary(BaseModel):
    path: str
    space: str | None
    memories_in_store: int
    matching: int = Field(description="memories matching the episode selection")
    shown: int
    episodes: int
    thumbnails: int
    unreadable_thumbnails: int
    bytes: int


class _Card(BaseModel):
    memory: Memory
    thumb: str | None = None  # a data: URI
    thumb_size: tuple[int, int] | None = None
    thumb_note: str | None = None


class ReportData(BaseModel):
    """Everything `render` needs: what was read from the store, and why the page may be empty or cut."""

    title: str = "Sensorium memory"
    space: str | None = None
    generated_at: datetime
    memories_in_store: int = 0
    matching: int = 0
    episodes_asked: list[str] = Field(default_factory=list)
    limit: int = 1000
    cards: list[_Card] = Field(default_factory=list)
    text_chars: int = 2000
    empty_reason: str | None = None


# ---- reading ---------------------------------------------------------------------------------


def check_writable(out: Path) -> Path:
    """Refuse an output path we could not write *before* reading a large store, with the way out."""
    out = out.expanduser()
    if out.is_dir():
        raise ReportError(f"{out} is a directory: give a file name, e.g. {out / 'memory.html'}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ReportError(f"cannot write {out}: the folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportError(f"cannot write {out}: no permission to create files in {parent}")
    if out.exists() and not os.access(out, os.W_OK):
        raise ReportError(f"cannot write {out}: the file exists and is read-only")
    return out


def _thumbnail_uri(data: bytes, side: int, max_bytes: int) -> tuple[str, tuple[int, int]] | None:
    """Re-encode a stored thumbnail (up to 1 MB) small enough for the page: JPEG, longer side <= `side`,
    at most `max_bytes` (quality, then size, stepped down). None when Pillow cannot read it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > 64_000_000:
                return None
            img.draft("RGB", (side, side))  # JPEG: decode at a reduced scale (fast and little memory)
            rgb = img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    while True:
        rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in (75, 60, 45, 30):
            buf = io.BytesIO()
            rgb.save(buf, "JPEG", quality=quality, optimize=True)
            if buf.tell() <= max_bytes:
                return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), rgb.size
        if side <= 32:
            return None
        side = max(32, side * 2 // 3)


async def collect(
    store: MemoryStore, options: ReportOptions, *, progress: Progress | None = None, now: datetime | None = None
) -> ReportData:
    """Read the newest `options.limit` memories (of `options.episodes`, if given) and their thumbnails."""
    from .records import utcnow

    all_ids = await store.list_ids()
    if options.episodes:
        chosen: set[int] = set()
        for episode in options.episodes:
            chosen.update(await store.list_ids(Filter(episode_id=episode)))
        ids = sorted(chosen)
    else:
        ids = all_ids
    data = ReportData(
        space=store.space, generated_at=now or utcnow(), memories_in_store=len(all_ids), matching=len(ids),
        episodes_asked=list(options.episodes), limit=options.limit, text_chars=options.text_chars,
    )
    if not all_ids:
        data.empty_reason = "This store holds no memories yet."
        return data
    if not ids:
        data.empty_reason = "No memory belongs to the episode(s) asked for: " + ", ".join(map(repr, options.episodes)) + "."
        return data
    wanted = ids[-options.limit :]  # ids grow with time on both engines: the newest ones
    done = 0
    for start in range(0, len(wanted), options.batch):
        memories = await store.get_many(wanted[start : start + options.batch])
        thumbs = await thumbnails_of(store, memories)

        def shrink(memories: list[Memory] = memories, thumbs: dict[int, bytes] = thumbs) -> list[_Card]:
            cards = []
            for m in memories:
                card = _Card(memory=m)
                raw = thumbs.get(m.id)
                if raw is not None:
                    made = _thumbnail_uri(raw, options.thumb_side, options.thumb_max_bytes)
                    if made is None:
                        card.thumb_note = "the stored thumbnail could not be decoded"
                    else:
                        card.thumb, card.thumb_size = made
                cards.append(card)
            return cards

        data.cards.extend(await anyio.to_thread.run_sync(shrink))
        done += len(memories)
        if progress is not None:
            maybe = progress(done, len(wanted))
            if maybe is not None:
                await maybe
    data.cards.sort(key=lambda c: (c.memory.created_at, c.memory.id))
    return data


async def write_report(
    store: MemoryStore | None, out: Path, options: ReportOptions | None = None, *, progress: Progress | None = None,
    empty_reason: str | None = None, now: datetime | None = None,
) -> ReportSummary:
    """Write the report of `store` to `out` (atomically: a temp file renamed over it). `store=None` writes a
    valid page saying why there is nothing to show (`empty_reason`), e.g. a data dir without any store."""
    options = options or ReportOptions()
    out = check_writable(out)
    if store is None:
        from .records import utcnow

        data = ReportData(generated_at=now or utcnow(), empty_reason=empty_reason or "There is no memory store.")
    else:
        data = await collect(store, options, progress=progress, now=now)
    page = await anyio.to_thread.run_sync(lambda: render(data))
    encoded = page.encode("utf-8", errors="replace")
    await anyio.to_thread.run_sync(lambda: _write_atomic(out, encoded))
    return ReportSummary(
        path=str(out), space=data.space, memories_in_store=data.memories_in_store, matching=data.matching,
        shown=len(data.cards), episodes=len({c.memory.episode_id for c in data.cards}),
        thumbnails=sum(c.thumb is not None for c in data.cards),
        unreadable_thumbnails=sum(c.thumb_note is not None for c in data.cards), bytes=len(encoded),
    )


def _write_atomic(out: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from exc


# ---- rendering -------------------------------------------------------------------------------


def _e(value: object, limit: int | None = None) -> str:
    """Escape for text and attribute values (quotes too); drop C0 controls; cut at `limit` characters."""
    text = _CONTROL.sub("", "" if value is None else str(value))
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return html.escape(text, quote=True)


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _episode_label(episode: str | None) -> str:
    return "(no episode)" if episode is None else episode


_SCRIPT = """
(function () {
  "use strict";
  var form = document.getElementById("filter");
  var input = document.getElementById("q");
  var count = document.getElementById("count");
  var cards = Array.prototype.slice.call(document.querySelectorAll("li.card"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.episode"));
  var lanes = Array.prototype.slice.call(document.querySelectorAll("li.lane"));
  var marks = {};
  Array.prototype.forEach.call(document.querySelectorAll("a.mark"), function (a) {
    marks[a.getAttribute("href").slice(1)] = a;
  });
  // what the filter reads: the card's own text (memory text, app, window title, tags, kind), lower-cased once
  var hay = cards.map(function (c) { return c.textContent.toLowerCase(); });
  function apply() {
    var terms = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card, i) {
      var ok = terms.every(function (t) { return hay[i].indexOf(t) !== -1; });
      card.hidden = !ok;
      var mark = marks[card.id];
      if (mark) { mark.classList.toggle("dim", !ok); }
      if (ok) { shown += 1; }
    });
    sections.forEach(function (s, i) {
      var any = s.querySelector("li.card:not([hidden])") !== null;
      s.hidden = !any;
      if (lanes[i]) { lanes[i].classList.toggle("dim", !any); }
    });
    count.textContent = terms.length
      ? "Showing " + shown + " of " + cards.length + " memories matching \\u201c" + input.value.trim() + "\\u201d."
      : "Showing all " + cards.length + " memories.";
  }
  if (form && input && count) {
    form.addEventListener("submit", function (ev) { ev.preventDefault(); });
    input.addEventListener("input", apply);
    form.hidden = false;
    apply();
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""

_STYLE = """
:root { color-scheme: light dark; --fg: #1d232b; --muted: #5c6670; --bg: #fbfbfa; --card: #ffffff;
  --line: #d9dde1; --accent: #2764c5; --lane: #e9eef6; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ec; --muted: #a4adb6; --bg: #15181c; --card: #1e2228;
  --line: #363c44; --accent: #7aa7f0; --lane: #232a34; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.5rem clamp(0.75rem, 3vw, 2.5rem); font: 15px/1.45 system-ui, sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 1.5rem; margin: 0 0 0.25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 0.5rem; overflow-wrap: anywhere; }
h3 { font-size: 0.95rem; margin: 0 0 0.4rem; }
.muted, small { color: var(--muted); }
.summary { margin: 0.25rem 0 1rem; }
.empty { padding: 1.5rem; border: 1px dashed var(--line); border-radius: 8px; font-size: 1.05rem; }
form#filter { margin: 1rem 0; display: flex; gap: 0.6rem; align-items: center; flex-wrap: wrap; }
form#filter input { font: inherit; padding: 0.4rem 0.6rem; min-width: min(28rem, 100%); border: 1px solid var(--line);
  border-radius: 6px; background: var(--card); color: var(--fg); }
#count { margin: 0; }
.timeline { border: 1px solid var(--line); border-radius: 8px; padding: 0.75rem 1rem 0.5rem; background: var(--card); }
.axis { position: relative; height: 1.4rem; margin-left: var(--label); font-size: 0.75rem; color: var(--muted); }
.axis span { position: absolute; transform: translateX(-50%); white-space: nowrap; }
.axis span:first-child { transform: none; } .axis span:last-child { transform: translateX(-100%); }
.lanes { list-style: none; margin: 0; padding: 0; --label: 12rem; }
.lane { display: flex; align-items: center; height: 1.6rem; }
.lane.dim { opacity: 0.35; }
.lane > a.name { width: 12rem; flex: none; padding-right: 0.6rem; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; font-size: 0.85rem; color: var(--fg); }
.track { position: relative; flex: 1; height: 100%; background: var(--lane); border-radius: 4px; }
.bar { position: absolute; top: 45%; height: 10%; background: var(--accent); opacity: 0.35; min-width: 2px; }
a.mark { position: absolute; top: 20%; width: 8px; height: 60%; margin-left: -4px; border-radius: 2px;
  background: var(--accent); }
a.mark.dim { opacity: 0.15; }
a.mark.m-text { background: #2f9e6b; } a.mark.m-audio { background: #c2782b; } a.mark.m-image { background: var(--accent); }
a.mark:focus, a.mark:hover { outline: 2px solid var(--fg); z-index: 1; }
ol.cards { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.8rem;
  grid-template-columns: repeat(auto-fill, minmax(min(22rem, 100%), 1fr)); }
li.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 0.7rem;
  display: flex; flex-direction: column; gap: 0.4rem; min-width: 0; }
li.card:target { outline: 3px solid var(--accent); }
li.card img { max-width: 100%; height: auto; border-radius: 4px; border: 1px solid var(--line); align-self: flex-start; }
.kind { display: inline-block; padding: 0 0.4rem; border-radius: 4px; background: var(--lane); font-size: 0.8rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 0.6rem; margin: 0; font-size: 0.85rem; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
.text { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.9rem; max-height: 14rem; overflow: auto;
  border-left: 3px solid var(--line); padding-left: 0.5rem; }
.tag { display: inline-block; padding: 0 0.35rem; margin: 0 0.2rem 0.2rem 0; border: 1px solid var(--line);
  border-radius: 999px; font-size: 0.8rem; }
details { font-size: 0.8rem; } details pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.3rem 0 0; }
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def _alt(m: Memory) -> str:
    about = m.source.window_title or m.source.app or (m.text or "").strip().split("\n")[0] or m.modality
    return f"Thumbnail of memory {m.id} ({m.modality}): {about}"


def _card(card: _Card, text_chars: int) -> str:
    m = card.memory
    parts = [f'<li class="card" id="m-{m.id}"><h3>#{m.id} <span class="kind">{_e(m.modality)}</span> '
             f'<small><time datetime="{m.created_at.isoformat()}">{_when(m.created_at)}</time></small></h3>']
    if card.thumb is not None and card.thumb_size is not None:
        w, h = card.thumb_size
        parts.append(f'<img src="{card.thumb}" width="{w}" height="{h}" alt="{_e(_alt(m), 150)}">')
    elif card.thumb_note:
        parts.append(f'<p class="muted">({_e(card.thumb_note)})</p>')
    rows = []
    if m.source.app:
        rows.append(("App", _e(m.source.app, 300)))
    if m.source.window_title:
        rows.append(("Window", _e(m.source.window_title, 500)))
    if m.source.path:
        rows.append(("File", _e(m.source.path, 500)))
    if m.tags:
        shown, used = [], 0
        for t in m.tags:
            if used + len(t) > TAG_CHARS:
                break
            shown.append(f'<span class="tag">{_e(t)}</span>')
            used += len(t)
        more = f" <small>+{len(m.tags) - len(shown)} more</small>" if len(shown) < len(m.tags) else ""
        rows.append(("Tags", "".join(shown) + more))
    if m.seen_count > 1:
        rows.append(("Seen", f"{m.seen_count} times, last {_e(_when(m.last_seen))}"))
    if rows:
        parts.append("<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>")
    if m.text:
        text = m.text
        extra = ""
        if len(text) > text_chars:
            extra = f'<small> … ({len(text) - text_chars:,} more characters not shown)</small>'
            text = text[:text_chars]
        parts.append(f'<p class="text">{_e(text)}{extra}</p>')
    if m.metadata:
        meta = json.dumps(m.metadata, ensure_ascii=False, sort_keys=True)
        parts.append(f"<details><summary>metadata</summary><pre>{_e(meta, 1000)}</pre></details>")
    parts.append("</li>")
    return "".join(parts)


def _ticks(t0: datetime, span: float, n: int = 5) -> list[tuple[float, str]]:
    fmt = "%H:%M:%S" if span < 86_400 else "%Y-%m-%d %H:%M"
    out = []
    for i in range(n):
        frac = i / (n - 1)
        t = t0 + timedelta(seconds=span * frac)
        label = t.strftime(fmt)
        if i == 0 and span < 86_400:
            label = t.strftime("%Y-%m-%d ") + label
        out.append((frac * 100, label))
    return out


def _timeline(groups: list[tuple[str | None, list[_Card]]]) -> str:
    starts = [c.memory.created_at for _, cards in groups for c in cards]
    ends = [c.memory.last_seen for _, cards in groups for c in cards]
    t0, t1 = min(starts), max(max(ends), max(starts))
    span = max((t1 - t0).total_seconds(), 1.0)

    def pos(t: datetime) -> float:
        return round(min(max((t - t0).total_seconds() / span, 0.0), 1.0) * 100, 3)

    axis = "".join(f'<span style="left:{p}%">{_e(label)}</span>' for p, label in _ticks(t0, span))
    lanes = []
    for i, (episode, cards) in enumerate(groups):
        first = min(c.memory.created_at for c in cards)
        last = max(c.memory.last_seen for c in cards)
        label = _episode_label(episode)
        marks = []
        for c in cards:
            m = c.memory
            where = " — ".join(x for x in (m.source.app, m.source.window_title) if x)
            tip = f"#{m.id} {m.modality} {_when(m.created_at)}" + (f" · {where}" if where else "")
            marks.append(
                f'<a class="mark m-{_e(m.modality, 32)}" href="#m-{m.id}" style="left:{pos(m.created_at)}%" '
                f'title="{_e(tip, 150)}" aria-label="{_e(tip, 150)}"></a>'
            )
        bar_left, bar_right = pos(first), pos(last)
        lanes.append(
            f'<li class="lane"><a class="name" href="#ep-{i}" title="{_e(label, 300)}">{_e(label, 60)}</a>'
            f'<div class="track"><div class="bar" style="left:{bar_left}%;width:{round(bar_right - bar_left, 3)}%"></div>'
            + "".join(marks) + "</div></li>"
        )
    return (
        '<section class="timeline" aria-labelledby="tl-h"><h2 id="tl-h" style="margin-top:0">Timeline</h2>'
        f'<p class="muted" style="margin:0 0 0.5rem">{_when(t0)} to {_when(t1)} ({_span(span)}), one lane per episode; '
        'each mark is a memory (blue: image, green: text, orange: audio), linked to its card below.</p>'
        f'<ol class="lanes"><li aria-hidden="true"><div class="axis" style="--label:12rem">{axis}</div></li>'
        + "".join(lanes) + "</ol></section>"
    )


def render(data: ReportData) -> str:
    """The page as one string: all data escaped here, nothing fetched, one hashed inline script."""
    groups_by: dict[str | None, list[_Card]] = {}
    for card in data.cards:
        groups_by.setdefault(card.memory.episode_id, []).append(card)
    groups = sorted(groups_by.items(), key=lambda kv: min(c.memory.created_at for c in kv[1]))
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer"><link rel="icon" href="data:,">'
        f"<title>{_e(data.title)}{' — ' + _e(data.space) if data.space else ''}</title>"
        f"<style>{_STYLE}</style></head><body>"
    )
    body = [f"<header><h1>{_e(data.title)}</h1>"]
    facts = []
    if data.space:
        facts.append(f"space <code>{_e(data.space)}</code>")
    facts.append(f"written {_when(data.generated_at)}")
    body.append(f'<p class="summary muted">{", ".join(facts)}; times are UTC.</p>')
    if data.cards:
        shown = len(data.cards)
        line = f"{shown:,} {'memory' if shown == 1 else 'memories'} in {len(groups):,} episode{'s' if len(groups) != 1 else ''}"
        if data.episodes_asked:
            line += " (episodes asked for: " + ", ".join(_e(e, 200) for e in data.episodes_asked) + ")"
        if shown < data.matching:
            line += (f": the newest {shown:,} of {data.matching:,} (at most {data.limit:,} per page); "
                     "choose others with <code>--episode</code> or a larger <code>--limit</code>")
        body.append(f'<p class="summary">{line}. The store holds {data.memories_in_store:,} in all.</p>')
    body.append("</header><main>")
    if not data.cards:
        body.append(f'<p class="empty" id="empty">{_e(data.empty_reason or "Nothing to show.")}</p>')
    else:
        body.append(
            '<form id="filter" role="search" hidden><label for="q">Filter memories</label>'
            '<input id="q" type="search" autocomplete="off" placeholder="words in the text, window title, app or tags">'
            '<p id="count" role="status" aria-live="polite"></p></form>'
        )
        body.append(_timeline(groups))
        for i, (episode, cards) in enumerate(groups):
            first = min(c.memory.created_at for c in cards)
            last = max(c.memory.last_seen for c in cards)
            apps = sorted({c.memory.source.app for c in cards if c.memory.source.app})
            apps_txt = f"; apps: {_e(', '.join(apps), 300)}" if apps else ""
            body.append(
                f'<section class="episode" id="ep-{i}" aria-labelledby="ep-{i}-h">'
                f'<h2 id="ep-{i}-h">Episode {_e(_episode_label(episode), 200)}</h2>'
                f'<p class="muted">{len(cards)} {"memory" if len(cards) == 1 else "memories"}, '
                f"{_when(first)} to {_when(last)}{apps_txt}</p>"
                '<ol class="cards">' + "".join(_card(c, data.text_chars) for c in cards) + "</ol></section>"
            )
    body.append("</main>")
    body.append(f"<script>{_SCRIPT}</script></body></html>")
    return head + "".join(body)
