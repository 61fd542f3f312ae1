"""Entry point: page navigation. Each page draws the shared sidebar and calls the multimodal library."""

import streamlit as st

st.set_page_config(page_title="Fashion search", page_icon="👗", layout="wide")
page = st.navigation([
    st.Page("pages/text_search.py", title="Text search", icon=":material/search:", default=True),
    st.Page("pages/image_search.py", title="Image search", icon=":material/image_search:"),
    st.Page("pages/evaluation.py", title="Evaluation", icon=":material/monitoring:"),
])
page.run()
