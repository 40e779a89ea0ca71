/*
 * pyramid_tasks: live task progress in a page, from a task status URL.
 *
 * Markup (no build step, no framework):
 *
 *   <div role="progressbar" data-task-status="STATUS URL"
 *        data-task-result="#total"
 *        aria-valuemin="0" aria-valuemax="100" aria-valuenow="0">0%</div>
 *   <output id="total"></output>
 *   <script src="PATH/progress.js" defer></script>
 *
 * Every element with role="progressbar" and data-task-status is watched
 * when the page loads; call pyramidTasks.watch(element) for one added
 * later. Each answer of the status view updates:
 *
 * - aria-valuenow (0 to 100, left as it is until the task reports
 *   progress, removed while it reports no total, as an indeterminate
 *   progress bar has none; 100 on success), the CSS property
 *   --task-progress ("40%") and data-task-state (the state);
 * - the text: of the element's [data-task-text] child if it has one,
 *   else of the element; aria-valuetext says the same;
 * - on success, the element data-task-result selects gets the result
 *   (when the view shows it);
 * - a "task-status" event (bubbling) carries the answer in its detail.
 *
 * It polls: 250 ms after an answer that changed something, twice as long
 * after one that did not, up to 4 s (data-task-poll-min and
 * data-task-poll-max, in ms, change these), and stops at a final state.
 */
(function () {
  "use strict";

  const FINAL = ["success", "failure", "revoked", "dropped", "not_sent"];
  const LABELS = {
    queued: "Waiting in the queue",
    stored: "Stored, to be sent",
    started: "Started",
    progress: "Working",
    retry: "Retrying",
    success: "Done",
    failure: "Failed",
    revoked: "Cancelled",
    dropped: "Not sent",
    not_sent: "Not sent",
    unknown: "Unknown task",
  };

  // 0 to 100; null when the task reports no total (indeterminate);
  // undefined when the answer says nothing new about how far it is.
  function percent(status) {
    if (status.state === "success") {
      return 100;
    }
    const progress = status.progress;
    if (!progress) {
      return undefined;
    }
    if (!progress.total || typeof progress.done !== "number") {
      return null;
    }
    const ratio = Math.min(1, Math.max(0, progress.done / progress.total));
    return Math.round(ratio * 100);
  }

  function label(status, now) {
    if (status.error) {
      return status.error;
    }
    const message = status.progress && status.progress.message;
    const words = message || LABELS[status.state] || status.state;
    if (now === null || now === undefined || status.state === "success") {
      return words;
    }
    return now + "% \u00b7 " + words;
  }

  function show(element, status) {
    const now = percent(status);
    element.setAttribute("data-task-state", status.state);
    if (now === null) {
      element.removeAttribute("aria-valuenow");
    } else if (now !== undefined) {
      element.setAttribute("aria-valuenow", String(now));
      element.style.setProperty("--task-progress", now + "%");
    }
    const text = label(status, now);
    element.setAttribute("aria-valuetext", text);
    (element.querySelector("[data-task-text]") || element).textContent = text;
    const selector = element.getAttribute("data-task-result");
    if (status.state === "success" && "result" in status && selector) {
      const target = document.querySelector(selector);
      if (target) {
        const result = status.result;
        target.textContent =
          typeof result === "string" ? result : JSON.stringify(result);
      }
    }
    element.dispatchEvent(
      new CustomEvent("task-status", { detail: status, bubbles: true })
    );
  }

  function number(element, name, fallback) {
    const value = parseInt(element.getAttribute(name), 10);
    return value > 0 ? value : fallback;
  }

  function watch(element) {
    if (element.pyramidTasksWatched) {
      return;
    }
    element.pyramidTasksWatched = true;
    const url = element.getAttribute("data-task-status");
    const first = number(element, "data-task-poll-min", 250);
    const longest = number(element, "data-task-poll-max", 4000);
    let delay = first;
    let last = null;
    let polls = 0;

    function again(changed) {
      delay = changed ? first : Math.min(delay * 2, longest);
      window.setTimeout(poll, delay);
    }

    function answered(response) {
      if (response.ok) {
        return response.json();
      }
      if (response.status >= 400 && response.status < 500 &&
          response.status !== 429) {
        // A bad or revoked URL, or no permission: asking again will not
        // change the answer.
        return { state: "unknown", progress: null };
      }
      throw new Error("status " + response.status);
    }

    function poll() {
      polls += 1;
      element.setAttribute("data-task-polls", String(polls));
      fetch(url, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      })
        .then(answered)
        .then(function (status) {
          show(element, status);
          if (FINAL.indexOf(status.state) >= 0 || status.state === "unknown") {
            return;
          }
          const key = JSON.stringify([status.state, status.progress]);
          again(key !== last);
          last = key;
        })
        .catch(function () {
          again(false);
        });
    }

    poll();
  }

  function watchAll() {
    document
      .querySelectorAll('[role="progressbar"][data-task-status]')
      .forEach(watch);
  }

  window.pyramidTasks = { watch: watch, watchAll: watchAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watchAll);
  } else {
    watchAll();
  }
})();
