"""The labeling page in a real headless browser (Playwright driving Debian's chromium)
against a real `run_label_server` process: keyboard labeling, skip, undo, resuming after a
reload and after the server was killed, two blind labelers on one batch, and settling their
disagreement on /adjudicate. What the page did is checked in the SQLite file itself."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import expect, sync_playwright

from qinglang.labeling.store import LabelStore

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TITLES = [
    "某顶流明星机场私服曝光",
    "明天全国大部分地区有雨",
    "喝醋能治新冠，转发给家人",
    "为什么挠痒痒这么舒服",
    "本周星座运势：天蝎座财运爆棚",
]
COMMENT = "你这个傻逼滚出去"
IDS = [f"t{i}" for i in range(6)]
SERVER = """
import sys
from qinglang.data.taxonomy import load_taxonomy
from qinglang.labeling.web.app import LabelServerSettings
from qinglang.labeling.web.server import run_label_server
db, port, labeler, adjudicator = sys.argv[1], int(sys.argv[2]), sys.argv[3] or None, sys.argv[4] or None
settings = LabelServerSettings(db=db, taxonomy=load_taxonomy(), batch="b1", labeler=labeler, adjudicator=adjudicator)
run_label_server(settings, "127.0.0.1", port)
"""


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module; each test opens its own contexts (own localStorage)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium not found: run scripts/ensure-chromium.sh (`make test` runs it) to install Debian's chromium"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def store(tmp_path, taxonomy) -> LabelStore:
    """A label database with batch b1: five titles and a comment, ids t0..t5."""
    store = LabelStore(tmp_path / "labels.db", taxonomy)
    kinds = ["title"] * len(TITLES) + ["comment"]
    store.add_batch(pd.DataFrame({"item_id": IDS, "text": [*TITLES, COMMENT], "kind": kinds}), "b1")
    return store


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `run_label_server` process that can be killed and started again on the same port."""

    def __init__(self, db: Path, labeler: str = "", adjudicator: str = "") -> None:
        self.db, self.who, self.port = db, (labeler, adjudicator), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = db.with_suffix(".log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        argv = [sys.executable, "-c", SERVER, str(self.db), str(self.port), *self.who]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"label server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if urllib.request.urlopen(f"{self.url}/api/config", timeout=2).status == 200:
                    return
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"label server not up after {timeout} s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@contextmanager
def serving(store: LabelStore, labeler: str = "", adjudicator: str = ""):
    server = Server(store.path, labeler, adjudicator)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def server(store):
    with serving(store) as server:
        yield server


def open_page(browser, url: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(8000)
    page.goto(url)
    return page


def at(page, item_id: str | None, done: int, total: int = 6) -> None:
    """Wait until the page shows `item_id` (None: the finished message) and the progress."""
    expect(page.locator("#progress-text")).to_have_text(f"{done} / {total}")
    if item_id is None:
        expect(page.locator("#finished")).to_be_visible()
    else:
        expect(page.locator("#text")).to_have_attribute("data-item-id", item_id)
        expect(page.locator("#text")).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-state", "finished" if item_id is None else "ready")


def pressed(page) -> list[str]:
    return page.eval_on_selector_all(
        '#categories button.cat[aria-pressed="true"]', "buttons => buttons.map(b => b.dataset.key)"
    )


def keys(page, *presses: str) -> None:
    for key in presses:
        page.keyboard.press(key)


def answers(store: LabelStore, labeler: str) -> dict[str, tuple | str]:
    """The labeler's standing answers as the page left them: item -> labels, or "skipped"."""
    frame = store.current_answers(labeler)
    return {r.item_id: "skipped" if r.skipped else r.labels for r in frame.itertuples()}


def test_label_with_keys_skip_undo_and_resume_after_a_reload(browser, server, store):
    page = open_page(browser, f"{server.url}/?labeler=alice")
    at(page, "t0", 0)
    assert page.locator("#text").inner_text() == TITLES[0]
    button = page.locator("button[data-key=celebrity_hype]")
    assert button.locator("kbd").inner_text() == "1" and "明星炒作" in button.inner_text()
    assert page.locator("button[data-key=disinformation] kbd").inner_text() == "="
    keys(page, "1", "3", "3", "3", "=")
    assert pressed(page) == ["celebrity_hype", "vulgar", "disinformation"]
    keys(page, "Enter")
    at(page, "t1", 1)
    assert pressed(page) == [] and answers(store, "alice") == {"t0": ("celebrity_hype", "vulgar", "disinformation")}
    keys(page, "s")
    at(page, "t2", 2)
    keys(page, "2", "Enter")
    at(page, "t3", 3)
    keys(page, "u")  # undo: t2 is back, its choice preselected
    at(page, "t2", 2)
    assert pressed(page) == ["trivial"] and page.locator("#redo").is_visible() and "t2" not in answers(store, "alice")
    keys(page, "2", "-", "Enter")
    at(page, "t3", 3)
    keys(page, "Control+z")
    at(page, "t2", 2)
    keys(page, "Enter")
    at(page, "t3", 3)
    assert answers(store, "alice") == {
        "t0": ("celebrity_hype", "vulgar", "disinformation"),
        "t1": "skipped",
        "t2": ("online_violence",),
    }
    page.reload()
    at(page, "t3", 3)
    page.goto(f"{server.url}/")  # no ?labeler=: the name was remembered
    at(page, "t3", 3)
    assert page.locator("#name").inner_text() == "alice" and page.locator("#who").is_hidden()
    keys(page, "Enter")
    at(page, "t4", 4)
    keys(page, "Enter")
    at(page, "t5", 5)  # a comment: categories for titles and posts only are off
    assert page.locator("button[data-key=celebrity_hype]").is_disabled()
    keys(page, "1", "-", "Enter")
    at(page, None, 6)
    assert page.locator("#finished").inner_text().startswith("全部完成")
    assert answers(store, "alice")["t5"] == ("online_violence",)
    keys(page, "u")
    at(page, "t5", 5)
    assert pressed(page) == ["online_violence"]
    page.context.close()


def test_two_blind_labelers_and_the_adjudicator_settling_their_disagreement(browser, server, store):
    alice = open_page(browser, f"{server.url}/?labeler=alice")
    bob = open_page(browser, f"{server.url}/")
    bob.locator("#name-input").fill("bob")  # no name yet: the page asks
    bob.locator("#name-submit").click()
    at(alice, "t0", 0)
    at(bob, "t0", 0)
    keys(alice, "1", "Enter")
    at(alice, "t1", 1)
    keys(alice, "2", "Enter")
    at(alice, "t2", 2)
    bob.reload()  # alice's answers move nothing on bob's page
    at(bob, "t0", 0)
    assert pressed(bob) == [] and bob.locator("#name").inner_text() == "bob"
    keys(bob, "1", "2", "Enter")
    at(bob, "t1", 1)
    keys(bob, "2", "Enter")
    at(bob, "t2", 2)
    alice.reload()
    at(alice, "t2", 2)
    assert pressed(alice) == [] and pressed(bob) == []
    assert "bob" not in alice.content() and "alice" not in bob.content()
    assert answers(store, "alice") == {"t0": ("celebrity_hype",), "t1": ("trivial",)}
    assert answers(store, "bob") == {"t0": ("celebrity_hype", "trivial"), "t1": ("trivial",)}

    judge = open_page(browser, f"{server.url}/adjudicate?adjudicator=carol")
    card = judge.locator(".disagreement")
    expect(card).to_have_count(1)  # t1 was agreed
    assert card.get_attribute("data-item-id") == "t0" and card.get_attribute("data-settled") == "false"
    assert "明星炒作" in card.locator("li[data-labeler=alice]").inner_text()
    assert "琐碎低价值" in card.locator("li[data-labeler=bob]").inner_text()
    assert card.locator("button[data-key=celebrity_hype]").get_attribute("aria-pressed") == "true"  # both said it
    card.locator("button[data-key=trivial]").click()
    card.locator("button.settle").click()
    expect(card).to_have_attribute("data-settled", "true")
    settled = store.adjudications().set_index("item_id")
    assert settled.loc["t0", "labels"] == ("celebrity_hype", "trivial") and settled.loc["t0", "adjudicator"] == "carol"
    judge.reload()
    expect(judge.locator('.disagreement[data-item-id="t0"]')).to_have_attribute("data-settled", "true")
    for page in (alice, bob, judge):
        page.context.close()


def test_a_one_labeler_server_does_not_ask_for_a_name_nor_adjudicate(browser, store):
    with serving(store, labeler="alice") as server:
        page = open_page(browser, f"{server.url}/?labeler=mallory")
        at(page, "t0", 0)
        assert page.locator("#name").inner_text() == "alice" and page.locator("#change-name").is_hidden()
        keys(page, "4", "Enter")
        at(page, "t1", 1)
        assert answers(store, "alice") == {"t0": ("pornography",)} and answers(store, "mallory") == {}
        page.goto(f"{server.url}/adjudicate?adjudicator=alice")
        expect(page.locator("#adjudicate-off")).to_be_visible()
        page.context.close()


def test_a_killed_server_loses_nothing_saved_and_the_page_resumes(browser, server, store):
    page = open_page(browser, f"{server.url}/?labeler=alice")
    at(page, "t0", 0)
    keys(page, "1", "Enter")
    at(page, "t1", 1)
    keys(page, "s")
    at(page, "t2", 2)
    keys(page, "4", "Enter")
    at(page, "t3", 3)
    server.kill()  # SIGKILL: no shutdown of any kind
    keys(page, "5", "Enter")
    expect(page.locator("#error")).to_be_visible()  # the failed save is shown, the choice kept
    assert "nothing was saved" in page.locator("#error").inner_text()
    assert page.locator("#text").get_attribute("data-item-id") == "t3" and pressed(page) == ["violence"]
    server.start()
    assert answers(store, "alice") == {"t0": ("celebrity_hype",), "t1": "skipped", "t2": ("pornography",)}
    keys(page, "Enter")  # the same save again, now the server is back
    at(page, "t4", 4)
    expect(page.locator("#error")).to_be_hidden()
    server.kill()
    server.start()
    page.reload()
    at(page, "t4", 4)
    assert answers(store, "alice")["t3"] == ("violence",) and len(answers(store, "alice")) == 4
    page.context.close()
