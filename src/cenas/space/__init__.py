"""Search spaces: encode, decode, sample and vectorise architectures."""

from __future__ import annotations

from cenas.space._nb201 import NB201_EDGES, NB201_OPS, NB201Space

__all__ = ["NB201_EDGES", "NB201_OPS", "NB201Space"]
