// The playground's behaviour in the browser. The page works without it; it adds:
// - only the request fields of the chosen way of entering it are shown;
// - the lines that findings (and failed tests) point at are marked in the editor's line
//   numbers, the message as their title;
// - a finding's link, a test's file:line and a proof node's file:line select that line in
//   the editor.
// Values go into the page as text, never as HTML.
"use strict";
(() => {
  const LOCATION = /^(.+?):(\d+)(?::\d+)?$/;

  // The text area of the edited file named `path`, if the editor holds one.
  function areaOf(body, path) {
    for (const input of body.querySelectorAll(".files input[name=path]")) {
      if (input.value.trim() === path) {
        return document.getElementById("text-" + input.id.slice("path-".length));
      }
    }
    return null;
  }

  // The [start, end) offsets of line `line` (from 1) of `text`, or null.
  function lineRange(text, line) {
    let start = 0;
    for (let i = 1; i < line; i++) {
      const next = text.indexOf("\n", start);
      if (next < 0) return null;
      start = next + 1;
    }
    const end = text.indexOf("\n", start);
    return [start, end < 0 ? text.length : end];
  }

  function goTo(area, line) {
    const range = lineRange(area.value, line);
    if (!range) return;
    area.focus({ preventScroll: true });
    area.setSelectionRange(range[0], range[1]);
    const style = getComputedStyle(area);
    const height = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
    area.scrollTop = Math.max(0, (line - 1) * height - area.clientHeight / 3);
    area.scrollIntoView({ block: "center" });
  }

  // Line numbers as one element per line, the flagged ones marked: console.js redraws the
  // numbers (dropping the marks, then out of date) only when the count of lines changes.
  function markLines(body) {
    const byArea = new Map();
    for (const a of body.querySelectorAll("a[data-goto-line][data-severity]")) {
      const id = a.getAttribute("href").slice(1);
      const line = Number(a.dataset.gotoLine);
      if (!byArea.has(id)) byArea.set(id, new Map());
      const lines = byArea.get(id);
      const mark = lines.get(line) || { severity: "warning", messages: [] };
      if (a.dataset.severity === "error") mark.severity = "error";
      mark.messages.push(a.dataset.message || "");
      lines.set(line, mark);
    }
    for (const [id, lines] of byArea) {
      const area = document.getElementById(id);
      const gutter = area && area.parentElement.querySelector(".gutter");
      if (!gutter) continue;
      const count = area.value.split("\n").length;
      const rows = [];
      for (let i = 1; i <= count; i++) {
        const row = document.createElement("span");
        row.textContent = String(i);
        const mark = lines.get(i);
        if (mark) {
          row.className = "flag " + mark.severity;
          row.title = mark.messages.join("\n");
        }
        rows.push(row);
      }
      gutter.replaceChildren(...rows);
    }
  }

  // A proof's or a why-not's file:line (plain text: the edited text is not the serving
  // set's) becomes a link to that line in the editor.
  function linkLocations(body) {
    for (const span of body.querySelectorAll(".pg-result .tree span.loc")) {
      const m = LOCATION.exec(span.textContent);
      const area = m && areaOf(body, m[1]);
      if (!area) continue;
      const a = document.createElement("a");
      a.className = "loc";
      a.href = "#" + area.id;
      a.dataset.gotoLine = m[2];
      a.textContent = span.textContent;
      span.replaceWith(a);
    }
  }

  function showMode(body) {
    const chosen = body.querySelector("input[name=mode]:checked");
    for (const set of body.querySelectorAll("fieldset[data-mode]")) {
      set.hidden = chosen !== null && set.dataset.mode !== chosen.value;
    }
  }

  function setup(body) {
    showMode(body);
    markLines(body);
    linkLocations(body);
    const onChange = (ev) => {
      if (ev.target.name === "mode") showMode(body);
    };
    const onClick = (ev) => {
      const a = ev.target.closest("a[data-goto-line]");
      if (!a || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey) return;
      const area = document.getElementById(a.getAttribute("href").slice(1));
      if (!area) return;
      ev.preventDefault();
      goTo(area, Number(a.dataset.gotoLine));
    };
    body.addEventListener("change", onChange);
    body.addEventListener("click", onClick);
    return () => {
      body.removeEventListener("change", onChange);
      body.removeEventListener("click", onClick);
    };
  }

  window.SiameseConsole.pages.playground = setup;
})();
