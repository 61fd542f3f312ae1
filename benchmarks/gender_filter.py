"""Check the gender filter on the built engine: every result of many real queries obeys the rule.

    python benchmarks/gender_filter.py [--artifacts-dir artifacts] [--queries 200] [--smoke]

For each filter (men = Men + Unisex, women = Women + Unisex, unisex = Unisex only), runs
``--queries`` held-out image queries and as many shopper text queries, ten results each,
and counts results outside the rule. Exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="5 queries per filter (a check that it runs)")
    args = parser.parse_args()
    if args.smoke:
        args.queries = 5

    from multimodal import SearchEngine
    from multimodal.catalog.prepared import load_prepared
    from multimodal.models.text_data import eval_queries
    from multimodal.search.filters import GENDER_FILTERS

    engine = SearchEngine.load(args.artifacts_dir)
    rows, images = load_prepared(engine.config.data_dir).part("query")
    texts = [q.text for q in eval_queries(rows, seed=engine.config.seed)]
    n = min(args.queries, len(images), len(texts))
    total = violations = 0
    for gender in ("men", "women", "unisex"):
        allowed = GENDER_FILTERS[gender]
        for i in range(n):
            for result in (engine.search_image(images[i], k=10, gender=gender), engine.search_text(texts[i], k=10, gender=gender)):
                total += len(result)
                violations += int((~result.rows["gender"].isin(allowed)).sum())
    print(f"{n} image and {n} text queries per filter (men, women, unisex): {total:,} results, {violations} outside the rule")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
