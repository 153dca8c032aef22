"""NB201Task lookups against known rows of NAS-Bench-201 / HW-NAS-Bench."""

from __future__ import annotations

import numpy as np
import pytest

from cenas.bench import NB201Task, get_task, load_nb201_table, parse_task_name
from cenas.optimize.hypervolume import hypervolume, nondominated_mask

ROW0_ARCH = (
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
    "+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
)


@pytest.fixture(scope="module")
def task() -> NB201Task:
    return get_task()


def test_default_task(task: NB201Task) -> None:
    assert task.name == "nb201-cifar10-fpga"
    assert task.directions == ("maximize", "minimize")
    np.testing.assert_array_equal(task.ref_point, [0.0, 10.0])


def test_official_row_zero(task: NB201Task) -> None:
    cell = task.space.to_index(task.space.from_str(ROW0_ARCH))
    assert task.nb201_index(cell) == 0
    assert task.arch_str(cell) == ROW0_ARCH
    acc, lat = task.to_natural(task.objectives([cell])[0])
    assert acc == pytest.approx(85.8633, abs=1e-4)
    assert lat == pytest.approx(2.57296, abs=1e-5)
    assert task.objectives(cell)[0] == pytest.approx(-85.8633, abs=1e-4)  # minimisation form


def test_table_is_indexed_by_enumeration(task: NB201Task) -> None:
    table = load_nb201_table()
    assert len(table) == task.space.size
    assert sorted(table["index"].tolist()) == list(range(task.space.size))
    for cell in (0, 1234, 15_624):
        assert task.space.from_str(task.arch_str(cell)) == task.space.from_index(cell)


def test_hv_max_and_true_front(task: NB201Task) -> None:
    assert task.hv_max == pytest.approx(827.443, abs=1e-3)
    front = task.true_front()
    assert nondominated_mask(front).all()
    assert hypervolume(front, task.ref_point) == pytest.approx(task.hv_max)
    assert task.hypervolume(task.all_objectives()) == pytest.approx(task.hv_max)
    # no cell dominates a front point
    y = task.all_objectives()
    for p in front:
        assert not np.any(np.all(y <= p, axis=1) & np.any(y < p, axis=1))


def test_conversions_and_costs(task: NB201Task) -> None:
    cells = np.array([0, 10, 100, 15_000])
    y = task.objectives(cells)
    np.testing.assert_allclose(task.to_minimization(task.to_natural(y)), y)
    low = task.low_fidelity(cells)
    np.testing.assert_allclose(low[:, 1], y[:, 1])  # latency is measured, not estimated
    ratio = task.cost_model.low_fidelity_epochs / task.cost_model.epochs
    np.testing.assert_allclose(task.estimate_cost(cells), task.train_cost(cells) * ratio)
    assert np.all(task.train_cost(cells) > 0)


def test_other_tasks_parse() -> None:
    assert parse_task_name("nb201-cifar100-pixel3") == ("cifar100", "pixel3")
    other = get_task("nb201-imagenet16-1080ti_256")
    assert other.ref_point[1] == pytest.approx(other.all_objectives()[:, 1].max())


@pytest.mark.parametrize(
    "name",
    [
        "cifar10-fpga",
        "nb201-cifar10",
        "nb201-mnist-fpga",
        "nb201-cifar10-tpu",
        "nb301-cifar10-fpga",
    ],
)
def test_unknown_task_raises(name: str) -> None:
    with pytest.raises(ValueError, match="unknown task"):
        get_task(name)
