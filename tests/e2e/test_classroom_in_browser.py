"""A classroom server in the real browser (issue 14): two students pick names, keep their key in the URL across
sidebar page switches and a reload, and see only their own runs on Runs, Evaluate, Inside the network and
Robustness; the teacher (the password in the sidebar's Teacher box) sees both, shares one and deletes one.

The two runs are trained here through the backend (a few seconds each), owned by the students' user ids as the
roster gives them for the keys the browser got. The Class page and a student's Runs page are also saved for the
README (``tools/readme_screenshots.py`` copies them to ``docs/``).
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import running_app
from tests.e2e.streamlit_page import assert_no_errors, offered, screenshot, wait_idle

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-teacher-pass"
NAME_LABEL = "Your name (the class and the teacher see it)"
#: Each run page and the label of its run picker (a select box, or Robustness's multiselect).
RUN_PAGES = {"Evaluate": "Run", "Inside the network": "Run", "Robustness": "Runs"}
#: A page's heading where it is not its title.
HEADINGS = {"Home": "cnnviz: a CNN lab"}


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """``streamlit run app.py`` as a classroom (a teacher password set); yields ``(url, home)``."""
    home = tmp_path_factory.mktemp("e2e-classroom-home")
    with running_app(home, "streamlit-classroom.log", env={"CNNVIZ_TEACHER_PASSWORD": PASSWORD}) as url:
        yield url, home


def _sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def _key(page) -> str | None:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query).get("key", [None])[0]


def register(page, server: str, name: str) -> str:
    """A first visit: the name form, Start, and the key the page puts in the URL."""
    page.goto(server)
    wait_idle(page, timeout=180)
    expect(page.locator("h1").first).to_have_text("Welcome to the CNN lab")
    page.get_by_label(NAME_LABEL).fill(name)
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r"[?&]key="), timeout=60_000)
    expect(_sidebar(page)).to_contain_text(f"You are {name}", timeout=60_000)
    wait_idle(page, timeout=120)
    return _key(page)


def open_from_sidebar(page, title: str) -> None:
    """Switch page inside the session, as a student does."""
    _sidebar(page).locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    heading = HEADINGS.get(title, title)
    expect(page.locator('[data-testid="stMain"] h1').first).to_contain_text(heading, timeout=120_000)
    wait_idle(page, timeout=240)


def choose(page, label: str, text: str) -> None:
    """Pick the option of select box ``label`` that contains ``text`` (typed in to filter the list)."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.keyboard.type(text)
    page.get_by_role("option").filter(has_text=text).first.click(timeout=60_000)
    wait_idle(page, timeout=120)


def become_teacher(page, server: str) -> None:
    page.goto(server)
    wait_idle(page, timeout=180)
    _sidebar(page).get_by_text("Teacher", exact=True).click()
    _sidebar(page).get_by_label("Teacher password").fill(PASSWORD)
    _sidebar(page).get_by_role("button", name="Enter").click()
    expect(_sidebar(page)).to_contain_text("(teacher)", timeout=60_000)
    wait_idle(page, timeout=120)


def train_owned_runs(home, students: dict[str, str]) -> dict[str, str]:
    """One tiny run per student, owned by the user id the roster gives their key; ``{name: run id}``."""
    from cnnviz.classroom import roster
    from cnnviz.training import loop as training
    from tests.support.specs import FLAT_MODEL, page_spec

    ids = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        for seed, (name, key) in enumerate(students.items()):
            person = roster.lookup(key)
            assert person is not None and person.display_name == name
            spec = page_spec(FLAT_MODEL, epochs=3, seed=seed)  # 3 epochs: curves, not dots, in the README
            ids[name] = training.train(spec, owner=(person.user_id, person.display_name)).run.run_id
    return ids


