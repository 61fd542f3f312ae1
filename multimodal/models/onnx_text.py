"""One short query through the sentence model in a quarter of the time: its transformer run by onnxruntime.

On a 2-core CPU, torch spends about 9 ms on one ten-word query, nearly all of it in small matrix
products; onnxruntime runs the same graph in about 2.5 ms (measurements: ``docs/decisions.md``).
The graph is exported from the loaded model once (``torch.onnx``, about 2 s), cached on disk, and
used only after it reproduces the torch model's own vectors for probe queries. When anything is
missing or differs, the caller keeps the torch path and the reason is logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the export below changes: cached graphs of older versions are not used
PROBES = ("black leather ankle boots for women", "a", "Navy WOOL coat, under 120 $!",
          "not red · sandals for the beach in summer " * 3)
TOLERANCE = 1e-4  # largest difference allowed in any coordinate of a unit vector
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_dir() -> Path:
    """``$MULTIMODAL_CACHE_DIR``, else ``$XDG_CACHE_HOME/multimodal``, else ``~/.cache/multimodal``."""
    if os.environ.get("MULTIMODAL_CACHE_DIR"):
        return Path(os.environ["MULTIMODAL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multimodal"


def fast_query_encoder(model: Any, model_path: str) -> Callable[[list[str]], np.ndarray] | None:
    """texts -> unit vectors (one row each), equal to ``model``'s own within ``TOLERANCE``; None (reason
    logged) when unavailable. Meant for a query's few texts: a build's thousands stay with torch's batches."""
    if os.environ.get("MULTIMODAL_TORCH_TEXT"):
        return None
    try:
        import onnxruntime  # noqa: F401 - only to learn whether it is installed
    except ImportError:
        log.info("onnxruntime is not installed: queries go through torch (about 4x slower)")
        return None
    try:
        transformer = _transformer(model)
        path = cache_dir() / "onnx" / f"{_fingerprint(model, model_path)}.onnx"
        if not path.is_file():
            _export(transformer, model, path)
        try:
            encode = _session_encoder(model, path)
        except Exception as exc:  # noqa: BLE001 - a damaged cached graph: export it again, once
            log.warning("the cached graph %s cannot be read (%s); exporting it again", path, exc)
            _export(transformer, model, path)
            encode = _session_encoder(model, path)
        worst = float(np.abs(encode(list(PROBES)) - _torch_vectors(model, list(PROBES))).max())
        worst = max([worst, *(float(np.abs(encode([text]) - _torch_vectors(model, [text])).max()) for text in PROBES)])
    except Exception as exc:  # noqa: BLE001 - export and runtime fail in many types; torch still works
        log.warning("the fast query path is off (%s: %s); queries go through torch", type(exc).__name__, exc)
        return None
    if worst > TOLERANCE:
        log.warning("the ONNX graph at %s differs from the torch model by %.2g; queries go through torch", path, worst)
        return None
    return encode


def _transformer(model: Any) -> Any:
    """The model's first module's network, when the model is a transformer, mean pooling and normalisation."""
    names = [type(module).__name__ for module in model]
    pooling = getattr(model[1], "pooling_mode", None) or ("mean" if getattr(model[1], "pooling_mode_mean_tokens", False) else None)
    if names[:1] != ["Transformer"] or names[1:2] != ["Pooling"] or pooling not in ("mean", "mean_tokens"):
        raise ValueError(f"not a transformer with mean pooling ({', '.join(names)})")
    return getattr(model[0], "auto_model", None) or model[0].model


def _fingerprint(model: Any, model_path: str) -> str:
    """Which graph a cached file is: the model's weights and the versions that export it."""
    import onnxruntime
    import torch

    digest = hashlib.sha256(f"{EXPORT_VERSION}|{torch.__version__}|{onnxruntime.__version__}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().flatten()[:64].numpy().tobytes())
    digest.update(str(Path(model_path).resolve()).encode())
    return digest.hexdigest()[:20]


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


def _session_encoder(model: Any, path: Path) -> Callable[[list[str]], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads leave the CPU to others
    options.intra_op_num_threads = min(2, os.cpu_count() or 1)
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = {node.name for node in session.get_inputs()}

    def encode(texts: list[str]) -> np.ndarray:
        features = model.preprocess(list(texts))  # the model's own tokenizer, truncation and padding
        feed = {name: features[name].numpy() for name in INPUTS if name in wanted}
        tokens = session.run(None, feed)[0]
        mask = feed["attention_mask"].astype(np.float32)[:, :, None]
        vectors = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    return encode


def _torch_vectors(model: Any, texts: list[str]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        vectors = model(model.preprocess(texts))["sentence_embedding"].float().numpy()
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
