"""Workflows: signatures, chains, groups and chords, deferred as one."""

from celery import chain, chord, group, signature
from celery.canvas import Signature, xstarmap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError
import pytest

from pyramid_tasks import (
    DeferError,
    DeferredTaskPublishFailed,
    TaskArgumentsError,
    TaskDeferred,
    TaskGroupResult,
    TaskPublishError,
    TaskResult,
    TaskSerializationError,
    UnknownTaskError,
    WorkflowError,
)
from pyramid_tasks.testing import capture_tasks, make_tasks_app, worker_thread
from pyramid_tasks.web.canvas import members
from pyramid_tasks.web.states import DROPPED, FAILED, SENT, WAITING

from services import in_transaction, queued


def add(request, x, y):
    return x + y


def mul(request, x, y):
    return x * y


def total(request, values):
    return sum(values)


def where(request, *parents):
    """What a task of a workflow sees: its link, its id."""
    return [request.route_url("home"), request.current_task.request.id]


def setup(config):
    config.add_route("home", "/home")
    for func in (add, mul, total, where):
        config.register_task(func, name=func.__name__)


@pytest.fixture
def app():
    return make_tasks_app(setup)


def view_request(app):
    """A request from a browser on shop.example."""
    return app.make_request("/", HTTP_HOST="shop.example:8080")


def handles_of(result):
    """The handles of a workflow, first task first."""
    found = []
    while result is not None:
        found[:0] = result.results if hasattr(result, "results") else [result]
        result = result.parent
    return found


def test_task_signature_is_a_celery_signature_checked_as_far_as_it_can(app):
    request = app.make_request()
    partial = request.task_signature(add, 1)
    assert isinstance(partial, Signature) and partial.task == "add"
    assert partial.app is app.celery_app
    assert request.task_signature("add", 1, 2).args == (1, 2)
    with pytest.raises(TaskArgumentsError, match="too many positional"):
        request.task_signature(add, 1, 2, 3)
    with pytest.raises(TaskArgumentsError, match="unexpected keyword"):
        request.task_signature("add", z=1)
    with pytest.raises(UnknownTaskError, match="did you mean 'add'"):
        request.task_signature("ad")


def test_each_form_returns_its_handle_with_the_ids_that_run(app):
    request = view_request(app)
    sig = request.task_signature
    with worker_thread(app.celery_app):
        single = request.defer_task(sig(add, 1, 2))
        assert isinstance(single, TaskResult) and single.delivery == SENT
        assert single.get(timeout=10) == 3

        last = request.defer_task(sig(add, 1, 2) | sig(mul, 10) | sig(add, 5))
        assert last.get(timeout=10) == 35
        assert [h.get(timeout=10) for h in handles_of(last)] == [3, 30, 35]

        several = request.defer_task(group(sig(add, 1, 1), sig(mul, 2, 3)))
        assert isinstance(several, TaskGroupResult)
        assert several.result(timeout=10) == [2, 6]
        assert several.done() and [f.done() for f in several.futures]

        body = request.defer_task(
            chord([sig(add, 1, 1), sig(add, 2, 2)], sig(total))
        )
        assert body.get(timeout=10) == 6
        assert [h.get(timeout=10) for h in body.parent.results] == [2, 4]


def test_the_request_context_and_the_given_ids_reach_every_task(app):
    request = view_request(app)
    sig = request.task_signature
    flow = chord([sig(where), sig(where)], sig(where) | sig(where)) | group(
        sig(where), sig(where)
    )
    with worker_thread(app.celery_app):
        result = request.defer_task(flow)
        seen = [h.get(timeout=10) for h in handles_of(result)]
    assert len(seen) == 6
    for handle, (url, task_id) in zip(handles_of(result), seen, strict=True):
        assert url == "http://shop.example:8080/home"
        assert task_id == handle.id


