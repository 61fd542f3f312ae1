"""The text query's fast paths give the same numbers as the slow ones: the sentence model through
onnxruntime, BM25 summed from each word's scores, the mapping network in numpy."""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest

from multimodal.models import onnx_text
from multimodal.search.lexical import COLUMN_WEIGHTS, LexicalIndex

QUERIES = ["black leather ankle boots for women", "NAVY wool coat under 120 $", "t-shirt", "a",
           "sandals " * 300, "  leading and trailing spaces  ", "ünïcödé dress", "not red, not blue: green!"]


@pytest.fixture(scope="module")
def sentence():
    from multimodal.models.text_encoder import SentenceEncoder

    return SentenceEncoder()


@pytest.fixture(scope="module")
def checked_graph(sentence, tmp_path_factory) -> Path:
    """The graph exported and checked once for the module (an export takes ~2 s)."""
    folder = tmp_path_factory.mktemp("checked")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MULTIMODAL_CACHE_DIR", str(folder))
        patch.delenv("MULTIMODAL_TORCH_TEXT", raising=False)
        assert onnx_text.fast_query_encoder(sentence.model, sentence._path) is not None
    return folder / "onnx"


@pytest.fixture()
def private_cache(tmp_path, monkeypatch, checked_graph):
    """A cache of this test's own, holding a copy of the checked graph and its record."""
    import shutil

    shutil.copytree(checked_graph, tmp_path / "cache" / "onnx")
    monkeypatch.setenv("MULTIMODAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MULTIMODAL_TORCH_TEXT", raising=False)
    return tmp_path / "cache"


def test_queries_through_onnxruntime_give_the_torch_models_vectors(sentence) -> None:
    assert sentence.warm(), "onnxruntime is in requirements.txt: the fast path should be on"
    torch_vectors = onnx_text._torch_vectors(sentence.model, QUERIES)
    for text, expected in zip(QUERIES, torch_vectors):
        sentence.clear_cache()
        np.testing.assert_allclose(sentence.encode_query(text), expected, atol=onnx_text.TOLERANCE)
    np.testing.assert_allclose(sentence.encode(QUERIES), torch_vectors, atol=onnx_text.TOLERANCE)  # padded batch


def test_a_damaged_cached_graph_is_exported_again(sentence, private_cache, caplog) -> None:
    encode = onnx_text.fast_query_encoder(sentence.model, sentence._path)
    assert encode is not None
    (graph,) = (private_cache / "onnx").glob("*.onnx")
    graph.write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING):
        encode = onnx_text.fast_query_encoder(sentence.model, sentence._path)
    assert encode is not None and "exporting it again" in caplog.text
    np.testing.assert_allclose(encode(["red dress"]), onnx_text._torch_vectors(sentence.model, ["red dress"]),
                               atol=onnx_text.TOLERANCE)
    assert sorted(p.name for p in graph.parent.iterdir()) == [graph.stem + ".json", graph.name], "no temporary file is left"


CHECKED = """
import json, sys
from multimodal.models.text_encoder import SentenceEncoder
encoder = SentenceEncoder()
print(json.dumps({"vectors": encoder.encode(sys.argv[1:]).tolist(), "query": encoder.encode_query(sys.argv[1]).tolist(),
                  "torch": "torch" in sys.modules, "dim": encoder.dim}))
"""


