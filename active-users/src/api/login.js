"use strict";
// The token goes into a cookie scoped to the API's path (SameSite=Strict), which the API
// accepts like an Authorization header.
const scope = location.pathname.replace(/\/dashboard\/?$/, "") || "/";
const input = document.getElementById("token");
const RETRIED = "active_users_retried";

function enter(token) {
  document.cookie = "active_users_token=" + encodeURIComponent(token) + "; path=" + scope +
    "; SameSite=Strict" + (location.protocol === "https:" ? "; Secure" : "");
  sessionStorage.removeItem(RETRIED);
  location.replace(location.pathname);
}

// A token in the link (#token=...) is never used on its own: another site could link here
// with a token of its choosing and replace the operator's. It fills the field, and the
// operator presses the button. The fragment leaves the address bar at once.
const fromHash = location.hash.match(/(?:^#|&)token=([^&]+)/);
if (fromHash) {
  input.value = decodeURIComponent(fromHash[1]);
  document.getElementById("from-link").hidden = false;
  history.replaceState(null, "", location.pathname + location.search);
}

// A browser does not send a SameSite=Strict cookie when another site links here, so an
// operator who is signed in lands on this page: ask again once, from this page, which sends
// it. Only a second refusal means the token is wrong.
const signedIn = document.cookie.split("; ").some((c) => c.startsWith("active_users_token="));
if (signedIn) {
  if (sessionStorage.getItem(RETRIED) !== location.pathname) {
    sessionStorage.setItem(RETRIED, location.pathname);
    location.replace(location.pathname);
  } else {
    sessionStorage.removeItem(RETRIED);
    document.getElementById("rejected").hidden = false;
  }
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  enter(input.value);
});