def test_in_a_transaction_the_workflow_waits_and_goes_out_whole(app):
    request = view_request(app)
    sig = request.task_signature
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            result = request.defer_task(sig(add, 1, 2) | sig(mul, 3))
            handles = handles_of(result)
            assert [h.delivery for h in handles] == [WAITING, WAITING]
            assert [r.place for r in captured] == ["chain[0]", "chain[1]"]
            assert [r.published for r in captured] == [False, False]
        assert [h.delivery for h in handles] == [SENT, SENT]
        # Celery publishes the chain's first task; the next one follows
        # when it is done, with its result.
        assert [r.published for r in captured] == [True, False]
        assert captured.run_all() == [3, 9]
    assert [r.id for r in captured] == [h.id for h in handles]
    assert result.get(timeout=1) == 9


@pytest.mark.parametrize("end", ["abort", "doom"])
def test_an_aborted_transaction_sends_no_task_of_the_workflow(app, end):
    request = view_request(app)
    sig = request.task_signature
    manager = in_transaction(request, explicit=True)
    manager.begin()
    result = request.defer_task(
        chord([sig(add, 1, 1), sig(add, 2, 2)], sig(total))
    )
    if end == "doom":
        manager.doom()
    manager.abort()
    assert {h.delivery for h in handles_of(result)} == {DROPPED}
    assert queued(app.celery_app) == 0


def test_cancelling_one_handle_of_a_waiting_workflow_drops_all(app):
    request = view_request(app)
    sig = request.task_signature
    with capture_tasks(app.celery_app) as captured:
        with in_transaction(request):
            result = request.defer_task(group(sig(add, 1, 1), sig(add, 2, 2)))
            assert result.results[1].cancel() is True
        assert {h.delivery for h in result.results} == {DROPPED}
        assert not any(r.published for r in captured)


@pytest.mark.parametrize(
    ("flow", "error", "words"),
    [
        (
            lambda s: s(add, 1, 2) | signature("ad"),
            UnknownTaskError,
            "'ad'; did you mean 'add'? (at chain[1], which gets the result",
        ),
        (
            lambda s: s(add, 1, 2) | s(mul, 3, 4),
            TaskArgumentsError,
            "too many positional arguments (the task takes (x, y)) "
            "(at chain[1], which gets the result",
        ),
        (
            lambda s: group(s(add, 1, 2), s(add, 1, object())),
            TaskSerializationError,
            "argument 'y' cannot be serialized with json",
        ),
        (
            lambda s: chord([s(add, 1, 2)], s(add, 1, 2)),
            TaskArgumentsError,
            "(at chord body, which gets the result",
        ),
        (
            lambda s: s(add, 1, 2).set(countdown="soon"),
            DeferError,
            "option countdown='soon' is invalid",
        ),
        (
            lambda s: s(add, 1, 2).set(link=s(mul, 1, 2)),
            TaskArgumentsError,
            "(at link[0], which gets the result",
        ),
        (
            lambda s: s(add, 1, 2).set(link_error=signature("nope")),
            UnknownTaskError,
            "(at link_error[0]",
        ),
        (
            lambda s: xstarmap(s(add), [(1, 2)]),
            WorkflowError,
            "celery.starmap runs every item inside one Celery task",
        ),
        (lambda s: group([]), WorkflowError, "has no task"),
    ],
)
def test_a_workflow_with_one_bad_task_sends_nothing(app, flow, error, words):
    request = view_request(app)
    canvas = flow(request.task_signature)
    with pytest.raises(error) as info:
        request.defer_task(canvas)
    assert words in str(info.value)
    assert queued(app.celery_app) == 0


def test_a_workflow_takes_no_arguments_of_its_own(app):
    request = app.make_request()
    with pytest.raises(WorkflowError, match="give them to its signatures"):
        request.defer_task(request.task_signature(add, 1), 2)


def test_immutable_signatures_get_no_result_and_are_checked_in_full(app):
    request = view_request(app)
    tasks = app.celery_app.tasks
    with worker_thread(app.celery_app):
        flow = tasks["add"].si(1, 2) | tasks["mul"].si(3, 4)
        assert request.defer_task(flow).get(timeout=10) == 12
    with pytest.raises(TaskArgumentsError, match=r"\(at chain\[1\]\)"):
        request.defer_task(tasks["add"].si(1, 2) | tasks["mul"].si(3))


