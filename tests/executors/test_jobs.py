"""The analysis settings every job carries: checked once, when made, with
an error that names the setting; and the executor protocol both pools
implement."""

from __future__ import annotations

import pickle

import pytest

from beetsplug.musicnn.executors.base import Executor
from beetsplug.musicnn.executors.jobs import AnalysisSettings, SettingError
from beetsplug.musicnn.executors.pool import AnalysisPool


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"models": "msd"}, "models", "'msd' is not a tuple of model keys"),
        ({"models": ()}, "models", "() is not a tuple of model keys"),
        ({"models": ("msd", "xyz")}, "models", "unknown MusicNN model 'xyz'"),
        ({"backend": "tflite"}, "backend", "'tflite' is not one of onnx, essentia"),
        ({"backend": ["onnx"]}, "backend", "['onnx'] is not one of onnx, essentia"),
        ({"overlap": 1.0}, "overlap", "1 is not in [0, 1)"),
        ({"overlap": "half"}, "overlap", "'half' is not in [0, 1)"),
        ({"threads": 0}, "threads", "0 is not a whole number of at least 1"),
        ({"patch_budget": 0}, "patch_budget", "0 is not a whole number of at least 1"),
        ({"patch_budget": 2.5}, "patch_budget", "2.5 is not a whole number"),
        ({"patch_shares": (("mtt", 0.0),)}, "patch_shares", "mtt: 0 is not in (0, 1]"),
        (
            {"patch_shares": (("mtt", 1.5),)},
            "patch_shares",
            "mtt: 1.5 is not in (0, 1]",
        ),
        ({"patch_shares": (("xyz", 0.5),)}, "models", "unknown MusicNN model 'xyz'"),
    ],
)
def test_bad_settings_are_refused_when_made(values, field, problem):
    with pytest.raises(SettingError) as raised:
        AnalysisSettings(**values)
    assert raised.value.field == field
    assert problem in raised.value.problem
    assert str(raised.value).startswith(f"bad {field}: ")


def test_good_settings_survive_pickling_unchanged():
    settings = AnalysisSettings(
        models=("msd", "mtt"),
        overlap=0.5,
        patch_budget=8,
        patch_shares=(("mtt", 0.34),),
    )
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert hash(settings) == hash(AnalysisSettings(**vars(settings)))


def test_both_pools_are_executors():
    from beetsplug.musicnn.executors.dask_pool import DaskPool

    local = AnalysisPool(AnalysisSettings(), 0)
    cluster = DaskPool(AnalysisSettings(), "tcp://127.0.0.1:1")  # never connects
    for pool in (local, cluster):
        with pool:
            assert isinstance(pool, Executor)
            assert pool.priority_notes == set()
