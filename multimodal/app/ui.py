"""Streamlit helpers shared by the pages: cached resources, the sidebar, product cards.

Heavy objects are loaded once per process (``st.cache_resource``); tables and metrics are
cached as data (``st.cache_data``). Pages call these and the public ``multimodal`` API only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from multimodal.errors import ArtifactError, MultimodalError
from multimodal.io import read_json
from multimodal.search.results import SearchResult


def artifacts_dir() -> str:
    """Where the app reads models and metrics; MULTIMODAL_ARTIFACTS overrides (tests, other builds)."""
    return os.environ.get("MULTIMODAL_ARTIFACTS", "artifacts")


def data_dir() -> str:
    return os.environ.get("MULTIMODAL_DATA", "data")

GENDER_OPTIONS = ("All", "Men", "Women", "Unisex")
GENDER_HELP = "Men shows Men + Unisex items, Women shows Women + Unisex, Unisex shows Unisex only, All shows everything."
EXAMPLE_QUERIES = (
    "black leather ankle boots for women",
    "cheapest sandals",
    "dress not black",
    "shoes for the gym",
    "linen shirt for the beach",
    "most expensive coat",
    "navy shearling coats",
)
# Badge colour per kind of understood constraint (Streamlit's :color-badge[] names).
# Chip kinds the dashboard colours; any other kind is grey.
CHIP_COLOURS = {"include": "blue", "gender": "violet", "size": "violet", "price": "green", "exclude": "red", "sort": "orange"}


@st.cache_resource(show_spinner="Loading models and the index…", max_entries=2)
def _load_engine(artifacts: str, data: str, generation: str | None):
    from multimodal import SearchEngine

    engine = SearchEngine.load(artifacts, data)
    engine.sentence_encoder.warm()  # the sentence model and its fast query path now, not on the first query
    if engine.roles.is_folder and engine.config.image_same_product is not None:
        engine.product_prints  # noqa: B018 - the catalog's prints (seconds) now, not on the first photo searched
    return engine


def _live_generation() -> str | None:
    from multimodal import generations

    try:
        live = generations.current(artifacts_dir())
    except ArtifactError:
        return None  # SearchEngine.load reports it
    return live.name if live else None


def load_engine():
    """The one SearchEngine of this process for the live generation: items added by ``add-items``
    (a new generation) appear on the next page run without a restart."""
    return _load_engine(artifacts_dir(), data_dir(), _live_generation())


@st.cache_data(show_spinner=False)
def _load_metrics(path: str, mtime: float) -> dict[str, Any] | None:
    return read_json(path) if Path(path).is_file() else None


def load_metrics() -> dict[str, Any] | None:
    """metrics.json of the generation in use, re-read when a new build commits another."""
    from multimodal import generations

    try:
        path = generations.resolve(artifacts_dir()) / "metrics.json"
    except ArtifactError:
        return None
    return _load_metrics(str(path), path.stat().st_mtime if path.is_file() else 0.0)


def engine_or_stop():
    """The engine, or a friendly explanation (and a build button) when artifacts are missing."""
    try:
        return load_engine()
    except (ArtifactError, MultimodalError) as exc:
        st.error(f"The search models are not ready: {exc}")
        st.info("Build them from a terminal with `make run` (or `python -m multimodal build`), "
                "or start the build here. It takes several minutes on a laptop.")
        if st.button("Build the models now", type="primary"):
            build_with_progress()
        st.stop()


def build_with_progress() -> None:
    from multimodal.build import build
    from multimodal.config import Config

    with st.status("Building: prepare, train the image encoder, index, train the text mapper, evaluate…", expanded=True) as status:
        build(Config(data_dir=Path(data_dir()), artifacts_dir=Path(artifacts_dir())), report=status.write)
        status.update(label="Build finished", state="complete")
    _load_engine.clear()
    _load_metrics.clear()
    st.rerun()


def through_navigation() -> None:
    """Run this page through the app's navigation, even when opened by its own address.

    Streamlit runs ``pages/*.py`` as an old-style page, skipping ``streamlit_app.py``, until some
    visit has called ``st.navigation``: a bookmarked /evaluation, first after a restart, showed the
    raw file list ("streamlit app", "evaluation"...) and a narrow layout. Switching that mode off
    and rerunning lets the entry point select this same page. Only a session's first run can meet
    that mode in a server (``st.navigation`` turns it off for the process); AppTest turns it back on
    at every run, where a rerun would lose a page switch. A Streamlit without that internal keeps its
    own behaviour."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    first = not st.session_state.get("_through_navigation")
    st.session_state["_through_navigation"] = True
    if first and getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def _remember(widget_key: str, store_key: str) -> None:
    st.session_state[store_key] = st.session_state[widget_key]


def sidebar() -> None:
    """Gender filter, number of results and what is loaded; every page draws it.

    Widget state is per page in Streamlit, so the choice lives in plain session-state keys
    (``gender_choice``, ``k_choice``) that survive page switches; the widgets start from them.
    """
    st.session_state.setdefault("gender_choice", "All")
    st.session_state.setdefault("k_choice", 12)
    try:
        engine = load_engine()
    except MultimodalError:
        engine = None
    options = GENDER_OPTIONS if engine is None else tuple(g.title() for g in engine.gender_filters)
    if st.session_state["gender_choice"] not in options:
        st.session_state["gender_choice"] = "All"
    with st.sidebar:
        if len(options) > 1:  # a catalog without a gender column has no gender filter
            st.radio("Gender", options, index=options.index(st.session_state["gender_choice"]),
                     key="gender", horizontal=True, help=gender_help(engine), on_change=_remember, args=("gender", "gender_choice"))
            st.caption(gender_help(engine))
        st.slider("Results", min_value=4, max_value=48, step=4, value=st.session_state["k_choice"], key="k",
                  on_change=_remember, args=("k", "k_choice"))
        if engine is None:
            st.caption("Models not built yet.")
            return
        facet_filters(engine)
        cfg = engine.image_encoder.config
        backbone = ("a plain CNN" if cfg.image_backbone == "cnn"
                    else f"MobileNetV2 α={cfg.image_alpha} to `{cfg.image_backbone_layer or 'out_relu'}`")
        st.divider()
        profile = "your own catalog" if engine.roles.is_folder else f"{engine.config.profile} profile"
        st.caption(
            f"**Catalog**: {engine.roles.name}, {len(engine.catalog):,} products ({profile})  \n"
            f"**Image model**: {backbone}, {cfg.image_input_size}px, {cfg.embedding_dim}-d  \n"
            f"**Text model**: all-MiniLM-L6-v2 + mapping network  \n"
            f"**Index**: {'Milvus' if engine.index.kind == 'milvus' else 'FAISS'} "
            f"{engine.index.manifest.get('index_type', 'flat')}, {len(engine.index):,} items"
        )


def gender_help(engine: Any) -> str:
    """What each gender choice shows, from the catalog's own filters (Boys = Boys + Unisex ...)."""
    if engine is None or not engine.roles.is_folder:
        return GENDER_HELP
    parts = [f"{choice.title()} shows {' + '.join(sorted(values, key=lambda v: v.lower() == 'unisex'))}"
             + (" only" if len(values) == 1 else "") for choice, values in engine.gender_filters.items() if values]
    return ", ".join(parts) + ", All shows everything."


def selected_gender() -> str:
    return str(st.session_state.get("gender_choice", "All")).lower()


def example_queries(engine: Any) -> tuple[str, ...]:
    """Queries to try, in the served catalog's own words: Fashion-MNIST's hand-picked ones, or for a
    folder catalog its most common categories with their most common colour and gender, a
    negation and another attribute's value (a shop of kurtas is not asked for ankle boots)."""
    if not engine.roles.is_folder:
        return EXAMPLE_QUERIES
    return _catalog_examples(_live_generation(), str(artifacts_dir()), engine)


@st.cache_data(show_spinner=False, max_entries=8)
def _catalog_examples(generation: str | None, artifacts: str, _engine: Any) -> tuple[str, ...]:
    catalog, roles = _engine.catalog, _engine.roles
    column = roles.category_column

    def top(rows: pd.DataFrame, name: str | None, skip: tuple[str, ...] = ("", "unisex")) -> str:
        values = rows[name].astype(str) if name in rows else pd.Series(dtype=str)
        values = values[~values.str.lower().isin(skip)].value_counts()
        return str(values.index[0]) if len(values) else ""

    categories = catalog[column].astype(str).value_counts().index
    out = []
    for category in categories[:4]:
        rows = catalog[catalog[column].astype(str) == category]
        colour, gender = top(rows, roles.colour), top(rows, roles.gender)
        out.append(" ".join([colour, category] + ([f"for {gender}"] if gender else [])).strip().lower())
    colour = top(catalog, roles.colour).lower()
    if colour and len(categories) > 1:
        out.append(f"{categories[1].lower()} not {colour}")
    others = [c for c in roles.facets if c not in (column, roles.colour) and catalog[c].astype(str).nunique() <= 12]
    if others and len(categories) > 4:
        rows = catalog[catalog[column].astype(str) == categories[4]]
        out.append(f"{top(rows, others[-1])} {categories[4]}".strip().lower())
    return tuple(dict.fromkeys(q for q in out if q))


def facet_filters(engine: Any) -> None:
    """One multiselect per facet column of the catalog, values with their product counts, the most
    common first; the choices live in session state (``facet_choice``) and survive page switches."""
    counts = engine.facet_index.counts()
    chosen = {c: v for c, v in st.session_state.get("facet_choice", {}).items() if c in counts}
    with st.expander("Narrow by" + (f" ({sum(map(len, chosen.values()))} chosen)" if chosen else ""), expanded=bool(chosen)):
        for column, values in counts.items():
            st.multiselect(column, list(values), default=[v for v in chosen.get(column, []) if v in values],
                           key=f"facet-{column}", format_func=lambda v, n=values: f"{v} ({n[v]:,})",
                           on_change=_remember_facet, args=(column,))


def _remember_facet(column: str) -> None:
    choice = dict(st.session_state.get("facet_choice", {}))
    choice[column] = list(st.session_state[f"facet-{column}"])
    st.session_state["facet_choice"] = {c: v for c, v in choice.items() if v}


def selected_facets() -> dict[str, list[str]]:
    """The facet values chosen in the sidebar, as ``search_*(facets=...)`` takes them."""
    return {c: list(v) for c, v in st.session_state.get("facet_choice", {}).items() if v}


def search_options() -> dict[str, Any]:
    """What every search on a page takes from the session: the facets chosen, the likes and dislikes."""
    return {"facets": selected_facets(), **feedback()}


def selected_k() -> int:
    return int(st.session_state.get("k_choice", 12))


def show_image(image: np.ndarray, caption: str | None = None, width: int = 140) -> None:
    """A product image as stored: Fashion-MNIST's 28x28 silhouettes scaled up without blurring so
    they stay legible, colour photos smoothly (their aspect is kept inside the stored square)."""
    from PIL import Image

    array = np.asarray(image, dtype=np.uint8)
    resample = Image.Resampling.NEAREST if array.ndim == 2 else Image.Resampling.BICUBIC
    big = Image.fromarray(array).resize((112 if array.ndim == 2 else 140, 112 if array.ndim == 2 else 140), resample)
    st.image(big, caption=caption, width=width)


SIMILAR_PAGE = "pages/image_search.py"


def feedback() -> dict[str, list[str]]:
    """This session's liked and disliked product ids, as ``search_*(liked=..., disliked=...)`` take them."""
    return {"liked": list(st.session_state.get("liked", [])), "disliked": list(st.session_state.get("disliked", []))}


def _mark(product_id: str, mark: str) -> None:
    """Toggle a like or dislike; the two marks exclude each other."""
    other = "disliked" if mark == "liked" else "liked"
    marked = list(st.session_state.get(mark, []))
    st.session_state[mark] = [p for p in marked if p != product_id] if product_id in marked else marked + [product_id]
    st.session_state[other] = [p for p in st.session_state.get(other, []) if p != product_id]


def clear_feedback() -> None:
    st.session_state["liked"], st.session_state["disliked"] = [], []


def feedback_bar() -> None:
    """What the marks do, and a way to forget them."""
    marks = feedback()
    if marks["liked"] or marks["disliked"]:
        left, right = st.columns([4, 1])
        left.caption(f"Refined by your marks: {len(marks['liked'])} liked (their look counts more), "
                     f"{len(marks['disliked'])} disliked (hidden for this session).")
        right.button("Clear marks", on_click=clear_feedback, key="clear-marks")


def _card_actions(row: Any, context: str) -> None:
    pid = str(row.product_id)
    liked, disliked = pid in st.session_state.get("liked", []), pid in st.session_state.get("disliked", [])
    if st.button("More like this", key=f"{context}-more-{pid}", help="Products that look like this one",
                 icon=":material/image_search:", use_container_width=True):
        st.session_state["similar_to"] = pid
        st.switch_page(SIMILAR_PAGE)
    like, dislike = st.columns(2)
    like.button(":material/thumb_up:", key=f"{context}-like-{pid}", type="primary" if liked else "secondary",
                help="Rank products that look like this higher", on_click=_mark, args=(pid, "liked"),
                use_container_width=True)
    dislike.button(":material/thumb_down:", key=f"{context}-dislike-{pid}", type="primary" if disliked else "secondary",
                   help="Hide it and push its look down", on_click=_mark,
                   args=(pid, "disliked"), use_container_width=True)


def chip_markdown(chip_items: list[dict[str, Any]], hint_items: list[dict[str, Any]] = ()) -> str:
    """One badge per understood constraint (negations red, sort orange); learned ones marked ≈;
    unsure words (soft: they rank, never filter) in grey after them."""
    badges = [f":{CHIP_COLOURS.get(c['kind'], 'gray')}-badge[{_escape(c['label'])}]" for c in (*chip_items, *hint_items)]
    return " ".join(badges) if badges else "no explicit constraint; ranking by meaning"


def _escape(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("$", "\\$")


def matches_caption(matches: Any, misses: Any = ()) -> str | None:
    """The card line that says which stated attributes the item meets (✓) and which it lacks (✗)."""
    met = list(matches) if isinstance(matches, (list, tuple)) else []
    missed = list(misses) if isinstance(misses, (list, tuple)) else []
    if not met and not missed:
        return None
    return "matches: " + " · ".join([*(f"✓ {_escape(str(m))}" for m in met), *(f"✗ {_escape(str(m))}" for m in missed)])


def count_caption(results: SearchResult, gender: str) -> str:
    """How many products meet the query, and what the partial matches shown after them are."""
    n_matching = results.n_matching if results.n_matching is not None else len(results)
    rows = results.rows
    partial = int((~rows["exact_match"].astype(bool)).sum()) if "exact_match" in rows.columns else 0
    if partial:
        head = (f"{n_matching:,} matching product{'s' if n_matching != 1 else ''}; "
                f"{partial} close match{'es' if partial != 1 else ''} after them lack what is marked ✗")
    else:
        head = f"{len(results)} of {n_matching:,} matching products"
    narrowed = "; ".join(f"{c}: {', '.join(v)}" for c, v in selected_facets().items())
    return f"{head} · gender filter: {gender.title()}" + (f" · narrowed by {narrowed}" if narrowed else "")


def card_title(engine: Any, row: Any) -> str:
    """The product's name in the catalog's own title column (its id where there is none)."""
    title = getattr(row, engine.roles.title or "title", None)
    return str(title) if title not in (None, "") and not (isinstance(title, float) and pd.isna(title)) else str(row.product_id)


def card_facts(engine: Any, row: Any) -> str:
    """Category, gender, colour and price where the catalog has them, in its own words."""
    roles = engine.roles
    facts = [str(getattr(row, "category", ""))]
    facts += [str(getattr(row, c)) for c in (roles.gender, roles.colour) if c and str(getattr(row, c, "") or "")]
    if roles.price and getattr(row, roles.price, None) is not None and not roles.is_folder:
        facts.append(f"${float(getattr(row, roles.price)):.2f}")
    return " · ".join(f for f in facts if f)


MATCH_HELP = ("How well the product fits, 0-100% on every page. Text: the share of what you asked that it has, "
              "and how strongly the signals agree; image: how alike it looks, with how likely its category is.")


def product_cards(engine, results: SearchResult, columns: int = 4, why: bool = True, context: str = "results") -> None:
    """Results as a grid of product cards with image, facts, score, why each matched (which stated
    attributes it meets, for text search) and actions ("More like this", like, dislike);
    ``context`` keeps widget keys unique per page."""
    if results.rows.empty:
        st.warning("No products match these filters. Try Gender = All, or fewer words in the query.")
        return
    grid = st.columns(columns)
    for i, row in enumerate(results.rows.itertuples()):
        with grid[i % columns].container(border=True):
            show_image(engine.images[row.row])
            st.markdown(f"**{card_title(engine, row)}**")
            st.caption(card_facts(engine, row))
            close = "close match · " if not getattr(row, "exact_match", True) else ""
            close = "same look as your photo · " if getattr(row, "same_product", False) else close
            st.markdown(f"{close}match **{row.match:.0%}**", help=MATCH_HELP)
            if why and hasattr(row, "image_score"):
                if (line := matches_caption(getattr(row, "matches", None), getattr(row, "misses", ()))) is not None:
                    st.markdown(f"<small>{line}</small>", unsafe_allow_html=True)
                image = "–" if pd.isna(row.image_score) else f"{row.image_score:.2f}"
                reasons = [f"image {image}", f"text {row.text_score:.2f}"]
                if round(getattr(row, "bm25_score", 0.0), 1) > 0:  # "BM25 0.0" would say nothing
                    reasons.append(f"BM25 {row.bm25_score:.1f}")
                if not pd.isna(getattr(row, "attribute_score", float("nan"))):
                    reasons.append(f"likeness {row.attribute_score:.2f}")  # how like the unsure words its values are
                st.caption("why: " + " · ".join(reasons))
            elif why and hasattr(row, "similarity"):
                st.caption(f"why: similarity {row.similarity:.2f} · query is {row.category_probability:.0%} {row.category}")
            _card_actions(row, context)


@st.cache_resource(show_spinner=False)
def _prepared(data: str):
    """The prepared catalog and images, read once per process (read-only)."""
    from multimodal.catalog.prepared import load_prepared

    return load_prepared(data, verify=False)


def held_out_items() -> pd.DataFrame:
    """Held-out query products (never indexed), to try image search with items the index has not seen."""
    rows, _ = _prepared(data_dir()).part("query")
    rows = rows.groupby("category", sort=False).head(8)
    title = load_engine().roles.title or "product_id"
    rows = rows.assign(label=rows["product_id"].astype(str) + " · " + rows[title].astype(str))
    return rows[["product_id", "label", "image_index", "category"]].reset_index(drop=True)


def held_out_image(image_index: int) -> np.ndarray:
    return _prepared(data_dir()).images[int(image_index)]


BENCHMARK_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@st.cache_data(show_spinner=False)
def _load_benchmark(path: str, mtime: float) -> dict[str, Any] | None:
    return read_json(path)


def load_benchmark(name: str) -> dict[str, Any] | None:
    """A benchmark's JSON (``benchmarks/results/<name>.json``) if it has been run, else None."""
    path = BENCHMARK_DIR / f"{name}.json"
    return _load_benchmark(str(path), path.stat().st_mtime) if path.is_file() else None
