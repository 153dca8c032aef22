"""A short PPO run: completes, checkpoints, evaluates, exports and reloads without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cenas.cli import main
from cenas.cli._policy import app
from cenas.policy.rl import RLPolicy
from cenas.rl import (
    AllocationEnv,
    EnvConfig,
    PPOSettings,
    evaluate_policy,
    export_policy,
    run_episode,
    train_policy,
)
from cenas.rl._env import episodes
from cenas.rl._train import make_model, teacher_data, training_config, warm_start


def test_short_training(tmp_path: Path, short_config: EnvConfig) -> None:
    action = "discrete"
    ppo = PPOSettings(
        n_envs=2,
        n_steps=48,
        batch_size=48,
        n_epochs=2,
        hidden=(16, 16),
        warm_episodes=2,
        warm_steps=20,
    )
    result = train_policy(
        action,
        timesteps=192,
        seed=1,
        out_dir=tmp_path,
        config=short_config,
        ppo=ppo,
        eval_every=96,
        eval_episodes=1,
        checkpoint_every=96,
        progress_bar=False,
    )
    assert result.timesteps >= 192
    for stem in ("policy", "best"):
        assert (tmp_path / f"{stem}.json").is_file() and (tmp_path / f"{stem}.npz").is_file()
    assert list((tmp_path / "checkpoints").glob("*.zip"))
    assert len((tmp_path / "eval.csv").read_text().splitlines()) >= 3
    loaded = RLPolicy.load(tmp_path / "policy")
    assert loaded.action == action
    assert loaded.meta["command"].startswith(f"cenas policy train --action {action}")
    summary = evaluate_policy(
        loaded, config=short_config, years=[2022], n_episodes=1, baselines=["vanilla"]
    )
    assert set(summary) == {loaded.name, "vanilla"}


def test_short_continuous_training_without_warm_start(
    tmp_path: Path, short_config: EnvConfig
) -> None:
    ppo = PPOSettings(n_envs=1, n_steps=32, batch_size=32, n_epochs=1, warm_start=None)
    result = train_policy(
        "continuous",
        timesteps=64,
        seed=2,
        out_dir=tmp_path,
        config=short_config,
        ppo=ppo,
        eval_every=0,
        checkpoint_every=0,
        progress_bar=False,
    )
    loaded = RLPolicy.load(tmp_path / "best.json")
    assert loaded.action == "continuous" and "--warm-start none" in loaded.meta["command"]
    assert np.allclose(loaded.layers[0][0], result.policy.layers[0][0], atol=1e-6)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_export_matches_sb3(short_config: EnvConfig, action: str) -> None:
    from stable_baselines3 import PPO

    env = AllocationEnv(short_config.replace(action=action))
    model = PPO("MlpPolicy", env, seed=3, device="cpu", policy_kwargs={"net_arch": [32, 32]})
    pol = export_policy(model, env.config)
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs = rng.uniform(0, 1, size=env.observation_space.shape).astype(np.float32)
        want, _ = model.predict(obs, deterministic=True)
        got = pol.act(obs)
        if action == "discrete":
            assert int(got) == int(want)
        else:
            assert np.allclose(got, want, atol=1e-5)


def test_cli_evaluate_and_errors(
    tmp_path: Path, short_config: EnvConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--zones",
            "GB",
            "--years",
            "2023",
            "--episodes",
            "1",
            "--hours",
            "4",
            "--baselines",
            "vanilla",
        ],
        env={"COLUMNS": "150"},
    )
    assert result.exit_code == 0, result.output
    assert "mean HV/HVmax" in result.output and "vanilla" in result.output
    # through the real entry point: one line naming the field, exit code 2
    with pytest.raises(SystemExit) as exc:
        main(["policy", "evaluate", "--zones", "MARS"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zones: unknown 'MARS'" in err[0]


def test_parallel_training_matches_serial(tmp_path: Path, short_config: EnvConfig) -> None:
    """Environments in subprocesses give the same policy as in this process."""
    ppo = PPOSettings(n_envs=2, n_steps=16, batch_size=32, n_epochs=1, warm_start=None)
    weights = []
    for parallel in (False, True):
        result = train_policy(
            "discrete",
            timesteps=64,
            seed=5,
            out_dir=tmp_path / str(parallel),
            config=short_config,
            ppo=ppo,
            eval_every=0,
            checkpoint_every=0,
            progress_bar=False,
            parallel=parallel,
        )
        weights.append(result.policy.layers)
    for (wa, ba), (wb, bb) in zip(weights[0], weights[1], strict=True):
        assert np.array_equal(wa, wb) and np.array_equal(ba, bb)


@pytest.mark.parametrize("action", ["discrete", "continuous"])
def test_behaviour_cloning_reproduces_its_teacher(action: str, short_config: EnvConfig) -> None:
    """The cloned actor decides like the half/half teacher on its states and on new episodes."""
    cfg = training_config(action, short_config)
    settings = PPOSettings(n_envs=1, n_steps=16, batch_size=16, hidden=(16, 16))
    model = make_model(cfg, settings, seed=0)
    # a constant level is learnt fast; a Gaussian mean needs more data and steps
    n_eps, steps = (3, 300) if action == "discrete" else (6, 1500)
    data = teacher_data(cfg, "static", n_eps, seed=1, gamma=settings.gamma)
    warm_start(model, data, steps=steps, entropy=0.0, seed=0)
    clone = export_policy(model, cfg)
    obs, acts, _ = data
    if action == "discrete":  # level 4 of 0..9: 4 of the 8 GPUs
        assert set(acts.tolist()) == {4.0}
        assert [int(clone.act(o)) for o in obs] == acts.astype(int).tolist()
    else:  # share 0.5; 4 GPUs for any share in [0.4375, 0.5625)
        assert set(acts.tolist()) == {0.5}
        shares = np.array([float(clone.act(o)[0]) for o in obs])
        assert np.all(np.abs(shares - 0.5) < 0.0625)
    for ep in episodes(cfg, 2, seed=7):  # unseen episodes: the very same run
        mine, teacher = run_episode(clone, ep, cfg), run_episode("static", ep, cfg)
        assert (mine.carbon_g, mine.hv_ratio, mine.n_trained) == (
            teacher.carbon_g,
            teacher.hv_ratio,
            teacher.n_trained,
        )
