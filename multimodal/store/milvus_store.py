"""The scale-out store: a Milvus collection through ``pymilvus.MilvusClient``.

The same code talks to Milvus Lite (a local folder, the default: ``artifacts/milvus.db``), to a
``milvus-lite server`` over gRPC, and to a Milvus standalone or distributed cluster
(``http://host:19530``). Vectors and the filter fields live in the collection; filters are
Milvus boolean expressions built only from a validated ``SearchFilter`` (closed vocabularies
and finite numbers), never from a shopper's text. The manifest stays a JSON file beside the
models, as for FAISS, with the generation's product ids: on open, the collection's rows are
matched to that committed list, so rows a killed or unfinished writer upserted are not served.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.errors import ArtifactError, InvalidInputError
from multimodal.io import read_json, write_json_atomic
from multimodal.store.base import (
    SearchFilter,
    as_matrix,
    check_k,
    check_manifest,
    check_new_ids,
    filter_columns,
)
from multimodal.store.faiss_index import IDS_FILE, INDEX_TYPES, MANIFEST_FILE
from multimodal.store.milvus_calls import answering, filter_expression, milvus_error

__all__ = ["MilvusStore", "answering", "default_uri", "filter_expression", "is_local", "milvus_error"]

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "fashion_items"
LITE_FILE = "milvus.db"
# Every call stays far inside what a Milvus server accepts (measured on Milvus 2.3: nq and topk at
# most 16384, a query window of 16384 rows, gRPC messages of 64 MB, results of 100 MB), so one
# code path serves a 4,000-item shop and a 1M-item one: big requests are split, never refused.
MAX_NQ = MAX_TOPK = MAX_PAGE = 16_384
MAX_HITS = 250_000  # nq * topk of one search call: ~10 MB of results, seconds even on Milvus Lite
MAX_INSERT_ROWS = 20_000
_CALL_BYTES = 16 << 20  # vectors sent or read in one call
TIMEOUT_S = 120.0  # no call may hang on a server that went away (a search without one waits forever)
# Milvus index for each of our index types, with search settings giving recall near FAISS'.
_INDEXES = {
    "flat": ("FLAT", {}, {}),
    "hnsw": ("HNSW", {"M": 32, "efConstruction": 40}, {"ef": 128}),  # as FAISS: M 32, efConstruction 40
    "ivf": ("IVF_FLAT", None, None),  # nlist / nprobe depend on the size, see _ivf_params
}


def default_uri(artifacts_dir: str | os.PathLike[str]) -> str:
    """Milvus Lite in the artifacts folder: no server to run.

    A generation folder (``gen-N``) or a writer's staging folder is not the place: generations are
    renamed and replaced, and Milvus keeps its own files, so the Lite folder lives beside them in
    the artifacts root, like a Milvus server outside the generations.
    """
    folder = Path(artifacts_dir)
    if re.match(r"^(gen-\d{6,}|\.staging-.*)$", folder.name):
        folder = folder.parent
    return str(folder / LITE_FILE)


def is_local(uri: str) -> bool:
    """A Milvus Lite folder rather than a server address."""
    return "://" not in uri


def _ivf_params(n_items: int) -> tuple[dict[str, int], dict[str, int]]:
    nlist = int(max(1, min(4 * np.sqrt(max(n_items, 1)), n_items // 39 or 1)))
    return {"nlist": nlist}, {"nprobe": max(1, nlist // 8)}


def queries_per_call(k: int, dim: int) -> int:
    """How many queries one search call may carry for top-``k`` results of ``dim``-d vectors."""
    return max(1, min(MAX_NQ, MAX_HITS // max(k, 1), _CALL_BYTES // (4 * dim)))


def rows_per_page(dim: int) -> int:
    """Rows one query call may read back with their vectors."""
    return max(1, min(MAX_PAGE, _CALL_BYTES // (4 * dim + 256)))


def rows_per_insert(dim: int) -> int:
    """Rows one insert call may carry (vector plus the short string fields)."""
    return max(1, min(MAX_INSERT_ROWS, _CALL_BYTES // (4 * dim + 512)))


class MilvusStore:
    """One Milvus collection: primary key ``key`` (int64), ``product_id``, gender, category, price, vector."""

    kind = "milvus"

    def __init__(self, client: Any, uri: str, collection: str, manifest: dict[str, Any],
                 keys: np.ndarray, product_ids: list[str], search_params: dict[str, Any],
                 timeout: float = TIMEOUT_S) -> None:
        self._client = client
        self.uri = uri
        self.collection = collection
        self.manifest = manifest
        self.timeout = timeout
        self._search_params = search_params
        self._lock = threading.Lock()
        self._set_rows(np.asarray(keys, np.int64), list(product_ids))

    # ------------------------------------------------------------ connection and construction

    @staticmethod
    def connect(uri: str, timeout: float = TIMEOUT_S) -> Any:
        """A MilvusClient for a Lite folder or a server URL; an unreachable server is an ArtifactError."""
        from pymilvus import MilvusClient

        with answering(uri, "connect"):
            return MilvusClient(uri=uri, timeout=timeout)

    @classmethod
    def build(cls, vectors: np.ndarray, product_ids: Sequence[str], metadata: pd.DataFrame | Sequence[dict],
              kind: str = "flat", uri: str | None = None, collection: str = DEFAULT_COLLECTION,
              timeout: float = TIMEOUT_S, **manifest: Any) -> MilvusStore:
        """(Re)create the collection and insert every item; ``manifest`` fields are recorded as given.

        Raises:
            InvalidInputError: an unknown index type, no URI, or items that do not fit together.
            ArtifactError: the server does not answer or refuses the collection.
        """
        if kind not in INDEX_TYPES:
            raise InvalidInputError(f"unknown index type {kind!r}; choose one of {', '.join(INDEX_TYPES)}")
        if uri is None:
            raise InvalidInputError("a Milvus store needs a URI (a Lite folder such as artifacts/milvus.db, or http://host:19530)")
        vectors = as_matrix(vectors)
        ids = check_new_ids(product_ids, ())
        columns = filter_columns(metadata, len(ids))
        if len(vectors) != len(ids):
            raise InvalidInputError(f"{len(vectors)} vectors but {len(ids)} product ids")
        dim = int(vectors.shape[1])
        if is_local(uri):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        client = cls.connect(uri, timeout)
        index_type, search_params = _create_collection(client, uri, collection, kind, dim, len(ids), timeout)
        keys = np.arange(len(ids), dtype=np.int64)
        _insert(client, uri, collection, keys, ids, columns, vectors, timeout)
        info = {
            **manifest, "store": cls.kind, "uri": uri, "collection": collection, "index_type": kind,
            "milvus_index": index_type, "milvus_search_params": search_params, "dim": dim, "items": len(ids),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return cls(client, uri, collection, info, keys, ids, search_params, timeout)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], expect: dict[str, Any] | None = None,
             uri: str | None = None, timeout: float = TIMEOUT_S) -> MilvusStore:
        """Open the collection a manifest in ``directory`` describes, at ``uri`` (default: the manifest's).

        Raises:
            ArtifactError: no manifest, a manifest for another store, model or catalog, no such
                collection, a row count that differs from the manifest, or no server answering.
        """
        directory = Path(directory)
        path = directory / MANIFEST_FILE
        if not path.is_file():
            raise ArtifactError(f"no search index in {directory} (missing {MANIFEST_FILE}); "
                                "run `python -m multimodal build --store milvus`")
        manifest = read_json(path)
        if manifest.get("store", "faiss") != cls.kind:
            raise ArtifactError(
                f"the index in {directory} was built for the {manifest.get('store', 'faiss')} store, not Milvus; "
                "rebuild with `python -m multimodal build --store milvus` or drop --store"
            )
        check_manifest(manifest, expect, str(directory))
        uri = uri or manifest["uri"]
        if is_local(uri) and not Path(uri).exists() and (directory / Path(uri).name).exists():
            uri = str(directory / Path(uri).name)  # a Lite folder inside artifacts/ moves with it
        collection = manifest.get("collection", DEFAULT_COLLECTION)
        client = cls.connect(uri, timeout)
        with answering(uri, f"open the collection {collection!r}"):
            if not client.has_collection(collection, timeout=timeout):
                raise ArtifactError(f"Milvus at {uri} has no collection {collection!r}; "
                                    "run `python -m multimodal build --store milvus`")
            client.load_collection(collection, timeout=timeout)
        store = cls(client, uri, collection, manifest, np.zeros(0, np.int64), [],
                    manifest.get("milvus_search_params") or {}, timeout)
        keys, ids = store._read_ids()
        committed = read_json(directory / IDS_FILE) if (directory / IDS_FILE).is_file() else None
        if isinstance(committed, list):
            keys, ids = _only_committed(keys, ids, [str(p) for p in committed])
        if len(ids) != manifest.get("items") or manifest.get("dim") is None or (committed is not None and ids != committed):
            store.close()
            raise ArtifactError(
                f"Milvus collection {collection!r} holds {len(ids)} of the manifest's {manifest.get('items')} items; "
                "rebuild with `python -m multimodal build --store milvus`"
            )
        store._set_rows(keys, ids)
        return store

    # ------------------------------------------------------------ the protocol

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def product_ids(self) -> list[str]:
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def count(self) -> int:
        with answering(self.uri, "count the items"):
            result = self._client.query(self.collection, filter="", output_fields=["count(*)"],
                                        consistency_level="Strong", timeout=self.timeout)
        return int(result[0]["count(*)"])

    def add(self, vectors: np.ndarray, product_ids: Sequence[str], metadata: pd.DataFrame | Sequence[dict]) -> None:
        """Upsert new items: re-running an interrupted addition writes the same rows again, no duplicates."""
        vectors = as_matrix(vectors, self.dim)
        ids = check_new_ids(product_ids, self._id_set)
        if len(vectors) != len(ids):
            raise InvalidInputError(f"{len(vectors)} vectors but {len(ids)} product ids")
        columns = filter_columns(metadata, len(ids))
        with self._lock:
            start = int(self._keys.max()) + 1 if len(self._keys) else 0
            keys = np.arange(start, start + len(ids), dtype=np.int64)
            _insert(self._client, self.uri, self.collection, keys, ids, columns, vectors, self.timeout, seal=False)
            self._set_rows(np.concatenate([self._keys, keys]), self._ids + ids)
            self.manifest["items"] = len(self._ids)

    def search(self, queries: np.ndarray, k: int, where: SearchFilter | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows per query; many queries or a large k are split into calls Milvus accepts.

        Session consistency: this client's own writes are seen, without the wait for the server's
        time tick that Strong costs each search (about 200 ms on a server). Rows another process
        added since this one loaded are skipped until `refresh` reads the id list, which is Strong.
        """
        queries = as_matrix(queries, self.dim)
        k = min(check_k(k), max(len(self), 1), MAX_TOPK)
        expression = self._expression(where, allowed)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        if len(self) == 0:
            return scores, rows
        step = queries_per_call(k, self.dim)
        params = {"metric_type": "IP", "params": dict(self._search_params)}
        for start in range(0, len(queries), step):
            with answering(self.uri, "search"):  # only the key comes back: Lite would send every field
                hits = self._client.search(
                    self.collection, data=queries[start : start + step].tolist(), limit=k, filter=expression,
                    output_fields=["key"], search_params=params, consistency_level="Session",
                    timeout=self.timeout,
                )
            for i, found in enumerate(hits, start):
                for j, hit in enumerate(found):
                    row = self._row_of.get(int(hit["key"] if "key" in hit else hit["id"]), -1)
                    if row >= 0:  # a key added by another process since this one loaded is skipped
                        rows[i, j], scores[i, j] = row, float(hit["distance"])
        return _compact(scores, rows)

    def remove(self, product_ids: Sequence[str]) -> int:
        drop = [p for p in (str(p) for p in product_ids) if p in self._id_set]
        if not drop:
            return 0
        with self._lock:
            for start in range(0, len(drop), MAX_PAGE):
                with answering(self.uri, "delete items"):
                    self._client.delete(self.collection, filter=f"product_id in {json.dumps(drop[start : start + MAX_PAGE])}",
                                        timeout=self.timeout)
            gone = set(drop)
            keep = np.array([p not in gone for p in self._ids], dtype=bool)
            self._set_rows(self._keys[keep], [p for p, k in zip(self._ids, keep) if k])
            self.manifest["items"] = len(self._ids)
        return len(drop)

    def vectors(self) -> np.ndarray:
        """All vectors in row order, read a page of keys at a time."""
        out = np.zeros((len(self), self.dim), np.float32)
        for batch in self._pages(["key", "vector"], rows_per_page(self.dim)):
            for item in batch:
                row = self._row_of.get(int(item["key"]), -1)
                if row >= 0:
                    out[row] = item["vector"]
        return out

    def save(self, directory: str | os.PathLike[str]) -> None:
        """The vectors are in Milvus already; write the manifest and the id list beside the models."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / IDS_FILE, self._ids)
        write_json_atomic(directory / MANIFEST_FILE, self.manifest)

    def close(self) -> None:
        """Close the client; a server already gone is no error here."""
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing a channel to a dead server may raise anything
            log.debug("closing the Milvus client for %s failed", self.uri, exc_info=True)

    # ------------------------------------------------------------ rows <-> Milvus keys

    def _set_rows(self, keys: np.ndarray, ids: list[str]) -> None:
        self._keys, self._ids = keys, ids
        self._id_set = set(ids)
        self._row_of = {int(key): row for row, key in enumerate(keys)}

    def _expression(self, where: SearchFilter | None, allowed: np.ndarray | None) -> str:
        expression = filter_expression(where)
        if allowed is None:
            return expression
        mask = np.asarray(allowed, dtype=bool)
        if mask.shape != (len(self),):
            raise InvalidInputError(f"filter mask has shape {mask.shape}, expected ({len(self)},)")
        if mask.all():
            return expression
        # rows the caller picked itself: the shorter key list, still inside the search
        keys = (f"key in {json.dumps(self._keys[mask].tolist())}" if mask.sum() <= (~mask).sum()
                else f"key not in {json.dumps(self._keys[~mask].tolist())}")
        return f"({expression}) and {keys}" if expression else keys

    def _pages(self, fields: list[str], page: int) -> Iterator[list[dict]]:
        """Every row, in windows of ``page`` consecutive keys (at most ``page`` rows each: keys are unique).

        Keys only grow, so an empty window is a gap left by removed items unless nothing lies beyond it.
        """
        low = 0
        while True:
            with answering(self.uri, "read the collection"):
                batch = self._client.query(self.collection, filter=f"key >= {low} and key < {low + page}",
                                           output_fields=fields, limit=page, consistency_level="Strong",
                                           timeout=self.timeout)
                if not batch and not self._client.query(self.collection, filter=f"key >= {low}",
                                                        output_fields=["key"], limit=1,
                                                        consistency_level="Strong", timeout=self.timeout):
                    return
            if batch:
                yield batch
            low += page

    def _read_ids(self) -> tuple[np.ndarray, list[str]]:
        """Every (key, product id) of the collection in key order: row i of the store is key-order i."""
        keys: list[int] = []
        ids: list[str] = []
        for batch in self._pages(["key", "product_id"], MAX_PAGE):
            keys.extend(int(item["key"]) for item in batch)
            ids.extend(str(item["product_id"]) for item in batch)
        order = np.argsort(np.asarray(keys, np.int64), kind="stable")
        return np.asarray(keys, np.int64)[order], [ids[i] for i in order]


def _create_collection(client: Any, uri: str, collection: str, kind: str, dim: int, n_items: int,
                       timeout: float) -> tuple[str, dict[str, Any]]:
    """Drop and create the collection with its vector index; returns the index type and search settings."""
    from pymilvus import DataType, MilvusClient

    index_type, build_params, search_params = _INDEXES[kind]
    if kind == "ivf":
        build_params, search_params = _ivf_params(n_items)
    with answering(uri, f"create the collection {collection!r}"):
        if client.has_collection(collection, timeout=timeout):
            client.drop_collection(collection, timeout=timeout)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.INT64, is_primary=True)
        schema.add_field("product_id", DataType.VARCHAR, max_length=128)
        schema.add_field("gender", DataType.VARCHAR, max_length=16)
        schema.add_field("category", DataType.VARCHAR, max_length=32)
        schema.add_field("price", DataType.DOUBLE)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=index_type, metric_type="IP", params=build_params)
        # Strong by default; searches ask for Session (see `search`), reads of the id list for Strong
        client.create_collection(collection, schema=schema, index_params=index_params,
                                 consistency_level="Strong", timeout=timeout)
    return index_type, search_params


def _insert(client: Any, uri: str, collection: str, keys: np.ndarray, ids: list[str],
            columns: dict[str, np.ndarray], vectors: np.ndarray, timeout: float, seal: bool = True) -> None:
    """Upsert the rows; ``seal`` flushes them into sealed segments, which get the vector index.

    Rows are durable once the upsert returns (Milvus's write-ahead log; Lite writes its file), so
    a few added items skip the flush, which costs 2.5-3 s on a server (``docs/decisions.md``)."""
    step = rows_per_insert(vectors.shape[1])
    for start in range(0, len(ids), step):
        end = min(start + step, len(ids))
        rows = [
            {"key": int(keys[i]), "product_id": ids[i], "gender": str(columns["gender"][i]),
             "category": str(columns["category"][i]), "price": float(columns["price"][i]), "vector": vectors[i].tolist()}
            for i in range(start, end)
        ]
        with answering(uri, f"insert items {start}-{end}"):
            client.upsert(collection, rows, timeout=timeout)
        log.debug("upserted %d of %d items into %s", end, len(ids), collection)
    if seal and hasattr(client, "flush"):
        with answering(uri, "flush the inserted items"):
            client.flush(collection, timeout=timeout)


def _only_committed(keys: np.ndarray, ids: list[str], committed: list[str]) -> tuple[np.ndarray, list[str]]:
    """The rows of the committed id list, in key order.

    A writer upserts its rows before it commits the generation that lists them; rows of a writer
    that was killed, or has not committed yet, are not part of the catalog served (the next
    addition writes over their keys).
    """
    wanted = set(committed)
    keep = [i for i, pid in enumerate(ids) if pid in wanted]
    seen: set[str] = set()
    first = [i for i in keep if not (ids[i] in seen or seen.add(ids[i]))]
    return keys[first], [ids[i] for i in first]


def _compact(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move skipped hits to the end of each row so results stay best-first with -1 padding."""
    order = np.argsort(rows < 0, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
