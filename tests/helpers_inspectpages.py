"""Tiny digits runs for the Evaluate / Inside the network / Robustness page tests.

Each run is one epoch on 60 training and 30 test digits (seconds). They are trained once per
test module in a store of their own and copied into each test's empty CNNVIZ_HOME: a copied
run folder stays valid (its manifest names files by checksum, not by path).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz import models, training

#: A real ModelConfig (so the run can be rebuilt for a twin): conv → max pool → Flatten → softmax.
FLAT_MODEL = models.ModelConfig(conv_layers=1, filters=4, batch_norm=False).to_dict()
#: The same with global average pooling instead of Flatten (takes any image size).
GAP_MODEL = models.ModelConfig(conv_layers=1, filters=4, batch_norm=False, head="global_avg").to_dict()
TIMEOUT = 120  # TensorFlow pages: the first import alone can take ~20 s on the shared machine


def tiny_spec(model: dict, **changes) -> training.TrainSpec:
    options = dict(model=dict(model), dataset="digits", train_size=60, test_size=30, epochs=1, batch_size=8,
                   seed=0)
    options.update(changes)
    return training.TrainSpec(**options)


def train_runs(home: Path, specs: dict[str, training.TrainSpec]) -> dict[str, str]:
    """Train each spec into ``home`` (as CNNVIZ_HOME); return ``{name: run id}``."""
    ids = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        for name, spec in specs.items():
            ids[name] = training.train(spec).run.run_id
    return ids


def copy_runs(src_home: Path, dst_home: Path) -> None:
    shutil.copytree(src_home / "runs", dst_home / "runs", dirs_exist_ok=True)


def open_page(app_path: str, page: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str):
    for element in at.get("plotly_chart"):
        if element.key == key:
            return element
    raise AssertionError(f"no plotly chart {key!r}; have {[c.key for c in at.get('plotly_chart')]}")


def figure(at: AppTest, key: str) -> dict:
    return json.loads(chart(at, key).proto.spec)


def chart_keys(at: AppTest) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def no_errors(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success]
    return "\n".join(parts)


def assert_no_runs_notice(at: AppTest) -> None:
    """The page says there are no runs and links to Build & train."""
    assert not at.exception, at.exception
    assert any("No trained runs yet" in i.value for i in at.info), [i.value for i in at.info]
    links = at.get("page_link")
    assert [link.proto.page for link in links] == ["build_train"]
