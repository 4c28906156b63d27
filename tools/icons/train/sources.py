"""Pinned public icon sets (npm) and the parsers that turn each into (svg, name, words) records.

WHY these sets: all are permissively licensed npm packages that ship names plus aliases or
tags, which become the text an icon is trained against. Lucide, lucide-static, feather and
bootstrap-icons are deliberately absent (and so are iconify prefixes holding them): the
evaluation sets are drawn from them and must stay unseen. Whole sets are held out
(`role="val"`) so validation measures transfer to an unseen drawing style, not just unseen icons.
Session 5 added Material Symbols (Apache-2.0), Carbon (Apache-2.0), Fluent UI System Icons (MIT)
and Boxicons (MIT): more drawing styles make the reader carry over to sets it never saw.
Checked and left out: remixicon 4.9.1 (its package.json says Apache-2.0 but the shipped License
file is the restrictive "Remix Icon License v1.0": no competing icon libraries), and
simple-icons / brand-only sets (logos, not UI functions).
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EXCLUDED = ("lucide", "lucide-static", "lucide-lab", "feather", "feather-icons", "fe", "bi", "bootstrap-icons")
"""npm names / iconify prefixes that must never be read (the evaluation draws from them)."""


@dataclass(frozen=True)
class Package:
    key: str
    npm: str
    version: str
    licence: str
    role: str  # "train" | "val"
    note: str = ""

    @property
    def folder(self) -> str:
        return f"{self.npm.lstrip('@').replace('/', '-')}-{self.version}"

    @property
    def spec(self) -> str:
        return f"{self.npm}@{self.version}"


PACKAGES: tuple[Package, ...] = (
    Package("tabler", "@tabler/icons", "3.52.0", "MIT", "train", "outline + filled; tags from icons.json"),
    Package("mdi", "@mdi/svg", "7.4.47", "Apache-2.0", "train", "aliases + tags from meta.json"),
    Package("phosphor", "@phosphor-icons/core", "2.1.1", "MIT", "train", "regular/bold/light/fill; tags from dist/index.mjs"),
    Package(
        "fontawesome",
        "@fortawesome/fontawesome-free",
        "7.3.1",
        "CC-BY-4.0 (icons), OFL-1.1 (fonts, unused), MIT (code, unused)",
        "train",
        "free solid/regular/brands; search terms + aliases from metadata/icon-families.json; attribution: Font Awesome by Fonticons, Inc.",
    ),
    Package("ionicons", "ionicons", "8.1.0", "MIT", "train", "outline/filled/sharp; tags from dist/ionicons.json"),
    Package("octicons", "@primer/octicons", "19.42.0", "MIT", "train", "16 + 24 px; keywords from build/data.json"),
    # session 5 additions (licence read in the fetched package: LICENSE file and package.json)
    Package("material", "@material-symbols/svg-400", "0.48.2", "Apache-2.0", "train", "outlined (+ -fill) only, names only"),
    Package("carbon", "@carbon/icons", "11.89.0", "Apache-2.0", "train", "32 px; friendly name + aliases from metadata.json"),
    Package("fluent", "@fluentui/svg-icons", "1.1.343", "MIT (package.json; the package ships no LICENSE file)", "train",
            "24 px regular + filled, names only"),
    Package("boxicons", "boxicons", "2.1.4", "MIT (LICENSE file; package.json: CC-BY-4.0 OR OFL-1.1 OR MIT)", "train",
            "regular + solid (logos skipped), names only"),
    Package("iconoir", "iconoir", "7.12.1", "MIT", "val", "held-out set: regular + solid, names only"),
    Package("heroicons", "heroicons", "2.2.0", "MIT", "val", "held-out set: 24 outline/solid, 20 solid, names only"),
)

EXTENSION_SETS = ("material", "carbon", "fluent", "boxicons")
"""Sets added in session 5: read only by the `extend` step (tools/icons/train/extend.py), so the base
`data` step still reproduces the shipped model's cache."""
BASE_PACKAGES: tuple[Package, ...] = tuple(p for p in PACKAGES if p.key not in EXTENSION_SETS)

