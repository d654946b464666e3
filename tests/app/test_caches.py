"""cnnviz.app.caches: runs keyed by (run_id, model sha256), images by their full pixels."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz.app import caches
from cnnviz.runs import store as runs
from cnnviz.training import loop as training
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec


def test_images_are_keyed_by_every_pixel_not_by_a_sample():
    seen = []

    @st.cache_data(hash_funcs=caches.BY_MODEL)
    def probe(image):
        seen.append(int(image.sum()))
        return int(image.sum())

    a = np.zeros((1000, 1000), dtype=np.uint8)  # 10^6 pixels: Streamlit alone would hash a sample of them
    b = a.copy()
    b[500, 500] = 1
    assert [probe(a), probe(b), probe(a.copy())] == [0, 1, 0]
    assert seen == [0, 1]


def test_a_run_is_keyed_by_its_id_and_model_checksum():
    run_id = training.train(tiny_spec(), build=tiny_build).run.run_id
    first, second = runs.load_run(run_id), runs.load_run(run_id)  # two objects, one stored run
    assert caches.model_key(first) == (run_id, runs.model_sha256(run_id))
    assert caches.run_key(first) == (*caches.model_key(first), "bundled")  # digits: the bundled dataset
    model, lock = caches.run_model(first)
    assert caches.run_model(second) == (model, lock)
    assert caches.run_test_set(first) is caches.run_test_set(second)
