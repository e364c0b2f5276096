/* ParkGIS investor map: the page behaviour around the Folium map.
 *
 * Loaded in <head> before Leaflet (Folium puts its own links after ours), so nothing here
 * touches L until PG.init() runs from the map script at the end of <body>.
 *
 * State lives in S and is mirrored in the URL hash (the permalink):
 *   #map=z/lat/lng&lang=en&base=osm&off=upgrades,enterprises&sel=WH-A-012&cmp=A,B&f=<query>
 *   &as_of=YYYY-MM-DD
 * The park as of a date (``/?as_of=`` or ``#as_of=``): every request that depends on the date
 * (parcel tiles, infrastructure and upgrades, sheet, compare, search) carries as_of.
 */
(function () {
  'use strict';
  var PG = window.PG = {};
  var S = {
    lang: 'zh', map: null, overlays: {}, bases: {}, cfg: {}, base: 'none', gcj: false,
    rows: [], selected: null, compare: [], filter: '', resultsLayer: null, selLayer: null,
    restoring: false, asOf: undefined, asOfBad: false,
  };
  var SERVICES = ['road', 'water', 'drainage', 'power', 'gas', 'heat', 'telecom', 'levelled'];
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  // ---- i18n --------------------------------------------------------------------------
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function pair(key) {
    var v = (S.cfg.i18n || {})[key];
    if (v) { return v; }
    var w = String(key).split('.').slice(1).join('.').replace(/_/g, ' ');
    return [w, w];
  }
  function tt(zh, en) {  // a switchable span from two literal texts
    zh = zh == null ? '' : zh; en = en == null || en === '' ? zh : en;
    return '<span class="i18n" data-zh="' + esc(zh) + '" data-en="' + esc(en) + '">' +
      esc(S.lang === 'en' ? en : zh) + '</span>';
  }
  function t(key) { var p = pair(key); return tt(p[0], p[1]); }
  function txt(key) { var p = pair(key); return S.lang === 'en' ? p[1] : p[0]; }
  function landuseKey(code) {
    code = code || '';
    if (S.cfg.i18n['landuse.' + code.slice(0, 6)]) { return 'landuse.' + code.slice(0, 6); }
    return 'landuse.' + code.slice(0, 4);
  }
  function translate(root) {
    root = root || document;
    $$('[data-zh]', root).forEach(function (el) {
      var v = el.getAttribute('data-' + S.lang);
      if (v != null && el.textContent !== v) { el.textContent = v; }
    });
    $$('[data-zh-placeholder]', root).forEach(function (el) {
      el.setAttribute('placeholder', el.getAttribute('data-' + S.lang + '-placeholder'));
    });
  }
  function setLang(lang) {
    S.lang = lang === 'en' ? 'en' : 'zh';
    document.documentElement.lang = S.lang === 'en' ? 'en' : 'zh-CN';
    document.body.classList.toggle('pg-en', S.lang === 'en');
    $('#pg-lang-label').textContent = S.lang === 'en' ? '中文' : 'English';
    translate(document);
    renderResults();
    saveHash();
  }
  PG.setLang = setLang;

  // ---- numbers -------------------------------------------------------------------------
  function fmt(v, d) {
    if (v == null || v === '' || isNaN(v)) { return '—'; }
    return Number(v).toLocaleString('en-US', { minimumFractionDigits: d || 0, maximumFractionDigits: d || 0 });
  }
  function area(mu) {  // 1 ha = 15 mu exactly
    return fmt(mu, 1) + ' ' + t('ui.mu') + ' · ' + fmt(mu / 15, 2) + ' ' + t('ui.ha');
  }
  function toast(html) {
    var el = $('#pg-toast');
    el.innerHTML = html; el.hidden = false;
    clearTimeout(toast._t);
    toast._t = setTimeout(function () { el.hidden = true; }, 2500);
  }

  // ---- styles ----------------------------------------------------------------------------
  PG.parcelStyle = function (p, z) {
    var st = (S.cfg.statusStyle || {})[p.status] || { fillColor: '#bbbbbb', fillOpacity: 0.4 };
    var sel = p.code !== undefined && p.code === S.selected;  // tiles loaded after a selection
    return {
      fill: true, fillColor: st.fillColor, fillOpacity: st.fillOpacity,
      stroke: true, color: sel ? S.cfg.selected : '#ffffff', weight: sel ? 3 : (z >= 15 ? 1 : 0.5), opacity: 0.9,
    };
  };

  // ---- as of a date ----------------------------------------------------------------------
  // The date is read before PG.init: the parcel tiles are asked for as soon as Folium adds
  // their layer, and their URL template calls PG.tileQuery. A date the API would refuse (not
  // YYYY-MM-DD, not a calendar day, outside the range the banner carries) shows today.
  function validDate(v) {
    if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(v)) { return false; }
    var d = new Date(v + 'T00:00:00Z');
    if (isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) { return false; }
    var el = document.getElementById('pg-asof');
    var lo = el && el.getAttribute('data-min'), hi = el && el.getAttribute('data-max');
    return (!lo || v >= lo) && (!hi || v <= hi);
  }
  function initAsOf() {
    // the permalink's date wins over the query's: the hash is the page's latest state
    var h = readHash(), q = new URLSearchParams(location.search);
    var raw = h.as_of != null ? h.as_of : q.get('as_of');
    S.asOf = raw && validDate(raw) ? raw : null;
    S.asOfBad = !!raw && !S.asOf;
  }
  function asOf() { if (S.asOf === undefined) { initAsOf(); } return S.asOf; }
  function asOfQuery(sep) { return asOf() ? sep + 'as_of=' + asOf() : ''; }
  PG.tileQuery = function () { return asOfQuery('?'); };
  PG.asOf = asOf;
  function showAsOf() {
    var el = $('#pg-asof');
    if (!el) { return; }
    var d = asOf();
    el.classList.toggle('pg-asof-bad', !d && S.asOfBad);
    $('#pg-asof-text').textContent = d ? '按 ' + d + ' 查看 / as of ' + d :
      (S.asOfBad ? 'as_of 日期无效，显示今天 / as_of is not a valid date, showing today' : '');
    $('#pg-asof-today').hidden = !d;
    el.hidden = !d && !S.asOfBad;
    document.body.setAttribute('data-pg-as-of', d || '');
  }
  function setAsOf(d) {
    S.asOf = d && validDate(d) ? d : null;
    S.asOfBad = false;
    showAsOf();
    // the query's date would come back on a reload: the hash alone keeps it from now on
    var q = new URLSearchParams(location.search);
    if (q.has('as_of')) {
      q.delete('as_of');
      var qs = q.toString();
      history.replaceState(null, '', location.pathname + (qs ? '?' + qs : '') + location.hash);
    }
    saveHash();
    S.overlays.parcels.redraw();
    PG.layersLoaded = loadDatedLayers();
    if (S.selected) { select(S.selected); }
    if (S.searched) { runSearch(S.filter); }
  }
  PG.setAsOf = setAsOf;

  // ---- data layers: fetched as JSON, popups and tooltips built as DOM nodes ----------------
  // No stored value is ever part of the page's scripts or of an HTML string: names reach the
  // page only through textContent and setAttribute (issue 11).
  function node(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null) { e.textContent = String(text); }
    return e;
  }
  function ttNode(zh, en) {  // a switchable span from two stored texts
    zh = zh == null ? '' : String(zh); en = en == null || en === '' ? zh : String(en);
    var e = node('span', 'i18n', S.lang === 'en' ? en : zh);
    e.setAttribute('data-zh', zh); e.setAttribute('data-en', en);
    return e;
  }
  function tNode(key) { var p = pair(key); return ttNode(p[0], p[1]); }
  function val(v, d) { return v == null || v === '' ? '—' : (typeof v === 'number' ? fmt(v, d) : String(v)); }
  function popupNode(p, rows, cls, icon) {
    var div = node('div', 'pg-pop' + (cls ? ' ' + cls : '')), h = node('h6');
    if (icon) { h.appendChild(node('i', 'fa fa-' + icon)); h.appendChild(document.createTextNode(' ')); }
    h.appendChild(ttNode(p.name_zh, p.name_en));
    div.appendChild(h);
    if (rows.length) {
      var table = node('table');
      rows.forEach(function (r) {
        var tr = node('tr'), th = node('th'), td = node('td');
        th.appendChild(tNode(r[0]));
        r.slice(1).forEach(function (x) { td.appendChild(typeof x === 'string' ? document.createTextNode(x) : x); });
        tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
      });
      div.appendChild(table);
    }
    return div;
  }
  var POPUPS = {
    county: function (p) { return popupNode(p, []); },
    zones: function (p) {
      return popupNode(p, [['ui.kind', tNode('zone.' + p.kind)], ['ui.status', tNode('zone.' + p.status)],
        ['ui.area', val(p.area_m2 / 10000, 1) + ' ', tNode('ui.ha'), ' · ' + val(p.area_m2 * 15 / 10000, 0) + ' ', tNode('ui.mu')]]);
    },
    infrastructure: function (p) {
      var rows = [['ui.kind', tNode('infra.' + p.kind)], ['ui.status', tNode('infra_status.' + p.status)]];
      if (p.capacity != null) { rows.push(['ui.capacity', val(p.capacity, 0) + ' ' + (p.capacity_unit == null ? '' : p.capacity_unit)]); }
      if (p.voltage_kv != null) { rows.push(['ui.voltage', val(p.voltage_kv, 0)]); }
      if (p.diameter_mm != null) { rows.push(['ui.diameter', val(p.diameter_mm, 0)]); }
      return popupNode(p, rows);
    },
    upgrades: function (p) {
      var rows = [['ui.kind', tNode('infra.' + p.kind)], ['ui.status', tNode('upgrade_status.' + p.status)]];
      if (p.capacity_added != null) { rows.push(['ui.capacity', p.capacity_text || ('+' + val(p.capacity_added, 0) + ' ' + (p.capacity_unit == null ? '' : p.capacity_unit))]); }
      // past its finish date and not complete: marked so (the overdue rule is the database's)
      rows.push(['ui.start', val(p.start_date)], ['ui.finish', val(p.finish_date) + (p.overdue ? ' · 逾期未完工 overdue' : '')]);
      if (p.cost_wan != null) { rows.push(['ui.cost', val(p.cost_wan, 0)]); }
      return popupNode(p, rows, 'pg-upgrade', 'person-digging');
    },
    enterprises: function (p) {
      var rows = [['ui.role', tNode('role.' + p.chain_role)], ['ui.kind', tNode('industry.' + p.industry)]];
      if (p.is_anchor) { rows.push(['ui.anchor', tNode('ui.yes')]); }
      if (p.employees != null) { rows.push(['ui.employees', val(p.employees, 0)]); }
      if (p.parcel_code && p.parcel_href) {
        // the parcel it stands on: a link that selects it on this map
        var a = node('a'); a.setAttribute('href', p.parcel_href); a.textContent = p.parcel_code;
        rows.push(['ui.on_parcel', a]);
      }
      return popupNode(p, rows);
    },
  };
  PG.popupNode = function (layer, props) { return POPUPS[layer](props); };
  function bindFeature(kind, f, layer) {
    var p = f.properties || {};
    layer.bindPopup(function () { return POPUPS[kind](p); }, { maxWidth: 320 });
    if (kind === 'zones') {
      layer.bindTooltip(ttNode(p.name_zh, p.name_en), { permanent: true, direction: 'center', className: 'pg-zone-label' });
    } else if (kind !== 'county' && p.name_zh) {
      layer.bindTooltip(function () { return ttNode(p.name_zh, p.name_en); }, { sticky: true });
    }
  }
  function geoLayer(fc, kind) {
    return L.geoJSON(fc, {
      style: function (f) { return f.properties._style; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, f.properties._marker || {}); },
      onEachFeature: function (f, layer) { bindFeature(kind, f, layer); },
    });
  }
  function getLayer(name) {
    return fetch(S.cfg.layers + name + asOfQuery('?'), { headers: { Accept: 'application/geo+json, application/json' } })
      .then(function (r) {
        if (!r.ok) { throw new Error('layer ' + name + ': HTTP ' + r.status); }
        return r.json();
      });
  }
  function fill(group, layer) {
    if (!group) { return; }
    if (S.gcj) { shiftLayer(layer, true); }
    group.addLayer(layer);
  }
  // Infrastructure and upgrades: the layers that change with the date shown.
  function loadDatedLayers() {
    var O = S.overlays, jobs = [];
    ['river', 'roads_rail', 'utilities', 'upgrades'].forEach(function (g) { if (O[g]) { O[g].clearLayers(); } });
    if (O.upgrades) {
      jobs.push(getLayer('upgrades').then(function (fc) { fill(O.upgrades, geoLayer(fc, 'upgrades')); }));
    }
    jobs.push(getLayer('infrastructure').then(function (fc) {
      ['river', 'roads_rail', 'utilities'].forEach(function (g) {
        var feats = fc.features.filter(function (f) { return f.properties._group === g; });
        fill(O[g], geoLayer({ type: 'FeatureCollection', features: feats }, 'infrastructure'));
      });
    }));
    return Promise.all(jobs).then(function () { document.body.setAttribute('data-pg-layers-as-of', asOf() || ''); });
  }
  function loadLayers(minimap) {
    var O = S.overlays, jobs = [loadDatedLayers()];
    ['county', 'zones'].forEach(function (k) {
      if (O[k]) { jobs.push(getLayer(k).then(function (fc) { fill(O[k], geoLayer(fc, k)); })); }
    });
    if (O.enterprises) {
      jobs.push(getLayer('enterprises').then(function (fc) {
        var ms = fc.features.map(function (f) {
          var p = f.properties, c = f.geometry.coordinates;
          var m = L.marker([c[1], c[0]], {
            icon: L.AwesomeMarkers.icon({ icon: p._icon, prefix: 'fa', markerColor: p._colour, iconColor: 'white' }),
            pgCode: p.code,
          });
          m.bindPopup(function () { return POPUPS.enterprises(p); }, { maxWidth: 320 });
          m.bindTooltip(function () { return ttNode(p.name_zh, p.name_en); });
          if (S.gcj) { shiftLayer(m, true); }
          return m;
        });
        O.enterprises.addLayers(ms);
      }));
    }
    if (O.hillshade || O.flood) {
      jobs.push(getLayer('terrain').then(function (t) {
        t.overlays.forEach(function (ov) {
          var img = O[ov.id];
          if (!img) { return; }
          img._pgBounds = L.latLngBounds(ov.bounds);
          shiftLayer(img, S.gcj);
        });
      }));
    }
    if (minimap) { jobs.push(getLayer('outline').then(function (fc) { minimap.addData(fc); })); }
    return Promise.all(jobs);
  }

  // ---- GCJ-02 shift while AMap is the basemap ----------------------------------------------
  function mapLL(lls, fn) {
    if (Array.isArray(lls)) { return lls.map(function (x) { return mapLL(x, fn); }); }
    return fn(lls);
  }
  function toGcj(ll) { var g = window.PGGCJ.wgs2gcj(ll.lat, ll.lng); return L.latLng(g[0], g[1]); }
  function shiftLayer(layer, on) {
    if (!layer) { return; }
    if (layer instanceof L.MarkerClusterGroup) {
      var ms = layer.getLayers();
      layer.clearLayers();
      ms.forEach(function (m) { shiftLayer(m, on); });
      layer.addLayers(ms);
      return;
    }
    if (layer.eachLayer && !layer.getLatLngs) {
      layer.eachLayer(function (l) { shiftLayer(l, on); });
      return;
    }
    if (layer instanceof L.ImageOverlay) {
      if (!layer._pgBounds) { layer._pgBounds = layer.getBounds(); }
      var b = layer._pgBounds;
      layer.setBounds(on ? L.latLngBounds(toGcj(b.getSouthWest()), toGcj(b.getNorthEast())) : b);
    } else if (layer.getLatLngs) {
      if (!layer._pgLL) { layer._pgLL = layer.getLatLngs(); }
      layer.setLatLngs(on ? mapLL(layer._pgLL, toGcj) : layer._pgLL);
    } else if (layer.getLatLng) {
      if (!layer._pgLL) { layer._pgLL = layer.getLatLng(); }
      layer.setLatLng(on ? toGcj(layer._pgLL) : layer._pgLL);
    }
  }
  function patchTilesForGcj(vg) {
    // Vector tiles are cut in CGCS2000 Web Mercator. Rather than re-cut them, each tile is
    // moved by the GCJ-02 offset at its centre: the offset varies by well under a metre
    // across a 256-px tile at park zooms, so the seams are invisible; edge tiles may load a
    // few hundred metres late because the grid still thinks in unshifted coordinates.
    var orig = vg._getTilePos;
    vg._getTilePos = function (coords) {
      var pos = orig.call(this, coords);
      if (!S.gcj || !this._map) { return pos; }
      var ts = this.getTileSize();
      var centre = coords.scaleBy(ts).add(ts.divideBy(2));
      var ll = this._map.unproject(centre, coords.z);
      var moved = this._map.project(toGcj(ll), coords.z);
      return pos.add(moved.subtract(centre).round());
    };
  }
  function setGcj(on) {
    if (S.gcj === on) { return; }
    S.gcj = on;
    Object.keys(S.overlays).forEach(function (k) {
      if (k === 'parcels') { S.overlays[k].redraw(); } else { shiftLayer(S.overlays[k], on); }
    });
    shiftLayer(S.resultsLayer, on);
    shiftLayer(S.selLayer, on);
  }

  // ---- permalink -------------------------------------------------------------------------
  function saveHash() {
    if (S.restoring || !S.map) { return; }
    var c = S.map.getCenter();
    var parts = ['map=' + S.map.getZoom() + '/' + c.lat.toFixed(5) + '/' + c.lng.toFixed(5)];
    if (S.lang !== 'zh') { parts.push('lang=' + S.lang); }
    if (S.base !== 'none') { parts.push('base=' + S.base); }
    var off = Object.keys(S.overlays).filter(function (k) { return !S.map.hasLayer(S.overlays[k]); });
    if (off.length) { parts.push('off=' + off.join(',')); }
    if (S.selected) { parts.push('sel=' + encodeURIComponent(S.selected)); }
    if (S.compare.length) { parts.push('cmp=' + S.compare.map(encodeURIComponent).join(',')); }
    if (S.filter) { parts.push('f=' + encodeURIComponent(S.filter)); }
    if (asOf()) { parts.push('as_of=' + asOf()); }
    history.replaceState(null, '', '#' + parts.join('&'));
  }
  function readHash() {
    var h = Object.create(null);
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var i = kv.indexOf('=');
      if (i < 1) { return; }
      // a malformed escape (typed by hand) drops that part instead of throwing
      try { h[kv.slice(0, i)] = decodeURIComponent(kv.slice(i + 1)); } catch (e) { /* ignored */ }
    });
    return h;
  }
  PG.permalink = function () { saveHash(); return shareUrl(); };

  // ---- filters and results ---------------------------------------------------------------
  function formQuery() {
    var f = $('#pg-filter'), q = new URLSearchParams();
    ['min_mu', 'max_mu', 'landuse', 'zone', 'max_rail_m', 'max_substation_m'].forEach(function (n) {
      var v = f.elements[n].value.trim();
      if (v !== '') { q.append(n, v); }
    });
    var svc = $$('input[name=svc]:checked', f).map(function (el) { return el.value; });
    if (svc.length) { q.append('svc', svc.join(',')); }
    if (f.elements.near_role.value) {
      q.append('near_role', f.elements.near_role.value);
      q.append('near_role_m', f.elements.near_role_m.value || '1000');
    }
    // Terrain filters only while shown (terrain loaded); the flood share is asked in percent.
    ['max_slope_deg', 'max_earthwork_wan', 'max_flood_pct'].forEach(function (n) {
      var el = f.elements[n], v = el.value.trim();
      if (v === '' || el.closest('[hidden]')) { return; }
      if (n === 'max_flood_pct') {
        var share = Number(v) / 100;
        q.append('max_flood_share', isFinite(share) ? String(Math.round(share * 1e6) / 1e6) : v);
      } else {
        q.append(n, v);
      }
    });
    return q.toString();
  }
  function showTerrainFilters() {
    var tr = S.cfg.terrain || {}, any = false;
    $$('#pg-terrain-filters [data-needs]').forEach(function (el) {
      var on = !!tr[el.getAttribute('data-needs')];
      el.hidden = !on; any = any || on;
    });
    $('#pg-terrain-filters').hidden = !any;
  }
  function fillForm(qs) {
    var f = $('#pg-filter'), q = new URLSearchParams(qs);
    ['min_mu', 'max_mu', 'landuse', 'zone', 'max_rail_m', 'max_substation_m', 'near_role', 'near_role_m']
      .forEach(function (n) { if (q.has(n)) { f.elements[n].value = q.get(n); } });
    ['max_slope_deg', 'max_earthwork_wan'].forEach(function (n) { if (q.has(n)) { f.elements[n].value = q.get(n); } });
    if (q.has('max_flood_share')) { f.elements.max_flood_pct.value = String(Math.round(Number(q.get('max_flood_share')) * 1e4) / 100); }
    var svc = (q.get('svc') || '').split(',');
    $$('input[name=svc]', f).forEach(function (el) { el.checked = svc.indexOf(el.value) >= 0; });
  }
  function runSearch(qs) {
    S.filter = qs;
    var err = $('#pg-filter-error');
    err.hidden = true;
    var pre = '/api/parcels/available?' + (qs ? qs + '&' : '') + (asOf() ? 'as_of=' + asOf() + '&' : '');
    $('#pg-csv').href = pre + 'f=csv&limit=5000';
    var url = pre + 'limit=1000';
    $('#pg-count').textContent = '…';
    return fetch(url, { headers: { Accept: 'application/geo+json' } }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) {
        err.textContent = res.body.detail || res.body.title || txt('ui.error');
        err.hidden = false;
        $('#pg-count').textContent = '!';
        return;
      }
      S.searched = true;
      S.rows = res.body.features.map(function (f) { return f.properties; });
      S.total = res.body.numberMatched;
      showResults(res.body);
      renderResults();
      saveHash();
    }).catch(function () {
      err.textContent = txt('ui.error'); err.hidden = false;
    });
  }
  function showResults(fc) {
    if (S.resultsLayer) { S.map.removeLayer(S.resultsLayer); }
    S.resultsLayer = L.geoJSON(fc, {
      pane: 'pgResults',
      style: function () { return { color: S.cfg.highlight, weight: 2, opacity: 0.9, fillOpacity: 0.08, fillColor: S.cfg.highlight }; },
      onEachFeature: function (f, layer) {
        layer.on('click', function (e) { L.DomEvent.stop(e); select(f.properties.code); });
        layer.bindTooltip(esc(f.properties.code));  // Leaflet sets tooltip strings as HTML
      },
    }).addTo(S.map);
    if (S.gcj) { shiftLayer(S.resultsLayer, true); }
    if (fc.features.length && !S.restoring) {
      whenIdle(function () { S.map.fitBounds(S.resultsLayer.getBounds(), { maxZoom: 16, padding: [30, 30] }); });
    }
  }
  function sortRows() {
    var key = $('#pg-sort').value, desc = key.charAt(0) === '-';
    key = key.replace(/^-/, '');
    var col = { area_mu: 'area_mu', code: 'code', dist_rail: 'dist_rail_m', dist_substation: 'dist_substation_m' }[key];
    S.rows.sort(function (a, b) {
      var x = a[col], y = b[col];
      if (x == null && y == null) { return 0; }
      if (x == null) { return 1; }
      if (y == null) { return -1; }
      var c = typeof x === 'string' ? x.localeCompare(y) : x - y;
      return desc ? -c : c;
    });
  }
  function renderResults() {
    var body = $('#pg-results tbody');
    if (!body) { return; }
    sortRows();
    body.innerHTML = S.rows.map(function (r) {
      return '<tr data-code="' + esc(r.code) + '"' + (r.code === S.selected ? ' class="table-active"' : '') + '>' +
        '<td><i class="pg-swatch" style="background:' + ((S.cfg.statusStyle[r.status] || {}).fillColor || '#999') + '"></i>' +
        esc(r.code) + '<br><small class="text-muted">' + t(landuseKey(r.landuse_code)) + '</small></td>' +
        '<td class="num">' + fmt(r.area_mu, 1) + '<br><small class="text-muted">' + fmt(r.area_mu / 15, 2) + '</small></td>' +
        '<td class="num">' + fmt(r.dist_rail_m) + '</td>' +
        '<td class="num">' + fmt(r.dist_substation_m) + '</td></tr>';
    }).join('');
    $('#pg-count').textContent = !S.searched ? '–' :
      S.rows.length + (S.total > S.rows.length ? ' / ' + S.total : '');
    $('#pg-empty').hidden = S.rows.length > 0 || !S.searched;
    $('#pg-hint').hidden = !!S.searched;
  }

  // ---- sheet -----------------------------------------------------------------------------
  function row(key, value) { return '<tr><th>' + t(key) + '</th><td>' + value + '</td></tr>'; }
  function sheetHtml(s) {
    var p = s.parcel, d = s.distances;
    var svc = SERVICES.map(function (k) {
      return '<span class="pg-svc-flag ' + (p.services[k] ? 'on' : 'off') + '"><i class="fa fa-' +
        (p.services[k] ? 'check' : 'xmark') + '"></i> ' + t('svc.' + k) + '</span>';
    }).join('');
    var h = '<div class="pg-sheet-head"><span class="pg-status" style="background:' +
      ((S.cfg.statusStyle[p.status] || {}).fillColor || '#999') + '">' + t('status.' + p.status) + '</span>' +
      '<h3 class="pg-sheet-code">' + esc(p.code) + '</h3>' +
      '<div class="text-muted">' + tt(p.zone_name_zh, p.zone_name_en) + '</div></div>';
    h += '<table class="table table-sm pg-kv">' +
      row('ui.area', area(p.area_mu) + '<br><small class="text-muted">' + fmt(p.area_m2) + ' ' + t('ui.m2') + '</small>') +
      row('ui.landuse', esc(p.landuse_code) + ' ' + t(landuseKey(p.landuse_code)) + (p.landuse_alias ? ' (' + esc(p.landuse_alias) + ')' : '')) +
      row('ui.status', t('status.' + p.status) + (p.reserved_until ? ' · ' + t('ui.reserved_until') + ' ' + esc(p.reserved_until) : '')) +
      (p.land_price_wan_per_mu != null ? row('ui.land_price', fmt(p.land_price_wan_per_mu, 1)) : '') +
      (p.enterprise_code ? row('ui.occupant', tt(p.enterprise_name_zh || p.enterprise_code, p.enterprise_name_en)) : '') +
      (p.elev_mean_m != null ? row('ui.elevation', fmt(p.elev_mean_m, 1)) : '') +
      (p.slope_mean_deg != null ? row('ui.slope', fmt(p.slope_mean_deg, 1)) : '') +
      (p.flood_share != null ? row('ui.flood', fmt(p.flood_share * 100, 0) + ' %') : '') +
      '</table>';
    h += '<h4 class="pg-h4">' + t('svc.title') + ' <small>' + p.services_count + '/8</small></h4><div class="pg-svc-flags">' + svc + '</div>';
    h += '<h4 class="pg-h4">' + t('ui.distance') + '</h4><table class="table table-sm pg-kv">' +
      Object.keys(d).map(function (k) {
        var x = d[k];
        return '<tr data-kind="' + esc(k) + '"><th>' + tt(x.label_zh, x.label_en) + '</th><td>' + (x.m == null ? '—' : fmt(x.m) + ' ' + t('ui.m') +
          ' <small class="text-muted">' + tt(x.name_zh, x.name_en) + '</small>' + PGAccess.driveHtml(x, S.lang)) + '</td></tr>';
      }).join('') + '</table>';
    if (s.upgrades.length) {
      h += '<h4 class="pg-h4"><i class="fa fa-person-digging"></i> ' + t('ui.serving_upgrades') + '</h4><ul class="pg-list">' +
        s.upgrades.map(function (u) {
          return '<li><b>' + tt(u.name_zh, u.name_en) + '</b> <span class="badge text-bg-info">' + t('upgrade_status.' + u.status) + '</span>' +
            (u.overdue ? ' <span class="badge text-bg-danger">' + tt('逾期未完工', 'overdue') + '</span>' : '') + '<br>' +
            '<small>' + t('ui.finish') + ' ' + esc(u.finish_date || '—') +
            (u.capacity_text ? ' · ' + esc(u.capacity_text) : '') +
            ' · ' + fmt(u.distance_m) + ' ' + t('ui.m') + '</small></li>';
        }).join('') + '</ul>';
    }
    if (s.nearby_infrastructure.length) {
      h += '<h4 class="pg-h4">' + t('ui.nearby_infra') + '</h4><ul class="pg-list">' +
        s.nearby_infrastructure.map(function (i) {
          return '<li>' + t('infra.' + i.kind) + ': ' + tt(i.name_zh, i.name_en) +
            (i.status !== 'existing' ? ' <span class="badge text-bg-warning">' + t('infra_status.' + i.status) + '</span>' : '') +
            (i.capacity != null ? ' <small>' + fmt(i.capacity) + ' ' + esc(i.capacity_unit || '') + '</small>' : '') +
            ' <small class="text-muted">' + fmt(i.distance_m) + ' ' + t('ui.m') + '</small></li>';
        }).join('') + '</ul>';
    }
    if (s.anchors.length) {
      h += '<h4 class="pg-h4">' + t('ui.anchors') + '</h4><ul class="pg-list">' +
        s.anchors.map(function (a) {
          return '<li>' + tt(a.name_zh, a.name_en) + ' <small>' + t('role.' + a.chain_role) + ' · ' +
            fmt(a.distance_m) + ' ' + t('ui.m') + '</small></li>';
        }).join('') + '</ul>';
    }
    h += '<div class="pg-sheet-actions">' +
      '<a class="btn btn-sm btn-outline-primary" id="pg-brief" target="_blank" href="' + esc(s.links.brief_pdf + asOfQuery('?')) + '"><i class="fa fa-file-pdf"></i> ' + t('ui.brief') + '</a>' +
      '<button class="btn btn-sm btn-outline-secondary" id="pg-permalink" type="button"><i class="fa fa-link"></i> ' + t('ui.permalink') + '</button>' +
      '<button class="btn btn-sm btn-outline-secondary" id="pg-add-compare" type="button"><i class="fa fa-plus"></i> ' + t('ui.add_compare') + '</button>' +
      '<button class="btn btn-sm btn-warning" id="pg-ask" type="button"><i class="fa fa-envelope"></i> ' + t('ui.ask') + '</button>' +
      '<input id="pg-permalink-text" class="form-control form-control-sm mt-1" readonly hidden></div>';
    return h;
  }
  // Leaflet 1.9 silently drops a view change that arrives while a zoom animation runs
  // (Map._tryAnimatedZoom returns early, even with animate: false), so a parcel named by a hash
  // edit made just after another parcel was framed would never be framed. Views wait for the
  // running zoom to end.
  function whenIdle(fn) {
    return new Promise(function (resolve) {
      (function go() {
        if (S.zooming) { S.map.once('zoomend', go); } else { fn(); resolve(); }
      })();
    });
  }
  function select(code, opts) {
    opts = opts || {};
    var vg = S.overlays.parcels;
    if (S.selected && vg && vg.resetFeatureStyle) { try { vg.resetFeatureStyle(S.selected); } catch (e) { /* tile gone */ } }
    S.selected = code;
    $('#pg-sheet').hidden = false;
    $('#pg-find').hidden = true;
    $('#pg-sheet').setAttribute('data-code', code);
    $('#pg-sheet-body').innerHTML = '<p class="text-muted">' + t('ui.loading') + '</p>';
    return fetch('/api/parcels/' + encodeURIComponent(code) + '/sheet' + asOfQuery('?')).then(function (r) {
      return r.json().then(function (b) { return { ok: r.ok, body: b }; });
    }).then(function (res) {
      if (!res.ok) {
        var warn = document.createElement('div');
        warn.className = 'alert alert-warning';
        warn.innerHTML = t('ui.not_found') + ': ';  // our own bilingual label (markup)
        warn.appendChild(document.createTextNode(code));  // the code came from a link: text only
        $('#pg-sheet-body').replaceChildren(warn);
        return;
      }
      var s = res.body;
      S.sheet = s;
      $('#pg-sheet-body').innerHTML = sheetHtml(s);
      $('#pg-sheet').setAttribute('data-loaded', code);
      $('#pg-sheet').setAttribute('data-as-of', s.as_of);
      if (vg && vg.setFeatureStyle) {
        var st = PG.parcelStyle({ status: s.parcel.status, code: code }, S.map.getZoom());
        try { vg.setFeatureStyle(code, st); } catch (e) { /* not on a loaded tile */ }
      }
      if (opts.zoom) {
        var b = s.parcel.bbox;
        whenIdle(function () { S.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 17, padding: [60, 60] }); });
      }
      renderResults();
      saveHash();
    });
  }
  PG.select = select;
  function closeSheet() {
    var vg = S.overlays.parcels;
    if (S.selected && vg && vg.resetFeatureStyle) { try { vg.resetFeatureStyle(S.selected); } catch (e) { /* */ } }
    if (S.selLayer) { S.map.removeLayer(S.selLayer); S.selLayer = null; }
    S.selected = null;
    $('#pg-sheet').hidden = true;
    $('#pg-find').hidden = false;
    renderResults();
    saveHash();
  }

  // ---- compare ---------------------------------------------------------------------------
  function updateCompareBadge() { $('#pg-compare-count').textContent = S.compare.length; }
  function addCompare(code) {
    if (S.compare.indexOf(code) >= 0) { toast(t('ui.compare') + ': ' + esc(code)); return; }
    if (S.compare.length >= 4) { toast(t('ui.compare_full')); return; }
    S.compare.push(code);
    updateCompareBadge();
    toast(t('ui.compare') + ': ' + S.compare.map(esc).join(', '));
    saveHash();
  }
  PG.addCompare = addCompare;
  function showCompare() {
    var body = $('#pg-compare-body');
    body.innerHTML = '<p class="text-muted">' + t('ui.loading') + '</p>';
    bootstrap.Modal.getOrCreateInstance($('#pg-compare-modal')).show();
    Promise.all(S.compare.map(function (c) {
      return fetch('/api/parcels/' + encodeURIComponent(c) + '/sheet' + asOfQuery('?')).then(function (r) { return r.ok ? r.json() : null; });
    })).then(function (sheets) {
      sheets = sheets.filter(Boolean);
      if (!sheets.length) { body.innerHTML = '<p class="text-muted">' + t('ui.no_results') + '</p>'; return; }
      var rows = [
        ['ui.zone', function (s) { return tt(s.parcel.zone_name_zh, s.parcel.zone_name_en); }],
        ['ui.status', function (s) { return t('status.' + s.parcel.status); }],
        ['ui.area', function (s) { return area(s.parcel.area_mu); }],
        ['ui.landuse', function (s) { return esc(s.parcel.landuse_code) + ' ' + t(landuseKey(s.parcel.landuse_code)); }],
        ['svc.title', function (s) { return s.parcel.services_count + '/8 ' + SERVICES.filter(function (k) { return !s.parcel.services[k]; }).map(function (k) { return '<s>' + t('svc.' + k) + '</s>'; }).join(' '); }],
        ['ui.land_price', function (s) { return fmt(s.parcel.land_price_wan_per_mu, 1); }],
        ['ui.rail', function (s) { return fmt(s.distances.rail.m) + ' ' + t('ui.m'); }],
        ['ui.substation', function (s) { return fmt(s.distances.substation.m) + ' ' + t('ui.m'); }],
        ['ui.road', function (s) { return fmt(s.distances.road.m) + ' ' + t('ui.m'); }],
        ['ui.serving_upgrades', function (s) { return s.upgrades.map(function (u) { return tt(u.name_zh, u.name_en) + ' (' + esc(u.finish_date || '—') + ')'; }).join('<br>') || '—'; }],
        ['ui.anchors', function (s) { return s.anchors.slice(0, 2).map(function (a) { return tt(a.name_zh, a.name_en) + ' ' + fmt(a.distance_m) + ' ' + t('ui.m'); }).join('<br>') || '—'; }],
      ];
      var h = '<table class="table table-sm table-bordered pg-compare"><thead><tr><th></th>' +
        sheets.map(function (s) {
          return '<th>' + esc(s.parcel.code) + ' <button class="btn btn-sm btn-link p-0 pg-cmp-remove" data-code="' + esc(s.parcel.code) + '" title="remove"><i class="fa fa-xmark"></i></button></th>';
        }).join('') + '</tr></thead><tbody>' +
        rows.map(function (r) { return '<tr><th>' + t(r[0]) + '</th>' + sheets.map(function (s) { return '<td>' + r[1](s) + '</td>'; }).join('') + '</tr>'; }).join('') +
        '</tbody></table>';
      body.innerHTML = h;
    });
  }

  // ---- inquiry ---------------------------------------------------------------------------
  function openInquiry(codes) {
    var f = $('#pg-inquiry-form');
    f.elements.parcels.value = (codes || []).join(', ');
    var msg = $('#pg-inquiry-msg'); msg.hidden = true;
    bootstrap.Modal.getOrCreateInstance($('#pg-inquiry-modal')).show();
  }
  function sendInquiry(ev) {
    ev.preventDefault();
    var f = $('#pg-inquiry-form'), msg = $('#pg-inquiry-msg');
    var body = {
      name: f.elements.name.value.trim(), company: f.elements.company.value.trim() || null,
      contact: f.elements.contact.value.trim(), message: f.elements.message.value.trim(),
      parcels: f.elements.parcels.value.split(/[\s,，;；]+/).filter(Boolean), lang: S.lang,
      consent: f.elements.consent.checked,
    };
    $('#pg-inquiry-send').disabled = true;
    fetch('/api/inquiries', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(function (b) { return { ok: r.ok, status: r.status, body: b }; });
    }).then(function (res) {
      msg.hidden = false;
      msg.className = 'alert py-2 small ' + (res.ok ? 'alert-success' : 'alert-danger');
      if (res.ok) {
        msg.innerHTML = tt(res.body.message_zh, res.body.message_en);
        f.reset();
      } else {
        var head = res.status === 429 ? t('ui.inquiry_limited') : t('ui.inquiry_bad');
        msg.innerHTML = head + '<br><small>' + esc(res.body.detail || '') + '</small>';
      }
      msg.setAttribute('data-result', res.ok ? 'ok' : 'error');
    }).catch(function () {
      msg.hidden = false; msg.className = 'alert alert-danger py-2 small';
      msg.innerHTML = t('ui.error'); msg.setAttribute('data-result', 'error');
    }).then(function () { $('#pg-inquiry-send').disabled = false; });
  }

  // ---- search box ------------------------------------------------------------------------
  function wireSearch() {
    var input = $('#pg-search'), box = $('#pg-search-results'), timer = null;
    function close() { box.hidden = true; }
    input.addEventListener('input', function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (!q) { close(); return; }
      timer = setTimeout(function () {
        fetch('/api/map/search?q=' + encodeURIComponent(q)).then(function (r) { return r.ok ? r.json() : { parcels: [], enterprises: [] }; })
          .then(function (res) {
            var items = res.parcels.map(function (p) {
              return '<button type="button" class="pg-hit" data-parcel="' + esc(p.code) + '"><i class="fa fa-vector-square"></i> ' +
                esc(p.code) + ' <small>' + t('status.' + p.status) + ' · ' + fmt(p.area_mu, 1) + ' ' + t('ui.mu') + '</small></button>';
            }).concat(res.enterprises.map(function (e) {
              return '<button type="button" class="pg-hit" data-enterprise="' + esc(e.code) + '" data-lat="' + e.lat + '" data-lon="' + e.lon + '">' +
                '<i class="fa fa-industry"></i> ' + tt(e.name_zh, e.name_en) + ' <small>' + t('role.' + e.chain_role) + '</small></button>';
            }));
            box.innerHTML = items.length ? items.join('') : '<div class="pg-hit text-muted">' + t('ui.not_found') + '</div>';
            box.hidden = false;
          });
      }, 200);
    });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { var first = $('.pg-hit[data-parcel], .pg-hit[data-enterprise]', box); if (first) { first.click(); } }
      if (e.key === 'Escape') { close(); }
    });
    box.addEventListener('click', function (e) {
      var b = e.target.closest('.pg-hit');
      if (!b) { return; }
      close();
      if (b.dataset.parcel) { select(b.dataset.parcel, { zoom: true }); return; }
      if (b.dataset.enterprise) { focusEnterprise(b.dataset.enterprise, +b.dataset.lat, +b.dataset.lon); }
    });
    document.addEventListener('click', function (e) { if (!e.target.closest('.pg-search')) { close(); } });
  }
  function focusEnterprise(code, lat, lon) {
    var cluster = S.overlays.enterprises;
    if (!S.map.hasLayer(cluster)) { S.map.addLayer(cluster); }
    var marker = cluster.getLayers().filter(function (m) { return m.options.pgCode === code; })[0];
    if (!marker) { S.map.setView([lat, lon], 17); return; }
    // Not cluster.zoomToShowLayer: after a parcel zoom its callback may never come (it waits
    // for the marker's icon on a moveend that the cluster has not redrawn yet). Jump without
    // animation, then open the popup on the marker, or at its place if still clustered.
    S.map.setView(marker.getLatLng(), Math.max(S.map.getZoom(), 16), { animate: false });
    if (marker._icon) {
      marker.openPopup();
    } else {
      L.popup({ maxWidth: 320 }).setLatLng(marker.getLatLng())
        .setContent(marker.getPopup().getContent()).openOn(S.map);
    }
  }

  // ---- map controls of ours ----------------------------------------------------------------
  function addLegend() {
    var Legend = L.Control.extend({
      options: { position: 'bottomleft' },
      onAdd: function () {
        var div = L.DomUtil.create('div', 'pg-legend leaflet-bar');
        div.innerHTML = S.cfg.legend;
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        div.querySelector('.lg-title').addEventListener('click', function () { div.classList.toggle('expanded'); });
        return div;
      },
    });
    new Legend().addTo(S.map);
  }

  // A measuring tool of our own: leaflet-measure compiles its templates with lodash's
  // template(), i.e. eval, which the page's Content-Security-Policy (rightly) refuses.
  // Click to add points, double-click or the button to finish, the button again to clear.
  var EARTH_R = 6378137;  // WGS84 semi-major axis, as Leaflet's own distance uses
  function geodesicArea(lls) {  // spherical excess of the ring, m² (as Leaflet.draw computes it)
    var a = 0, n = lls.length, rad = Math.PI / 180;
    for (var i = 0; i < n; i++) {
      var p1 = lls[i], p2 = lls[(i + 1) % n];
      a += (p2.lng - p1.lng) * rad * (2 + Math.sin(p1.lat * rad) + Math.sin(p2.lat * rad));
    }
    return Math.abs(a * EARTH_R * EARTH_R / 2);
  }
  function pathLength(lls) {
    var d = 0;
    for (var i = 1; i < lls.length; i++) { d += lls[i - 1].distanceTo(lls[i]); }
    return d;
  }
  PG.measure = { area: geodesicArea, length: pathLength };
  function addMeasure() {
    var M = { on: false, pts: [], line: null, poly: null, box: null, btn: null };
    function redraw() {
      if (M.line) { S.map.removeLayer(M.line); } if (M.poly) { S.map.removeLayer(M.poly); }
      M.line = M.poly = null;
      if (M.pts.length >= 3) {
        M.poly = L.polygon(M.pts, { color: '#d9480f', weight: 2, dashArray: '5 4', fillOpacity: 0.1, interactive: false }).addTo(S.map);
      } else if (M.pts.length) {
        M.line = L.polyline(M.pts, { color: '#d9480f', weight: 2, dashArray: '5 4', interactive: false }).addTo(S.map);
      }
      var len = pathLength(M.pts.length >= 3 ? M.pts.concat([M.pts[0]]) : M.pts);
      var parts = [txt('ui.measure_length') + ': ' + (len >= 1000 ? fmt(len / 1000, 2) + ' km' : fmt(len, 0) + ' m')];
      if (M.pts.length >= 3) {
        var a = geodesicArea(M.pts);
        parts.push(txt('ui.area') + ': ' + fmt(a, 0) + ' m² · ' + fmt(a / 10000, 2) + ' ha · ' + fmt(a * 15 / 10000, 1) + ' ' + txt('ui.mu'));
      }
      M.box.textContent = M.pts.length ? parts.join(' · ') : txt('ui.measure_hint');
    }
    function click(e) { M.pts.push(e.latlng); redraw(); }
    function stop() {
      M.on = false; S.map.off('click', click); S.map.doubleClickZoom.enable();
      L.DomUtil.removeClass(M.btn, 'active'); S.map.getContainer().style.cursor = '';
    }
    var Measure = L.Control.extend({
      options: { position: 'topleft' },
      onAdd: function () {
        var div = L.DomUtil.create('div', 'leaflet-control-measure leaflet-bar');
        M.btn = L.DomUtil.create('a', 'pg-measure-btn', div);
        M.btn.href = '#'; M.btn.setAttribute('role', 'button');
        M.btn.title = '测量距离和面积 / Measure distance and area';
        L.DomUtil.create('i', 'fa fa-ruler', M.btn);
        M.box = L.DomUtil.create('div', 'pg-measure-result', div);
        M.box.hidden = true;
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.on(M.btn, 'click', function (e) {
          L.DomEvent.preventDefault(e);
          if (M.on) { stop(); return; }
          if (M.pts.length) { M.pts = []; redraw(); M.box.hidden = true; return; }
          M.on = true; M.box.hidden = false; redraw();
          S.map.on('click', click); S.map.doubleClickZoom.disable();
          L.DomUtil.addClass(M.btn, 'active'); S.map.getContainer().style.cursor = 'crosshair';
        });
        S.map.on('dblclick', function () { if (M.on) { stop(); } });
        return div;
      },
    });
    new Measure().addTo(S.map);
  }

  // ---- phones: the bottom drawer and shareable parcel links (issue 15) ----------------------
  // At phone width investor.css turns the side panel into a bottom drawer; these functions add
  // its handle, close button and filter button and keep its state in body classes:
  // pg-drawer-open (expanded), pg-drawer-sheet (a parcel shown), pg-filters-open.
  var PHONE = '(max-width: 800px)';
  function isPhone() { return window.matchMedia(PHONE).matches; }
  function parcelFromPath() {  // /parcel/CODE: the link a chat app previews (Open Graph)
    var m = /^\/parcel\/([^/]+)\/?$/.exec(location.pathname);
    try { return m ? decodeURIComponent(m[1]) : null; } catch (e) { return m[1]; }  // malformed %-escape: the raw text
  }
  function shareUrl() {
    var path = S.selected ? '/parcel/' + encodeURIComponent(S.selected) : '/';
    return location.origin + path + location.search + location.hash;
  }
  function setDrawer(open) {
    document.body.classList.toggle('pg-drawer-open', !!open);
    $('#pg-drawer-handle').setAttribute('aria-expanded', open ? 'true' : 'false');
    if (!open) { $('#pg-panel').scrollTop = 0; }
  }
  function phoneButton(id, cls, label, html) {
    var b = node('button', cls);
    b.type = 'button'; b.id = id; b.setAttribute('aria-label', label);
    if (html) { b.innerHTML = html; }
    return b;
  }
  function wireDrawerDrag(handle, panel) {
    // A tap toggles; a drag follows the finger and settles by its direction.
    var y0 = null, h0 = 0, moved = false, dragged = false;
    function end(e, cancel) {
      if (y0 === null) { return; }
      var dy = e.clientY - y0;
      y0 = null; panel.style.height = '';
      document.body.classList.remove('pg-drawer-dragging');
      dragged = moved;
      if (moved && !cancel) { setDrawer(dy < 0); }
    }
    handle.addEventListener('pointerdown', function (e) {
      y0 = e.clientY; h0 = panel.getBoundingClientRect().height; moved = false;
      if (handle.setPointerCapture) { handle.setPointerCapture(e.pointerId); }
    });
    handle.addEventListener('pointermove', function (e) {
      if (y0 === null) { return; }
      var dy = e.clientY - y0;
      if (!moved && Math.abs(dy) < 8) { return; }
      moved = true;
      document.body.classList.add('pg-drawer-dragging');
      panel.style.height = Math.max(96, Math.min(window.innerHeight - 60, h0 - dy)) + 'px';
    });
    handle.addEventListener('pointerup', function (e) { end(e, false); });
    handle.addEventListener('pointercancel', function (e) { end(e, true); });
    handle.addEventListener('click', function () {
      if (dragged) { dragged = false; return; }
      setDrawer(!document.body.classList.contains('pg-drawer-open'));
    });
  }
  function initPhone() {
    var panel = $('#pg-panel'), sheet = $('#pg-sheet'), find = $('#pg-find');
    var bar = node('div', 'pg-drawer-bar');
    var handle = phoneButton('pg-drawer-handle', 'pg-drawer-handle', '展开或收起 / expand or collapse');
    var close = phoneButton('pg-drawer-close', 'pg-drawer-close', '关闭 / close', '<i class="fa fa-xmark"></i>');
    bar.appendChild(handle); bar.appendChild(close);
    panel.insertBefore(bar, panel.firstChild);
    var tools = node('div', 'pg-phone-tools');
    var toggle = phoneButton('pg-filter-toggle', 'btn btn-outline-primary btn-sm', '筛选 / filters',
      '<i class="fa fa-sliders"></i> ' + t('ui.filters'));
    toggle.setAttribute('aria-expanded', 'false');
    tools.appendChild(toggle);
    find.insertBefore(tools, find.firstChild);
    function setFilters(open) {
      document.body.classList.toggle('pg-filters-open', open);
      toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open) { setDrawer(true); }
    }
    toggle.addEventListener('click', function () { setFilters(!document.body.classList.contains('pg-filters-open')); });
    // applied: fold the filters so the count and the list come up
    $('#pg-filter').addEventListener('submit', function () { if (isPhone()) { setFilters(false); } });
    close.addEventListener('click', function () {
      if (!sheet.hidden) { closeSheet(); }
      setDrawer(false);
    });
    wireDrawerDrag(handle, panel);
    // A new parcel comes up in the peek (code and area) with the map above it; the sheet's
    // close leaves /parcel/CODE for / so a reload does not bring the parcel back.
    new MutationObserver(function (recs) {
      document.body.classList.toggle('pg-drawer-sheet', !sheet.hidden);
      if (recs.some(function (r) { return r.attributeName === 'data-code'; }) && isPhone()) { setDrawer(false); }
      if (sheet.hidden && parcelFromPath()) {
        history.replaceState(null, '', '/' + location.search + location.hash);
      }
    }).observe(sheet, { attributes: true, attributeFilter: ['hidden', 'data-code'] });
    var mq = window.matchMedia(PHONE);
    var relayout = function () { if (S.map) { S.map.invalidateSize(); } };
    if (mq.addEventListener) { mq.addEventListener('change', relayout); }
  }
  PG.isPhone = isPhone;

  // ---- wiring ----------------------------------------------------------------------------
  function wirePanel() {
    showTerrainFilters();
    $('#pg-filter').addEventListener('submit', function (e) { e.preventDefault(); runSearch(formQuery()); });
    $('#pg-reset').addEventListener('click', function () {
      $('#pg-filter').reset();
      S.rows = []; S.total = 0; S.filter = ''; S.searched = false;
      if (S.resultsLayer) { S.map.removeLayer(S.resultsLayer); S.resultsLayer = null; }
      renderResults(); $('#pg-count').textContent = '–';
      saveHash();
    });
    $('#pg-sort').addEventListener('change', renderResults);
    $$('#pg-results th[data-sort]').forEach(function (th) {
      th.addEventListener('click', function () {
        var k = th.getAttribute('data-sort'), sel = $('#pg-sort');
        sel.value = sel.value === k ? '-' + k : k;
        if (!sel.value) { sel.value = k; }
        renderResults();
      });
    });
    $('#pg-results tbody').addEventListener('click', function (e) {
      var tr = e.target.closest('tr[data-code]');
      if (tr) { select(tr.getAttribute('data-code'), { zoom: true }); }
    });
    $('#pg-sheet-close').addEventListener('click', closeSheet);
    $('#pg-sheet-body').addEventListener('click', function (e) {
      var b = e.target.closest('button');
      if (!b) { return; }
      if (b.id === 'pg-add-compare') { addCompare(S.selected); }
      if (b.id === 'pg-ask') { openInquiry([S.selected]); }
      if (b.id === 'pg-permalink') {
        var url = PG.permalink(), box = $('#pg-permalink-text');
        box.value = url; box.hidden = false; box.select();
        if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(url).catch(function () {}); }
        toast(t('ui.copied'));
      }
    });
    $('#pg-compare-btn').addEventListener('click', showCompare);
    $('#pg-compare-clear').addEventListener('click', function () {
      S.compare = []; updateCompareBadge(); $('#pg-compare-body').innerHTML = ''; saveHash();
    });
    $('#pg-compare-ask').addEventListener('click', function () {
      bootstrap.Modal.getOrCreateInstance($('#pg-compare-modal')).hide();
      openInquiry(S.compare);
    });
    $('#pg-compare-body').addEventListener('click', function (e) {
      var b = e.target.closest('.pg-cmp-remove');
      if (!b) { return; }
      S.compare = S.compare.filter(function (c) { return c !== b.dataset.code; });
      updateCompareBadge(); saveHash(); showCompare();
    });
    $('#pg-ask-top').addEventListener('click', function () {
      openInquiry(S.selected ? [S.selected].concat(S.compare.filter(function (c) { return c !== S.selected; })) : S.compare);
    });
    $('#pg-inquiry-form').addEventListener('submit', sendInquiry);
    // data-shown marks a dialog whose opening animation has finished (tests wait on it).
    ['#pg-inquiry-modal', '#pg-compare-modal'].forEach(function (id) {
      var el = $(id);
      el.addEventListener('shown.bs.modal', function () { el.setAttribute('data-shown', '1'); });
      el.addEventListener('hidden.bs.modal', function () { el.removeAttribute('data-shown'); });
    });
    $('#pg-lang').addEventListener('click', function () { setLang(S.lang === 'zh' ? 'en' : 'zh'); });
    $('#pg-asof-today').addEventListener('click', function (e) { e.preventDefault(); setAsOf(null); });
    wireSearch();
  }

  function restore() {
    var h = readHash();
    S.restoring = true;
    if (h.map) {
      var v = h.map.split('/').map(Number);
      if (v.length === 3 && v.every(isFinite)) { S.map.setView([v[1], v[2]], v[0], { animate: false }); }
    }
    if (h.off) {
      h.off.split(',').forEach(function (k) { if (S.overlays[k]) { S.map.removeLayer(S.overlays[k]); } });
    }
    if (h.base && S.bases[h.base] && h.base !== 'none') {
      S.map.removeLayer(S.bases.none);
      S.map.addLayer(S.bases[h.base]);
      S.base = h.base;
      setGcj(h.base === 'amap');
    }
    if (h.cmp) { S.compare = h.cmp.split(',').filter(Boolean).slice(0, 4); updateCompareBadge(); }
    var waits = [];
    if (h.f) { fillForm(h.f); waits.push(runSearch(h.f)); }
    setLang(h.lang || 'zh');
    if (!h.sel && parcelFromPath()) { h.sel = parcelFromPath(); }  // a shared /parcel/CODE link
    // "#sel=CODE" alone (the sheet's map link) frames the parcel; with "map=" the view wins.
    if (h.sel) { waits.push(select(h.sel, { zoom: !h.map })); }
    Promise.all(waits).then(function () { S.restoring = false; saveHash(); });
    if (!waits.length) { S.restoring = false; }
  }

  // The permalink edited in the same tab (issue 15.5): only what PGAccess.vetHash finds well
  // formed and existing is applied; anything else leaves the page as it was.
  function applyHash() {
    var ctx = {
      minZoom: S.map.getMinZoom(), maxZoom: S.map.getMaxZoom(), overlays: Object.keys(S.overlays),
      bases: Object.keys(S.bases), validDate: validDate, asOf: asOf(),
    };
    return PGAccess.vetHash(readHash(), ctx).then(function (v) {
      S.restoring = true;
      var waits = [];
      if (v.as_of && v.as_of !== asOf()) { setAsOf(v.as_of); }
      if (v.map) { waits.push(whenIdle(function () { S.map.setView([v.map[1], v.map[2]], v.map[0], { animate: false }); })); }
      if (v.lang && v.lang !== S.lang) { setLang(v.lang); }
      if (v.base && v.base !== S.base) { S.map.removeLayer(S.bases[S.base]); S.map.addLayer(S.bases[v.base]); }
      (v.off ? Object.keys(S.overlays) : []).forEach(function (k) {
        var on = v.off.indexOf(k) < 0;
        if (on !== S.map.hasLayer(S.overlays[k])) { S.map[on ? 'addLayer' : 'removeLayer'](S.overlays[k]); }
      });
      if (v.cmp) { S.compare = v.cmp; updateCompareBadge(); }
      if (v.f && v.f !== S.filter) { fillForm(v.f); waits.push(runSearch(v.f)); }
      if (v.sel && v.sel !== S.selected) { waits.push(select(v.sel, { zoom: !v.map })); }
      return Promise.all(waits);
    }).catch(function () { /* a failed look-up applies nothing more */ }).then(function () {
      S.restoring = false;
      saveHash();  // the address shows the state the page is in
      document.body.setAttribute('data-pg-hash-applied', String((+document.body.getAttribute('data-pg-hash-applied') || 0) + 1));
    });
  }
  PG.applyHash = applyHash;

  PG.init = function (o) {
    S.map = o.map; S.overlays = o.overlays; S.bases = o.bases; S.cfg = o.config;
    asOf();
    showAsOf();
    // Leaflet 1.8 dropped DomEvent.fakeStop, which VectorGrid 1.3's canvas renderer calls
    // on clicks; Leaflet 1.7 defined it as this one line.
    if (!L.DomEvent.fakeStop) { L.DomEvent.fakeStop = function (e) { e._stopped = true; }; }
    PGAccess.forwardTileClicks(S.map);
    S.map.createPane('pgResults').style.zIndex = 450;
    L.control.scale({ imperial: false, maxWidth: 160 }).addTo(S.map);
    S.map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    patchTilesForGcj(S.overlays.parcels);
    S.overlays.parcels.on('click', function (e) {
      var p = (e.layer && e.layer.properties) || {};
      if (p.code && !S.access.picking()) { select(p.code); }
    });
    // Tiles drawn so far (bench/map.py and the browser tests poll this).
    PG.tilesLoaded = 0;
    S.overlays.parcels.on('tileload', function () {
      if (!PG.tilesLoaded) { PG.firstTileAt = performance.now(); }
      PG.tilesLoaded += 1;
    });
    S.overlays.parcels.on('load', function () {
      if (!PG.allTilesAt) { PG.allTilesAt = performance.now(); }
    });
    S.map.on('popupopen tooltipopen', function (e) {
      var el = e.popup ? e.popup.getElement() : e.tooltip.getElement();
      if (el) { translate(el); }
    });
    S.map.on('baselayerchange', function (e) {
      var key = Object.keys(S.bases).filter(function (k) { return S.bases[k] === e.layer; })[0] || 'none';
      S.base = key;
      setGcj(key === 'amap');
      saveHash();
    });
    S.map.on('overlayadd overlayremove moveend', saveHash);
    S.map.on('zoomanim', function () { S.zooming = true; });
    S.map.on('zoomend', function () { S.zooming = false; });
    addLegend();
    addMeasure();
    S.access = PGAccess.addControl(S.map, {
      lang: function () { return S.lang; }, gcj: function () { return S.gcj; }, layers: [S.overlays.parcels],
    });
    window.addEventListener('hashchange', applyHash);
    wirePanel();
    initPhone();
    restore();
    // Ready once the data layers are drawn (tests and the permalink's popups wait on it).
    PG.layersLoaded = loadLayers(o.minimap).catch(function (e) {
      console.error(e);
      document.body.setAttribute('data-pg-layers', 'error');
    }).then(function () {
      PG.ready = true;
      document.body.setAttribute('data-pg-ready', '1');
    });
  };
  PG.state = S;
})();
