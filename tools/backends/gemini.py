"""Gemini Embedding 2 through google-genai: one Content per item, task prompts, limits, retries.

Why each piece is here:

* **One `types.Content` per item.** The SDK turns a bare list of strings or parts into ONE
  content with several parts, so ONE vector; only a list of `Content` gives one vector per
  item. The number of vectors returned is checked against the number sent, never assumed.
* **Task prompts in the text.** Gemini Embedding 2 ignores `task_type`; the task goes into
  the input text, and a wrong or missing prompt costs retrieval quality (up to ~37 nDCG
  points on some benchmarks). The forms used here are the documented ones:

  - query:    ``task: search result | query: {text}``
  - document: ``title: {title or "none"} | text: {text}``

  Sources: https://ai.google.dev/gemini-api/docs/embeddings (gemini-embedding-2 section),
  the GA post https://developers.googleblog.com/building-with-gemini-embedding-2/ (task
  prefixes such as ``task: question answering | query: {content}``), and the Vertex model
  card https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/embedding-2
  (custom task instructions such as ``task:search result``, ``task:code retrieval``).

  Media items: the prompt is always the first thing in the content. When the first part is
  text the prompt is prepended to it; otherwise it is a separate text part placed before the
  media. A query is always prompted, even a pure image or audio query, because the query
  prompt is what makes the two sides asymmetric. A document made only of media and without
  a title gets no text at all: ``title: none | text:`` with no text would only add noise to
  what the pixels or samples say. A document with a title (a window title, a file name)
  keeps it: ``title: Invoice.pdf | text:`` then the media.
* **Limits before the call.** Images PNG/JPEG (WebP/GIF/BMP converted to PNG), at most 6 per
  item; audio MP3/WAV (FLAC/OGG converted to 16 kHz mono WAV) up to 180 s; video MP4/MOV up
  to 120 s; PDF up to 6 pages; text up to 8,192 tokens; an inline request-size cap. A
  refusal from Google after an upload is slower and vaguer than one from here.
* **Retries in the SDK.** `HttpRetryOptions` retries 408/429/500/502/503/504 and transient
  connection errors with exponential backoff; the SDK retries nothing unless told to.
* **Two ways in: the Gemini API (an API key) or Vertex AI** (a Google Cloud project, a region
  and credentials found the way Google's libraries find them: a service-account key file, else
  Application Default Credentials). The SDK then posts to
  `https://{location}-aiplatform.googleapis.com/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}:embedContent`
  for one content (`aiplatform.googleapis.com` for `global`) and `:batchEmbedContents` for
  several, with `Authorization: Bearer <token>`; the vectors, prompts and limits are the same,
  so both share one embedding space and one memory.
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import httpx2
import numpy as np
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from ..config import GeminiSettings, VertexAccess
from ..errors import (
    BackendError,
    BackendUnavailable,
    InvalidInput,
    LimitExceeded,
    SensoriumError,
    UnsupportedMedia,
)
from ..media import Media, Modality
from ..regions import RegionItem, embed_crops
from .base import ALL_MODALITIES, BackendStatus, Capabilities, EmbedItem, Embedding, ProgressCallback, Role, l2_normalise, space_id

if TYPE_CHECKING:
    import google.auth.credentials
    from PIL import Image

log = logging.getLogger(__name__)

QUERY_PREFIX = "task: search result | query: "
"""Documented query prompt for retrieval (the query side of search)."""

RETRYABLE_STATUS: tuple[int, ...] = (408, 429, 500, 502, 503, 504)

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
"""The OAuth scope Vertex AI calls need (the one google-genai asks ADC for)."""

BYTES_PER_TOKEN = 3
"""Token estimate = UTF-8 bytes / 3: English runs ~4 bytes a token and CJK ~3, so this
over-counts, refusing a little early rather than letting Google refuse after the upload."""

_PART_OVERHEAD = 96  # JSON keys and quoting around one part, in bytes
_CONTENT_OVERHEAD = 160  # per request entry: "content", "model", "outputDimensionality"

_DIRECT_MIME = {"image/png", "image/jpeg", "audio/wav", "audio/mpeg", "video/mp4", "video/quicktime", "application/pdf"}
_IMAGE_TO_PNG = {"image/webp", "image/gif", "image/bmp"}
_AUDIO_TO_WAV = {"audio/flac", "audio/ogg"}


def document_prefix(title: str | None) -> str:
    """Documented document prompt; "none" stands in for a missing title, as documented."""
    clean = " ".join(title.split()) if title else ""
    return f"title: {clean or 'none'} | text: "


def prompt_parts(item: EmbedItem, role: Role) -> list[str | Media]:
    """The item's parts with the task prompt placed first (see the module docstring).

    A title only shapes documents: the documented query form has no place for one.
    """
    parts: list[str | Media] = list(item.parts)
    if role == "query":
        prefix = QUERY_PREFIX
    else:
        has_text = any(isinstance(p, str) for p in parts)
        if not has_text and not item.title:
            return parts
        prefix = document_prefix(item.title)
    first = parts[0]
    if isinstance(first, str):
        parts[0] = prefix + first
    else:
        parts.insert(0, prefix.rstrip())
    return parts


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def inline_size(data_len: int) -> int:
    """Bytes a media part occupies in the JSON request (base64 grows by 4/3)."""
    return 4 * math.ceil(data_len / 3) + _PART_OVERHEAD


@dataclass(frozen=True)
class PreparedItem:
    """One item as it will be sent: the Content and its size in the request body."""

    content: types.Content
    request_bytes: int


def plan_chunks(sizes: Sequence[int], max_items: int, max_bytes: int) -> list[list[int]]:
    """Consecutive index groups, each with at most `max_items` entries and `max_bytes` bytes.

    Order is kept so the vectors can be put back in place without bookkeeping. A single
    entry over `max_bytes` is refused earlier (prepare), so every group here is sendable.
    """
    chunks: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i, size in enumerate(sizes):
        if current and (len(current) >= max_items or used + size > max_bytes):
            chunks.append(current)
            current, used = [], 0
        current.append(i)
        used += size
    if current:
        chunks.append(current)
    return chunks


# ---------------------------------------------------------------------------------------
# Media conformance (blocking: call from a worker thread)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _image_to_png(data: bytes, where: str) -> bytes:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)  # an animated GIF/WebP is embedded by its first frame
            frame = im if im.mode in ("1", "L", "LA", "P", "RGB", "RGBA") else im.convert("RGBA")
            out = io.BytesIO()
            frame.save(out, format="PNG")
            return out.getvalue()
    except Image.DecompressionBombError as exc:
        raise LimitExceeded(f"{where}: the image has too many pixels to convert ({exc}); send a smaller image") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedMedia(f"{where}: the image could not be decoded ({exc}); send a valid PNG or JPEG") from exc


def _located(exc: SensoriumError, where: str) -> SensoriumError:
    """The same error class with the item named, so a batch failure says which item it was."""
    return type(exc)(f"{where}: {exc}")


def _seconds(data: bytes, where: str) -> float | None:
    from ..avmedia import media_duration

    try:
        return media_duration(data)
    except SensoriumError as exc:
        raise _located(exc, where) from exc


def _audio_to_wav(data: bytes, where: str) -> bytes:
    """FLAC/OGG -> 16 kHz mono 16-bit WAV: accepted by Gemini and small enough to send inline."""
    from ..avmedia import decode_audio

    try:
        samples = decode_audio(data, 16000)
    except SensoriumError as exc:
        raise _located(exc, where) from exc
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def _pdf_pages(data: bytes, where: str) -> int:
    from ..pdf import pdf_page_count  # holds the process-wide PDFium lock

    try:
        return pdf_page_count(data)
    except SensoriumError as exc:
        raise _located(exc, where) from exc


def conform_media(media: Media, settings: GeminiSettings, where: str) -> tuple[bytes, str]:
    """Bytes and MIME type Gemini accepts for this media, or a specific refusal.

    Converts what converts cheaply and losslessly enough (images to PNG, FLAC/OGG to WAV);
    refuses what would need a re-encode the caller should choose (WebM video).
    """
    mime, data = media.mime_type, media.data
    if mime in _IMAGE_TO_PNG:
        return _image_to_png(data, where), "image/png"
    if mime in _AUDIO_TO_WAV or mime in ("audio/wav", "audio/mpeg"):
        seconds = _seconds(data, where)
        if seconds is not None and seconds > settings.max_audio_seconds:
            raise LimitExceeded(
                f"{where}: the audio is {seconds:.0f} s long, Gemini Embedding 2 takes at most "
                f"{settings.max_audio_seconds:.0f} s: trim it or split it into several items"
            )
        if mime in _AUDIO_TO_WAV:
            return _audio_to_wav(data, where), "audio/wav"
        return data, mime
    if mime in ("video/mp4", "video/quicktime"):
        seconds = _seconds(data, where)
        if seconds is not None and seconds > settings.max_video_seconds:
            raise LimitExceeded(
                f"{where}: the video is {seconds:.0f} s long, Gemini Embedding 2 takes at most "
                f"{settings.max_video_seconds:.0f} s: trim it or split it into clips"
            )
        return data, mime
    if mime == "application/pdf":
        pages = _pdf_pages(data, where)
        if pages > settings.max_pdf_pages:
            raise LimitExceeded(
                f"{where}: the PDF has {pages} pages, Gemini Embedding 2 takes at most {settings.max_pdf_pages}: "
                "split it into several PDFs (one item each)"
            )
        return data, mime
    if mime in _DIRECT_MIME:
        return data, mime
    if mime == "video/webm":
        raise UnsupportedMedia(f"{where}: WebM video is not accepted by Gemini Embedding 2; convert it to MP4 or MOV")
    raise UnsupportedMedia(
        f"{where}: '{mime}' is not accepted by Gemini Embedding 2; send PNG/JPEG images, MP3/WAV audio, "
        "MP4/MOV video or PDF"
    )


def prepare_item(item: EmbedItem, role: Role, index: int, settings: GeminiSettings) -> PreparedItem:
    """Apply the prompt, conform the media and check every per-item limit. Blocking."""
    where = f"item {index}"
    parts = prompt_parts(item, role)
    images = sum(1 for p in parts if isinstance(p, Media) and p.modality is Modality.IMAGE)
    if images > settings.max_images_per_item:
        raise LimitExceeded(
            f"{where} has {images} images; Gemini Embedding 2 takes at most {settings.max_images_per_item} "
            "in one item: split them over several items"
        )
    text = "".join(p for p in parts if isinstance(p, str))
    tokens = estimate_tokens(text)
    if tokens > settings.max_text_tokens:
        raise LimitExceeded(
            f"{where}: its text is about {tokens:,} tokens (estimated as UTF-8 bytes / {BYTES_PER_TOKEN}, "
            f"on the safe side); Gemini Embedding 2 takes at most {settings.max_text_tokens:,}: "
            "shorten it or split it into several items"
        )
    out: list[types.Part] = []
    size = _CONTENT_OVERHEAD
    for n, part in enumerate(parts):
        if isinstance(part, str):
            out.append(types.Part(text=part))
            size += len(part.encode("utf-8")) + _PART_OVERHEAD
        else:
            data, mime = conform_media(part, settings, f"{where}, part {n}" if len(parts) > 1 else where)
            out.append(types.Part.from_bytes(data=data, mime_type=mime))
            size += inline_size(len(data))
    if size > settings.max_request_bytes:
        raise LimitExceeded(
            f"{where} is {_mb(size)} as sent (base64), over the {_mb(settings.max_request_bytes)} request limit: "
            "send a smaller image, a shorter clip or fewer parts"
        )
    return PreparedItem(content=types.Content(parts=out), request_bytes=size)


# ---------------------------------------------------------------------------------------


class GeminiBackend:
    """Gemini Embedding 2 behind the EmbeddingBackend protocol.

    The SDK client is created on first use, so a server without a key still starts and
    `status()` can say what is missing; `transport`/`sync_transport` replace the network
    (tests inject a fake of the REST API there).
    """

    name = "gemini"

    def __init__(
        self,
        api_key: str | None,
        dimension: int,
        settings: GeminiSettings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        sync_transport: httpx2.BaseTransport | None = None,
        vertex: VertexAccess | None = None,
        credentials: google.auth.credentials.Credentials | None = None,
    ) -> None:
        """`vertex` reaches the model through Vertex AI (the key is then unused); `credentials`
        replaces the service-account file / Application Default Credentials lookup (tests)."""
        if not 128 <= dimension <= 3072:
            raise InvalidInput(f"dimension {dimension} is outside 128-3072 (Gemini Embedding 2's range; 768 is the default)")
        self._api_key = api_key or None
        self._dimension = dimension
        self._settings = settings
        self._transport = transport
        self._sync_transport = sync_transport
        self._vertex = vertex
        self._credentials = credentials
        self._client: genai.Client | None = None
        self._client_lock = threading.Lock()

    # -- protocol ------------------------------------------------------------------

    @property
    def space(self) -> str:
        return space_id("gemini", self._settings.model, self._dimension)

    @property
    def dimension(self) -> int:
        return self._dimension

    perception_version = ""
    """Gemini reads media itself; what it reads changes only with the model, which is in the space."""
    capabilities = Capabilities(modalities=ALL_MODALITIES, online=True)

    async def embed(
        self, items: Sequence[EmbedItem], role: Role, *, progress: ProgressCallback | None = None
    ) -> list[Embedding]:
        if role not in ("query", "document"):
            raise InvalidInput(f"role must be 'query' or 'document', not {role!r}")
        client = await self._client_async()
        items = list(items)
        if not items:
            return []
        prepared = await self._prepare(items, role)
        chunks = plan_chunks([p.request_bytes for p in prepared], self._settings.max_batch, self._settings.max_request_bytes)
        results: list[np.ndarray | None] = [None] * len(chunks)
        failures: list[SensoriumError] = []
        done = 0
        limiter = anyio.CapacityLimiter(self._settings.concurrency)

        async def run(k: int, chunk: list[int], tg: anyio.abc.TaskGroup) -> None:
            nonlocal done
            async with limiter:
                try:
                    results[k] = await self._request(client, [prepared[i].content for i in chunk])
                except SensoriumError as exc:
                    failures.append(exc)
                    tg.cancel_scope.cancel()  # no point spending calls on a batch that failed
                    return
            done += len(chunk)
            if progress is not None:
                try:
                    await progress(float(done), float(len(items)), f"Gemini: {done}/{len(items)} items embedded")
                except Exception:  # a dead progress channel must not lose the embeddings
                    log.warning("progress callback failed", exc_info=True)

        async with anyio.create_task_group() as tg:
            for k, chunk in enumerate(chunks):
                tg.start_soon(run, k, chunk, tg)
        if failures:
            raise failures[0]
        vectors: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(items)
        for chunk, matrix in zip(chunks, results, strict=True):
            assert matrix is not None
            for row, i in zip(matrix, chunk, strict=True):
                vectors[i] = row
        return [Embedding(vector=v, space=self.space) for v in vectors]

    region_embedding = "crops"

    async def embed_regions(
        self, image: Image.Image, regions: Sequence[RegionItem], *, progress: ProgressCallback | None = None,
        icons: bool = True,
    ) -> list[Embedding]:
        return await embed_crops(self, image, regions, progress)

    @property
    def route(self) -> str:
        """Which service the requests go to, and why (doctor shows it)."""
        v = self._vertex
        if v is None:
            return "Gemini API (API key; no Vertex AI switch set: SENSORIUM_GEMINI__VERTEXAI / GOOGLE_GENAI_USE_VERTEXAI)"
        project = f"project {v.project} ({v.project_source})" if v.project else "project from the credentials"
        creds = f"{v.credentials_file} ({v.credentials_source})" if v.credentials_file else "Application Default Credentials"
        if self._credentials is not None:
            creds = "credentials given in code"
        return f"Vertex AI ({v.reason}): {project}, location {v.location} ({v.location_source}), credentials: {creds}"

    async def status(self) -> BackendStatus:
        """Key (or Vertex AI settings) present or not; deliberately no API call (doctor --online uses `probe`)."""
        if self._vertex is not None:
            return BackendStatus(
                name=self.name, space=self.space, ready=True,
                detail=f"{self.route}; model {self._settings.model} at {self._dimension} dimensions (not contacted)",
            )
        if self._api_key is None:
            return BackendStatus(name=self.name, space=self.space, ready=False, detail=_NO_KEY)
        return BackendStatus(
            name=self.name,
            space=self.space,
            ready=True,
            detail=f"API key present; model {self._settings.model} at {self._dimension} dimensions (not contacted)",
        )

    async def probe(self) -> BackendStatus:
        """One tiny embed call with no retries: is the model reachable with this key (or these credentials)?"""
        if self._api_key is None and self._vertex is None:
            return BackendStatus(name=self.name, space=self.space, ready=False, detail=_NO_KEY)
        content = types.Content(parts=[types.Part(text=QUERY_PREFIX + "ping")])
        once = types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))
        try:
            matrix = await self._request(await self._client_async(), [content], http_options=once, attempts=1)
        except (BackendUnavailable, BackendError, InvalidInput) as exc:
            return BackendStatus(
                name=self.name, space=self.space, ready=False, detail=f"model {self._settings.model} not reachable: {exc}"
            )
        return BackendStatus(
            name=self.name,
            space=self.space,
            ready=True,
            detail=f"model {self._settings.model} reachable; answered a {matrix.shape[1]}-dimension vector",
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aio.aclose()
            client.close()

    # -- internals -----------------------------------------------------------------

    @property
    def _service(self) -> str:
        """Who answered, for error messages: "the Gemini API" or "Vertex AI"."""
        return "the Gemini API" if self._vertex is None else "Vertex AI"

    @property
    def _service_title(self) -> str:
        return "Gemini API" if self._vertex is None else "Vertex AI"

    async def _client_async(self) -> genai.Client:
        """The client; building a Vertex AI one reads credential files (blocking), so off the loop."""
        if self._client is not None:
            return self._client
        if self._vertex is None:
            return self._require_client()
        return await anyio.to_thread.run_sync(self._require_client)

    def _require_client(self) -> genai.Client:
        if self._api_key is None and self._vertex is None:
            raise BackendUnavailable(_NO_KEY)
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client(self._api_key)
            return self._client

    def _vertex_credentials(self, v: VertexAccess) -> tuple[google.auth.credentials.Credentials, str | None]:
        """Credentials and the project they name, found as Google's libraries find them. Blocking."""
        import google.auth
        import google.auth.exceptions

        if self._credentials is not None:
            return self._credentials, None
        if v.credentials_file is not None:
            found = _credentials_from_file(v)
            if found is not None:
                return found
        try:
            creds, project = google.auth.default(scopes=[CLOUD_PLATFORM])
        except google.auth.exceptions.GoogleAuthError as exc:
            raise BackendUnavailable(
                f"no Google Cloud credentials for Vertex AI ({_short(str(exc))}): run `gcloud auth application-default login`, "
                "or set GOOGLE_APPLICATION_CREDENTIALS (or SENSORIUM_GEMINI__CREDENTIALS_FILE) to a service-account key file"
            ) from exc
        return creds, project

    def _build_client(self, api_key: str | None) -> genai.Client:
        s = self._settings
        retry = types.HttpRetryOptions(
            attempts=s.retry_attempts,
            initial_delay=s.retry_initial_delay,
            max_delay=s.retry_max_delay,
            jitter=s.retry_initial_delay,  # the SDK's default 1 s jitter would dwarf small delays
            http_status_codes=list(RETRYABLE_STATUS),
        )
        options = types.HttpOptions(
            base_url=s.base_url,
            timeout=max(1, int(s.timeout_seconds * 1000)),  # milliseconds, per attempt
            retry_options=retry,
            client_args={"transport": self._sync_transport} if self._sync_transport is not None else None,
            async_client_args={"transport": self._transport} if self._transport is not None else None,
        )
        v = self._vertex
        if v is None:
            return genai.Client(api_key=api_key, http_options=options)
        creds, found_project = self._vertex_credentials(v)
        project = v.project or found_project
        if not project:
            raise BackendUnavailable(
                "Vertex AI needs a Google Cloud project: set GOOGLE_CLOUD_PROJECT (or SENSORIUM_GEMINI__PROJECT); "
                "the credentials name none"
            )
        return genai.Client(vertexai=True, project=project, location=v.location, credentials=creds, http_options=options)

    @property
    def _deadline_seconds(self) -> float:
        """Outer bound on one request across all attempts and backoff sleeps.

        The SDK's timeout is per attempt and per phase (connect, read, ...); a server that
        trickles bytes, or a transport that ignores timeouts, could otherwise hang a tool call.
        """
        s = self._settings
        return s.retry_attempts * s.timeout_seconds + (s.retry_attempts - 1) * s.retry_max_delay + 1.0

    async def _prepare(self, items: list[EmbedItem], role: Role) -> list[PreparedItem]:
        def work() -> list[PreparedItem]:
            return [prepare_item(item, role, i, self._settings) for i, item in enumerate(items)]

        if all(isinstance(p, str) for item in items for p in item.parts):
            return work()  # text only: nothing to decode, no thread hop
        return await anyio.to_thread.run_sync(work)

    async def _request(
        self,
        client: genai.Client,
        contents: list[types.Content],
        *,
        http_options: types.HttpOptions | None = None,
        attempts: int | None = None,
    ) -> np.ndarray:
        s = self._settings
        attempts = attempts or s.retry_attempts
        config = types.EmbedContentConfig(output_dimensionality=self._dimension, http_options=http_options)
        try:
            with anyio.fail_after(self._deadline_seconds):
                response = await client.aio.models.embed_content(model=s.model, contents=contents, config=config)
        except TimeoutError as exc:
            raise BackendError(
                f"{self._service} did not answer within {self._deadline_seconds:.0f} s (timed out); retry later, "
                "raise SENSORIUM_GEMINI__TIMEOUT_SECONDS, or send fewer or smaller items"
            ) from exc
        except genai_errors.APIError as exc:
            raise self._map_api_error(exc, attempts) from exc
        except _auth_errors() as exc:  # a Vertex AI token could not be had (refresh refused, no route to the token URL)
            raise BackendUnavailable(
                f"Google refused or could not issue a token for Vertex AI ({type(exc).__name__}: {_short(str(exc))}): "
                "check the service-account key or run `gcloud auth application-default login` again"
            ) from exc
        except httpx2.TimeoutException as exc:
            raise BackendError(
                f"{self._service} timed out ({s.timeout_seconds:g} s per attempt, {attempts} attempt(s)): "
                "retry later, raise SENSORIUM_GEMINI__TIMEOUT_SECONDS, or send fewer or smaller items"
            ) from exc
        except httpx2.TransportError as exc:
            raise BackendError(
                f"could not reach {self._service} ({type(exc).__name__}: {exc}): check the network or proxy "
                "(SENSORIUM_GEMINI__BASE_URL), or use SENSORIUM_BACKEND=local"
            ) from exc
        except (genai_errors.UnknownApiResponseError, pydantic.ValidationError, json.JSONDecodeError) as exc:
            raise BackendError(f"{self._service} sent a malformed answer: {_short(str(exc))}") from exc
        except Exception as exc:  # anything else from the SDK: say so instead of a traceback
            log.exception("unexpected failure calling %s", self._service)
            raise BackendError(f"unexpected failure calling {self._service}: {type(exc).__name__}: {_short(str(exc))}") from exc
        return self._vectors(response, len(contents))

    def _vectors(self, response: types.EmbedContentResponse, sent: int) -> np.ndarray:
        embeddings = response.embeddings
        got = 0 if embeddings is None else len(embeddings)
        if embeddings is None or got != sent:
            raise BackendError(
                f"{self._service} returned {got} embeddings for {sent} items; refusing to guess which vector "
                "belongs to which item (retry; if it persists, report it)"
            )
        rows = []
        for n, emb in enumerate(embeddings):
            values = emb.values
            if not values:
                raise BackendError(f"{self._service} sent a malformed answer: embedding {n} has no values")
            v = np.asarray(values, dtype=np.float32)
            if v.ndim != 1 or v.shape[0] < self._dimension:
                raise BackendError(
                    f"{self._service} sent a malformed answer: embedding {n} has {v.shape[0]} values, "
                    f"{self._dimension} were asked for"
                )
            if not np.isfinite(v).all():
                raise BackendError(f"{self._service} sent a malformed answer: embedding {n} has non-finite values")
            rows.append(v[: self._dimension])  # Matryoshka: the leading dimensions are the smaller embedding
        matrix = np.stack(rows)
        if (np.linalg.norm(matrix, axis=1) == 0).any():
            raise BackendError(f"{self._service} sent a malformed answer: a zero vector")
        return l2_normalise(matrix)  # truncated MRL vectors are not unit length: re-normalise, always

    def _map_api_error(self, exc: genai_errors.APIError, attempts: int) -> SensoriumError:
        code = int(exc.code or 0)
        status = exc.status or ""
        message = _short(exc.message or str(exc.details))
        label = f"{code} {status}".strip()
        if code in RETRYABLE_STATUS:
            if code == 429:
                advice = (
                    "the request rate or quota of this key is exhausted: wait a minute, lower "
                    "SENSORIUM_GEMINI__CONCURRENCY, or check the key's quota in Google AI Studio"
                ) if self._vertex is None else (
                    "the project's Vertex AI quota is exhausted: wait a minute, lower "
                    "SENSORIUM_GEMINI__CONCURRENCY, or check the quota in the Google Cloud console"
                )
            else:
                advice = "Google's service is failing or overloaded: retry later, or use SENSORIUM_BACKEND=local"
            return BackendError(f"{self._service_title} answered {label} after {attempts} attempt(s): {message} — {advice}")
        details = str(exc.details)
        if code in (401, 403) and self._vertex is not None:
            return BackendUnavailable(
                f"Vertex AI refused the credentials ({label}): {message} — the account needs the Vertex AI User role "
                f"(roles/aiplatform.user) in project {self._vertex.project or '(from the credentials)'}, with the Vertex AI API enabled"
            )
        if code in (401, 403) or "API_KEY_INVALID" in details or "API key not valid" in message:
            return BackendUnavailable(
                f"Gemini API refused the API key ({label}): {message} — set a valid GEMINI_API_KEY "
                "or use SENSORIUM_BACKEND=local"
            )
        if code == 400:
            return InvalidInput(f"{self._service_title} refused the input ({label}): {message}")
        if code == 404:
            return BackendError(
                f"{self._service_title} does not know model '{self._settings.model}' ({label}): {message} — check SENSORIUM_GEMINI__MODEL"
                + ("" if self._vertex is None else
                   f", and that project {self._vertex.project or '(from the credentials)'} can use it in location {self._vertex.location} "
                   f"({self._vertex.location_source}; see the model's page on Vertex AI for its locations)")
            )
        return BackendError(f"{self._service_title} answered {label}: {message}")


