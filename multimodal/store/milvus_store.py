"""The scale-out store: a Milvus collection through ``pymilvus.MilvusClient``.

The same code talks to Milvus Lite (a local folder, the default: ``artifacts/milvus.db``), to a
``milvus-lite server`` over gRPC, and to a Milvus standalone or distributed cluster
(``http://host:19530``). Vectors and the filter fields live in the collection; filters are
Milvus boolean expressions built only from a validated ``SearchFilter`` (closed vocabularies
and finite numbers), never from a shopper's text. The manifest stays a JSON file beside the
models, as for FAISS, and is checked on open together with the collection's row count.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Sequence
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

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "fashion_items"
LITE_FILE = "milvus.db"
_BATCH = 5000
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


def filter_expression(where: SearchFilter | None) -> str:
    """A Milvus boolean expression for ``where`` ("" = no filter).

    ``SearchFilter`` has already refused anything outside the catalog's genders and categories
    and any non-finite price, and strings are JSON-quoted, so no user text reaches Milvus.
    """
    if where is None or where.is_empty:
        return ""
    parts = []
    if where.genders is not None:
        parts.append(f"gender in {json.dumps(sorted(where.genders))}")
    if where.categories is not None:
        parts.append(f"category in {json.dumps(sorted(where.categories))}")
    if where.min_price is not None:
        parts.append(f"price >= {where.min_price!r}")
    if where.max_price is not None:
        parts.append(f"price <= {where.max_price!r}")
    return " and ".join(parts)


def _ivf_params(n_items: int) -> tuple[dict[str, int], dict[str, int]]:
    nlist = int(max(1, min(4 * np.sqrt(max(n_items, 1)), n_items // 39 or 1)))
    return {"nlist": nlist}, {"nprobe": max(1, nlist // 8)}


class MilvusStore:
    """One Milvus collection: primary key ``key`` (int64), ``product_id``, gender, category, price, vector."""

    kind = "milvus"

    def __init__(self, client: Any, uri: str, collection: str, manifest: dict[str, Any],
                 keys: np.ndarray, product_ids: list[str], search_params: dict[str, Any]) -> None:
        self._client = client
        self.uri = uri
        self.collection = collection
        self.manifest = manifest
        self._search_params = search_params
        self._lock = threading.Lock()
        self._set_rows(np.asarray(keys, np.int64), list(product_ids))

    # ------------------------------------------------------------ connection and construction

    @staticmethod
    def connect(uri: str) -> Any:
        """A MilvusClient for a Lite folder or a server URL; an unreachable server is an ArtifactError."""
        from pymilvus import MilvusClient

        try:
            return MilvusClient(uri=uri)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several types for a dead server
            raise ArtifactError(f"cannot reach Milvus at {uri}: {exc}") from None

    @classmethod
    def build(cls, vectors: np.ndarray, product_ids: Sequence[str], metadata: pd.DataFrame | Sequence[dict],
              kind: str = "flat", uri: str | None = None, collection: str = DEFAULT_COLLECTION,
              **manifest: Any) -> MilvusStore:
        """(Re)create the collection and insert every item; ``manifest`` fields are recorded as given."""
        from pymilvus import DataType, MilvusClient

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
        client = cls.connect(uri)
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.INT64, is_primary=True)
        schema.add_field("product_id", DataType.VARCHAR, max_length=128)
        schema.add_field("gender", DataType.VARCHAR, max_length=16)
        schema.add_field("category", DataType.VARCHAR, max_length=32)
        schema.add_field("price", DataType.DOUBLE)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index_type, build_params, search_params = _INDEXES[kind]
        if kind == "ivf":
            build_params, search_params = _ivf_params(len(ids))
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type=index_type, metric_type="IP", params=build_params)
        client.create_collection(collection, schema=schema, index_params=index_params)
        keys = np.arange(len(ids), dtype=np.int64)
        _insert(client, collection, keys, ids, columns, vectors)
        info = {
            **manifest, "store": cls.kind, "uri": uri, "collection": collection, "index_type": kind,
            "milvus_index": index_type, "milvus_search_params": search_params, "dim": dim, "items": len(ids),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return cls(client, uri, collection, info, keys, ids, search_params)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], expect: dict[str, Any] | None = None,
             uri: str | None = None) -> MilvusStore:
        """Open the collection a manifest in ``directory`` describes, at ``uri`` (default: the manifest's).

        Raises:
            ArtifactError: no manifest, a manifest for another store, model or catalog, no such
                collection, or a row count that differs from the manifest.
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
        client = cls.connect(uri)
        if not client.has_collection(collection):
            raise ArtifactError(f"Milvus at {uri} has no collection {collection!r}; run `python -m multimodal build --store milvus`")
        client.load_collection(collection)
        keys, ids = _all_ids(client, collection)
        if len(ids) != manifest.get("items") or manifest.get("dim") is None:
            raise ArtifactError(
                f"Milvus collection {collection!r} holds {len(ids)} items but the manifest says {manifest.get('items')}; "
                "rebuild with `python -m multimodal build --store milvus`"
            )
        return cls(client, uri, collection, manifest, keys, ids, manifest.get("milvus_search_params") or {})

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
        result = self._client.query(self.collection, filter="", output_fields=["count(*)"])
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
            _insert(self._client, self.collection, keys, ids, columns, vectors)
            self._set_rows(np.concatenate([self._keys, keys]), self._ids + ids)
            self.manifest["items"] = len(self._ids)

    def search(self, queries: np.ndarray, k: int, where: SearchFilter | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        queries = as_matrix(queries, self.dim)
        k = min(check_k(k), max(len(self), 1), 16384)
        expression = filter_expression(where)
        if allowed is not None:
            mask = np.asarray(allowed, dtype=bool)
            if mask.shape != (len(self),):
                raise InvalidInputError(f"filter mask has shape {mask.shape}, expected ({len(self)},)")
            if not mask.all():  # rows the caller picked itself: the shorter key list, still inside the search
                keys = (f"key in {json.dumps(self._keys[mask].tolist())}" if mask.sum() <= (~mask).sum()
                        else f"key not in {json.dumps(self._keys[~mask].tolist())}")
                expression = f"({expression}) and {keys}" if expression else keys
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        if len(self) == 0:
            return scores, rows
        hits = self._client.search(
            self.collection, data=[q.tolist() for q in queries], limit=k, filter=expression,
            search_params={"metric_type": "IP", "params": dict(self._search_params)},
        )
        for i, found in enumerate(hits):
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
            self._client.delete(self.collection, filter=f"product_id in {json.dumps(drop)}")
            gone = set(drop)
            keep = np.array([p not in gone for p in self._ids], dtype=bool)
            self._set_rows(self._keys[keep], [p for p, k in zip(self._ids, keep) if k])
            self.manifest["items"] = len(self._ids)
        return len(drop)

    def vectors(self) -> np.ndarray:
        out = np.zeros((len(self), self.dim), np.float32)
        iterator = self._client.query_iterator(self.collection, batch_size=_BATCH, filter="", output_fields=["key", "vector"])
        try:
            while batch := iterator.next():
                for item in batch:
                    row = self._row_of.get(int(item["key"]), -1)
                    if row >= 0:
                        out[row] = item["vector"]
        finally:
            iterator.close()
        return out

    def save(self, directory: str | os.PathLike[str]) -> None:
        """The vectors are in Milvus already; write the manifest and the id list beside the models."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(directory / IDS_FILE, self._ids)
        write_json_atomic(directory / MANIFEST_FILE, self.manifest)

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------ rows <-> Milvus keys

    def _set_rows(self, keys: np.ndarray, ids: list[str]) -> None:
        self._keys, self._ids = keys, ids
        self._id_set = set(ids)
        self._row_of = {int(key): row for row, key in enumerate(keys)}


def _insert(client: Any, collection: str, keys: np.ndarray, ids: list[str], columns: dict[str, np.ndarray],
            vectors: np.ndarray) -> None:
    for start in range(0, len(ids), _BATCH):
        end = min(start + _BATCH, len(ids))
        client.upsert(collection, [
            {"key": int(keys[i]), "product_id": ids[i], "gender": str(columns["gender"][i]),
             "category": str(columns["category"][i]), "price": float(columns["price"][i]), "vector": vectors[i].tolist()}
            for i in range(start, end)
        ])
    if hasattr(client, "flush"):
        client.flush(collection)


def _all_ids(client: Any, collection: str) -> tuple[np.ndarray, list[str]]:
    """Every (key, product id) of the collection in key order: row i of the store is key-order i."""
    keys: list[int] = []
    ids: list[str] = []
    iterator = client.query_iterator(collection, batch_size=16384, filter="", output_fields=["key", "product_id"])
    try:
        while batch := iterator.next():
            for item in batch:
                keys.append(int(item["key"]))
                ids.append(str(item["product_id"]))
    finally:
        iterator.close()
    order = np.argsort(np.asarray(keys, np.int64), kind="stable")
    return np.asarray(keys, np.int64)[order], [ids[i] for i in order]


def _compact(scores: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move skipped hits to the end of each row so results stay best-first with -1 padding."""
    order = np.argsort(rows < 0, axis=1, kind="stable")
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
