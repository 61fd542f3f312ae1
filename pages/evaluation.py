"""Evaluation: how good search really is, measured on held-out queries, in charts."""

import streamlit as st

from multimodal.app import charts, ui

ui.through_navigation()
st.title("How good is the search?")
ui.sidebar()
metrics = ui.load_metrics()
if metrics is None:
    st.warning("No evaluation yet. Run `python -m multimodal evaluate` (or `make run`), then reload this page.")
    st.stop()

if "folder" in metrics:  # your own catalog: its own figures
    folder = metrics["folder"]
    served, pixels = folder["category"]["shipped_ranking"], folder["category"]["raw_pixels"]
    find = folder["find_this_product"]
    cols = st.columns(4)
    cols[0].metric(f"{folder.get('category_column') or 'Category'} P@1", f"{served['p_at_1']:.3f}",
                   f"{served['p_at_1'] - pixels['p_at_1']:+.3f} vs raw pixels")
    cols[1].metric("P@10", f"{served['p_at_10']:.3f}", f"{served['p_at_10'] - pixels['p_at_10']:+.3f} vs raw pixels")
    cols[2].metric("Find this product, R@1", f"{find['shipped_ranking']['r_at_1']:.3f}",
                   f"{find['shipped_ranking']['r_at_1'] - find['pixel_correlation']['r_at_1']:+.3f} vs pixels")
    cols[3].metric("Find this product, R@10", f"{find['shipped_ranking']['r_at_10']:.3f}")
    st.caption(f"{folder['queries']:,} held-out products against {folder['catalog_items']:,} catalog items of "
               f"{folder.get('catalog')} · measured {metrics['created_at']}")
    st.plotly_chart(charts.folder_bars(metrics), use_container_width=True)
    st.subheader("The other attributes of the first results")
    st.dataframe({name: {k: by["shipped_ranking"][k] for k in ("p_at_1", "same_in_5")}
                  for name, by in folder["attributes"].items()})
    table = charts.folder_text_table(metrics)
    if table is not None:
        st.subheader("Text search: shopper queries made from the catalog's values")
        st.dataframe(table.style.format("{:.3f}"))
    st.plotly_chart(charts.folder_per_category(metrics), use_container_width=True)
    st.stop()

image, text = metrics["image"]["learned"], metrics["text"]
cols = st.columns(5)
cols[0].metric("Image P@1", f"{image['precision_at_k']['1']:.3f}",
               f"{image['precision_at_k']['1'] - metrics['image']['baselines']['raw_pixels']['precision_at_k']['1']:+.3f} vs raw pixels")
cols[1].metric("Image MRR", f"{image['mrr']:.3f}")
cols[2].metric("Text category P@10", f"{text['fused']['category_p_at_k']:.3f}")
cols[3].metric("Text all-constraints P@10", f"{text['fused']['strict_p_at_k']:.3f}")
cols[4].metric("Classifier accuracy", f"{metrics['classifier']['accuracy']:.3f}")
st.caption(f"{metrics['held_out_queries']:,} held-out queries against {metrics['catalog_items']:,} catalog items · "
           f"measured {metrics['created_at']}")
shipped = metrics.get("provenance", {})
if shipped.get("source") == "shipped":
    st.info(f"These figures shipped with this build's models: measured {shipped.get('measured_at')} on "
            f"{shipped.get('machine') or 'the machine that shipped them'} (shipped at commit {shipped.get('commit') or '?'}), on a build "
            "with the same catalog, models and settings as this one. `make evaluate` measures them on this machine.")
if "embedding_only" in metrics["image"]:
    alone = metrics["image"]["embedding_only"]
    st.caption(
        f"Image search ranks the nearest items by visual similarity plus the classifier's belief in each item's "
        f"category, and gives categories the classifier is unsure about a place in the first five. The embedding "
        f"alone: P@1 {alone['precision_at_k']['1']:.3f}, P@10 {alone['precision_at_k']['10']:.3f}, "
        f"Top-5 hit rate {alone['top_k_accuracy']['5']:.3f}."
    )

