"""The ledger's views: append, total, result and totals."""

from pyramid.httpexceptions import HTTPBadRequest
from sqlalchemy import select

from .models import Entry, Total
from .tasks import total_task


def bad_request(message):
    """A 400 response with a plain-text message."""
    return HTTPBadRequest(text=f"{message}\n", content_type="text/plain")


def append(request):
    """Append a value to the ledger."""
    try:
        value = int(request.params["value"])
    except KeyError:
        raise bad_request("Must include `value`.") from None
    except ValueError:
        raise bad_request("`value` must be an integer.") from None
    request.dbsession.add(Entry(value=value))
    return "Done.\n"


def total(request):
    """Queue a task totalling the ledger; return its id.

    The task is sent when this request's transaction commits, so it sees
    everything the request wrote.
    """
    try:
        delay = float(request.params.get("delay", "0"))
    except ValueError:
        raise bad_request("`delay` must be a number.") from None
    if not 0 <= delay <= 60:
        raise bad_request("`delay` must be between 0 and 60.")
    handle = request.delay_task(total_task, delay)
    return f"{handle.id}\n"


def result(request):
    """Return the total computed by a task, or ``Pending...``."""
    try:
        task_id = request.params["id"]
    except KeyError:
        raise bad_request("Must include `id`.") from None
    handle = request.get_task_result(task_id)
    if handle.ready():
        return f"{handle.result}\n"
    return "Pending...\n"


def totals(request):
    """The totals recorded by the task, newest first."""
    rows = request.dbsession.scalars(select(Total).order_by(Total.id.desc()))
    return [{"task_id": row.task_id, "total": row.value} for row in rows]


def includeme(config):
    for name, view, renderer in (
        ("append", append, "string"),
        ("total", total, "string"),
        ("result", result, "string"),
        ("totals", totals, "json"),
    ):
        config.add_route(name, f"/{name}")
        config.add_view(view, route_name=name, renderer=renderer)
