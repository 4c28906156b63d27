"""UI grounding on generated screens with HELD-OUT icons: the data the icon ranking is tuned on.

WHY: the dev set (../shared/eval/ui_grounding) is for the final check only, and the maintainers
measure on held-out screens. This script makes screens that look like web apps (a top bar with
text links, icon-only buttons in toolbars and card headers, a sidebar, text buttons, paragraphs),
whose icons come from the two icon sets the icon reader never saw in training (iconoir and
heroicons, docs/ICON_READER.md), and asks for elements the way people do: by what an icon does
("close the dialog" -> an x), by what it shows ("the bell icon"), or by a text element's words.
The functional phrases below were written by hand from general UI knowledge, not from the dev set.

    python bench/heldout_grounding.py --icons /work/icon-data/src --screens 24 [--json out.json]
    python bench/heldout_grounding.py --screens 12 --badges      # notification counters on ~40 % of icon buttons
    python bench/heldout_grounding.py --screens 12 --forms       # fields, dropdowns, checkboxes, same-noun links,
                                                                 # links named other than what they show, fields
                                                                 # with their own buttons (session 7)
    ... --no-field-button                                        # the same without session 7's field buttons
    python bench/heldout_grounding.py --synonyms                 # app sections asked for in other words (session 7)
    ... --proposed                                               # no candidates: the tool proposes, hit = click in
                                                                 # the target's box (session 15)
    ... --ablate                                                 # the same without the session-4 cues (before/after)

Candidates carry the role an accessibility tree would give (link, button, textbox, combobox,
checkbox). The form screens' instructions come from templates written for this script (general
English: "Type your {field}", "Tick '{label}'", "Submit the form"), not from the dev set. With
--json every item also carries every candidate's score and role, so a weight can be swept offline.

Every item is ranked by `rank_elements` exactly as `sensorium eval ui_grounding` does in its
`boxes+names` variant (icon buttons have an empty accessible name, as in real pages), and the
script prints hit@1 per kind. OCR reads are cached in --work (default /tmp/heldout-grounding) so a
re-run after a ranking change only pays for ranking.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))

from ocr_cache import WordsCache  # noqa: E402
from scenes import font  # noqa: E402

Box = tuple[int, int, int, int]

# function phrase -> (heroicons 24/outline name, iconoir regular name); hand-written, UI common sense
FUNCTIONS: dict[str, tuple[str, str]] = {
    "close the dialog": ("x-mark", "xmark"),
    "search the site": ("magnifying-glass", "search"),
    "open settings": ("cog-6-tooth", "settings"),
    "delete this item": ("trash", "trash"),
    "show my notifications": ("bell", "bell"),
    "go to the home page": ("home", "home"),
    "open the navigation menu": ("bars-3", "menu"),
    "open my profile": ("user-circle", "profile-circle"),
    "share this page": ("share", "share-android"),
    "download the file": ("arrow-down-tray", "download"),
    "upload a document": ("arrow-up-tray", "upload"),
    "edit the entry": ("pencil", "edit-pencil"),
    "reload the data": ("arrow-path", "refresh"),
    "add to favourites": ("heart", "heart"),
    "bookmark this article": ("bookmark", "bookmark"),
    "filter the results": ("funnel", "filter"),
    "more options": ("ellipsis-horizontal", "more-horiz"),
    "pick a date": ("calendar", "calendar"),
    "send an email": ("envelope", "mail"),
    "print the invoice": ("printer", "printer"),
    "get help": ("question-mark-circle", "help-circle"),
    "lock the screen": ("lock-closed", "lock"),
    "sign out": ("arrow-right-on-rectangle", "log-out"),
    "create a new item": ("plus", "plus"),
    "open the chat": ("chat-bubble-left", "chat-bubble"),
    "take a photo": ("camera", "camera"),
    "record a voice note": ("microphone", "microphone"),
    "start playback": ("play", "play"),
    "pause the video": ("pause", "pause"),
    "copy to clipboard": ("clipboard-document", "copy"),
    "attach a file": ("paper-clip", "attachment"),
    "go back": ("arrow-left", "arrow-left"),
    "next page": ("chevron-right", "nav-arrow-right"),
    "view the shopping cart": ("shopping-cart", "cart"),
    "show the location": ("map-pin", "map-pin"),
    "rate it": ("star", "star"),
    "more information": ("information-circle", "info-circle"),
    "turn the volume up": ("speaker-wave", "sound-high"),
    "show the password": ("eye", "eye"),
    "call the support line": ("phone", "phone"),
    "copy the link": ("link", "link"),
    "enter full screen": ("arrows-pointing-out", "expand"),
    "switch to dark mode": ("moon", "half-moon"),
    "switch to light mode": ("sun", "sun-light"),
    "collapse the panel": ("minus", "minus"),
    "confirm": ("check", "check"),
}
SHOWS = "click the {} icon"
"""The 'what it shows' query: the icon's own name words (heroicons 'cog 6 tooth' -> 'cog 6 tooth')."""

