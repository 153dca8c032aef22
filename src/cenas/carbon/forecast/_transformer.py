"""A small time-series transformer for multi-day carbon-intensity forecasts.

The encoder (Vaswani et al., "Attention Is All You Need", NeurIPS 2017) reads the past week
cut into patches of a few hours, each patch embedded with its calendar features and covariates
(e.g. the renewable share), together with one query token per future patch that carries only
that patch's calendar features; a linear head turns every future token into the patch's hourly
values, so all hours of the horizon come out of one forward pass (a direct multi-horizon
forecast). CE-NAS (Zhao et al., NeurIPS 2024) uses such a forecast to decide when to spend GPU
time on energy-hungry architecture evaluation.

A linear path from the scaled past (fitted by ridge regression before training, then frozen;
it reads a longer history than the encoder, two weeks by default) is added to the
transformer's output, so the network learns what a linear autoregression misses; with only a
few years of hourly data per zone a plain transformer overfits quickly. Several members
trained from different seeds are averaged, which removes much of the seed-to-seed spread.
Training is seeded and deterministic on CPU (one thread). The shipped models are trained across
all bundled zones and fine-tuned per zone (:mod:`cenas.carbon.forecast._pretrained`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self, cast

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from cenas.carbon._trace import CarbonTrace
from cenas.carbon.forecast._base import (
    Forecaster,
    ForecastError,
    as_trace_list,
    calendar_features,
)

FORMAT_VERSION = 1
_N_CAL = 6


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads (tiny models are slower with more)."""
    prev = torch.get_num_threads()
    if prev != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if prev != n:
            torch.set_num_threads(prev)


