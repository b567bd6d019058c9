// "Migrar médicos" and "Desfazer": ask before a form with data-confirm is sent.
(function () {
  "use strict";
  function ask(event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }
  document.addEventListener("submit", ask);
})();
