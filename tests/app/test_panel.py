"""cnnviz.app.panel: the live training panel is the last thing a page draws, and waiting panels refresh
slower the further back in the queue they are (the many-students load test, tests/e2e/test_load.py)."""

from __future__ import annotations

import shutil
import types

import pytest

from cnnviz.app import panel


def test_the_training_panel_is_the_last_thing_each_page_draws():
    """Nothing may follow the live panel's fragment (see ``cnnviz.app.panel``): Streamlit can send a
    later element's block before the fragment's when the fragment reruns, which blanks the page."""
    import ast

    from tests.conftest import REPO

    callers = []
    for path in sorted((REPO / "app_pages").glob("*.py")):
        tree = ast.parse(path.read_text())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        calls = [n for n in ast.walk(main) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "training_panel"]
        if not calls:
            continue
        callers.append(path.name)
        assert len(calls) == 1, f"{path.name}: call panel.training_panel once, with every job key"
        last = main.body[-1]
        assert isinstance(last, ast.Expr) and last.value is calls[0], f"{path.name}: the panel is not main()'s last step"
    assert callers == ["build_train.py", "robustness.py", "transfer.py"]


def _status(state: str, place: int = 0) -> types.SimpleNamespace:
    return types.SimpleNamespace(state=state, queue_position=place)


def test_waiting_panels_refresh_slower_the_further_back_they_are():

    assert [panel.queued_refresh_s(p) for p in (1, 2, 5, 17, 30)] == [2.0, 2.5, 4.0, 10.0, 10.0]
    # 28 waiting students (a class of 30, cap 2): under 5 panel runs a second instead of 14.
    assert 4.4 < sum(1 / panel.queued_refresh_s(p) for p in range(1, 29)) < 4.8
    assert panel.panel_refresh_s([_status("queued", 5), _status("queued", 3)]) == 3.0  # the first waiting job
    assert panel.panel_refresh_s([_status("queued", 5), _status("running")]) == panel.LIVE_REFRESH_S
    assert panel.panel_refresh_s([_status("finished"), _status("cancelled")]) is None


def test_a_waiting_panel_takes_a_faster_pace_after_moving_up_enough():

    drawn_at_place_5 = panel.queued_refresh_s(5)  # 4 s
    assert not panel.pace_outdated(drawn_at_place_5, [_status("queued", 5)])
    assert not panel.pace_outdated(drawn_at_place_5, [_status("queued", 2)])  # 2.5 s: close enough
    assert panel.pace_outdated(drawn_at_place_5, [_status("queued", 1)])  # 2 s: rerun the page once
    assert not panel.pace_outdated(panel.LIVE_REFRESH_S, [_status("running")])
    assert not panel.pace_outdated(None, [_status("queued", 1)])  # no live panel drawn


def _job_view_script(eta_s, phase):
    import types as t

    from cnnviz.app import panel as p
    from cnnviz.training.callbacks import Progress

    progress = Progress(phase=phase, epoch=1, epochs=3, batch=1, batches=50, eta_s=eta_s)
    status = t.SimpleNamespace(state="running", active=True, job_id="job-1", progress=progress, run_id=None)
    p._job_view(t.SimpleNamespace(stop=lambda job_id: None, resumable=lambda job_id: 0), status, "")


def _testing_view_script(note):
    import types as t

    from cnnviz.app import panel as p
    from cnnviz.training.callbacks import Progress

    progress = Progress(phase="testing", epoch=1, epochs=1, batch=50, batches=50, note=note)
    status = t.SimpleNamespace(state="running", active=True, job_id="job-1", progress=progress, run_id=None)
    p._job_view(t.SimpleNamespace(stop=lambda job_id: None, resumable=lambda job_id: 0), status, "")


def test_testing_shows_how_many_test_images_are_done():
    """Testing 10,000 images with test-time augmentation takes 5-20 s: the bar's text moves with the images."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_testing_view_script, args=("4,096 of 10,000 test images",)).run()
    assert not at.exception, at.exception
    [bar] = at.get("progress")
    assert bar.proto.text == "Testing… 4,096 of 10,000 test images"


def test_time_left_says_estimating_until_there_is_an_estimate():
    """Not a number from batch 1 (issue 14: "time left 583 s" for a run that took 15 s), nor a bare dash."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_job_view_script, args=(None, "training")).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["time left"] == "estimating…"
    at = AppTest.from_function(_job_view_script, args=(42.4, "training")).run()
    assert {m.label: m.value for m in at.metric}["time left"] == "42 s"
    at = AppTest.from_function(_job_view_script, args=(None, "testing")).run()
    assert {m.label: m.value for m in at.metric}["time left"] == "–"


