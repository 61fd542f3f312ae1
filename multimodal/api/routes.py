"""The routes: parse, call ``multimodal`` in a worker thread, shape JSON.

Search routes are ``async def`` and run the engine, the result rows and the JSON encoding in
one worker-thread call, then return the encoded bytes. A plain ``def`` route returning a dict
costs two thread hops per request (the endpoint, then FastAPI validating the returned dict
against its annotation) and a second pass over the payload; the engine must still leave the
event loop, so that health probes and 503s answer while it works.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, File, Form, Query, Security, UploadFile
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from multimodal.api.settings import ApiSettings
from multimodal.api.uploads import decode_image, facets_field, metadata_list, read_upload, read_upload_sync
from multimodal.errors import InvalidInputError
from multimodal.search.results import SearchResult, json_value

try:  # shipped with the pinned requirements (pymilvus needs it); the stdlib encoder otherwise
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None

MAX_K = 100
RESULT_FIELDS = ("rank", "product_id", "category", "gender", "colour", "material", "style", "occasion", "season", "brand",
                 "price", "sizes", "match", "score", "title")
SIGNAL_FIELDS = ("image_score", "text_score", "bm25_score", "attribute_score", "similarity", "category_probability", "same_product")
MATCH_FIELDS = ("matches", "misses", "exact_match")  # text search: the stated constraints each result meets and fails
KEPT_FIELDS = frozenset((*RESULT_FIELDS, *SIGNAL_FIELDS, *MATCH_FIELDS))
FACETS_HELP = "narrow the search: column -> the values allowed (any of them, in every column named); never relaxed"
METADATA_HELP = ('JSON list, one object per file: "product_id" and the catalog\'s fields by name (Fashion-MNIST: "category", '
                 '"gender", "colour", "price", "title"; a folder catalog: its sheet\'s columns); the rest is filled in')

# Declared for the OpenAPI page (the lock icon, the "Authorize" box); the gate checks the key itself.
KEY_SCHEMES = [Security(HTTPBearer(auto_error=False, description="the API key as a bearer token")),
               Security(APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key"))]


class TextQuery(BaseModel):
    query: str = Field(..., min_length=1, max_length=500, examples=["black trainers for men under 60"])
    k: int = Field(10, ge=1, le=MAX_K)
    gender: str = Field("all", examples=["all", "men", "women", "unisex"])
    facets: dict[str, list[str]] | None = Field(None, description=FACETS_HELP, examples=[{"colour": ["black", "brown"]}])


class JsonBytes(Response):
    """A JSON body already encoded (by :func:`json_bytes`), sent as it is."""

    media_type = "application/json"


def json_bytes(payload: Any) -> bytes:
    """Compact JSON; the payload holds plain Python values already (``json_value``: NaN is None)."""
    if orjson is not None:
        return orjson.dumps(payload)
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def results_payload(result: SearchResult, own: Collection[str] = ()) -> list[dict[str, Any]]:
    """Result rows as JSON objects in rank order: the catalog's fields (``own``: a folder catalog's
    sheet columns), the score and each signal.

    Column by column rather than ``result.records()`` cell by cell: the same values (NaN as None,
    numpy scalars as Python ones) in a tenth of the time, which is most of what a request costs
    on top of the engine.
    """
    rows = result.rows
    names = [c for c in rows.columns if c in KEPT_FIELDS or c in own]
    return [dict(zip(names, values)) for values in zip(*(_column(rows[c].to_numpy()) for c in names))]


def _column(values: np.ndarray) -> list[Any]:
    """One result column as JSON values: numbers and booleans converted at once, other cells one by one."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        return values.tolist() if finite.all() else [v if ok else None for v, ok in zip(values.tolist(), finite.tolist())]
    if values.dtype.kind in "iub":
        return values.tolist()
    return [v if isinstance(v, str) else json_value(v) for v in values.tolist()]


async def answer(work: Callable[[], dict[str, Any]]) -> JsonBytes:
    """Run ``work`` and encode its payload in one worker-thread call (one hop off the event loop)."""
    def encoded() -> bytes:
        return json_bytes(work())
    return JsonBytes(await run_in_threadpool(encoded))