NAV = "Dashboard Projects Reports Team Billing Analytics Customers Orders Inventory Invoices Products Campaigns".split()
SIDEBAR = ["Overview", "Activity", "Members", "Integrations", "Usage", "Archive", "Templates", "Audit log", "Storage", "Domains", "Webhooks", "API keys"]
BUTTONS = ["Save changes", "Cancel", "Export CSV", "Invite member", "Apply", "Continue", "Submit", "View all", "Learn more", "Add row"]
PARA = ("Quarterly revenue grew steadily across regions", "No incidents reported in the last 30 days", "Your trial ends in 12 days",
        "Sync completed at 09:41", "3 tasks are waiting for review", "Storage is 68% full")

PARAPHRASE = {  # text elements asked for in other words (hand-written), so icon boosts are checked against them
    "Save changes": "keep my edits", "Cancel": "abort and discard this", "Export CSV": "get the table as a spreadsheet",
    "Invite member": "add a colleague to the team", "Apply": "put the chosen options into effect", "Continue": "proceed to the next step",
    "Submit": "send in the form", "View all": "see the full list", "Learn more": "read further details", "Add row": "insert another line",
    "Dashboard": "go to the main dashboard", "Projects": "show my projects", "Reports": "open the reporting section",
    "Team": "see the people I work with", "Billing": "manage payment details", "Analytics": "view statistics and metrics",
    "Customers": "list the clients", "Orders": "see what was purchased", "Inventory": "check stock levels",
    "Invoices": "show the bills", "Products": "browse the catalogue", "Campaigns": "manage marketing campaigns",
    "Overview": "see the summary", "Activity": "what happened recently", "Members": "who belongs to this workspace",
    "Integrations": "connect third-party apps", "Usage": "how much of my quota is used", "Archive": "find old archived things",
    "Templates": "reusable starting layouts", "Audit log": "history of security-relevant actions", "Storage": "disk space",
    "Domains": "custom web addresses", "Webhooks": "HTTP callbacks for events", "API keys": "developer access tokens",
}

SYNONYMS = {  # session 7: app sections asked for in other words (hand-written from general UI usage, before the UI
    # lexicon's entries for them were looked at; none of the dev set's concepts), for the lexicon (docs/RANKING.md)
    "Favorites": "show my starred items", "Notifications": "open my alerts", "Settings": "change my preferences",
    "Help": "I need support", "Downloads": "find the files I saved from the web", "Bookmarks": "show my saved pages",
    "History": "see pages I visited before", "Messages": "read my conversations", "Profile": "view my personal info",
    "Log out": "leave my account", "Print": "make a paper copy", "Share": "send this to a friend",
    "Edit": "modify the text", "Refresh": "reload the view", "Undo": "revert my last change",
    "Upload": "put a file on the server", "Lock": "secure the screen", "Photos": "browse my pictures",
    "Music": "play some songs", "Location": "where am I on the map", "Statistics": "show the charts",
    "Cart": "view my basket", "Wallet": "check my balance", "Duplicate": "make a copy of this",
    "Pin": "stick this to the top", "Mute": "silence the sound", "Filter": "narrow down the results",
    "Tags": "manage labels", "Feedback": "tell us what you think", "Security": "protect my account",
    "Translate": "change the language of the page", "Weather": "what is the forecast", "Videos": "watch a clip",
    "Tasks": "my to-do list", "Exit": "quit the application", "Report a bug": "tell them something is broken",
    "Zoom in": "make it bigger", "Attachments": "files added to the message", "Microphone": "let me talk",
    "Bluetooth": "pair a wireless device", "Battery": "how much charge is left", "Gallery": "see all images",
}
"""With --synonyms the top bar and the sidebar show these labels (text links) and four of them are asked for in
other words per screen (kind "text-synonym"), besides the usual icon, text and paraphrase items."""


