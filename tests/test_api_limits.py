"""The bounded queue: past ``max_in_flight`` requests a request waits briefly, then gets 503 + Retry-After.

A fake engine that blocks on an event holds the slots, so the limit is reached deterministically
(no timing races, no build needed).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from multimodal.api.server import ApiSettings, create_app
from multimodal.catalog.roles import Roles
from multimodal.search.results import SearchResult

WAIT_S = 10.0  # upper bound on any wait below; the tests finish as soon as the events are set


class OneItemIndex:
    """What /health and /metrics read of an index."""

    manifest = {"store": "faiss", "index_type": "flat"}

    def __len__(self) -> int:
        return 1


class BlockingEngine:
    """Answers a text search only once ``release`` is set; ``entered`` counts searches under way."""

    def __init__(self) -> None:
        self.index = OneItemIndex()
        self.roles = Roles()
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def search_text(self, query: str, k: int = 10, gender: str | None = None, facets: dict | None = None) -> SearchResult:
        self.entered.release()
        assert self.release.wait(WAIT_S), "the test never released the engine"
        rows = pd.DataFrame({"rank": [1], "product_id": ["FM-000001"], "score": [0.5], "row": [0]})
        return SearchResult(rows, "text", query=query, parsed={}, n_matching=1)


@pytest.fixture
def busy_app(tmp_path):
    """An app allowed one request in flight, serving the blocking engine."""
    def make(queue_wait_s: float) -> tuple[TestClient, BlockingEngine]:
        settings = ApiSettings(artifacts_dir=tmp_path / "none", max_in_flight=1, queue_wait_s=queue_wait_s, retry_after_s=2)
        client = TestClient(create_app(settings))
        client.__enter__()
        engine = BlockingEngine()
        client.app.state.holder.engine = engine
        opened.append(client)
        return client, engine

    opened: list[TestClient] = []
    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _search(client: TestClient):
    return client.post("/search/text", json={"query": "boots", "k": 1})


def test_a_request_over_the_limit_gets_503_with_retry_after_not_an_endless_wait(busy_app) -> None:
    client, engine = busy_app(queue_wait_s=0.05)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_search, client)
        assert engine.entered.acquire(timeout=WAIT_S)  # the one slot is taken
        refused = _search(client)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert "busy" in refused.json()["detail"]
        assert client.get("/health").status_code == 200  # probes are never turned away
        metrics = client.get("/metrics").json()
        assert (metrics["in_flight"], metrics["rejected_busy"], metrics["max_in_flight"]) == (1, 1, 1)
        engine.release.set()
        assert first.result(WAIT_S).status_code == 200
    assert _search(client).status_code == 200  # the slot was given back
    routes = client.get("/metrics").json()["routes"]
    assert routes["/search/text"]["requests"] == 3 and routes["/search/text"]["errors"] == 1


def test_a_request_that_finds_a_slot_within_the_wait_is_served(busy_app) -> None:
    client, engine = busy_app(queue_wait_s=WAIT_S)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(_search, client)
        assert engine.entered.acquire(timeout=WAIT_S)
        second = pool.submit(_search, client)  # waits for the slot
        assert not engine.entered.acquire(timeout=0.2)  # ... and has not reached the engine
        engine.release.set()
        assert first.result(WAIT_S).status_code == 200 and second.result(WAIT_S).status_code == 200
    assert client.get("/metrics").json()["rejected_busy"] == 0


def test_settings_that_cannot_work_are_refused(tmp_path) -> None:
    from multimodal.api.settings import InsecureServerError

    with pytest.raises(InsecureServerError, match="max_in_flight"):
        create_app(ApiSettings(artifacts_dir=tmp_path, max_in_flight=0))
