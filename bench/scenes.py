"""Deterministic busy desktop screenshots with ground truth, for the ranking benchmark.

Why generated and not captured: the issue's slow case (two full terminals plus a calculator on
1920x1080, 396 s for one rank call) must be reproducible on any machine, with the same pixels
every run and with known boxes for "press the sin key" or "open settings". PIL only, seeded;
DejaVu fonts from the system when present (Debian's fonts-dejavu-core), else PIL's default.

    scene = desktop((1920, 1080), seed=0)      # scene.image, scene.elements
    changed = small_change(scene)              # one more character typed at the terminal prompt
    changed = small_change(scene, "display")   # the calculator display shows another number

Layout: a panel with menu words and a clock, a toolbar of textless icons, two terminal windows
full of shell output (the first ends in a prompt with a cursor) and a calculator with a grid of
labelled keys. Any size from about 640x400 up works; windows share the width in fixed proportions.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]
Kind = Literal["key", "icon", "menu", "line"]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"), Path("/usr/share/fonts/TTF"))


@dataclass(frozen=True)
class Element:
    """One ground-truth element: its box (x1, y1, x2, y2, right/bottom exclusive), the words a person
    uses for it (`label`: "equals", "settings"), what is drawn on it (`text`: "=", "" for an icon)."""

    box: Box
    label: str
    kind: Kind
    text: str = ""


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    elements: list[Element]
    size: tuple[int, int]
    seed: int
    typed: str = ""
    display: str = "0"
    changes: dict[str, Box] = field(default_factory=dict)
    """Where each kind of small change lands: 'type' (the prompt line), 'display' (the calculator display)."""

    def find(self, label: str, kind: Kind | None = None) -> Element:
        """The element with this label (and kind); KeyError naming the labels there are."""
        for e in self.elements:
            if e.label == label and (kind is None or e.kind == kind):
                return e
        raise KeyError(f"no element labelled {label!r}; labels: {sorted({e.label for e in self.elements if e.kind != 'line'})}")


# -- fonts -----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def font(size: int, mono: bool = False, bold: bool = False) -> Font:
    """DejaVu Sans (Mono) at `size` px, or PIL's default font when DejaVu is not installed."""
    name = "DejaVuSansMono" if mono else "DejaVuSans"
    name += "-Bold.ttf" if bold else ".ttf"
    for d in FONT_DIRS:
        if (d / name).is_file():
            return ImageFont.truetype(str(d / name), size)
    return ImageFont.load_default(size)


def _text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, f: Font, fill: object) -> Box | None:
    """Draw text; return its ink box (None for blank text)."""
    if not text.strip():
        return None
    draw.text(xy, text, font=f, fill=fill)
    x1, y1, x2, y2 = draw.textbbox(xy, text, font=f)
    return (int(x1), int(y1), int(x2) + 1, int(y2) + 1)


# -- shell output ----------------------------------------------------------------------------

PROMPT = "dev@devbox:~/project$ "
_WORDS = "capture store ranking proposals region crop embed vector cache tile index screen cursor window socket worker queue".split()
_FILES = "README.md pyproject.toml server tools memory tests bench docs .venv build dist notes.txt Makefile config.yaml".split()
_MONTHS = "Sep Oct Nov".split()


def _ls(r: random.Random) -> list[str]:
    out = [PROMPT + "ls -la", f"total {r.randint(40, 400)}"]
    for name in r.sample(_FILES, 9):
        d = "d" if "." not in name or name == ".venv" else "-"
        perm = "rwxr-xr-x" if d == "d" else "rw-r--r--"
        out.append(f"{d}{perm}  {r.randint(1, 9)} dev dev {r.randint(120, 98000):>6} {r.choice(_MONTHS)} {r.randint(1, 30):>2} "
                   f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d} {name}")
    return out


def _git(r: random.Random) -> list[str]:
    verbs = "Fix Add Refactor Speed up Document Test Cache Drop Rename".split()
    out = [PROMPT + "git log --oneline -7"]
    for _ in range(7):
        out.append(f"{r.getrandbits(28):07x} {r.choice(verbs)} {r.choice(_WORDS)} {r.choice(['in', 'for', 'of'])} the {r.choice(_WORDS)}")
    return out


