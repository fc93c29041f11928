// The live view follows the decisions without reloading the page: it asks
// /console/live/data for the decisions numbered after the last one shown, at most once
// every few seconds (less often while the tab is hidden, and backing off after errors),
// updates the figures and adds the new rows on top. Every server value goes into the page
// as text (textContent, createElement), never as HTML.
"use strict";
(() => {
  const HIDDEN_MS = 15000; // while the tab is hidden
  const MAX_BACKOFF_MS = 60000; // after errors, doubling up to this

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.append(td);
    return td;
  }

  function decisionRow(d) {
    const tr = document.createElement("tr");
    tr.dataset.seq = String(d.seq);
    const link = document.createElement("a");
    link.href = "/console/decisions/" + encodeURIComponent(d.decision_id);
    link.title = "decision " + d.decision_id;
    link.textContent = String(d.seq);
    cell(tr, "").append(link);
    const time = document.createElement("time");
    time.dateTime = d.time;
    time.textContent = d.time;
    cell(tr, "").append(time);
    cell(tr, d.decision ? "allow" : "deny", "decision " + (d.decision ? "allow" : "deny"));
    cell(tr, d.subject);
    cell(tr, d.action);
    cell(tr, d.resource);
    cell(tr, d.reason);
    const code = document.createElement("code");
    code.textContent = d.revision;
    cell(tr, "").append(code);
    return tr;
  }

  function noteRow(text) {
    const tr = document.createElement("tr");
    tr.className = "gap";
    const td = cell(tr, text);
    td.colSpan = 8;
    return tr;
  }

  window.SiameseConsole.pages.live = (body, api) => {
    const section = body.querySelector("#live");
    const tbody = body.querySelector("#live-decisions tbody");
    if (!section || !tbody) return null;
    const every = Math.max(1, Number(section.dataset.poll) || 2) * 1000;
    const size = Number(section.dataset.size) || 200;
    let feed = section.dataset.feed;
    let seq = Number(section.dataset.seq) || 0;
    let failures = 0;
    let timer = null;
    let inflight = null;
    let last = Date.now(); // the page itself was the last look
    let stopped = false;
    const text = (id, value) => { const el = body.querySelector("#" + id); if (el) el.textContent = value; };

    function figures(data) {
      text("live-window", String(Math.round(data.window)));
      text("live-rate", data.rate.toFixed(2));
      text("live-deny-share",
        data.deny_share === null ? "–" : (data.deny_share * 100).toFixed(1) + "%");
      text("live-decided", String(data.decided));
      text("live-denied", String(data.denied));
      text("live-sampled", String(data.sampled));
      const list = body.querySelector("#live-top-denied");
      const items = data.top_denied.map((d) => {
        const li = document.createElement("li");
        li.className = d.kind;
        let label;
        if (d.href) {
          label = document.createElement("a");
          label.href = d.href;
        } else {
          label = document.createElement("span");
        }
        label.textContent = d.label;
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = String(d.count);
        li.append(label, " ", count);
        return li;
      });
      list.replaceChildren(...items);
      const none = body.querySelector("#live-no-denials");
      if (none) none.hidden = items.length > 0;
    }

    function rows(data, after) {
      if (!data.decisions.length) return;
      for (const empty of tbody.querySelectorAll("tr.empty")) empty.remove();
      const fresh = document.createDocumentFragment();
      for (const d of data.decisions) fresh.append(decisionRow(d)); // newest first
      if (after > 0 && data.missed > 0) {
        fresh.append(noteRow(data.missed + " more decisions were answered since the last " +
          "look; only the last " + size + " are kept."));
      }
      tbody.prepend(fresh);
      while (tbody.rows.length > size) tbody.rows[tbody.rows.length - 1].remove();
    }

    function show(data, after) {
      figures(data);
      if (data.feed !== feed) {
        // another process answered (a restart, or another worker), which numbers its
        // decisions afresh: start over with its own, all of them
        feed = data.feed;
        tbody.replaceChildren();
        if (after > 0) {
          seq = 0;
          return;
        }
      }
      rows(data, after);
      seq = data.seq;
    }

    function delay() {
      let wait = document.hidden ? HIDDEN_MS : every;
      if (failures) wait = Math.max(wait, Math.min(MAX_BACKOFF_MS, every * 2 ** failures));
      return Math.max(0, last + wait - Date.now());
    }

    function schedule() {
      if (stopped || inflight) return;
      clearTimeout(timer);
      timer = setTimeout(poll, delay());
    }

    async function poll() {
      timer = null;
      if (!body.isConnected) stopped = true; // swapped away without a cleanup call
      if (stopped) return;
      const after = seq;
      const control = new AbortController();
      inflight = control;
      last = Date.now();
      try {
        const response = await api.request("/console/live/data?after=" + after,
          { method: "GET", signal: control.signal });
        if (response.status === 401 || response.status === 403) {
          stopped = true;
          text("live-status", "The console refused this page's request (" + response.status +
            "): reload the page.");
          return;
        }
        if (!response.ok) throw new Error("the server answered " + response.status);
        const data = await response.json();
        if (stopped) return;
        show(data, after);
        failures = 0;
        text("live-status", "");
      } catch (e) {
        if (stopped) return;
        failures += 1;
        const wait = Math.min(MAX_BACKOFF_MS, every * 2 ** failures) / 1000;
        text("live-status", "Cannot follow the decisions (" + e.message + "): trying again " +
          "in " + wait + " s.");
      } finally {
        inflight = null;
        schedule();
      }
    }

    // a tab shown again asks at once (within the bound), a hidden one slows down
    const onVisibility = () => schedule();
    document.addEventListener("visibilitychange", onVisibility);
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (inflight) inflight.abort();
      document.removeEventListener("visibilitychange", onVisibility);
    };
  };
})();
