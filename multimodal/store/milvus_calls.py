"""How Milvus calls read: filter expressions built from validated filters, and one clear error for any failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from multimodal.errors import ArtifactError, MultimodalError
from multimodal.store.base import SearchFilter

# What a vanished or frozen server looks like through pymilvus and gRPC.
_GONE = ("unavailable", "deadline", "fail connecting", "connection refused", "socket closed", "connect failed",
         "'nonetype' object has no attribute")


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


def milvus_error(uri: str, what: str, exc: BaseException) -> ArtifactError:
    """One sentence for a failed Milvus call: a server that is gone, or what it refused."""
    code = getattr(exc, "code", None)
    if callable(code):  # a raw grpc.RpcError
        reason = f"{getattr(code(), 'name', code())}: {exc.details() if hasattr(exc, 'details') else exc}"
    elif getattr(exc, "message", None):
        reason = f"{exc.message} (code {code})" if code is not None else str(exc.message)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    reason = " ".join(str(reason).split())[:300]
    if any(sign in reason.lower() for sign in _GONE):
        return ArtifactError(
            f"the Milvus server at {uri} does not answer ({reason}); start it (or check --store-uri), "
            "or build with the default store: `python -m multimodal build --store faiss`"
        )
    return ArtifactError(f"Milvus at {uri} could not {what} ({reason})")


@contextmanager
def answering(uri: str, what: str) -> Iterator[None]:
    """Turn any failure of the Milvus calls inside into one ArtifactError (no gRPC traceback)."""
    try:
        yield
    except MultimodalError:
        raise
    except Exception as exc:  # noqa: BLE001 - pymilvus and grpc raise many types for one cause
        raise milvus_error(uri, what, exc) from None