def _pytest(r: random.Random) -> list[str]:
    out = [PROMPT + "python -m pytest -q tests/"]
    pct = 0
    while pct < 100:
        pct = min(100, pct + r.randint(11, 30))
        dots = "".join(r.choice("....................F.s") for _ in range(r.randint(20, 48)))
        out.append(f"{dots:<50} [{pct:>3}%]")
    failed = r.randint(1, 3)
    for _ in range(failed):
        out.append(f"FAILED tests/test_{r.choice(_WORDS)}.py::test_{r.choice(_WORDS)}_{r.choice(_WORDS)} - AssertionError")
    out.append(f"{failed} failed, {r.randint(90, 400)} passed, {r.randint(0, 4)} skipped in {r.uniform(3, 90):.2f}s")
    return out


def _ps(r: random.Random) -> list[str]:
    cmds = ["python -m sensorium serve", "/usr/bin/Xvfb :99 -screen 0", "node server.js", "sshd: dev@pts/1",
            "bash", "tmux new -s work", "vim src/main.py", "sqlite3 data.db", "htop"]
    out = [PROMPT + "ps aux | grep dev | head -6"]
    for c in r.sample(cmds, 6):
        out.append(f"dev  {r.randint(300, 40000):>6} {r.uniform(0, 40):4.1f} {r.uniform(0, 9):4.1f} {r.randint(9000, 999999):>7} "
                   f"{r.randint(900, 99999):>6} pts/{r.randint(0, 4)} S+ {r.randint(8, 21):02d}:{r.randint(0, 59):02d} 0:{r.randint(0, 59):02d} {c}")
    return out


def _df(r: random.Random) -> list[str]:
    out = [PROMPT + "df -h", "Filesystem      Size  Used Avail Use% Mounted on"]
    for dev, mnt in (("/dev/sda1", "/"), ("tmpfs", "/run"), ("/dev/sdb1", "/home"), ("tmpfs", "/dev/shm")):
        size = r.randint(2, 900)
        used = r.randint(0, size)
        out.append(f"{dev:<15} {size:>4}G {used:>4}G {size - used:>4}G {100 * used // size:>3}% {mnt}")
    return out


def _log(r: random.Random) -> list[str]:
    units = ["CRON", "systemd", "kernel", "sshd", "dbus-daemon", "NetworkManager"]
    msgs = ["Started Session of user dev.", "(root) CMD (run-parts /etc/cron.hourly)", "usb 1-1: new high-speed USB device",
            "Accepted publickey for dev from 10.0.2.2 port 52144", "Reached target Timers.", "device (eth0): state change: activated",
            "Finished Daily apt upgrade and clean activities."]
    out = [PROMPT + "tail -n 6 /var/log/syslog"]
    for _ in range(6):
        out.append(f"Nov 30 {r.randint(8, 21):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} devbox "
                   f"{r.choice(units)}[{r.randint(100, 9999)}]: {r.choice(msgs)}")
    return out


def _pip(r: random.Random) -> list[str]:
    pkgs = ["numpy>=2", "pillow>=11", "mcp>=2.3", "rich>=13", "anyio>=4", "pydantic>=2.10", "onnxruntime>=1.20"]
    out = [PROMPT + "pip install -r requirements.txt"]
    for p in r.sample(pkgs, 5):
        out.append(f"Requirement already satisfied: {p} in ./.venv/lib/python3.11/site-packages ({r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 9)})")
    return out


def _yaml(r: random.Random) -> list[str]:
    out = [PROMPT + "cat config.yaml"]
    out += ["server:", "  host: 127.0.0.1", f"  port: {r.randint(8000, 9000)}", "capture:", f"  max_side: {r.choice([1280, 1568, 1920])}",
            f"  jpeg_quality: {r.randint(70, 95)}", "local:", f"  threads: {r.choice([1, 2, 4])}", "  ocr_max_side: 1600"]
    return out


_SESSIONS: Sequence[Callable[[random.Random], list[str]]] = (_ls, _git, _pytest, _ps, _df, _log, _pip, _yaml)


def shell_lines(r: random.Random, n: int) -> list[str]:
    """The last n-1 lines of a plausible shell session, then an empty prompt line."""
    lines: list[str] = []
    while len(lines) < n - 1:
        lines += r.choice(_SESSIONS)(r)
    return lines[-(n - 1):] + [PROMPT]


# -- icons -----------------------------------------------------------------------------------