def _page_with_a_job(job_id: str, refresh_only: bool) -> None:
    """A page with a Train button and the live panel of job ``job_id`` (``refresh_only``: the panel's own refresh,
    as its fragment reruns every few seconds without the page)."""
    import streamlit as st

    from cnnviz.app import jobs, panel
    from cnnviz.app.state import TRAIN_JOB_KEY

    st.session_state[TRAIN_JOB_KEY] = job_id
    if refresh_only:
        panel._panels_fragment([(TRAIN_JOB_KEY, job_id, "queued")], {}, panel.queued_refresh_s(1))
        return
    st.button("Train", key="train_start", disabled=jobs.busy())
    panel.training_panel()


@pytest.mark.parametrize("refresh_only", [False, True], ids=["page", "panel refresh"])
@pytest.mark.parametrize("damage", ["garbage", "folder", "emptied"])
def test_a_job_table_damaged_mid_session_is_named_as_at_the_start_not_a_traceback(cnnviz_home, monkeypatch, damage,
                                                                                   refresh_only):
    """A student watches their queued training; then jobs.sqlite3 is overwritten (a restore from a backup, a copy
    in progress), replaced or emptied: the page's busy() check and the panel's refresh were raw tracebacks."""
    from streamlit.testing.v1 import AppTest

    from cnnviz.errors import CnnvizError
    from cnnviz.training import jobs as jobmanager
    from cnnviz.training import jobtable
    from tests.support.pages import shown
    from tests.support.specs import tiny_spec

    monkeypatch.setattr(jobmanager, "_managers", [])  # closing it reads the table: not the damaged one
    manager = jobmanager.JobManager(workers=False)  # the server's manager, its workers out of this test
    monkeypatch.setattr(jobmanager, "_manager", manager)
    job_id = manager.submit(tiny_spec())
    at = AppTest.from_function(_page_with_a_job, args=(job_id, refresh_only)).run()
    assert not at.exception and not at.error and [i for i in at.info if i.value.startswith("Waiting for a free")]
    path = jobtable.table_path()
    for file in cnnviz_home.glob("jobs.sqlite3*"):  # the WAL beside it goes with it
        file.unlink()
    if damage == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000 if damage == "garbage" else b"")
    at.run()
    assert not at.exception, at.exception
    said = [shown(e.value) for e in at.error]
    assert len(said) == 1 and said[0].startswith(f"Could not open the training queue: {path} "), said
    assert "Whoever runs the server: stop cnnviz" in said[0], said
    if damage != "emptied":  # (a table opened afresh is made anew: only one open already finds it emptied)
        with pytest.raises(CnnvizError) as at_start:  # what a session starting now is told (cnnviz.app.reconnect)
            jobtable.JobTable().status(job_id)
        assert said == [str(at_start.value)]
    if not refresh_only:
        assert at.button(key="train_start").disabled  # nothing is queued on a table that cannot be read


def test_stop_pressed_after_the_job_table_was_damaged_says_why_not_a_traceback(cnnviz_home, monkeypatch):
    # The Stop button's callback read the damaged table: a raw traceback above the page.
    from streamlit.testing.v1 import AppTest

    from cnnviz.training import jobs as jobmanager
    from cnnviz.training import jobtable
    from tests.support.pages import shown
    from tests.support.specs import tiny_spec

    monkeypatch.setattr(jobmanager, "_managers", [])  # closing it reads the table: not the damaged one
    manager = jobmanager.JobManager(workers=False)
    monkeypatch.setattr(jobmanager, "_manager", manager)
    job_id = manager.submit(tiny_spec())
    at = AppTest.from_function(_page_with_a_job, args=(job_id, False)).run()
    path = jobtable.table_path()
    for file in cnnviz_home.glob("jobs.sqlite3*"):
        file.unlink()
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    at.button(key="train_stop").click().run()
    assert not at.exception, at.exception
    said = [shown(t.value) for t in at.toast]
    assert len(said) == 1 and said[0].startswith(f"Not stopped: Could not open the training queue: {path} "), said


