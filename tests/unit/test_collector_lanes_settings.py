"""The collector's lanes settings: where the worker functions' deployed names come from, and
when the lane mappings are reconciled."""

from __future__ import annotations

import pytest

from chalicelib.collector.lanes import from_settings
from chalicelib.collector.settings import CollectorSettings
from chalicelib.errors import ConfigError
from chalicelib.lane_mappings import deployed_names


def test_deployed_names_from_the_map_else_chalices_prefix():
    own = CollectorSettings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "spillway-prod-collect_metrics",
                                      "SPILLWAY_FUNCTIONS": '{"worker_high": "WorkerHigh-1"}'})
    names = deployed_names(own.functions_json, own.function_prefix)
    assert names("worker_high") == "WorkerHigh-1"
    assert names("worker_low") == "spillway-prod-worker_low"


@pytest.mark.parametrize("raw", ["{not json", '["worker_high"]'])
def test_a_bad_functions_map_names_the_key(raw):
    with pytest.raises(ConfigError, match="SPILLWAY_FUNCTIONS"):
        CollectorSettings.from_env({"SPILLWAY_FUNCTIONS": raw})


def test_reconciled_on_aws_only_and_never_over_the_local_window():
    assert CollectorSettings.from_env({}).lanes_reconcile
    assert not CollectorSettings.from_env({"SPILLWAY_BACKEND": "postgres"}).lanes_reconcile
    off = CollectorSettings.from_env({"LANES_RECONCILE": "off"})
    assert from_settings(off) == []
    assert from_settings(CollectorSettings.from_env({}), window=object()) == []
    with pytest.raises(ConfigError, match="LANES_RECONCILE"):
        CollectorSettings.from_env({"LANES_RECONCILE": "maybe"})