def _icon(draw: ImageDraw.ImageDraw, name: str, box: Box, ink: tuple[int, int, int], bg: tuple[int, int, int]) -> None:
    """A simple, recognisable glyph drawn with shapes inside `box` (no text)."""
    import math

    x1, y1, x2, y2 = box
    s = min(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w = max(2, s // 12)
    u = s / 24  # design grid of 24 units, like most icon sets
    P = lambda a, b: (cx + a * u, cy + b * u)  # noqa: E731
    if name == "search":
        r = 6 * u
        c = P(-2, -2)
        draw.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), outline=ink, width=w)
        draw.line((P(2.3, 2.3), P(8, 8)), fill=ink, width=w + 1)
    elif name == "settings":
        pts = []
        for i in range(32):
            a = 2 * math.pi * i / 32
            rad = 9 if (i % 4) in (0, 1) else 6.8
            pts.append(P(rad * math.cos(a + math.pi / 16), rad * math.sin(a + math.pi / 16)))
        draw.polygon(pts, fill=ink)
        draw.ellipse((*P(-3, -3), *P(3, 3)), fill=bg)
    elif name == "delete":
        draw.line((P(-8, -6), P(8, -6)), fill=ink, width=w)
        draw.rectangle((*P(-3, -9), *P(3, -6)), outline=ink, width=w)
        draw.polygon([P(-6.5, -5), P(6.5, -5), P(5, 9), P(-5, 9)], outline=ink, width=w)
        for dx in (-2.5, 0, 2.5):
            draw.line((P(dx, -2), P(dx, 6)), fill=ink, width=max(1, w - 1))
    elif name == "home":
        draw.line((P(-9, 0), P(0, -8.5), P(9, 0)), fill=ink, width=w, joint="curve")
        draw.rectangle((*P(-6, -1), *P(6, 8.5)), outline=ink, width=w)
        draw.rectangle((*P(-2, 3), *P(2, 8.5)), fill=ink)
    elif name == "notifications":
        draw.chord((*P(-6, -8), *P(6, 4)), 180, 360, fill=ink)
        draw.polygon([P(-6, -2), P(6, -2), P(7, 4), P(9, 6), P(-9, 6), P(-7, 4)], fill=ink)
        draw.ellipse((*P(-2, 6.5), *P(2, 10)), fill=ink)
        draw.rectangle((*P(-1, -10), *P(1, -8)), fill=ink)
    elif name == "favourite":
        pts = []
        for i in range(10):
            a = -math.pi / 2 + math.pi * i / 5
            rad = 9.5 if i % 2 == 0 else 4
            pts.append(P(rad * math.cos(a), rad * math.sin(a) + 1))
        draw.polygon(pts, outline=ink, width=w)
    elif name == "add":
        draw.line((P(0, -8), P(0, 8)), fill=ink, width=w + 1)
        draw.line((P(-8, 0), P(8, 0)), fill=ink, width=w + 1)
    elif name == "close":
        draw.line((P(-7, -7), P(7, 7)), fill=ink, width=w + 1)
        draw.line((P(-7, 7), P(7, -7)), fill=ink, width=w + 1)
    elif name in ("back", "forward"):
        sgn = -1 if name == "back" else 1
        draw.line((P(-8 * sgn, 0), P(6 * sgn, 0)), fill=ink, width=w + 1)
        draw.polygon([P(9 * sgn, 0), P(2 * sgn, -6), P(2 * sgn, 6)], fill=ink)
    elif name == "refresh":
        draw.arc((*P(-8, -8), *P(8, 8)), 40, 330, fill=ink, width=w)
        draw.polygon([P(8.5, -6), P(8.5, 1), P(2, -2.5)], fill=ink)
    else:
        raise ValueError(f"no icon named {name!r}")


TOOLBAR_ICONS = ("back", "forward", "refresh", "home", "add", "search", "favourite", "notifications", "settings", "delete", "close")


# -- windows ---------------------------------------------------------------------------------


