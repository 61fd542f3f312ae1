"""The REST API: thin FastAPI routes over one shared ``SearchEngine``.

    python -m multimodal api --host 127.0.0.1 --port 8000     # docs at http://127.0.0.1:8000/docs

The engine (models, vector store, catalog) is loaded once, in the app's lifespan, and shared by
every request; routes parse, call ``multimodal`` and shape JSON. Errors a client can cause
come back as 4xx with a JSON ``detail`` (bad input 400/422, unknown product 404, upload too
large 413); a missing or mismatched build is 503 with the command that fixes it.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from multimodal.errors import ArtifactError, InvalidInputError, MultimodalError, UnknownItemError
from multimodal.search.results import SearchResult, json_value

log = logging.getLogger(__name__)

MAX_K = 100
RESULT_FIELDS = ("rank", "product_id", "category", "gender", "colour", "material", "style", "occasion", "season", "brand",
                 "price", "sizes", "score", "title")
SIGNAL_FIELDS = ("image_score", "text_score", "bm25_score", "attribute_score", "similarity", "category_probability")
MATCH_FIELDS = ("matches", "misses", "exact_match")  # text search: the stated constraints each result meets and fails


@dataclass
class ApiSettings:
    """Where the build lives and what a request may send."""

    artifacts_dir: Path = Path("artifacts")
    data_dir: Path | None = None
    store: str | None = None
    store_uri: str | None = None
    max_upload_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    max_items_per_request: int = 50

    @classmethod
    def from_env(cls) -> ApiSettings:
        """Settings for uvicorn worker processes (``--workers``), passed through the environment."""
        env = os.environ
        return cls(
            artifacts_dir=Path(env.get("MULTIMODAL_ARTIFACTS", "artifacts")),
            data_dir=Path(env["MULTIMODAL_DATA"]) if env.get("MULTIMODAL_DATA") else None,
            store=env.get("MULTIMODAL_STORE") or None,
            store_uri=env.get("MULTIMODAL_STORE_URI") or None,
        )


class TextQuery(BaseModel):
    query: str = Field(..., min_length=1, max_length=500, examples=["black trainers for men under 60"])
    k: int = Field(10, ge=1, le=MAX_K)
    gender: str = Field("all", examples=["all", "men", "women", "unisex"])


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


class EngineHolder:
    """The one engine of this process; swapped whole after items are added, so searches never see half."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self.engine: Any = None
        self.error: str | None = None
        self.write_lock = threading.Lock()

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

    def get(self) -> Any:
        if self.engine is None:
            raise ArtifactError(self.error or "the search engine is not loaded")
        return self.engine


def results_payload(result: SearchResult) -> list[dict[str, Any]]:
    """Result rows as JSON objects in rank order: the catalog's fields, the score and each signal."""
    keep = (*RESULT_FIELDS, *SIGNAL_FIELDS, *MATCH_FIELDS)
    return result.records(drop=tuple(c for c in result.rows.columns if c not in keep))


def _read_upload(upload: UploadFile, settings: ApiSettings) -> bytes:
    """The upload's bytes, refusing more than the cap before reading it all, and oversized images."""
    data = upload.file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise UploadTooLarge(f"{upload.filename or 'the upload'} is larger than {settings.max_upload_bytes // (1024 * 1024)} MB")
    if not data:
        raise InvalidInputError(f"{upload.filename or 'the upload'} is empty")
    from PIL import Image, UnidentifiedImageError

    try:
        width, height = Image.open(io.BytesIO(data)).size  # reads the header only
    except (UnidentifiedImageError, OSError, ValueError):
        raise InvalidInputError(f"{upload.filename or 'the upload'} is not an image this service can read (PNG, JPEG, WebP ...)") from None
    if width * height > settings.max_image_pixels:
        raise UploadTooLarge(f"the image is {width}x{height} pixels; at most {settings.max_image_pixels:,} pixels are accepted")
    return data


