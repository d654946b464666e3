"""The entry file routes, Home renders, and the light pages never import TensorFlow."""

import subprocess
import sys

from streamlit.testing.v1 import AppTest

from cnnviz.catalog import PAGES
from tests.conftest import REPO


def test_home_renders_without_exception(app_path, cnnviz_home):
    at = AppTest.from_file(app_path, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "cnnviz: a CNN lab"
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert str(cnnviz_home) in text
    assert "scikit-learn digits" in text


def test_every_catalog_page_file_exists():
    for page in PAGES:
        assert (REPO / page.path).is_file(), page.path


LIGHT_PAGES_SCRIPT = r"""
import sys
from streamlit.testing.v1 import AppTest
from cnnviz.catalog import PAGES
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception, at.exception
for page in [p.path for p in PAGES if p.path in ("app_pages/home.py", "app_pages/convolution.py")]:
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
import cnnviz, cnnviz.cli  # the package and its glue stay light too
from cnnviz.app import boundary, caches, compat, downloads, jobs, panel, pickers, state, sweeps, tables
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


def test_home_and_convolution_do_not_import_tensorflow(tmp_path):
    # A fresh interpreter: this test process may already have TensorFlow from other tests.
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_PAGES_SCRIPT],
        cwd=REPO, capture_output=True, text=True, timeout=240,
        env={**__import__("os").environ, "CNNVIZ_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["False", "False"], result.stdout
