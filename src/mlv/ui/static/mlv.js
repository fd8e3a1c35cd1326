// The few scripts the pages need beyond htmx: a refusal shown in place, and plots.
"use strict";

// A request htmx made was refused (bad input, read-only, token): show why.
document.addEventListener("htmx:responseError", (event) => {
  const box = document.getElementById("refusal");
  if (!box) return;
  box.textContent = event.detail.xhr.responseText || `request failed (${event.detail.xhr.status})`;
  box.hidden = false;
  setTimeout(() => { box.hidden = true; }, 8000);
});

// Pages post with fetch() too (the log stream, say): the token goes with them.
window.mlvToken = () => document.querySelector('meta[name="mlv-token"]').content;

// Draw every <div class="plot" data-series='{...}'> with uPlot. data-series holds
// {"x": "label", "series": [{"label": "...", "colour": "#...", "x": [...], "y": [...]}]}.
// Series may have different x values: they are merged onto one sorted x axis.
function drawPlots(root) {
  for (const el of root.querySelectorAll("div.plot[data-series]:not([data-drawn])")) {
    el.dataset.drawn = "1";
    const spec = JSON.parse(el.dataset.series);
    const xs = [...new Set(spec.series.flatMap((s) => s.x))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const data = [xs];
    for (const s of spec.series) {
      const ys = new Array(xs.length).fill(null);
      s.x.forEach((x, i) => { ys[index.get(x)] = s.y[i]; });
      data.push(ys);
    }
    const opts = {
      width: Math.max(320, el.clientWidth || 640),
      height: 280,
      scales: { x: { time: false } },
      axes: [{ label: spec.x || "" }, {}],
      series: [{ label: spec.x || "x" }].concat(
        spec.series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, spanGaps: true })),
      ),
    };
    new uPlot(opts, data, el);
  }
}
document.addEventListener("DOMContentLoaded", () => drawPlots(document));
document.addEventListener("htmx:afterSettle", (event) => drawPlots(event.target));

// The runs table: "Compare selected" once two runs are ticked.
function wireRunPicker(root) {
  for (const form of root.querySelectorAll("form.runs-table")) {
    const button = form.querySelector("#compare-runs");
    const update = () => {
      button.disabled = form.querySelectorAll('input[name="run"]:checked').length < 2;
    };
    form.addEventListener("change", update);
    update();
  }
}
document.addEventListener("DOMContentLoaded", () => wireRunPicker(document));
document.addEventListener("htmx:afterSettle", (event) => wireRunPicker(event.target));
