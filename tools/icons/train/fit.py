"""Contrastive training of the icon CNN against FROZEN MiniLM text vectors.

WHY: the text side is the project's own TextEncoder, fixed, so a query typed at run time lands
in exactly the space the image vectors were trained into. Loss per batch:
  * InfoNCE image<->text with a learnable temperature; pairs whose texts are near-identical
    (same name in two sets, two styles of one icon) are masked out instead of being pushed apart;
  * a cosine pull towards the mean of the concept's texts, so cos(query, icon) is high in
    absolute terms, not just ranked right;
  * a binary icon / not-an-icon logit trained on textless non-icon crops (blank, borders,
    gradients, photo fragments), which becomes the reader's confidence.
Augmentation on the fly (on top of the cached UI renders): small shift/scale, stroke
thickening/thinning (max-pool dilation/erosion), contrast gamma, noise.
Validation holds out whole SETS (roles in sources.py): name -> image retrieval among the
held-out concepts, on clean and on UI-style renders.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .model import IconNet
from .sources import PACKAGES

PINNED = {p.key for p in PACKAGES}

log = logging.getLogger(__name__)


class Data:
    """The base cache plus any `extend` folders (their new concepts appended, their renders joined;
    wild renders kept apart in `wild_of` so a batch can draw a chosen share of them)."""

    def __init__(self, data_dir: Path, extra: list[Path] | tuple[Path, ...] = ()) -> None:
        c = data_dir / "cache"
        concepts = json.loads((c / "concepts.json").read_text())
        images = np.load(c / "images.npy")
        image_concept = np.load(c / "image_concept.npy")
        text_emb = np.load(c / "text_emb.npy").astype(np.float32)
        text_concept = np.load(c / "text_concept.npy")
        # only sets still pinned in sources.PACKAGES (a cache built before a set was dropped keeps it out)
        keep = np.array([cc["set"] in PINNED for cc in concepts])
        remap = np.cumsum(keep) - 1
        self.concepts = [cc for cc, k in zip(concepts, keep) if k]
        im_keep, tx_keep = keep[image_concept], keep[text_concept]
        self.images = images[im_keep]
        self.image_concept = remap[image_concept[im_keep]].astype(np.int32)
        self.text_emb = text_emb[tx_keep]
        self.text_concept = remap[text_concept[tx_keep]].astype(np.int32)
        self.negatives = np.load(c / "negatives.npy")
        wild = np.zeros(len(self.images), dtype=bool)
        for e in extra:
            wild = np.concatenate([wild, self._join(e / "cache")])
        n = len(self.concepts)
        self.role = np.array([c["role"] == "train" for c in self.concepts])
        self.texts_of: list[list[int]] = [[] for _ in range(n)]
        for t, ci in enumerate(self.text_concept):
            self.texts_of[ci].append(t)
        mean = np.zeros((n, self.text_emb.shape[1]), np.float32)
        np.add.at(mean, self.text_concept, self.text_emb)
        self.concept_mean = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-9)
        self.images_of: list[list[int]] = [[] for _ in range(n)]
        self.wild_of: list[list[int]] = [[] for _ in range(n)]
        for i, ci in enumerate(self.image_concept):
            (self.wild_of if wild[i] else self.images_of)[ci].append(i)
        self.train_concepts = np.array([i for i in range(n) if self.role[i] and self.images_of[i]])
        self.val_concepts = np.array([i for i in range(n) if not self.role[i] and self.images_of[i]])


    def _join(self, c: Path) -> np.ndarray:
        """Append an extension cache; returns the wild flags of the renders it added."""
        new = [cc for cc in json.loads((c / "concepts.json").read_text()) if cc["set"] in PINNED]
        keep_new = {cc["concept"] for cc in new}
        all_new = json.loads((c / "concepts.json").read_text())
        offset = len(self.concepts)
        self.concepts += new
        index = {cc["concept"]: i for i, cc in enumerate(self.concepts)}
        old_index = [index.get(cc["concept"], -1) for cc in all_new]
        tc = np.array([old_index[i] for i in np.load(c / "text_concept.npy")], dtype=np.int64)
        ok = tc >= 0
        self.text_emb = np.concatenate([self.text_emb, np.load(c / "text_emb.npy").astype(np.float32)[ok]])
        self.text_concept = np.concatenate([self.text_concept, tc[ok].astype(np.int32)])
        keys = json.loads((c / "image_keys.json").read_text())
        ic = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
        ok = ic >= 0  # renders of sets no longer pinned are dropped
        assert len(self.concepts) - offset == len(keep_new)
        self.images = np.concatenate([self.images, np.load(c / "images.npy")[ok]])
        self.image_concept = np.concatenate([self.image_concept, ic[ok].astype(np.int32)])
        return np.load(c / "image_wild.npy")[ok]


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    # stroke weight: dilate a quarter, erode a sixth
    r = torch.rand(n, generator=gen)
    dil = F.max_pool2d(x, 3, 1, 1)
    ero = -F.max_pool2d(-x, 3, 1, 1)
    a = torch.rand(n, 1, 1, 1, generator=gen) * 0.6 + 0.2
    x = torch.where((r < 0.25).view(n, 1, 1, 1), x * (1 - a) + dil * a, x)
    x = torch.where(((r >= 0.25) & (r < 0.4)).view(n, 1, 1, 1), x * (1 - a) + ero * a, x)
    # small affine: scale 0.85..1.05, shift +-2 px
    s = torch.rand(n, generator=gen) * 0.2 + 0.85
    t = (torch.rand(n, 2, generator=gen) - 0.5) * (4.0 / 16)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = 1 / s
    theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = t
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    # contrast and noise
    g = torch.exp((torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.8)
    x = x.clamp(0, 1) ** g
    x = x + torch.randn(x.shape, generator=gen) * (torch.rand(n, 1, 1, 1, generator=gen) * 0.04)
    return x.clamp(0, 1)


@torch.no_grad()
def evaluate(model: IconNet, data: Data, concepts: np.ndarray, variant: int, *, subset: int = 200, seed: int = 0) -> dict[str, float]:
    """name -> image retrieval over held-out concepts, one picture per concept (variant 0 = clean 96 px,
    1 = UI-style, -1 = the wild render: badge / neighbour / crop / ring / low contrast / tiny)."""
    model.eval()
    if variant < 0:
        concepts = np.array([c for c in concepts if data.wild_of[c]])
        imgs = np.stack([data.images[data.wild_of[c][0]] for c in concepts])
    else:
        imgs = np.stack([data.images[data.images_of[c][min(variant, len(data.images_of[c]) - 1)]] for c in concepts])
    z = []
    for s in range(0, len(imgs), 512):
        zz, _ = model(torch.from_numpy(imgs[s : s + 512]).float().div(255).unsqueeze(1))
        z.append(zz)
    zi = torch.cat(z).numpy()
    zt = data.text_emb[[data.texts_of[c][0] for c in concepts]]  # texts_of[c][0] is the bare name
    rng = np.random.default_rng(seed)
    hits1, hits5, mrr = [], [], []
    for _ in range(20):  # 200-way like the dev eval, averaged over random draws
        idx = rng.choice(len(concepts), size=min(subset, len(concepts)), replace=False)
        names = [data.concepts[c]["name"] for c in concepts[idx]]
        sim = zt[idx] @ zi[idx].T
        for i in range(len(idx)):
            correct = {j for j in range(len(idx)) if names[j] == names[i]}
            order = np.argsort(-sim[i])
            rank = next(k for k, j in enumerate(order) if j in correct) + 1
            hits1.append(rank == 1)
            hits5.append(rank <= 5)
            mrr.append(1 / rank)
    model.train()
    return {"hit@1": float(np.mean(hits1)), "hit@5": float(np.mean(hits5)), "mrr": float(np.mean(mrr))}


def fit(
    data_dir: Path, *, minutes: float = 20.0, steps: int | None = None, threads: int = 2, seed: int = 0, batch: int = 256, negatives: int = 24,
    extra: list[Path] | tuple[Path, ...] = (), work: Path | None = None, init: Path | None = None, lr: float = 2e-3, wild: float = 0.0,
) -> Path:
    """Train for a number of steps (reproducible) or, without `steps`, for a time budget (the
    learning-rate schedule then follows the clock, so the step count depends on machine load).
    `init` fine-tunes a trained model.pt (session 5: fitting from scratch does not fit the time on
    2 shared cores); `wild` is the share of a batch's pictures drawn from the wild renders of
    `extra` folders. model.pt is written into `work` (default data_dir)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    data = Data(data_dir, extra)
    log.info("train concepts %d, val concepts %d, images %d (wild %d)", len(data.train_concepts), len(data.val_concepts), len(data.images),
             sum(len(w) for w in data.wild_of))
    model = IconNet()
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    if init is not None:
        ckpt = torch.load(init, map_location="cpu")
        model = IconNet(tuple(ckpt["widths"]))
        model.load_state_dict(ckpt["model"])
        logit_scale = torch.nn.Parameter(torch.tensor(math.log(float(ckpt.get("scale", 59.0)))))
        log.info("fine-tuning from %s (%s steps)", init, ckpt.get("steps"))
    model = model.to(memory_format=torch.channels_last)  # ~1.5x faster convs on CPU
    params = list(model.parameters()) + [logit_scale]
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=1e-4)
    text_emb = torch.from_numpy(data.text_emb)
    concept_mean = torch.from_numpy(data.concept_mean)
    budget = minutes * 60.0
    start = time.time()
    step, last_log, losses = 0, start, []
    out = (work or data_dir) / "model.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    warm = 200 if init is None else 50
    while (elapsed := time.time() - start) < budget if steps is None else step < steps:
        frac = elapsed / budget if steps is None else step / steps
        lr_now = lr * min(1.0, (step + 1) / warm) * (0.5 * (1 + math.cos(math.pi * frac)) * 0.97 + 0.03)
        for gparam in opt.param_groups:
            gparam["lr"] = lr_now
        n_icons = batch - negatives
        cs = rng.choice(data.train_concepts, size=n_icons, replace=False)
        pick_wild = rng.random(n_icons) < wild
        ims = [data.wild_of[c][rng.integers(len(data.wild_of[c]))] if w and data.wild_of[c] else data.images_of[c][rng.integers(len(data.images_of[c]))]
               for c, w in zip(cs, pick_wild)]
        ts = [data.texts_of[c][rng.integers(len(data.texts_of[c]))] for c in cs]
        negs = rng.integers(0, len(data.negatives), size=negatives)
        x = np.concatenate([data.images[ims], data.negatives[negs]])
        x = augment(torch.from_numpy(x).float().div(255).unsqueeze(1), gen).contiguous(memory_format=torch.channels_last)
        z, icon_logit = model(x)
        zi, t = z[:n_icons], text_emb[ts]
        scale = logit_scale.exp().clamp(max=100)
        logits = scale * zi @ t.T
        same = (t @ t.T > 0.92) & ~torch.eye(n_icons, dtype=torch.bool)
        same |= torch.from_numpy(cs[:, None] == cs[None, :]) & ~torch.eye(n_icons, dtype=torch.bool)
        logits = logits.masked_fill(same, -1e4)
        target = torch.arange(n_icons)
        nce = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        pull = (1 - (zi * concept_mean[cs]).sum(-1)).mean()
        labels = torch.cat([torch.ones(n_icons), torch.zeros(negatives)])
        conf = F.binary_cross_entropy_with_logits(icon_logit, labels)
        loss = nce + 1.0 * pull + 0.3 * conf
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append((nce.item(), pull.item(), conf.item()))
        step += 1
        if time.time() - last_log > 60:
            last_log = time.time()
            m = np.mean(losses[-50:], axis=0)
            log.info("step %d  %.1f min  lr %.2e  nce %.3f  pull %.3f  conf %.3f  T %.1f", step, (last_log - start) / 60, lr_now, *m, scale.item())
        if step % 400 == 0:
            log.info("val clean %s | ui %s | wild %s", *(evaluate(model, data, data.val_concepts, v) for v in (0, 1, -1)))
            torch.save({"model": model.state_dict(), "widths": model.widths, "steps": step, "scale": scale.item()}, out)
    clean, ui, wildv = (evaluate(model, data, data.val_concepts, v) for v in (0, 1, -1))
    log.info("done: %d steps in %.1f min; held-out sets name->image (200-way): clean %s | ui %s | wild %s", step, (time.time() - start) / 60, clean, ui, wildv)
    torch.save({"model": model.state_dict(), "widths": model.widths, "steps": step, "seed": seed, "minutes": (time.time() - start) / 60,
                "val_clean": clean, "val_ui": ui, "val_wild": wildv, "init": str(init) if init else None, "lr": lr, "wild": wild,
                "scale": scale.item()}, out)
    return out
