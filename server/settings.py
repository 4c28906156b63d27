"""The one Settings object, built at start and passed down (no module reads env on its own).

Sections come from the layers that own them; env names are `SENSORIUM_<FIELD>` for the
top-level fields and `SENSORIUM_<SECTION>__<FIELD>` for a section's (e.g.
`SENSORIUM_CAPTURE__MAX_SIDE=1280`). The Gemini key is read from `GEMINI_API_KEY` or
`GOOGLE_API_KEY` as Google's own tools do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..memory.config import MemorySettings
from ..tools.config import CaptureSettings, GeminiSettings, IndexSettings, IntakeSettings, LocalSettings
from .env_source import FriendlyEnvSource

BackendName = Literal["auto", "gemini", "local", "hashing"]


class HttpSettings(BaseSettings):
    host: str = Field("127.0.0.1", description="HTTP bind address; a non-loopback address requires a token")
    port: int = Field(8765, ge=0, le=65535, description="HTTP port")
    token: SecretStr | None = Field(None, description="bearer token required on every HTTP request when set")


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
        description="downloaded models (only when downloads are enabled)",
    )
    eval_dir: Path | None = Field(None, description="folder of evaluation sets (default: ../shared/eval if present)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level (logs go to stderr)")
    gemini_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SENSORIUM_GEMINI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"),
        description="Gemini API key: enables the Gemini backend (with backend=auto)",
    )

    http: HttpSettings = Field(default_factory=HttpSettings)
    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)

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
            return "gemini" if self.gemini_api_key else "local"
        return self.backend

    def resolved_eval_dir(self) -> Path | None:
        if self.eval_dir is not None:
            return self.eval_dir
        guess = Path.cwd().parent / "shared" / "eval"
        return guess if guess.is_dir() else None
