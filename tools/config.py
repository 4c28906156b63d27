"""Settings sections owned by the perception layer.

Every limit lives here with its default, in one place; the server composes these sections
into its single `Settings` object (env `SENSORIUM_<SECTION>__<FIELD>`), and passes each
section down to the code that needs it. No module reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class CaptureSettings(BaseModel):
    max_side: int = Field(1568, ge=64, le=8192, description="captures are downscaled so their longer side is at most this")
    image_format: str = Field("jpeg", pattern="^(jpeg|png)$", description="format of the preview image a capture returns")
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of capture previews")
    cache_size: int = Field(32, ge=1, le=1024, description="captures kept in memory for later calls by capture id")
    preview_max_bytes: int = Field(900_000, ge=10_000, le=1_000_000, description="ImageContent budget (Claude Desktop rejects results over 1 MB)")


class IntakeSettings(BaseModel):
    allowed_roots: list[Path] = Field(
        default_factory=lambda: [Path.home()],
        description="files are read only from inside these folders (checked after resolving symlinks)",
    )
    max_file_bytes: int = Field(50_000_000, ge=1, description="largest file or base64 payload accepted (over HTTP, base64 is also bound by SENSORIUM_HTTP__MAX_BODY_BYTES)")
    max_image_bytes: int = Field(20_000_000, ge=1, description="largest image file accepted")
    max_image_pixels: int = Field(50_000_000, ge=1, description="decompression-bomb guard")
    max_audio_seconds: float = Field(600.0, gt=0, description="longest audio clip accepted")
    max_video_seconds: float = Field(120.0, gt=0, description="longest video accepted")
    max_pdf_pages: int = Field(6, ge=1, description="most PDF pages accepted")
    max_text_chars: int = Field(32_000, ge=1, description="longest text accepted (text, instruction, note, caption)")
    max_label_chars: int = Field(
        1_000, ge=16, description="longest short string accepted: ids, titles, app, tags, labels, metadata strings"
    )
    max_path_chars: int = Field(4_096, ge=64, description="longest file path accepted")
    max_metadata_bytes: int = Field(16_000, ge=256, description="largest `metadata` of a memory, as JSON")
    max_image_side: int = Field(
        16_384, ge=64, description="longest image side accepted (read from the header, before decoding)"
    )
    max_video_frame_pixels: int = Field(
        8_900_000, ge=1, description="largest video frame accepted (4096x2160 is 8.8 million), from the stream header"
    )
    max_video_frames: int = Field(
        7_200, ge=1, description="most video frames accepted (120 s at 60 fps), from the stream header"
    )
    max_video_pixels: int = Field(
        8_000_000_000, ge=1,
        description="most decoded pixels of a whole video, frames x frame size (2 minutes of 1080p at 30 fps is 7.5 billion)",
    )
    max_total_pixels: int = Field(
        100_000_000, ge=1, description="most image pixels in one call, summed over its parts (embed_multimodal)"
    )
    max_audio_samples: int = Field(
        64_000_000, ge=1, description="most audio samples accepted (seconds x rate x channels; 600 s of 48 kHz stereo is 57.6 million)"
    )
    max_work_pixels: int = Field(
        8_300_000, ge=100_000,
        description="screenshots over this many pixels (4K is 8.3 million) are downscaled before rank_ui_elements reads them; boxes are mapped back",
    )
    handle_cache_bytes: int = Field(
        128_000_000, ge=1_000_000,
        description="memory for embedding handles (vectors, read text, images downscaled); the oldest expire first",
    )


class IndexSettings(BaseModel):
    """Long media (`index_media`): how a file is cut into windows, and how big a file may be."""

    window_seconds: float = Field(30.0, ge=2, le=120, description="length of one video/audio window (each is one memory)")
    overlap_seconds: float = Field(5.0, ge=0, le=60, description="overlap of neighbouring windows, so a phrase at a cut is whole in one")
    pdf_pages_per_window: int = Field(1, ge=1, le=6, description="PDF pages per memory (1 = hits name the page)")
    video_fps: float = Field(1.0, gt=0, le=4, description="frames per second kept from a video window")
    video_max_side: int = Field(1280, ge=160, le=3840, description="video frames are downscaled to at most this side")
    max_file_bytes: int = Field(20_000_000_000, ge=1, description="largest file index_media accepts")
    max_seconds: float = Field(43_200.0, gt=0, description="longest recording index_media accepts (12 h)")
    max_pages: int = Field(2_000, ge=1, description="most PDF pages index_media accepts")


class GeminiSettings(BaseModel):
    model: str = Field("gemini-embedding-2", description="Gemini embedding model name")
    max_batch: int = Field(100, ge=1, le=100, description="contents per batchEmbedContents request")
    concurrency: int = Field(4, ge=1, le=32, description="requests in flight at once for a large batch")
    retry_attempts: int = Field(5, ge=1, le=20, description="tries per request on rate limits and server errors")
    retry_initial_delay: float = Field(1.0, ge=0, description="seconds before the first retry (backing off exponentially after)")
    retry_max_delay: float = Field(30.0, ge=0, description="longest wait between retries, in seconds")
    timeout_seconds: float = Field(60.0, gt=0, description="timeout of one API request, in seconds")
    base_url: str | None = Field(None, description="override the API endpoint (proxies, tests)")
    # Gemini Embedding 2's documented input limits, checked before a request is sent.
    max_text_tokens: int = Field(8_192, ge=1, description="text tokens per item (estimated as UTF-8 bytes / 3, on the safe side)")
    max_images_per_item: int = Field(6, ge=1, description="images in one item (one content)")
    max_video_seconds: float = Field(120.0, gt=0, description="longest video per item (the model's limit)")
    max_audio_seconds: float = Field(180.0, gt=0, description="longest audio per item (the model's limit)")
    max_pdf_pages: int = Field(6, ge=1, description="most PDF pages per item (the model's limit)")
    max_request_bytes: int = Field(20_000_000, ge=100_000, description="inline (base64) payload per request; batches are split to stay below it")
    # Vertex AI (docs/GEMINI.md): the same model from a Google Cloud project instead of an API key.
    vertexai: bool | None = Field(
        None, description="true: reach Gemini Embedding 2 through Vertex AI; false: the Gemini API; unset: GOOGLE_GENAI_USE_VERTEXAI decides"
    )
    project: str | None = Field(None, description="Vertex AI: Google Cloud project (else GOOGLE_CLOUD_PROJECT, else the credentials' project)")
    location: str | None = Field(None, description="Vertex AI: region such as us-central1 (else GOOGLE_CLOUD_LOCATION, else global)")
    credentials_file: Path | None = Field(
        None, description="Vertex AI: service-account key JSON (else GOOGLE_APPLICATION_CREDENTIALS, else Application Default Credentials)"
    )


class VertexAccess(BaseModel):
    """Where and as whom the Gemini backend calls Vertex AI, each value with the setting it came from.

    Resolved by the server's Settings (which read the environment); `sensorium doctor` and the
    backend's status show the sources, so a user sees why Vertex AI is used and with what."""

    reason: str
    project: str | None = None
    project_source: str = "the credentials"
    location: str = "global"
    location_source: str = "default"
    credentials_file: Path | None = None
    credentials_source: str = "Application Default Credentials"


