"""The simulated engine keeps its results bit for bit across refactorings of the core."""

from __future__ import annotations

import json

import pytest

from tests.engine.golden import CASES, GOLDEN, fingerprint

EXPECTED = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_matches_golden_fingerprint(name: str) -> None:
    got = fingerprint(CASES[name])
    expected = EXPECTED[name]
    assert got["estimates"] == pytest.approx(expected["estimates"], rel=1e-9, abs=1e-9)
    assert {k: v for k, v in got.items() if k != "estimates"} == {
        k: v for k, v in expected.items() if k != "estimates"
    }
