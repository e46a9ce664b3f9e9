// Waiting for a login proof: ask the gateway every 2 s, and go on once the session started.
// The page works without this script too ("I have sent it: continue").
(function () {
  "use strict";
  // Copy buttons: shown only where the script runs; the command is copied whole.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      }, function () {
        button.textContent = "Select the command and copy it";
      });
    });
  });
  var box = document.getElementById("login");
  if (!box || box.getAttribute("data-state") !== "pending") {
    return;
  }
  var url = box.getAttribute("data-poll-url");
  var status = document.getElementById("login-status");

  function later(ms) {
    window.setTimeout(poll, ms);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (answer) {
        return answer.ok ? answer.json() : null;
      })
      .then(function (state) {
        if (!state) {
          later(4000);
        } else if (state.status === "logged_in") {
          if (status) {
            status.textContent = "Proven. Logging you in…";
          }
          window.location.assign(state.redirect || "/");
        } else if (state.status === "pending") {
          later(2000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        later(4000);
      });
  }

  later(2000);
})();
