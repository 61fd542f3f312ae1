"""Image search: upload a photo or pick a held-out catalog item; see what the model sees."""

import streamlit as st

from multimodal import InvalidInputError, ui
from multimodal.preprocess import to_uint8

st.title("Search by image")
ui.sidebar()
engine = ui.engine_or_stop()

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
        results = engine.search_image(image, k=ui.selected_k(), gender=ui.selected_gender())
    except InvalidInputError as exc:
        st.error(f"This file can't be used as a product photo: {exc}. Try a PNG, JPEG or WebP picture of one item.")
    else:
        left, right = st.columns([1, 3])
        with left:
            ui.show_image(to_uint8(results.attrs["model_input"]), caption="What the model sees")
            st.metric("Predicted category", results.attrs["predicted_category"], f"{results.attrs['confidence']:.0%} confidence",
                      delta_color="off")
        with right:
            st.caption(f"{len(results)} similar products · gender filter: {ui.selected_gender().title()}")
            ui.product_cards(engine, results, columns=4)
else:
    st.info("Upload a photo of one item, or pick a product from the catalog.")
