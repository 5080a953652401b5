"""StatePort contract: compare-and-set on a version, as DynamoState and PgState keep it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.errors import ConflictError


def test_create_update_conflict(state_backend):
    s = state_backend.port
    assert s.get("breaker:db") is None
    created = s.put("breaker:db", {"state": "closed", "failures": 0}, expected_version=None)
    assert (created.version, dict(created.data)) == (1, {"state": "closed", "failures": 0})
    assert s.get("breaker:db") == created
    with pytest.raises(ConflictError):
        s.put("breaker:db", {"state": "open"}, expected_version=None)
    updated = s.put("breaker:db", {"state": "open", "n": [1, "ü"]}, expected_version=1)
    assert updated.version == 2
    with pytest.raises(ConflictError):
        s.put("breaker:db", {"state": "half_open"}, expected_version=1)
    assert s.get("breaker:db") == updated
    assert dict(s.get("breaker:db").data) == {"state": "open", "n": [1, "ü"]}


def test_update_of_absent_item_conflicts(state_backend):
    with pytest.raises(ConflictError):
        state_backend.port.put("nope", {}, expected_version=3)


def test_delete_with_and_without_version(state_backend):
    s = state_backend.port
    s.put("lease:1", {"owner": "a"}, expected_version=None)
    s.put("lease:1", {"owner": "b"}, expected_version=1)
    with pytest.raises(ConflictError):
        s.delete("lease:1", expected_version=1)
    s.delete("lease:1", expected_version=2)
    assert s.get("lease:1") is None
    s.delete("lease:1")  # absent, no version: fine
    with pytest.raises(ConflictError):
        s.delete("lease:1", expected_version=2)
    s.put("lease:2", {}, expected_version=None)
    s.delete("lease:2")
    assert s.get("lease:2") is None


def test_expired_items_are_returned_with_expires_at(state_backend):
    s = state_backend.port
    past = time.time() - 10.25
    s.put("lease:old", {"owner": "x"}, expected_version=None, expires_at=past)
    item = s.get("lease:old")
    assert item.expires_at == pytest.approx(past, abs=1e-6)
    assert item.expired(time.time())
    renewed = s.put("lease:old", {"owner": "y"}, expected_version=1)
    assert renewed.expires_at is None
    assert s.get("lease:old").expires_at is None


def test_scan_by_prefix(state_backend):
    s = state_backend.port
    for key in ("breaker:b", "breaker:a", "breakers", "lease:x", "50%:a", "50x:a"):
        s.put(key, {"k": key}, expected_version=None)
    assert [i.key for i in s.scan("breaker:")] == ["breaker:a", "breaker:b"]
    assert [i.key for i in s.scan("50%")] == ["50%:a"]
    assert s.scan("none:") == []
    assert dict(s.scan("lease:")[0].data) == {"k": "lease:x"}


def test_concurrent_cas_exactly_one_wins_per_version(state_backend):
    s = state_backend.port
    s.put("counter", {"n": 0}, expected_version=None)
    threads = 10
    for version in (1, 2, 3):
        barrier = threading.Barrier(threads)

        def attempt(i: int, version: int = version, barrier: threading.Barrier = barrier):
            barrier.wait()
            try:
                s.put("counter", {"n": version, "by": i}, expected_version=version)
                return i
            except ConflictError:
                return None

        with ThreadPoolExecutor(threads) as pool:
            winners = [w for w in pool.map(attempt, range(threads)) if w is not None]
        assert len(winners) == 1
        item = s.get("counter")
        assert (item.version, item.data["by"]) == (version + 1, winners[0])
