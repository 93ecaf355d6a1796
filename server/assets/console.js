// Switchyard console: progressive enhancement only. Every page works without this script.
// - Times are sent in UTC; here they are shown in the viewer's zone, UTC kept in the title.
// - A secret shown once gets a button that copies it.
(function () {
  "use strict";

  function localTimes() {
    var format = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    });
    document.querySelectorAll("time[datetime]").forEach(function (element) {
      var when = new Date(element.getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        element.textContent = format.format(when);
      }
    });
  }

  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (element) {
      if (!navigator.clipboard) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy " + (element.getAttribute("data-copy") || "value"));
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(element.textContent.trim()).then(function () {
          button.textContent = "Copied";
        });
      });
      element.insertAdjacentElement("afterend", button);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes();
    copyButtons();
  });
})();
