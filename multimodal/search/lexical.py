"""The lexical signal: SQLite FTS5 with BM25 over each product's title, description and keywords.

FTS5 ships with Python's ``sqlite3``; the table lives in memory, built from the catalog when
text search first needs it (a fraction of a second for the default catalog, about a second
for 60,000 items), so it always matches the catalog the engine loaded, added items included.

BM25 of an OR of words is the sum of each word's BM25 (FTS5 adds one term per phrase), and a
word's scores depend only on the catalog: they are asked of SQLite once per word and kept, so a
query never seen before costs a few array additions when its words have been seen.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from multimodal.errors import ArtifactError

# Title words weigh most, then keywords, then the longer description.
COLUMN_WEIGHTS = (2.0, 1.0, 1.5)
_WORD = re.compile(r"[a-z0-9]+")
ROWS_KEPT = 4_000_000  # (row, score) pairs kept over all words, least recently used out first: 64 MB at most


def fts5_available() -> bool:
    """Whether this Python's SQLite was compiled with FTS5."""
    try:
        with sqlite3.connect(":memory:") as db:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        return True
    except sqlite3.OperationalError:
        return False


class LexicalIndex:
    """BM25 scores of a query against every catalog row (row i = catalog row i)."""

    def __init__(self, titles: Sequence[str], descriptions: Sequence[str], keywords: Sequence[str]) -> None:
        if not fts5_available():
            raise ArtifactError(
                "SQLite has no FTS5 here: either this Python was built without it, or TensorFlow (whose bundled "
                "SQLite lacks it) was imported before `multimodal`; import multimodal first"
            )
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE VIRTUAL TABLE items USING fts5(title, description, keywords, tokenize='porter unicode61 remove_diacritics 2')"
        )
        self._db.executemany(
            "INSERT INTO items(rowid, title, description, keywords) VALUES (?, ?, ?, ?)",
            ((i, str(t), str(d), str(k)) for i, (t, d, k) in enumerate(zip(titles, descriptions, keywords))),
        )
        self._db.commit()
        self.size = len(titles)
        self._words: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._kept = 0

    def scores(self, text: str) -> np.ndarray:
        """BM25 of ``text`` (any of its words) for every row, higher = better, 0 = no word in common."""
        total = np.zeros(self.size, np.float64)
        for word in dict.fromkeys(_WORD.findall(text.lower())):
            rows, values = self._word(word)
            total[rows] += values
        return total.astype(np.float32)

    def clear_cache(self) -> None:
        """Forget the words' scores (a benchmark of queries whose words are all new)."""
        with self._lock:
            self._words.clear()
            self._kept = 0

    def _word(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """The rows holding ``word`` and its BM25 in each (float64, as SQLite computes it)."""
        with self._lock:
            kept = self._words.get(word)
            if kept is not None:
                self._words.move_to_end(word)
                return kept
            weights = ", ".join(str(w) for w in COLUMN_WEIGHTS)
            found = self._db.execute(
                f"SELECT rowid, -bm25(items, {weights}) FROM items WHERE items MATCH ?", (f'"{word}"',)
            ).fetchall()
            rows = np.fromiter((r for r, _ in found), np.int64, len(found))
            kept = rows, np.fromiter((v for _, v in found), np.float64, len(found))
            self._words[word] = kept
            self._kept += len(rows)
            while self._kept > ROWS_KEPT and len(self._words) > 1:
                self._kept -= len(self._words.popitem(last=False)[1][0])
            return kept
