// grader review: keyboard and the "changed in another tab" notice. Served by the app (the CSP allows no inline script).
// n / j: next · p / k: previous · g: the points field · Ctrl+Enter (or Ctrl+S): save · Esc: leave a field.
"use strict";
(function () {
  const body = document.body;
  const form = document.getElementById("points");

  function inField(event) {
    const target = event.target;
    return target instanceof HTMLElement && target.closest("input, textarea, select, button") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && (event.key === "Enter" || event.key === "s")) {
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.key === "Escape" && inField(event)) {
      event.target.blur();
      return;
    }
    if (inField(event) || event.ctrlKey || event.metaKey || event.altKey) return;
    const to = { n: body.dataset.next, j: body.dataset.next, p: body.dataset.prev, k: body.dataset.prev }[event.key];
    if (to) {
      event.preventDefault();
      window.location.assign(to);
    } else if (event.key === "g" && form) {
      event.preventDefault();
      const field = form.querySelector("input[inputmode]");
      field.focus();
      field.select();
    }
  });

  // Another tab (or a hand edit of the sheet) saved this submission: say what changed, every 2 s.
  const state = body.dataset.state;
  const notice = document.getElementById("changed");
  if (!state || !form || !notice) return;
  function check() {
    fetch(state, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (now) {
        if (!now) return;
        const changed = [];
        for (const name of Object.keys(now)) {
          const loaded = form.elements["loaded_" + name];
          if (loaded && loaded.value.trim() !== String(now[name]).trim()) {
            changed.push(name + " is now " + (now[name] === "" ? "blank" : JSON.stringify(now[name])));
          }
        }
        notice.hidden = changed.length === 0;
        notice.textContent = changed.length === 0 ? "" : "Changed in another tab since this page was loaded: " +
          changed.join("; ") + ". Saving keeps those unless you changed the same field here.";
      })
      .catch(function () {});
  }
  window.setInterval(check, 2000);
})();
