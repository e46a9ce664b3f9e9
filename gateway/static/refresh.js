// A page waiting for something looks again after a few seconds, counting down where the
// person can see it, and stops while they press Pause (WCAG 2.2.1: a time limit can be
// turned off). Each look is a GET of the page's next address (the server counts looks
// and stops offering one when it has waited long enough); without this script the page
// shows a plain "Check now" link instead.
(function () {
  "use strict";
  var box = document.getElementById("refresher");
  if (!box) {
    return;
  }
  var seconds = parseInt(box.getAttribute("data-refresh-seconds"), 10);
  if (!(seconds > 0)) {
    seconds = 2;
  }
  var url = box.getAttribute("data-refresh-url") || window.location.href.split("#")[0];
  var status = document.getElementById("refresher-status");
  var pause = document.getElementById("refresher-pause");
  var left = seconds;
  var paused = false;
  var timer = null;

  function show() {
    status.textContent = paused
      ? "Paused: this page will not look again until you resume."
      : "Checking again in " + left + "s";
  }

  function tick() {
    if (paused) {
      return;
    }
    left -= 1;
    if (left > 0) {
      show();
      return;
    }
    window.clearInterval(timer);
    status.textContent = "Checking…";
    window.location.assign(url);
  }

  pause.hidden = false;
  pause.addEventListener("click", function () {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (paused) {
      window.clearInterval(timer);
    } else {
      left = seconds;
      timer = window.setInterval(tick, 1000);
    }
    show();
  });
  show();
  timer = window.setInterval(tick, 1000);
})();
