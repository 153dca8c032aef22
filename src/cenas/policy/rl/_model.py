"""The learned allocation policy as a plain network, stored without pickle.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), whose allocation agent maps the
search and carbon state to a share of training GPUs. Here the trained actor network of
PPO is exported to two files:

* ``<stem>.npz``: the weight matrices and biases (``layer0.weight``, ``layer0.bias``, …),
  written with :func:`numpy.savez` and read with ``allow_pickle=False``;
* ``<stem>.json``: the format tag, action kind and its level counts (``n_levels``; for
  ``discrete-release`` also ``n_release_levels``), activation, layer names, observation
  spec and training provenance.

:class:`RLPolicy` runs the network in numpy, deterministically: the arg-max level of the
discrete head (for ``discrete-release``, the arg-max of the first ``n_levels`` logits and of
the last ``n_release_levels``: SB3's ``MultiDiscrete`` head is one linear layer whose
outputs are the logits of each dimension in turn), or the mean of the continuous head
clipped into [0, 1] (two means for ``continuous-release``). It answers an
:class:`~cenas.policy.base.Allocation` (:func:`~cenas.policy.rl.action_to_allocation`).

Format versions: a policy of the two original kinds is written as version 1, exactly as
before; a release kind as version 2 (with ``n_release_levels`` and the release observation
of :mod:`cenas.policy.rl._obs`), so an older cenas refuses it by its version instead of
misreading it. Both versions load. The observation layout is taken from the stored spec's
feature names. Loading never unpickles anything, so a shipped or downloaded policy file
cannot execute code.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cenas.errors import ConfigError
from cenas.policy.base import Allocation, Policy, State
from cenas.policy.rl._action import (
    ACTION_KINDS,
    DEFAULT_LEVELS,
    DEFAULT_RELEASE_LEVELS,
    DISCRETE_KINDS,
    RELEASE_KINDS,
    action_to_allocation,
    action_width,
)
from cenas.policy.rl._obs import (
    DEFAULT_HORIZON,
    feature_names,
    obs_spec,
    observation,
    spec_has_release,
)

FORMAT = "cenas-rl-policy"
FORMAT_VERSION = 2
"""Version written for the release kinds; the original kinds are written as version 1."""
FORMAT_VERSIONS: tuple[int, ...] = (1, 2)
"""Versions :meth:`RLPolicy.load` reads."""
POLICY_NAMES: dict[str, str] = {
    "discrete": "rl",
    "continuous": "rl-continuous",
    "discrete-release": "rl-discrete-release",
    "continuous-release": "rl-continuous-release",
}
"""Policy (registry) name of each action kind."""
ACTIVATIONS: tuple[str, ...] = ("tanh", "relu")

Layer = tuple[NDArray[np.float64], NDArray[np.float64]]


def _paths(path: str | Path) -> tuple[Path, Path]:
    """``(json, npz)`` paths of a policy given either file or the common stem."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".json", ".npz") else p
    return stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".npz")


