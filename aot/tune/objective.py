"""What ``aot tune`` minimises: the measured cost (instructions or time) by default, or arena or flash
bytes, or the cost plus weighted bytes; and hard limits a result must keep (``--max-arena``,
``--max-flash``). The per-layer search adds costs, which are additive; arena and flash are properties of
a whole build, so they choose among measured builds (each configuration and the tuned cover)."""
from __future__ import annotations

from dataclasses import dataclass

OBJECTIVES = ("cost", "arena", "flash")


@dataclass(frozen=True)
class Objective:
    minimise: str = "cost"
    arena_weight: float = 0.0  # cost units per arena byte added to the cost ("cost" only)
    flash_weight: float = 0.0
    max_arena: int | None = None
    max_flash: int | None = None

    def refusal(self, arena_bytes: int, flash_bytes: int) -> str | None:
        """Why a build with these figures may not be the result (None: it may)."""
        if self.max_arena is not None and arena_bytes > self.max_arena:
            return f"arena {arena_bytes:,} B > --max-arena {self.max_arena:,} B"
        if self.max_flash is not None and flash_bytes > self.max_flash:
            return f"flash {flash_bytes:,} B > --max-flash {self.max_flash:,} B"
        return None

    def score(self, cost: float, arena_bytes: int, flash_bytes: int) -> tuple[float, ...]:
        weighted = cost + self.arena_weight * arena_bytes + self.flash_weight * flash_bytes
        if self.minimise == "arena":
            return (arena_bytes, weighted)
        if self.minimise == "flash":
            return (flash_bytes, weighted)
        return (weighted,)

    def describe(self) -> str:
        text = {"cost": "measured cost", "arena": "arena bytes", "flash": "flash bytes"}[self.minimise]
        if self.arena_weight or self.flash_weight:
            text += f" + {self.arena_weight:g}/arena byte + {self.flash_weight:g}/flash byte"
        limits = [f"arena <= {self.max_arena:,} B" for _ in [0] if self.max_arena is not None] + \
                 [f"flash <= {self.max_flash:,} B" for _ in [0] if self.max_flash is not None]
        return text + (f", with {' and '.join(limits)}" if limits else "")
