"""cnnviz entry point: routes to the pages listed in cnnviz.catalog. Run: streamlit run app.py"""

import streamlit as st

from cnnviz.app import compat, identity
from cnnviz.catalog import PAGES


# A training worker started with multiprocessing's "spawn" runs this file again as __mp_main__ (outside any
# browser session): it must draw nothing, and in a classroom the gate would ask it for a name and fail.
if __name__ != "__mp_main__":
    compat.install()
    st.set_page_config(page_title="cnnviz: a CNN lab", page_icon=":material/grid_on:", layout="wide")
    pages = [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(PAGES)]
    # The navigation before the gate: a run the gate stops without it forgets the page asked for (a teacher on the
    # Class page's address, a student on a link, let in by the password or a name, landed on Home). Hidden
    # while nobody is known. Every page listed: past 12 Streamlit hides the rest behind "View more".
    page = st.navigation(pages, expanded=True,
                         position="sidebar" if identity.known() else "hidden")
    identity.gate(page.title)  # who is who: a laptop draws nothing; a classroom may stop here with a name form
    page.run()