@dataclass
class Cand:
    box: Box
    name: str
    icon: str | None = None  # "set:name" for icon-only buttons
    role: str | None = None  # what an accessibility tree says (link, button, textbox, combobox, checkbox)


@dataclass
class Screen:
    image: Image.Image
    cands: list[Cand] = field(default_factory=list)
    items: list[tuple[str, str, int]] = field(default_factory=list)  # (instruction, kind, target index)


def _svg(root: Path, icon_set: str, name: str) -> str:
    if icon_set == "heroicons":
        return (root / "heroicons-2.2.0/package/24/outline" / f"{name}.svg").read_text()
    return (root / "iconoir-7.12.1/package/icons/regular" / f"{name}.svg").read_text()


def _paste_icon(img: Image.Image, svg: str, box: Box, px: int, ink: tuple[int, int, int]) -> None:
    from sensorium.tools.icons.train.render import render_alpha

    a = render_alpha(svg, px)
    x = (box[0] + box[2] - px) // 2
    y = (box[1] + box[3] - px) // 2
    glyph = Image.new("RGB", (px, px), ink)
    img.paste(glyph, (x, y), Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8)))


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int, fill: tuple[int, int, int]) -> Box:
    f = font(size)
    l, t, r, b = draw.textbbox(xy, text, font=f)
    draw.text(xy, text, font=f, fill=fill)
    return (l, t, r, b)