def _window(draw: ImageDraw.ImageDraw, box: Box, title: str, body: tuple[int, int, int], els: list[Element], tag: str) -> Box:
    """A window frame with a title bar and its three buttons; returns the client area."""
    x1, y1, x2, y2 = box
    draw.rectangle((x1 - 1, y1 - 1, x2, y2), fill=(40, 40, 40))  # 1-px border / shadow
    draw.rectangle((x1, y1, x2 - 1, y1 + 29), fill=(235, 235, 235))
    f = font(13, bold=True)
    tw = draw.textlength(title, font=f)
    draw.text(((x1 + x2 - tw) / 2, y1 + 7), title, font=f, fill=(50, 50, 50))
    for i, (name, colour) in enumerate((("close", (224, 82, 72)), ("maximize", (120, 120, 120)), ("minimize", (120, 120, 120)))):
        bx = x2 - 26 - 26 * i
        b = (bx, y1 + 6, bx + 18, y1 + 24)
        draw.ellipse(b, fill=colour if name == "close" else (210, 210, 210))
        inner = (b[0] + 3, b[1] + 3, b[2] - 3, b[3] - 3)
        if name == "close":
            _icon(draw, "close", inner, (255, 255, 255), colour)
        elif name == "maximize":
            draw.rectangle((b[0] + 5, b[1] + 5, b[2] - 5, b[3] - 5), outline=(60, 60, 60), width=1)
        else:
            draw.line((b[0] + 5, b[3] - 6, b[2] - 5, b[3] - 6), fill=(60, 60, 60), width=2)
        els.append(Element(b, f"{name} {tag} window", "icon"))
    client = (x1, y1 + 30, x2, y2)
    draw.rectangle((client[0], client[1], client[2] - 1, client[3] - 1), fill=body)
    return client


def _terminal(draw: ImageDraw.ImageDraw, area: Box, lines: list[str], typed: str, els: list[Element], font_px: int,
              prompt_colour: tuple[int, int, int], cursor: bool) -> Box | None:
    """Shell lines in a monospace font, prompts coloured; returns the last (prompt) line's band."""
    f = font(font_px, mono=True)
    step = int(font_px * 1.35)
    cw = f.getlength("M")
    cols = max(8, int((area[2] - area[0] - 16) / cw))
    x0, y = area[0] + 8, area[1] + 6
    band: Box | None = None
    for i, raw in enumerate(lines):
        last = i == len(lines) - 1
        text = (raw + typed if last else raw)[:cols]
        if text.startswith(PROMPT):
            b1 = _text(draw, (x0, y), PROMPT.rstrip(), f, prompt_colour)
            rest = text[len(PROMPT):]
            b2 = _text(draw, (x0 + cw * len(PROMPT), y), rest, f, (230, 230, 230))
            boxes = [b for b in (b1, b2) if b]
        else:
            b = _text(draw, (x0, y), text, f, (205, 205, 205))
            boxes = [b] if b else []
        if boxes:
            lb = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
            els.append(Element(lb, text.strip(), "line", text.strip()))
        if last:
            cx = x0 + cw * min(len(text), cols - 1)
            if cursor:
                draw.rectangle((cx, y + 1, cx + cw - 1, y + step - 3), fill=(220, 220, 220))
            band = (int(x0 + cw * len(PROMPT)) - 2, y - 2, int(area[2]) - 4, y + step)
        y += step
        if y + step > area[3]:
            break
    return band


CALC_KEYS: Sequence[Sequence[tuple[str, str]]] = (
    (("sin", "sin"), ("cos", "cos"), ("tan", "tan"), ("C", "clear"), ("⌫", "backspace")),
    (("7", "7"), ("8", "8"), ("9", "9"), ("÷", "divide"), ("(", "open parenthesis")),
    (("4", "4"), ("5", "5"), ("6", "6"), ("×", "multiply"), (")", "close parenthesis")),
    (("1", "1"), ("2", "2"), ("3", "3"), ("−", "minus"), ("√", "square root")),
    (("0", "0"), (".", "decimal point"), ("±", "plus minus"), ("+", "plus"), ("=", "equals")),
)


def _calculator(draw: ImageDraw.ImageDraw, area: Box, display: str, els: list[Element]) -> Box:
    """Display plus a 5x5 key grid; returns the display box."""
    x1, y1, x2, y2 = area
    pad = 10
    disp = (x1 + pad, y1 + pad, x2 - pad, y1 + pad + 56)
    draw.rounded_rectangle(disp, radius=4, fill=(250, 250, 245), outline=(150, 150, 150))
    f = font(30)
    tw = draw.textlength(display, font=f)
    draw.text((disp[2] - 10 - tw, disp[1] + 10), display, font=f, fill=(20, 20, 20))
    rows, cols = len(CALC_KEYS), len(CALC_KEYS[0])
    top = disp[3] + pad
    gap = 6
    kw = (x2 - x1 - 2 * pad - (cols - 1) * gap) / cols
    kh = min(56.0, (y2 - top - pad - (rows - 1) * gap) / rows)
    for r, row in enumerate(CALC_KEYS):
        for c, (text, label) in enumerate(row):
            kx, ky = x1 + pad + c * (kw + gap), top + r * (kh + gap)
            b = (int(kx), int(ky), int(kx + kw), int(ky + kh))
            if label == "equals":
                fill, ink = (60, 120, 210), (255, 255, 255)
            elif r == 0 or c >= 3:
                fill, ink = (215, 215, 222), (30, 30, 30)
            else:
                fill, ink = (246, 246, 246), (20, 20, 20)
            draw.rounded_rectangle((b[0], b[1], b[2] - 1, b[3] - 1), radius=5, fill=fill, outline=(165, 165, 170))
            kf = font(15 if len(text) > 1 else 19)
            tw = draw.textlength(text, font=kf)
            tb = draw.textbbox((0, 0), text, font=kf)
            draw.text(((b[0] + b[2] - tw) / 2, (b[1] + b[3] - (tb[3] + tb[1])) / 2), text, font=kf, fill=ink)
            els.append(Element(b, label, "key", text))
    return (int(disp[0]), int(disp[1]), int(disp[2]), int(disp[3]))


