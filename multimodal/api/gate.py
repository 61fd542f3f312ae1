"""The gate every HTTP request passes before FastAPI reads its body: keys, the in-flight limit, metrics.

It is plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs
each request in an extra task and copies the body through a stream, a cost on every search.
Checking here, before routing, also means a request without a valid key or over the limit is
answered before its upload is parsed.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match

from multimodal.api.settings import ApiSettings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Open to all, key or not, and never turned away by the limit: probes and docs must answer under load.
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
UNLIMITED_PATHS = OPEN_PATHS | {"/metrics"}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_HINT = "send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def access(method: str, path: str) -> str:
    """What a request needs: "open", "read" or "write" (anything that changes the catalog under /items)."""
    if path in OPEN_PATHS:
        return "open"
    if method in WRITE_METHODS and (path == "/items" or path.startswith("/items/")):
        return "write"
    return "read"


def presented_key(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The key a request sends, from ``Authorization: Bearer`` or ``X-API-Key`` (None when neither)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class Keys:
    """The keys of one process, read once at start; compared in constant time, never logged or echoed."""

    write: bytes | None
    read: bytes | None
    writes: bool

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> Keys:
        write, read = settings.write_key(), settings.read_key_value()
        return cls(write.encode() if write else None, read.encode() if read else None, settings.writes)

    def refusal(self, need: str, key: bytes | None) -> Response | None:
        """The 401/403 answer for a request that may not pass, or None when it may."""
        if need == "open":
            return None
        if need == "write":
            if not self.writes:
                return _refuse(403, "this API is read-only: adding products is switched off on this server")
            if self.write is not None:
                return self._check(key, (self.write,), "adding products needs the write key")
        if self.read is None:
            return None
        return self._check(key, tuple(k for k in (self.read, self.write) if k is not None), "this API needs a key")

    @staticmethod
    def _check(key: bytes | None, accepted: tuple[bytes, ...], what: str) -> Response | None:
        if key is None:
            return _refuse(401, f"{what}: {KEY_HINT}", {"WWW-Authenticate": 'Bearer realm="multimodal"'})
        if not any([hmac.compare_digest(key, k) for k in accepted]):  # a list: compare with every key, no early exit
            return _refuse(403, "the key sent is not accepted for this request")
        return None


def _refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class InFlight:
    """At most ``limit`` requests at once; a request waits ``wait_s`` for a slot, then is turned away.

    Waiting without bound lets a burst pile up until every answer is late; a quick 503 with
    ``Retry-After`` tells clients (and load balancers) to come back or go elsewhere.
    """

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit, self.wait_s = limit, wait_s
        self.active = 0
        self.rejected = 0
        self._slots: anyio.Semaphore | None = None

    async def acquire(self) -> bool:
        if self._slots is None:  # made on the server's event loop, on first use
            self._slots = anyio.Semaphore(self.limit)
        try:  # a free slot: no timer to set up (the usual case, on every request)
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            with anyio.move_on_after(self.wait_s) as waited:
                await self._slots.acquire()
            if waited.cancelled_caught:  # the wait ran out before a slot was free
                self.rejected += 1
                return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        assert self._slots is not None
        self._slots.release()


class Metrics:
    """Request counts, errors and latency per route (the last 1,000 requests of each)."""

    def __init__(self) -> None:
        self.started = time.time()
        self._lock = threading.Lock()
        self._count: dict[str, int] = defaultdict(int)
        self._errors: dict[str, int] = defaultdict(int)
        self._ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=1000))

    def record(self, route: str, status: int, ms: float) -> None:
        with self._lock:
            self._count[route] += 1
            self._errors[route] += status >= 400
            self._ms[route].append(ms)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            routes = {}
            for route, count in sorted(self._count.items()):
                ms = np.asarray(self._ms[route])
                routes[route] = {
                    "requests": count, "errors": self._errors[route],
                    "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
                }
        return {"uptime_s": round(time.time() - self.started, 1), "routes": routes}


class Gate:
    """ASGI middleware: refuse (401/403), shed (503 + Retry-After) or pass, and time every request."""

    def __init__(self, app: ASGIApp, keys: Keys, limiter: InFlight, metrics: Metrics, routes: list[BaseRoute],
                 retry_after_s: int) -> None:
        self.app, self.keys, self.limiter, self.metrics = app, keys, limiter, metrics
        self.routes = routes  # the app's own list, so routes added later are seen
        self.retry_after = str(retry_after_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        path = scope["path"]
        refusal = self.keys.refusal(access(scope["method"], path), presented_key(scope["headers"]))
        limited = refusal is None and path not in UNLIMITED_PATHS
        if limited and not await self.limiter.acquire():
            refusal = _refuse(503, f"the server is busy ({self.limiter.limit} requests in flight); retry in "
                                   f"{self.retry_after} s", {"Retry-After": self.retry_after})
        try:
            if refusal is not None:
                await refusal(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            if limited and refusal is None:
                self.limiter.release()
            self.metrics.record(self._route(scope), status, (time.perf_counter() - started) * 1000)

    def _route(self, scope: Scope) -> str:
        """The route's template (``/items/{product_id}/similar``), also for requests refused before routing."""
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        return getattr(route, "path", "(unmatched)")