@dataclass(frozen=True)
class TransformerConfig:
    """Architecture and training settings of :class:`TransformerForecaster`.

    Attributes:
        input_hours: Hours of history the encoder reads (a multiple of ``patch``).
        skip_hours: Hours of history the linear path reads (at least ``input_hours``).
        horizon: Hours forecast at once, the model's ``max_horizon`` (a multiple of ``patch``).
        patch: Hours per token.
        d_model: Token width.
        n_heads: Attention heads.
        n_layers: Encoder layers.
        d_ff: Feed-forward width.
        dropout: Dropout rate.
        covariates: Covariates used when every training trace has them (e.g. ``renewable_pct``).
        future_calendar: Whether the future query tokens carry calendar features.
        day_of_year: Whether the calendar features include the day of year (with only a few
            years of training data it lets the model memorise weather episodes).
        level_feature: Whether tokens carry the standardised log of the window mean.
        epochs: Maximum training epochs.
        batch_size: Samples per step.
        lr: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        patience: Epochs without validation improvement before stopping.
        val_days: Days at the end of each training trace held out for early stopping.
        stride: Hours between training origins.
        cov_dropout: Probability of hiding the covariates of a training sample, so the model
            also forecasts traces without them.
        ridge_alpha: Penalty of the ridge regression that sets the (frozen) linear path.
        loss: ``relative`` (absolute error over the actual value, i.e. MAPE) or ``l1``
            (absolute error over the window mean).
        members: Networks trained with different seeds whose forecasts are averaged.
        seed: Seed of initialisation, shuffling and dropout.
        max_train_seconds: Optional wall-clock budget of the training loop.
    """

    input_hours: int = 168
    skip_hours: int = 336
    horizon: int = 96
    patch: int = 24
    d_model: int = 48
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 96
    dropout: float = 0.2
    covariates: tuple[str, ...] = ("renewable_pct",)
    future_calendar: bool = True
    day_of_year: bool = False
    level_feature: bool = True
    epochs: int = 40
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.05
    patience: int = 5
    val_days: int = 60
    stride: int = 2
    cov_dropout: float = 0.2
    ridge_alpha: float = 1.0
    loss: str = "relative"
    members: int = 3
    seed: int = 0
    max_train_seconds: float | None = None

    def __post_init__(self) -> None:
        names = ("input_hours", "horizon", "patch", "d_model", "n_heads", "n_layers", "members")
        if self.skip_hours < self.input_hours:
            raise ForecastError(
                f"transformer: skip_hours ({self.skip_hours}) must be at least input_hours "
                f"({self.input_hours})"
            )
        for name in names:
            if int(getattr(self, name)) < 1:
                raise ForecastError(f"transformer: {name} must be positive")
        if self.input_hours % self.patch or self.horizon % self.patch:
            raise ForecastError(
                f"transformer: input_hours ({self.input_hours}) and horizon ({self.horizon}) "
                f"must be multiples of patch ({self.patch})"
            )
        if self.loss not in ("relative", "l1"):
            raise ForecastError(f"transformer: loss must be 'relative' or 'l1', got {self.loss!r}")
        if self.d_model % self.n_heads:
            raise ForecastError("transformer: d_model must be a multiple of n_heads")
        object.__setattr__(self, "covariates", tuple(self.covariates))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerConfig:
        """Build from a dict, ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        if "covariates" in kw:
            kw["covariates"] = tuple(kw["covariates"])
        return cls(**kw)


class _Net(nn.Module):
    """Patch encoder with future query tokens and a linear per-patch head."""

    def __init__(self, cfg: TransformerConfig, n_cov: int) -> None:
        super().__init__()
        p, d = cfg.patch, cfg.d_model
        self.n_cov = n_cov
        self.n_past = cfg.input_hours // p
        self.n_fut = cfg.horizon // p
        self.past_in = nn.Linear(p + p * n_cov + _N_CAL + 2, d)
        self.fut_in = nn.Linear(_N_CAL + 1, d)
        self.pos_past = nn.Parameter(torch.zeros(self.n_past, d))
        self.pos_fut = nn.Parameter(torch.zeros(self.n_fut, d))
        nn.init.normal_(self.pos_past, std=0.02)
        nn.init.normal_(self.pos_fut, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            cfg.n_heads,
            cfg.d_ff,
            cfg.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, p)
        self.patch = p
        # linear path from the scaled past and the origin's calendar to the horizon, fitted by
        # ridge regression before training; the transformer learns what it leaves over
        self.skip = nn.Linear(cfg.skip_hours + _N_CAL + 2 + n_cov, cfg.horizon)
        nn.init.zeros_(self.skip.weight)
        nn.init.zeros_(self.skip.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def linear_inputs(
        self, past: torch.Tensor, fut: torch.Tensor, early: torch.Tensor
    ) -> torch.Tensor:
        """Inputs of the linear path: the scaled hours before the encoder's window (``early``)
        and in it, calendar features of the origin, the level and covariate flags, and the
        covariates of the last hour."""
        p, k = self.patch, self.n_cov
        last_cov = past[:, -1, p + p * k - k : p + p * k]
        return torch.cat(
            [early, past[:, :, :p].flatten(1), fut[:, 0, :_N_CAL], past[:, 0, -2:], last_cov],
            dim=1,
        )

    def forward(self, past: torch.Tensor, fut: torch.Tensor, early: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat(
            [self.past_in(past) + self.pos_past, self.fut_in(fut) + self.pos_fut], dim=1
        )
        hidden = self.norm(self.encoder(tokens))[:, self.n_past :]
        base = self.skip(self.linear_inputs(past, fut, early))
        return base + self.head(hidden).flatten(1)


class _Ensemble(nn.Module):
    """The mean forecast of several members (seeds)."""

    def __init__(self, members: list[_Net]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, past: torch.Tensor, fut: torch.Tensor, early: torch.Tensor) -> torch.Tensor:
        outs = [m(past, fut, early) for m in self.members]
        return torch.stack(outs).mean(0) if len(outs) > 1 else outs[0]


@dataclass
class _Batch:
    """Model inputs of several origins, as float32 arrays."""

    values: NDArray[np.float32]  # (B, n_past, patch) scaled intensity
    early: NDArray[np.float32]  # (B, skip_hours - input_hours) scaled, before the window
    covs: NDArray[np.float32]  # (B, n_past, patch * n_cov)
    past_cal: NDArray[np.float32]  # (B, n_past, 6)
    flag: NDArray[np.float32]  # (B, 1) covariates present
    level_z: NDArray[np.float32]  # (B, 1) standardised log level
    fut_cal: NDArray[np.float32]  # (B, n_fut, 6)
    level: NDArray[np.float64]  # (B, 1) window mean in g/kWh
    target: NDArray[np.float32] | None = None  # (B, horizon) scaled


@dataclass
class _Stats:
    log_level_mean: float = 0.0
    log_level_std: float = 1.0


@dataclass
class TrainingReport:
    """What happened in :meth:`TransformerForecaster.fit`."""

    epochs_run: int = 0
    best_epoch: int = 0
    best_val_loss: float = math.inf
    train_seconds: float = 0.0
    n_train: int = 0
    n_val: int = 0
    member_best_epochs: list[int] = field(default_factory=list)
    history: list[tuple[float, float]] = field(default_factory=list)


class TransformerForecaster(Forecaster):
    """Transformer encoder over the past week with a direct 96-hour head.

    Vaswani et al., "Attention Is All You Need" (NeurIPS 2017), applied as the carbon
    intensity forecaster of CE-NAS (Zhao et al., NeurIPS 2024). Inputs are the last
    ``input_hours`` of intensity, scaled by their mean, the sin/cos of hour of day and day of
    week (and day of year if enabled), and covariates such as ``renewable_pct`` where the trace
    has them; output is the whole horizon at once, added to a ridge-fitted linear path over the
    last ``skip_hours``, and averaged over ``members`` networks trained from different seeds.
    Training is seeded and deterministic on CPU, with early stopping on the last ``val_days``
    of each training trace. :meth:`fit` accepts several traces (e.g. zones); :meth:`fine_tune`
    adapts a fitted model to one of them.

    Args:
        config: Settings; keyword arguments override its fields.
        **overrides: Field overrides of :class:`TransformerConfig`.
    """

    name = "transformer"

    def __init__(self, config: TransformerConfig | None = None, **overrides: Any) -> None:
        cfg = config or TransformerConfig()
        if overrides:
            unknown = set(overrides) - {f.name for f in fields(TransformerConfig)}
            if unknown:
                raise ForecastError(f"transformer: unknown setting {sorted(unknown)[0]!r}")
            cfg = replace(cfg, **overrides)
        self.config = cfg
        self.max_horizon = cfg.horizon
        self.min_history = cfg.skip_hours
        self.history_hours = cfg.skip_hours
        self.covariates: tuple[str, ...] = ()
        self.stats = _Stats()
        self.report = TrainingReport()
        self.meta: dict[str, Any] = {}
        self._net: _Ensemble | None = None
        self._lr_scale = 1.0
        self._warm = False
        super().__init__()

    @property
    def needs_fit(self) -> bool:
        return True

    # ------------------------------------------------------------------ features
    def _windows(
        self,
        values: NDArray[np.float64],
        covs: NDArray[np.float64] | None,
        cal: NDArray[np.float64],
        origins: NDArray[np.int64],
        with_target: bool,
    ) -> _Batch:
        """Inputs at ``origins`` (indices of the first forecast hour) of one aligned series.

        ``cal`` must cover ``values`` plus the horizon after its last hour.
        """
        cfg = self.config
        L, P, H = cfg.input_hours, cfg.patch, cfg.horizon
        S = cfg.skip_hours
        b = origins.size
        n_past, n_fut = L // P, H // P
        idx = origins[:, None] + np.arange(-L, 0)[None, :]
        x = values[idx]
        level = np.maximum(x.mean(axis=1, keepdims=True), 1.0)
        scaled = (x / level - 1.0).reshape(b, n_past, P)
        early = values[origins[:, None] + np.arange(-S, -L)[None, :]] / level - 1.0
        k = len(self.covariates)
        if covs is not None and k:
            c = covs[idx] / 100.0  # (b, L, k)
            ok = np.all(np.isfinite(c), axis=(1, 2))
            c = np.where(np.isfinite(c), c, 0.0) * ok[:, None, None]
            cov_arr = c.reshape(b, n_past, P * k)
            flag = ok.astype(np.float64)[:, None]
        else:
            cov_arr = np.zeros((b, n_past, P * k))
            flag = np.zeros((b, 1))
        if not cfg.day_of_year:
            cal = cal.copy()
            cal[:, 4:6] = 0.0
        past_cal = cal[origins[:, None] - L + P * np.arange(n_past)[None, :]]
        fut_cal = cal[origins[:, None] + P * np.arange(n_fut)[None, :]]
        if not cfg.future_calendar:
            fut_cal = np.zeros_like(fut_cal)
        z = (np.log(level) - self.stats.log_level_mean) / self.stats.log_level_std
        if not cfg.level_feature:
            z = np.zeros_like(z)
        target = None
        if with_target:
            y = values[origins[:, None] + np.arange(H)[None, :]]
            target = (y / level - 1.0).astype(np.float32)
        f32 = np.float32
        return _Batch(
            scaled.astype(f32),
            early.astype(f32),
            cov_arr.astype(f32),
            past_cal.astype(f32),
            flag.astype(f32),
            z.astype(f32),
            fut_cal.astype(f32),
            level,
            target,
        )

    @staticmethod
    def _tensors(
        batch: _Batch, sel: NDArray[np.int64] | slice, cov_keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoder inputs (past and future tokens) and the early history of ``sel``."""
        vals = torch.from_numpy(batch.values[sel])
        covs = torch.from_numpy(batch.covs[sel])
        flag = torch.from_numpy(batch.flag[sel])
        if cov_keep is not None:
            flag = flag * cov_keep
            covs = covs * cov_keep[:, :, None]
        z = torch.from_numpy(batch.level_z[sel])
        past_cal = torch.from_numpy(batch.past_cal[sel])
        n_past = vals.shape[1]
        past = torch.cat(
            [
                vals,
                covs,
                past_cal,
                flag[:, None, :].expand(-1, n_past, 1),
                z[:, None, :].expand(-1, n_past, 1),
            ],
            dim=2,
        )
        fut_cal = torch.from_numpy(batch.fut_cal[sel])
        fut = torch.cat([fut_cal, z[:, None, :].expand(-1, fut_cal.shape[1], 1)], dim=2)
        return past, fut, torch.from_numpy(batch.early[sel])

    @staticmethod
    def _concat(batches: list[_Batch]) -> _Batch:
        def cat(name: str) -> Any:
            return np.concatenate([getattr(b, name) for b in batches])

        return _Batch(
            cat("values"),
            cat("early"),
            cat("covs"),
            cat("past_cal"),
            cat("flag"),
            cat("level_z"),
            cat("fut_cal"),
            cat("level"),
            cat("target") if batches[0].target is not None else None,
        )

    # ------------------------------------------------------------------ training
    def _fit(self, traces: list[CarbonTrace]) -> None:
        cfg = self.config
        S, H = cfg.skip_hours, cfg.horizon  # S: all the history one sample reads
        fresh = not self._warm
        if fresh:
            self.covariates = tuple(
                c for c in cfg.covariates if all(c in t.covariates for t in traces)
            )
        splits: list[tuple[CarbonTrace, NDArray[np.int64], NDArray[np.int64]]] = []
        logs = []
        for tr in traces:
            n = len(tr)
            val_h = min(cfg.val_days * 24, max(H, (n - S) // 5))
            need = S + H + val_h + 24
            if n < need:
                raise ForecastError(
                    f"transformer: training trace {tr.zone} has {n} h, needs at least {need} h"
                )
            train_o = np.arange(S, n - val_h - H + 1, cfg.stride, dtype=np.int64)
            val_o = np.arange(max(S, n - val_h), n - H + 1, max(1, cfg.stride), dtype=np.int64)
            splits.append((tr, train_o, val_o))
            idx = train_o[:, None] + np.arange(-cfg.input_hours, 0)[None, :]
            logs.append(np.log(np.maximum(tr.values[idx].mean(axis=1), 1.0)))
        if fresh:
            all_logs = np.concatenate(logs)
            self.stats = _Stats(float(all_logs.mean()), float(max(all_logs.std(), 1e-3)))

        train_parts, val_parts = [], []
        for tr, train_o, val_o in splits:
            covs = self._cov_matrix(tr)
            cal = calendar_features(tr.start, len(tr) + H)
            train_parts.append(self._windows(tr.values, covs, cal, train_o, True))
            val_parts.append(self._windows(tr.values, covs, cal, val_o, True))
        train, val = self._concat(train_parts), self._concat(val_parts)
        self._train(train, val)

    def _cov_matrix(self, trace: CarbonTrace) -> NDArray[np.float64] | None:
        if not self.covariates or not all(c in trace.covariates for c in self.covariates):
            return None
        return np.stack(
            [np.asarray(trace.covariates[c], dtype=np.float64) for c in self.covariates], 1
        )

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        err = (pred - target).abs()
        if self.config.loss == "relative":
            err = err / (1.0 + target).clamp_min(0.05)
        return err.mean()

    def _fit_linear(self, net: _Net, train: _Batch) -> None:
        """Set the linear path by ridge regression on the training windows, and freeze it."""
        assert train.target is not None
        rng = np.random.default_rng(self.config.seed + 1)
        keep = (rng.random((len(train.values), 1)) >= self.config.cov_dropout).astype(np.float32)
        past, fut, early = self._tensors(train, slice(None), torch.from_numpy(keep))
        x = net.linear_inputs(past, fut, early).double()
        y = torch.from_numpy(train.target).double()
        xm, ym = x.mean(0), y.mean(0)
        xc, yc = x - xm, y - ym
        gram = xc.T @ xc + self.config.ridge_alpha * torch.eye(x.shape[1], dtype=torch.float64)
        w = torch.linalg.solve(gram, xc.T @ yc)  # (in, out)
        with torch.no_grad():
            net.skip.weight.copy_(w.T.float())
            net.skip.bias.copy_((ym - xm @ w).float())
        net.skip.weight.requires_grad_(False)
        net.skip.bias.requires_grad_(False)

    def fine_tune(self, trace: CarbonTrace | Sequence[CarbonTrace], lr_scale: float = 0.3) -> Self:
        """Adapt a fitted model (e.g. trained across zones) to one zone's history.

        Refits the linear path on ``trace`` and trains the transformer further from its current
        weights at ``lr_scale`` times the learning rate, with early stopping on the last
        ``val_days`` of the trace. Deterministic like :meth:`fit`.

        Raises:
            ForecastError: If the model is not fitted or the trace is too short.
        """
        if self._net is None:
            raise ForecastError("transformer: fine_tune needs a fitted model; call fit() first")
        base = self.report
        self._lr_scale, self._warm = lr_scale, True
        try:
            self._fit(as_trace_list(trace))
        finally:
            self._lr_scale, self._warm = 1.0, False
        self.report.train_seconds += base.train_seconds
        return self

    def _train(self, train: _Batch, val: _Batch) -> None:
        cfg = self.config
        t0 = time.perf_counter()
        report = TrainingReport(n_train=len(train.values), n_val=len(val.values))
        prev = self._net if self._warm else None
        members = []
        for i in range(cfg.members):
            init = None if prev is None else cast(_Net, prev.members[i % len(prev.members)])
            net, rep = self._train_one(train, val, cfg.seed + 1009 * i, init, t0)
            members.append(net)
            report.member_best_epochs.append(rep.best_epoch)
            report.epochs_run += rep.epochs_run
            report.history.extend(rep.history)
            if i == 0:
                report.best_epoch = rep.best_epoch
        ens = _Ensemble(members).eval()
        val_past, val_fut, val_early = self._tensors(val, slice(None))
        assert val.target is not None
        val_y = torch.from_numpy(val.target)
        with _threads(1), torch.inference_mode():
            report.best_val_loss = float(self._loss(ens(val_past, val_fut, val_early), val_y))
        report.train_seconds = time.perf_counter() - t0
        self.report = report
        self._net = ens

    def _train_one(
        self, train: _Batch, val: _Batch, seed: int, init: _Net | None, t0: float
    ) -> tuple[_Net, TrainingReport]:
        """Train one member from ``init`` (or from scratch) with early stopping."""
        cfg = self.config
        report = TrainingReport()
        with _threads(1), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            net = _Net(cfg, len(self.covariates))
            if init is not None:  # fine-tuning: start from fitted weights
                net.load_state_dict(init.state_dict())
            self._fit_linear(net, train)
            params = [p for p in net.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(
                params, lr=cfg.lr * self._lr_scale, weight_decay=cfg.weight_decay
            )
            n = len(train.values)
            steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
            total = steps_per_epoch * cfg.epochs
            warmup = min(steps_per_epoch, total // 10 + 1)

            def lr_at(step: int) -> float:
                if step < warmup:
                    return (step + 1) / warmup
                frac = (step - warmup) / max(1, total - warmup)
                return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
            val_past, val_fut, val_early = self._tensors(val, slice(None))
            assert val.target is not None and train.target is not None
            val_y = torch.from_numpy(val.target)
            with torch.inference_mode():
                report.best_val_loss = float(self._loss(net(val_past, val_fut, val_early), val_y))
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            bad = 0
            for epoch in range(cfg.epochs):
                net.train()
                order = rng.permutation(n)
                total_loss = 0.0
                for s in range(steps_per_epoch):
                    sel = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
                    keep = torch.from_numpy(
                        (rng.random((sel.size, 1)) >= cfg.cov_dropout).astype(np.float32)
                    )
                    past, fut, early = self._tensors(train, sel, keep)
                    y = torch.from_numpy(train.target[sel])
                    loss = self._loss(net(past, fut, early), y)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    nn.utils.clip_grad_norm_(params, 1.0)
                    opt.step()
                    sched.step()
                    total_loss += float(loss.detach()) * sel.size
                net.eval()
                with torch.inference_mode():
                    val_loss = float(self._loss(net(val_past, val_fut, val_early), val_y))
                report.history.append((total_loss / n, val_loss))
                report.epochs_run = epoch + 1
                if val_loss < report.best_val_loss - 1e-5:
                    report.best_val_loss = val_loss
                    report.best_epoch = epoch + 1
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    bad = 0
                else:
                    bad += 1
                elapsed = time.perf_counter() - t0
                if bad >= cfg.patience or (
                    cfg.max_train_seconds is not None and elapsed > cfg.max_train_seconds
                ):
                    break
            net.load_state_dict(best_state)
            net.eval()
        return net, report

    # ---------------------------------------------------------------- prediction
    def _predict(self, history: CarbonTrace, horizon: int) -> NDArray[np.float64]:
        return self._predict_many([history], horizon)[0]

    def _predict_many(self, histories: list[CarbonTrace], horizon: int) -> NDArray[np.float64]:
        assert self._net is not None
        cfg = self.config
        S = cfg.skip_hours
        parts = []
        for h in histories:
            vals = h.values[-S:]
            covs = self._cov_matrix(h)
            if covs is not None:
                covs = covs[-S:]
            cal = calendar_features(h.end - pd.Timedelta(hours=S), S + cfg.horizon)
            parts.append(self._windows(vals, covs, cal, np.array([S], dtype=np.int64), False))
        batch = self._concat(parts)
        past, fut, early = self._tensors(batch, slice(None))
        with _threads(1), torch.inference_mode():
            y = self._net(past, fut, early).numpy().astype(np.float64)
        return np.maximum(batch.level * (1.0 + y[:, :horizon]), 0.0)

    # --------------------------------------------------------------- persistence
    def save(self, path: str | Path, **meta: Any) -> Path:
        """Write the weights (``.npz``, arrays only) and a ``.json`` config beside them.

        Args:
            path: Target path; the suffix is replaced by ``.npz`` and ``.json``.
            **meta: Extra JSON-serialisable facts to record (zone, training period, ...).

        Returns:
            The ``.npz`` path.
        """
        if self._net is None:
            raise ForecastError("transformer: nothing to save, the model is not fitted")
        p = Path(path)
        npz, js = p.with_suffix(".npz"), p.with_suffix(".json")
        p.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().numpy() for k, v in self._net.state_dict().items()}
        np.savez_compressed(npz, **state)  # type: ignore[arg-type]
        info = {
            "format": "cenas-transformer-forecaster",
            "format_version": FORMAT_VERSION,
            "config": asdict(self.config),
            "covariates": list(self.covariates),
            "stats": asdict(self.stats),
            "training": {k: v for k, v in asdict(self.report).items() if k != "history"},
            "meta": {**self.meta, **meta},
        }
        js.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return npz

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Load a model written by :meth:`save` (no pickled objects are read).

        Raises:
            ForecastError: If the files are missing or not a saved transformer forecaster.
        """
        p = Path(path)
        npz, js = p.with_suffix(".npz"), p.with_suffix(".json")
        if not npz.is_file() or not js.is_file():
            raise ForecastError(f"transformer: {npz} or {js} does not exist")
        try:
            info = json.loads(js.read_text())
            if info.get("format") != "cenas-transformer-forecaster":
                raise ValueError("not a transformer forecaster config")
            conf = dict(info["config"])
            # files written before these settings existed: one net, linear path over the window
            conf.setdefault("skip_hours", conf.get("input_hours", 168))
            conf.setdefault("members", 1)
            model = cls(TransformerConfig.from_dict(conf))
            model.covariates = tuple(info["covariates"])
            model.stats = _Stats(**info["stats"])
            model.meta = dict(info.get("meta", {}))
            training = info.get("training", {})
            model.report = TrainingReport(
                **{k: v for k, v in training.items() if k in TrainingReport.__dataclass_fields__}
            )
            n_cov = len(model.covariates)
            net = _Ensemble([_Net(model.config, n_cov) for _ in range(model.config.members)])
            with np.load(npz, allow_pickle=False) as arrays:
                state = {k: torch.from_numpy(arrays[k].copy()) for k in arrays.files}
            if not any(k.startswith("members.") for k in state):  # single-net files
                state = {f"members.0.{k}": v for k, v in state.items()}
            net.load_state_dict(state)
        except (ValueError, KeyError, TypeError, RuntimeError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ForecastError(f"transformer: cannot load {npz}: {first}") from None
        net.eval()
        model._net = net
        model._fitted = True
        return model

    def __repr__(self) -> str:
        c = self.config
        return (
            f"TransformerForecaster(input_hours={c.input_hours}, horizon={c.horizon}, "
            f"patch={c.patch}, d_model={c.d_model}, n_layers={c.n_layers})"
        )


__all__ = ["TrainingReport", "TransformerConfig", "TransformerForecaster"]
