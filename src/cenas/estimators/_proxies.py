"""Zero-cost proxies of a NAS-Bench-201 cell at initialisation.

Each proxy scores an untrained network from at most a few forward/backward passes over one
batch (higher is better, except where a paper's sign convention says otherwise, which is
kept as published):

* ``synflow`` -- Tanaka, Kunin, Yamins, Ganguli, "Pruning neural networks without any data
  by iteratively conserving synaptic flow", NeurIPS 2020, as a NAS proxy in Abdelfattah,
  Mehrotra, Dudziak, Lane, "Zero-Cost Proxies for Lightweight NAS", ICLR 2021.
* ``naswot`` -- Mellor, Turner, Storkey, Crowley, "Neural Architecture Search without
  Training", ICML 2021 (the ReLU-code kernel of the published version).
* ``jacob_cov`` -- Mellor, Turner, Storkey, Crowley, arXiv:2006.04647 v1 (2020), the
  Jacobian-covariance score, as Abdelfattah et al. (2021) evaluate it.
* ``snip`` -- Lee, Ajanthan, Torr, "SNIP: Single-shot Network Pruning based on Connection
  Sensitivity", ICLR 2019.
* ``grad_norm`` -- the sum of per-layer gradient norms, Abdelfattah et al. (2021).
* ``grasp`` -- Wang, Zhang, Grosse, "Picking Winning Tickets Before Training by Preserving
  Gradient Flow", ICLR 2020, as Abdelfattah et al. (2021) use it.
* ``fisher`` -- Theis, Korshunova, Tejani, Huszár, "Faster gaze prediction with dense
  networks and Fisher pruning", 2018, and Turner, Crowley, O'Boyle, Storkey, Gray,
  "BlockSwap", ICLR 2020, as Abdelfattah et al. (2021) define it.
* ``params`` and ``flops`` -- the trainable parameter count and the FLOPs of one forward pass
  on one image (:func:`cenas.nn.count_params`, :func:`cenas.nn.count_flops`).

CE-NAS (Zhao, Liu, Jiang, Guo, NeurIPS 2024) calls the proxies that need one backward pass
of the loss -- ``snip``, ``grad_norm`` and ``grasp`` -- its "gradient proxy"
(:data:`GRADIENT_PROXIES`; their :class:`~cenas.estimators.Cost` kind is ``gradient``).

Conventions shared by every proxy (they follow Abdelfattah et al.'s code, zero-cost-nas):

* **Initialisation.** The network is :func:`cenas.nn.build_nb201` built right after
  ``torch.manual_seed(init_seed)`` (default 0), i.e. PyTorch's default initialisation
  (Kaiming-uniform with ``a=sqrt(5)`` for convolutions and the linear layer, the linear
  bias uniform, batch-norm weight 1 and bias 0). Every proxy runs on a fresh copy of those
  same initial weights (a ``deepcopy``), so one proxy's passes never leak into another's.
* **Mode.** Networks are in training mode: batch norm normalises with the batch's
  statistics, as in zero-cost-nas (``synflow`` removes batch norm instead, see below).
* **Layers.** Per-weight proxies (``synflow``, ``snip``, ``grad_norm``, ``grasp``) sum over
  the weights of every ``Conv2d`` and ``Linear`` layer (not biases, not batch norm);
  ``fisher`` sums over the output channels of every ``Conv2d`` and ``Linear`` layer;
  ``naswot`` reads every ``ReLU``.
* **Batch.** Data-dependent proxies read one batch of 64 real training images chosen by a
  seeded random draw (:func:`make_batch`), normalised with the CIFAR per-channel mean and
  standard deviation, without augmentation; the loss is the mean cross-entropy.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cenas.datasets import ImageSet, normalize
from cenas.errors import CenasError
from cenas.estimators._base import Cost, EstimateResult, LiveEstimator
from cenas.nn import build_nb201, count_flops, count_params

PROXIES: tuple[str, ...] = (
    "synflow",
    "naswot",
    "jacob_cov",
    "snip",
    "grad_norm",
    "grasp",
    "fisher",
    "params",
    "flops",
)
"""Every proxy :func:`compute_proxy` knows, in the order the tables store them."""

GRADIENT_PROXIES: tuple[str, ...] = ("snip", "grad_norm", "grasp")
"""CE-NAS's "gradient proxy": the proxies built on one backward pass of the loss."""