shopper = charts.shopper_figure(metrics)
if shopper is not None:
    image_all = metrics["image"]
    find, gap = image_all["find_this_product"]["shipped_ranking"], image_all["similarity_gap"]["shipped_ranking"]
    self_hits = image_all["self_retrieval"]
    cols = st.columns(4)
    cols[0].metric("Find this product, R@1", f"{find['r_at_1']:.3f}",
                   f"{find['r_at_1'] - image_all['find_this_product']['pixel_correlation']['r_at_1']:+.3f} vs pixels")
    cols[1].metric("Find this product, R@10", f"{find['r_at_10']:.3f}")
    cols[2].metric("Own image returned first", f"{self_hits['rate']:.2%}",
                   f"{self_hits['misses']} misses, {self_hits['misses_that_are_pixel_duplicates']} pixel duplicates",
                   delta_color="off")
    cols[3].metric("Similarity, result 1 - result 10", f"{gap:.3f}")
    st.plotly_chart(shopper, use_container_width=True)

st.plotly_chart(charts.top_k_figure(metrics), use_container_width=True)
left, right = st.columns(2)
left.plotly_chart(charts.ranking_bars(metrics), use_container_width=True)
right.plotly_chart(charts.text_bars(metrics), use_container_width=True)
st.subheader("Text search in shoppers' words")
intents = charts.intent_table(metrics)
if intents is None:
    st.info("This evaluation predates the shopper-language set; run `python -m multimodal evaluate --text-only`.")
else:
    detail = metrics["text"]["intents"]
    understanding = metrics["text"].get("understanding", {})
    cols = st.columns(5)
    cols[0].metric("Overall (fused)", f"{detail['fused']['overall']:.3f}")
    cols[1].metric("Unseen words (fused)", f"{detail['fused']['unseen_words']:.3f}",
                   help="Queries whose attribute words no list and no catalog text holds")
    if "false_parse_rate" in understanding:
        raw = understanding.get("unreviewed")
        words = f"{understanding['ordinary_words']:,} English words that name no attribute"
        cols[2].metric("False parses, word alone", f"{understanding['false_parse_rate']:.2%}", help=words)
        cols[3].metric("…before a garment word", f"{understanding['false_parse_rate_before_a_garment']:.2%}",
                       help=f"'<word> dress', {words}" + (f"; {raw['false_parse_rate_before_a_garment']:.2%} counting the "
                                                         f"{raw['reviewed_attribute_words']} drawn words a review found to "
                                                         "name an attribute" if raw else ""))
        chosen = understanding.get("threshold_dev", {}).get("chosen", {}).get("threshold")
        cols[4].metric("Learned-layer threshold", f"{understanding['threshold_in_use']:.2f}",
                       help=None if chosen is None else f"The rule on the dev words gives {chosen:.2f}; the README says "
                                                        "which one is in use and why")
    st.plotly_chart(charts.intent_figure(metrics), use_container_width=True)
    st.dataframe(intents.style.format("{:.3f}"), use_container_width=True)
    st.caption(f"{detail['queries']:,} generated queries, worded unlike any training text; "
               f"{detail['fused']['unseen_share']:.0%} use attribute words no list and no catalog text holds. "
               "Score: share of the top 10 meeting every stated constraint, over min(10, items meeting them).")
st.plotly_chart(charts.per_category_figure(metrics), use_container_width=True)
left, right = st.columns(2)
left.plotly_chart(charts.confusion_figure(metrics), use_container_width=True)
right.plotly_chart(charts.training_curves(metrics), use_container_width=True)

up, lat = metrics["image"]["uploads"], metrics["latency"]
st.subheader("Uploads and speed")
cols = st.columns(4)
cols[0].metric("P@1, 28x28 originals", f"{up['original_28x28']['p_at_1']:.3f}")
cols[1].metric("P@1, shoppers' photos", f"{up['shopper_photo']['p_at_1']:.3f}")
cols[2].metric("Image query, median", f"{lat['image_query_ms']['median']:.1f} ms")
cols[3].metric("Text query, median", f"{lat['text_query_ms']['median']:.1f} ms")

try:
    engine = ui.load_engine()
except Exception:  # noqa: BLE001 - the map is optional; the figures above come from metrics.json
    st.info("Build the models to see the embedding map.")
else:
    st.plotly_chart(charts.embedding_map(engine.index.vectors(), engine.catalog), use_container_width=True)

scale = ui.load_benchmark("scale")
if scale is not None:
    st.subheader("At scale: 10k to 1M items")
    st.caption("From `benchmarks/scale.py`: real Fashion-MNIST embeddings plus jittered copies, FAISS and Milvus Lite, "
               f"one query at a time on {scale['machine']['cpus']} CPU(s), measured {scale['created_at']}.")
    st.plotly_chart(charts.scale_figure(scale), use_container_width=True)
