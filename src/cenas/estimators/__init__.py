"""Live estimators: real PyTorch work that scores NAS-Bench-201 cells on real data.

Zero-cost proxies (:mod:`cenas.estimators._proxies`), the proxy table job
(:mod:`cenas.estimators._table`), and :func:`make_live_estimator` for every estimator by
name, including the low-fidelity and supernet estimators (imported when asked for).
"""

from cenas.estimators._base import Cost, EstimateResult, LiveEstimator
from cenas.estimators._proxies import (
    GRADIENT_PROXIES,
    PROXIES,
    VOTE_MEMBERS,
    ProxyBatch,
    VoteEstimator,
    ZeroCostEstimator,
    compute_proxies,
    compute_proxy,
    make_batch,
    nb201_factory,
    vote_ranks,
)
from cenas.estimators._registry import LIVE_ESTIMATORS, make_live_estimator

__all__ = [
    "GRADIENT_PROXIES",
    "LIVE_ESTIMATORS",
    "PROXIES",
    "VOTE_MEMBERS",
    "Cost",
    "EstimateResult",
    "LiveEstimator",
    "ProxyBatch",
    "VoteEstimator",
    "ZeroCostEstimator",
    "compute_proxies",
    "compute_proxy",
    "make_batch",
    "make_live_estimator",
    "nb201_factory",
    "vote_ranks",
]