VOTE_MEMBERS: tuple[str, ...] = ("synflow", "jacob_cov", "naswot")
"""Members of the vote, chosen a priori from published figures, not from our tables.

On NAS-Bench-201 CIFAR-10, Abdelfattah et al. (ICLR 2021, Table 2) report Spearman rank
correlations with final accuracy of 0.74 for ``synflow`` and 0.73 for ``jacob_cov``, the two
best single proxies of their study, and their own vote combines ``synflow``, ``jacob_cov``
and ``snip``. Mellor et al. (ICML 2021) report Kendall's tau 0.574 for ``naswot``, above
``snip`` (0.58 Spearman in Abdelfattah et al.). The three highest published proxies make
the vote.
"""

DEFAULT_BATCH_SIZE = 64
"""Images in the proxies' batch (zero-cost-nas's NAS-Bench-201 setting)."""

JACOB_COV_K = 1e-5
"""The constant ``k`` in the ``jacob_cov`` score."""

NetFactory = Callable[[], nn.Module]
"""Returns a fresh network with the same initial weights on every call."""


@dataclass(frozen=True)
class ProxyBatch:
    """The batch a proxy reads.

    Attributes:
        inputs: Normalised ``float32`` images ``(B, 3, H, W)`` on the device to run on.
        targets: ``int64`` labels ``(B,)`` on the same device.
        indices: Positions of the images in the :class:`~cenas.datasets.ImageSet` drawn from.
        seed: Seed of the draw.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    indices: tuple[int, ...]
    seed: int

    @property
    def device(self) -> torch.device:
        """Where the batch lives."""
        return self.inputs.device


def make_batch(
    data: ImageSet,
    size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> ProxyBatch:
    """Draw ``size`` images of ``data`` without replacement, seeded, and normalise them.

    The draw is the first ``size`` entries of ``torch.randperm(len(data))`` under a CPU
    generator seeded with ``seed``; images are normalised with the per-channel CIFAR mean and
    standard deviation of ``data.dataset`` and are not augmented.

    Raises:
        CenasError: If ``data`` has fewer than ``size`` images.
    """
    n = len(data)
    if size < 1:
        raise CenasError(f"batch size: must be positive, got {size}")
    if n < size:
        raise CenasError(f"{data.source}: the proxies need {size} images, the data set has {n}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=gen)[:size]
    dev = torch.device(device)
    images = data.images[idx].to(dev)
    inputs = normalize(images, data.dataset)
    targets = data.labels[idx].to(dev)
    return ProxyBatch(inputs, targets, tuple(int(i) for i in idx), seed)


def nb201_factory(
    arch: str | int | Sequence[int],
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
    init_seed: int = 0,
) -> NetFactory:
    """A factory of fresh copies of one seeded NAS-Bench-201 network.

    The network is built once, right after ``torch.manual_seed(init_seed)`` (PyTorch's
    default initialisation; the global RNG state is restored afterwards), and each call
    returns a ``deepcopy`` of it in training mode.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        initial = build_nb201(arch, channels, cells_per_stage, num_classes)

    def factory() -> nn.Module:
        net = copy.deepcopy(initial)
        net.train()
        return net

    return factory


def _weighted_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def _weights(net: nn.Module) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for m in _weighted_layers(net):
        assert isinstance(m.weight, torch.Tensor)
        out.append(m.weight)
    return out


def _remove_batchnorm(net: nn.Module) -> nn.Module:
    """Replace every batch norm by the identity, in place (returns ``net``)."""
    for name, child in list(net.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(net, name, nn.Identity())
        else:
            _remove_batchnorm(child)
    return net


def synflow_score(net: nn.Module, input_shape: Sequence[int]) -> float:
    """Synaptic flow (Tanaka et al., 2020) as Abdelfattah et al. (2021) compute it.

    Batch norm is removed (the layers become identities); the network is cast to double
    precision and every parameter is replaced by its absolute value; the input is one
    all-ones image of shape ``input_shape``; ``R`` is the sum of the network's output, and
    the score is ``sum |θ ⊙ ∂R/∂θ|`` over the weights of every convolution and linear layer.
    ``net`` is modified: pass a fresh copy.
    """
    _remove_batchnorm(net)
    net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    device = next(net.parameters()).device
    x = torch.ones((1, *input_shape), dtype=torch.float64, device=device)
    weights = _weights(net)
    out = net(x)
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    total = torch.zeros((), dtype=torch.float64, device=device)
    for w, g in zip(weights, grads, strict=True):
        if g is not None:
            total = total + (w * g).abs().sum()
    return float(total.item())


def naswot_score(net: nn.Module, inputs: torch.Tensor) -> float:
    """NASWOT (Mellor et al., ICML 2021): log-determinant of the ReLU-code kernel.

    Every ``ReLU`` module's input over the batch is binarised (``1`` where positive) into a
    code ``c_i`` per image; the kernel sums, over all ReLUs, ``K_ij = N_A - d_H(c_i, c_j)``
    (``N_A`` units, ``d_H`` the Hamming distance), computed as
    ``c cᵀ + (1 - c)(1 - c)ᵀ`` in double precision. The score is ``log|det K|``
    (``slogdet``); ``-inf`` when ``K`` is singular (two images with identical codes).
    """
    n = inputs.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=inputs.device)

    def hook(_module: nn.Module, args: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        codes = (args[0].detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.t()).add_((1.0 - codes) @ (1.0 - codes).t())

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net(inputs)
    finally:
        for h in handles:
            h.remove()
    _sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet.item())


