"""The learned allocation policy as a plain network, stored without pickle.

Reference: CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024), whose allocation agent maps the
search and carbon state to a share of training GPUs. Here the trained actor network of
PPO is exported to two files:

* ``<stem>.npz``: the weight matrices and biases (``layer0.weight``, ``layer0.bias``, …),
  written with :func:`numpy.savez` and read with ``allow_pickle=False``;
* ``<stem>.json``: the format tag, action space, activation, layer names, observation spec
  and training provenance.

:class:`RLPolicy` runs the network in numpy, deterministically: the arg-max level of the
discrete head, or the mean of the continuous head clipped into [0, 1]. Loading never
unpickles anything, so a shipped or downloaded policy file cannot execute code.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cenas.errors import ConfigError
from cenas.policy.base import Policy, State
from cenas.policy.rl._action import ACTION_KINDS, action_to_gpus
from cenas.policy.rl._obs import DEFAULT_HORIZON, feature_names, obs_spec, observation

FORMAT = "cenas-rl-policy"
FORMAT_VERSION = 1
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
        action: ``discrete`` or ``continuous``.
        n_levels: Levels of the discrete head.
        horizon: Forecast hours in the observation.
        activation: ``tanh`` or ``relu``.
        meta: Extra JSON-ready information (training provenance).

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
    ) -> None:
        if action not in ACTION_KINDS:
            raise ConfigError(f"policy action: must be one of {', '.join(ACTION_KINDS)}")
        if activation not in ACTIVATIONS:
            raise ConfigError(f"policy activation: must be one of {', '.join(ACTIVATIONS)}")
        if not layers:
            raise ConfigError("policy: no layers")
        width = len(feature_names(horizon))
        for i, (w, b) in enumerate(layers):
            if w.ndim != 2 or b.shape != (w.shape[0],) or w.shape[1] != width:
                raise ConfigError(f"policy: layer {i} has shape {w.shape}, expected (*, {width})")
            width = w.shape[0]
        expected = n_levels if action == "discrete" else 1
        if width != expected:
            raise ConfigError(f"policy: output width {width}, expected {expected} for {action}")
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
        self.action = action
        self.n_levels = n_levels
        self.horizon = horizon
        self.activation = activation
        self.meta = dict(meta or {})
        self.name = "rl" if action == "discrete" else "rl-continuous"

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
        """The deterministic action: a level (discrete) or a share in [0, 1] (continuous)."""
        out = self.forward(obs)
        if self.action == "discrete":
            return np.asarray(int(np.argmax(out)))
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def share(self, state: State) -> float:
        """Share of the pool the policy trains in ``state``, in [0, 1]."""
        a = self.act(observation(state, self.horizon))
        if self.action == "discrete":
            return float(a) / (self.n_levels - 1)
        return float(a.reshape(-1)[0])

    def decide(self, state: State) -> int:
        """Training GPUs: the network's deterministic action mapped onto the pool."""
        a = self.act(observation(state, self.horizon))
        return action_to_gpus(a, self.action, state.n_gpus, self.n_levels)

    # ----------------------------------------------------------------- storage
    def spec(self) -> dict[str, Any]:
        """The JSON side of the stored policy."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "action": self.action,
            "n_levels": self.n_levels,
            "activation": self.activation,
            "layers": [
                {"name": f"layer{i}", "in": int(w.shape[1]), "out": int(w.shape[0])}
                for i, (w, _) in enumerate(self.layers)
            ],
            "obs": obs_spec(self.horizon),
            "meta": self.meta,
        }

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
        if spec.get("version") != FORMAT_VERSION:
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
                n_levels=int(spec["n_levels"]),
                horizon=int(spec["obs"]["horizon"]),
                activation=str(spec["activation"]),
                meta=dict(spec.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise ConfigError(f"{source}: {exc}") from None
            raise ConfigError(f"{source}: malformed policy ({exc!r})") from None


def default_policy_stem(kind: str) -> str:
    """File stem of the shipped policy of ``kind`` in ``cenas/data/policy``."""
    return f"rl-{kind}"


def load_default_policy(kind: str = "discrete") -> RLPolicy:
    """The pretrained policy shipped with cenas (``discrete`` or ``continuous``).

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


__all__ = ["FORMAT", "RLPolicy", "default_policy_stem", "load_default_policy"]