# -- the desktop -----------------------------------------------------------------------------


def desktop(size: tuple[int, int] = (1920, 1080), seed: int = 0, *, typed: str = "", display: str = "0") -> Scene:
    """A busy desktop: panel with menus, toolbar of icons, two terminals, a calculator.

    `typed` is what stands after the first terminal's last prompt; `display` what the calculator
    shows. Same arguments, same pixels (the only randomness is `random.Random(seed)`).
    """
    width, height = size
    if width < 640 or height < 400:
        raise ValueError(f"a desktop needs at least 640x400 pixels, got {width}x{height}")
    r = random.Random(seed)
    img = Image.new("RGB", size)
    draw = ImageDraw.Draw(img)
    # wallpaper: a vertical gradient
    for y in range(height):
        t = y / height
        draw.line((0, y, width, y), fill=(int(38 + 30 * t), int(64 + 20 * t), int(110 + 40 * t)))
    els: list[Element] = []

    # top panel: menus left, clock right
    panel_h = 28
    draw.rectangle((0, 0, width, panel_h - 1), fill=(32, 32, 36))
    x = 12
    for word in ("Activities", "File", "Edit", "View", "Terminal", "Tabs", "Help"):
        b = _text(draw, (x, 6), word, font(14), (235, 235, 235))
        assert b is not None
        els.append(Element((b[0] - 6, 0, b[2] + 6, panel_h), word.lower(), "menu", word))
        x = b[2] + 22
    clock = f"Mon 30 Nov  {r.randint(8, 20):02d}:{r.randint(0, 59):02d}"
    cw = draw.textlength(clock, font=font(14))
    if (width - cw) / 2 > x:  # centred, like GNOME's, when the menus leave room
        _text(draw, ((width - cw) / 2, 6), clock, font(14), (235, 235, 235))

    # toolbar of textless icons
    tb_top, tb_h, btn = panel_h, 48, 40
    draw.rectangle((0, tb_top, width, tb_top + tb_h - 1), fill=(242, 242, 244))
    draw.line((0, tb_top + tb_h - 1, width, tb_top + tb_h - 1), fill=(190, 190, 195))
    x = 10
    for i, name in enumerate(TOOLBAR_ICONS):
        if x + btn > width - 10:
            break
        b = (x, tb_top + 4, x + btn, tb_top + 4 + btn)
        if name in ("search", "home"):  # one hovered, one pressed: real toolbars are not uniform
            draw.rounded_rectangle((b[0], b[1], b[2] - 1, b[3] - 1), radius=6, fill=(222, 226, 234))
        _icon(draw, name, (b[0] + 8, b[1] + 8, b[2] - 8, b[3] - 8), (55, 60, 70), (242, 242, 244))
        els.append(Element(b, name, "icon"))
        x += btn + (14 if i in (2, 4, 8) else 4)

    # windows: terminal 1 | terminal 2 | calculator
    top = tb_top + tb_h + 12
    bottom = height - 10
    calc_w = max(240, int(width * 0.18))
    rest = width - calc_w - 40
    t1 = (10, top, 10 + int(rest * 0.58), bottom)
    t2 = (t1[2] + 10, top + 24, t1[2] + 10 + int(rest * 0.42), bottom)
    calc_h = min(bottom - top - 40, 30 + 76 + 5 * 62 + 4)  # title, display, five rows of keys
    cx1 = width - calc_w - 10
    calc = (cx1, top + 40, width - 10, top + 40 + calc_h)
    font_px = 14 if height >= 1000 else 13 if height >= 700 else 11
    step = int(font_px * 1.35)

    area1 = _window(draw, t1, "dev@devbox: ~/project", (30, 30, 30), els, "terminal 1")
    n1 = (area1[3] - area1[1] - 10) // step
    band = _terminal(draw, area1, shell_lines(r, n1), typed, els, font_px, (98, 200, 90), cursor=True)
    area2 = _window(draw, t2, "dev@devbox: /var/log", (48, 10, 36), els, "terminal 2")
    n2 = (area2[3] - area2[1] - 10) // step
    _terminal(draw, area2, shell_lines(r, n2), "", els, font_px, (120, 170, 255), cursor=False)
    area3 = _window(draw, calc, "Calculator", (228, 228, 232), els, "calculator")
    disp = _calculator(draw, area3, display, els)
    changes = {"display": disp}
    if band is not None:
        changes["type"] = band
    return Scene(image=img, elements=els, size=size, seed=seed, typed=typed, display=display, changes=changes)


