/* ParkGIS investor map: road-network access on the page (issue #15).
 *
 * * PGAccess.driveHtml(d, lang): the network figure the sheet shows beside a straight distance
 *   ("驾车 3.2 km · 6 分钟" / "drive 3.2 km · 6 min"; "约"/"est." beyond the road network).
 * * PGAccess.addControl(map, o): the "驾车时间圈 / drive-time area" control: pick a point, draw
 *   the 5/10/15-minute areas from /api/access/isochrones with a legend and a clear button.
 * * PGAccess.vetHash(h, ctx): what of a permalink hash edited in the same tab is well formed
 *   and names things that exist; investor.js applies only that, so a hostile hash does nothing.
 *
 * Kept apart from investor.js (the phone layout reworks that file); loaded in <head> like it,
 * so L is touched only inside functions PG.init calls.
 */
(function () {
  'use strict';
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }

  // ---- the sheet's network figure ----------------------------------------------------------
  function km(m) { return (m / 1000).toFixed(1); }
  function mins(min) { return min < 0.5 ? '<1' : String(Math.round(min)); }
  /** [zh, en] of a distance's network figure, or null without a route. */
  function driveText(d) {
    var m = num(d && d.drive_m), min = num(d && d.drive_min);
    if (m === null || min === null) { return null; }
    var est = !!d.estimate;
    return [
      '驾车' + (est ? '约' : ' ') + km(m) + ' km · ' + mins(min) + ' 分钟',
      'drive ' + (est ? 'est. ' : '') + km(m) + ' km · ' + mins(min) + ' min',
    ];
  }
  function driveHtml(d, lang) {
    var p = driveText(d);
    if (!p) { return ''; }
    return '<br><span class="i18n pg-drive' + (d.estimate ? ' pg-drive-est' : '') + '" data-zh="' +
      esc(p[0]) + '" data-en="' + esc(p[1]) + '">' + esc(lang === 'en' ? p[1] : p[0]) + '</span>';
  }

  // ---- drive-time areas ------------------------------------------------------------------
  var MINUTES = [5, 10, 15];
  var COLOURS = { 5: '#08519c', 10: '#3182bd', 15: '#9ecae1' };
  var FAILED = ['无法计算驾车时间圈', 'could not compute the drive-time area'];
  /** GCJ-02 -> WGS84 by two fixed-point steps of the forward transform (centimetres here). */
  function gcj2wgs(lat, lng) {
    var w = [lat, lng];
    for (var i = 0; i < 2; i++) {
      var g = window.PGGCJ.wgs2gcj(w[0], w[1]);
      w = [w[0] - (g[0] - lat), w[1] - (g[1] - lng)];
    }
    return w;
  }
  function i18nNode(tag, cls, zh, en, lang) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    el.classList.add('i18n');
    el.setAttribute('data-zh', zh); el.setAttribute('data-en', en);
    el.textContent = lang === 'en' ? en : zh;
    return el;
  }

  /**
   * The drive-time control. ``o.lang()`` the page language, ``o.gcj()`` whether our overlays
   * are drawn shifted onto a GCJ-02 basemap, ``o.layers`` clickable layers a point may be
   * picked on as well as the map.
   */
  function addControl(map, o) {
    var A = { picking: false, body: null, layer: null, origin: null, btn: null, box: null, seq: 0 };
    PGAccess.state = A;
    function lang() { return o.lang ? o.lang() : 'zh'; }
    function shift(lat, lng) { return o.gcj && o.gcj() ? window.PGGCJ.wgs2gcj(lat, lng) : [lat, lng]; }
    function message(zh, en) {
      A.box.hidden = false;
      var msg = A.box.querySelector('.pg-iso-msg');
      // the API's problem detail is already "中文 / English": shown whole, as text
      msg.textContent = en === undefined ? zh : zh + ' / ' + en;
      msg.hidden = false;
    }
    function clear() {
      A.seq += 1;  // an answer still on its way is dropped
      if (A.layer) { map.removeLayer(A.layer); A.layer = null; }
      A.body = null; A.origin = null;
      A.box.querySelector('.pg-iso-legend').innerHTML = '';
      A.box.querySelector('.pg-iso-msg').hidden = true;
      A.box.querySelector('.pg-iso-clear').hidden = true;
      A.box.hidden = !A.picking;
      A.box.parentNode.setAttribute('data-pg-iso', '0');
    }
    function draw() {
      if (A.layer) { map.removeLayer(A.layer); A.layer = null; }
      if (!A.body) { return; }
      var g = L.layerGroup(), n = 0;
      // largest first (the API's order), so the smaller areas lie on top
      A.body.features.forEach(function (f) {
        if (!f.geometry) { return; }
        var m = f.properties.minutes, c = COLOURS[m] || '#6baed6';
        g.addLayer(L.geoJSON(f, {
          coordsToLatLng: function (xy) { var s = shift(xy[1], xy[0]); return L.latLng(s[0], s[1]); },
          style: function () { return { color: c, weight: 1, opacity: 0.9, fillColor: c, fillOpacity: 0.22 }; },
          interactive: false, pgMinutes: m,
        }));
        n += 1;
      });
      var s = shift(A.origin[1], A.origin[0]);
      g.addLayer(L.circleMarker(s, { radius: 5, color: '#fff', weight: 2, fillColor: '#08306b', fillOpacity: 1, interactive: false }));
      A.layer = g.addTo(map);
      A.box.parentNode.setAttribute('data-pg-iso', String(n));
    }
    function legend() {
      var ul = A.box.querySelector('.pg-iso-legend');
      ul.innerHTML = '';
      A.body.features.slice().reverse().forEach(function (f) {
        var p = f.properties, li = document.createElement('li');
        var sw = document.createElement('i');
        sw.className = 'pg-iso-swatch'; sw.style.background = COLOURS[p.minutes] || '#6baed6';
        li.appendChild(sw);
        li.appendChild(i18nNode('span', '', String(p.label_zh), String(p.label_en), lang()));
        if (!f.geometry) { li.classList.add('pg-iso-none'); }
        ul.appendChild(li);
      });
    }
    function stopPicking() {
      A.picking = false;
      L.DomUtil.removeClass(A.btn, 'active');
      map.getContainer().style.cursor = '';
      A.box.querySelector('.pg-iso-hint').hidden = true;
    }
    function fetchAt(lat, lng) {
      var seq = ++A.seq;
      var w = o.gcj && o.gcj() ? gcj2wgs(lat, lng) : [lat, lng];
      var url = '/api/access/isochrones?lon=' + w[1].toFixed(6) + '&lat=' + w[0].toFixed(6) +
        '&minutes=' + MINUTES.join(',');
      A.box.querySelector('.pg-iso-msg').hidden = true;
      A.box.parentNode.setAttribute('data-pg-iso', 'loading');
      return fetch(url, { headers: { Accept: 'application/geo+json, application/json' } }).then(function (r) {
        return r.json().then(function (b) { return { ok: r.ok, body: b }; });
      }).then(function (res) {
        if (seq !== A.seq) { return; }
        if (!res.ok) {
          var d = res.body && typeof res.body.detail === 'string' ? res.body.detail : null;
          if (A.layer) { map.removeLayer(A.layer); A.layer = null; }
          A.body = null;
          A.box.querySelector('.pg-iso-legend').innerHTML = '';
          if (d) { message(d); } else { message(FAILED[0], FAILED[1]); }
          A.box.querySelector('.pg-iso-clear').hidden = false;
          A.box.parentNode.setAttribute('data-pg-iso', 'error');
          return;
        }
        A.body = res.body; A.origin = res.body.origin;
        legend(); draw();
        A.box.hidden = false;
        A.box.querySelector('.pg-iso-clear').hidden = false;
      }).catch(function () {
        if (seq !== A.seq) { return; }
        message(FAILED[0], FAILED[1]);
        A.box.parentNode.setAttribute('data-pg-iso', 'error');
      });
    }
    function click(e) {
      if (!A.picking) { return; }
      stopPicking();
      fetchAt(e.latlng.lat, e.latlng.lng);
    }
    var Ctl = L.Control.extend({
      options: { position: 'topleft' },
      onAdd: function () {
        var div = L.DomUtil.create('div', 'leaflet-control-drivetime leaflet-bar');
        div.setAttribute('data-pg-iso', '0');
        A.btn = L.DomUtil.create('a', 'pg-iso-btn', div);
        A.btn.href = '#'; A.btn.setAttribute('role', 'button');
        A.btn.title = '驾车时间圈：点击地图上的起点 / drive-time area: click a start point on the map';
        A.btn.setAttribute('aria-label', A.btn.title);
        L.DomUtil.create('i', 'fa fa-car', A.btn);
        A.box = L.DomUtil.create('div', 'pg-iso-box', div);
        A.box.hidden = true;
        A.box.appendChild(i18nNode('div', 'pg-iso-title', '驾车时间圈', 'Drive-time area', lang()));
        var hint = i18nNode('div', 'pg-iso-hint', '点击地图选择起点', 'click the map to pick a start point', lang());
        hint.hidden = true; A.box.appendChild(hint);
        var msg = document.createElement('div');
        msg.className = 'pg-iso-msg'; msg.setAttribute('role', 'alert'); msg.hidden = true;
        A.box.appendChild(msg);
        var ul = document.createElement('ul'); ul.className = 'pg-iso-legend'; A.box.appendChild(ul);
        var clr = i18nNode('button', 'pg-iso-clear btn btn-sm btn-outline-secondary', '清除', 'Clear', lang());
        clr.type = 'button'; clr.hidden = true; A.box.appendChild(clr);
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        L.DomEvent.on(clr, 'click', function (e) { L.DomEvent.preventDefault(e); clear(); });
        L.DomEvent.on(A.btn, 'click', function (e) {
          L.DomEvent.preventDefault(e);
          if (A.picking) { stopPicking(); A.box.hidden = !A.body && !A.layer; return; }
          A.picking = true;
          L.DomUtil.addClass(A.btn, 'active');
          map.getContainer().style.cursor = 'crosshair';
          A.box.hidden = false; hint.hidden = false;
        });
        return div;
      },
    });
    new Ctl().addTo(map);
    map.on('click', click);
    // a click on a parcel tile never reaches the map (VectorGrid stops it): pick there too
    (o.layers || []).forEach(function (l) { l.on('click', click); });
    // the basemap decides whether our overlays are shifted to GCJ-02: redraw to match
    map.on('baselayerchange', draw);
    return { picking: function () { return A.picking; }, at: fetchAt, clear: clear };
  }

  // ---- the permalink edited in the same tab --------------------------------------------------
  var CODE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;
  var NUM_RE = /^-?[0-9]{1,3}(\.[0-9]{1,10})?$/;
  var FILTER_KEYS = ['min_mu', 'max_mu', 'landuse', 'zone', 'max_rail_m', 'max_substation_m', 'svc',
    'near_role', 'near_role_m', 'max_slope_deg', 'max_earthwork_wan', 'max_flood_share'];
  var FILTER_VALUE_RE = /^[A-Za-z0-9_.,-]{1,64}$/;
  function exists(code, asOfQ) {
    return fetch('/api/parcels/' + encodeURIComponent(code) + '/sheet' + asOfQ)
      .then(function (r) { return r.ok; }, function () { return false; });
  }
  function vetMap(s, ctx) {
    var v = String(s).split('/');
    if (v.length !== 3 || !v.every(function (x) { return NUM_RE.test(x); })) { return null; }
    v = v.map(Number);
    var ok = v[0] === Math.round(v[0]) && v[0] >= ctx.minZoom && v[0] <= ctx.maxZoom &&
      Math.abs(v[1]) <= 85 && Math.abs(v[2]) <= 180;
    return ok ? v : null;
  }
  function vetFilter(s) {
    if (s.length > 600) { return null; }
    var q = new URLSearchParams(s), ok = true;
    q.forEach(function (val, key) {
      if (FILTER_KEYS.indexOf(key) < 0 || !FILTER_VALUE_RE.test(val)) { ok = false; }
    });
    return ok ? q.toString() : null;
  }
  /**
   * ``h`` the hash's raw values; ``ctx``: minZoom, maxZoom, overlays, bases (names),
   * validDate(d), asOf (the page's date or null). Resolves to the values to apply, each key
   * present only when valid (``sel``/``cmp`` exist on that date; the filter is one the API
   * accepts).
   */
  function vetHash(h, ctx) {
    var v = {}, jobs = [];
    if (h.map != null) { var m = vetMap(h.map, ctx); if (m) { v.map = m; } }
    if (h.lang === 'zh' || h.lang === 'en') { v.lang = h.lang; }
    if (h.base != null && ctx.bases.indexOf(h.base) >= 0) { v.base = h.base; }
    if (h.off != null) {
      var off = h.off.split(',').filter(Boolean);
      if (off.every(function (k) { return ctx.overlays.indexOf(k) >= 0; })) { v.off = off; }
    }
    if (h.as_of != null && ctx.validDate(h.as_of)) { v.as_of = h.as_of; }
    var date = v.as_of || ctx.asOf, asOfQ = date ? '?as_of=' + date : '';
    if (h.sel != null && CODE_RE.test(h.sel)) {
      jobs.push(exists(h.sel, asOfQ).then(function (ok) { if (ok) { v.sel = h.sel; } }));
    }
    if (h.cmp != null) {
      var cmp = h.cmp.split(',').filter(Boolean);
      if (cmp.length <= 4 && cmp.every(function (c) { return CODE_RE.test(c); })) {
        jobs.push(Promise.all(cmp.map(function (c) { return exists(c, asOfQ); })).then(function (oks) {
          if (oks.every(Boolean)) { v.cmp = cmp; }
        }));
      }
    }
    if (h.f != null) {
      var f = vetFilter(h.f);
      if (f) {
        var url = '/api/parcels/available?' + f + (date ? '&as_of=' + date : '') + '&limit=1';
        jobs.push(fetch(url, { headers: { Accept: 'application/geo+json' } })
          .then(function (r) { if (r.ok) { v.f = f; } }, function () { /* not applied */ }));
      }
    }
    return Promise.all(jobs).then(function () { return v; });
  }

  // VectorGrid 1.3's tile canvas passes a click on to the map only when it hits a feature,
  // and Leaflet 1.9 marks canvases so the map does not read their events itself: a click on
  // empty parcel tiles (all the map from zoom 10) was lost to every map click handler (this
  // control, the measuring tool, double-click zoom). Leaflet's own canvas hands a miss to the
  // map; this does the same for the tiles, as the event bubbles past the map's container
  // (the tiles drawn before PG.init keep their own listeners, so no prototype patch).
  function forwardTileClicks(map) {
    L.DomEvent.on(map.getContainer(), 'click dblclick mousedown mouseup contextmenu', function (e) {
      var el = e.target;
      if (e._stopped || !el || el.tagName !== 'CANVAS' || !L.DomUtil.hasClass(el, 'leaflet-tile')) { return; }
      map._fireDOMEvent(e, e.type);
    });
  }

  var PGAccess = window.PGAccess = {
    forwardTileClicks: forwardTileClicks,
    driveText: driveText, driveHtml: driveHtml, addControl: addControl, vetHash: vetHash,
    gcj2wgs: gcj2wgs, state: null,
  };
})();