for _p in PACKAGES:
    assert _p.key not in EXCLUDED and _p.npm not in EXCLUDED, _p

STYLE_WORDS = frozenset(
    "outline outlined fill filled line solid regular bold light thin duotone sharp round rounded variant alt".split()
)
"""Name tokens that describe a drawing style, not a meaning: dropped from the text."""


@dataclass
class IconRecord:
    set: str
    name: str  # file name without style suffix, e.g. "trash"
    svg: str
    words: list[str] = field(default_factory=list)  # aliases + tags, most specific first
    stroke: bool = False  # drawn with strokes (stroke width can be varied)

    @property
    def concept(self) -> str:
        """One meaning across drawing styles: `phosphor:trash` for regular, bold, light and fill."""
        return f"{self.set}:{name_words(self.name)}"


def name_words(name: str) -> str:
    toks = [t for t in re.split(r"[-_\s]+", name.lower()) if t and t not in STYLE_WORDS]
    return " ".join(toks) if toks else name.replace("-", " ")


def fetch_packages(packages: Iterable[Package], data_dir: Path) -> dict[str, Path]:
    """`npm pack` each pinned package once into data_dir/npm and unpack it into data_dir/src;
    {key: package root}. The one fetch of the icon reader's data, its extension and the UI lexicon,
    so one --data folder serves all three."""
    npm_dir, src_dir = data_dir / "npm", data_dir / "src"
    npm_dir.mkdir(parents=True, exist_ok=True)
    roots: dict[str, Path] = {}
    for p in packages:
        tgz = npm_dir / f"{p.folder}.tgz"
        if not tgz.exists():
            logging.getLogger(__name__).info("npm pack %s", p.spec)
            out = subprocess.run(["npm", "pack", p.spec, "--silent"], cwd=npm_dir, check=True, capture_output=True, text=True)
            (npm_dir / out.stdout.strip().splitlines()[-1]).rename(tgz)
        roots[p.key] = unpack(tgz, src_dir)
    return roots


def unpack(tgz: Path, dest: Path) -> Path:
    """Extract an npm tarball once into dest/<folder>/package."""
    out = dest / tgz.name.removesuffix(".tgz")
    if not (out / "package").is_dir():
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tgz) as tf:
            tf.extractall(out, filter="data")
    return out / "package"


