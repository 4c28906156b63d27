"""Gemini Embedding 2 through Vertex AI: settings, request shape, credentials, doctor.

Only Google's servers are faked: Vertex AI by tests/gemini_fake.py (as the SDK's httpx2
transport), the OAuth token endpoint by a loopback HTTP server that checks the service account's
signed JWT with the public half of a key generated here. google-genai, google-auth and the
backend run for real; nothing reaches Google.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import google.auth.jwt
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gemini_fake import FakeGemini, content_vector
from google.oauth2.credentials import Credentials as TokenCredentials
from PIL import Image
from sensorium.server.settings import Settings
from sensorium.tools.backends.base import EmbedItem
from sensorium.tools.backends.factory import open_backend
from sensorium.tools.backends.gemini import QUERY_PREFIX, GeminiBackend
from sensorium.tools.config import GeminiSettings, VertexAccess
from sensorium.tools.errors import BackendError, BackendUnavailable
from sensorium.tools.media import Media
from server_support import subprocess_env

FAST = dict(retry_attempts=2, retry_initial_delay=0.0, retry_max_delay=0.0, timeout_seconds=5.0)


def vertex_backend(fake: FakeGemini, access: VertexAccess, credentials=None, **settings: object) -> GeminiBackend:
    return GeminiBackend(
        None, 768, GeminiSettings(**{**FAST, **settings}), transport=fake.transport(), vertex=access, credentials=credentials
    )


# --------------------------------------------------------------------------- settings


def test_nothing_set_is_the_gemini_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    s = Settings()
    assert s.vertex_access is None and s.resolved_backend == "local"


def test_googles_variables_choose_vertex_ai(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    s = Settings()
    v = s.vertex_access
    assert v is not None and s.resolved_backend == "gemini"  # auto: Vertex AI needs no API key
    assert v.reason == "GOOGLE_GENAI_USE_VERTEXAI=true"
    assert (v.project, v.project_source) == ("env-project", "GOOGLE_CLOUD_PROJECT")
    assert (v.location, v.location_source) == ("europe-west4", "GOOGLE_CLOUD_LOCATION")
    assert (v.credentials_file, v.credentials_source) == (tmp_path / "sa.json", "GOOGLE_APPLICATION_CREDENTIALS")


def test_sensorium_settings_win_over_googles_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    monkeypatch.setenv("SENSORIUM_GEMINI__PROJECT", "mine")
    monkeypatch.setenv("SENSORIUM_GEMINI__LOCATION", "us-east4")
    v = Settings().vertex_access
    assert v is not None and (v.project, v.project_source) == ("mine", "SENSORIUM_GEMINI__PROJECT")
    assert (v.location, v.location_source) == ("us-east4", "SENSORIUM_GEMINI__LOCATION")
    assert v.credentials_file is None and v.credentials_source == "Application Default Credentials"
    monkeypatch.setenv("SENSORIUM_GEMINI__VERTEXAI", "false")  # an explicit no beats Google's yes
    assert Settings().vertex_access is None


def test_explicit_vertex_without_location_is_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSORIUM_GEMINI__VERTEXAI", "1")
    v = Settings().vertex_access
    assert v is not None and v.reason == "SENSORIUM_GEMINI__VERTEXAI=true"
    assert (v.location, v.location_source) == ("global", "default") and v.project is None


# --------------------------------------------------------------------------- request shape


async def test_one_item_is_embedcontent_several_are_batchembedcontents_on_the_regional_endpoint() -> None:
    fake = FakeGemini(vertex_project="proj-1", vertex_location="us-central1")
    backend = vertex_backend(fake, VertexAccess(reason="test", project="proj-1", location="us-central1"),
                             credentials=TokenCredentials(token=fake.vertex_token))
    [one] = await backend.embed([EmbedItem.of("find the save button")], "query")
    three = await backend.embed([EmbedItem.of("alpha"), EmbedItem.of("beta"), EmbedItem.of("alpha")], "document")
    await backend.aclose()
    assert fake.shape_errors == [], "the backend sent a request Vertex AI would reject"
    first, second = fake.requests
    base = "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-embedding-2"
    assert first.url == base + ":embedContent" and second.url == base + ":batchEmbedContents"
    assert first.headers["authorization"] == f"Bearer {fake.vertex_token}" and "x-goog-api-key" not in first.headers
    assert first.body == {"content": {"parts": [{"text": QUERY_PREFIX + "find the save button"}]},
                          "embedContentConfig": {"outputDimensionality": 768}}
    assert [r["content"]["parts"][0]["text"] for r in second.body["requests"]] == [
        "title: none | text: alpha", "title: none | text: beta", "title: none | text: alpha"]
    assert all(r["embedContentConfig"] == {"outputDimensionality": 768} for r in second.body["requests"])
    # the same vectors as the Gemini API path: same prompts, truncated and re-normalised
    want = content_vector([{"text": QUERY_PREFIX + "find the save button"}])[:768]
    assert np.allclose(one.vector, want / np.linalg.norm(want), atol=1e-5)
    assert len(three) == 3 and np.allclose(three[0].vector, three[2].vector) and not np.allclose(three[0].vector, three[1].vector)
    assert one.space == three[0].space == "gemini/gemini-embedding-2@768"  # one memory for both routes


async def test_global_location_uses_the_global_host_and_media_goes_inline() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 120, 200)).save(buf, "PNG")
    fake = FakeGemini(vertex_project="p2", vertex_location="global")
    backend = vertex_backend(fake, VertexAccess(reason="test", project="p2"), credentials=TokenCredentials(token=fake.vertex_token))
    await backend.embed([EmbedItem.of(Media.from_bytes(buf.getvalue()), "a blue square")], "document")
    await backend.aclose()
    assert fake.shape_errors == []
    [rec] = fake.requests
    assert rec.url.startswith("https://aiplatform.googleapis.com/v1beta1/projects/p2/locations/global/")
    parts = rec.body["content"]["parts"]
    assert parts[0] == {"text": "title: none | text:"} and parts[2] == {"text": "a blue square"}
    assert parts[1]["inlineData"]["mime_type"] == "image/png"


async def test_vertex_refusing_the_account_says_which_role_it_needs() -> None:
    fake = FakeGemini(vertex_project="proj-1", vertex_location="us-central1").script(403)
    backend = vertex_backend(fake, VertexAccess(reason="test", project="proj-1", location="us-central1"),
                             credentials=TokenCredentials(token=fake.vertex_token))
    with pytest.raises(BackendUnavailable, match=r"roles/aiplatform.user.*proj-1"):
        await backend.embed([EmbedItem.of("x")], "query")
    wrong = vertex_backend(fake, VertexAccess(reason="test", project="proj-1", location="us-central1"),
                           credentials=TokenCredentials(token="stale"))
    with pytest.raises(BackendUnavailable, match="Vertex AI refused the credentials"):
        await wrong.embed([EmbedItem.of("x")], "query")


async def test_errors_name_vertex_ai_and_what_to_check_there() -> None:
    fake = FakeGemini(vertex_project="proj-1", vertex_location="us-central1").script(429, 429)
    backend = vertex_backend(fake, VertexAccess(reason="test", project="proj-1", location="us-central1"),
                             credentials=TokenCredentials(token=fake.vertex_token))
    with pytest.raises(BackendError, match=r"Vertex AI answered 429 RESOURCE_EXHAUSTED after 2 attempt.*Google Cloud console"):
        await backend.embed([EmbedItem.of("x")], "query")
    elsewhere = vertex_backend(fake, VertexAccess(reason="test", project="proj-1", location="asia-south1", location_source="GOOGLE_CLOUD_LOCATION"),
                               credentials=TokenCredentials(token=fake.vertex_token))
    with pytest.raises(BackendError, match=r"Vertex AI does not know model 'gemini-embedding-2'.*location asia-south1 \(GOOGLE_CLOUD_LOCATION"):
        await elsewhere.embed([EmbedItem.of("x")], "query")


# --------------------------------------------------------------------------- credentials


GRANT_AUDIENCE = "https://oauth2.googleapis.com/token"
"""What a service account's signed grant names as its audience (google-auth signs for Google's token URL
whatever token_uri the key file gives; the grant is still posted to token_uri)."""


class TokenEndpoint:
    """Google's OAuth token endpoint for service accounts, on loopback: checks the signed JWT grant."""

    def __init__(self, public_pem: bytes, token: str) -> None:
        self.public_pem, self.token = public_pem, token
        self.grants: list[dict] = []
        self.errors: list[str] = []
        self.refuse = False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                try:
                    claims = google.auth.jwt.decode(form["assertion"][0], certs={"k1": endpoint.public_pem.decode()}, audience=GRANT_AUDIENCE)
                except ValueError as exc:  # a bad signature, audience or expiry: Google answers invalid_grant
                    endpoint.errors.append(str(exc))
                    claims = None
                if claims is not None:
                    endpoint.grants.append({"grant_type": form["grant_type"][0], **claims})
                status, body = (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}) \
                    if endpoint.refuse or claims is None else (200, {"access_token": endpoint.token, "expires_in": 3600, "token_type": "Bearer"})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, TokenEndpoint]]:
    """A service-account key file (RSA key made here) whose token_uri is the loopback endpoint."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    endpoint = TokenEndpoint(public_pem, "ya29.from-the-service-account")
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "sa-project", "private_key_id": "k1", "private_key": private_pem.decode(),
        "client_email": "sensorium-test@sa-project.iam.gserviceaccount.com", "client_id": "1", "token_uri": endpoint.url,
    }))
    yield path, endpoint
    endpoint.close()


async def test_a_service_account_file_from_googles_variable_gets_a_token_and_names_the_project(
    service_account: tuple[Path, TokenEndpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, endpoint = service_account
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    settings = Settings()
    fake = FakeGemini(vertex_project="sa-project", vertex_location="us-central1", vertex_token=endpoint.token)
    backend = GeminiBackend(None, 768, GeminiSettings(**FAST), transport=fake.transport(), vertex=settings.vertex_access)
    status = await backend.status()
    assert status.ready and "Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=true)" in status.detail and str(path) in status.detail
    vectors = await backend.embed([EmbedItem.of("a"), EmbedItem.of("b")], "query")
    await backend.embed([EmbedItem.of("c")], "query")
    await backend.aclose()
    assert len(vectors) == 2 and fake.shape_errors == []
    assert endpoint.errors == []
    [grant] = endpoint.grants  # one token for both calls: refreshed only when it expires
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant["iss"] == "sensorium-test@sa-project.iam.gserviceaccount.com"
    assert grant["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert all("/projects/sa-project/" in r.url for r in fake.requests)  # the project came from the key file


async def test_a_refused_grant_and_a_bad_key_file_are_specific(service_account: tuple[Path, TokenEndpoint], tmp_path: Path) -> None:
    path, endpoint = service_account
    endpoint.refuse = True
    fake = FakeGemini(vertex_project="sa-project")
    backend = vertex_backend(fake, VertexAccess(reason="test", location="us-central1", credentials_file=path,
                                                credentials_source="GOOGLE_APPLICATION_CREDENTIALS"))
    with pytest.raises(BackendUnavailable, match="could not issue a token for Vertex AI.*invalid_grant"):
        await backend.embed([EmbedItem.of("x")], "query")
    assert fake.requests == []  # nothing went to Vertex AI without a token

    bad = tmp_path / "not-a-key.json"
    bad.write_text('{"type": "service_account"}')
    broken = vertex_backend(fake, VertexAccess(reason="test", credentials_file=bad, credentials_source="SENSORIUM_GEMINI__CREDENTIALS_FILE"))
    with pytest.raises(BackendUnavailable, match=r"not-a-key.json \(SENSORIUM_GEMINI__CREDENTIALS_FILE\) could not be used"):
        await broken.embed([EmbedItem.of("x")], "query")


async def test_no_project_anywhere_says_what_to_set() -> None:
    fake = FakeGemini(vertex_project="p")
    creds = TokenCredentials(token="t")  # credentials that name no project (like a user's gcloud login without one)
    backend = vertex_backend(fake, VertexAccess(reason="test"), credentials=creds)
    with pytest.raises(BackendUnavailable, match="GOOGLE_CLOUD_PROJECT"):
        await backend.embed([EmbedItem.of("x")], "query")


def test_the_factory_passes_vertex_on() -> None:
    backend = open_backend("gemini", gemini=GeminiSettings(), vertex=VertexAccess(reason="r", project="p"))
    assert isinstance(backend, GeminiBackend) and backend.route.startswith("Vertex AI (r): project p")


# --------------------------------------------------------------------------- doctor


def _doctor_rows(tmp_path: Path, **env: str) -> tuple[int, dict[str, tuple[str, str]]]:
    import subprocess
    import sys

    e = subprocess_env(tmp_path, backend="auto", COLUMNS="400", **env)
    e.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-m", "sensorium.server.cli", "doctor"], env=e, capture_output=True, text=True, timeout=300)
    rows = {}
    for line in r.stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == 3 and cells[0] and cells[0] != "check":
            rows[cells[0]] = (cells[1], cells[2])
    return r.returncode, rows


def test_doctor_says_vertex_ai_and_why(service_account: tuple[Path, TokenEndpoint], tmp_path: Path) -> None:
    path, _ = service_account
    code, rows = _doctor_rows(tmp_path, GOOGLE_GENAI_USE_VERTEXAI="true", GOOGLE_CLOUD_PROJECT="proj-9",
                              GOOGLE_APPLICATION_CREDENTIALS=str(path))
    status, detail = rows["gemini route"]
    assert status == "ok" and detail.startswith("Vertex AI, because GOOGLE_GENAI_USE_VERTEXAI=true")
    assert "project proj-9 (GOOGLE_CLOUD_PROJECT)" in detail and "location global (default)" in detail
    assert f"key file {path} (GOOGLE_APPLICATION_CREDENTIALS)" in detail
    assert rows["backend (gemini)"][0] == "ok" and "gemini api key" not in rows
    assert code == 0


def test_doctor_says_gemini_api_and_why(tmp_path: Path) -> None:
    code, rows = _doctor_rows(tmp_path, GEMINI_API_KEY="k")
    status, detail = rows["gemini route"]
    assert status == "ok" and detail.startswith("Gemini API with the API key, because no Vertex AI switch is on")
    assert rows["gemini api key"] == ("ok", "set")