def _badge(draw: ImageDraw.ImageDraw, box: Box, number: int) -> None:
    """A notification counter on an icon button's top-right corner (a red pill with white digits)."""
    f = font(11)
    text = str(number)
    l, t, rr, bb = draw.textbbox((0, 0), text, font=f)
    w = max(16, rr - l + 8)
    x2, y1 = box[2] - 1, box[1] + 1
    draw.rounded_rectangle((x2 - w, y1, x2, y1 + 16), 8, fill=(220, 38, 38))
    draw.text((x2 - w + (w - (rr - l)) // 2 - l, y1 + (16 - (bb - t)) // 2 - t), text, font=f, fill=(255, 255, 255))


def make_screen(root: Path, seed: int, size: tuple[int, int] = (1280, 800), *, badges: bool = False,
                synonyms: bool = False) -> Screen:
    """One web-app-like screen with 8 held-out icon buttons and ~25 text elements; with `badges`,
    some icon buttons carry a notification counter (as bells, chats and carts do); with `synonyms` the
    top bar and sidebar labels come from SYNONYMS and four are asked for in other words."""
    r = random.Random(seed)
    syn = random.Random(seed + 29).sample(sorted(SYNONYMS), 11) if synonyms else []
    counters = random.Random(seed + 13)
    dark = r.random() < 0.35
    bg = (24, 26, 32) if dark else (248, 249, 251)
    fg = (225, 228, 235) if dark else (30, 34, 44)
    bar = (34, 37, 46) if dark else r.choice([(255, 255, 255), (37, 99, 235), (15, 23, 42)])
    bar_fg = (240, 240, 245) if sum(bar) < 300 else (30, 34, 44)
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    s = Screen(img)
    W, H = size
    draw.rectangle((0, 0, W, 56), fill=bar)
    logo = _text(draw, (18, 16), r.choice(["Acme Cloud", "Northwind", "Helio CRM", "Pinecrest"]), 20, bar_fg)
    s.cands.append(Cand(logo, "logo", role="link"))
    x = logo[2] + 40
    for word in syn[:4] if synonyms else r.sample(NAV, 4):
        b = _text(draw, (x, 20), word, 15, bar_fg)
        s.cands.append(Cand((b[0] - 8, 10, b[2] + 8, 46), word, role="link"))
        x = b[2] + 30
    functions = r.sample(sorted(FUNCTIONS), 8)
    icon_set = "heroicons" if seed % 2 == 0 else "iconoir"
    icon_px = r.choice([18, 20, 22, 24])
    # icon buttons in the top bar's right end
    bx = W - 16
    for fn in functions[:4]:
        name = FUNCTIONS[fn][0 if icon_set == "heroicons" else 1]
        box = (bx - 40, 8, bx, 48)
        _paste_icon(img, _svg(root, icon_set, name), box, icon_px, bar_fg)
        if badges and counters.random() < 0.4:
            _badge(draw, box, counters.choice([2, 3, 5, 9, 12, 15, 27, 99]))
        s.cands.append(Cand(box, "", f"{icon_set}:{name}", role="button"))
        s.items.append((fn, "icon-function", len(s.cands) - 1))
        bx -= 44
    # sidebar
    side = (28, 31, 38) if dark else (241, 243, 247)
    draw.rectangle((0, 56, 220, H), fill=side)
    y = 80
    for word in syn[4:] if synonyms else r.sample(SIDEBAR, 7):
        b = _text(draw, (24, y), word, 15, fg)
        s.cands.append(Cand((12, y - 8, 208, y + 28), word, role="link"))
        y += 44
    # a card with a header toolbar of icons, text, buttons
    card = (260, 90, W - 40, 520)
    draw.rounded_rectangle(card, 8, fill=(34, 37, 46) if dark else (255, 255, 255), outline=(70, 74, 86) if dark else (220, 224, 230))
    title = r.choice(["Recent orders", "Team activity", "Monthly report", "Open tickets"])
    tb = _text(draw, (card[0] + 20, card[1] + 18), title, 18, fg)
    s.cands.append(Cand(tb, title))
    bx = card[2] - 14
    ink = (200, 204, 214) if dark else r.choice([(75, 85, 99), (37, 99, 235), (17, 24, 39)])
    for k, fn in enumerate(functions[4:]):
        name = FUNCTIONS[fn][0 if icon_set == "heroicons" else 1]
        box = (bx - 36, card[1] + 10, bx, card[1] + 46)
        if r.random() < 0.5:
            draw.rounded_rectangle(box, 6, outline=(80, 84, 96) if dark else (209, 213, 219))
        _paste_icon(img, _svg(root, icon_set, name), box, icon_px - 2, ink)
        if badges and counters.random() < 0.4:
            _badge(draw, box, counters.choice([2, 3, 5, 9, 12, 15, 27, 99]))
        s.cands.append(Cand(box, "", f"{icon_set}:{name}", role="button"))
        kind = "icon-function" if k % 2 == 0 else "icon-shows"
        s.items.append((fn if kind == "icon-function" else SHOWS.format(name.replace("-", " ")), kind, len(s.cands) - 1))
        bx -= 42
    y = card[1] + 70
    for line in r.sample(PARA, 4):
        b = _text(draw, (card[0] + 20, y), line, 14, fg)
        s.cands.append(Cand(b, line))
        y += 36
    x = card[0] + 20
    labels = r.sample(BUTTONS, 4)
    for k, lab in enumerate(labels):
        f = font(15)
        l, t, rr, bb = draw.textbbox((0, 0), lab, font=f)
        box = (x, card[3] - 60, x + (rr - l) + 32, card[3] - 24)
        primary = k == 0
        draw.rounded_rectangle(box, 6, fill=(37, 99, 235) if primary else bg, outline=None if primary else (160, 164, 176))
        draw.text((x + 16 - l, (box[1] + box[3] - (bb - t)) // 2 - t), lab, font=f, fill=(255, 255, 255) if primary else fg)
        s.cands.append(Cand(box, lab, role="button"))
        x = box[2] + 12
    s.items.append((f"click {labels[1]}", "text", len(s.cands) - 3))
    pick = random.Random(seed + 7)  # its own generator: the drawing above stays the same
    texts = [k for k, c in enumerate(s.cands) if c.name in PARAPHRASE]
    for k in pick.sample(texts, min(3, len(texts))):
        s.items.append((PARAPHRASE[s.cands[k].name], "text-paraphrase", k))
    if synonyms:
        named = [k for k, c in enumerate(s.cands) if c.name in SYNONYMS]
        for k in random.Random(seed + 31).sample(named, 4):
            s.items.append((SYNONYMS[s.cands[k].name], "text-synonym", k))
    return s


# Form screens: which KIND of element an instruction wants (issue 14's role cues). Nouns, labels and
# the instruction templates below are written from general UI usage (sign-up and settings forms), not from
# the dev set; every field has a link elsewhere on the screen sharing its noun, so words alone cannot decide.
FIELDS = [("Email address", "email", "Email support"), ("Full name", "name", "Name badges"), ("Company", "company", "Company blog"),
          ("Phone number", "phone number", "Phone plans"), ("Password", "password", "Password help"), ("City", "city", "City guides"),
          ("Website", "website", "Website builder"), ("Username", "username", "Usernames explained")]
SELECTS = [("Country", "country", "Country sites"), ("Language", "language", "Language courses"), ("Time zone", "time zone", "Time zone map"),
           ("Currency", "currency", "Currency rates")]
CHECKS = [("Remember me", "remember me", "Remember the date"), ("Subscribe to the newsletter", "the newsletter", "Newsletter archive"),
          ("I agree to the terms", "the terms", "Terms of service"), ("Keep me signed in", "staying signed in", "Signed-in devices")]
TYPE_T = ["Type your {}", "Fill in your {}", "Write your {} here", "Enter your {}", "Put your {} in the field"]
CHOOSE_T = ["Choose a {} from the list", "Select your {} from the dropdown", "Pick a {} option"]
TICK_T = ["Tick '{}'", "Check the box for {}", "Uncheck {}"]
SUBMIT_T = ["Submit the form", "Send the form", "Submit my details"]
SEARCH_T = ["Run the search", "Submit the search", "Press the search button"]
ROW_FIELDS = [("Quick search", "quick search"), ("Find a customer", "customer search"), ("Coupon code", "coupon code"),
              ("Tracking number", "tracking number lookup"), ("Invite by email", "invite"), ("Jump to page", "page jump")]
ROW_BUTTONS = ["Go", "OK", "Apply", "Done"]
ROW_T = ["Submit the {}", "Run the {}", "Send the {}", "Confirm the {}"]
BELOW_FIELDS = [("Comment", "comment"), ("Feedback", "feedback"), ("Question", "question"), ("Note for the driver", "note for the driver")]
BELOW_BUTTONS = ["Post", "Send", "OK", "Done"]
BELOW_T = ["Submit the {}", "Send my {}", "Submit my {}"]
SHOWN = [("next", "Chapter {}: Billing and invoices", "Go to the next page"), ("previous", "Chapter {}: Getting started", "Back to the previous page"),
         ("Read more", "Quarterly report {}", "Read more about it"), ("Details", "Order {} summary", "See the details")]


def _field(draw: ImageDraw.ImageDraw, x: int, y: int, w: int, label: str, fg: tuple[int, int, int], placeholder: str = "") -> Box:
    _text(draw, (x, y), label, 14, fg)
    box = (x, y + 22, x + w, y + 58)
    draw.rounded_rectangle(box, 5, fill=(255, 255, 255), outline=(190, 194, 204))
    if placeholder:
        _text(draw, (x + 10, y + 32), placeholder, 14, (150, 154, 164))
    return box


def make_form_screen(root: Path, seed: int, size: tuple[int, int] = (1280, 800)) -> Screen:
    """A page with a sign-up form (text fields, dropdowns, checkboxes, a submit button), a search box with
    its button, links sharing the fields' nouns, and links whose accessible name differs from the words
    they show (a 'next' link named by the next chapter's title)."""
    r = random.Random(seed)
    bg, fg = (248, 249, 251), (30, 34, 44)
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    s = Screen(img)
    W, H = size
    draw.rectangle((0, 0, W, 56), fill=(255, 255, 255))
    logo = _text(draw, (18, 16), r.choice(["Acme Cloud", "Northwind", "Helio CRM", "Pinecrest"]), 20, fg)
    s.cands.append(Cand(logo, "logo", role="link"))
    # search box + its button (text "Go" or a held-out magnifier icon)
    sb = (W - 420, 12, W - 120, 44)
    draw.rounded_rectangle(sb, 5, fill=(255, 255, 255), outline=(190, 194, 204))
    _text(draw, (sb[0] + 10, 20), "Search", 14, (150, 154, 164))
    s.cands.append(Cand(sb, "Search", role="textbox"))
    gb = (W - 110, 12, W - 60, 44)
    if r.random() < 0.5:
        draw.rounded_rectangle(gb, 5, fill=(37, 99, 235))
        _text(draw, (gb[0] + 15, 20), "Go", 14, (255, 255, 255))
        s.cands.append(Cand(gb, "Go", role="button"))
    else:
        icon_set = r.choice(["heroicons", "iconoir"])
        name = "magnifying-glass" if icon_set == "heroicons" else "search"
        _paste_icon(img, _svg(root, icon_set, name), gb, 20, (30, 34, 44))
        s.cands.append(Cand(gb, "", f"{icon_set}:{name}", role="button"))
    s.items.append((r.choice(SEARCH_T), "form-press", len(s.cands) - 1))
    fields = r.sample(FIELDS, 3)
    selects = r.sample(SELECTS, 1)
    checks = r.sample(CHECKS, 2)
    # the form card
    card = (300, 80, 900, 760)
    draw.rounded_rectangle(card, 8, fill=(255, 255, 255), outline=(220, 224, 230))
    _text(draw, (card[0] + 24, card[1] + 18), r.choice(["Create your account", "Sign up", "Your details"]), 20, fg)
    y = card[1] + 64
    for label, noun, _ in fields:
        box = _field(draw, card[0] + 24, y, 400, label, fg, r.choice(["", label]))
        s.cands.append(Cand(box, label, role="textbox"))
        s.items.append((r.choice(TYPE_T).format(noun), "form-type", len(s.cands) - 1))
        y += 78
    for label, noun, _ in selects:
        box = _field(draw, card[0] + 24, y, 400, label, fg, "Select...")
        draw.polygon([(box[2] - 24, box[1] + 14), (box[2] - 12, box[1] + 14), (box[2] - 18, box[1] + 22)], fill=fg)
        s.cands.append(Cand(box, label, role="combobox"))
        s.items.append((r.choice(CHOOSE_T).format(noun), "form-choose", len(s.cands) - 1))
        y += 78
    for label, noun, _ in checks:
        box = (card[0] + 24, y + 2, card[0] + 42, y + 20)
        draw.rectangle(box, fill=(255, 255, 255), outline=(120, 124, 134))
        _text(draw, (card[0] + 52, y + 2), label, 14, fg)
        s.cands.append(Cand(box, label, role="checkbox"))
        t = r.choice(TICK_T)
        s.items.append((t.format(label if "'" in t else noun), "form-tick", len(s.cands) - 1))
        y += 34
    y += 12
    for k, lab in enumerate([r.choice(["Create account", "Sign up", "Register", "Save"]), "Cancel"]):
        f = font(15)
        l, t, rr, bb = draw.textbbox((0, 0), lab, font=f)
        x = card[0] + 24 + k * 180
        box = (x, y, x + (rr - l) + 32, y + 38)
        draw.rounded_rectangle(box, 6, fill=(37, 99, 235) if k == 0 else bg, outline=None if k == 0 else (160, 164, 176))
        draw.text((x + 16 - l, y + (38 - (bb - t)) // 2 - t), lab, font=f, fill=(255, 255, 255) if k == 0 else fg)
        s.cands.append(Cand(box, lab, role="button"))
        if k == 0:
            s.items.append((r.choice(SUBMIT_T), "form-press", len(s.cands) - 1))
    # links sharing the nouns, in a right-hand column
    y = 100
    for _, _, link in fields + selects + checks:
        b = _text(draw, (960, y), link, 14, (37, 99, 235))
        s.cands.append(Cand(b, link, role="link"))
        y += 34
    # a pager line "previous | contents | next" (OCR tends to read it as one piece), each link named by its target
    x, py = 960, H - 60
    targets = {"previous": f"Chapter {r.randint(2, 5)}: Getting started", "contents": "Table of contents", "next": f"Chapter {r.randint(6, 9)}: Billing"}
    for word in ("previous", "contents", "next"):
        b = _text(draw, (x, py), word, 14, (37, 99, 235))
        s.cands.append(Cand(b, targets[word], role="link"))
        if word != "contents":
            s.items.append((r.choice([f"Click '{word}'", f"Go to the {word} chapter"]), "text-shown", len(s.cands) - 1))
        x = _text(draw, (b[2] + 6, py), "|", 14, fg)[2] + 6
    # links whose name is not what they show
    for shown, name, ask in r.sample(SHOWN[2:], 2):
        b = _text(draw, (960, y + 20), shown, 15, (37, 99, 235))
        s.cands.append(Cand(b, name.format(r.randint(2, 9)), role="link"))
        s.items.append((ask if r.random() < 0.5 else f"Click '{shown}'", "text-shown", len(s.cands) - 1))
        y += 40
    _own_buttons(root, s, draw, random.Random(seed + 29))
    return s


def _own_buttons(root: Path, s: Screen, draw: ImageDraw.ImageDraw, r: random.Random) -> None:
    """Session 7: two more fields with their own buttons in the right column (own generator, so the
    rest of the screen stays as it was): a one-line field with a button right after it ("Go", "OK",
    a held-out arrow icon) and a multi-line field with its button below; each asked for by
    a press instruction naming the field. The buttons' words say nothing of the field."""
    fg = (30, 34, 44)
    label, noun = r.choice(ROW_FIELDS)
    fb = _field(draw, 960, 430, 200, label, fg, r.choice(["", label]))
    s.cands.append(Cand(fb, label, role=r.choice(["textbox", "searchbox"])))
    bb = (fb[2] + r.choice([0, 6, 10]), fb[1], fb[2] + 60, fb[3])
    lab = r.choice(ROW_BUTTONS + ["icon"])
    if lab == "icon":
        icon_set = r.choice(["heroicons", "iconoir"])
        name = "arrow-right"
        draw.rounded_rectangle(bb, 5, outline=(190, 194, 204))
        _paste_icon(s.image, _svg(root, icon_set, name), bb, 20, fg)
        s.cands.append(Cand(bb, "", f"{icon_set}:{name}", role="button"))
    else:
        draw.rounded_rectangle(bb, 5, fill=(37, 99, 235))
        _text(draw, (bb[0] + 14, bb[1] + 9), lab, 14, (255, 255, 255))
        s.cands.append(Cand(bb, lab, role="button"))
    s.items.append((r.choice(ROW_T).format(noun), "form-press-row", len(s.cands) - 1))
    label, noun = r.choice(BELOW_FIELDS)
    _text(draw, (960, 520), label, 14, fg)
    area = (960, 542, 1240, 622)
    draw.rounded_rectangle(area, 5, fill=(255, 255, 255), outline=(190, 194, 204))
    s.cands.append(Cand(area, label, role="textbox"))
    lab = r.choice(BELOW_BUTTONS)
    f = font(15)
    l, t, rr, b = draw.textbbox((0, 0), lab, font=f)
    bb = (960, 636, 960 + (rr - l) + 32, 672)
    draw.rounded_rectangle(bb, 6, fill=(37, 99, 235))
    draw.text((976 - l, 654 - (b - t) // 2 - t), lab, font=f, fill=(255, 255, 255))
    s.cands.append(Cand(bb, lab, role="button"))
    s.items.append((r.choice(BELOW_T).format(noun), "form-press-below", len(s.cands) - 1))


async def evaluate(
    root: Path, screens: int, work: Path, seed0: int = 1000, *, badges: bool = False, forms: bool = False, ablate: bool = False,
    no_field_button: bool = False,
    synonyms: bool = False,
    detector: str = "auto",
    recogniser: str = "auto",
    proposed: bool = False,
) -> dict[str, object]:
    """hit@1 per kind; `ablate` switches off this session's general mechanisms (role cues, shown words,
    badge erasing) so before and after are measured in one run on the same screens. `proposed`: no
    candidates are given; the tool's own path (`screen.rank_proposed`, the screen read in full) proposes
    and ranks, and an item is a hit when rank 1's click point lies in the target's box (session 15)."""
    from sensorium.tools.backends.base import EmbedItem
    from sensorium.tools.backends.local.backend import LocalBackend
    from sensorium.tools.ranking.proposals import Proposal
    from sensorium.tools.ranking.score import rank_elements

    work.mkdir(parents=True, exist_ok=True)
    if no_field_button:  # session 7's "a field's own button" off (forms.py): the button keeps its own evidence
        import sensorium.tools.ranking.forms as forms

        forms.SHARE = 0.0
    if ablate:
        import sensorium.tools.backends.local.backend as local_backend
        import sensorium.tools.ranking.score as score

        score.W_ROLE = 0.0
        score.SEEN_MAX_WORDS = 0
        local_backend.erase_badges = lambda image: image
    backend = LocalBackend()
    engine = None
    if proposed:
        from sensorium.tools.backends.local.ocr import engine_from_settings
        from sensorium.tools.config import LocalSettings
        from sensorium.tools.ranking.proposals import click_point, contains_point
        from sensorium.tools.ranking.screen import rank_proposed

        local = LocalSettings(ocr_detector=detector, ocr_recogniser=recogniser)
        engine = engine_from_settings(local)
        backend = LocalBackend(local, ocr=engine)
    cache = WordsCache(work, detector, recogniser)
    hits: dict[str, list[float]] = {}
    rows = []
    for n in range(screens):
        s = make_form_screen(root, seed0 + n) if forms else make_screen(root, seed0 + n, badges=badges, synonyms=synonyms)
        tag = f"{'-badges' if badges else ''}{'-forms7' if forms else ''}{'-synonyms' if synonyms else ''}"
        words = cache.words(s.image, f"{seed0 + n}{tag}")
        props = [Proposal(box=c.box, label=c.name or None, role=c.role, source="given") for c in s.cands]
        for instruction, kind, target in s.items:
            [q] = await backend.embed([EmbedItem.of(instruction)], "query")
            if engine is not None:
                scored, found, _, _ = await rank_proposed(backend, engine, s.image, q, instruction, budget=None)
                win = found.items[scored[0].index] if scored else None
                hit = win is not None and contains_point(s.cands[target].box, *click_point(win.box))
                hits.setdefault(kind, []).append(float(hit))
                rows.append({"screen": seed0 + n, "instruction": instruction, "kind": kind, "hit": hit,
                             "target": s.cands[target].icon or s.cands[target].name, "target_box": list(s.cands[target].box),
                             "winner_box": None if win is None else list(win.box), "winner_words": scored[0].words if scored else None})
                continue
            ranked = await rank_elements(backend, s.image, q, instruction, props, words=words)
            rank = next(k for k, e in enumerate(ranked, 1) if e.index == target)
            hits.setdefault(kind, []).append(float(rank == 1))
            top = ranked[0]
            rows.append({"screen": seed0 + n, "instruction": instruction, "kind": kind, "rank": rank,
                         "target": s.cands[target].icon or s.cands[target].name,
                         "target_words": next(e.words for e in ranked if e.index == target),
                         "winner": s.cands[top.index].icon or s.cands[top.index].name, "winner_score": round(top.score, 3),
                         "target_index": target, "roles": [c.role for c in s.cands],
                         "scores": {e.index: round(e.score, 4) for e in ranked}})
    summary = {k: {"n": len(v), "hit@1": round(float(np.mean(v)), 3)} for k, v in sorted(hits.items())}
    icon = [x for k, v in hits.items() if k.startswith("icon") for x in v]
    if icon:
        summary["icon (all)"] = {"n": len(icon), "hit@1": round(float(np.mean(icon)), 3)}
    everything = [x for v in hits.values() for x in v]
    summary["all"] = {"n": len(everything), "hit@1": round(float(np.mean(everything)), 3)}
    return {"summary": summary, "items": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--icons", type=Path, default=Path("/work/icon-data/src"), help="folder with the unpacked npm icon sets")
    ap.add_argument("--screens", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/heldout-grounding"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--badges", action="store_true", help="put notification counters on some icon buttons")
    ap.add_argument("--forms", action="store_true", help="form screens (fields, dropdowns, checkboxes, same-noun links) instead")
    ap.add_argument("--synonyms", action="store_true", help="top bar and sidebar labels asked for in other words (session 7)")
    ap.add_argument("--ablate", action="store_true", help="without the session-4 mechanisms (role cues, shown words, badge erasing)")
    ap.add_argument("--no-field-button", action="store_true", help="without session 7's field-button inheritance (forms.py)")
    ap.add_argument("--share", type=float, help="forms.SHARE for a sweep")
    ap.add_argument("--ocr-detector", default="auto", choices=("auto", "int8", "fp32"), help="LocalSettings.ocr_detector for the screens' OCR")
    ap.add_argument("--ocr-recogniser", default="auto", choices=("auto", "int8", "fp32"), help="LocalSettings.ocr_recogniser, likewise")
    ap.add_argument("--proposed", action="store_true", help="no candidates given: the tool proposes (rank_proposed), hit = click in the target")
    ap.add_argument("--save", type=int, default=0, help="also write the first N screens as PNG into --work")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    a = ap.parse_args()
    for n in range(a.save):
        maker = make_form_screen(a.icons, a.seed + n) if a.forms else make_screen(a.icons, a.seed + n, badges=a.badges)
        maker.image.save(a.work / f"screen-{a.seed + n}{'-forms' if a.forms else ''}.png")
    if a.share is not None:
        import sensorium.tools.ranking.forms as forms

        forms.SHARE = a.share
    out = asyncio.run(evaluate(a.icons, a.screens, a.work, a.seed, badges=a.badges, forms=a.forms, ablate=a.ablate,
                               no_field_button=a.no_field_button, synonyms=a.synonyms, detector=a.ocr_detector,
                               recogniser=a.ocr_recogniser, proposed=a.proposed))
    if a.verbose:
        for row in out["items"]:  # type: ignore[union-attr]
            if row.get("rank", 1) != 1 or row.get("hit") is False:
                print(row)
    print(json.dumps(out["summary"], indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