def jacob_cov_score(net: nn.Module, inputs: torch.Tensor, k: float = JACOB_COV_K) -> float:
    """Jacobian covariance (Mellor et al., 2020 v1) as Abdelfattah et al. (2021) compute it.

    ``J`` is the gradient of the summed network output with respect to the input, one row of
    ``3·H·W`` per image; ``Σ`` is the correlation matrix of the rows (``numpy.corrcoef``) and
    ``λ`` its eigenvalues (symmetric solver); the score is ``-Σ (log(λ + k) + 1/(λ + k))``.
    NaN when a row is constant (an output that does not depend on the input, e.g. a cell
    whose edges into the output node are all ``none``), as the correlation is undefined.
    """
    x = inputs.detach().clone().requires_grad_(True)
    out = net(x)
    (jac,) = torch.autograd.grad(out.sum(), [x])
    rows = jac.reshape(jac.shape[0], -1).detach().to("cpu", torch.float64).numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(rows)
    if not np.all(np.isfinite(corr)):
        return math.nan
    lam = np.linalg.eigvalsh(corr)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(-np.sum(np.log(lam + k) + 1.0 / (lam + k)))


def _loss_grads(
    net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, create_graph: bool = False
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    weights = _weights(net)
    loss = F.cross_entropy(net(inputs), targets)
    grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True)
    filled = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads, strict=True)]
    return weights, filled


def snip_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """SNIP connection sensitivity (Lee et al., ICLR 2019), summed over the network.

    ``Σ |θ ⊙ ∂L/∂θ|`` over the weights of every convolution and linear layer, ``L`` the mean
    cross-entropy of the batch (one forward and one backward pass). A gradient proxy.
    """
    weights, grads = _loss_grads(net, inputs, targets)
    return float(
        sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads, strict=True))
    )


