/* ParkGIS static investor map (written by `parkgis publish`): no app server, no database.
 *
 * manifest.json is read first (never cached) and names the current archive; the archive is
 * read with HTTP Range requests by the npm `pmtiles` reader and drawn by Leaflet.VectorGrid.
 * Every value from the archive reaches the page through textContent, never as HTML.
 */
(function () {
  'use strict';
  var S = { lang: 'zh', meta: null, archive: null, map: null, grids: {}, bytes: {}, order: [] };
  var ARCHIVE_RE = /^public-[0-9a-f]{16}\.pmtiles$/;
  var SVC = ['road', 'water', 'drainage', 'power', 'gas', 'heat', 'telecom', 'levelled'];
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function bi(zh, en) {  // a span that follows the language switch
    var s = el('span', null, 'i18n');
    s.setAttribute('data-zh', zh == null ? '' : String(zh));
    s.setAttribute('data-en', en == null || en === '' ? String(zh == null ? '' : zh) : String(en));
    s.textContent = s.getAttribute('data-' + S.lang);
    return s;
  }
  function label(key, fallback) {
    var v = ((S.meta || {}).labels || {})[key];
    return v || [fallback, fallback];
  }
  function translate() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-zh]'), function (e) {
      var v = e.getAttribute('data-' + S.lang);
      if (v != null && e.textContent !== v) { e.textContent = v; }
    });
  }
  function setLang(lang) {
    S.lang = lang === 'en' ? 'en' : 'zh';
    document.documentElement.lang = S.lang === 'en' ? 'en' : 'zh-CN';
    $('sm-lang').textContent = S.lang === 'en' ? '中文' : 'English';
    translate();
  }
  function status(zh, en) {
    var p = $('sm-status');
    p.setAttribute('data-zh', zh); p.setAttribute('data-en', en);
    p.textContent = S.lang === 'en' ? en : zh;
  }
  function fmt(v, d) {
    if (v == null || v === '' || isNaN(v)) { return '—'; }
    return Number(v).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  }

  // ---- tiles from the archive ----------------------------------------------------------
  // One archive holds every layer; each map layer is its own grid, so a tile's bytes are
  // read once (one Range request) and shared by the grids that draw it.
  function tileBytes(z, x, y) {
    var key = z + '/' + x + '/' + y;
    if (!S.bytes[key]) {
      S.bytes[key] = S.archive.getZxy(z, x, y).then(function (r) {
        return r && r.data ? r.data : new ArrayBuffer(0);
      });
      S.order.push(key);
      if (S.order.length > 400) { delete S.bytes[S.order.shift()]; }
    }
    return S.bytes[key];
  }

  function makeGridClass() {
    return L.VectorGrid.Protobuf.extend({
      _getVectorTilePromise: function (coords) {
        // VectorGrid.Protobuf decodes what its fetch() returns; hand it the archive's bytes
        // for this one synchronous call (the bytes promise was started with the real fetch).
        var bytes = tileBytes(coords.z, coords.x, coords.y);
        var real = window.fetch, only = this.options.pgLayer, p;
        window.fetch = function () {
          return bytes.then(function (buf) { return new Response(buf, { status: 200 }); });
        };
        try {
          p = L.VectorGrid.Protobuf.prototype._getVectorTilePromise.call(this, coords);
        } finally {
          window.fetch = real;
        }
        return p.then(function (vt) {
          Object.keys(vt.layers).forEach(function (k) { if (k !== only) { delete vt.layers[k]; } });
          return vt;
        });
      },
    });
  }

  function styleFor(id) {
    var m = S.meta;
    if (id === 'parcels') {
      return function (p, z) {
        var st = m.statusStyle[p.status] || { fillColor: '#bbbbbb', fillOpacity: 0.5 };
        return { fill: true, fillColor: st.fillColor, fillOpacity: st.fillOpacity, stroke: true,
                 color: '#ffffff', weight: z >= 15 ? 1 : 0.5, opacity: 0.9 };
      };
    }
    if (id === 'zones') {
      return function (p) {
        var st = m.zoneStyle[p.status] || m.zoneStyle.approved;
        return { fill: false, stroke: true, color: st.color, weight: st.weight, dashArray: st.dashArray };
      };
    }
    if (id === 'infrastructure' || id === 'upgrades') {
      return function (p) {
        var st = m.infraStyle[p.kind] || { color: '#868e96', weight: 2 };
        var dashed = p.status === 'planned' || p.status === 'under_way' || p.status === 'under_construction';
        return { stroke: true, color: (id === 'upgrades' && p.overdue) ? '#d6336c' : st.color,
                 weight: st.weight + (id === 'upgrades' ? 1 : 0), opacity: 0.9,
                 dashArray: dashed ? '8 6' : st.dashArray, fill: true, fillColor: st.color,
                 fillOpacity: 0.5, radius: 5 };
      };
    }
    return function (p) {  // points: enterprises, places
      return { radius: p.is_anchor ? 7 : 5, fill: true, fillColor: id === 'enterprises' ? '#436978' : '#7048e8',
               fillOpacity: 0.9, stroke: true, color: '#ffffff', weight: 1.5 };
    };
  }

  // ---- parcel sheet (and a short sheet for other features) ------------------------------
  function field(dl, name, fields, value) {
    var t = fields[name] || [name, name];
    var dt = el('dt'); dt.appendChild(bi(t[0], t[1]));
    var dd = el('dd');
    if (value instanceof Node) { dd.appendChild(value); } else { dd.textContent = value; }
    dl.appendChild(dt); dl.appendChild(dd);
  }
  function showSheet(layerId, p) {
    var fields = (S.meta.fields || {})[layerId] || {};
    var dl = $('sm-sheet-fields'), title = $('sm-sheet-title');
    dl.textContent = ''; title.textContent = '';
    if (layerId === 'parcels') {
      title.appendChild(bi('地块 ' + p.code, 'Parcel ' + p.code));
      var st = label('status.' + p.status, p.status);
      field(dl, 'status', fields, bi(st[0], st[1]));
      var zl = S.zoneNames[p.zone_code];
      field(dl, 'zone_code', fields, zl ? bi(zl[0] + '（' + p.zone_code + '）', zl[1] + ' (' + p.zone_code + ')') : (p.zone_code || '—'));
      var lu = String(p.landuse_code || ''), lk = label('landuse.' + lu.slice(0, 6), '') ;
      if (!lk[0]) { lk = label('landuse.' + lu.slice(0, 4), ''); }
      field(dl, 'landuse_code', fields, lk[0] ? bi(lu + ' ' + lk[0], lu + ' ' + lk[1]) : (lu || '—'));
      if (p.landuse_alias) { field(dl, 'landuse_alias', fields, p.landuse_alias); }
      field(dl, 'area_mu', fields, fmt(p.area_mu, 1) + ' 亩 / mu · ' + fmt(p.area_ha, 2) + ' ha');
      field(dl, 'land_price_wan_per_mu', fields, fmt(p.land_price_wan_per_mu, 1));
      var svc = el('span');
      SVC.forEach(function (s) {
        var t = fields['svc_' + s] || [s, s];
        var item = bi((p['svc_' + s] ? '✓' : '✗') + t[0], (p['svc_' + s] ? '✓ ' : '✗ ') + t[1]);
        item.className += p['svc_' + s] ? ' sm-yes' : ' sm-no';
        svc.appendChild(item); svc.appendChild(document.createTextNode(' '));
      });
      var dt = el('dt'); dt.appendChild(bi('七通一平', 'Servicing (七通一平)'));
      var dd = el('dd'); dd.appendChild(svc); dl.appendChild(dt); dl.appendChild(dd);
      if (p.reserved_until) { field(dl, 'reserved_until', fields, p.reserved_until); }
      if (p.elev_mean_m != null) { field(dl, 'elev_mean_m', fields, fmt(p.elev_mean_m, 1)); }
      if (p.slope_mean_deg != null) { field(dl, 'slope_mean_deg', fields, fmt(p.slope_mean_deg, 1)); }
      if (p.flood_share != null) { field(dl, 'flood_share', fields, fmt(p.flood_share * 100, 0) + ' %'); }
    } else {
      title.appendChild(bi(p.name_zh || p.code || '', p.name_en || p.name_zh || p.code || ''));
      Object.keys(fields).forEach(function (k) {
        if (k === 'name_zh' || k === 'name_en' || p[k] == null) { return; }
        field(dl, k, fields, typeof p[k] === 'boolean' ? (p[k] ? '是 / yes' : '否 / no') : p[k]);
      });
    }
    $('sm-sheet').hidden = false;
    $('sm-sheet').setAttribute('data-code', p.code || '');
  }

  // ---- panel: layer switches and legend ---------------------------------------------------
  function buildPanel() {
    var list = $('sm-layer-list');
    S.meta.layers.forEach(function (l) {
      var lab = el('label'), cb = el('input');
      cb.type = 'checkbox'; cb.checked = true; cb.value = l.id; cb.id = 'sm-layer-' + l.id;
      cb.addEventListener('change', function () {
        if (cb.checked) { S.grids[l.id].addTo(S.map); } else { S.map.removeLayer(S.grids[l.id]); }
      });
      lab.appendChild(cb); lab.appendChild(document.createTextNode(' ')); lab.appendChild(bi(l.zh, l.en));
      list.appendChild(lab);
    });
    var leg = $('sm-legend-list');
    Object.keys(S.meta.statusStyle).forEach(function (s) {
      var row = el('div'), sw = el('span', null, 'sm-swatch'), t = label('status.' + s, s);
      sw.style.background = S.meta.statusStyle[s].fillColor;
      row.appendChild(sw); row.appendChild(bi(t[0], t[1])); leg.appendChild(row);
    });
  }

  // ---- panel: land available per park (the ledger's public figures, same snapshot) --------
  function amount(p) {
    return bi('可供地块 ' + fmt(p.parcels, 0) + ' 宗 · ' + fmt(p.area_mu, 1) + ' 亩',
      fmt(p.parcels, 0) + ' parcels · ' + fmt(p.area_mu, 1) + ' mu available');
  }
  function buildAvailable(body) {
    if (!body || !body.parks) { return; }
    var sec = el('section'), h = el('h2'), ul = el('ul');
    sec.id = 'sm-available';
    h.appendChild(bi('可供土地', 'Land available'));
    sec.appendChild(h);
    body.parks.concat([{ zone_code: 'ALL', name_zh: '合计', name_en: 'All parks',
      parcels: body.total.parcels, area_mu: body.total.area_mu }]).forEach(function (p) {
      var li = el('li');
      li.setAttribute('data-zone', p.zone_code);
      li.appendChild(bi(p.name_zh, p.name_en || p.name_zh));
      li.appendChild(document.createTextNode('：'));
      li.appendChild(amount(p));
      ul.appendChild(li);
    });
    sec.appendChild(ul);
    var side = $('sm-side');
    side.insertBefore(sec, side.firstChild);
  }

  function start(manifest, header, meta) {
    S.meta = meta.parkgis;
    S.zoneNames = S.meta.zones || {};
    var bounds = L.latLngBounds([header.minLat, header.minLon], [header.maxLat, header.maxLon]);
    S.map = L.map('sm-map', { minZoom: header.minZoom, maxZoom: header.maxZoom + 2,
                              maxBounds: bounds.pad(1), attributionControl: true });
    S.map.attributionControl.setPrefix(false);
    var v = S.meta.view;  // the parks, not the whole reach of roads and rivers
    S.map.fitBounds(v ? L.latLngBounds([v[1], v[0]], [v[3], v[2]]) : bounds);
    var Grid = makeGridClass();
    S.meta.layers.forEach(function (l) {
      var styles = {}; styles[l.id] = styleFor(l.id);
      var g = new Grid('pmtiles://{z}/{x}/{y}', {
        pgLayer: l.id, vectorTileLayerStyles: styles, interactive: true,
        rendererFactory: L.svg.tile, minNativeZoom: header.minZoom, maxNativeZoom: header.maxZoom,
        maxZoom: header.maxZoom + 2, className: 'sm-layer-' + l.id,
        getFeatureId: function (f) { return f.properties.code; },
      });
      g.on('click', function (e) {
        L.DomEvent.stopPropagation(e);
        if (e.layer && e.layer.properties) { showSheet(l.id, e.layer.properties); }
      });
      g.addTo(S.map);
      S.grids[l.id] = g;
    });
    buildPanel();
    buildAvailable(S.meta.available);
    $('sm-sample').hidden = !(S.meta.sample || manifest.sample);
    $('sm-published').textContent = manifest.published ? '(' + manifest.published + ')' : '';
    status('已加载', 'Loaded');
    document.body.setAttribute('data-ready', '1');
  }

  function init() {
    $('sm-lang').addEventListener('click', function () { setLang(S.lang === 'zh' ? 'en' : 'zh'); });
    $('sm-sheet-close').addEventListener('click', function () { $('sm-sheet').hidden = true; });
    // The manifest is the only mutable file: always revalidated, so a republish is seen at
    // once while the archive it names is immutable and may be cached for ever.
    fetch('manifest.json', { cache: 'no-store' }).then(function (r) {
      if (!r.ok) { throw new Error('manifest ' + r.status); }
      return r.json();
    }).then(function (m) {
      if (!ARCHIVE_RE.test(String(m.archive))) { throw new Error('bad manifest'); }
      S.archive = new pmtiles.PMTiles(new URL(m.archive, location.href).href);
      return Promise.all([m, S.archive.getHeader(), S.archive.getMetadata()]);
    }).then(function (a) {
      start(a[0], a[1], a[2]);
    }).catch(function (e) {
      status('地图数据加载失败', 'The map data could not be loaded');
      if (window.console) { console.warn('static map:', e && e.message); }
    });
  }
  document.addEventListener('DOMContentLoaded', init);
}());
