"""The carbon-aware engine: clock, evaluators, energy ledger, carbon signal, step loop."""

from __future__ import annotations

from cenas.engine.backend import Backend, JobResult, SimulatedBackend
from cenas.engine.clock import Clock, SimulatedClock, WallClock
from cenas.engine.energy import Ledger, LedgerEntry, PowerModel
from cenas.engine.evaluators import (
    ESTIMATORS,
    Estimator,
    LowFidelityEstimator,
    OracleEstimator,
    PredictorEstimator,
    TabularTrainer,
    Trainer,
    make_estimator,
)
from cenas.engine.loop import Arch, Engine, EngineConfig, Job, StepRecord
from cenas.engine.signal import CarbonSignal, Forecast, TraceSignal

__all__ = [
    "ESTIMATORS",
    "Arch",
    "Backend",
    "CarbonSignal",
    "Clock",
    "Engine",
    "EngineConfig",
    "Estimator",
    "Forecast",
    "Job",
    "JobResult",
    "Ledger",
    "LedgerEntry",
    "LowFidelityEstimator",
    "OracleEstimator",
    "PowerModel",
    "PredictorEstimator",
    "SimulatedBackend",
    "SimulatedClock",
    "StepRecord",
    "TabularTrainer",
    "TraceSignal",
    "Trainer",
    "WallClock",
    "make_estimator",
]
