"""A fake of the Gemini REST API's batchEmbedContents, as an httpx2 MockTransport handler.

It checks what google-genai really sends (measured with the SDK, see STACK.md): `POST
/v1/models/<model>:batchEmbedContents`, the `x-goog-api-key` header, a body of
`{"requests": [{"content": {"parts": [...]}, "outputDimensionality": N, "model":
"models/<model>"}, ...]}` with inline media as `{"inline_data": {"data": <URL-safe base64>,
"mime_type": ...}}`, and answers as the API does: `{"embeddings": [{"values": [...]}]}`.

Vectors are deterministic and carry meaning the way a real model's do, a little: text is
feature-hashed words and character trigrams (equal text -> equal vector; texts sharing words
-> closer), media is a pseudo-random vector seeded by its bytes. The full 3072-dimension
vector is unit length and the answer is its leading `outputDimensionality` values, so,
like the real API's Matryoshka truncation, answers below 3072 dimensions are NOT unit length.

Failures are scripted per request: `fake.script(429, 503, "malformed", ...)` queues what the
next requests get; `fake.always = 429` answers every request so. Every request is recorded
(`fake.requests`), and a request of the wrong shape gets a 400 plus an entry in
`fake.shape_errors`, which tests assert is empty.

Usage::

    fake = FakeGemini()
    backend = GeminiBackend("test-key", 768, settings, transport=fake.transport())

Vertex AI (`FakeGemini(vertex_project="p", vertex_location="us-central1")`): what google-genai
sends there, also measured with the SDK: `POST https://{location}-aiplatform.googleapis.com`
(`aiplatform.googleapis.com` for `global`) `/v1beta1/projects/{p}/locations/{location}/publishers/
google/models/<model>:embedContent` for one content, body `{"content": {...}, "embedContentConfig":
{"outputDimensionality": N}}`, answered `{"embedding": {"values": [...]}}`; `:batchEmbedContents` for
several, body `{"requests": [{"content", "embedContentConfig"}, ...]}` (no per-request model),
answered `{"embeddings": [...]}`; `Authorization: Bearer <token>` instead of the key; inline media
as `inlineData`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import numpy as np

NATIVE_DIM = 3072
TEST_KEY = "test-key"

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Slow:
    """Answer after `seconds` (a read timeout shorter than that raises ReadTimeout, like httpx)."""

    seconds: float


@dataclass
class WrongCount:
    """Answer with `delta` more (or fewer) embeddings than requests."""

    delta: int = -1


@dataclass
class Error:
    """An error answer in Google's shape with a chosen message (an int action uses a stock one)."""

    code: int
    message: str
    status: str | None = None


@dataclass
class Raw:
    """Answer with exactly this status and body (malformed bodies, proxies' HTML pages...)."""

    status: int
    body: bytes
    content_type: str = "application/json"


Action = int | str | Slow | WrongCount | Error | Raw
"""An int is an HTTP error status in Google's error shape; "malformed" is a 200 that is not
JSON; "no-values" a 200 whose embeddings lack values; "ok" a normal answer."""


@dataclass
class Recorded:
    method: str
    url: str
    path: str
    headers: dict[str, str]
    body: Any
    timeout: dict[str, float] | None

    @property
    def requests(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and "content" in self.body:  # Vertex AI's embedContent: one content
            return [self.body]
        return list(self.body.get("requests", [])) if isinstance(self.body, dict) else []

    def texts(self) -> list[list[str]]:
        """Per embedded content, its text parts in order."""
        return [[p["text"] for p in r["content"]["parts"] if "text" in p] for r in self.requests]


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_STATUS_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}


