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


HOME_ONLY_SCRIPT = r"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception, at.exception
text = " ".join(m.value for m in at.markdown)
assert "Stored: made in the test." in text, text
print(*sorted(m for m in ("numpy", "tarfile", "sklearn", "scipy", "pandas", "tensorflow") if m in sys.modules))
"""


def test_home_imports_no_numpy_and_opens_no_class_file(tmp_path):
    # Home's first paint stays as light as a bare Streamlit app (issue 19): numpy alone cost ~50 ms of ~0.6 s.
    # A fresh interpreter (this process has numpy), with a stored dataset so Home reads its source note.
    import numpy as np

    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "mnist.npz", x_train=np.zeros((1, 2, 2, 1), np.uint8), source=np.array(
        "made in the test"))
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("CNNVIZ_TEACHER", "CNNVIZ_CLASSROOM"))}
    result = subprocess.run([sys.executable, "-c", HOME_ONLY_SCRIPT], cwd=REPO, capture_output=True, text=True,
                            timeout=240, env={**env, "CNNVIZ_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "", f"Home imported {result.stdout.strip()}"
    assert not (tmp_path / "class.sqlite3").exists()  # a laptop: no classroom file


CONVOLUTION_SCRIPT = r"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=60).run()
at.switch_page("app_pages/convolution.py").run()
assert not at.exception, at.exception
print(*sorted(m for m in ("cnnviz.data.datasets", "tarfile", "sklearn", "tensorflow") if m in sys.modules))
"""


def test_convolution_does_not_import_the_dataset_loaders(tmp_path):
    # The loaders (tarfile, cifar10, folderdata, weights) took 0.1-0.2 s of Convolution's first visit;
    # its default source (a sample photo) needs none of them.
    result = subprocess.run([sys.executable, "-c", CONVOLUTION_SCRIPT], cwd=REPO, capture_output=True, text=True,
                            timeout=240, env={**__import__("os").environ, "CNNVIZ_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "", f"Convolution imported {result.stdout.strip()}"


def test_the_home_page_names_every_transfer_backbone():
    from cnnviz.catalog import PAGES
    from cnnviz.models.backbones import BACKBONES

    teaches = next(p.teaches for p in PAGES if p.path == "app_pages/transfer.py")
    assert all(b.title in teaches for b in BACKBONES.values()), teaches
