"""Text search: a query box with examples, understood constraints as chips, product cards."""

import streamlit as st

from multimodal import InvalidInputError
from multimodal.app import ui

ui.through_navigation()
st.title("Search by words")
ui.sidebar()
engine = ui.engine_or_stop()

st.session_state.setdefault("query", "")
examples = st.pills("Try", ui.example_queries(engine), selection_mode="single", key="example")
if examples and examples != st.session_state.get("last_example"):
    st.session_state["query"] = examples
    st.session_state["last_example"] = examples
query = st.text_input("What are you looking for?", key="query", placeholder="e.g. black leather ankle boots for women")

if query.strip():
    try:
        results = engine.search_text(query, k=ui.selected_k(), gender=ui.selected_gender(), **ui.search_options())
    except InvalidInputError as exc:
        st.warning(str(exc))
    else:
        st.markdown("**Understood:** " + ui.chip_markdown(results.chip_items, results.hint_items))
        if results.relaxed:
            st.info(results.relaxed)
        st.caption(ui.count_caption(results, ui.selected_gender()))
        ui.feedback_bar()
        ui.product_cards(engine, results, context="text")
elif query:
    st.warning("The query is empty; type what you are looking for.")
