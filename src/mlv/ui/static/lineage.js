// A wide lineage graph opens scrolled to the node it is about, not to its left edge.
"use strict";

function centreOnFocus(root) {
  const box = root.querySelector(".lineage-graph");
  const focus = box && box.querySelector("g.node.focus");
  if (!focus) return;
  const node = focus.getBoundingClientRect();
  const view = box.getBoundingClientRect();
  box.scrollLeft += node.left - view.left - (view.width - node.width) / 2;
}
document.addEventListener("DOMContentLoaded", () => centreOnFocus(document));
document.addEventListener("htmx:afterSettle", (event) => centreOnFocus(event.target));
