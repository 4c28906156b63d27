"""Build the MCP server from Settings; own the lifetimes of the backend, captures and handles."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import anyio

from mcp.server.mcpserver import MCPServer

from .settings import Settings

if TYPE_CHECKING:  # the concrete modules load numpy, PIL and mss: on first use, not at start (issue 17)
    from ..memory.store import MemoryStore
    from ..tools.backends.base import EmbeddingBackend
    from ..tools.backends.local.ocr import OcrEngine
    from ..tools.ranking.proposals import ProposalCache
    from ..tools.capture import CaptureStore
    from ..tools.handles import HandleStore

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Sensorium is a sense bus for computer-using agents: it captures the screen and embeds what
you see and hear (screenshots, regions, images, audio, video, PDFs) and your instructions
into one vector space. Typical flow: capture_screen -> embed_screenshot(capture_id=...) ->
pass the returned handle_id on. Embed tools return a handle, not the vector, unless you ask
for include_vector=true.
"""


class Services:
    """Everything a tool needs, built from Settings and passed to the tool modules.

    Each part is built on first use, not with the server: the first `tools/list` is what a
    client waits for at start, and the backend, the screen reader and the stores import numpy,
    PIL, mss and the backend's own libraries (issue 17 measured them at about a third of the
    start-up). A part passed in (tests inject a faked Gemini) is used as given.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        backend: EmbeddingBackend | None = None,
        captures: CaptureStore | None = None,
        ocr: OcrEngine | None = None,
        handles: HandleStore | None = None,
    ) -> None:
        self.settings = settings
        self._backend = backend
        self._captures = captures
        self._ocr = ocr
        self._handles = handles
        self._proposals: ProposalCache | None = None
        self._build_lock = threading.RLock()  # tools build parts from worker threads too
        self._memory: MemoryStore | None = None
        self._memory_lock = anyio.Lock()
        self._closed = False
        self._watcher: Any = None

    @property
    def ocr(self) -> OcrEngine:
        """The one screen reader: the local backend reads images with it and ranking proposes elements
        from it (whatever the backend), so a screenshot is OCR'd once and both share its cache."""
        with self._build_lock:
            if self._ocr is None:
                self._ocr = build_ocr(self.settings)
            return self._ocr

    @property
    def proposals(self) -> ProposalCache:
        """Proposed elements of the last few screenshots (and their edge regions), so a repeat costs
        nothing and a small change recomputes edge regions only where it changed."""
        with self._build_lock:
            if self._proposals is None:
                from ..tools.ranking.proposals import ProposalCache

                self._proposals = ProposalCache()
            return self._proposals

    @property
    def backend(self) -> EmbeddingBackend:
        with self._build_lock:
            if self._backend is None:
                self._backend = build_backend(self.settings, ocr=self.ocr)
            return self._backend

    @property
    def captures(self) -> CaptureStore:
        with self._build_lock:
            if self._captures is None:
                from ..tools.capture import CaptureStore

                self._captures = CaptureStore(self.settings.capture.cache_size)
            return self._captures

    @property
    def handles(self) -> HandleStore:
        with self._build_lock:
            if self._handles is None:
                from ..tools.handles import HandleStore

                self._handles = HandleStore(self.settings.intake.handle_cache_bytes)
            return self._handles

    async def memory(self) -> MemoryStore:
        """The store for the backend's space, opened on first use (opening may rebuild an index)."""
        from ..memory.store import open_store

        async with self._memory_lock:
            if self._memory is None:
                backend = self.backend
                self._memory = await open_store(self.settings.memory, self.settings.data_dir, backend.space, backend.dimension)
            return self._memory

    @property
    def watcher(self) -> Any:
        """The watch-mode loop (server/watcher.py), created on first use; one per process."""
        with self._build_lock:
            if self._watcher is None:
                from .watcher import Watcher

                self._watcher = Watcher(self, self.settings.watch)
            return self._watcher

    async def aclose(self) -> None:
        """Stop watching, close the memory store (it writes its index checkpoint) and the backend; a second
        call does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            await self._watcher.stop()
        if self._memory is not None:
            await self._memory.close()
            self._memory = None
        if self._backend is not None:  # never built: nothing to close
            await self._backend.aclose()
        if self._ocr is not None:  # its background reader must not be inside onnxruntime when the process exits
            await anyio.to_thread.run_sync(self._ocr.close)


def build_ocr(settings: Settings) -> OcrEngine:
    from ..tools.backends.local.ocr import engine_from_settings

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
        vertex=settings.vertex_access,
    )
    return CachedBackend(inner, EmbeddingCache(settings.data_dir / "embedding-cache.sqlite3"))


def build_services(settings: Settings, backend: EmbeddingBackend | None = None) -> Services:
    """Services whose parts are built on first use (`backend` is used as given when passed)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Services(settings, backend=backend)


async def configured_space(settings: Settings) -> tuple[str, int]:
    """The space (and dimension) of the backend the settings choose, for CLI commands that pick a store;
    building the backend loads no model (that waits for the first embedding)."""
    services = build_services(settings)
    try:
        return services.backend.space, services.backend.dimension
    finally:
        await services.aclose()


TOOL_MODULES = tuple(f"{__package__}.{m}" for m in ("perception", "memory_tools", "media_tools", "watch_tools", "ranking_tools"))
"""The modules whose `TOOLS` the server may publish, in this order (`tool_modules` picks)."""


def tool_modules(settings: Settings) -> tuple[str, ...]:
    """The watch tool is published only when the user lets agents start screen recording
    (`SENSORIUM_WATCH__AGENT_TOOL=true`): a passive recorder is the user's decision, made once
    with `sensorium watch` or this setting, not something any connected agent may switch on."""
    return tuple(m for m in TOOL_MODULES if settings.watch.agent_tool or not m.endswith(".watch_tools"))


def build_server(settings: Settings, *, services: Services | None = None) -> MCPServer:
    """The server with every tool registered; pass `services` to inject e.g. a faked Gemini.

    Services outlive MCP sessions (an HTTP server has many; an in-process client opens one per
    `async with`), so their lifetime is the process's (the caller that built them closes them with
    `Services.aclose`; `serve` does on every way out: serving.py), not a session lifespan.
    """
    from . import prompts, resources

    services = services if services is not None else build_services(settings)
    from .protocol_errors import SensoriumServer

    server: MCPServer = SensoriumServer(
        "sensorium", instructions=INSTRUCTIONS, version=_version(), log_level=settings.log_level,
        tools=build_tools(settings, services),
    )
    resources.register(server, services)
    prompts.register(server)
    return server


def build_tools(settings: Settings, services: Services) -> list[Any]:
    """The tools: from the tool-schema cache when it matches this source (tool_cache.py), else built
    from the tool modules and cached for the next start."""
    from . import tool_cache
    from .arglimits import ArgLimits
    from .toolkit import DeferredTool, ToolLoader, ToolSet, entries

    limits = ArgLimits.from_settings(settings.intake)
    modules = tool_modules(settings)
    fp = tool_cache.fingerprint((limits, modules))
    cached = tool_cache.load(settings.cache_dir, fp)
    if cached is not None and all(e["module"] in modules for e in cached):
        loader = ToolLoader(services, limits)
        return [DeferredTool.from_entry(e, loader) for e in cached]
    import importlib

    tools = ToolSet(limits)
    for module in modules:
        tools.add_all(importlib.import_module(module).TOOLS, services)
    built = tools.finish()
    tool_cache.store(settings.cache_dir, fp, entries(built))
    return built


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sensorium-mcp")
    except PackageNotFoundError:
        return "0+unknown"
