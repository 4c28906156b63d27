"""Generated screens and their revisits, for measuring "have I seen this before" (bench/bench_revisits.py).

Why generated: a rule that chooses which lines of a screen its vector is made of must be compared on
revisits it was not tuned against, and the evaluation sets are for re-measuring only. These screens are
seeded PIL renders (same arguments, same pixels), in four kinds, each at any size from ~1000x700 up:

- "terminals": bench/scenes.py's busy desktop (panel, toolbar, two terminals of shell output, a
  calculator), its terminals showing a window of a longer seeded session;
- "docs": a browser on a documentation site: tab strip, address bar, site header, a section sidebar (the
  same on every page of the site), an article (title, subheadings, wrapped paragraphs) that scrolls;
- "settings": a settings window: category sidebar, a form of labelled fields and toggles that scrolls;
- "mail": a mail client: folders, a message list (sender, subject, date) that scrolls, a preview pane.

A revisit is the same screen after one of: `scroll` (content moved up by that many pixels; chrome stays),
`size` (another capture size: the layout and the wrapped text reflow), `interact` (one small interaction:
text typed into a field, a row selected, a toggle flipped). Another `seed` is another screen of the same
kind (another page of the same site, another category, another folder): the hard negatives, sharing
their chrome with the positive.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

import scenes
from scenes import Box, font

KINDS = ("terminals", "docs", "settings", "mail")

_TOPICS = {
    "storage": "disk volume snapshot backup partition mount quota replica archive block filesystem retention",
    "network": "socket packet route gateway firewall latency proxy address subnet bandwidth tunnel handshake",
    "billing": "invoice payment refund subscription plan receipt currency tax discount balance charge customer",
    "security": "password token certificate key login session permission audit policy encryption role secret",
    "search": "index query ranking relevance filter facet synonym tokenizer score document field analyzer",
    "deploy": "release build pipeline container image rollout canary cluster node version manifest registry",
    "audio": "microphone speaker volume codec sample rate channel latency echo noise recording playback",
    "display": "monitor resolution scaling brightness colour profile refresh night light orientation screen",
}
_GLUE = ("the a this each every your our when if before after with without for from into over under and or but "
         "can will should must may is are was be not only also then so that which").split()
_VERBS = ("configure enable disable create delete update check restore sync open close measure limit rotate verify "
          "replace schedule export import share select").split()


def _sentence(r: random.Random, topic: list[str]) -> str:
    words = []
    for _ in range(r.randint(7, 15)):
        words.append(r.choice(topic if r.random() < 0.35 else _VERBS if r.random() < 0.3 else _GLUE))
    s = " ".join(words)
    return s[0].upper() + s[1:] + "."


def _wrap(draw: ImageDraw.ImageDraw, text: str, f: scenes.Font, width: float) -> list[str]:
    lines, cur = [], ""
    for w in text.split():
        nxt = f"{cur} {w}".strip()
        if cur and draw.textlength(nxt, font=f) > width:
            lines.append(cur)
            cur = w
        else:
            cur = nxt
    return lines + [cur] if cur else lines


@dataclass(frozen=True)
class Screen:
    kind: str
    seed: int
    size: tuple[int, int]
    scroll: int = 0
    interact: bool = False

    def render(self) -> Image.Image:
        """The screen's pixels (deterministic)."""
        return _RENDER[self.kind](self)

    @property
    def name(self) -> str:
        extra = (f"+scroll{self.scroll}" if self.scroll else "") + ("+interact" if self.interact else "")
        return f"{self.kind}-s{self.seed}-{self.size[0]}x{self.size[1]}{extra}"


# -- scrolling content -------------------------------------------------------------------------

Item = tuple[str, str, int, bool, tuple[int, int, int], int]
"""(kind, text, font px, bold, colour, x indent) of one content line; kind 'gap' adds its font px of space."""


def _flow(draw: ImageDraw.ImageDraw, area: Box, items: list[Item], scroll: int, bg: tuple[int, int, int]) -> None:
    """Draw content lines top-down inside `area`, moved up by `scroll` pixels and clipped to the area."""
    x1, y1, x2, y2 = area
    pane = Image.new("RGB", (x2 - x1, y2 - y1), bg)
    d = ImageDraw.Draw(pane)
    y = 12 - scroll
    for kind, text, px, bold, colour, indent in items:
        if kind == "gap":
            y += px
            continue
        if -2 * px < y < y2 - y1:
            d.text((16 + indent, y), text, font=font(px, bold=bold), fill=colour)
        y += int(px * 1.55)
    draw._image.paste(pane, (x1, y1))  # type: ignore[attr-defined]


