"""One short query through the sentence model in a quarter of the time: its transformer run by onnxruntime.

On a 2-core CPU, torch spends about 9 ms on one ten-word query, nearly all of it in small matrix
products; onnxruntime runs the same graph in about 2.5 ms (measurements: ``docs/decisions.md``).
The graph is exported from the loaded model once (``torch.onnx``, about 2 s) and cached on disk
with the tokenizer's settings. It is used only after it reproduces the torch model's own vectors
for probe queries; a record of that check, beside the graph, lets later processes take the fast
path without loading torch at all (about 6 s and 400 MB less per process). When anything is
missing or differs, the caller keeps the torch path and the reason is logged.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.io import file_sha256, write_json_atomic

log = logging.getLogger(__name__)

EXPORT_VERSION = 2  # bump when the export or its record changes: cached graphs of older versions are not used
PROBES = ("black leather ankle boots for women", "a", "Navy WOOL coat, under 120 $!",
          "not red · sandals for the beach in summer " * 3, "  ünïcödé  dress\t", "boots " * 300)
TOLERANCE = 1e-4  # largest difference allowed in any coordinate of a unit vector
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

Encode = Callable[[list[str]], np.ndarray]
Tokenize = Callable[[list[str]], dict[str, np.ndarray]]


def cache_dir() -> Path:
    """``$MULTIMODAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/multimodal``, else ``~/.cache/multimodal``."""
    if os.environ.get("MULTIMODAL_CACHE_DIR"):
        return Path(os.environ["MULTIMODAL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multimodal"


def cached_query_encoder(model_path: str) -> tuple[Encode, int] | None:
    """(texts -> unit vectors, dimension) from a graph an earlier process checked against the torch
    model in ``model_path``, without loading torch; None when there is no such graph (or it changed)."""
    if not _runtime_available():
        return None
    try:
        graph = _graph_path(model_path)
        record_path = graph.with_suffix(".json")
        if not (graph.is_file() and record_path.is_file()):
            return None
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("graph_sha256") != file_sha256(graph):
            log.warning("the graph %s is not the one checked; the torch model checks it again", graph)
            return None
        from tokenizers import Tokenizer

        encode = _session_encoder(graph, _token_feed(Tokenizer.from_str(record["tokenizer"])))
        return encode, int(record["dim"])
    except Exception as exc:  # noqa: BLE001 - a damaged record or graph: the torch path checks again
        log.warning("the checked query graph cannot be used (%s: %s); loading the torch model", type(exc).__name__, exc)
        return None


def fast_query_encoder(model: Any, model_path: str) -> Encode | None:
    """texts -> unit vectors (one row each), equal to ``model``'s own within ``TOLERANCE``; None (reason
    logged) when unavailable. Meant for a query's few texts: a build's thousands stay with torch's batches.

    Once the graph and a tokenizer without torch pass the check, a record of it is written beside
    the graph for ``cached_query_encoder``."""
    if not _runtime_available():
        return None
    try:
        transformer = _transformer(model)
        path = _graph_path(model_path)
        if not path.is_file():
            _export(transformer, model, path)
        tokenize, serialised = _tokenizer(model)
        try:
            encode = _session_encoder(path, tokenize)
        except Exception as exc:  # noqa: BLE001 - a damaged cached graph: export it again, once
            log.warning("the cached graph %s cannot be read (%s); exporting it again", path, exc)
            _export(transformer, model, path)
            encode = _session_encoder(path, tokenize)
        worst = float(np.abs(encode(list(PROBES)) - _torch_vectors(model, list(PROBES))).max())
        worst = max([worst, *(float(np.abs(encode([text]) - _torch_vectors(model, [text])).max()) for text in PROBES)])
    except Exception as exc:  # noqa: BLE001 - export and runtime fail in many types; torch still works
        log.warning("the fast query path is off (%s: %s); queries go through torch", type(exc).__name__, exc)
        return None
    if worst > TOLERANCE:
        log.warning("the ONNX graph at %s differs from the torch model by %.2g; queries go through torch", path, worst)
        return None
    if serialised is not None:
        dim = int(_torch_vectors(model, [PROBES[0]]).shape[1])
        write_json_atomic(path.with_suffix(".json"), {
            "graph_sha256": file_sha256(path), "tokenizer": serialised, "dim": dim, "largest_difference": worst,
        })
    return encode


def _runtime_available() -> bool:
    if os.environ.get("MULTIMODAL_TORCH_TEXT"):
        return False
    try:
        import onnxruntime  # noqa: F401 - only to learn whether it is installed
    except ImportError:
        log.info("onnxruntime is not installed: queries go through torch (about 4x slower)")
        return False
    return True


def _transformer(model: Any) -> Any:
    """The model's first module's network, when the model is a transformer, mean pooling and normalisation."""
    names = [type(module).__name__ for module in model]
    pooling = getattr(model[1], "pooling_mode", None) or ("mean" if getattr(model[1], "pooling_mode_mean_tokens", False) else None)
    if names[:1] != ["Transformer"] or names[1:2] != ["Pooling"] or pooling not in ("mean", "mean_tokens"):
        raise ValueError(f"not a transformer with mean pooling ({', '.join(names)})")
    return getattr(model[0], "auto_model", None) or model[0].model


_FINGERPRINTS: dict[tuple, str] = {}


def _graph_path(model_path: str) -> Path:
    """Where the graph of the model in ``model_path`` is cached: named by every file of the model
    folder and the versions that export and run it, so any change there is a graph of its own."""
    folder = Path(model_path).resolve()
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no sentence model files in {folder}")
    stamp = (str(folder), *((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if stamp not in _FINGERPRINTS:
        versions = "|".join(_version(name) for name in ("torch", "onnxruntime", "tokenizers", "transformers"))
        digest = hashlib.sha256(f"{EXPORT_VERSION}|{versions}".encode())
        for path in files:
            digest.update(str(path.relative_to(folder)).encode() + bytes.fromhex(file_sha256(path)))
        _FINGERPRINTS[stamp] = digest.hexdigest()[:20]
    return cache_dir() / "onnx" / f"{_FINGERPRINTS[stamp]}.onnx"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _export(transformer: Any, model: Any, path: Path) -> None:
    """The transformer's graph (token ids -> token vectors), written atomically: readers never see half a file."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001 - traced
            return self.network(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids, return_dict=False)[0]

    features = model.preprocess([PROBES[0]])
    example = tuple(features[name] for name in INPUTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".onnx.tmp")
    os.close(handle)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shapes held constant: the probes check the graph instead
            torch.onnx.export(
                Hidden(transformer).eval(), example, temporary, input_names=list(INPUTS), output_names=["tokens"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "tokens")},
                opset_version=17, dynamo=False,
            )
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    log.info("exported the sentence model's transformer to %s", path)


