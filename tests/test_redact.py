"""Passwords in URLs never reach our messages or logs."""

from __future__ import annotations

import logging

import pytest

from pyramid_tasks.cli import IniError, load_celery_app
from pyramid_tasks.delivery import CommitBatch, _Deferred
from pyramid_tasks.redact import redact_urls
from pyramid_tasks.result import WAITING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cannot reach redis://:hunter2@db:6379/0 now",
            "cannot reach redis://:**@db:6379/0 now",
        ),
        (
            "URL 'amqp://guest:hunter2@mq:5672//' refused",
            "URL 'amqp://guest:**@mq:5672//' refused",
        ),
        ("odd://u:hunter2@", "odd://u:**@/"),
        ("http://example.com/a:b and redis://u@h/0", None),
    ],
)
def test_redact_urls_masks_only_passwords(text, expected):
    assert redact_urls(text) == (text if expected is None else expected)


def test_redact_urls_masks_what_kombu_cannot_parse():
    assert redact_urls("x://u:hunter2@[bad") == "x://u:**@[bad"


def test_ini_load_errors_do_not_show_passwords(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = egg:nothing\n")

    def get_app(config_uri, options=None):
        raise ValueError("cannot connect to redis://:hunter2@db:6379/0")

    with pytest.raises(IniError) as info:
        load_celery_app(str(ini), get_app=get_app)

    assert "hunter2" not in info.value.message
    assert "redis://:**@db:6379/0" in info.value.message


def test_bad_ini_vars_do_not_show_passwords(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\nuse = egg:nothing\n")

    with pytest.raises(IniError) as info:
        load_celery_app(str(ini), ["amqp://u:hunter2@mq//"])

    assert "hunter2" not in info.value.message


class FailingTask:
    name = "failing"

    def apply_async(self, *args, **kwargs):
        raise RuntimeError("backend redis://:hunter2@db:6379/1 is gone")


def test_publish_failures_are_logged_without_passwords(make_app, caplog):
    _, celery_app = make_app()
    batch = CommitBatch(celery_app)
    result = celery_app.AsyncResult("tid")
    result.delivery = WAITING
    batch.entries.append(_Deferred(FailingTask(), (), {}, {}, result))

    with caplog.at_level(logging.ERROR, logger="pyramid_tasks.delivery"):
        batch.publish()

    assert "was not published" in caplog.text
    assert "hunter2" not in caplog.text
    assert "redis://:**@db:6379/1" in caplog.text
