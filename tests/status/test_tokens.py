"""Status tokens: HMAC-SHA256 of the task id, rotating secrets."""

import pytest

from pyramid_tasks.status import StatusTokens
from pyramid_tasks.status.tokens import TOKEN_PATTERN


def test_a_token_verifies_for_its_task_only():
    tokens = StatusTokens([b"secret"])
    token = tokens.sign("task-1")
    assert tokens.verify("task-1", token) is False
    assert tokens.verify("task-2", token) is None


def test_a_token_says_whether_the_result_may_be_shown():
    tokens = StatusTokens([b"secret"])
    shown = tokens.sign("task-1", show_result=True)
    assert shown != tokens.sign("task-1")
    assert tokens.verify("task-1", shown) is True


def test_tokens_have_the_routes_shape():
    import re

    token = StatusTokens([b"secret"]).sign("task-\N{SNOWMAN}")
    assert re.fullmatch(TOKEN_PATTERN, token)


def test_the_first_secret_signs_and_all_verify():
    old = StatusTokens([b"old"])
    rotated = StatusTokens([b"new", b"old"])
    assert rotated.verify("t", old.sign("t")) is False
    assert rotated.sign("t") == StatusTokens([b"new"]).sign("t")
    assert StatusTokens([b"other"]).verify("t", rotated.sign("t")) is None


def test_a_tampered_or_foreign_token_is_refused():
    tokens = StatusTokens([b"secret"])
    token = tokens.sign("t")
    assert tokens.verify("t", token[:-1] + "x") is None
    assert tokens.verify("t", "\N{SNOWMAN}" * 43) is None
    assert tokens.verify("t", "") is None


def test_tokens_need_a_secret():
    with pytest.raises(ValueError, match="at least one secret"):
        StatusTokens([])