def _chrome(draw: ImageDraw.ImageDraw, w: int, app: str, clock: str) -> int:
    """A desktop panel (activities, the app's name, a clock); returns its height."""
    draw.rectangle((0, 0, w, 27), fill=(32, 32, 36))
    draw.text((12, 6), "Activities", font=font(14), fill=(235, 235, 235))
    draw.text((110, 6), app, font=font(14, bold=True), fill=(235, 235, 235))
    draw.text((w - 150, 6), clock, font=font(14), fill=(235, 235, 235))
    return 28


def _sidebar(draw: ImageDraw.ImageDraw, box: Box, entries: list[str], selected: int, bg: tuple[int, int, int],
             px: int = 14, pitch: int = 34) -> None:
    x1, y1, x2, y2 = box
    draw.rectangle((x1, y1, x2 - 1, y2 - 1), fill=bg)
    for i, e in enumerate(entries):
        y = y1 + 14 + i * pitch
        if y + pitch > y2:
            break
        if i == selected:
            draw.rectangle((x1 + 6, y - 6, x2 - 7, y + px + 8), fill=(210, 222, 245))
        draw.text((x1 + 18, y), e, font=font(px, bold=i == selected), fill=(30, 30, 40))


def _terminals(s: Screen) -> Image.Image:
    w, h = s.size
    img = Image.new("RGB", s.size, (48, 74, 125))
    draw = ImageDraw.Draw(img)
    r = random.Random(s.seed)
    top = _chrome(draw, w, "Terminal", f"Mon 30 Nov  {r.randint(8, 20):02d}:{r.randint(0, 59):02d}") + 10
    font_px = 14 if h >= 1000 else 13
    step = int(font_px * 1.35)
    calc_w = max(240, int(w * 0.18))
    rest = w - calc_w - 40
    t1 = (10, top, 10 + int(rest * 0.58), h - 10)
    t2 = (t1[2] + 10, top + 24, t1[2] + 10 + int(rest * 0.42), h - 10)
    els: list[scenes.Element] = []
    shift = s.scroll // step  # a terminal scrolls by whole lines
    sessions = r.sample(list(scenes._SESSIONS), 3)  # what this screen's terminals ran: another seed, other commands
    project = r.choice(["orbit", "ledger", "webshop", "pipeline", "atlas", "kiosk"])
    for i, (box, title, body, colour) in enumerate(((t1, "dev@devbox: ~/project", (30, 30, 30), (98, 200, 90)),
                                                    (t2, "dev@devbox: /var/log", (48, 10, 36), (120, 170, 255)))):
        area = scenes._window(draw, box, title.replace("project", project), body, els, f"terminal {i + 1}")
        n = (area[3] - area[1] - 10) // step
        session = _shell(random.Random(s.seed * 10 + i), 160, sessions)
        view = session[shift:shift + n]
        typed = "git status" if s.interact and i == 0 else ""
        scenes._terminal(draw, area, view[:-1] + [scenes.PROMPT], typed, els, font_px, colour, cursor=i == 0)
    calc = (w - calc_w - 10, top + 40, w - 10, top + 40 + min(h - top - 50, 420))
    area3 = scenes._window(draw, calc, "Calculator", (228, 228, 232), els, "calculator")
    scenes._calculator(draw, area3, str(r.randint(2, 999)), els)
    return img


def _shell(r: random.Random, n: int, sessions: list[Callable[[random.Random], list[str]]]) -> list[str]:
    lines: list[str] = []
    while len(lines) < n:
        lines += r.choice(sessions)(r)
    return lines[:n]


_SITE_SECTIONS = ("Overview", "Getting started", "Installation", "Configuration", "Command line", "Storage", "Networking",
                  "Billing", "Security", "Search", "Deployment", "Audio", "Display", "Troubleshooting", "Release notes",
                  "API reference", "FAQ")