def grad_norm_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Gradient norm (Abdelfattah et al., ICLR 2021): ``Σ_l ‖∂L/∂θ_l‖₂``.

    The sum over every convolution and linear layer ``l`` of the Euclidean (Frobenius) norm of
    the mean cross-entropy's gradient with respect to its weight. A gradient proxy.
    """
    _, grads = _loss_grads(net, inputs, targets)
    return float(sum(float(g.norm()) for g in grads))


def grasp_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """GraSP (Wang et al., ICLR 2020) as Abdelfattah et al. (2021) compute it: ``Σ -θ ⊙ Hg``.

    ``g = ∂L/∂θ`` of the mean cross-entropy, held constant, and ``Hg`` the gradient of
    ``gᵀ ∂L/∂θ`` (a Hessian-gradient product), summed over the weights of every convolution
    and linear layer, temperature 1. zero-cost-nas runs two identical forward passes, one for
    ``g`` and one to differentiate twice; the forward pass is deterministic (no dropout, batch
    norm on the batch's statistics), so here ``g`` is the detached gradient of the one pass
    that is differentiated twice: the same quantity for one forward pass less. A gradient
    proxy.
    """
    weights, grads = _loss_grads(net, inputs, targets, create_graph=True)
    z = sum((g.detach() * g).sum() for g in grads)
    assert isinstance(z, torch.Tensor)
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    total = 0.0
    for w, h in zip(weights, hg, strict=True):
        if h is not None:
            total += float((-w.detach() * h).sum())
    return total


def fisher_score(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fisher information of activations (Theis et al., 2018; Turner et al., 2020).

    For the output ``a`` of every convolution and linear layer and ``∂L/∂a`` of the mean
    cross-entropy, per output channel ``k``: ``0.5 · mean_n (Σ_spatial a·∂L/∂a)²``
    (``n`` the images of the batch); the score sums this over channels and layers, as
    Abdelfattah et al. (2021) define it (one forward and one backward pass).
    """
    total = [0.0]

    def on_output(_module: nn.Module, _args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        act = out.detach()

        def on_grad(grad: torch.Tensor) -> None:
            prod = act * grad.detach()
            g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            total[0] += float(g_nk.pow(2).mean(0).mul(0.5).sum())

        out.register_hook(on_grad)

    handles = [m.register_forward_hook(on_output) for m in _weighted_layers(net)]
    try:
        loss = F.cross_entropy(net(inputs), targets)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    return total[0]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compute_proxy(
    name: str,
    net_factory: NetFactory,
    batch: ProxyBatch,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Compute one proxy on a fresh copy of the factory's network.

    Args:
        name: One of :data:`PROXIES`.
        net_factory: Returns a fresh network with the same initial weights each call
            (:func:`nb201_factory`).
        batch: The batch data-dependent proxies read (its device is where they run);
            ``synflow`` reads only its image shape, ``params`` and ``flops`` none of it.
        clock: What the seconds are read from: wall time (``time.perf_counter``), or the
            process's CPU time (``time.process_time``) for a CPU measurement that must not
            count the time the process waited for a shared core or was stopped.

    Returns:
        ``(score, seconds)``: seconds by ``clock`` from copying the network to the score
        (device work synchronised).

    Raises:
        CenasError: For an unknown proxy name.
    """
    if name not in PROXIES:
        raise CenasError(f"proxy: unknown name {name!r}; choose one of {', '.join(PROXIES)}")
    device = batch.device
    _sync(device)
    start = clock()
    net = net_factory().to(device)
    score: float
    if name == "synflow":
        score = synflow_score(net, tuple(batch.inputs.shape[1:]))
    elif name == "naswot":
        score = naswot_score(net, batch.inputs)
    elif name == "jacob_cov":
        score = jacob_cov_score(net, batch.inputs)
    elif name == "snip":
        score = snip_score(net, batch.inputs, batch.targets)
    elif name == "grad_norm":
        score = grad_norm_score(net, batch.inputs, batch.targets)
    elif name == "grasp":
        score = grasp_score(net, batch.inputs, batch.targets)
    elif name == "fisher":
        score = fisher_score(net, batch.inputs, batch.targets)
    elif name == "params":
        score = float(count_params(net))
    else:
        score = float(count_flops(net, tuple(batch.inputs.shape[1:])))  # type: ignore[arg-type]
    _sync(device)
    return score, clock() - start


def compute_proxies(
    names: Sequence[str], net_factory: NetFactory, batch: ProxyBatch
) -> dict[str, tuple[float, float]]:
    """:func:`compute_proxy` for each name, in order: name -> ``(score, seconds)``."""
    return {name: compute_proxy(name, net_factory, batch) for name in names}


def proxy_cost(name: str) -> Cost:
    """The :class:`~cenas.estimators.Cost` of one proxy.

    ``passes`` counts forward(+backward) passes over the batch: one for every data proxy
    and ``synflow`` (one image), two for ``grasp`` (the second with a double backward);
    ``params`` needs none and ``flops`` one forward pass of one image.
    """
    if name not in PROXIES:
        raise CenasError(f"proxy: unknown name {name!r}; choose one of {', '.join(PROXIES)}")
    kind = "gradient" if name in GRADIENT_PROXIES else "zero-cost"
    passes = {"grasp": 2, "params": 0}.get(name, 1)
    return Cost(kind=kind, passes=passes)


class _ProxyRunner:
    """Shared batch handling of the proxy estimators."""

    def __init__(
        self,
        batch_size: int,
        batch_seed: int,
        init_seed: int,
        channels: int,
        cells_per_stage: int,
    ) -> None:
        self.batch_size = batch_size
        self.batch_seed = batch_seed
        self.init_seed = init_seed
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self._batch: ProxyBatch | None = None
        self._key: tuple[int, str] | None = None

    def batch_for(self, data: ImageSet, device: torch.device) -> tuple[ProxyBatch, float]:
        key = (id(data), str(device))
        if self._batch is not None and self._key == key:
            return self._batch, 0.0
        start = time.perf_counter()
        self._batch = make_batch(data, self.batch_size, self.batch_seed, device)
        self._key = key
        return self._batch, time.perf_counter() - start

    def factory(self, arch: str, data: ImageSet) -> NetFactory:
        return nb201_factory(
            arch, self.channels, self.cells_per_stage, data.num_classes, self.init_seed
        )


class ZeroCostEstimator(LiveEstimator):
    """One zero-cost proxy as a live estimator.

    Args:
        proxy: One of :data:`PROXIES`.
        batch_size: Images in the proxy batch (64).
        batch_seed: Seed of the batch draw (:func:`make_batch`).
        init_seed: Seed of the network's initialisation (:func:`nb201_factory`).
        channels: ``C`` of the network (16 in NAS-Bench-201).
        cells_per_stage: ``N`` of the network (5 in NAS-Bench-201).
    """

    def __init__(
        self,
        proxy: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_seed: int = 0,
        init_seed: int = 0,
        channels: int = 16,
        cells_per_stage: int = 5,
    ) -> None:
        self.cost = proxy_cost(proxy)
        self.proxy = proxy
        self.name = f"zero-cost:{proxy}"
        self._runner = _ProxyRunner(batch_size, batch_seed, init_seed, channels, cells_per_stage)

    def prepare(self, data: ImageSet, device: torch.device) -> float:
        """Draw the batch onto ``device``; returns its seconds."""
        return self._runner.batch_for(data, device)[1]

    def estimate(self, arch: str, data: ImageSet, device: torch.device) -> EstimateResult:
        """The proxy's score of ``arch``; ``seconds`` includes building the network."""
        start = time.perf_counter()
        batch, _ = self._runner.batch_for(data, device)
        factory = self._runner.factory(arch, data)
        score, proxy_seconds = compute_proxy(self.proxy, factory, batch)
        return EstimateResult(
            arch_str=arch,
            estimator=self.name,
            score=score,
            seconds=time.perf_counter() - start,
            device=str(device),
            extra={"proxy_seconds": proxy_seconds, "batch_size": len(batch.indices)},
        )


def vote_ranks(scores: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
    """The vote of a population: the mean over members of each cell's rank.

    Ranks run from 1 (lowest score) to ``n`` (highest), ties share their average rank, and a
    NaN score ranks below every number (``-inf`` included). Higher means better.
    """
    from scipy.stats import rankdata

    columns = []
    for values in scores.values():
        arr = np.asarray(values, dtype=np.float64)
        nan = np.isnan(arr)
        ranks = np.empty(arr.shape, dtype=np.float64)
        ranks[nan] = (int(nan.sum()) + 1) / 2.0
        ranks[~nan] = rankdata(arr[~nan], method="average") + int(nan.sum())
        columns.append(ranks)
    if not columns:
        raise CenasError("vote: no members")
    return np.mean(np.stack(columns), axis=0)


def shipped_reference(
    members: Sequence[str] = VOTE_MEMBERS,
) -> dict[str, list[float]] | None:
    """Member scores of every cell of the shipped proxy table that has all of them.

    The table is ``cenas/data/nb201/nb201_proxies.csv.gz`` (``cenas estimators ship``:
    CIFAR-10, 64 training images drawn with seed 0, C=16, N=5, init seed 0). ``None`` when
    the package has no table or no cell with every member.
    """
    import gzip
    from importlib import resources

    import pandas as pd

    path = resources.files("cenas") / "data" / "nb201" / "nb201_proxies.csv.gz"
    if not path.is_file():
        return None
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        table = pd.read_csv(fh)
    if any(f"{m}_s" not in table.columns for m in members):
        return None
    table = table[table[[f"{m}_s" for m in members]].notna().all(axis=1)]
    if table.empty:
        return None
    return {m: [float(v) for v in table[m]] for m in members}


class VoteEstimator(LiveEstimator):
    """The vote of several proxies (Abdelfattah et al., ICLR 2021, Section 5).

    A vote is a ranking: over a population of cells, each member proxy ranks the cells and
    the vote is the mean rank (:func:`vote_ranks`); :meth:`rank` scores a population that
    way. A single cell has no rank of its own, so :meth:`estimate` ranks it inside a
    reference population: by default every cell this estimator has estimated so far
    (itself included), or the scores given as ``reference`` (member -> scores of the
    reference cells, e.g. :func:`shipped_reference`, the shipped proxy table; ``cenas
    estimate`` uses it). Its ``score`` is the cell's mean member percentile in that
    population, ``(rank - 1) / (n - 1)`` averaged over members (``1.0`` alone), and ``extra``
    holds every member's raw score and seconds and the population size.

    Args:
        members: Proxies of the vote (:data:`VOTE_MEMBERS`).
        reference: Optional reference population, member -> scores.
        batch_size, batch_seed, init_seed, channels, cells_per_stage: As
            :class:`ZeroCostEstimator`.
    """

    def __init__(
        self,
        members: Sequence[str] = VOTE_MEMBERS,
        reference: Mapping[str, Sequence[float]] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_seed: int = 0,
        init_seed: int = 0,
        channels: int = 16,
        cells_per_stage: int = 5,
    ) -> None:
        if not members:
            raise CenasError("vote: members must not be empty")
        for m in members:
            proxy_cost(m)
        self.members = tuple(members)
        self.name = "zero-cost:vote"
        kinds = {proxy_cost(m).kind for m in self.members}
        self.cost = Cost(
            kind="gradient" if kinds == {"gradient"} else "zero-cost",
            passes=sum(proxy_cost(m).passes for m in self.members),
        )
        self._runner = _ProxyRunner(batch_size, batch_seed, init_seed, channels, cells_per_stage)
        self._history: dict[str, list[float]] = {m: [] for m in self.members}
        self._reference = (
            {m: list(reference[m]) for m in self.members} if reference is not None else None
        )
        if reference is not None:
            missing = [m for m in self.members if m not in reference]
            if missing:
                raise CenasError(f"vote reference: no scores for {', '.join(missing)}")

    def prepare(self, data: ImageSet, device: torch.device) -> float:
        """Draw the batch onto ``device``; returns its seconds."""
        return self._runner.batch_for(data, device)[1]

    def member_scores(
        self, arch: str, data: ImageSet, device: torch.device
    ) -> dict[str, tuple[float, float]]:
        """Each member's ``(score, seconds)`` for ``arch``."""
        batch, _ = self._runner.batch_for(data, device)
        return compute_proxies(self.members, self._runner.factory(arch, data), batch)

    def rank(self, cells: Sequence[str], data: ImageSet, device: torch.device) -> dict[str, float]:
        """The vote over ``cells``: cell -> mean member rank (1 = worst, ``n`` = best)."""
        raw: dict[str, list[float]] = {m: [] for m in self.members}
        for arch in cells:
            for m, (score, _s) in self.member_scores(arch, data, device).items():
                raw[m].append(score)
        votes = vote_ranks(raw)
        return {arch: float(v) for arch, v in zip(cells, votes, strict=True)}

    def estimate(self, arch: str, data: ImageSet, device: torch.device) -> EstimateResult:
        """Mean member percentile of ``arch`` in the reference population (see the class)."""
        start = time.perf_counter()
        scores = self.member_scores(arch, data, device)
        if self._reference is None:
            for m, (score, _s) in scores.items():
                self._history[m].append(score)
            population = self._history
            pos = len(population[self.members[0]]) - 1
        else:
            population = {m: [*self._reference[m], scores[m][0]] for m in self.members}
            pos = len(population[self.members[0]]) - 1
        n = pos + 1
        votes = vote_ranks(population)
        score = 1.0 if n == 1 else float((votes[pos] - 1.0) / (n - 1.0))
        extra: dict[str, Any] = {m: s for m, (s, _t) in scores.items()}
        extra.update({f"{m}_s": t for m, (_s, t) in scores.items()})
        extra["population"] = n
        return EstimateResult(
            arch_str=arch,
            estimator=self.name,
            score=score,
            seconds=time.perf_counter() - start,
            device=str(device),
            extra=extra,
        )


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "GRADIENT_PROXIES",
    "JACOB_COV_K",
    "PROXIES",
    "VOTE_MEMBERS",
    "NetFactory",
    "ProxyBatch",
    "VoteEstimator",
    "ZeroCostEstimator",
    "compute_proxies",
    "compute_proxy",
    "fisher_score",
    "grad_norm_score",
    "grasp_score",
    "jacob_cov_score",
    "make_batch",
    "naswot_score",
    "nb201_factory",
    "proxy_cost",
    "shipped_reference",
    "snip_score",
    "synflow_score",
    "vote_ranks",
]