def _tokenizer(model: Any) -> tuple[Tokenize, str | None]:
    """The model's tokenizer as a plain ``tokenizers.Tokenizer`` (no torch needed to run it) with the
    truncation and padding the model's own preprocessing set, and its serialised form; when its
    token ids differ from the model's for any probe, the model's own preprocessing and None."""
    def own(texts: list[str]) -> dict[str, np.ndarray]:
        features = model.preprocess(list(texts))  # the model's own tokenizer, truncation and padding
        return {name: features[name].numpy() for name in INPUTS if name in features}

    try:
        from tokenizers import Tokenizer

        expected = own(list(PROBES))  # also leaves the backend holding this call's truncation and padding
        serialised = model[0].tokenizer.backend_tokenizer.to_str()
        plain = _token_feed(Tokenizer.from_str(serialised))
        for texts in (list(PROBES), *([text] for text in PROBES)):
            ours, theirs = plain(texts), own(texts) if len(texts) == 1 else expected
            if any(not np.array_equal(ours[name], theirs[name]) for name in theirs):
                raise ValueError(f"token ids differ for {texts[0][:40]!r}")
    except Exception as exc:  # noqa: BLE001 - no tokenizers, another tokenizer kind, other ids
        log.info("queries are tokenized by the torch model's own preprocessing (%s)", exc)
        return own, None
    return plain, serialised


def _token_feed(tokenizer: Any) -> Tokenize:
    def tokenize(texts: list[str]) -> dict[str, np.ndarray]:
        encodings = tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    return tokenize


def _session_encoder(path: Path, tokenize: Tokenize) -> Encode:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads leave the CPU to others
    options.intra_op_num_threads = min(2, os.cpu_count() or 1)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {node.name for node in session.get_inputs()}

    def encode(texts: list[str]) -> np.ndarray:
        features = tokenize(list(texts))
        feed = {name: features[name] for name in INPUTS if name in wanted}
        tokens = session.run(None, feed)[0]
        mask = features["attention_mask"].astype(np.float32)[:, :, None]
        vectors = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    return encode


def _torch_vectors(model: Any, texts: list[str]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        vectors = model(model.preprocess(texts))["sentence_embedding"].float().numpy()
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