def test_a_later_process_takes_the_checked_graph_without_loading_torch(sentence, private_cache) -> None:
    import json
    import os
    import subprocess

    assert onnx_text.fast_query_encoder(sentence.model, sentence._path) is not None  # exports, checks, records
    env = {**os.environ, "MULTIMODAL_CACHE_DIR": str(private_cache), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run([sys.executable, "-c", CHECKED, *QUERIES[:4]], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    later = json.loads(run.stdout.splitlines()[-1])
    assert later["torch"] is False and later["dim"] == 384
    expected = onnx_text._torch_vectors(sentence.model, QUERIES[:4])
    np.testing.assert_allclose(np.array(later["vectors"]), expected, atol=onnx_text.TOLERANCE)
    np.testing.assert_allclose(np.array(later["query"]), expected[0], atol=onnx_text.TOLERANCE)


def test_a_graph_changed_since_its_check_is_not_taken_without_torch(sentence, private_cache, caplog) -> None:
    assert onnx_text.fast_query_encoder(sentence.model, sentence._path) is not None
    assert onnx_text.cached_query_encoder(sentence._path) is not None
    (graph,) = (private_cache / "onnx").glob("*.onnx")
    with graph.open("ab") as handle:
        handle.write(b"\0")
    with caplog.at_level(logging.WARNING):
        assert onnx_text.cached_query_encoder(sentence._path) is None
    assert "is not the one checked" in caplog.text
    graph.with_suffix(".json").write_text("{not json")
    assert onnx_text.cached_query_encoder(sentence._path) is None


def test_a_graph_that_differs_from_the_model_is_not_used(sentence, private_cache, monkeypatch, caplog) -> None:
    real = onnx_text._session_encoder
    monkeypatch.setattr(onnx_text, "_session_encoder", lambda *a: (lambda texts: real(*a)(texts)[:, ::-1].copy()))
    with caplog.at_level(logging.WARNING):
        assert onnx_text.fast_query_encoder(sentence.model, sentence._path) is None
    assert "differs from the torch model" in caplog.text


def test_without_onnxruntime_queries_go_through_torch(sentence, private_cache, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    assert onnx_text.fast_query_encoder(sentence.model, sentence._path) is None
    monkeypatch.setenv("MULTIMODAL_TORCH_TEXT", "1")
    assert onnx_text.fast_query_encoder(sentence.model, sentence._path) is None


def test_the_mapper_maps_one_query_in_numpy_as_keras_does() -> None:
    from multimodal.models.text_encoder import TextMapper, build_mapper

    mapper = TextMapper(build_mapper(input_dim=16, hidden=8, output_dim=4))
    x = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    expected = np.asarray(mapper.model(x, training=False))
    np.testing.assert_allclose(np.concatenate([mapper.map(row) for row in x]), expected, atol=1e-6)


@pytest.mark.parametrize("rows_kept", [4_000_000, 50], ids=["all-kept", "evicting"])
def test_bm25_summed_per_word_equals_one_fts5_query_of_all_words(rows_kept, monkeypatch) -> None:
    from multimodal.search import lexical

    monkeypatch.setattr(lexical, "ROWS_KEPT", rows_kept)
    rng = np.random.default_rng(0)
    vocabulary = ["black", "leather", "boots", "boot", "women", "men", "red", "dress", "summer", "wool", "coat", "navy"]
    texts = [[" ".join(rng.choice(vocabulary, size=rng.integers(1, 9))) for _ in range(3)] for _ in range(300)]
    index = LexicalIndex(*zip(*texts))
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE items USING fts5(title, description, keywords, tokenize='porter unicode61 remove_diacritics 2')")
    db.executemany("INSERT INTO items(rowid, title, description, keywords) VALUES (?, ?, ?, ?)",
                   ((i, *t) for i, t in enumerate(texts)))
    weights = ", ".join(map(str, COLUMN_WEIGHTS))
    for query in ["black boots for women", "Boots boot BOOTING", "navy wool coat red dress summer", "nothing here", ""]:
        expected = np.zeros(len(texts), np.float32)
        words = list(dict.fromkeys(w for w in query.lower().split()))
        if words:
            for row, value in db.execute(f"SELECT rowid, -bm25(items, {weights}) FROM items WHERE items MATCH ?",
                                         (" OR ".join(f'"{w}"' for w in words),)):
                expected[row] = value
        np.testing.assert_array_equal(index.scores(query), expected)
        np.testing.assert_array_equal(index.scores(query), expected)  # again, from the words kept
    assert index._kept <= max(rows_kept, max(len(rows) for rows, _ in index._words.values()))