ChangeKind = Literal["type", "display"]


def small_change(scene: Scene, kind: ChangeKind = "type") -> Image.Image:
    """The same desktop after one small change: one more character typed at the first terminal's
    prompt ('type'), or the calculator display showing another number ('display')."""
    if kind == "type":
        after = desktop(scene.size, scene.seed, typed=scene.typed + "l", display=scene.display)
    elif kind == "display":
        after = desktop(scene.size, scene.seed, typed=scene.typed, display="7" if scene.display != "7" else "42")
    else:
        raise ValueError(f"unknown change {kind!r}: use 'type' or 'display'")
    return after.image


def badge(image: Image.Image, seed: int = 0) -> Image.Image:
    """A small change for any screenshot (e.g. an eval one): a notification badge with a number,
    26x18 px, near the top-right corner. Returns a new image."""
    r = random.Random(seed)
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    w, _ = out.size
    x, y = w - 90 - r.randint(0, 40), 4 + r.randint(0, 6)
    draw.rounded_rectangle((x, y, x + 26, y + 18), radius=9, fill=(215, 40, 40))
    draw.text((x + 7, y + 2), str(r.randint(2, 9)), font=font(12, bold=True), fill=(255, 255, 255))
    return out


def cursor_moved(scene: Scene) -> Image.Image:
    """The desktop with a block cursor drawn at the first terminal's prompt: a change with no text in it."""
    img = scene.image.copy()
    ImageDraw.Draw(img).rectangle((300, 140, 309, 158), fill=(230, 230, 230))
    return img


# four kinds of small change of a desktop, for the tests and benches of the incremental paths
SMALL_CHANGES: dict[str, Callable[[Scene], Image.Image]] = {
    "type": lambda s: small_change(s, "type"),
    "display": lambda s: small_change(s, "display"),
    "badge": lambda s: badge(s.image, seed=2),
    "cursor": cursor_moved,
}


def with_typed(scene: Scene, typed: str) -> Scene:
    """The scene re-rendered with other text at the prompt (the elements follow)."""
    return desktop(scene.size, scene.seed, typed=typed, display=scene.display) if typed != scene.typed else replace(scene)


def calibration(out: Path, n: int = 8) -> list[Path]:
    """Screens the int8 OCR detector's activation ranges are calibrated on (quantize_detector.py):
    n desktops (seeds 100.., both sizes alternating) and each one colour-inverted (a light theme)."""
    from PIL import ImageOps

    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        size = (1920, 1080) if i % 2 == 0 else (1280, 800)
        img = desktop(size, seed=100 + i).image
        for tag, im in (("dark", img), ("light", ImageOps.invert(img.convert("RGB")))):
            paths.append(out / f"calibration_{100 + i}_{size[0]}x{size[1]}_{tag}.png")
            im.save(paths[-1])
    return paths


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["calibration"]:  # python bench/scenes.py calibration DIR [N]
        for p in calibration(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 8):
            print(p)
        raise SystemExit(0)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp")
    for sz in ((1920, 1080), (1280, 800)):
        s = desktop(sz)
        s.image.save(out / f"desktop_{sz[0]}x{sz[1]}.png")
        small_change(s).save(out / f"desktop_{sz[0]}x{sz[1]}_typed.png")
        print(out / f"desktop_{sz[0]}x{sz[1]}.png", len(s.elements), "elements")
