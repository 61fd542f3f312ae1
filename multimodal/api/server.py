"""The REST API: thin FastAPI routes over one shared ``SearchEngine``.

    python -m multimodal api --host 127.0.0.1 --port 8000     # docs at http://127.0.0.1:8000/docs

The engine (models, vector store, catalog) is loaded once, in the app's lifespan, and shared by
every request; routes parse, call ``multimodal`` and shape JSON. Errors a client can cause
come back as 4xx with a JSON ``detail`` (bad input 400/422, unknown product 404, upload too
large 413); a missing or mismatched build is 503 with the command that fixes it.

Before any route, the gate (``multimodal.api.gate``) asks for the write key on routes that
change the catalog (and the read key on the others, when one is set): 401 without a key, 403
with a wrong one. It also bounds the requests in flight: past ``max_in_flight`` a request waits
briefly, then gets 503 with ``Retry-After``. Without a write key, writes are served on loopback
only; :func:`serve` refuses to start otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from multimodal.api.gate import Gate, InFlight, Keys, Metrics
from multimodal.api.routes import MAX_K, TextQuery, add_item_routes, add_ops_routes, add_search_routes, results_payload
from multimodal.api.settings import ApiSettings, InsecureServerError, is_loopback
from multimodal.api.uploads import UploadTooLarge
from multimodal.errors import ArtifactError, InvalidInputError, MultimodalError, UnknownItemError

log = logging.getLogger(__name__)

__all__ = ["MAX_K", "ApiSettings", "EngineHolder", "InsecureServerError", "TextQuery", "UploadTooLarge", "app_from_env",
           "create_app", "results_payload", "serve"]


class EngineHolder:
    """The one engine of this process; swapped whole after items are added, so searches never see half."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.engine: Any = None
        self.error: str | None = None
        self.write_lock = threading.Lock()
        self._tried: str | None = None  # the last generation a failed start-up load was retried on

    def load(self) -> None:
        from multimodal.search.engine import SearchEngine

        s = self.settings
        try:
            engine = SearchEngine.load(s.artifacts_dir, s.data_dir, store=s.store, store_uri=s.store_uri)
            engine.sentence_encoder  # noqa: B018 - load the sentence model now, not on the first query
        except MultimodalError as exc:
            self.engine, self.error = None, str(exc)
            log.error("the API starts without an engine: %s", exc)
            return
        try:  # trace the models once here, so the first shopper does not wait for it
            if len(engine.catalog):
                engine.search_image(engine.images[0], k=1)
            engine.search_text("black trainers", k=1)
        except MultimodalError as exc:
            log.warning("warm-up query failed (the engine still serves): %s", exc)
        self.engine, self.error = engine, None

    def refresh(self) -> bool:
        """Swap in the generation another process committed (add-items through another API worker,
        the CLI, a build), keeping the models whose files did not change; the current engine serves
        until the new one is loaded. An API started before any build serves the first one committed.
        Returns True if it swapped."""
        from multimodal import generations
        from multimodal.search.engine import SearchEngine

        engine, s = self.engine, self.settings
        live = generations.current(s.artifacts_dir)
        if engine is None:  # started before any build: serve the first one committed (each one tried once)
            if live is None or live.name == self._tried:
                return False
            self._tried = live.name
            with self.write_lock:
                self.load()
            return self.engine is not None
        if engine.generation is None or live is None or live.name == engine.generation:
            return False
        with self.write_lock:  # not while this process adds items (it loads the new engine itself)
            if self.engine is not engine:
                return False
            self.engine = SearchEngine.load(s.artifacts_dir, s.data_dir, reuse=engine, store=s.store, store_uri=s.store_uri)
        log.info("serving %s, committed by another process", live.name)
        return True

    async def watch(self) -> None:
        """Look for a newer generation every ``refresh_s`` seconds, for as long as the app runs."""
        from starlette.concurrency import run_in_threadpool

        while True:
            await asyncio.sleep(self.settings.refresh_s)
            try:
                await run_in_threadpool(self.refresh)
            except (MultimodalError, OSError) as exc:  # a damaged or half-written generation: keep serving this one
                log.warning("could not load the newest generation (still serving %s): %s",
                            getattr(self.engine, "generation", None), exc)

    def get(self) -> Any:
        if self.engine is None:
            raise ArtifactError(self.error or "the search engine is not loaded")
        return self.engine