def test_two_students_and_the_teacher(classroom, browser):
    server, home = classroom
    contexts = {who: browser.new_context(viewport={"width": 1400, "height": 1000}) for who in ("Ann", "Ben", "T")}
    try:
        ann, ben, teacher = (contexts[w].new_page() for w in ("Ann", "Ben", "T"))
        keys = {"Ann": register(ann, server, "Ann"), "Ben": register(ben, server, "Ben")}
        assert keys["Ann"] and keys["Ben"] and keys["Ann"] != keys["Ben"]

        # The key survives page switches in the sidebar and a reload: still Ann, never someone new.
        for title in ("Runs", "Build & train", "Home"):
            open_from_sidebar(ann, title)
            assert _key(ann) == keys["Ann"], f"{title} dropped the key: {ann.url}"
        ann.reload()
        wait_idle(ann, timeout=120)
        expect(_sidebar(ann)).to_contain_text("You are Ann")
        assert _key(ann) == keys["Ann"] and "Welcome to the CNN lab" not in _main_text(ann)

        runs = train_owned_runs(home, keys)
        tail = {name: f"({run_id[-8:]})" for name, run_id in runs.items()}

        # Each student sees only their own run, on Runs and on every run page's picker.
        for name, page, other in (("Ann", ann, "Ben"), ("Ben", ben, "Ann")):
            open_from_sidebar(page, "Runs")
            if name == "Ann":
                screenshot(page, "readme_student_runs")  # before the list is opened: the top of the page
            seen = offered(page, "Run")
            assert tail[name] in seen and tail[other] not in seen, f"{name} on Runs: {seen}"
            assert_no_errors(page)
        for title, label in RUN_PAGES.items():
            open_from_sidebar(ben, title)
            seen = offered(ben, label)
            assert tail["Ben"] in seen and tail["Ann"] not in seen, f"Ben on {title}: {seen}"
            assert_no_errors(ben)

        # The teacher sees both, on Runs and the Class page, and shares Ann's run with the class.
        become_teacher(teacher, server)
        open_from_sidebar(teacher, "Runs")
        seen = offered(teacher, "Run")
        assert tail["Ann"] in seen and tail["Ben"] in seen
        open_from_sidebar(teacher, "Class")
        text = _main_text(teacher)
        assert "Trainings" in text and "Students with a key (2)" in text  # the tables are drawn on a canvas
        share = teacher.get_by_role("combobox", name="Runs shared with the class (read-only for them)", exact=True)
        share.click()
        teacher.get_by_role("option").filter(has_text=tail["Ann"]).first.click()
        teacher.keyboard.press("Escape")
        teacher.get_by_role("button", name="Share these runs").click()
        wait_idle(teacher, timeout=120)
        assert_no_errors(teacher)
        screenshot(teacher, "readme_class_page")
        from cnnviz.classroom import settings as class_settings

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CNNVIZ_HOME", str(home))
            assert class_settings.shared_runs() == {runs["Ann"]}

        # Shared: Ben sees Ann's run, read-only (no Delete), beside his own.
        ben.reload()
        wait_idle(ben, timeout=180)
        open_from_sidebar(ben, "Runs")
        seen = offered(ben, "Run")
        assert tail["Ann"] in seen and tail["Ben"] in seen
        choose(ben, "Run", tail["Ann"])
        expect(ben.locator('[data-testid="stMain"]')).to_contain_text("shared with the class, read-only",
                                                                       timeout=60_000)
        wait_idle(ben, timeout=120)
        assert ben.get_by_role("button", name="Delete").count() == 0

        # The teacher deletes Ben's run: gone from disk, and from Ben's Runs page.
        open_from_sidebar(teacher, "Runs")  # no reload: the password holds for this browser session only
        screenshot(teacher, "classroom_teacher_runs")
        choose(teacher, "Run", tail["Ben"])
        teacher.get_by_text("Yes, delete this run", exact=True).click()
        wait_idle(teacher, timeout=60)
        teacher.get_by_role("button", name="Delete", exact=True).click()
        wait_idle(teacher, timeout=120)
        assert_no_errors(teacher)
        assert not (home / "runs" / runs["Ben"]).exists() and (home / "runs" / runs["Ann"]).is_dir()
        ben.reload()
        wait_idle(ben, timeout=180)
        seen = offered(ben, "Run")
        assert tail["Ben"] not in seen and tail["Ann"] in seen
    finally:
        for context in contexts.values():
            context.close()


def test_the_page_asked_for_is_the_page_shown_after_the_password_or_the_name(classroom, browser):
    # A teacher who opened the Class page's address, or a student a link to a page, landed on Home once the gate
    # let them in: the gate stopped the first run before the app had its navigation, and the page was forgotten.
    server, _ = classroom
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        teacher, student = (context.new_page() for context in contexts)
        teacher.goto(f"{server}/class_room")
        wait_idle(teacher, timeout=180)
        _sidebar(teacher).get_by_text("Teacher", exact=True).click()
        _sidebar(teacher).get_by_label("Teacher password").fill(PASSWORD)
        _sidebar(teacher).get_by_role("button", name="Enter").click()
        expect(_sidebar(teacher)).to_contain_text("(teacher)", timeout=60_000)
        wait_idle(teacher, timeout=120)
        expect(teacher.locator('[data-testid="stMain"] h1').first).to_have_text("Class")
        assert "/class_room" in teacher.url

        student.goto(f"{server}/runs")
        wait_idle(student, timeout=180)
        student.get_by_label(NAME_LABEL).fill("Cleo")
        student.get_by_role("button", name="Start").click()
        student.wait_for_url(re.compile(r"[?&]key="), timeout=60_000)
        expect(_sidebar(student)).to_contain_text("You are Cleo", timeout=60_000)
        wait_idle(student, timeout=120)
        expect(student.locator('[data-testid="stMain"] h1').first).to_have_text("Runs")
        assert "/runs" in student.url and _key(student)
        assert_no_errors(student)
    finally:
        for context in contexts:
            context.close()
