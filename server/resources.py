"""MCP resources: a memory's metadata and its thumbnail, by id (`sensorium://memory/{id}`).

Kept apart from the memory tools so registering them at start imports nothing heavy: the store
opens on the first read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError

if TYPE_CHECKING:
    from ..memory.records import Memory
    from .app import Services


def register(server: MCPServer, services: Services) -> None:
    @server.resource("sensorium://memory/{id}", mime_type="application/json", description="a memory's metadata")
    async def memory_resource(id: str) -> str:
        mem = await _resource_memory(services, id)
        return json.dumps(mem.model_dump(mode="json"), indent=2)

    @server.resource("sensorium://memory/{id}/image", mime_type="image/jpeg", description="a memory's stored thumbnail")
    async def memory_image(id: str) -> bytes:
        mem = await _resource_memory(services, id)
        thumb = await (await services.memory()).get_thumbnail(mem.id)
        if thumb is None:
            raise ResourceError(f"memory {mem.id} has no thumbnail (only image memories keep one)")
        return thumb


async def _resource_memory(services: Services, id: str) -> Memory:
    if not id.isdigit():
        raise ResourceError(f"memory id must be a number, got {id!r}")
    mem = await (await services.memory()).get(int(id))
    if mem is None:
        raise ResourceError(f"no memory with id {id}")
    return mem