def _read(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def _tabler(root: Path) -> Iterator[IconRecord]:
    meta = json.loads(_read(root / "icons.json"))
    for style in ("outline", "filled"):
        for f in sorted((root / "icons" / style).glob("*.svg")):
            m = meta.get(f.stem, {})
            yield IconRecord("tabler", f.stem, _read(f), [str(t) for t in m.get("tags", [])], stroke=style == "outline")


def _mdi(root: Path) -> Iterator[IconRecord]:
    for m in json.loads(_read(root / "meta.json")):
        if m.get("deprecated"):
            continue
        f = root / "svg" / f"{m['name']}.svg"
        if f.exists():
            words = [a.replace("-", " ") for a in m.get("aliases", [])] + [t.lower() for t in m.get("tags", [])]
            yield IconRecord("mdi", m["name"], _read(f), words)


def _phosphor(root: Path) -> Iterator[IconRecord]:
    src = _read(root / "dist" / "index.mjs")
    tags: dict[str, list[str]] = {}
    for m in re.finditer(r'name:\s*"([^"]+)",[^}]*?tags:\s*\[([^\]]*)\]', src, flags=re.S):
        tags[m.group(1)] = re.findall(r'"([^"]+)"', m.group(2))
    for style in ("regular", "bold", "light", "fill"):
        for f in sorted((root / "assets" / style).glob("*.svg")):
            base = f.stem.removesuffix(f"-{style}") if style != "regular" else f.stem
            yield IconRecord("phosphor", base, _read(f), [t for t in tags.get(base, []) if not t.startswith("*")])


def _fontawesome(root: Path) -> Iterator[IconRecord]:
    fam = json.loads(_read(root / "metadata" / "icon-families.json"))
    for name, v in fam.items():
        free = {(s["family"], s["style"]) for s in v.get("familyStylesByLicense", {}).get("free", [])}
        words = list(v.get("aliases", {}).get("names", [])) + [str(t) for t in v.get("search", {}).get("terms", [])]
        label = str(v.get("label", ""))
        if label and label.lower() != name_words(name):
            words.insert(0, label.lower())
        for family, style in sorted(free):
            raw = v.get("svgs", {}).get(family, {}).get(style, {}).get("raw")
            if raw:
                yield IconRecord("fontawesome", name, raw, [w.replace("-", " ") for w in words])


def _ionicons(root: Path) -> Iterator[IconRecord]:
    meta = {i["name"]: i.get("tags", []) for i in json.loads(_read(root / "dist" / "ionicons.json"))["icons"]}
    for f in sorted((root / "dist" / "svg").glob("*.svg")):
        base = re.sub(r"-(outline|sharp)$", "", f.stem)
        words = [t for t in meta.get(f.stem, meta.get(base, [])) if t not in STYLE_WORDS]
        yield IconRecord("ionicons", base, _read(f), words, stroke=f.stem.endswith("-outline"))


def _octicons(root: Path) -> Iterator[IconRecord]:
    for name, v in json.loads(_read(root / "build" / "data.json")).items():
        for h, spec in v.get("heights", {}).items():
            w = spec.get("width", h)
            svg = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" fill="currentColor">{spec["path"]}</svg>'
            yield IconRecord("octicons", name, svg, [k.replace("-", " ") for k in v.get("keywords", [])])


def _iconoir(root: Path) -> Iterator[IconRecord]:
    for style in ("regular", "solid"):
        for f in sorted((root / "icons" / style).glob("*.svg")):
            yield IconRecord("iconoir", f.stem, _read(f), [], stroke=style == "regular")


def _heroicons(root: Path) -> Iterator[IconRecord]:
    for sub, stroke in (("24/outline", True), ("24/solid", False), ("20/solid", False), ("16/solid", False)):
        for f in sorted((root / sub).glob("*.svg")):
            yield IconRecord("heroicons", f.stem, _read(f), [], stroke=stroke)


def _material(root: Path) -> Iterator[IconRecord]:
    for f in sorted((root / "outlined").glob("*.svg")):
        yield IconRecord("material", f.stem.removesuffix("-fill"), _read(f), [])


def _carbon(root: Path) -> Iterator[IconRecord]:
    for m in json.loads(_read(root / "metadata.json"))["icons"]:
        assets = sorted((a for a in m.get("assets", []) if str(a.get("size")).isdigit()), key=lambda a: -int(a["size"]))
        f = root / "svg" / assets[0]["filepath"] if assets else None
        if f is None or not f.exists():
            continue
        words = [str(m.get("friendlyName", "")).lower()] + [str(a).lower() for a in m.get("aliases", [])]
        yield IconRecord("carbon", m["name"], _read(f), [w for w in words if w])


def _fluent(root: Path) -> Iterator[IconRecord]:
    for f in sorted((root / "icons").glob("*_24_*.svg")):
        m = re.fullmatch(r"(.+)_24_(regular|filled)", f.stem)
        if m:
            yield IconRecord("fluent", m.group(1), _read(f), [])


def _boxicons(root: Path) -> Iterator[IconRecord]:
    for style in ("regular", "solid"):
        for f in sorted((root / "svg" / style).glob("*.svg")):
            yield IconRecord("boxicons", re.sub(r"^bxs?-", "", f.stem), _read(f), [])


PARSERS = {
    "material": _material,
    "carbon": _carbon,
    "fluent": _fluent,
    "boxicons": _boxicons,
    "tabler": _tabler,
    "mdi": _mdi,
    "phosphor": _phosphor,
    "fontawesome": _fontawesome,
    "ionicons": _ionicons,
    "octicons": _octicons,
    "iconoir": _iconoir,
    "heroicons": _heroicons,
}


def records(pkg: Package, root: Path) -> Iterator[IconRecord]:
    """All icons of one unpacked package, with their name words and tags."""
    for r in PARSERS[pkg.key](root):
        r.name = r.name.lower()
        yield r
