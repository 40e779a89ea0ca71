"""The ledger's page at ``/``: append values, start a total, watch it.

The page is plain HTML. Starting a total answers the page again with a
progress bar bound to the task's status URL (``request.task_status_url``);
pyramid_tasks' ``progress.js`` polls that URL, moves the bar while the
task reports its steps, and puts the total in ``<output id="total">``.
"""

from html import escape

from sqlalchemy import func, select

from .models import Entry
from .tasks import total_task

SCRIPT = "pyramid_tasks:static/progress.js"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ledger</title>
<script src="{script}" defer></script>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto;
       max-width: 36rem; padding: 0 1rem; color: #222; }}
form {{ display: flex; gap: .5rem; align-items: end; margin: 1rem 0; }}
label {{ display: flex; flex-direction: column; font-size: .9rem; }}
input, button {{ font: inherit; padding: .3rem .5rem; }}
.message {{ color: #555; }}
.error {{ color: #a00; }}
[role="progressbar"] {{ margin-top: 1.5rem; padding: .4rem .6rem;
  border: 1px solid #888; border-radius: .3rem;
  background: linear-gradient(to right, #9cd7a8 var(--task-progress, 0%),
                              #f4f4f4 var(--task-progress, 0%)); }}
[data-task-state="failure"] {{ background: #f6c6c6; }}
output {{ font-weight: bold; font-size: 1.4rem; }}
</style>
</head>
<body>
<h1>Ledger</h1>
<p class="{kind}">{message}</p>
<form method="post" action="{home}">
  <label>Value <input name="value" type="number" required></label>
  <button name="action" value="append">Append</button>
</form>
<form method="post" action="{home}">
  <label>Delay (seconds)
    <input name="delay" type="number" value="2" min="0" max="60" step="0.1">
  </label>
  <button name="action" value="total">Start a total</button>
</form>
{watch}
<p>Total: <output id="total"></output></p>
</body>
</html>
"""

WATCH = """<div id="progress" role="progressbar" aria-label="Total"
     aria-valuemin="0" aria-valuemax="100" aria-valuenow="0"
     data-task-status="{url}" data-task-result="#total">
  <span data-task-text>Sent to the worker</span>
</div>"""


def home(request, message=None, kind="message", watch=""):
    """The page; ``watch`` is the progress bar of a total just started."""
    if message is None:
        count = request.dbsession.scalar(select(func.count(Entry.id)))
        message = f"The ledger holds {count} values."
    request.response.text = PAGE.format(
        script=escape(request.static_path(SCRIPT)),
        home=escape(request.route_path("home")),
        message=escape(message),
        kind=kind,
        watch=watch,
    )
    return request.response


def act(request):
    """Append a value, or start a total and watch it."""
    if request.POST.get("action") == "total":
        return _start_total(request)
    try:
        value = int(request.POST.get("value", ""))
    except ValueError:
        request.response.status = 400
        return home(request, "The value must be an integer.", "error")
    request.dbsession.add(Entry(value=value))
    return home(request, f"Appended {value}.")


def _start_total(request):
    try:
        delay = float(request.POST.get("delay", "0"))
    except ValueError:
        delay = -1.0
    if not 0 <= delay <= 60:
        request.response.status = 400
        return home(request, "The delay must be 0 to 60 seconds.", "error")
    handle = request.delay_task(total_task, delay)
    url = request.task_status_url(handle)
    return home(
        request,
        f"Total started, in {delay:g} s.",
        watch=WATCH.format(url=escape(url)),
    )


def includeme(config):
    config.add_route("home", "/")
    config.add_view(home, route_name="home", request_method="GET")
    config.add_view(act, route_name="home", request_method="POST")
