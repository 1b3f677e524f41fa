"""The collector tuning around a plan leaves Python's own settings as they were."""

from __future__ import annotations

import gc

import pytest

from consolidate.pipeline import fewer_collections


def test_fewer_collections_raises_the_young_threshold_while_it_runs() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] > before[0]


def test_fewer_collections_restores_the_thresholds_even_when_the_body_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("planning failed")
    assert gc.get_threshold() == before