ERROR_STATUS: list[tuple[type[Exception], int]] = [
    (UnknownItemError, 404), (UploadTooLarge, 413), (InvalidInputError, 400), (ArtifactError, 503), (MultimodalError, 400)]


def _error_handler(status: int) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": str(exc)})
    return handler


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API for one build; the engine loads when the app starts (lifespan), once.

    Raises:
        InsecureServerError: writes without a key on a non-loopback host, or a key file that cannot be read.
    """
    settings = settings or ApiSettings()
    settings.check()
    keys = Keys.from_settings(settings)
    holder, metrics, limiter = EngineHolder(settings), Metrics(), InFlight(settings.max_in_flight, settings.queue_wait_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder.load()
        watcher = asyncio.create_task(holder.watch()) if settings.refresh_s > 0 else None
        yield
        if watcher is not None:
            watcher.cancel()
        holder.engine = None

    app = FastAPI(title="Multimodal fashion search", version="1.0", lifespan=lifespan,
                  description="Search a fashion catalog by text or by image; add products without retraining.")
    app.state.holder, app.state.metrics, app.state.settings, app.state.limiter = holder, metrics, settings, limiter
    for exc_type, status in ERROR_STATUS:
        app.add_exception_handler(exc_type, _error_handler(status))
    keyed = keys.read is not None
    add_ops_routes(app, holder, metrics, limiter, keyed)
    add_search_routes(app, holder.get, settings, keyed)
    add_item_routes(app, holder, settings)
    app.add_middleware(Gate, keys=keys, limiter=limiter, metrics=metrics, routes=app.router.routes,
                       retry_after_s=settings.retry_after_s)
    _log_access(settings, keys)
    return app


def _log_access(settings: ApiSettings, keys: Keys) -> None:
    """Say who may write and read; whether a key is set, never the key."""
    if not settings.writes:
        writes = "off (read-only)"
    elif keys.write is not None:
        writes = "with the write key"
    else:
        writes = f"open to clients of {settings.host} (loopback, no key set)"
    log.info("API writes: %s; reads: %s; at most %d requests in flight", writes,
             "with a key" if keys.read is not None else "open", settings.max_in_flight)


def app_from_env() -> FastAPI:
    """The app factory uvicorn workers import (``uvicorn --factory multimodal.api.server:app_from_env``)."""
    return create_app(ApiSettings.from_env())


def serve(host: str, port: int, artifacts_dir: str | os.PathLike[str] = "artifacts", data_dir: str | os.PathLike[str] | None = None,
          store: str | None = None, store_uri: str | None = None, workers: int = 1, writes: bool | None = None) -> None:
    """Run uvicorn in this process (one worker) or as several worker processes sharing the settings.

    Keys are read from the environment (``MULTIMODAL_API_KEY`` / ``_FILE``, ``MULTIMODAL_API_READ_KEY`` /
    ``_FILE``); ``writes=False`` (or ``MULTIMODAL_API_READ_ONLY=1`` when None) serves read-only.

    Raises:
        InsecureServerError: before anything listens, when writes would be open to the network without a key.
    """
    import uvicorn

    os.environ["MULTIMODAL_ARTIFACTS"] = str(artifacts_dir)
    os.environ["MULTIMODAL_API_HOST"] = host
    if writes is not None:
        os.environ["MULTIMODAL_API_READ_ONLY"] = "0" if writes else "1"
    for name, value in (("MULTIMODAL_DATA", data_dir), ("MULTIMODAL_STORE", store), ("MULTIMODAL_STORE_URI", store_uri)):
        if value is not None:
            os.environ[name] = str(value)
    ApiSettings.from_env().check()  # refuse here, with the reason, rather than in every worker
    if not is_loopback(host):
        log.warning("serving on %s: reachable from other machines", host)
    uvicorn.run("multimodal.api.server:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="info")
