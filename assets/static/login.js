/* The login page: the account last signed in on this device is offered as one tap (issue 21:
 * a grid worker's id is W + 15 digits, tedious to type on a phone every shift). Only the
 * account's name is kept (localStorage), never the password; the field is not pre-filled, so
 * someone else on a shared phone types their own as before. */
(function () {
  "use strict";
  var KEY = "onemap.lastUser";
  var user = document.getElementById("user");
  var pw = document.getElementById("password");
  if (!user || !user.form) { return; }
  var last = "";
  try { last = window.localStorage.getItem(KEY) || ""; } catch (e) { /* storage off */ }
  if (last && !user.value) {
    var b = document.createElement("button");
    b.type = "button";
    b.id = "last-user";
    b.className = "last-user";
    b.textContent = "上次登录：" + last;
    b.addEventListener("click", function () {
      user.value = last;
      b.remove();
      if (pw) { pw.focus(); }
    });
    user.parentNode.insertAdjacentElement("afterend", b);
  }
  user.form.addEventListener("submit", function () {
    var v = user.value.trim();
    try { if (v) { window.localStorage.setItem(KEY, v); } } catch (e) { /* storage off */ }
  });
}());
