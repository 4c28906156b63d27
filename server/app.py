"""Build the MCP server from Settings; own the lifetimes of the backend, captures and handles."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import anyio

from mcp.server.mcpserver import MCPServer

from ..memory.store import MemoryStore, open_store
from ..tools.backends.base import EmbeddingBackend
from ..tools.backends.local.ocr import OcrEngine, engine_from_settings
from ..tools.capture import CaptureStore
from ..tools.handles import HandleStore
from .settings import Settings

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Sensorium is a sense bus for computer-using agents: it captures the screen and embeds what
you see and hear (screenshots, regions, images, audio, video, PDFs) and your instructions
into one vector space. Typical flow: capture_screen -> embed_screenshot(capture_id=...) ->
pass the returned handle_id on. Embed tools return a handle, not the vector, unless you ask
for include_vector=true.
"""


@dataclass
class Services:
    """Everything a tool needs, built once from Settings and passed to the tool modules."""

    settings: Settings
    backend: EmbeddingBackend
    captures: CaptureStore
    ocr: OcrEngine
    """The one screen reader: the local backend reads images with it and ranking proposes elements
    from it (whatever the backend), so a screenshot is OCR'd once and both share its cache."""
    handles: HandleStore = field(default_factory=HandleStore)
    _memory: MemoryStore | None = None
    _memory_lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def memory(self) -> MemoryStore:
        """The store for the backend's space, opened on first use (opening may rebuild an index)."""
        async with self._memory_lock:
            if self._memory is None:
                self._memory = await open_store(
                    self.settings.memory, self.settings.data_dir, self.backend.space, self.backend.dimension
                )
            return self._memory

    async def aclose(self) -> None:
        if self._memory is not None:
            await self._memory.close()
            self._memory = None
        await self.backend.aclose()


def build_ocr(settings: Settings) -> OcrEngine:
    return engine_from_settings(settings.local)


def build_backend(settings: Settings, *, ocr: OcrEngine | None = None) -> EmbeddingBackend:
    """The configured backend behind the content-hash cache (same bytes never cost twice)."""
    from ..tools.backends.factory import open_backend
    from ..tools.cache import CachedBackend, EmbeddingCache

    inner = open_backend(
        settings.resolved_backend,
        gemini_api_key=settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None,
        dimension=settings.dimension,
        gemini=settings.gemini,
        local=settings.local,
        cache_dir=settings.cache_dir,
        ocr=ocr,
    )
    return CachedBackend(inner, EmbeddingCache(settings.data_dir / "embedding-cache.sqlite3"))


def build_services(settings: Settings, backend: EmbeddingBackend | None = None) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ocr = build_ocr(settings)
    return Services(
        settings=settings,
        backend=backend if backend is not None else build_backend(settings, ocr=ocr),
        captures=CaptureStore(settings.capture.cache_size),
        ocr=ocr,
    )


def build_server(settings: Settings, *, services: Services | None = None) -> MCPServer:
    """The server with every tool registered; pass `services` to inject e.g. a faked Gemini.

    Services outlive MCP sessions (an HTTP server has many; an in-process client opens one per
    `async with`), so their lifetime is the process's (the caller that built them closes them with
    `Services.aclose`; the `serve` command leaves that to process exit), not a session lifespan.
    """
    from . import media_tools, memory_tools, perception, prompts, ranking_tools
    from .toolkit import ToolSet

    services = services if services is not None else build_services(settings)
    tools = ToolSet()
    perception.register(tools, services)
    memory_tools.register(tools, services)
    media_tools.register(tools, services)
    ranking_tools.register(tools, services)
    server: MCPServer = MCPServer(
        "sensorium", instructions=INSTRUCTIONS, version=_version(), log_level=settings.log_level, tools=tools.finish()
    )
    memory_tools.register_resources(server, services)
    prompts.register(server)
    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sensorium-mcp")
    except PackageNotFoundError:
        return "0+unknown"