def add_search_routes(app: FastAPI, engine: Callable[[], Any], settings: ApiSettings, keyed: bool) -> None:
    """POST /search/text, POST /search/image, GET /items/{id}/similar and GET /facets."""
    deps = KEY_SCHEMES if keyed else []

    @app.post("/search/text", response_class=JsonBytes, dependencies=deps)
    async def search_text(body: TextQuery) -> JsonBytes:
        """Products for a shopper's words, best first; ``parsed`` shows the constraints understood."""
        def work() -> dict[str, Any]:
            started = time.perf_counter()
            served = engine()
            result = served.search_text(body.query, k=body.k, gender=body.gender, facets=body.facets)
            took = round((time.perf_counter() - started) * 1000, 2)
            return {"query": body.query, "parsed": result.parsed, "understood": result.understood,
                    "relaxed": result.relaxed, "relaxed_groups": result.relaxed_groups,
                    "n_matching": result.n_matching, "results": results_payload(result, served.roles.own_columns), "took_ms": took}
        return await answer(work)

    @app.post("/search/image", response_class=JsonBytes, dependencies=deps)
    async def search_image(file: Annotated[UploadFile, File(description="a product photo")],
                           k: Annotated[int, Form(ge=1, le=MAX_K)] = 10, gender: Annotated[str, Form()] = "all",
                           facets: Annotated[str | None, Form(description=f"JSON: {FACETS_HELP}")] = None) -> JsonBytes:
        """Products that look like the uploaded photo, best first, with the category the model sees."""
        data, chosen = await read_upload(file, settings), facets_field(facets)

        def work() -> dict[str, Any]:
            image = decode_image(data, file.filename, settings)
            started = time.perf_counter()
            served = engine()
            result = served.search_image(image, k=k, gender=gender, facets=chosen)
            took = round((time.perf_counter() - started) * 1000, 2)
            return {"predicted_category": result.predicted_category, "confidence": json_value(result.confidence),
                    "results": results_payload(result, served.roles.own_columns), "took_ms": took}
        return await answer(work)

    @app.get("/facets", response_class=JsonBytes, dependencies=deps)
    async def facets_list() -> JsonBytes:
        """The columns a search can be narrowed by (``facets``), each value with its number of products."""
        return await answer(lambda: engine().facet_index.counts())

    @app.get("/items/{product_id}/similar", response_class=JsonBytes, dependencies=deps)
    async def similar(product_id: str, k: int = 10, gender: str = "all",
                      facets: Annotated[str | None, Query(description=f"JSON: {FACETS_HELP}")] = None) -> JsonBytes:
        """Products like a catalog product (itself left out); 404 for an unknown id."""
        if not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be between 1 and {MAX_K}, got {k}")
        chosen = facets_field(facets)

        def work() -> dict[str, Any]:
            served = engine()
            result = served.search_similar(product_id, k=k, gender=gender, facets=chosen)
            return {"product_id": product_id, "results": results_payload(result, served.roles.own_columns)}
        return await answer(work)


def add_item_routes(app: FastAPI, holder: Any, settings: ApiSettings) -> None:
    """POST /items: the one route that changes the catalog (the gate asks for the write key)."""

    @app.post("/items", status_code=201, dependencies=KEY_SCHEMES, response_class=JSONResponse)
    def add(files: Annotated[list[UploadFile], File(description="one image per new product")],
            metadata: Annotated[str | None, Form(description=METADATA_HELP)] = None) -> JSONResponse:
        """Add products (embedded with the trained encoder, nothing retrained); they are searchable on return.
        Needs the write key (``Authorization: Bearer <key>`` or ``X-API-Key``) when the server has one."""
        from multimodal.build import add_items

        if len(files) > settings.max_items_per_request:
            raise InvalidInputError(f"at most {settings.max_items_per_request} items per request, got {len(files)}")
        rows = metadata_list(metadata, len(files))
        images = [decode_image(read_upload_sync(f, settings), f.filename, settings) for f in files]
        engine = holder.get()
        with holder.write_lock:  # one writer per process; searches go on against the current engine
            config = engine.config.replace(store_uri=settings.store_uri or engine.config.store_uri)
            added = add_items(config, images, names=[f.filename or f"file {i + 1}" for i, f in enumerate(files)], metadata=rows)
            holder.load()
        fields = [c for c in added.shown if c != "file"]
        added_rows = [{k: json_value(v) for k, v in r.items()} for r in added.rows[fields].to_dict("records")]
        skipped = [{"file": name, "product_id": product_id} for name, product_id in added.skipped]  # already there
        return JSONResponse({"added": added_rows, "skipped": skipped, "items": len(holder.get().index)}, status_code=201)


def add_ops_routes(app: FastAPI, holder: Any, metrics: Any, limiter: Any, keyed: bool) -> None:
    """GET /health (always open, for probes) and GET /metrics."""

    @app.get("/health", response_class=JSONResponse)
    async def health() -> JSONResponse:
        """Ready when the engine is loaded: item count, store and index type; 503 with the reason otherwise."""
        if holder.engine is None:
            return JSONResponse(status_code=503, content={"status": "unavailable", "detail": holder.error})
        index = holder.engine.index
        return JSONResponse({"status": "ok", "items": len(index), "store": index.manifest.get("store", "faiss"),
                             "index_type": index.manifest.get("index_type")})

    @app.get("/metrics", response_class=JSONResponse, dependencies=KEY_SCHEMES if keyed else [])
    async def get_metrics() -> JSONResponse:
        """Requests, errors and latency (p50/p95, ms) per route since start, requests in flight and turned
        away (503), and the catalog size."""
        return JSONResponse({**metrics.snapshot(), "in_flight": limiter.active, "rejected_busy": limiter.rejected,
                             "max_in_flight": limiter.limit,
                             "items": len(holder.engine.index) if holder.engine is not None else None})
