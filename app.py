"""cnnviz entry point: routes to the pages listed in cnnviz.catalog. Run: streamlit run app.py"""

from pathlib import Path

import streamlit as st

from cnnviz.app import compat, identity, uploads
from cnnviz.catalog import PAGES

#: The tab's icon, a file the server sends: a ":material/...:" page icon is fetched from fonts.gstatic.com, which an
#: offline classroom cannot reach (tests/e2e/test_offline_in_browser.py).
ICON = str(Path(__file__).parent / "assets" / "favicon.svg")

# A training worker started with multiprocessing's "spawn" runs this file again as __mp_main__ (outside any
# browser session): it must draw nothing, and in a classroom the gate would ask it for a name and fail.
if __name__ != "__mp_main__":
    compat.install()
    st.set_page_config(page_title="cnnviz: a CNN lab", page_icon=compat.icon_data_uri(ICON), layout="wide")
    pages = [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(PAGES)]
    # The navigation before the gate: a run the gate stops without it forgets the page asked for (a teacher on the
    # Class page's address, a student on a link, let in by the password or a name, landed on Home). Hidden
    # while nobody is known. Every page listed: past 12 Streamlit hides the rest behind "View more".
    page = st.navigation(pages, expanded=True,
                         position="sidebar" if identity.known() else "hidden")
    identity.gate(page.title)  # who is who: a laptop draws nothing; a classroom may stop here with a name form
    page.run()
    uploads.release_undrawn()  # the files of uploaders this run did not draw (another page or source): let go
