"""The app layer: the only package that imports Streamlit.

``boundary`` (friendly errors, the run-page skeleton), ``compat`` (the Streamlit/Keras patches, applied by
``app.py``), ``caches`` (shared, read-only datasets and models keyed by run id and model checksum),
``sweeps`` (Robustness' cached steps), ``panel`` (the live training panel), ``jobs`` (submitting and
watching this session's trainings), ``pickers``, ``tables``, ``downloads`` and ``state`` (session keys);
``accounts`` (sign-in with school accounts: Streamlit's ``st.login`` / ``st.user``).
"""