class UploadTooLarge(InvalidInputError):
    """An upload over the byte or pixel cap (413)."""


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API for one build; the engine loads when the app starts (lifespan), once."""
    settings = settings or ApiSettings()
    holder = EngineHolder(settings)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder.load()
        yield
        holder.engine = None

    app = FastAPI(title="Multimodal fashion search", version="1.0", lifespan=lifespan,
                  description="Search a fashion catalog by text or by image; add products without retraining.")
    app.state.holder, app.state.metrics, app.state.settings = holder, metrics, settings

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.record(getattr(route, "path", "(unmatched)"), response.status_code, (time.perf_counter() - started) * 1000)
        return response

    def error(status: int) -> Any:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse(status_code=status, content={"detail": str(exc)})
        return handler

    app.add_exception_handler(UnknownItemError, error(404))
    app.add_exception_handler(UploadTooLarge, error(413))
    app.add_exception_handler(InvalidInputError, error(400))
    app.add_exception_handler(ArtifactError, error(503))
    app.add_exception_handler(MultimodalError, error(400))

    @app.get("/health")
    def health() -> JSONResponse:
        """Ready when the engine is loaded: item count, store and index type; 503 with the reason otherwise."""
        if holder.engine is None:
            return JSONResponse(status_code=503, content={"status": "unavailable", "detail": holder.error})
        index = holder.engine.index
        return JSONResponse({"status": "ok", "items": len(index), "store": index.manifest.get("store", "faiss"),
                             "index_type": index.manifest.get("index_type")})

    @app.post("/search/text")
    def search_text(body: TextQuery) -> dict[str, Any]:
        """Products for a shopper's words, best first; ``parsed`` shows the constraints understood."""
        started = time.perf_counter()
        result = holder.get().search_text(body.query, k=body.k, gender=body.gender)
        return {"query": body.query, "parsed": result.parsed, "understood": result.understood,
                "relaxed": result.relaxed, "relaxed_groups": result.relaxed_groups,
                "n_matching": result.n_matching, "results": results_payload(result),
                "took_ms": round((time.perf_counter() - started) * 1000, 2)}

    @app.post("/search/image")
    def search_image(file: Annotated[UploadFile, File(description="a product photo")],
                     k: Annotated[int, Form(ge=1, le=MAX_K)] = 10, gender: Annotated[str, Form()] = "all") -> dict[str, Any]:
        """Products that look like the uploaded photo, best first, with the category the model sees."""
        data = _read_upload(file, settings)
        started = time.perf_counter()
        result = holder.get().search_image(data, k=k, gender=gender)
        return {"predicted_category": result.predicted_category,
                "confidence": json_value(result.confidence), "results": results_payload(result),
                "took_ms": round((time.perf_counter() - started) * 1000, 2)}

    @app.get("/items/{product_id}/similar")
    def similar(product_id: str, k: int = 10, gender: str = "all") -> dict[str, Any]:
        """Products like a catalog product (itself left out); 404 for an unknown id."""
        if not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be between 1 and {MAX_K}, got {k}")
        result = holder.get().search_similar(product_id, k=k, gender=gender)
        return {"product_id": product_id, "results": results_payload(result)}

    @app.post("/items", status_code=201)
    def add(files: Annotated[list[UploadFile], File(description="one image per new product")],
            metadata: Annotated[str | None, Form(description='JSON list, one object per file: {"category", "gender", "colour", "price", "title", "product_id"}')] = None,
            ) -> dict[str, Any]:
        """Add products (embedded with the trained encoder, nothing retrained); they are searchable on return."""
        from multimodal.build import add_items

        if len(files) > settings.max_items_per_request:
            raise InvalidInputError(f"at most {settings.max_items_per_request} items per request, got {len(files)}")
        rows = _metadata_list(metadata, len(files))
        images = [_read_upload(f, settings) for f in files]
        engine = holder.get()
        with holder.write_lock:  # one writer per process; searches go on against the current engine
            config = engine.config.replace(store_uri=settings.store_uri or engine.config.store_uri)
            added = add_items(config, images, names=[f.filename or f"file {i + 1}" for i, f in enumerate(files)], metadata=rows)
            holder.load()
        fields = ["product_id", "category", "gender", "colour", "price", "title", "predicted_category", "confidence"]
        return {"added": [{k: json_value(v) for k, v in r.items()} for r in added.rows[fields].to_dict("records")],
                "items": len(holder.get().index)}

    @app.get("/metrics")
    def get_metrics() -> dict[str, Any]:
        """Requests, errors and latency (p50/p95, ms) per route since start, and the catalog size."""
        return {**metrics.snapshot(), "items": len(holder.engine.index) if holder.engine is not None else None}

    return app


def _metadata_list(text: str | None, n: int) -> list[dict[str, Any]] | None:
    if text is None or not text.strip():
        return None
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"metadata is not valid JSON: {exc}") from None
    if not isinstance(rows, list) or len(rows) != n or not all(isinstance(r, dict) for r in rows):
        raise InvalidInputError(f"metadata must be a JSON list of {n} objects, one per file")
    return rows


def app_from_env() -> FastAPI:
    """The app factory uvicorn workers import (``uvicorn --factory multimodal.api.server:app_from_env``)."""
    return create_app(ApiSettings.from_env())


def serve(host: str, port: int, artifacts_dir: str | os.PathLike[str] = "artifacts", data_dir: str | os.PathLike[str] | None = None,
          store: str | None = None, store_uri: str | None = None, workers: int = 1) -> None:
    """Run uvicorn in this process (one worker) or as several worker processes sharing the settings."""
    import uvicorn

    os.environ["MULTIMODAL_ARTIFACTS"] = str(artifacts_dir)
    for name, value in (("MULTIMODAL_DATA", data_dir), ("MULTIMODAL_STORE", store), ("MULTIMODAL_STORE_URI", store_uri)):
        if value is not None:
            os.environ[name] = str(value)
    uvicorn.run("multimodal.api.server:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="info")
