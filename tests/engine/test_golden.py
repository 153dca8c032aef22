"""The simulated engine keeps its results bit for bit across refactorings of the core."""

from __future__ import annotations

import json

import pytest

from tests.engine.golden import CASES, GOLDEN, fingerprint

EXPECTED = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_matches_golden_fingerprint(name: str) -> None:
    assert fingerprint(CASES[name]) == EXPECTED[name]
