"""RLPolicy: pickle-free storage, deterministic decisions, the shipped default policies."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from cenas.engine.energy import PowerModel
from cenas.errors import ConfigError
from cenas.policy.base import Allocation, State
from cenas.policy.rl import RLPolicy, load_default_policy, obs_size, observation
from cenas.policy.rl._obs import feature_names


def _state(intensity: float, forecast: list[float], hv: float = 0.9) -> State:
    return State(
        step=10,
        n_steps=80,
        n_gpus=8,
        time_left=70 / 80,
        carbon_left=0.8,
        intensity=intensity,
        forecast=np.asarray(forecast, dtype=float),
        intensity_scale=500.0,
        hv_ratio=hv,
        n_trained=20,
        n_estimated=60,
        queue_len=16,
        queue_capacity=32,
        n_paused_train=2,
    )


def _tiny(action: str, rng: np.random.Generator, levels: int = 10) -> RLPolicy:
    n = obs_size()
    out = levels if action == "discrete" else 1
    return RLPolicy(
        [
            (rng.normal(size=(8, n)), rng.normal(size=8)),
            (rng.normal(size=(out, 8)), rng.normal(size=out)),
        ],
        action=action,
        n_levels=levels,
    )


def test_observation_layout() -> None:
    obs = observation(_state(250.0, [100.0, 200.0, 400.0]))
    names = feature_names()
    assert obs.dtype == np.float32 and obs.shape == (len(names),)
    v = dict(zip(names, obs.tolist(), strict=True))
    assert v["intensity"] == pytest.approx(0.5)
    assert v["forecast_1"] == pytest.approx(0.2)
    assert v["forecast_3"] == pytest.approx(0.8)
    assert v["forecast_24"] == pytest.approx(0.8)  # padded with the last forecast hour
    assert v["percentile"] == pytest.approx(2 / 3)
    assert v["hv_ratio"] == pytest.approx(0.9)
    assert v["hv_gap"] == pytest.approx(1 / 3)
    assert v["n_trained"] == pytest.approx(20 / 640)
    assert v["n_estimated"] == pytest.approx(60 / 640)
    assert v["queue"] == pytest.approx(0.5)
    assert v["paused"] == pytest.approx(0.25)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_save_load_roundtrip(tmp_path: Path, action: str) -> None:
    pol = _tiny(action, np.random.default_rng(0))
    js, npz = pol.save(tmp_path / "p")
    assert js.name == "p.json" and npz.name == "p.npz"
    back = RLPolicy.load(tmp_path / "p.npz")
    state = _state(120.0, [300.0] * 24)
    obs = observation(state)
    assert np.allclose(back.forward(obs), pol.forward(obs), atol=1e-4)
    # the decision, computed here from the weights: tanh hidden layer, linear head
    (w1, b1), (w2, b2) = pol.layers
    out = w2 @ np.tanh(w1 @ obs.astype(np.float64) + b1) + b2
    share = int(np.argmax(out)) / 9 if action == "discrete" else float(np.clip(out[0], 0, 1))
    n_train = int(np.floor(share * 8 + 0.5))
    assert back.decide(state) == pol.decide(state) == Allocation(n_train, 8 - n_train, 0)


def test_load_rejects_pickled_weights(tmp_path: Path) -> None:
    pol = _tiny("discrete", np.random.default_rng(1))
    pol.save(tmp_path / "p")
    evil = np.empty(1, dtype=object)
    evil[0] = {"x": 1}
    np.savez(tmp_path / "p.npz", **{"layer0.weight": evil})
    with pytest.raises(ConfigError):
        RLPolicy.load(tmp_path / "p")


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        RLPolicy.load(tmp_path / "missing")
    (tmp_path / "x.json").write_text('{"format": "other"}')
    np.savez(tmp_path / "x.npz", a=np.zeros(1))
    with pytest.raises(ConfigError, match="not a cenas RL policy"):
        RLPolicy.load(tmp_path / "x.json")
    with pytest.raises(ConfigError):
        load_default_policy("both")


def test_bad_shapes() -> None:
    with pytest.raises(ConfigError):
        RLPolicy([(np.zeros((3, 5)), np.zeros(3))])


@pytest.fixture
def no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


@pytest.mark.usefixtures("no_pickle")
@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_shipped_policy_decides(kind: str) -> None:
    pol = load_default_policy(kind)
    assert pol.action == kind
    assert pol.meta.get("command", "").startswith("cenas policy train")
    clean = _state(100.0, [300.0] * 24)
    dirty = _state(450.0, [150.0] * 24)
    # the shipped weights' decisions: the discrete policy is the clone of the half/half
    # split (level 4 of 0..9, share 4/9, 4 of 8 GPUs, whatever the grid); the continuous
    # one gives shares 0.557 and 0.708 (4 and 6 GPUs). A retrain must update these.
    expected = {"discrete": (4, 4), "continuous": (4, 6)}[kind]
    for state, n in zip((clean, dirty), expected, strict=True):
        assert pol.decide(state) == Allocation(n, 8 - n, 0)
        assert pol.decide(state) == Allocation(n, 8 - n, 0)  # deterministic
    if kind == "discrete":
        assert pol.share(clean) == pol.share(dirty) == 4 / 9
    # the recorded command reproduces the policy with the deployed engine's settings
    assert "--optimizer lamoo" in pol.meta["command"]
    assert "--signal forecast" in pol.meta["command"]
    assert pol.meta["env"]["optimizer"] == "lamoo" and pol.meta["env"]["signal"] == "forecast"


def test_registry_builds_rl_policies() -> None:
    from cenas.carbon import load_bundled
    from cenas.engine.signal import CarbonSignal
    from cenas.policy.registry import make_policy

    signal = CarbonSignal(load_bundled("GB", 2021), 0, 24)
    for name in ("rl", "rl-continuous"):
        pol = make_policy(name, signal, 8, PowerModel(), 5000.0)
        assert isinstance(pol, RLPolicy) and pol.name == name
