"""The one Settings object, built at start and passed down (no module reads env on its own).

Sections come from the layers that own them; env names are `SENSORIUM_<FIELD>` for the
top-level fields and `SENSORIUM_<SECTION>__<FIELD>` for a section's (e.g.
`SENSORIUM_CAPTURE__MAX_SIDE=1280`). The Gemini key is read from `GEMINI_API_KEY` or
`GOOGLE_API_KEY` as Google's own tools do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..memory.config import MemorySettings
from ..tools.config import CaptureSettings, GeminiSettings, IndexSettings, IntakeSettings, LocalSettings, VertexAccess
from .env_source import FriendlyEnvSource

BackendName = Literal["auto", "gemini", "local", "hashing"]


MIN_TOKEN_CHARS = 16
"""A bearer token shorter than this (or of fewer than MIN_TOKEN_DISTINCT different characters) is refused:
the token is the only thing between the network and this screen, and `secrets.token_urlsafe(32)` costs nothing."""
MIN_TOKEN_DISTINCT = 6
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: what an Authorization header can carry


class HttpSettings(BaseModel):
    """A section model, not a BaseSettings: only `SENSORIUM_HTTP__*` may set it. (As a BaseSettings with no
    prefix it also read bare `HOST`, `PORT` and `TOKEN`, which other software sets: issue 18.)"""

    host: str = Field("127.0.0.1", description="HTTP bind address; a non-loopback address requires a token")
    port: int = Field(8765, ge=0, le=65535, description="HTTP port")
    token: SecretStr | None = Field(
        None,
        description=(
            f"bearer token required on every HTTP request when set: at least {MIN_TOKEN_CHARS} visible ASCII "
            "characters, no spaces (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        ),
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "extra Host names (or IPs) clients may use to reach the server, besides the bind address, loopback "
            "names and this machine's hostname; requests naming any other host are refused (DNS rebinding)"
        ),
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=65_536, le=200_000_000,
        description=(
            "largest HTTP request body; base64 grows a file by 4/3, so the default (4 MiB) carries files up to "
            "~3 MB inline: send a path for larger ones, or raise this"
        ),
    )

    @field_validator("token", mode="before")
    @classmethod
    def _token_strength(cls, v: object) -> object:
        raw = v.get_secret_value() if isinstance(v, SecretStr) else v
        if raw is None or (isinstance(raw, str) and raw == ""):
            return None
        if not isinstance(raw, str):
            return v
        if not raw.strip():
            raise ValueError("the token is only whitespace: set a real secret or unset it")
        if not _TOKEN_CHARS.match(raw):
            raise ValueError("the token may hold only visible ASCII characters (no spaces, tabs or newlines)")
        if len(raw) < MIN_TOKEN_CHARS or len(set(raw)) < MIN_TOKEN_DISTINCT:
            raise ValueError(
                f"the token is too weak: use at least {MIN_TOKEN_CHARS} characters, {MIN_TOKEN_DISTINCT} of them "
                "different (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return v


class WatchSettings(BaseModel):
    """Watch mode (server/watcher.py): passive screen memory."""

    interval_s: float = Field(10.0, ge=1.0, le=3600.0, description="seconds between frames in watch mode")
    monitor: int = Field(1, ge=0, description="monitor watch mode captures (0 = all screens)")
    max_age_hours: float = Field(168.0, gt=0, description="watch-mode memories older than this are deleted by the sweep")
    max_bytes: int = Field(2_000_000_000, ge=100_000, description="watch-mode memories (thumbnails + vectors) are kept under this size; the oldest go first")
    sweep_every: int = Field(30, ge=1, description="frames between retention sweeps")
    agent_tool: bool = Field(False, description="publish the `watch` tool, letting connected agents start and stop screen recording (off: only `sensorium watch` records)")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SENSORIUM_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    backend: BackendName = Field("auto", description="auto = gemini when an API key is set, else local")
    dimension: int = Field(768, description="Gemini output dimension (128-3072; 768, 1536, 3072 recommended)")
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("sensorium", appauthor=False)),
        description="embedding cache and memory stores",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(user_cache_dir("sensorium", appauthor=False)),
        description="downloaded models, and the tool list kept between starts (tool-schema cache)",
    )
    eval_dir: Path | None = Field(None, description="folder of evaluation sets (default: ../shared/eval if present)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level (logs go to stderr)")
    gemini_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SENSORIUM_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
        description="Gemini API key: enables the Gemini backend (with backend=auto)",
    )

    # Google's own environment variables, read as google-genai reads them (docs/GEMINI.md);
    # SENSORIUM_GEMINI__VERTEXAI / __PROJECT / __LOCATION / __CREDENTIALS_FILE win over them.
    google_genai_use_vertexai: bool | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_GENAI_USE_VERTEXAI"),
        description="Google's switch to Vertex AI (true/false), used when SENSORIUM_GEMINI__VERTEXAI is unset",
    )
    google_cloud_project: str | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT"), description="Vertex AI project, used when SENSORIUM_GEMINI__PROJECT is unset"
    )
    google_cloud_location: str | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_CLOUD_LOCATION"), description="Vertex AI region, used when SENSORIUM_GEMINI__LOCATION is unset"
    )
    google_application_credentials: Path | None = Field(
        None, validation_alias=AliasChoices("GOOGLE_APPLICATION_CREDENTIALS"),
        description="service-account key JSON for Vertex AI, used when SENSORIUM_GEMINI__CREDENTIALS_FILE is unset",
    )

    http: HttpSettings = Field(default_factory=HttpSettings)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Lists in the environment may be plain text (`~` or `~,/data`) as well as JSON (env_source.py)."""
        return (init_settings, FriendlyEnvSource(settings_cls), dotenv_settings, file_secret_settings)

    @field_validator("dimension")
    @classmethod
    def _dimension_range(cls, v: int) -> int:
        if not 128 <= v <= 3072:
            raise ValueError(f"dimension {v} is outside 128-3072 (Gemini Embedding 2's range; 768 is the default)")
        return v

    @property
    def resolved_backend(self) -> Literal["gemini", "local", "hashing"]:
        if self.backend == "auto":
            return "gemini" if self.gemini_api_key or self.vertex_access is not None else "local"
        return self.backend

    @property
    def vertex_access(self) -> VertexAccess | None:
        """Vertex AI's project, region and credentials when Gemini is to be reached through it, else None
        (the Gemini API with a key). Explicit SENSORIUM_GEMINI__* settings win over Google's variables."""
        g = self.gemini
        if g.vertexai is not None:
            use, reason = g.vertexai, f"SENSORIUM_GEMINI__VERTEXAI={str(g.vertexai).lower()}"
        elif self.google_genai_use_vertexai is not None:
            use, reason = self.google_genai_use_vertexai, f"GOOGLE_GENAI_USE_VERTEXAI={str(self.google_genai_use_vertexai).lower()}"
        else:
            return None
        if not use:
            return None
        access = VertexAccess(reason=reason)
        if g.project:
            access.project, access.project_source = g.project, "SENSORIUM_GEMINI__PROJECT"
        elif self.google_cloud_project:
            access.project, access.project_source = self.google_cloud_project, "GOOGLE_CLOUD_PROJECT"
        if g.location:
            access.location, access.location_source = g.location, "SENSORIUM_GEMINI__LOCATION"
        elif self.google_cloud_location:
            access.location, access.location_source = self.google_cloud_location, "GOOGLE_CLOUD_LOCATION"
        if g.credentials_file:
            access.credentials_file, access.credentials_source = g.credentials_file, "SENSORIUM_GEMINI__CREDENTIALS_FILE"
        elif self.google_application_credentials:
            access.credentials_file, access.credentials_source = self.google_application_credentials, "GOOGLE_APPLICATION_CREDENTIALS"
        return access

    def resolved_eval_dir(self) -> Path | None:
        if self.eval_dir is not None:
            return self.eval_dir
        guess = Path.cwd().parent / "shared" / "eval"
        return guess if guess.is_dir() else None