class RLPolicy(Policy):
    """A learned GPU-allocation policy (CE-NAS, Zhao et al., NeurIPS 2024).

    Args:
        layers: ``(weight (out, in), bias (out,))`` of each linear layer, input to output;
            the activation follows every layer but the last.
        action: One of :data:`~cenas.policy.rl.ACTION_KINDS`.
        n_levels: Training levels of the discrete heads.
        horizon: Forecast hours in the observation.
        activation: ``tanh`` or ``relu``.
        meta: Extra JSON-ready information (training provenance).
        n_release_levels: Release levels of the ``discrete-release`` head.
        release_obs: Whether the network reads the release observation (``None``: exactly
            when the action kind releases).

    Raises:
        ConfigError: If the shapes do not chain or do not match the observation/action.
    """

    def __init__(
        self,
        layers: list[Layer],
        action: str = "discrete",
        n_levels: int = 10,
        horizon: int = DEFAULT_HORIZON,
        activation: str = "tanh",
        meta: dict[str, Any] | None = None,
        n_release_levels: int = DEFAULT_RELEASE_LEVELS,
        release_obs: bool | None = None,
    ) -> None:
        if action not in ACTION_KINDS:
            raise ConfigError(f"policy action: must be one of {', '.join(ACTION_KINDS)}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"policy activation: must be one of {', '.join(ACTIVATIONS)}")
        if not layers:
            raise ConfigError("policy: no layers")
        if min(n_levels, n_release_levels) < 2:
            raise ConfigError("policy levels: need at least 2")
        self.release_obs = action in RELEASE_KINDS if release_obs is None else release_obs
        width = len(feature_names(horizon, self.release_obs))
        for i, (w, b) in enumerate(layers):
            if w.ndim != 2 or b.shape != (w.shape[0],) or w.shape[1] != width:
                raise ConfigError(f"policy: layer {i} has shape {w.shape}, expected (*, {width})")
            width = w.shape[0]
        expected = action_width(action, n_levels, n_release_levels)
        if width != expected:
            raise ConfigError(f"policy: output width {width}, expected {expected} for {action}")
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
        self.action = action
        self.n_levels = n_levels
        self.n_release_levels = n_release_levels
        self.horizon = horizon
        self.activation = activation
        self.meta = dict(meta or {})
        self.name = POLICY_NAMES[action]

    # ------------------------------------------------------------------ running
    def forward(self, obs: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
        """Raw network output (logits or mean) for one observation."""
        x = np.asarray(obs, dtype=np.float64)
        for i, (w, b) in enumerate(self.layers):
            x = w @ x + b
            if i < len(self.layers) - 1:
                x = np.tanh(x) if self.activation == "tanh" else np.maximum(x, 0.0)
        return x

    def act(self, obs: NDArray[np.floating[Any]]) -> NDArray[Any]:
        """The deterministic action: a level (``discrete``), a pair of levels
        (``discrete-release``) or the shares clipped into [0, 1] (continuous kinds)."""
        out = self.forward(obs)
        if self.action == "discrete":
            return np.asarray(int(np.argmax(out)))
        if self.action == "discrete-release":
            k = self.n_levels
            return np.array([int(np.argmax(out[:k])), int(np.argmax(out[k:]))], dtype=np.int64)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def observe(self, state: State) -> NDArray[np.float32]:
        """The observation vector the network reads for ``state``."""
        return observation(state, self.horizon, self.release_obs)

    def share(self, state: State) -> float:
        """Share of the pool the policy's action trains in ``state``, in [0, 1] (before
        rounding to GPUs)."""
        a = self.act(self.observe(state))
        if self.action in DISCRETE_KINDS:
            return float(np.asarray(a).reshape(-1)[0]) / (self.n_levels - 1)
        return float(a.reshape(-1)[0])

    def decide(self, state: State) -> Allocation:
        """The network's deterministic action mapped onto the pool
        (:func:`~cenas.policy.rl.action_to_allocation`)."""
        a = self.act(self.observe(state))
        return action_to_allocation(
            a, self.action, state.n_gpus, self.n_levels, self.n_release_levels
        )

    # ----------------------------------------------------------------- storage
    def spec(self) -> dict[str, Any]:
        """The JSON side of the stored policy."""
        new = self.action in RELEASE_KINDS or self.release_obs
        spec: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION if new else 1,
            "action": self.action,
            "n_levels": self.n_levels,
        }
        if new:
            spec["n_release_levels"] = self.n_release_levels
        spec.update(
            {
                "activation": self.activation,
                "layers": [
                    {"name": f"layer{i}", "in": int(w.shape[1]), "out": int(w.shape[0])}
                    for i, (w, _) in enumerate(self.layers)
                ],
                "obs": obs_spec(self.horizon, self.release_obs),
                "meta": self.meta,
            }
        )
        return spec

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``<stem>.json`` and ``<stem>.npz``; returns both paths."""
        js, npz = _paths(path)
        js.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, NDArray[np.float32]] = {}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"layer{i}.weight"] = w.astype(np.float32)
            arrays[f"layer{i}.bias"] = b.astype(np.float32)
        with npz.open("wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        js.write_text(json.dumps(self.spec(), indent=2) + "\n", encoding="utf-8")
        return js, npz

    @classmethod
    def load(cls, path: str | Path) -> RLPolicy:
        """Read a policy written by :meth:`save` (either file or the stem), without pickle.

        Raises:
            ConfigError: If a file is missing or not a cenas policy.
        """
        js, npz = _paths(path)
        try:
            spec = json.loads(js.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{js}: policy file not found") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{js}: not valid JSON ({exc})") from None
        try:
            with npz.open("rb") as fh:
                return cls._from_parts(spec, np.load(fh, allow_pickle=False), str(js))
        except FileNotFoundError:
            raise ConfigError(f"{npz}: policy weights not found") from None

    @classmethod
    def _from_parts(cls, spec: Any, arrays: Any, source: str) -> RLPolicy:
        if not isinstance(spec, dict) or spec.get("format") != FORMAT:
            raise ConfigError(f"{source}: not a cenas RL policy")
        if spec.get("version") not in FORMAT_VERSIONS:
            raise ConfigError(f"{source}: policy format version {spec.get('version')} unsupported")
        try:
            layers = [
                (
                    np.asarray(arrays[f"{layer['name']}.weight"], dtype=np.float64),
                    np.asarray(arrays[f"{layer['name']}.bias"], dtype=np.float64),
                )
                for layer in spec["layers"]
            ]
            return cls(
                layers,
                action=str(spec["action"]),
                n_levels=int(spec.get("n_levels", DEFAULT_LEVELS)),
                horizon=int(spec["obs"]["horizon"]),
                activation=str(spec["activation"]),
                meta=dict(spec.get("meta", {})),
                n_release_levels=int(spec.get("n_release_levels", DEFAULT_RELEASE_LEVELS)),
                release_obs=spec_has_release(spec["obs"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise ConfigError(f"{source}: {exc}") from None
            raise ConfigError(f"{source}: malformed policy ({exc!r})") from None


def default_policy_stem(kind: str) -> str:
    """File stem of the shipped policy of ``kind`` in ``cenas/data/policy``."""
    return f"rl-{kind}"


def load_default_policy(kind: str = "discrete") -> RLPolicy:
    """The pretrained policy of ``kind`` shipped with cenas (``discrete`` and ``continuous``
    are shipped).

    Raises:
        ConfigError: For an unknown kind or when the shipped files are missing.
    """
    if kind not in ACTION_KINDS:
        raise ConfigError(f"policy kind: must be one of {', '.join(ACTION_KINDS)}, got {kind!r}")
    folder = resources.files("cenas").joinpath("data", "policy")
    stem = default_policy_stem(kind)
    js, npz = folder.joinpath(stem + ".json"), folder.joinpath(stem + ".npz")
    if not (js.is_file() and npz.is_file()):
        raise ConfigError(f"no shipped {kind} RL policy in cenas/data/policy")
    spec = json.loads(js.read_text(encoding="utf-8"))
    with npz.open("rb") as fh:
        return RLPolicy._from_parts(spec, np.load(fh, allow_pickle=False), f"cenas:{stem}")


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FORMAT_VERSIONS",
    "POLICY_NAMES",
    "RLPolicy",
    "default_policy_stem",
    "load_default_policy",
]
