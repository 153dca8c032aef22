"""Search spaces: encode, decode, sample and vectorise architectures.

:class:`SearchSpace` is the protocol every space implements (:class:`IndexedSpace` adds
indices for enumerable ones); :class:`NB201Space` is NAS-Bench-201's cell space.
"""

from __future__ import annotations

from cenas.space._nb201 import NB201_EDGES, NB201_OPS, NB201Space
from cenas.space._protocol import (
    Encoding,
    IndexedSpace,
    SearchSpace,
    SpaceError,
    SpaceSampler,
)

__all__ = [
    "NB201_EDGES",
    "NB201_OPS",
    "Encoding",
    "IndexedSpace",
    "NB201Space",
    "SearchSpace",
    "SpaceError",
    "SpaceSampler",
]
