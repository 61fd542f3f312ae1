"""Image search: upload a photo, pick a held-out catalog item, or "More like this" from any result card."""

import streamlit as st

from multimodal import InvalidInputError
from multimodal.app import ui
from multimodal.catalog.images import to_uint8

ui.through_navigation()
st.title("Search by image")
ui.sidebar()
engine = ui.engine_or_stop()


def show_results(results, caption: str, model_input=None) -> None:
    left, right = st.columns([1, 3])
    with left:
        if model_input is not None:
            ui.show_image(to_uint8(model_input), caption="What the model sees")
        st.metric("Predicted category", results.predicted_category, f"{results.confidence:.0%} confidence",
                  delta_color="off")
    with right:
        st.caption(f"{caption} · gender filter: {ui.selected_gender().title()}")
        ui.feedback_bar()
        ui.product_cards(engine, results, columns=4, context="image")


similar_to = st.session_state.get("similar_to")
if similar_to:
    try:
        results = engine.search_similar(similar_to, k=ui.selected_k(), gender=ui.selected_gender(), **ui.search_options())
    except InvalidInputError as exc:
        st.session_state["similar_to"] = None
        st.warning(f"{exc}. Upload a photo or pick a product instead.")
    else:
        source = engine.catalog.loc[engine.catalog["product_id"] == similar_to].iloc[0]
        top, back = st.columns([4, 1])
        top.subheader(f"More like: {ui.card_title(engine, source)}")
        back.button("New image search", on_click=lambda: st.session_state.update(similar_to=None), key="leave-similar")
        show_results(results, f"{len(results)} products that look like {similar_to} ({ui.card_facts(engine, source)})",
                     results.model_input)
    st.stop()

upload_tab, pick_tab = st.tabs(["Upload a photo", "Pick from the catalog"])
image = None
with upload_tab:
    uploaded = st.file_uploader("PNG, JPEG or WebP; any size or colour", type=["png", "jpg", "jpeg", "webp"], key="upload")
    if uploaded is not None:
        image = uploaded.getvalue()
with pick_tab:
    held_out = ui.held_out_items()
    choice = st.selectbox("A product", held_out["label"], index=None, placeholder="Choose a product…", key="pick")
    if choice is not None and uploaded is None:
        image = ui.held_out_image(held_out.loc[held_out["label"] == choice, "image_index"].iloc[0])

if image is not None:
    try:
        results = engine.search_image(image, k=ui.selected_k(), gender=ui.selected_gender(), **ui.search_options())
    except InvalidInputError as exc:
        st.error(f"This file can't be used as a product photo: {exc}. Try a PNG, JPEG or WebP picture of one item.")
    else:
        show_results(results, f"{len(results)} similar products", results.model_input)
else:
    st.info("Upload a photo of one item, pick a product from the catalog, or press \"More like this\" on any result.")