def google_error(code: int, message: str | None = None, status: str | None = None) -> httpx2.Response:
    """An error answer in the shape Google's APIs use."""
    body = {
        "error": {
            "code": code,
            "message": message or _STATUS_MESSAGES.get(code, f"error {code}"),
            "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }
    return httpx2.Response(code, json=body)


def decode_inline(data: str) -> bytes:
    """Bytes of an inline_data.data field: protobuf's JSON mapping takes standard or URL-safe
    base64, and google-genai sends URL-safe."""
    return base64.b64decode(data.replace("-", "+").replace("_", "/"), validate=True)


@functools.lru_cache(maxsize=65_536)
def _token_vector(token: str) -> np.ndarray:
    """A dense pseudo-random direction per token, so every truncation keeps some meaning."""
    seed = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(NATIVE_DIM)
    v.flags.writeable = False
    return v


def text_vector(text: str) -> np.ndarray:
    v = np.zeros(NATIVE_DIM, dtype=np.float64)
    for word in _WORD.findall(text.lower()):
        v += 2.0 * _token_vector("w:" + word)
        padded = f"#{word}#"
        for k in range(len(padded) - 2):
            v += 0.5 * _token_vector("c:" + padded[k : k + 3])
    return v


def media_vector(data: bytes) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(NATIVE_DIM) * 3.0


def content_vector(parts: list[dict[str, Any]]) -> np.ndarray:
    """The full, unit-length 3072-d vector of one content (before truncation)."""
    v = np.zeros(NATIVE_DIM, dtype=np.float64)
    for p in parts:
        if "text" in p:
            v += text_vector(p["text"])
        else:
            v += media_vector(decode_inline((p.get("inline_data") or p["inlineData"])["data"]))
    n = np.linalg.norm(v)
    return v / n if n else v


@dataclass
class FakeGemini:
    api_key: str = TEST_KEY
    model: str = "gemini-embedding-2"
    api_version: str = "v1"
    max_requests_per_batch: int = 100
    delay: float = 0.0
    """Seconds every answer takes (lets tests observe requests in flight)."""
    always: Action | None = None
    """When set, every request gets this action (after the script runs out)."""
    vertex_project: str | None = None
    """When set, the fake is Vertex AI for this project (see the module docstring), not the Gemini API."""
    vertex_location: str = "us-central1"
    vertex_token: str = "ya29.test-token"
    """The bearer token Vertex AI accepts (what the credentials must have obtained)."""

    requests: list[Recorded] = field(default_factory=list)
    shape_errors: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _script: list[Action] = field(default_factory=list)

    # -- programming -----------------------------------------------------------------

    def script(self, *actions: Action) -> FakeGemini:
        """Queue what the next requests get, one action per request, in order."""
        self._script.extend(actions)
        return self

    def transport(self) -> httpx2.MockTransport:
        """For `HttpOptions(async_client_args={"transport": ...})` (the SDK's `client.aio`)."""
        return httpx2.MockTransport(self.handle_async)

    def sync_transport(self) -> httpx2.MockTransport:
        """For `HttpOptions(client_args={"transport": ...})` (the SDK's sync client)."""
        return httpx2.MockTransport(self.handle_sync)

    @property
    def embedded_contents(self) -> int:
        return sum(len(r.requests) for r in self.requests)

    # -- handling --------------------------------------------------------------------

    async def handle_async(self, request: httpx2.Request) -> httpx2.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            action, recorded = self._receive(request)
            wait = action.seconds if isinstance(action, Slow) else self.delay
            if wait:
                read_timeout = (recorded.timeout or {}).get("read")
                if read_timeout is not None and wait > read_timeout:
                    await anyio.sleep(read_timeout)
                    raise httpx2.ReadTimeout("fake Gemini: no answer within the read timeout", request=request)
                await anyio.sleep(wait)
            return self._answer(action, recorded)
        finally:
            self.in_flight -= 1

    def handle_sync(self, request: httpx2.Request) -> httpx2.Response:
        action, recorded = self._receive(request)
        wait = action.seconds if isinstance(action, Slow) else self.delay
        if wait:
            read_timeout = (recorded.timeout or {}).get("read")
            if read_timeout is not None and wait > read_timeout:
                time.sleep(read_timeout)
                raise httpx2.ReadTimeout("fake Gemini: no answer within the read timeout", request=request)
            time.sleep(wait)
        return self._answer(action, recorded)

    def _receive(self, request: httpx2.Request) -> tuple[Action, Recorded]:
        try:
            body: Any = json.loads(request.content or b"null")
        except json.JSONDecodeError:
            body = None
        recorded = Recorded(
            method=request.method,
            url=str(request.url),
            path=request.url.path,
            headers=dict(request.headers),
            body=body,
            timeout=request.extensions.get("timeout"),
        )
        self.requests.append(recorded)
        if self._script:
            action: Action = self._script.pop(0)
        elif self.always is not None:
            action = self.always
        else:
            action = "ok"
        return action, recorded

    def _answer(self, action: Action, rec: Recorded) -> httpx2.Response:
        if isinstance(action, int):
            return google_error(action)
        if isinstance(action, Error):
            return google_error(action.code, action.message, action.status)
        if isinstance(action, Raw):
            return httpx2.Response(action.status, content=action.body, headers={"content-type": action.content_type})
        if action == "malformed":
            return httpx2.Response(200, content=b'{"embeddings": [{"values": [0.1, 0.2', headers={"content-type": "application/json"})
        # A real request is validated before it is answered, as Google does.
        problem = self._validate(rec)
        if problem is not None:
            return problem
        vectors = [self._vector(r) for r in rec.requests]
        if action == "no-values":
            return httpx2.Response(200, json={"embeddings": [{} for _ in vectors]})
        if isinstance(action, WrongCount):
            vectors = vectors[: len(vectors) + action.delta] if action.delta < 0 else vectors + vectors[: action.delta]
        if self.vertex_project is not None and rec.path.endswith(":embedContent"):
            return httpx2.Response(200, json={"embedding": {"values": vectors[0]} if vectors else {}})
        return httpx2.Response(200, json={"embeddings": [{"values": v} for v in vectors]})

    def _vector(self, req: dict[str, Any]) -> list[float]:
        dim = int(req.get("outputDimensionality") or req.get("embedContentConfig", {}).get("outputDimensionality") or NATIVE_DIM)
        return [float(x) for x in content_vector(req["content"]["parts"])[:dim]]

    def _shape(self, message: str) -> httpx2.Response:
        self.shape_errors.append(message)
        return google_error(400, message)

    def _validate_vertex(self, rec: Recorded) -> httpx2.Response | None:
        loc = self.vertex_location
        host = "aiplatform.googleapis.com" if loc == "global" else f"{loc}-aiplatform.googleapis.com"
        base = f"/v1beta1/projects/{self.vertex_project}/locations/{loc}/publishers/google/models/{self.model}"
        if rec.method != "POST":
            return self._shape(f"method {rec.method}, expected POST")
        got_host = rec.url.split("/")[2]
        if got_host != host or rec.path not in (base + ":embedContent", base + ":batchEmbedContents"):
            self.shape_errors.append(f"url {rec.url}, expected https://{host}{base}:embedContent or :batchEmbedContents")
            return google_error(404, f"Publisher Model `{rec.path}` was not found or your project does not have access to it.")
        if "x-goog-api-key" in rec.headers:
            return self._shape("Vertex AI with a project is called with a bearer token, not an API key")
        if rec.headers.get("authorization") != f"Bearer {self.vertex_token}":
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token.")
        body = rec.body
        if rec.path.endswith(":embedContent"):
            if not isinstance(body, dict) or set(body) - {"content", "embedContentConfig"}:
                return self._shape(f"embedContent body has fields {sorted(body) if isinstance(body, dict) else body!r}, expected content, embedContentConfig")
            requests = [body]
        else:
            if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
                return self._shape("batchEmbedContents body must be {'requests': [...]} with at least one request")
            if len(body["requests"]) > self.max_requests_per_batch:
                return self._shape(f"at most {self.max_requests_per_batch} requests can be in one batch, got {len(body['requests'])}")
            requests = body["requests"]
        for n, req in enumerate(requests):
            where = f"requests[{n}]"
            if set(req) - {"content", "embedContentConfig"}:
                return self._shape(f"{where} has fields {sorted(req)}, expected content and embedContentConfig")
            dim = req.get("embedContentConfig", {}).get("outputDimensionality")
            if dim is not None and (not isinstance(dim, int) or not 128 <= dim <= NATIVE_DIM):
                return self._shape(f"{where}.embedContentConfig.outputDimensionality {dim!r} is outside 128-{NATIVE_DIM}")
            problem = self._validate_parts(req, where, inline_key="inlineData")
            if problem is not None:
                return problem
        return None

    def _validate_parts(self, req: dict[str, Any], where: str, inline_key: str) -> httpx2.Response | None:
        content = req.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            return self._shape(f"{where}.content.parts must be a non-empty list")
        for k, part in enumerate(parts):
            keys = set(part) - {"thought", "thoughtSignature"}
            if keys == {"text"}:
                if not isinstance(part["text"], str) or not part["text"]:
                    return self._shape(f"{where}.content.parts[{k}].text must be a non-empty string")
            elif keys == {inline_key}:
                blob = part[inline_key]
                if not isinstance(blob, dict) or not blob.get("mime_type") or "data" not in blob:
                    return self._shape(f"{where}.content.parts[{k}].{inline_key} needs data and mime_type")
                try:
                    decode_inline(blob["data"])
                except (binascii.Error, ValueError, TypeError):
                    return self._shape(f"{where}.content.parts[{k}].{inline_key}.data is not base64")
            else:
                return self._shape(f"{where}.content.parts[{k}] has fields {sorted(part)}, expected text or {inline_key}")
        return None

    def _validate(self, rec: Recorded) -> httpx2.Response | None:
        if self.vertex_project is not None:
            return self._validate_vertex(rec)
        expected_path = f"/{self.api_version}/models/{self.model}:batchEmbedContents"
        if rec.method != "POST":
            return self._shape(f"method {rec.method}, expected POST")
        if rec.path != expected_path:
            self.shape_errors.append(f"path {rec.path}, expected {expected_path}")
            return google_error(404, f"models/{rec.path} is not found for API version {self.api_version}")
        key = rec.headers.get("x-goog-api-key")
        if key != self.api_key:
            return google_error(400, "API key not valid. Please pass a valid API key.")
        body = rec.body
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list) or not body["requests"]:
            return self._shape("body must be {'requests': [...]} with at least one request")
        if len(body["requests"]) > self.max_requests_per_batch:
            return self._shape(f"at most {self.max_requests_per_batch} requests can be in one batch, got {len(body['requests'])}")
        for n, req in enumerate(body["requests"]):
            where = f"requests[{n}]"
            if req.get("model") != f"models/{self.model}":
                return self._shape(f"{where}.model is {req.get('model')!r}, expected 'models/{self.model}'")
            dim = req.get("outputDimensionality")
            if dim is not None and (not isinstance(dim, int) or not 128 <= dim <= NATIVE_DIM):
                return self._shape(f"{where}.outputDimensionality {dim!r} is outside 128-{NATIVE_DIM}")
            content = req.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not parts:
                return self._shape(f"{where}.content.parts must be a non-empty list")
            for k, part in enumerate(parts):
                keys = set(part) - {"thought", "thoughtSignature"}
                if keys == {"text"}:
                    if not isinstance(part["text"], str) or not part["text"]:
                        return self._shape(f"{where}.content.parts[{k}].text must be a non-empty string")
                elif keys == {"inline_data"}:
                    blob = part["inline_data"]
                    if not isinstance(blob, dict) or not blob.get("mime_type") or "data" not in blob:
                        return self._shape(f"{where}.content.parts[{k}].inline_data needs data and mime_type")
                    try:
                        decode_inline(blob["data"])
                    except (binascii.Error, ValueError, TypeError):
                        return self._shape(f"{where}.content.parts[{k}].inline_data.data is not base64")
                else:
                    return self._shape(f"{where}.content.parts[{k}] has fields {sorted(part)}, expected text or inline_data")
        return None
