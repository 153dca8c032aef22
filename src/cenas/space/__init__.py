"""Search spaces: encode, decode, sample and vectorise architectures.

:class:`SearchSpace` is the protocol every space implements (:class:`IndexedSpace` adds
indices for enumerable ones); :class:`NB201Space` is NAS-Bench-201's cell space and
:class:`DartsSpace` DARTS's, over :class:`Genotype` values (with DARTS's ``PRIMITIVES``, its
published ``DARTS_V1`` and ``DARTS_V2``, and :func:`parse_genotype` for printed ones).
"""

from __future__ import annotations

from cenas.space._darts import (
    DARTS_V1,
    DARTS_V2,
    PRIMITIVES,
    DartsSpace,
    Genotype,
    check_genotype,
    parse_genotype,
)
from cenas.space._nb201 import NB201_EDGES, NB201_OPS, NB201Space
from cenas.space._pooled import PooledSpace
from cenas.space._protocol import (
    Encoding,
    IndexedSpace,
    SearchSpace,
    SpaceError,
    SpaceSampler,
)

__all__ = [
    "DARTS_V1",
    "DARTS_V2",
    "NB201_EDGES",
    "NB201_OPS",
    "PRIMITIVES",
    "DartsSpace",
    "Encoding",
    "Genotype",
    "IndexedSpace",
    "NB201Space",
    "PooledSpace",
    "SearchSpace",
    "SpaceError",
    "SpaceSampler",
    "check_genotype",
    "parse_genotype",
]
