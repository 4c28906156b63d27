"""Short-clip speech latency: each path beside its baseline, measured in one run, interleaved.

    python bench/bench_hearing.py [--clips 8] [--json bench/results/speech.json]

For Whisper tiny.en and base, on the dev set's spoken instructions of 2 s or more (all are < 3 s):
- `baseline`: faster-whisper's `transcribe` (beam 5, VAD, 30-s window): the path before issue 15;
- `short-w30`: this project's short-clip path (VAD-trimmed speech, one decode without timestamps,
  the beam's n-best kept) in Whisper's own 30-s window (SENSORIUM_LOCAL__WHISPER_WINDOW_S=30);
- `short-w10`: the same with the speech padded to a 10-s window: the default;
- `batch4-w30`: four clips through `transcribe_many` at once (per-clip time).
Every figure is "transcribed and embedded": the MiniLM vector of the text is part of the time.
Clips are visited round-robin across configurations, so a load spike hits all of them alike;
the machine's load average is recorded beside the numbers. WER is over the clips timed here
only; `sensorium eval spoken_instructions` gives WER and hit@1 on all 121.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _wer(ref: str, hyp: str) -> tuple[int, int]:
    import re

    r, h = (re.sub(r"[^a-z0-9' ]+", " ", s.lower()).split() for s in (ref, hyp))
    row = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        diag, row[0] = row[0], i
        for j in range(1, len(h) + 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r[i - 1] != h[j - 1]))
    return row[len(h)], len(r)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SENSORIUM_EVAL_DIR", ROOT.parent / "shared" / "eval")))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="cache dir holding models/whisper-base (default: user cache)")
    args = ap.parse_args()

    import numpy as np
    from sensorium.tools.avmedia import decode_audio
    from sensorium.tools.backends.local.models import MINILM, ModelStore
    from sensorium.tools.backends.local.speech import SAMPLE_RATE, SpeechRecognizer
    from sensorium.tools.backends.local.text_encoder import TextEncoder
    from sensorium.tools.backends.local.whisper_models import MODELS, verify_folder, whisper_dir
    from sensorium.tools.config import LocalSettings

    folder = args.data / "spoken_instructions"
    items = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines() if line.strip()]
    chosen = [it for it in items if it["duration_s"] >= 2.0][: args.clips]
    audios = [decode_audio((folder / it["audio"]).read_bytes(), SAMPLE_RATE) for it in chosen]
    store = ModelStore(LocalSettings(), args.cache)
    encoder = TextEncoder(lambda: store.path(MINILM), threads=2, batch_size=32)
    encoder.encode(["warm up"])

    def recognizer(name: str, window: float) -> SpeechRecognizer:
        rec = SpeechRecognizer(whisper_dir(name, store), threads=2, window_s=window, name=name,  # type: ignore[arg-type]
                               verify=lambda f: verify_folder(f, MODELS[name], store))
        rec.load()
        return rec

    results: dict[str, Any] = {"clips": [it["id"] for it in chosen], "durations_s": [it["duration_s"] for it in chosen],
                               "load_before": os.getloadavg(), "models": {}}
    for name in ("tiny.en", "base"):
        recs = {"short-w30": recognizer(name, 30.0), "short-w10": recognizer(name, 10.0)}
        base_model = recs["short-w30"]._model  # noqa: SLF001 (the same loaded model, called the old way)

        def baseline(audio: np.ndarray) -> str:
            segs, _ = base_model.transcribe(audio, language="en", beam_size=5, vad_filter=True, condition_on_previous_text=False)
            return " ".join(s.text.strip() for s in segs)

        paths = {"baseline": baseline, **{k: (lambda a, r=r: r.transcribe(a).text) for k, r in recs.items()}}
        for fn in paths.values():  # warm-up
            fn(audios[0])
        times: dict[str, list[float]] = {k: [] for k in paths}
        errs: dict[str, list[int]] = {k: [0, 0] for k in paths}
        for it, audio in zip(chosen, audios, strict=True):
            for key, fn in paths.items():
                t0 = time.perf_counter()
                text = fn(audio)
                encoder.encode([text])
                times[key].append(time.perf_counter() - t0)
                e, w = _wer(it["transcript"], text)
                errs[key][0] += e
                errs[key][1] += w
        batch_times: list[float] = []
        for start in range(0, len(audios) - 3, 4):
            group = audios[start : start + 4]
            t0 = time.perf_counter()
            outs = recs["short-w30"].transcribe_many(group)
            encoder.encode([o.text for o in outs if not isinstance(o, Exception)])
            batch_times.append((time.perf_counter() - t0) / len(group))
        med = {k: statistics.median(v) for k, v in times.items()}
        results["models"][name] = {
            **{k: {"median_s": round(med[k], 3), "ratio_to_baseline": round(med[k] / med["baseline"], 3),
                   "wer_on_these_clips": round(errs[k][0] / max(1, errs[k][1]), 3), "times_s": [round(t, 3) for t in v]}
               for k, v in times.items()},
            "batch4-w30": {"median_s_per_clip": round(statistics.median(batch_times), 3) if batch_times else None,
                           "ratio_to_short-w30": round(statistics.median(batch_times) / med["short-w30"], 3) if batch_times else None},
        }
        print(name, json.dumps({k: v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "times_s"}
                                for k, v in results["models"][name].items()}), flush=True)
    results["load_after"] = os.getloadavg()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
