"""The SQLAlchemy ledger's page in a real headless Chromium.

Real ``pserve`` and a real ``celery -A pyramid_tasks worker --ini``
serve the page on SQLite; Debian's Chromium, driven by Selenium through
Debian's chromedriver (nothing is downloaded), appends two values,
starts a total with a delay, watches the progress bar go from 0 to 100
while the task reports its steps, and reads the total. The screenshot
goes to the test's directory, and also to ``PYRAMID_TASKS_SCREENSHOT``
when set (that is how the README's picture is made).
"""

from __future__ import annotations

import os
import shutil
import time

from e2e_support import (
    EXAMPLES,
    WORKER_FLAGS,
    celery,
    example_env,
    ini_copy,
    processes,
    pserve,
    wait_for_http,
)
import pytest

import services

CONFIG = EXAMPLES / "sqlalchemy_ledger" / "config.ini"


@pytest.fixture
def browser(tmp_path):
    with services.chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def page(tmp_path):
    """The ledger served by pserve, with a worker, on SQLite."""
    port = services.free_port()
    database = f"sqlite:///{tmp_path}/ledger.sqlite"
    ini = ini_copy(CONFIG, tmp_path, port, **{"sqlalchemy.url": database})
    env = example_env()
    with processes(tmp_path) as started:
        web = started.start("web", pserve(ini), env)
        worker = started.start(
            "worker",
            celery("-A", "pyramid_tasks", "worker", "--ini", ini)
            + ["-l", "INFO", "-c", "1", *WORKER_FLAGS],
            env,
        )
        base = f"http://127.0.0.1:{port}"
        wait_for_http(base + "/", web)
        worker.wait_for_output(" ready.")
        yield base


def test_the_page_shows_the_totals_progress_then_the_total(
    browser, page, tmp_path
):
    from selenium.webdriver.common.by import By

    browser.get(page + "/")
    assert "The ledger holds 0 values." in browser.page_source
    for value in ("10", "32"):
        browser.find_element(By.NAME, "value").send_keys(value)
        browser.find_element(By.CSS_SELECTOR, "button[value=append]").click()
        text = f"Appended {value}."
        _until(lambda text=text: text in browser.page_source)
    delay = browser.find_element(By.NAME, "delay")
    delay.clear()
    delay.send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "button[value=total]").click()
    started = time.monotonic()

    bar = _until(lambda: browser.find_element(By.ID, "progress"))
    seen = []
    total = browser.find_element(By.ID, "total")
    while not (seen and seen[-1] == "100" and total.text):
        value = bar.get_attribute("aria-valuenow")
        if not seen or value != seen[-1]:
            seen.append(value)
        assert time.monotonic() - started < 30, seen
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    assert total.text == "42"
    # The bar moved through the task's steps, never backwards.
    numbers = [int(value) for value in seen if value is not None]
    assert numbers == sorted(numbers)
    assert numbers[0] == 0 and numbers[-1] == 100
    assert len([n for n in numbers if 0 < n < 100]) >= 3, seen
    assert bar.get_attribute("data-task-state") == "success"
    assert bar.text == "Done"
    polls = int(bar.get_attribute("data-task-polls"))
    print(f"bar values {seen}; {polls} polls; done after {elapsed:.2f} s")

    screenshot = tmp_path / "demo-progress.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    keep = os.environ.get("PYRAMID_TASKS_SCREENSHOT")
    if keep:
        shutil.copyfile(screenshot, keep)


def _until(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except Exception:
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
