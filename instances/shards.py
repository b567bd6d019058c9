"""Which slice of the fleet a check cycle covers: shard k of N, by a stable hash of the name.

The hash is CRC-32 of the name's UTF-8 bytes (not Python's ``hash``, which changes from one
process to the next), so every qcluster on every machine agrees, and an instance keeps its
shard as others come and go: only the instance count of a shard changes, never who is in it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar


def shard_of(name: str, shards: int) -> int:
    """Return the shard (0…shards-1) that checks the instance called ``name``."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``; the whole fleet is shard 0 of 1. ``round_id`` is its minute's round."""

    index: int = 0
    count: int = 1
    round_id: int | None = None

    WHOLE: ClassVar[Shard]

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @property
    def is_whole(self) -> bool:
        return self.count == 1

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self.is_whole or shard_of(name, self.count) == self.index)

    def lease_name(self, base: str) -> str:
        """Return the lease this shard's cycles take: the whole fleet keeps the plain name."""
        return base if self.is_whole else f"{base}:{self.index}/{self.count}"

    @property
    def label(self) -> str:
        """Return how log lines name the shard ("" for the whole fleet)."""
        return "" if self.is_whole else f" (shard {self.index} of {self.count})"


Shard.WHOLE = Shard()