def _article(r: random.Random, topic_name: str, draw: ImageDraw.ImageDraw, width: float) -> tuple[str, list[Item]]:
    topic = _TOPICS[topic_name].split()
    title = f"{r.choice(_VERBS).capitalize()} {topic_name} {r.choice(topic)}s"
    items: list[Item] = [("line", title, 30, True, (20, 20, 30), 0), ("gap", "", 10, False, (0, 0, 0), 0)]
    for _ in range(5):
        head = f"{r.choice(_VERBS).capitalize()} the {r.choice(topic)} {r.choice(topic)}"
        items += [("line", head, 21, True, (25, 25, 35), 0), ("gap", "", 4, False, (0, 0, 0), 0)]
        for _ in range(r.randint(1, 2)):
            para = " ".join(_sentence(r, topic) for _ in range(r.randint(3, 5)))
            items += [("line", ln, 15, False, (45, 45, 50), 0) for ln in _wrap(draw, para, font(15), width - 40)]
            items.append(("gap", "", 12, False, (0, 0, 0), 0))
    return title, items


def _browser_frame(draw: ImageDraw.ImageDraw, w: int, top: int, tabs: list[str], url: str, typed: str) -> int:
    draw.rectangle((0, top, w, top + 39), fill=(222, 225, 230))
    for i, t in enumerate(tabs):
        x = 8 + i * 230
        draw.rounded_rectangle((x, top + 6, x + 220, top + 39), radius=6, fill=(255, 255, 255) if i == 0 else (232, 234, 238))
        draw.text((x + 14, top + 15), t[:26], font=font(13), fill=(40, 40, 40))
    bar = top + 40
    draw.rectangle((0, bar, w, bar + 43), fill=(255, 255, 255))
    draw.rounded_rectangle((90, bar + 7, w - 320, bar + 36), radius=14, fill=(241, 243, 244))
    draw.text((110, bar + 14), url, font=font(14), fill=(60, 60, 60))
    draw.rounded_rectangle((w - 300, bar + 7, w - 20, bar + 36), radius=14, fill=(241, 243, 244), outline=(200, 200, 205))
    draw.text((w - 285, bar + 14), typed or "Search docs", font=font(14), fill=(40, 40, 40) if typed else (150, 150, 150))
    return bar + 44


