"""Task derivers: ordering, options, late additions, introspection."""

import dataclasses

from pyramid.exceptions import ConfigurationConflictError, ConfigurationError
import pytest

from pyramid_tasks import INGRESS, TASK


def echo(request, value):
    return [value]


def tagger(tag):
    def deriver(task, info):
        def wrapper(request, *args, **kwargs):
            return [tag, *task(request, *args, **kwargs)]

        return wrapper

    deriver.__name__ = tag
    return deriver


def run(config, *args):
    app = config.make_celery_app()
    return app.tasks["echo"].apply(args).get()


def test_a_deriver_wraps_every_task(config):
    config.add_task_deriver(tagger("outer"))
    config.register_task(echo, name="echo")
    assert run(config, 1) == ["outer", 1]


def test_a_deriver_added_after_the_task_still_applies(config):
    config.register_task(echo, name="echo")
    config.add_task_deriver(tagger("late"))
    assert run(config, 1) == ["late", 1]


def test_a_deriver_added_after_commit_still_applies(config):
    config.register_task(echo, name="echo")
    config.commit()
    app = config.registry.celery_app

    def plain_task():
        return "plain"

    plain = app.task(name="plain", shared=False, lazy=False)(plain_task)
    config.add_task_deriver(tagger("later"))
    assert run(config, 1) == ["later", 1]
    # A plain Celery task of the app is not ours to derive.
    assert not hasattr(plain, "derived_func")
    assert plain.apply().get() == "plain"


def test_under_and_over_order_derivers(config):
    config.add_task_deriver(tagger("a"))
    config.add_task_deriver(tagger("b"), over="a")
    config.add_task_deriver(tagger("c"), under="a")
    config.register_task(echo, name="echo")
    assert run(config, 0) == ["b", "a", "c", 0]
    task = config.registry.celery_app.tasks["echo"]
    assert task.derivers == ["b", "a", "c"]


def test_info_describes_the_task(config):
    seen = {}

    def inspector(task, info):
        seen.update(
            (f.name, getattr(info, f.name)) for f in dataclasses.fields(info)
        )
        return task

    config.add_task_deriver(inspector)
    config.register_task(echo, name="echo", custom=1)
    config.commit()
    assert seen["name"] == "echo"
    assert seen["options"] == {"custom": 1}
    assert seen["original_func"] is echo
    assert seen["registry"] is config.registry
    assert seen["package"] is config.package
    assert seen["settings"] is config.registry.settings
    assert config.registry.celery_app.tasks["echo"].derivers == []


def test_a_deriver_reads_its_own_option(config):
    def only_marked(task, info):
        if not info.options.get("marked"):
            return task
        return tagger("marked")(task, info)

    config.add_task_deriver(only_marked)
    config.register_task(echo, name="echo", marked=True)
    config.register_task(echo, name="plain")
    app = config.make_celery_app()
    assert app.tasks["echo"].apply((1,)).get() == ["marked", 1]
    assert app.tasks["plain"].apply((1,)).get() == [1]


def test_two_derivers_with_one_name_conflict(config):
    config.add_task_deriver(tagger("x"))
    config.add_task_deriver(tagger("x"))
    with pytest.raises(ConfigurationConflictError):
        config.commit()


def test_derivers_are_introspectable(config):
    deriver = tagger("x")
    config.add_task_deriver(deriver, under=INGRESS, over=TASK)
    config.commit()
    intr = config.registry.introspector.get("task derivers", "x")
    assert intr["deriver"] is deriver
    assert intr.type_name == "task deriver"


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        ((42,), {}, "not callable"),
        ((lambda t, i: t,), {}, "name="),
        ((tagger("x"),), {"name": INGRESS}, "reserved"),
        ((tagger("x"),), {"over": INGRESS}, "over INGRESS"),
        ((tagger("x"),), {"under": TASK}, "under TASK"),
    ],
)
def test_bad_derivers_raise_configuration_error(config, args, kwargs, words):
    with pytest.raises(ConfigurationError, match=words):
        config.add_task_deriver(*args, **kwargs)
