// The Pipeline page: a refused commit still shows its log, and the job log follows its end.
"use strict";

// A commit that made nothing (409) answers with a fragment saying why: show it in place.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (target && target.id === "commit-result" && event.detail.xhr.status === 409) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

// New lines went to the end of the log: keep the end in view.
document.addEventListener("htmx:oobAfterSwap", (event) => {
  const log = event.detail.target;
  if (log && log.id === "job-log") {
    log.scrollTop = log.scrollHeight;
  }
});
