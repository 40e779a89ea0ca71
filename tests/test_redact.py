"""Secrets never reach our messages, logs or tool output."""

from __future__ import annotations

import pytest

from pyramid_tasks.redact import mask_setting, redact_urls


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


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        (
            "broker_url",
            "amqp://u:pw@a//;amqp://u:pw@b//",
            "amqp://u:**@a//;amqp://u:**@b//",
        ),
        ("security_key", "key.pem", "********"),
        ("broker_password", None, None),
        ("aws_credentials", "AKIA", "********"),
        ("task_default_routing_key", "k", "k"),
        (
            "broker_transport_options",
            {"sentinel_password": "pw", "global_keyprefix": "p:"},
            {"sentinel_password": "********", "global_keyprefix": "p:"},
        ),
        ("x", ["redis://:pw@h/0"], ["redis://:**@h/0"]),
        ("x", ("a",), ("a",)),
        ("x", 5, 5),
    ],
)
def test_secrets_are_masked_by_name_and_in_urls(key, value, shown):
    assert mask_setting(key, value) == shown


def test_task_arguments_are_masked_by_name_at_any_depth():
    from pyramid_tasks.redact import mask_argument

    assert mask_argument("password", "x") == "********"
    assert mask_argument("password", "") == ""
    assert mask_argument("user", {"name": "ann", "api_key": "k"}) == {
        "name": "ann",
        "api_key": "********",
    }
    assert mask_argument("routing_key", "mail") == "mail"
    assert mask_argument(
        "urls", ["redis://:pw@h/0", ("see amqp://u:p@h//",)]
    ) == [
        "redis://:**@h/0",
        ("see amqp://u:**@h//",),
    ]
    assert mask_argument("count", 3) == 3


def test_short_reprs_are_cut_with_an_ellipsis():
    from pyramid_tasks.redact import short_repr

    assert short_repr([1, 2]) == "[1, 2]"
    text = short_repr("x" * 1000, 50)
    assert len(text) == 50 and text.endswith("\N{HORIZONTAL ELLIPSIS}")
    assert short_repr(list(range(100))).endswith(", ...]")
