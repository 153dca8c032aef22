"""The action kinds that release GPUs: mapping, storage, observation, env, export, cloning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env

from cenas.errors import ConfigError
from cenas.policy.base import Allocation, State
from cenas.policy.rl import (
    RLPolicy,
    action_to_allocation,
    action_to_gpus,
    allocation_to_action,
    load_default_policy,
    obs_size,
    observation,
)
from cenas.policy.rl._action import action_width
from cenas.policy.rl._obs import feature_names
from cenas.rl import AllocationEnv, EnvConfig, export_policy
from cenas.rl._train import make_model, teacher_data, training_config, warm_start

RELEASE = ["discrete-release", "continuous-release"]


def A(train: int, estimate: int, release: int = 0) -> Allocation:
    return Allocation(train, estimate, release)


# ----------------------------------------------------------------------------- mapping
def test_discrete_release_mapping_edges() -> None:
    f = action_to_allocation
    assert f([9, 0], "discrete-release", 8) == A(8, 0, 0)  # all train
    assert f([9, 4], "discrete-release", 8) == A(8, 0, 0)  # nothing left to release
    assert f([0, 4], "discrete-release", 8) == A(0, 0, 8)  # all release
    assert f([0, 0], "discrete-release", 8) == A(0, 8, 0)  # all estimate
    # train 4 (share 4/9 of 8 = 3.56 -> 4); release j/4 of the other 4
    assert [f([4, j], "discrete-release", 8).release for j in range(5)] == [0, 1, 2, 3, 4]
    # rounding half up: train 1 (0.89 -> 1), rest 7; j=1: 1.75 -> 2, j=2: 3.5 -> 4
    assert f([1, 1], "discrete-release", 8) == A(1, 5, 2)
    assert f([1, 2], "discrete-release", 8) == A(1, 3, 4)
    # levels are clipped; numpy arrays of any integer dtype work
    assert f(np.array([42, -3]), "discrete-release", 8) == A(8, 0, 0)
    assert f(np.array([-1, 99], dtype=np.int32), "discrete-release", 8) == A(0, 0, 8)
    # other level counts
    assert f([1, 1], "discrete-release", 4, n_levels=3, n_release_levels=2) == A(2, 0, 2)
    assert action_to_gpus([3, 4], "discrete-release", 8) == 3
    with pytest.raises(ConfigError, match="2 entries"):
        f(4, "discrete-release", 8)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ((1.0, 0.0), A(8, 0, 0)),
        ((1.0, 1.0), A(8, 0, 0)),
        ((0.0, 1.0), A(0, 0, 8)),
        ((0.0, 0.0), A(0, 8, 0)),
        ((0.5, 0.5), A(4, 2, 2)),
        ((0.0625, 0.5), A(1, 3, 4)),  # 0.5 -> 1 train; 3.5 -> 4 released of 7
        ((0.06, 0.07), A(0, 7, 1)),  # 0.48 -> 0 train; 0.56 -> 1 released of 8
        ((-2.0, 5.0), A(0, 0, 8)),  # clipped into [0, 1]
        ((0.3, -1.0), A(2, 6, 0)),
    ],
)
def test_continuous_release_mapping(action: tuple[float, float], expected: Allocation) -> None:
    arr = np.asarray(action, dtype=np.float32)
    assert action_to_allocation(arr, "continuous-release", 8) == expected
    assert action_to_allocation(list(action), "continuous-release", 8) == expected
    assert expected.n_gpus == 8


def test_original_kinds_map_to_allocations() -> None:
    assert action_to_allocation(4, "discrete", 8) == A(4, 4, 0)
    assert action_to_allocation(np.array([0.99]), "continuous", 8) == A(8, 0, 0)
    with pytest.raises(ConfigError, match="action"):
        action_to_allocation(0, "binary", 8)


@pytest.mark.parametrize("kind", ["discrete", "continuous", *RELEASE])
def test_allocation_to_action_inverts_the_mapping(kind: str) -> None:
    """Every allocation a kind can express maps back onto itself."""
    n = 8
    seen = 0
    for train in range(n + 1):
        for release in range(n - train + 1):
            if kind not in RELEASE and release:
                continue
            alloc = A(train, n - train - release, release)
            back = action_to_allocation(allocation_to_action(alloc, kind), kind, n)
            if kind.startswith("discrete"):  # 10 levels cannot express every count
                assert abs(back.train - train) <= 1
                if back.train == train and kind == "discrete-release":
                    assert abs(back.release - release) <= 1
            else:
                assert back == alloc
            seen += 1
    assert seen == (45 if kind in RELEASE else 9)


# ------------------------------------------------------------------ model and storage
def _state(n_released: int = 0, delay: float = 0.0, intensity: float = 300.0) -> State:
    return State(
        step=10,
        n_steps=80,
        n_gpus=8,
        time_left=70 / 80,
        carbon_left=0.8,
        intensity=intensity,
        forecast=np.full(24, 150.0),
        intensity_scale=500.0,
        hv_ratio=0.9,
        n_trained=20,
        n_estimated=60,
        queue_len=16,
        queue_capacity=32,
        n_paused_train=2,
        n_released=n_released,
        release_delay_s=delay,
    )


def test_release_observation_layout() -> None:
    base = observation(_state(2, 900.0))
    rel = observation(_state(2, 900.0), release=True)
    assert rel.shape == (obs_size(release=True),) == (obs_size() + 2,)
    assert np.array_equal(rel[: base.size], base)
    v = dict(zip(feature_names(release=True), rel.tolist(), strict=True))
    assert v["released"] == pytest.approx(2 / 8)
    assert v["release_delay"] == pytest.approx(0.25)
    assert observation(_state(0, 1e6), release=True)[-1] == 1.0  # clipped


def _tiny(kind: str, rng: np.random.Generator) -> RLPolicy:
    n = obs_size(release=True)
    out = action_width(kind)
    return RLPolicy(
        [
            (0.3 * rng.normal(size=(8, n)), 0.3 * rng.normal(size=8)),
            (3.0 * rng.normal(size=(out, 8)), np.zeros(out)),
        ],
        action=kind,
    )


@pytest.mark.parametrize("kind", RELEASE)
def test_release_model_roundtrip(tmp_path: Path, kind: str) -> None:
    pol = _tiny(kind, np.random.default_rng(3))
    pol.save(tmp_path / "p")
    spec = json.loads((tmp_path / "p.json").read_text())
    assert spec["version"] == 2 and spec["action"] == kind
    assert spec["n_levels"] == 10 and spec["n_release_levels"] == 5
    assert spec["obs"]["features"][-2:] == ["released", "release_delay"]
    back = RLPolicy.load(tmp_path / "p")
    assert back.action == kind and back.release_obs and back.name == f"rl-{kind}"
    rng = np.random.default_rng(4)
    for _ in range(30):
        state = _state(int(rng.integers(0, 9)), rng.uniform(0, 3600), rng.uniform(50, 500))
        obs = observation(state, release=True)
        # the decision computed here from the weights
        (w1, b1), (w2, b2) = pol.layers
        out = w2 @ np.tanh(w1 @ obs.astype(np.float64) + b1) + b2
        if kind == "discrete-release":
            act: object = [int(np.argmax(out[:10])), int(np.argmax(out[10:]))]
        else:
            act = np.clip(out, 0, 1)
        want = action_to_allocation(act, kind, 8)
        assert back.decide(state) == pol.decide(state) == want
    # on arbitrary observations the stored and the loaded network act alike, and vary
    acts = set()
    for _ in range(30):
        obs = rng.uniform(0, 1, size=obs_size(release=True)).astype(np.float32)
        assert np.allclose(back.act(obs), pol.act(obs), atol=1e-4)
        acts.add(tuple(np.round(np.asarray(pol.act(obs), dtype=float), 2)))
    assert len(acts) > 1


def test_release_model_rejects_wrong_widths() -> None:
    rng = np.random.default_rng(0)
    n = obs_size(release=True)
    with pytest.raises(ConfigError, match="output width"):  # 10 logits: no release head
        RLPolicy([(rng.normal(size=(10, n)), np.zeros(10))], action="discrete-release")
    with pytest.raises(ConfigError, match="layer 0"):  # the original observation's width
        RLPolicy([(rng.normal(size=(2, obs_size())), np.zeros(2))], action="continuous-release")


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_shipped_files_load_and_write_back_unchanged(tmp_path: Path, kind: str) -> None:
    from importlib import resources

    pol = load_default_policy(kind)
    assert not pol.release_obs and pol.name in ("rl", "rl-continuous")
    shipped = json.loads(
        resources.files("cenas").joinpath("data", "policy", f"rl-{kind}.json").read_text()
    )
    assert shipped["version"] == 1
    assert pol.spec() == shipped
    pol.save(tmp_path / "p")
    assert json.loads((tmp_path / "p.json").read_text()) == shipped


# ------------------------------------------------------------------------- env, reward
@pytest.fixture
def release_config(short_config: EnvConfig) -> EnvConfig:
    return short_config.replace(hours=4, budget_range_g=(1e6, 1e6))


@pytest.mark.filterwarnings("ignore:We recommend you to use a symmetric")
@pytest.mark.parametrize("kind", RELEASE)
def test_release_env_episode(release_config: EnvConfig, kind: str) -> None:
    env = AllocationEnv(release_config.replace(action=kind))
    check_env(env)
    assert env.observation_space.shape == (obs_size(release=True),)
    obs, _ = env.reset(seed=0)
    all_release = [0, 4] if kind == "discrete-release" else [0.0, 1.0]
    half = [4, 2] if kind == "discrete-release" else [0.5, 0.5]
    infos = []
    for action in (half, all_release, half, all_release):
        obs, _reward, done, _, info = env.step(np.asarray(action))
        infos.append(info)
        assert env.observation_space.contains(obs)
        assert obs[-2] == pytest.approx(info["n_release"] / 8)  # released last step
    assert done and info["summary"]["stop"] == "time budget spent"
    assert [i["n_release"] for i in infos] == [2, 8, 2, 8]
    assert [i["n_train"] for i in infos] == [4, 0, 4, 0]
    # a fully released pool draws nothing: the reward charges no carbon for it
    for i in infos[1::2]:
        assert i["carbon_g"] == 0.0 and i["terms"].carbon == 0.0
    for i in infos[::2]:
        assert i["carbon_g"] > 0.0 and i["terms"].carbon > 0.0
    records = env.engine.records if env.engine is not None else []
    assert [r.n_release for r in records] == [2, 8, 2, 8]


def test_release_levels_validated(short_config: EnvConfig) -> None:
    with pytest.raises(ConfigError, match="release levels"):
        short_config.replace(action="discrete-release", n_release_levels=1).validate()
    env = AllocationEnv(short_config.replace(action="discrete-release", n_release_levels=3))
    assert env.action_space.nvec.tolist() == [10, 3]


# ---------------------------------------------------------------- SB3 export, cloning
@pytest.mark.parametrize("kind", RELEASE)
def test_export_matches_sb3_release(short_config: EnvConfig, kind: str) -> None:
    from stable_baselines3 import PPO

    env = AllocationEnv(short_config.replace(action=kind))
    model = PPO("MlpPolicy", env, seed=3, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    pol = export_policy(model, env.config)
    assert pol.action == kind and pol.release_obs
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        obs = rng.uniform(0, 1, size=env.observation_space.shape).astype(np.float32)
        want, _ = model.predict(obs, deterministic=True)
        got = pol.act(obs)
        if kind == "discrete-release":
            assert got.tolist() == np.asarray(want).tolist()
        else:
            assert np.allclose(got, np.clip(want, 0, 1), atol=1e-5)
        seen.add(tuple(np.round(np.asarray(got, dtype=float), 3)))
    assert len(seen) > 1


@pytest.mark.parametrize("kind", RELEASE)
def test_cloning_a_releasing_teacher(kind: str, short_config: EnvConfig) -> None:
    """Teacher actions of a release kind are pairs; the clone learns the teacher's split."""
    from cenas.policy.rl._action import allocation_to_action as to_action
    from cenas.rl import PPOSettings

    cfg = training_config(kind, short_config)
    settings = PPOSettings(n_envs=1, n_steps=16, batch_size=16, hidden=(16, 16))
    model = make_model(cfg, settings, seed=0)
    # a constant level is learnt fast; Gaussian means need more data and steps
    n_eps, steps = (2, 300) if kind == "discrete-release" else (6, 1500)
    data = teacher_data(cfg, "static", n_eps, seed=1, gamma=settings.gamma)
    obs, acts, rets = data
    assert acts.shape == (obs.shape[0], 2) and rets.shape == (obs.shape[0],)
    assert obs.shape[1] == obs_size(release=True)
    assert np.all(acts == to_action(A(4, 4, 0), kind))  # the half split, nothing released
    warm_start(model, data, steps=steps, entropy=0.0, seed=0)
    clone = export_policy(model, cfg)
    got = {clone.decide(_state(int(r), 0.0)) for r in range(3)}
    assert got == {A(4, 4, 0)}
