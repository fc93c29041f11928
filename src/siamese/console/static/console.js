// The Siamese console's script. Pages are server-rendered and readable without it; it adds:
// - the admin key: entered once, kept in this tab's session storage, sent as X-API-Key on
//   every console request (links and forms go through fetch() when a key is in use);
// - line numbers beside policy text areas; each page's own behaviour (other files register
//   in SiameseConsole.pages by the page's name, body[data-page]).
// It never puts a server value into the page as HTML: values go in as text.
"use strict";
window.SiameseConsole = (() => {
  const KEY = "siamese-console-key";
  const pages = {};
  let cleanup = null;

  const getKey = () => sessionStorage.getItem(KEY);

  function headers(extra) {
    const h = { "X-Siamese-Console": "1", ...(extra || {}) };
    const key = getKey();
    if (key) h["X-API-Key"] = key;
    return h;
  }

  // fetch() with the console's headers; a 401 after a key was sent forgets that key.
  async function request(url, init) {
    const sentKey = getKey();
    const response = await fetch(url, {
      ...(init || {}),
      headers: headers(init && init.headers),
      credentials: "same-origin",
    });
    if (response.status === 401 && sentKey) sessionStorage.removeItem(KEY);
    return response;
  }

  function showProblem(text) {
    let box = document.getElementById("console-problem");
    if (!box) {
      box = document.createElement("p");
      box.id = "console-problem";
      box.className = "error";
      box.setAttribute("role", "alert");
      document.getElementById("main").prepend(box);
    }
    box.textContent = text;
  }

  // Load a console page with the key and show it in place of this one.
  async function go(url, init, push) {
    let response;
    try {
      response = await request(url, init);
    } catch (e) {
      showProblem("The server cannot be reached: " + e.message);
      return;
    }
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    if (cleanup) { cleanup(); cleanup = null; }
    document.title = doc.title;
    document.body.replaceWith(document.adoptNode(doc.body));
    if (push) history.pushState({ console: true }, "", url);
    setup();
    const hash = new URL(url, location.href).hash;
    const target = hash && document.getElementById(decodeURIComponent(hash.slice(1)));
    if (target) target.scrollIntoView();
  }

  function consoleUrl(href) {
    const url = new URL(href, location.href);
    if (url.origin !== location.origin) return null;
    if (!url.pathname.startsWith("/console") || url.pathname.startsWith("/console/static/")) {
      return null;
    }
    return url;
  }

  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-forget-key]")) {
      sessionStorage.removeItem(KEY);
      location.reload();
      return;
    }
    if (!getKey() || ev.defaultPrevented || ev.button !== 0) return;
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target.closest("a[href]");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = consoleUrl(a.href);
    if (!url) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) {
      return; // an anchor in this page
    }
    ev.preventDefault();
    go(url.href, { method: "GET" }, true);
  });

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.id === "key-form") {
      ev.preventDefault();
      const key = form.elements.key.value;
      if (!key) return;
      sessionStorage.setItem(KEY, key);
      go(location.href, { method: "GET" }, false);
      return;
    }
    if (!getKey() && !form.hasAttribute("data-fetch")) return; // the browser sends it
    // a submit button may send the form elsewhere (formaction, formmethod)
    const by = ev.submitter;
    const own = (name) => (by && by.hasAttribute(name) ? by.getAttribute(name) : null);
    const action = consoleUrl(own("formaction") ? by.formAction : form.action);
    if (!action) return;
    ev.preventDefault();
    const data = new URLSearchParams(new FormData(form, by));
    const method = own("formmethod") || form.getAttribute("method") || "get";
    if (method.toUpperCase() === "GET") {
      action.search = data.toString();
      go(action.href, { method: "GET" }, true);
    } else {
      go(action.href, {
        method: "POST",
        body: data,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      }, false);
    }
  });

  window.addEventListener("popstate", () => {
    if (getKey()) go(location.href, { method: "GET" }, false);
  });

  // Line numbers beside <textarea data-lines>: a gutter that follows its scrolling.
  function lineNumbers(root) {
    for (const area of root.querySelectorAll("textarea[data-lines]")) {
      const gutter = document.createElement("pre");
      gutter.className = "gutter";
      gutter.setAttribute("aria-hidden", "true");
      const wrap = document.createElement("div");
      wrap.className = "numbered";
      area.replaceWith(wrap);
      wrap.append(gutter, area);
      const update = () => {
        const n = area.value.split("\n").length;
        if (gutter.childElementCount !== n) {
          gutter.textContent = Array.from({ length: n }, (_, i) => i + 1).join("\n");
        }
        gutter.scrollTop = area.scrollTop;
      };
      area.addEventListener("input", update);
      area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
      update();
    }
  }

  function setup() {
    const body = document.body;
    // a page reloaded by the browser came without the key: ask again with it
    if (body.dataset.page === "key" && getKey()) {
      go(location.href, { method: "GET" }, false);
      return;
    }
    lineNumbers(body);
    const page = pages[body.dataset.page];
    if (page) cleanup = page(body, { request, go, showProblem }) || null;
  }

  // Deferred scripts run while the document is "interactive", before DOMContentLoaded: a
  // page's own script (loaded after this one) has registered itself only by then.
  if (document.readyState === "complete") {
    queueMicrotask(setup);
  } else {
    document.addEventListener("DOMContentLoaded", setup);
  }
  return { pages, request, go, getKey, showProblem };
})();