class LocalSettings(BaseModel):
    model_dir: Path | None = Field(None, description="read model files from here instead of the installed packages")
    threads: int = Field(2, ge=1, le=64, description="onnxruntime / ctranslate2 intra-op threads")
    text_batch: int = Field(32, ge=1, le=512, description="texts per text-encoder batch")
    whisper_model: Literal["base", "tiny.en"] = Field(
        "base",
        description="speech recogniser: base (WER 0.31 vs 0.42 on the dev clips, ~1.3x the time) or tiny.en (the fast option)",
    )
    whisper_beam_size: int = Field(5, ge=1, le=10, description="Whisper beam search width (1 = greedy, faster)")
    whisper_hypotheses: int = Field(
        5, ge=1, le=10,
        description="n-best hypotheses kept per spoken clip (at most the beam size): spoken queries are matched by each, by meaning and by sound",
    )
    whisper_window_s: float = Field(
        10.0, ge=5.0, le=30.0,
        description=(
            "a short clip's speech is padded to this many seconds, not Whisper's 30, before the encoder "
            "(dev set, base: WER 0.282 at 10 vs 0.284 at 30, ~1/5 of the time; 30 = Whisper's own window)"
        ),
    )
    ocr_max_side: int = Field(1600, ge=320, le=8192, description="screens are OCR'd at most this large")
    ocr_cache_size: int = Field(64, ge=0, le=4096, description="OCR results kept per process, by image content hash")
    ocr_rec_batch: int = Field(
        3, ge=1, le=64,
        description="text-line crops recognised per onnxruntime call; each batch is padded to its widest crop, so small batches pad less",
    )
    ocr_rec_lanes: int = Field(
        2, ge=1, le=16,
        description=(
            "OCR recogniser sessions reading batches side by side, `threads` split between them (at most `threads`; "
            "1 = one session with all threads). Two single-threaded lanes read screens' lines in 0.71-0.79x the time "
            "of one two-thread session on 2 cores, with identical text (bench/bench_rec_lanes.py)"
        ),
    )
    ocr_mem_arena: bool = Field(
        True, description="onnxruntime's CPU memory arena for the OCR models (RapidOCR ships it off; issue 14 measured a cold read at 0.88-0.90x the time with it on)"
    )
    ocr_spin_wait: bool = Field(
        False,
        description="let onnxruntime's worker threads (OCR, text encoder, icon reader) spin-wait between parallel sections (its "
        "default); off, a one-change re-read took 0.8x the wall time and 0.7x the CPU on a quiet 2-core machine and ~0.35x under "
        "load, a cold read 1.05x; for the encoder and icon reader, a cold rank 0.9-0.98x wall and 0.85-0.92x CPU",
    )
    ocr_history: int = Field(
        4, ge=0, le=64,
        description="recent full-screen reads kept so a capture that changed in a few rows re-detects only a band around them (0 = always whole)",
    )
    ocr_max_changed: float = Field(
        0.35, ge=0.0, le=1.0,
        description="largest share of a screen a change re-read may cover (its changed rows, then the regions re-detected around them); more and the screen is read whole",
    )
    ocr_cold_budget: int = Field(
        6000, ge=0, le=1_000_000,
        description=(
            "rank_ui_elements without candidates: recogniser columns a screen's first read may spend (labels, "
            "buttons and other free-standing lines first); the rest is read after the answer, or at once when "
            "the instruction matches nothing read (0 = read everything first)"
        ),
    )
    ocr_embed_budget: int = Field(
        16_000, ge=0, le=1_000_000,
        description=(
            "embedding an image (embed_screenshot, embed_image, ...): its vector is made from the lines a fixed rule "
            "picks (titles, labels, menus, a sample of running text) up to N recogniser columns, the rest read later; "
            "0 = from every text line. 16000 (session 10, 64 generated states and 256 revisits): seen-before within "
            "0.01 of 24000's and dev unchanged, at 2/3 of its recognition; 12000 and below recognise dev revisits "
            "less well (docs/RANKING.md)"
        ),
    )
    ocr_detector: Literal["auto", "int8", "fp32"] = Field(
        "auto",
        description=(
            "precision of OCR's text-line detector: int8 (this project's quantised copy of PP-OCR's DB model, ~0.3x "
            "the time, docs/OCR_DETECTOR.md), fp32 (RapidOCR's own), or auto: int8 where the CPU has exact int8 dot "
            "products (x86 VNNI/AMX, arm64), else fp32"
        ),
    )
    ocr_recogniser: Literal["auto", "int8", "fp32"] = Field(
        "auto",
        description=(
            "precision of OCR's text recogniser: int8 (this project's quantised copy of PP-OCR's recogniser, ~0.6x "
            "the time, lone glyphs still read by fp32, reads slightly worse: docs/OCR_RECOGNISER.md), fp32 (RapidOCR's own), or auto: int8 where the CPU "
            "has exact int8 dot products (x86 VNNI/AMX, arm64), else fp32"
        ),
    )
    text_detector: Literal["db", "hybrid"] = Field(
        "db",
        description=(
            "how OCR finds text lines: db (PP-OCR's detector on the whole screen) or hybrid (a classical "
            "detector on flat, text-like tiles and DB on the rest; docs/RANKING.md, session 5)"
        ),
    )
    clip_model_dir: Path | None = Field(
        None, description="a folder holding an image-text ONNX model (CLIP/SigLIP layout); wins over clip_model"
    )
    clip_model: str = Field(
        "auto",
        pattern=r"^(auto|off|[a-z0-9][a-z0-9._-]{0,63})$",
        description=(
            "image-text model pulled into the cache dir to use: auto (the first pulled, in registry order), "
            "off, or a name from `sensorium models list`"
        ),
    )
    clip_registry_file: Path | None = Field(
        None, description="TEST ONLY: a JSON model registry replacing the built-in one (the tests' loopback server)"
    )
    download_timeout: float = Field(
        60.0, gt=0, le=3600, description="seconds without progress before `sensorium models pull` gives up"
    )
    allow_download: bool = Field(False, description="fetch missing models from the Hugging Face hub into the cache dir")