def test_a_waiting_student_is_told_why_nothing_trains(cnnviz_home, monkeypatch):
    # Slot 0's lock file a folder (standing for a file of another user's: see tests/training/test_job_slots.py): the
    # panel said "number 1 in the queue" for ever.
    from streamlit.testing.v1 import AppTest

    from cnnviz import storage
    from cnnviz.training import jobs as jobmanager
    from cnnviz.training import worker
    from tests.support.pages import shown
    from tests.support.specs import tiny_spec
    from tests.training.test_job_slots import said_about

    manager = jobmanager.JobManager(workers=False)  # the server's manager, its workers out of this test
    monkeypatch.setattr(jobmanager, "_manager", manager)
    job_id = manager.submit(tiny_spec())
    lock = storage.ensure_dir(worker.slot_lock_path(0))
    at = AppTest.from_function(_page_with_a_job, args=(job_id, False)).run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info if i.value.startswith("Waiting for a free training slot: you are number 1")]
    assert [shown(w.value) for w in at.warning] == [said_about(lock)]


def _ended_job_view_script(state: str, run_id: str):
    import types as t

    from cnnviz.app import panel as p
    from cnnviz.training.callbacks import Progress

    progress = Progress(phase="testing", epoch=3, epochs=3, batch=50, batches=50, eta_s=None)
    status = t.SimpleNamespace(state=state, active=False, job_id="job-1", progress=progress, run_id=run_id,
                               test_accuracy=0.5, error=None)
    p._job_view(t.SimpleNamespace(stop=lambda job_id: None, resumable=lambda job_id: 0), status, "")


@pytest.mark.parametrize("state", ["finished", "stopped", "interrupted"])
def test_a_job_whose_run_was_deleted_since_says_so(cnnviz_home, monkeypatch, state):
    """The panel of an ended job said its run was saved (and linked to Runs to compare it) after the run had been
    deleted (in another tab, by the teacher): the student looked for it there in vain."""
    import streamlit
    from streamlit.testing.v1 import AppTest

    from tests.support.runfolders import write_run

    links = []  # st.page_link needs the app's pages: recorded instead
    monkeypatch.setattr(streamlit, "page_link", lambda page, **kwargs: links.append(page))
    run_id = "20260101-000000-00000001"
    write_run(cnnviz_home, run_id)
    at = AppTest.from_function(_ended_job_view_script, args=(state, run_id)).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if "deleted" in w.value] == []
    linked = list(links)
    shutil.rmtree(cnnviz_home / "runs" / run_id)
    links.clear()
    at = AppTest.from_function(_ended_job_view_script, args=(state, run_id)).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning if "deleted" in w.value] == [
        f"Its run {run_id} was deleted since (in another tab or by the teacher): it is no longer on the Runs page."]
    assert links == [] and linked == ([] if state == "interrupted" else ["app_pages/runs.py"])
    # nothing on the panel still says the run is kept
    assert not [m for kind in (at.warning, at.success, at.info, at.markdown) for m in kind if f"saved as run `{run_id}`" in m.value]


def _queued_view_script(free_slots):
    import types as t

    from cnnviz.app import panel as p
    from cnnviz.training.callbacks import Progress

    status = t.SimpleNamespace(state="queued", queue_position=1, active=True, job_id="job-1", run_id=None,
                               progress=Progress(phase="waiting", epoch=0, epochs=3, batch=0, batches=0))
    manager = t.SimpleNamespace(max_jobs=1, free_slots=lambda: free_slots, slot_problem=lambda: None,
                                stop=lambda job_id: None, resumable=lambda job_id: 0)
    p._job_view(manager, status, "")


def test_a_training_with_a_free_slot_is_not_told_to_wait_for_one():
    """The first Train after a server start waits 10-30 s for its worker to load TensorFlow, nobody else
    training: "Waiting for a free training slot: you are number 1 in the queue" sent students looking for who."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_queued_view_script, args=(1,)).run()
    assert not at.exception, at.exception
    [said] = [i.value for i in at.info]
    assert "free training slot" not in said and said.startswith("Starting")
    at = AppTest.from_function(_queued_view_script, args=(0,)).run()  # every slot busy: it waits its turn
    assert [i.value for i in at.info] == ["Waiting for a free training slot: you are number 1 in the queue "
                                          "(this server trains 1 network(s) at a time)."]