def _docs(s: Screen) -> Image.Image:
    w, h = s.size
    img = Image.new("RGB", s.size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    r = random.Random(s.seed)
    topic_name = list(_TOPICS)[s.seed % len(_TOPICS)]
    side_w = 260 if w >= 1200 else 220
    title, items = _article(r, topic_name, draw, w - side_w - 60)
    top = _chrome(draw, w, "Firefox", f"Tue 1 Dec  {9 + s.seed % 9:02d}:{(s.seed * 7) % 60:02d}")
    top = _browser_frame(draw, w, top, [f"{title} - Orbit Docs", "Inbox (3) - Mail", "Orbit status"],
                         f"https://docs.orbit.dev/{topic_name}/{title.lower().replace(' ', '-')}", "retention po" if s.interact else "")
    draw.rectangle((0, top, w, top + 47), fill=(24, 40, 72))
    x = 20
    for word in ("Orbit Docs", "Guides", "Reference", "Blog", "Community", "Pricing"):
        draw.text((x, top + 14), word, font=font(16, bold=word == "Orbit Docs"), fill=(240, 240, 250))
        x += int(draw.textlength(word, font=font(16))) + 36
    top += 48
    selected = 5 + list(_TOPICS).index(topic_name)
    _sidebar(draw, (0, top, side_w, h), list(_SITE_SECTIONS), selected if selected < len(_SITE_SECTIONS) else 0, (246, 247, 249))
    _flow(draw, (side_w, top, w, h), items, s.scroll, (255, 255, 255))
    return img


_SETTINGS_CATEGORIES = ("Wi-Fi", "Network", "Bluetooth", "Displays", "Sound", "Power", "Notifications", "Search",
                        "Privacy", "Online Accounts", "Sharing", "Applications", "Users", "Date & Time", "About")


def _settings(s: Screen) -> Image.Image:
    w, h = s.size
    img = Image.new("RGB", s.size, (250, 250, 250))
    draw = ImageDraw.Draw(img)
    r = random.Random(s.seed * 31 + 7)
    topic_name = list(_TOPICS)[(s.seed + 3) % len(_TOPICS)]
    topic = _TOPICS[topic_name].split()
    cat = (s.seed * 5) % len(_SETTINGS_CATEGORIES)
    top = _chrome(draw, w, "Settings", f"Wed 2 Dec  {10 + s.seed % 8:02d}:{(s.seed * 11) % 60:02d}")
    draw.rectangle((0, top, w, top + 47), fill=(235, 235, 235))
    draw.text((20, top + 14), "Settings", font=font(16, bold=True), fill=(30, 30, 30))
    heading = _SETTINGS_CATEGORIES[cat]
    tw = draw.textlength(heading, font=font(16, bold=True))
    draw.text(((w + 260 - tw) / 2, top + 14), heading, font=font(16, bold=True), fill=(30, 30, 30))
    top += 48
    _sidebar(draw, (0, top, 260, h), list(_SETTINGS_CATEGORIES), cat, (240, 240, 242), px=15, pitch=40)
    pane = Image.new("RGB", (w - 260, h - top), (250, 250, 250))
    d = ImageDraw.Draw(pane)
    y = 24 - s.scroll
    x1, x2 = 60, w - 260 - 60
    flip = r.randrange(6)
    for g in range(5):
        d.text((x1, y), f"{r.choice(topic).capitalize()} {r.choice(['options', 'devices', 'limits', 'defaults', 'history'])}",
               font=font(17, bold=True), fill=(30, 30, 30))
        y += 34
        n = r.randint(3, 5)
        d.rounded_rectangle((x1, y, x2, y + n * 56), radius=10, fill=(255, 255, 255), outline=(218, 218, 222))
        for k in range(n):
            ry = y + k * 56
            label = f"{r.choice(_VERBS).capitalize()} {r.choice(topic)} {r.choice(topic)}"
            d.text((x1 + 20, ry + 10), label, font=font(15), fill=(30, 30, 30))
            d.text((x1 + 20, ry + 31), _sentence(r, topic)[:60], font=font(12), fill=(110, 110, 110))
            if (g * 7 + k) % 3 == 0:
                on = r.random() < 0.5
                if s.interact and g == 0 and k == flip % n:
                    on = not on
                d.rounded_rectangle((x2 - 70, ry + 16, x2 - 24, ry + 40), radius=12, fill=(53, 132, 228) if on else (200, 200, 200))
                cx = x2 - 36 if on else x2 - 58
                d.ellipse((cx - 10, ry + 18, cx + 10, ry + 38), fill=(255, 255, 255))
            else:
                value = f"{r.randint(1, 500)} {r.choice(['ms', 'GB', 'items', 'days', '%'])}" if r.random() < 0.5 else r.choice(topic)
                tw = d.textlength(value, font=font(15))
                d.text((x2 - 24 - tw, ry + 18), value, font=font(15), fill=(80, 80, 90))
            if k < n - 1:
                d.line((x1 + 12, ry + 55, x2 - 12, ry + 55), fill=(230, 230, 232))
        y += n * 56 + 28
    img.paste(pane, (260, top))
    return img


_FOLDERS = ("Inbox", "Starred", "Snoozed", "Sent", "Drafts", "Archive", "Spam", "Trash", "Work", "Family", "Receipts", "Travel")
_NAMES = ("Alice Martin", "Bob Chen", "Carla Diaz", "Dmitri Ivanov", "Emma Stone", "Farid Haddad", "Grace Okafor",
          "Hiro Tanaka", "Ines Costa", "Jonas Berg", "Kim Lee", "Lena Fischer", "Orbit Billing", "GitLab", "Calendar")


def _mail(s: Screen) -> Image.Image:
    w, h = s.size
    img = Image.new("RGB", s.size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    r = random.Random(s.seed * 17 + 3)
    topic_name = list(_TOPICS)[(s.seed + 5) % len(_TOPICS)]
    topic = _TOPICS[topic_name].split()
    folder = (s.seed * 3) % len(_FOLDERS)
    top = _chrome(draw, w, "Mail", f"Thu 3 Dec  {8 + s.seed % 10:02d}:{(s.seed * 13) % 60:02d}")
    draw.rectangle((0, top, w, top + 51), fill=(242, 245, 250))
    draw.text((20, top + 16), "Mail", font=font(18, bold=True), fill=(200, 50, 40))
    draw.rounded_rectangle((230, top + 9, 230 + int(w * 0.4), top + 43), radius=16, fill=(228, 233, 242))
    draw.text((250, top + 18), f"Search in {_FOLDERS[folder].lower()}", font=font(14), fill=(110, 110, 120))
    top += 52
    _sidebar(draw, (0, top, 210, h), [f"{f}  {r.randint(1, 99)}" if i in (0, 4, 8) else f for i, f in enumerate(_FOLDERS)],
             folder, (242, 245, 250), px=14, pitch=32)
    list_w = int((w - 210) * 0.5)
    rows: list[tuple[str, str, str]] = []
    for k in range(40):
        rows.append((r.choice(_NAMES), f"{r.choice(_VERBS).capitalize()} {r.choice(topic)} {r.choice(topic)} {r.choice(['report', 'request', 'update', 'notice', 'reminder'])}",
                     f"{r.choice(['Nov', 'Dec'])} {r.randint(1, 30)}"))
    pane = Image.new("RGB", (list_w, h - top), (255, 255, 255))
    d = ImageDraw.Draw(pane)
    pitch = 62
    first = s.scroll // pitch
    for k in range(first, len(rows)):
        y = 8 + k * pitch - s.scroll
        if y > h - top:
            break
        name, subject, date = rows[k]
        if s.interact and k == first + 2:
            d.rectangle((0, y - 6, list_w, y + pitch - 8), fill=(210, 225, 250))
        d.text((16, y), name, font=font(14, bold=k % 4 == 0), fill=(20, 20, 20))
        tw = d.textlength(date, font=font(13))
        d.text((list_w - 16 - tw, y), date, font=font(13), fill=(90, 90, 90))
        d.text((16, y + 22), subject[: max(12, list_w // 9)], font=font(13), fill=(70, 70, 80))
        d.line((8, y + pitch - 9, list_w - 8, y + pitch - 9), fill=(232, 232, 236))
    img.paste(pane, (210, top))
    px1 = 210 + list_w
    draw.line((px1, top, px1, h), fill=(220, 220, 226))
    name, subject, _ = rows[0]
    draw.text((px1 + 30, top + 24), subject, font=font(22, bold=True), fill=(20, 20, 20))
    draw.text((px1 + 30, top + 62), f"{name} <{name.split()[0].lower()}@example.com>", font=font(14), fill=(60, 60, 60))
    y = top + 100
    for ln in _wrap(draw, " ".join(_sentence(r, topic) for _ in range(6)), font(15), w - px1 - 60):
        draw.text((px1 + 30, y), ln, font=font(15), fill=(40, 40, 45))
        y += 24
    return img


_RENDER: dict[str, Callable[[Screen], Image.Image]] = {"terminals": _terminals, "docs": _docs, "settings": _settings, "mail": _mail}


def app_calibration(out: Path, seeds: tuple[int, ...] = (100, 101)) -> list[Path]:
    """App screens the int8 OCR recogniser's activation ranges are calibrated on besides
    scenes.calibration's desktops (quantize_recogniser.py): docs, settings and mail screens in
    proportional fonts (seeds 100.., never a bench_revisits seed), both sizes, each also inverted (a
    dark theme). WHY: calibrated on terminal desktops alone, the recogniser read the generated desktops'
    ground truth worse (docs/OCR_RECOGNISER.md)."""
    from PIL import ImageOps

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in ("docs", "settings", "mail"):
        for seed in seeds:
            for size in ((1920, 1080), (1280, 800)):
                img = Screen(kind, seed, size).render().convert("RGB")
                for tag, im in (("light", img), ("dark", ImageOps.invert(img))):
                    paths.append(out / f"calibration_{kind}_{seed}_{size[0]}x{size[1]}_{tag}.png")
                    im.save(paths[-1])
    return paths


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["calibration"]:  # python bench/revisit_scenes.py calibration DIR: desktops + app screens
        for p in scenes.calibration(Path(sys.argv[2])) + app_calibration(Path(sys.argv[2])):
            print(p)
        raise SystemExit(0)
    raise SystemExit("usage: python bench/revisit_scenes.py calibration DIR")
