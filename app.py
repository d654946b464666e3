"""cnnviz entry point: routes to the pages listed in cnnviz.catalog. Run: streamlit run app.py"""

import streamlit as st

from cnnviz.app import accounts, compat
from cnnviz.catalog import PAGES


compat.install()
st.set_page_config(page_title="cnnviz: a CNN lab", page_icon=":material/grid_on:", layout="wide")
accounts.sign_in_gate()  # with school accounts set up ([auth] in secrets.toml): a sign-in screen until signed in
st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(PAGES)]).run()
