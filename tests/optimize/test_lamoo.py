"""LaMOO: labels, SVM splits, UCB selection, region sampling and relaxation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.svm import SVC

from cenas.optimize import LaMOO, LaMOONode, RandomSearch, hypervolume
from cenas.optimize._lamoo import svm_decision_all, ucb
from cenas.space import NB201Space

SPACE = NB201Space()
OPS = SPACE.indices_to_ops(np.arange(SPACE.size)).astype(np.float64)


def synthetic_objectives() -> tuple[np.ndarray, np.ndarray]:
    """A two-objective problem on the cell space: distances to two target cells."""
    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 0.0])
    b = np.array([4.0, 3.0, 2.0, 1.0, 0.0, 4.0])
    y = np.column_stack([((OPS - a) ** 2).sum(1), ((OPS - b) ** 2).sum(1)])
    return y, y.max(axis=0) + 1.0


Y_SYN, REF_SYN = synthetic_objectives()


def told(opt: LaMOO, cells: np.ndarray, y: np.ndarray) -> None:
    opt.exclude(cells)
    opt.tell(cells, y)


def test_labels_are_the_better_half_by_dominance_number() -> None:
    opt = LaMOO(SPACE, [10.0, 10.0])
    y = np.array([[float(k), float(k)] for k in (5, 0, 7, 2, 6, 1, 4, 3)])
    told(opt, np.arange(8), y)
    labels = opt.label(np.arange(8))
    # dominance numbers equal k: the four smallest k are good
    np.testing.assert_array_equal(labels, [0, 1, 0, 1, 0, 1, 0, 1])
    # a subset is ranked within itself
    np.testing.assert_array_equal(opt.label(np.array([0, 2, 4])), [1, 0, 1])  # ceil(3/2) good


def test_labels_break_ties_by_distance_to_ideal() -> None:
    opt = LaMOO(SPACE, [10.0, 10.0])
    front = np.array([[0.0, 9.0], [4.0, 4.0], [9.0, 0.0], [5.0, 5.5]])  # all non-dominated
    told(opt, np.arange(4), front)
    # ideal (0, 0), span (10, 10): distances 0.9, 0.8, 0.9, 1.05 -> the ceil(4/2) = 2 closest
    np.testing.assert_array_equal(opt.label(np.arange(4)), [1, 1, 0, 0])


def test_split_learns_the_good_half_and_partitions_samples_and_space() -> None:
    opt = LaMOO(SPACE, [10.0, 10.0], leaf_size=5)
    rng = np.random.default_rng(0)
    cells = rng.choice(SPACE.size, 80, replace=False)
    edge0 = OPS[cells, 0]
    y = np.column_stack([edge0, edge0])  # low operation on edge 0 is better in both
    told(opt, cells, y)
    root = LaMOONode(samples=np.arange(80), depth=0, region=np.ones(SPACE.size, dtype=bool))
    assert opt.split(root)
    good, bad = root.children
    assert (good.side, bad.side) == (1, 0)
    assert root.labels is not None
    # the children partition the samples ...
    np.testing.assert_array_equal(
        np.sort(np.concatenate([good.samples, bad.samples])), root.samples
    )
    # ... consistently with the regions, which partition the space
    assert good.region is not None and bad.region is not None
    assert not np.any(good.region & bad.region)
    assert np.all(good.region | bad.region)
    assert np.all(good.region[cells[good.samples]])
    assert np.all(bad.region[cells[bad.samples]])
    # the SVM fits the labels well and the good side holds the low edge-0 operations
    agreement = np.mean(root.labels[good.samples] == 1)
    assert agreement > 0.9
    assert OPS[cells[good.samples], 0].mean() < OPS[cells[bad.samples], 0].mean() - 1.0
    assert good.value >= bad.value
    assert good.value == pytest.approx(
        hypervolume(y[good.samples], [10.0, 10.0]) / hypervolume(y, [10.0, 10.0])
    )


def test_nodes_at_leaf_size_or_max_height_do_not_split() -> None:
    opt = LaMOO(SPACE, [10.0, 10.0], leaf_size=20, max_height=2)
    cells = np.arange(20)
    told(opt, cells, np.column_stack([OPS[cells, 5], -OPS[cells, 5]]))
    assert not opt.split(LaMOONode(samples=np.arange(20), depth=0))
    opt2 = LaMOO(SPACE, [10.0, 10.0], leaf_size=5, max_height=2)
    told(opt2, cells, np.column_stack([OPS[cells, 5], -OPS[cells, 5]]))
    assert not opt2.split(LaMOONode(samples=np.arange(20), depth=2))


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly"])
def test_decision_on_all_cells_matches_sklearn(kernel: str) -> None:
    rng = np.random.default_rng(1)
    cells = rng.choice(SPACE.size, 150, replace=False)
    x = SPACE.all_vectors()[cells]
    labels = (x[:, 0] + x[:, 3] + rng.normal(0, 0.2, 150) > 1.0).astype(int)
    gamma = 1.0 / (6 * x.var())
    clf = SVC(kernel=kernel, gamma=gamma).fit(x, labels)
    vectors = SPACE.all_vectors()
    got = svm_decision_all(clf, gamma, SPACE, vectors)
    np.testing.assert_allclose(got, clf.decision_function(vectors), atol=1e-9)


def crafted_tree() -> tuple[LaMOONode, dict[str, LaMOONode]]:
    """root(100) -> A(80, 0.90) -> {A1(70, 0.85), A2(10, 0.50)}; root -> B(20, 0.895)."""
    root = LaMOONode(samples=np.arange(100), depth=0, value=1.0)
    a = LaMOONode(samples=np.arange(80), depth=1, value=0.90, parent=root, side=1)
    b = LaMOONode(samples=np.arange(80, 100), depth=1, value=0.895, parent=root, side=0)
    a1 = LaMOONode(samples=np.arange(70), depth=2, value=0.85, parent=a, side=1)
    a2 = LaMOONode(samples=np.arange(70, 80), depth=2, value=0.50, parent=a, side=0)
    root.children = [a, b]
    a.children = [a1, a2]
    return root, {"A": a, "B": b, "A1": a1, "A2": a2}


def test_ucb_formula() -> None:
    root, nodes = crafted_tree()
    cp = 0.3
    want = 0.90 + 2 * cp * math.sqrt(2 * math.log(100) / 80)
    assert ucb(nodes["A"], cp) == pytest.approx(want)
    want_a2 = 0.50 + 2 * cp * math.sqrt(2 * math.log(80) / 10)
    assert ucb(nodes["A2"], cp) == pytest.approx(want_a2)
    assert ucb(root, cp) == 1.0
    assert ucb(nodes["A"], 0.0) == 0.90


def test_selection_modes_on_a_crafted_tree() -> None:
    root, nodes = crafted_tree()
    greedy_mcts = LaMOO(SPACE, [1.0, 1.0], cp=0.0, selection="mcts")
    assert greedy_mcts.select(root)[-1] is nodes["A1"]  # A beats B, then A1 beats A2
    greedy_leaf = LaMOO(SPACE, [1.0, 1.0], cp=0.0, selection="leaf")
    assert greedy_leaf.select(root)[-1] is nodes["B"]  # the best leaf overall
    exploring = LaMOO(SPACE, [1.0, 1.0], cp=1.0, selection="mcts")
    # B has fewer samples: 0.895 + 2 sqrt(2 ln 100 / 20) beats 0.90 + 2 sqrt(2 ln 100 / 80)
    path = exploring.select(root)
    assert [n.depth for n in path] == [0, 1] and path[-1] is nodes["B"]
    assert root.leaves() == [nodes["A1"], nodes["A2"], nodes["B"]]
    assert nodes["A2"].path() == [root, nodes["A"], nodes["A2"]]


@pytest.mark.parametrize("selection", ["mcts", "leaf"])
def test_rejection_samples_stay_inside_the_selected_region(selection: str) -> None:
    opt = LaMOO(SPACE, REF_SYN, seed=3, selection=selection, n_init=10)
    for _ in range(40):
        c = opt.ask(1)
        opt.tell(c, Y_SYN[c])
    inside = 0
    for n in (1, 3, 1, 5):
        cells = opt.ask(n)
        assert cells.shape == (n,)
        region = opt.last_path[-1].region
        assert region is not None
        assert np.all(region[cells])
        inside += len(opt.last_path) > 1
        opt.tell(cells, Y_SYN[cells])
    assert inside >= 3  # the tree was used, not the root


def test_relaxation_of_an_exhausted_region_terminates() -> None:
    opt = LaMOO(SPACE, REF_SYN, seed=0, n_init=10)
    for _ in range(40):
        c = opt.ask(1)
        opt.tell(c, Y_SYN[c])
    root = opt.build_tree(full=True)
    path = opt.select(root)
    assert len(path) > 1
    leaf_region = path[-1].region
    assert leaf_region is not None
    opt.exclude(np.flatnonzero(leaf_region))  # nothing left in the selected region
    new_path, cells = opt.candidate_region(path, 2, 2)
    assert opt.last_relaxed >= 1
    assert len(new_path) < len(path)
    assert cells.shape == (2,)
    assert not np.any(leaf_region[cells])
    region = new_path[-1].region
    assert region is not None and np.all(region[cells])
    # an artificially empty region everywhere but the root
    for node in path[1:]:
        assert node.region is not None
        node.region[:] = False
    new_path, cells = opt.candidate_region(path, 1, 1)
    assert len(new_path) == 1 and cells.shape == (1,)


def test_asking_until_the_space_runs_out() -> None:
    opt = LaMOO(SPACE, REF_SYN, seed=0, n_init=5, leaf_size=3)
    free = np.array([1, 77, 500, 9000, 15_000, 15_624, 42, 4242])
    rest = np.setdiff1d(np.arange(SPACE.size), free)
    opt.exclude(rest)
    out = []
    for _ in range(6):
        c = opt.ask(2)
        out.extend(c.tolist())
        if c.size:
            opt.tell(c, Y_SYN[c])
    assert sorted(out) == sorted(free.tolist())
    assert opt.ask(3).size == 0


def test_lamoo_beats_random_on_a_synthetic_problem() -> None:
    def run(opt: LaMOO | RandomSearch) -> float:
        for _ in range(60):
            c = opt.ask(1)
            opt.tell(c, Y_SYN[c])
        return hypervolume(opt.Y, REF_SYN)

    seeds = range(3)
    lamoo = np.mean([run(LaMOO(SPACE, REF_SYN, seed=s)) for s in seeds])
    rand = np.mean([run(RandomSearch(SPACE, REF_SYN, seed=s)) for s in seeds])
    assert lamoo > rand


def test_invalid_options_raise() -> None:
    with pytest.raises(ValueError, match="sampler"):
        LaMOO(SPACE, REF_SYN, sampler="grid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="selection"):
        LaMOO(SPACE, REF_SYN, selection="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel"):
        LaMOO(SPACE, REF_SYN, kernel="rbf2")
    with pytest.raises(ValueError):
        LaMOO(SPACE, REF_SYN, leaf_size=1)
