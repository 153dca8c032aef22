"""The simulated engine keeps its results bit for bit across refactorings of the core."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.engine.golden import CASES, GOLDEN, fingerprint

EXPECTED = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_matches_golden_fingerprint(name: str) -> None:
    got = fingerprint(CASES[name])
    expected = EXPECTED[name]
    np.testing.assert_allclose(got["estimates"], expected["estimates"], rtol=1e-9, atol=1e-9)
    assert {k: v for k, v in got.items() if k != "estimates"} == {
        k: v for k, v in expected.items() if k != "estimates"
    }