_NO_KEY = (
    "no Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY / SENSORIUM_GEMINI_API_KEY) "
    "or use SENSORIUM_BACKEND=local"
)


def _credentials_from_file(v: VertexAccess) -> tuple[google.auth.credentials.Credentials, str | None] | None:
    """A service-account key or gcloud user credentials from the file, loaded by the loader of its own
    type (google-auth warns against loading any type blindly). Another type (workload identity
    federation) named by GOOGLE_APPLICATION_CREDENTIALS: None, and Application Default Credentials,
    which read that same variable, load it. Blocking."""
    path = v.credentials_file
    assert path is not None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM]), info.get("project_id")
        if kind == "authorized_user":
            from google.oauth2 import credentials as user_credentials

            return user_credentials.Credentials.from_authorized_user_info(info, scopes=[CLOUD_PLATFORM]), info.get("quota_project_id")
    except (OSError, ValueError, AttributeError) as exc:
        raise BackendUnavailable(
            f"Vertex AI credentials file {path} ({v.credentials_source}) could not be used: {_short(str(exc))} "
            "— point it at a service-account key JSON from the Google Cloud console"
        ) from exc
    if v.credentials_source == "GOOGLE_APPLICATION_CREDENTIALS":
        return None
    raise BackendUnavailable(
        f"Vertex AI credentials file {path} ({v.credentials_source}) is of type {kind!r}; this setting takes a service-account "
        "key or gcloud user credentials: for other kinds set GOOGLE_APPLICATION_CREDENTIALS instead (Application Default Credentials)"
    )


def _auth_errors() -> tuple[type[BaseException], ...]:
    import google.auth.exceptions

    return (google.auth.exceptions.GoogleAuthError,)


def _short(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
