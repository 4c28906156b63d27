"""MCP prompts: the two questions Sensorium answers, as ready-made workflows a client can offer.

Prompts cost nothing until a user picks one; they teach the calling model the intended
sequence of tools (capture once, reuse the capture_id, act on screen-pixel coordinates).
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer


def register(server: MCPServer) -> None:
    @server.prompt(title="Find the element to act on")
    def locate_element(instruction: str) -> str:
        """Find which element on the current screen to click or type into for an instruction."""
        return (
            f"Instruction: {instruction}\n\n"
            "1. Call capture_screen (monitor 1 unless told otherwise) and keep its capture_id.\n"
            "2. Call rank_ui_elements with that capture_id and the instruction. If you already know the "
            "elements (an accessibility tree or DOM), pass them as candidates with boxes in the capture's "
            "image pixels; otherwise the server proposes them from OCR and edges.\n"
            "3. Look at the attached Set-of-Mark image: the numbers are the ranks. Act on the best candidate's "
            "`click` point (screen pixels) only if its label and position fit the instruction; otherwise "
            "consider the next ranks, or say what is missing.\n"
            "4. After acting, call remember with the capture_id, a short note of what you did, and tag 'action' "
            "with metadata {\"label\": <the element's label>} so similar instructions can reuse it (use_history)."
        )

    @server.prompt(title="Have I been here before?")
    def check_seen_before(goal: str = "") -> str:
        """Check whether the current screen was seen before, and what happened then."""
        goal_line = f"Current goal: {goal}\n\n" if goal else ""
        return (
            f"{goal_line}"
            "1. Call capture_screen and keep its capture_id.\n"
            "2. Call rank_states with that capture_id (add recency_half_life_s=3600 to favour the last hour).\n"
            "3. If seen_before is true, read best.text, best.tags and best.metadata: they record what was done "
            "on this screen before. Read best.similarity too: same-site pages can look alike.\n"
            "4. If it is new, call remember with the capture_id, an episode_id for this task and a note, so the "
            "next visit is recognised."
        )
