"""The evaluation's figures as the plain-text tables ``evaluate`` prints."""

from __future__ import annotations


def text_report(t: dict) -> str:
    """The text figures as tables: held-out queries, then the shopper-language set per group."""
    lines = [f"text -> image: {t['queries']:,} held-out shopper queries with unseen wording",
             f"  {'':20} {'cat P@10':>9} {'strict P@10':>12} {'cat MRR':>8} {'strict MRR':>11}"]
    for name in ("fused", "mapped_vector_only", "sentence_only"):
        r = t[name]
        lines.append(f"  {name:20} {r['category_p_at_k']:9.3f} {r['strict_p_at_k']:12.3f} {r['category_mrr']:8.3f} {r['strict_mrr']:11.3f}")
    if "intents" in t:
        intents = t["intents"]
        methods = ("fused", "fused_rrf", "fused_weighted", "bm25_only", "sentence_only", "mapped_vector_only")
        lines.append(f"\nshopper-language set: {intents['queries']:,} queries (score = share of the top 10 meeting every "
                     f"stated constraint over min(10, items meeting them); fusion in use: {intents['fusion']})")
        lines.append(f"  {'group':16}" + "".join(f"{m:>19}" for m in methods))
        groups = list(intents["fused"]["per_group"])
        for g in (*groups, "unseen_words", "seen_words", "overall"):
            row = [intents[m]["per_group"].get(g) if g in groups else intents[m][g] for m in methods]
            lines.append(f"  {g:16}" + "".join(f"{v:19.3f}" for v in row))
    u = t.get("understanding", {})
    if "false_parse_rate" in u:
        lines.append(f"\nfalse parses: {u['false_parse_rate']:.4f} of {u['ordinary_words']:,} ordinary English words alone, "
                     f"{u['false_parse_rate_before_a_garment']:.4f} before a garment word ('<word> dress')")
        if "unreviewed" in u:
            raw = u["unreviewed"]
            lines.append(f"  (the sample drawn had {raw['ordinary_words']:,} words, {raw['reviewed_attribute_words']} of them reviewed as "
                         f"attribute words; counting those: {raw['false_parse_rate']:.4f} alone, "
                         f"{raw['false_parse_rate_before_a_garment']:.4f} before a garment)")
        lines.append(f"learned layer: threshold {u['threshold_in_use']:.2f} (dev choice {u['threshold_dev']['chosen']['threshold']:.2f}); "
                     f"unseen test words matched right {u['unseen_test_words_matched_right']:.3f}")
        if "unseen_test_words_read_by_dictionary" in u:
            lines.append(f"dictionary layer: reads {u['unseen_test_words_read_by_dictionary']:.3f} of the unseen test words, "
                         f"right {u['unseen_test_words_read_right_by_dictionary']:.3f}; with the learned layer after it, "
                         f"right {u['unseen_test_words_read_right_by_dictionary_or_learned']:.3f}")
    elif u:
        lines.append(f"\nfalse parses: {u.get('skipped')}")
    return "\n".join(lines)


def folder_report(m: dict) -> str:
    """A folder catalog's figures as the tables ``evaluate`` prints."""
    f = m["folder"]
    out = [f"image -> image on {f.get('catalog')}: {f['queries']:,} held-out products, {f['catalog_items']:,} catalog items",
           f"  {'':16} {f.get('category_column') or 'category'} P@1   P@10    MRR"]
    out += [f"  {name:16} {r['p_at_1']:10.3f} {r['p_at_10']:6.3f} {r['mrr']:6.3f}" for name, r in f["category"].items()]
    out += [f"  {name:16} P@1 {by['shipped_ranking']['p_at_1']:.3f}, same in the first 5 {by['shipped_ranking']['same_in_5']:.3f}"
            for name, by in f["attributes"].items()]
    find = f["find_this_product"]
    out.append(f"  find this product ({find['items']} re-shot photos), R@1 / R@10: "
               + ", ".join(f"{n} {r['r_at_1']:.3f} / {r['r_at_10']:.3f}" for n, r in find.items() if isinstance(r, dict)))
    text = m.get("folder_text", {})
    for name in ("fused", "bm25_only", "sentence_only", "mapped_vector_only"):
        if name in text:
            r = text[name]
            out.append(f"  text {name:20} all stated values P@10 {r['overall']:.3f} (other wording {r['unseen_words']:.3f})")
    return "\n".join(out)


def metrics_report(m: dict) -> str:
    """Every figure of ``metrics.json`` as the tables ``evaluate`` prints."""
    if "folder" in m:
        return folder_report(m)
    out: list[str] = []
    image, base = m["image"]["learned"], m["image"]["baselines"]
    out.append(f"\nimage -> image: {m['held_out_queries']:,} held-out queries, {m['catalog_items']:,} catalog items")
    out.append(f"  {'':18} {'Top-1':>6} {'Top-5':>6} {'P@10':>6} {'MRR':>6} {'mAP@10':>7} {'NDCG@10':>8}")
    own = [("learned", image)] + ([("embedding only", m["image"]["embedding_only"])] if "embedding_only" in m["image"] else [])
    for name, r in (*own, *base.items()):
        out.append(f"  {name:18} {r['top_k_accuracy']['1']:6.3f} {r['top_k_accuracy']['5']:6.3f} {r['precision_at_k']['10']:6.3f} "
              f"{r['mrr']:6.3f} {r['map_at_10']:7.3f} {r['ndcg_at_10']:8.3f}")
    up = m["image"]["uploads"]
    out.append(f"  uploads (P@1, {up['items']} items): 28x28 {up['original_28x28']['p_at_1']:.3f}, shopper photo "
          f"{up['shopper_photo']['p_at_1']:.3f}, naive resize {up['shopper_photo_naive_resize']['p_at_1']:.3f}")
    out.append(f"classifier accuracy: {m['classifier']['accuracy']:.3f}")
    img = m["image"]
    if "find_this_product" in img:
        f = img["find_this_product"]
        out.append(f"  find this product ({f['items']} catalog items re-shot as photos), R@1 / R@10:")
        for name in ("shipped_ranking", "embedding_only", "pixel_correlation"):
            out.append(f"    {name:18} {f[name]['r_at_1']:.3f} / {f[name]['r_at_10']:.3f}")
        s = img["self_retrieval"]
        out.append(f"  own image first: {s['rate']:.4f} of {s['items']:,} items ({s['misses']} misses, "
              f"{s['misses_that_are_pixel_duplicates']} of them pixel duplicates)")
        gap = img["similarity_gap"]
        out.append(f"  similarity of result 1 - result 10: {gap['shipped_ranking']:.3f} (embedding alone {gap['embedding_only']:.3f})")
    if img.get("test_images"):
        ti = img["test_images"]
        out.append(f"  {ti['queries']:,} Fashion-MNIST test images as queries:  P@1   P@10  Top-5")
        for name in ("shipped_ranking", "embedding_only", "raw_pixels"):
            r = ti[name]
            out.append(f"    {name:18} {r['precision_at_k']['1']:.3f} {r['precision_at_k']['10']:.3f} {r['top_k_accuracy']['5']:.3f}")
        out.append(f"    classifier accuracy {ti['classifier_accuracy']:.3f}")
    out.append("\n" + text_report(m["text"]))
    lat = m["latency"]
    out.append(f"\nlatency (warm, ms): image median {lat['image_query_ms']['median']:.1f} p95 {lat['image_query_ms']['p95']:.1f}; "
          f"text median {lat['text_query_ms']['median']:.1f} p95 {lat['text_query_ms']['p95']:.1f}")
    return "\n".join(out)