def test_options_for_the_whole_workflow_are_checked_and_applied(app):
    request = view_request(app)
    sig = request.task_signature
    with pytest.raises(DeferError, match="priority=300"):
        request.defer_task_with_options(sig(add, 1, 2), priority=300)
    with capture_tasks(app.celery_app) as captured:
        request.defer_task_with_options(
            group(sig(add, 1, 2), sig(add, 3, 4)), queue="slow"
        )
    assert [r.options["queue"] for r in captured] == ["slow", "slow"]


def test_every_task_of_a_workflow_is_announced(app):
    deferred = []
    app.config.add_subscriber(deferred.append, TaskDeferred)
    app.config.commit()
    request = view_request(app)
    sig = request.task_signature
    with capture_tasks(app.celery_app):
        result = request.defer_task(sig(add, 1, 2) | sig(mul, 2))
    assert [(e.task_name, e.after_commit) for e in deferred] == [
        ("add", False),
        ("mul", False),
    ]
    assert [e.task_id for e in deferred] == [h.id for h in handles_of(result)]
    assert [(e.args, e.kwargs) for e in deferred] == [((1, 2), {}), ((2,), {})]


def test_the_members_of_a_workflow_have_their_places():
    flow = chain(
        signature("a").set(link=signature("l"), link_error=signature("le")),
        chord(
            [signature("b"), signature("c").set(immutable=True)],
            signature("d"),
        ),
    )
    found = [
        (m.signature.task, m.place, m.gets_result, m.errback)
        for m in members(flow)
    ]
    assert found == [
        ("a", "chain[0]", False, False),
        ("l", "chain[0]/link[0]", True, False),
        ("le", "chain[0]/link_error[0]", True, True),
        ("b", "chain[1]/chord header[0]", True, False),
        ("c", "chain[1]/chord header[1]", False, False),
        ("d", "chain[1]/chord body", True, False),
    ]
    nested = group(chain(signature("e"), signature("f")))
    assert [m.place for m in members(nested)] == [
        "group[0]/chain[0]",
        "group[0]/chain[1]",
    ]


# -- Anything else is sent whole, or a named error that sends nothing -------

LEAVES = st.sampled_from(["add", "mul", "total", "where", "nope"])
ARGS = st.lists(
    st.one_of(st.integers(), st.text(max_size=2), st.just(object())),
    max_size=3,
)


def _signatures(draw_leaf):
    return st.builds(
        lambda name, args, immutable: signature(
            name, args=tuple(args), immutable=immutable
        ),
        draw_leaf,
        ARGS,
        st.booleans(),
    )


CANVASES = st.recursive(
    _signatures(LEAVES),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda t: chain(*t)),
        st.lists(inner, min_size=0, max_size=3).map(group),
        st.tuples(st.lists(inner, min_size=1, max_size=2), inner).map(
            lambda t: chord(*t)
        ),
    ),
    max_leaves=6,
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(canvas=CANVASES)
def test_any_workflow_is_sent_whole_or_a_named_error_sending_nothing(canvas):
    app = FUZZ_APP
    request = view_request(app)
    with capture_tasks(app.celery_app) as captured:
        try:
            result = request.defer_task(canvas)
        except DeferError:
            assert not any(record.published for record in captured)
            return
    assert isinstance(result, TaskResult | TaskGroupResult)
    assert any(record.published for record in captured)
    assert {r.result.delivery for r in captured} == {SENT}


FUZZ_APP = make_tasks_app(setup)


def untyped(request, *anything):
    return len(anything)


