"""MCP resources: a memory's metadata and its thumbnail, by id (`sensorium://memory/{id}`).

Kept apart from the memory tools so registering them at start imports nothing heavy: the store
opens on the first read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mcp.server.mcpserver import Context, MCPServer

from .protocol_errors import resource_not_found

if TYPE_CHECKING:
    from ..memory.records import Memory
    from .app import Services


def register(server: MCPServer, services: Services) -> None:
    @server.resource("sensorium://memory/{id}", mime_type="application/json", description="a memory's metadata")
    async def memory_resource(id: str, ctx: Context) -> str:
        mem = await _resource_memory(services, id, ctx, f"sensorium://memory/{id}")
        return json.dumps(mem.model_dump(mode="json"), indent=2)

    @server.resource("sensorium://memory/{id}/image", mime_type="image/jpeg", description="a memory's stored thumbnail")
    async def memory_image(id: str, ctx: Context) -> bytes:
        uri = f"sensorium://memory/{id}/image"
        mem = await _resource_memory(services, id, ctx, uri)
        thumb = await (await services.memory()).get_thumbnail(mem.id)
        if thumb is None:
            resource_not_found(ctx, uri, f"memory {mem.id} has no thumbnail (only image memories keep one)")
        return thumb


async def _resource_memory(services: Services, id: str, ctx: Context, uri: str) -> Memory:
    """The memory a resource URI names; a missing one is "resource not found" (protocol_errors.py), not a crash."""
    if not id.isdigit() or len(id) > 18:
        resource_not_found(ctx, uri, f"no such memory: the id in {uri[:80]!r} must be a number (from remember or recall)")
    mem = await (await services.memory()).get(int(id))
    if mem is None:
        resource_not_found(ctx, uri, f"no memory with id {id} (it may have been forgotten)")
    return mem
