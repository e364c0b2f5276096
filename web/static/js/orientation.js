/* Orientation on the investor map (issue 15 point 2, issue 14 point 5): where the parks lie and
 * how much land they have, readable with no basemap.
 *
 * * a headline panel: available parcels and mu per park and for the cluster, from
 *   /api/ledger/public (the ledger's own public figures, never recomputed here);
 * * the same figures under each park's name on the map (the zones' labels);
 * * the sourced reference places (/ogc/collections/places/items: county seat, townships,
 *   cities, the airport) as permanent labels with their direction and distance from the parks.
 *
 * Loaded after investor.js: it wraps PG.init so investor.js needs no hook. Every value is set
 * with textContent or setAttribute (no HTML parsing of data); the labels are data-zh/data-en
 * spans, so investor.js's language toggle switches them with the rest of the page.
 *
 * Labels never overlap: after every zoom or move they are laid out in priority order and a
 * label whose box meets one already shown is hidden (declutter). Which kinds show depends on
 * the zoom: far cities up to zoom 12, parks and seats up to 15; above, parcels have the map.
 */
(function () {
  'use strict';
  var PG = window.PG;
  if (!PG || !PG.init) { return; }
  // Which labels show at which zoom (maxZoom: hidden above it, so parcel zoom stays clear)
  // and who wins a collision: at county zoom the places orient (the parks' figures are in the
  // headline panel); from zoom 12 on, the parks come first.
  var KINDS = {
    county_seat: { minZoom: 8, maxZoom: 15, far: 0, near: 1 },
    provincial_capital: { minZoom: 8, maxZoom: 12, far: 1, near: 3 },
    city: { minZoom: 8, maxZoom: 12, far: 2, near: 4 },
    airport: { minZoom: 8, maxZoom: 12, far: 3, near: 5 },
    township_seat: { minZoom: 10, maxZoom: 15, far: 4, near: 2 },
    park: { minZoom: 8, maxZoom: 15, far: 5, near: 0 },
  };
  var O = PG.orientation = { labels: [], parks: null, places: null, ready: null };

  function lang() { return (PG.state && PG.state.lang) === 'en' ? 'en' : 'zh'; }
  function span(zh, en, cls) {
    var e = document.createElement('span');
    e.className = 'i18n' + (cls ? ' ' + cls : '');
    e.setAttribute('data-zh', zh);
    e.setAttribute('data-en', en);
    e.textContent = lang() === 'en' ? en : zh;
    return e;
  }
  function num(v, d) {
    return Number(v).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function amount(p) {  // "可供地块 N 宗 · X 亩" / "N parcels · X mu available"
    return span('可供地块 ' + num(p.parcels, 0) + ' 宗 · ' + num(p.area_mu, 1) + ' 亩',
      num(p.parcels, 0) + ' parcels · ' + num(p.area_mu, 1) + ' mu available', 'pg-or-amount');
  }
  function getJSON(url) {
    return fetch(url, { headers: { Accept: 'application/json' } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); }
      return r.json();
    });
  }

  // ---- the headline panel ----------------------------------------------------------------
  function headline(map, body) {
    var box = document.createElement('div');
    box.id = 'pg-headline';
    box.className = 'pg-headline leaflet-bar';
    // A button: on a phone the panel folds to its title and total (orientation.css), a tap
    // unfolds the parks.
    var h = document.createElement('button');
    h.type = 'button';
    h.className = 'pg-headline-title';
    h.setAttribute('aria-expanded', 'false');
    h.appendChild(span('可供土地', 'Land available'));
    h.addEventListener('click', function () {
      var open = box.classList.toggle('pg-headline-open');
      h.setAttribute('aria-expanded', open ? 'true' : 'false');
    });
    box.appendChild(h);
    if (PG.asOf && PG.asOf()) {
      // The map may show a past date; these figures are always today's.
      var note = document.createElement('div');
      note.className = 'pg-headline-note';
      note.appendChild(span('今日数据（非所选日期）', "today's figures, not the chosen date"));
      box.appendChild(note);
    }
    var list = document.createElement('ul');
    body.parks.forEach(function (p) {
      var li = document.createElement('li');
      li.setAttribute('data-zone', p.zone_code);
      li.setAttribute('data-parcels', String(p.parcels));
      li.setAttribute('data-mu', String(p.area_mu));
      li.appendChild(span(p.name_zh, p.name_en || p.name_zh, 'pg-or-name'));
      li.appendChild(amount(p));
      list.appendChild(li);
    });
    var tot = document.createElement('li');
    tot.className = 'pg-headline-total';
    tot.setAttribute('data-zone', 'ALL');
    tot.setAttribute('data-parcels', String(body.total.parcels));
    tot.setAttribute('data-mu', String(body.total.area_mu));
    tot.appendChild(span('合计', 'All parks', 'pg-or-name'));
    tot.appendChild(amount(body.total));
    list.appendChild(tot);
    box.appendChild(list);
    var Ctl = L.Control.extend({
      options: { position: 'topright' },
      onAdd: function () {
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      },
    });
    new Ctl().addTo(map);
  }

  // ---- labels ------------------------------------------------------------------------------
  function track(kind, code, layer) {
    O.labels.push({ kind: kind, code: code, layer: layer, seq: O.labels.length });
  }
  function label(map, latlng, kind, content, code) {
    var marker = L.circleMarker(latlng, {
      radius: 3.5, weight: 1.5, color: '#333', fillColor: '#fff', fillOpacity: 1,
      interactive: false, pane: 'pgLabels',
    });
    marker.bindTooltip(content, {
      permanent: true, interactive: false, pane: 'pgLabels', direction: 'right', offset: [5, 0],
      className: 'pg-label pg-label-' + kind,
    });
    marker.addTo(map);
    track(kind, code, marker);
  }
  // The parks already carry their names as permanent tooltips (investor.js, zones layer): the
  // figures are added under the name there rather than drawn as a second label on top.
  function parkLabels(body) {
    var byCode = {};
    body.parks.forEach(function (p) { byCode[p.zone_code] = p; });
    var zones = PG.state.overlays.zones;
    if (!zones) { return; }
    zones.eachLayer(function (g) {
      (g.eachLayer ? g : { eachLayer: function (f) { f(g); } }).eachLayer(function (layer) {
        var code = layer.feature && layer.feature.properties && layer.feature.properties.code;
        var tip = layer.getTooltip && layer.getTooltip();
        var p = byCode[code];
        if (!p || !tip || !tip.options.permanent) { return; }
        var content = tip.getContent();
        if (!(content instanceof Node)) { return; }
        var c = document.createElement('div');
        c.appendChild(content);
        c.appendChild(document.createElement('br'));
        c.appendChild(amount(p));
        tip.setContent(c);
        track('park', code, layer);
      });
    });
  }
  function placeLabels(map, fc) {
    (fc.features || []).forEach(function (f) {
      var p = f.properties || {}, g = f.geometry || {};
      if (!KINDS[p.kind] || g.type !== 'Point') { return; }
      var c = document.createElement('div');
      c.appendChild(span(p.name_zh, p.name_en || p.name_zh, 'pg-or-name'));
      if (p.distance_km != null && p.direction_zh) {
        c.appendChild(document.createElement('br'));
        var d = p.distance_km >= 10 ? num(p.distance_km, 0) : num(p.distance_km, 1);
        c.appendChild(span('园区' + p.direction_zh + ' ' + d + ' 公里',
          d + ' km ' + (p.direction_en || '') + ' of the parks', 'pg-or-dist'));
      }
      label(map, [g.coordinates[1], g.coordinates[0]], p.kind, c, p.code);
    });
  }

  // ---- declutter ---------------------------------------------------------------------------
  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }
  function declutter(map) {
    var z = map.getZoom(), rank = z <= 11 ? 'far' : 'near';
    // The map's controls (zoom, layers, legend, the headline panel) cover what lies under
    // them: a label there is as unreadable as one under another label.
    var kept = Array.prototype.map.call(
      map.getContainer().querySelectorAll('.leaflet-control'),
      function (c) { return c.getBoundingClientRect(); });
    O.labels.slice().sort(function (a, b) {
      return KINDS[a.kind][rank] - KINDS[b.kind][rank] || a.seq - b.seq;
    }).forEach(function (l) {
      var tip = l.layer.getTooltip(), el = tip && tip.getElement();
      if (!el || !map.hasLayer(l.layer)) { return; }
      el.setAttribute('data-pg-label', l.kind);
      el.setAttribute('data-code', l.code);
      var k = KINDS[l.kind], show = z >= k.minZoom && z <= k.maxZoom;
      if (show) {
        el.style.visibility = 'visible';  // measured while visible, then kept or hidden
        var r = el.getBoundingClientRect();
        show = r.width > 0 && !kept.some(function (o) { return overlaps(o, r); });
        if (show) { kept.push(r); }
      }
      el.style.visibility = show ? 'visible' : 'hidden';
      el.setAttribute('data-shown', show ? '1' : '0');
      var dot = l.kind !== 'park' && l.layer.getElement && l.layer.getElement();
      if (dot) { dot.style.visibility = show ? 'visible' : 'hidden'; }
    });
  }
  O.declutter = function () { if (O.map) { declutter(O.map); } };

  var init = PG.init;
  PG.init = function (o) {
    init(o);
    var map = O.map = o.map;
    // Above the parcel tiles and infrastructure, below popups; labels never take a click.
    var pane = map.createPane('pgLabels');
    pane.style.zIndex = 640;
    pane.style.pointerEvents = 'none';
    var again = function () { O.declutter(); };
    O.ready = Promise.all([
      Promise.all([getJSON('/api/ledger/public'), PG.layersLoaded]).then(function (r) {
        O.parks = r[0];
        headline(map, r[0]);
        parkLabels(r[0]);
      }),
      getJSON('/ogc/collections/places/items?limit=1000').then(function (fc) {
        O.places = fc;
        placeLabels(map, fc);
      }),
    ]).then(function () {
      declutter(map);
      map.on('zoomend moveend resize overlayadd', again);
      // The language toggle changes every label's width: lay them out again once it has run.
      var btn = document.getElementById('pg-lang');
      if (btn) { btn.addEventListener('click', function () { setTimeout(again, 0); }); }
      document.body.setAttribute('data-pg-orientation', '1');
    }).catch(function (e) {
      console.error(e);
      document.body.setAttribute('data-pg-orientation', 'error');
    });
  };
})();