def test_untyped_tasks_and_error_callbacks_take_what_celery_gives(app):
    app.config.register_task(untyped, name="untyped", typing=False)
    app.config.commit()
    request = view_request(app)
    sig = request.task_signature
    flow = sig(add, 1, 2).set(link_error=sig(untyped)) | sig(untyped, 1, 2)
    with capture_tasks(app.celery_app) as captured:
        request.defer_task(flow)
        assert captured.run_all() == [3, 3]
    assert [r.place for r in captured] == [
        "chain[0]",
        "chain[0]/link_error[0]",
        "chain[1]",
    ]


def test_callbacks_of_a_captured_workflow_run_with_the_parent_result(app):
    request = view_request(app)
    sig = request.task_signature
    flow = group(sig(add, 1, 2).set(link=[sig(mul, 10)]), sig(add, 3, 4))
    with capture_tasks(app.celery_app) as captured:
        request.defer_task(flow)
        # The callback runs once its parent is done, before the next.
        assert captured.run_all() == [3, 30, 7]
    callback = captured[1]
    assert (callback.place, callback.args) == ("group[0]/link[0]", (3, 10))


def test_a_chord_runs_in_the_testing_kit_and_inline(app):
    request = view_request(app)
    sig = request.task_signature
    flow = chord([sig(add, 1, 1), sig(add, 2, 2)], sig(total))
    with capture_tasks(app.celery_app) as captured:
        body = request.defer_task(flow)
        assert captured.run_all() == [2, 4, 6]
    assert body.get(timeout=1) == 6
    with capture_tasks(app.celery_app, inline=True) as inline:
        with in_transaction(request):
            body = request.defer_task(flow)
            assert not any(r.outcome for r in inline)
        assert [r.outcome.result for r in inline] == [2, 4, 6]


def test_a_chain_called_directly_runs_in_order_in_the_testing_kit(app):
    tasks = app.celery_app.tasks
    with capture_tasks(app.celery_app) as captured:
        last = (tasks["add"].s(1, 2) | tasks["mul"].s(5)).delay()
        assert len(captured) == 1  # Celery publishes the next one later
        assert captured.run_all() == [3, 15]
    assert last.get(timeout=1) == 15


def test_nothing_to_carry_leaves_the_workflow_alone():
    app = make_tasks_app(setup, **{"pyramid_tasks.propagate_url": "false"})
    request = view_request(app)
    with capture_tasks(app.celery_app) as captured:
        request.defer_task(request.task_signature(add, 1, 2))
    assert "headers" not in captured[0].options


def test_a_workflow_that_cannot_reach_the_broker_names_its_first_task():
    app = make_tasks_app(
        setup,
        **{
            "celery.broker_url": "redis://127.0.0.1:1/0",
            "celery.broker_connection_timeout": "0.1",
            "celery.task_publish_retry_policy": '{"max_retries": 0}',
        },
    )
    request = app.make_request()
    sig = request.task_signature
    with pytest.raises(TaskPublishError, match="Task 'add' could not be sent"):
        request.defer_task(sig(add, 1, 2) | sig(mul, 2))


def test_a_workflow_half_sent_when_the_broker_fails_says_which_half(app):
    failures = []
    app.config.add_subscriber(failures.append, DeferredTaskPublishFailed)
    app.config.commit()
    task = app.celery_app.tasks["add"]
    real = task.apply_async

    def apply_async(args=None, kwargs=None, **options):
        if tuple(args or ()) == (3, 4):
            raise OperationalError("broker gone")
        return real(args, kwargs, **options)

    task.apply_async = apply_async
    request = view_request(app)
    sig = request.task_signature
    with in_transaction(request):
        result = request.defer_task(group(sig(add, 1, 2), sig(add, 3, 4)))
    assert [h.delivery for h in result.results] == [SENT, FAILED]
    assert [f.task_id for f in failures] == [result.results[1].id]
    assert queued(app.celery_app) == 1


def test_an_untyped_task_gives_any_signature(app):
    app.config.register_task(untyped, name="untyped", typing=False)
    app.config.commit()
    request = app.make_request()
    assert request.task_signature("untyped", 1, 2, 3).args == (1, 2, 3)
