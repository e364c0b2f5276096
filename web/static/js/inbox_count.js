/* The planner page's inbox count: how many investor inquiries wait (status "new").
 *
 * Polls GET /api/inquiries/new-count with the bearer token planner.js keeps in sessionStorage
 * (nothing to do while signed out) and writes the number beside the Inbox tab and into the
 * tab title, so a planner working on the map sees an inquiry arrive. Text only (textContent).
 */
(function () {
  'use strict';
  var EVERY_MS = 30000;
  var baseTitle = document.title;

  function show(n) {
    var el = document.getElementById('pgp-inbox-n');
    if (el) { el.textContent = n ? '(' + n + ')' : ''; }
    document.title = n ? '(' + n + ') ' + baseTitle : baseTitle;
    document.body.setAttribute('data-inbox-new', String(n));
  }

  function poll() {
    var token = sessionStorage.getItem('parkgis.token');
    if (!token) { return; }
    fetch('/api/inquiries/new-count', { headers: { Authorization: 'Bearer ' + token },
                                        cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (b) { if (b && typeof b.new === 'number') { show(b.new); } })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }

  function start() {
    poll();
    setInterval(poll, EVERY_MS);
    // Signing in happens in this tab: poll as soon as the token appears, not 30 s later.
    document.addEventListener('submit', function () { setTimeout(poll, 1500); }, true);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) { poll(); }
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
