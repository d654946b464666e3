"""Tests of cnnviz.app, the Streamlit layer."""
