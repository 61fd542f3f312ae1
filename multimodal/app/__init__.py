"""The Streamlit dashboard's helpers (cached engine, sidebar, result cards) and its plotly charts.
Needs the ``[app]`` extra; the library never imports it."""
