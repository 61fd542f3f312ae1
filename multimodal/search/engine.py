"""The search engine: one object with the encoders, the index and the catalog, used the same
way by the app, the CLI and scripts.

    from multimodal import SearchEngine
    engine = SearchEngine.load("artifacts")
    engine.search_text("black trainers for men", k=10)
    engine.search_image("photo.jpg", k=10, gender="women")

Text search parses the query (``multimodal.search.query``: every attribute, negations, price order,
with a learned layer for words no list holds); every stated constraint is a hard filter,
relaxed visibly when nothing meets them all (``text_ranking``). Inside the filter three signals
are fused, each reported per result: ``image_score`` (the query mapped into image space,
searched in the shared FAISS index), ``text_score`` (sentence-model similarity of query and
product text) and ``bm25_score`` (SQLite FTS5). Price intents sort by price.

Image ranking takes the nearest items in the same index and re-ranks them by similarity plus
the classifier's belief in each item's category (``similarity``, ``category_probability``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from multimodal.catalog.images import ImageInput, preprocess, preprocess_batch, preprocess_colour
from multimodal.catalog.roles import Roles
from multimodal.config import Config
from multimodal.errors import ArtifactError, UnknownItemError
from multimodal.search.filters import GENDER_FILTERS, FacetIndex, Facets, gender_filter, gender_filters
from multimodal.search.image_ranking import ImageRanking, image_match, pixel_features, rank_candidates, refine_vector
from multimodal.search.loading import load_folder, load_live
from multimodal.search.query import ParsedQuery, parse_query
from multimodal.search.results import SearchResult
from multimodal.search.same_product import product_prints, same_product_ranking
from multimodal.search.text_ranking import TextRanking
from multimodal.store import SearchFilter, VectorStore
from multimodal.store.base import check_k

log = logging.getLogger(__name__)


class SearchEngine:
    """Encoders, mapper, index and catalog bundled; load once, search many times."""

    def __init__(self, catalog: pd.DataFrame, images: np.ndarray, index: VectorStore, image_encoder: Any,
                 config: Config, mapper: Any = None, text_vectors: np.ndarray | None = None,
                 sentence_encoder: Any = None, roles: Roles | None = None) -> None:
        if len(catalog) != len(index):
            raise ArtifactError(f"the index holds {len(index)} items but the catalog {len(catalog)}: rebuild the index")
        self.catalog = catalog.reset_index(drop=True)
        self.images = images
        self.index = index
        self.image_encoder = image_encoder
        self.config = config
        self.mapper = mapper
        self.text_vectors = text_vectors
        self._sentence = sentence_encoder
        self.roles = roles or Roles()
        self.categories: tuple[str, ...] = tuple(getattr(image_encoder, "categories", None) or self.roles.categories)
        n = len(self.catalog)

        def column(name: str | None, fill: Any) -> np.ndarray:
            return self.catalog[name].to_numpy() if name in self.catalog else np.full(n, fill, dtype=object)

        self._genders = column(self.roles.gender, "")
        self.gender_filters = (GENDER_FILTERS if not self.roles.is_folder
                               else gender_filters(self._genders, dict(self.roles.gender_map or {})))
        self._categories = self.catalog["category"].to_numpy()
        self._colours = column(self.roles.colour, "")
        prices = self.catalog[self.roles.price] if self.roles.price in self.catalog else pd.Series(np.zeros(n))
        self._prices = pd.to_numeric(prices, errors="coerce").fillna(0.0).to_numpy(np.float64)
        self._labels = self.catalog["label"].to_numpy(np.int64)
        self._columns: dict[str, np.ndarray] | None = None
        self._item_vectors: np.ndarray | None = None
        self._pixel_features: np.ndarray | None = None
        self._product_prints: np.ndarray | None = None
        self._positions: dict[str, int] | None = None
        self._attributes: dict[str, np.ndarray] | None = None
        self._lexical: Any = None
        self._matcher: Any = None
        self._dictionary: Any = None
        self._vocabulary: Any = None  # a folder catalog's, with its attribute columns as text
        self._facets: FacetIndex | None = None
        self.generation: str | None = None  # the committed generation served (None: a folder without generations)
        self._source: tuple[Path, Any, str | None, str | None] = (Path(config.artifacts_dir), None, None, None)
        self._model_keys: dict[str, Any] = {}

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, artifacts_dir: str | Path = "artifacts", data_dir: str | Path | None = None, text: bool = True,
             reuse: SearchEngine | None = None, store: str | None = None, store_uri: str | None = None) -> SearchEngine:
        """Load the live generation that ``build`` or ``add-items`` committed, checking every file's
        checksum and that index, models and catalog belong together.

        ``data_dir`` (optional) is the prepared dataset the build came from; a generation built
        from another one is refused. A folder without generations (the layout before them) is
        read as it is. ``reuse``: an engine whose models are kept where their files are unchanged.

        ``store`` / ``store_uri`` (optional) name the vector store the build used and where to reach it.

        Raises:
            ArtifactError: something is missing, damaged or stale; the message says which command fixes it.
        """
        return load_live(cls, artifacts_dir, data_dir, text, reuse, store, store_uri)

    def refresh(self) -> bool:
        """Switch to the newest generation if a writer committed one since this engine loaded.

        Models whose files did not change are kept, so picking up added items costs the catalog,
        index and vectors only. Returns True if the engine switched. The swap replaces all state
        in one step between searches; callers that search from several threads should load a
        new engine instead (the app keys its cached engine by generation).
        """
        from multimodal import generations

        root, data_dir, store, store_uri = self._source
        live = generations.current(root) if self.generation is not None else None
        if live is None or live.name == self.generation:
            return False
        fresh = SearchEngine.load(root, data_dir, text=self.mapper is not None, reuse=self, store=store, store_uri=store_uri)
        previous = dict(self.__dict__)  # keep the old objects alive until the swap is done
        self.__dict__.update(fresh.__dict__)
        del previous
        return True

    @classmethod
    def _load_folder(cls, folder: Path, data_dir: str | Path | None, text: bool, reuse: SearchEngine | None,
                     verified: Any = None, store: str | None = None, store_uri: str | None = None) -> SearchEngine:
        return load_folder(cls, folder, data_dir, text, reuse, verified, store, store_uri)

    @property
    def sentence_encoder(self) -> Any:
        if self._sentence is None:
            from multimodal.models.text_encoder import shared_sentence_encoder

            self._sentence = shared_sentence_encoder(self.config.sentence_model)
        return self._sentence

    # ------------------------------------------------------------ image search

    def describe_image(self, image: ImageInput) -> dict[str, Any]:
        """The model's view of an image: its preprocessed input, embedding and predicted category."""
        x = preprocess_colour(image, self.roles.image_size) if self.roles.is_folder else preprocess(image)
        embedding, probs = self.image_encoder.embed_one(x)
        best = int(np.argmax(probs))
        return {
            "input": x, "embedding": embedding, "probabilities": probs,
            "predicted_category": self.categories[best], "confidence": float(probs[best]),
        }

    def search_image(self, image: ImageInput, k: int = 10, gender: str | None = None, liked: Sequence[str] = (),
                     disliked: Sequence[str] = (), facets: Facets | None = None) -> SearchResult:
        """Products most similar to an image (PIL image, array, bytes or path), best first.

        The result names the predicted category, its confidence and the model's input (the
        preprocessed image), so a caller needs no second pass. ``liked`` and
        ``disliked`` product ids refine the search (see ``refine_vector``); disliked products
        never come back. ``facets`` narrows it: {column: values} (``facet_mask``).

        Raises:
            InvalidInputError: the image cannot be used (empty, corrupt, huge, NaN), the gender
                or a liked/disliked product id is unknown.
        """
        k = check_k(k)
        where = gender_filter(gender, self.gender_filters)
        described = self.describe_image(image)
        rows = self._image_results(described["embedding"], described["probabilities"], k, self.facet_rows(facets), liked, disliked,
                                   described["input"], where=where)
        return SearchResult(rows, "image", predicted_category=described["predicted_category"],
                            confidence=described["confidence"], model_input=described["input"])

    def search_similar(self, product_id: str, k: int = 10, gender: str | None = None, liked: Sequence[str] = (),
                       disliked: Sequence[str] = (), facets: Facets | None = None) -> SearchResult:
        """"More like this": products that look like a catalog product, the product itself left out.

        Searches with the product's own image embedding and category probabilities, exactly as
        an upload of that image would, under the same gender filter and refinement.

        Raises:
            InvalidInputError: the product id is not in the catalog, or the gender is unknown.
        """
        k = check_k(k)
        row = self._row_of(product_id)
        where = gender_filter(gender, self.gender_filters)
        allowed = self.facet_rows(facets)
        allowed = np.ones(len(self.catalog), dtype=bool) if allowed is None else allowed
        allowed[row] = False
        model_input = self._model_input(row)
        embedding, probabilities = self.image_encoder.embed_one(model_input)
        rows = self._image_results(embedding, probabilities, k, allowed, liked, disliked, model_input, where=where)
        return SearchResult(rows, "similar", query=str(product_id), predicted_category=self.categories[int(np.argmax(probabilities))],
                            confidence=float(np.max(probabilities)), model_input=model_input)

    def _image_results(self, embedding: np.ndarray, probabilities: np.ndarray, k: int, allowed: np.ndarray | None,
                       liked: Sequence[str], disliked: Sequence[str], model_input: np.ndarray,
                       where: SearchFilter | None = None) -> pd.DataFrame:
        """``where`` filters inside the store; ``allowed`` (a row mask, None = all) only excludes rows."""
        liked_rows, disliked_rows = self._rows_of(liked), self._rows_of(disliked)
        if len(disliked_rows):
            allowed = np.ones(len(self.catalog), dtype=bool) if allowed is None else allowed.copy()
            allowed[disliked_rows] = False
        vectors = self.item_vectors
        query = refine_vector(embedding, vectors[liked_rows], vectors[disliked_rows], self.config)
        ranking = self.rank_image(query, probabilities, k, allowed, inputs=np.asarray(model_input)[None], where=where)
        keep = ranking.rows[0] >= 0
        rows = self._rows(ranking.rows[0][keep], {
            "match": image_match(ranking.scores[0][keep], probabilities, self.config), "score": ranking.scores[0][keep],
            "similarity": ranking.similarity[0][keep], "category_probability": ranking.category_probability[0][keep]})
        if ranking.same_product is not None:
            rows["same_product"] = ranking.same_product[0][keep]
        return rows

    def rank_image(self, embeddings: np.ndarray, probabilities: np.ndarray, k: int, allowed: np.ndarray | None = None,
                   inputs: np.ndarray | None = None, where: SearchFilter | None = None) -> ImageRanking:
        """The image ranking of query embeddings (one per row): index candidates, then ``category_aware_ranking``.

        ``where`` (a store filter: gender, category, price) and ``allowed`` (a row mask) restrict
        the candidates inside the vector store's search.

        ``inputs`` are the queries' preprocessed (28, 28) images; with ``w_image_pixels > 0`` the
        candidates' similarity also counts their pixel correlation with the query (see
        ``visual_similarity``); measured, it did not earn its place (README), so it is off by default.
        """
        cfg = self.config
        n_candidates = min(len(self.index), max(k, cfg.image_candidates))
        similarities, rows = self.index.search(embeddings, n_candidates, where=where, allowed=allowed)
        pixels = cfg.w_image_pixels and inputs is not None
        query_pixels = pixel_features(inputs) if pixels else None
        ranking = rank_candidates(similarities, rows, probabilities, self._labels, cfg, k,
                                  query_pixels=query_pixels, item_pixels=self.pixel_features if pixels else None)
        if cfg.image_same_product is None or inputs is None:
            return ranking
        if where is not None and not where.is_empty:  # the very product, too, only where the filters allow
            passing = where.mask(self._genders, self._categories, self._prices)
            allowed = passing if allowed is None else allowed & passing
        return same_product_ranking(ranking, embeddings, probabilities, inputs, allowed, self.item_vectors,
                                    lambda: self.product_prints, self._labels, cfg, query_pixels,
                                    self.pixel_features if pixels else None)

    @property
    def product_prints(self) -> np.ndarray:
        """The catalog photos' product prints (``product_prints``), computed once: a colour catalog's
        way to find the very product in a shopper's photo."""
        if self._product_prints is None:
            self._product_prints = product_prints(self.images)
        return self._product_prints

    @property
    def pixel_features(self) -> np.ndarray:
        """The catalog's preprocessed images as zero-mean unit vectors (float16), computed once."""
        if self._pixel_features is None:
            self._pixel_features = pixel_features(preprocess_batch(self.images)).astype(np.float16)
        return self._pixel_features

    @property
    def item_vectors(self) -> np.ndarray:
        """The catalog's image embeddings, row for row (read back from the index once)."""
        if self._item_vectors is None:
            self._item_vectors = self.index.vectors()
        return self._item_vectors

    def _model_input(self, row: int) -> np.ndarray:
        return preprocess_batch(self.images[row : row + 1])[0]

    @property
    def facet_index(self) -> FacetIndex:
        """The catalog's facet columns as codes (masks and counts), read on first use."""
        if self._facets is None:
            self._facets = FacetIndex(self.catalog, self.roles.facets)
        return self._facets

    def facet_rows(self, facets: Facets | None) -> np.ndarray | None:
        """The rows the facets chosen allow (None: every row)."""
        return self.facet_index.mask(facets)

    def _row_of(self, product_id: str) -> int:
        if self._positions is None:
            self._positions = {str(pid): i for i, pid in enumerate(self.catalog["product_id"])}
        try:
            return self._positions[str(product_id)]
        except KeyError:
            raise UnknownItemError(f"no product {product_id!r} in the catalog") from None

    def _rows_of(self, product_ids: Sequence[str] | None) -> np.ndarray:
        if product_ids is None or isinstance(product_ids, str):
            product_ids = [product_ids] if product_ids else []
        return np.array([self._row_of(pid) for pid in dict.fromkeys(product_ids)], dtype=np.int64)

    # ------------------------------------------------------------ text search

    @property
    def lexical(self) -> Any:
        """The FTS5 BM25 index of the catalog's texts, built on first use."""
        if self._lexical is None:
            from multimodal.search.lexical import LexicalIndex

            if self.roles.is_folder:
                texts = [self.catalog[c].astype(str) for c in self.roles.text if c in self.catalog]
                values = [self.catalog[c].astype(str) for c in (*self.roles.attributes, self.roles.gender) if c in self.catalog]
                joined = [" ".join(parts) for parts in zip(*texts)] if texts else [""] * len(self.catalog)
                self._lexical = LexicalIndex(joined, [""] * len(joined), [" ".join(parts) for parts in zip(*values)])
            else:
                self._lexical = LexicalIndex(self.catalog["title"].tolist(), self.catalog["description"].tolist(),
                                             self.catalog["keywords"].tolist())
        return self._lexical

    @property
    def catalog_vocabulary(self) -> Any:
        """A folder catalog's query vocabulary: its own attribute values, and their columns as text (built once)."""
        if self._vocabulary is None:
            from multimodal.search.catalog_query import CatalogVocabulary

            columns = {c: self.catalog[c].astype(str).to_numpy() for c in self.roles.attributes if c in self.catalog}
            self._vocabulary = CatalogVocabulary(columns, [str(g) for g in set(self._genders)])
        return self._vocabulary

    @property
    def matcher(self) -> Any:
        """The learned layer of query understanding (anchor vectors computed once)."""
        if self._matcher is None:
            from multimodal.search.query.semantic import shared_matcher

            self._matcher = shared_matcher(self.sentence_encoder, self.config.semantic_threshold, self.dictionary)
        return self._matcher

    @property
    def dictionary(self) -> Any:
        """The dictionary layer of query understanding (WordNet and the colour survey), or None when off."""
        if self._dictionary is None and self.config.text_dictionary:
            from multimodal.search.query.dictionary import shared_dictionary

            self._dictionary = shared_dictionary()
        return self._dictionary

    def parse(self, query: str) -> ParsedQuery:
        """What the query states, read with every layer (lists, typos, dictionary, learned matching)."""
        return parse_query(query, self.matcher, self.dictionary)

    def text_signals(self, text: str, allowed: np.ndarray | None = None, liked: np.ndarray | None = None,
                     disliked: np.ndarray | None = None, lexical_text: str | None = None) -> dict[str, np.ndarray]:
        """Each text signal for every catalog row: ``image_score`` (mapped query vs item image, NaN
        beyond the index's candidates), ``text_score`` (sentence model) and ``bm25_score`` (of
        ``lexical_text`` when given, else of ``text``).

        ``liked``/``disliked`` catalog rows refine the mapped query in image space (``refine_vector``).
        """
        if self.mapper is None or self.text_vectors is None:
            raise ArtifactError("text search needs the text artifacts; run `python -m multimodal build`")
        n = len(self.catalog)
        sentence = self.sentence_encoder.encode_query(text)
        mapped = self.mapper.map(sentence)[0]
        liked = np.zeros(0, np.int64) if liked is None else liked
        disliked = np.zeros(0, np.int64) if disliked is None else disliked
        if len(liked) or len(disliked):
            vectors = self.item_vectors
            mapped = refine_vector(mapped, vectors[liked], vectors[disliked], self.config)[0]
        image_scores = np.full(n, np.nan, np.float32)
        idx_scores, idx_rows = self.index.search(mapped, min(n, self.config.text_candidates), allowed=allowed)
        hit = idx_rows[0] >= 0
        image_scores[idx_rows[0][hit]] = idx_scores[0][hit]
        return {"image_score": image_scores, "text_score": self.text_vectors @ sentence,
                "bm25_score": self.lexical.scores(text if lexical_text is None else lexical_text)}

    def rank_text(self, query: str, k: int = 10, gender: str | None = None, parsed: ParsedQuery | None = None,
                  fusion: str | None = None, liked: Sequence[str] = (), disliked: Sequence[str] = (),
                  facets: Facets | None = None) -> tuple[TextRanking, ParsedQuery]:
        """The ranking of a text query: stated constraints filter (relaxed when nothing meets them
        all), the fused signals order, or the price does for a price intent. Liked and disliked
        products refine the query's image-space vector; disliked products never come back.
        """
        if self.mapper is None or self.text_vectors is None:
            raise ArtifactError("text search needs the text artifacts; run `python -m multimodal build`")
        liked_rows, disliked_rows = self._rows_of(liked), self._rows_of(disliked)
        if self.roles.is_folder:
            from multimodal.search.catalog_text import engine_rank

            return engine_rank(self, query, k, gender, liked_rows, disliked_rows, fusion, self.facet_rows(facets))
        from multimodal.search.constrained import engine_rank as fashion_rank

        return fashion_rank(self, parsed or self.parse(query), k, gender, liked_rows, disliked_rows, fusion, self.facet_rows(facets))

    def hint_scores(self, parsed: ParsedQuery) -> np.ndarray:
        """How like each item's attribute values the query's unsure words are (see ``text_ranking.hint_scores``)."""
        from multimodal.search.text_ranking import hint_scores

        return hint_scores(parsed, self._attribute_columns(), self.matcher, len(self.catalog))

    def _attribute_columns(self) -> dict[str, np.ndarray]:
        if self._attributes is None:
            from multimodal.search.query import FIELDS
            from multimodal.search.query.parsed import NAME_FIELD
            from multimodal.search.query.sizes import item_sizes
            from multimodal.search.text_ranking import name_column

            self._attributes = {name: self.catalog[name].to_numpy() for name in FIELDS}
            self._attributes["sizes"] = np.array([item_sizes(s) for s in self.catalog["sizes"]], dtype=object)
            self._attributes[NAME_FIELD] = name_column(self.catalog["title"])
        return self._attributes

    def search_text(self, query: str, k: int = 10, gender: str | None = None, liked: Sequence[str] = (),
                    disliked: Sequence[str] = (), facets: Facets | None = None) -> SearchResult:
        """Products matching a text query, best first, with the score of each signal.

        ``matches`` holds, per result, the stated constraints it meets, ``misses`` those it fails (in the
        shopper's words: "hiking", "not red"); ``exact_match`` whether it meets all of them (when fewer
        than k do, partial matches follow them). The result's ``parsed`` holds the constraints understood,
        ``chips`` (their labels) and ``chip_items`` (with their kind),
        ``hint_items`` (unsure words that rank softly, never filter),
        ``relaxed`` (the message when nothing met every constraint, else None), ``n_matching``.

        ``liked``/``disliked`` product ids refine the ranking; disliked products never come back.
        ``facets`` ({column: values}) narrows it and, like the gender filter, is never relaxed.

        Raises:
            InvalidInputError: empty query, unknown gender, facet or liked/disliked product id.
        """
        k = check_k(k)
        ranking, parsed = self.rank_text(query, k, gender, liked=liked, disliked=disliked, facets=facets)
        signals = {"attribute_score": np.full(len(ranking.rows), np.nan), **ranking.signals}
        rows = self._rows(ranking.rows, {"match": ranking.match, "score": ranking.scores, **signals})
        rows["matches"] = ranking.matches
        rows["misses"] = ranking.misses
        rows["exact_match"] = ranking.exact
        return SearchResult(
            rows, "text", query=query, parsed=parsed.to_dict(), chips=parsed.chips(), chip_items=parsed.chip_items(),
            hint_items=parsed.hint_items(), relaxed=ranking.relaxation.message,
            relaxed_groups=list(ranking.relaxation.groups), n_matching=ranking.n_matching,
        )

    def _rows(self, rows: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        """The result table: rank, the catalog's columns, the scores and the catalog row.

        Built from cached column arrays: slicing the catalog DataFrame costs several
        milliseconds a query, this a fraction of one.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if self._columns is None:
            self._columns = {name: self.catalog[name].to_numpy() for name in self.catalog.columns}
        table: dict[str, np.ndarray] = {"rank": np.arange(1, len(rows) + 1)}
        table.update((name, values[rows]) for name, values in self._columns.items())
        table.update((name, np.asarray(values, dtype=np.float64)) for name, values in columns.items())
        table["row"] = rows
        return pd.DataFrame(table)
