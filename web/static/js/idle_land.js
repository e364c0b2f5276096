/* Idle land (闲置土地, 国土资源部令第53号) on the planner workbench: a list in the parcel tab
 * and a map layer, both from GET /api/land/idle[?as_of=YYYY-MM-DD]. planner.js calls
 * PGPIdle.start({map, api, select}) after sign-in and PGPIdle.stop() on sign-out.
 * Every value from the server goes into the page with textContent, never as HTML.
 * Chinese first, English second.
 */
/* global L */
var PGPIdle = (function () {
  'use strict';

  var S = { map: null, api: null, select: null, layer: null, box: null, seq: 0 };
  var STAGE = {
    idle: ['闲置（征收闲置费）', 'idle: idle fee due'],
    reclaimable: ['闲置满两年（可无偿收回）', 'idle two years: may be taken back']
  };
  var KIND = { not_started: ['未动工', 'not started'], stalled: ['停工且开发不足', 'stalled'] };
  var COLOR = { idle: '#e67e22', reclaimable: '#8e1b1b' };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function money(v) {
    if (v === null || v === undefined || v === '') { return '—'; }
    return Number(v).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }

  function build() {
    if (S.box) { return; }
    var pane = document.getElementById('pgp-tab-parcel');
    if (!pane) { return; }
    var box = el('details', 'pgp-idle');
    box.id = 'pgp-idle';
    box.open = true;
    var sum = el('summary', null, '闲置土地 / Idle land ');
    sum.appendChild(el('b', null, '')).id = 'pgp-idle-n';
    box.appendChild(sum);
    var row = el('div', 'pgp-row');
    var label = el('label', null, '截至 / As of ');
    var asOf = el('input');
    asOf.type = 'date';
    asOf.id = 'pgp-idle-asof';
    label.appendChild(asOf);
    row.appendChild(label);
    var reload = el('button', 'pgp-btn pgp-btn-light', '刷新 / Reload');
    reload.type = 'button';
    reload.id = 'pgp-idle-reload';
    reload.addEventListener('click', load);
    asOf.addEventListener('change', load);
    row.appendChild(reload);
    box.appendChild(row);
    var status = el('p', 'pgp-idle-status');
    status.id = 'pgp-idle-status';
    box.appendChild(status);
    var list = el('ul', 'pgp-list pgp-idle-list');
    list.id = 'pgp-idle-list';
    box.appendChild(list);
    pane.insertBefore(box, pane.firstChild);
    S.box = box;
  }

  function tooltip(p) {
    var t = el('div', 'pgp-idle-tip');
    t.appendChild(el('b', null, p.parcel_code));
    t.appendChild(el('div', null, (STAGE[p.stage] || [p.stage, p.stage]).join(' / ')));
    t.appendChild(el('div', null, '闲置费 / idle fee: ' + money(p.fee_wan) + ' 万元'));
    return t;
  }

  function item(f) {
    var p = f.properties;
    var li = el('li', 'pgp-idle-item pgp-idle-' + (p.stage === 'reclaimable' ? 'reclaimable' : 'idle'));
    li.setAttribute('data-code', p.parcel_code);
    var go = el('button', 'pgp-btn pgp-btn-light', p.parcel_code);
    go.type = 'button';
    go.addEventListener('click', function () { if (S.select) { S.select(p.parcel_code, true); } });
    li.appendChild(go);
    var stage = STAGE[p.stage] || [p.stage, p.stage];
    var kind = KIND[p.kind] || [p.kind, p.kind];
    li.appendChild(el('span', 'pgp-idle-stage', ' ' + stage[0] + ' / ' + stage[1]));
    li.appendChild(el('div', null, '合同 / contract ' + p.contract_no + ' · ' + kind[0] + ' / ' +
      kind[1] + ' · 自 / since ' + p.since));
    li.appendChild(el('div', 'pgp-idle-fee', '闲置费（地价 20%） / idle fee (20 % of ' +
      money(p.land_price_wan) + '): ' + money(p.fee_wan) + ' 万元 / 10k yuan'));
    li.appendChild(el('div', 'pgp-idle-reason', p.reason_zh));
    li.appendChild(el('div', 'pgp-idle-reason en', p.reason_en));
    return li;
  }

  function render(fc) {
    var list = document.getElementById('pgp-idle-list');
    var feats = (fc && fc.features) || [];
    list.textContent = '';
    feats.forEach(function (f) { list.appendChild(item(f)); });
    document.getElementById('pgp-idle-n').textContent = '(' + feats.length + ')';
    document.getElementById('pgp-idle-status').textContent = feats.length ? '' :
      '截至 ' + fc.as_of + ' 没有闲置土地 / no idle land as of ' + fc.as_of;
    if (S.layer) { S.map.removeLayer(S.layer); }
    S.layer = L.geoJSON(fc, {
      style: function (f) {
        var c = COLOR[f.properties.stage] || COLOR.idle;
        return { color: c, weight: 3, dashArray: '6 4', fillColor: c, fillOpacity: 0.35 };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(tooltip(f.properties), { sticky: true });
        layer.on('click', function () { if (S.select) { S.select(f.properties.parcel_code); } });
      }
    }).addTo(S.map);
    document.body.setAttribute('data-idle-count', String(feats.length));
  }

  function load() {
    if (!S.api) { return Promise.resolve(); }
    var seq = ++S.seq;
    var asOf = document.getElementById('pgp-idle-asof').value;
    var url = '/api/land/idle' + (asOf ? '?as_of=' + encodeURIComponent(asOf) : '');
    return S.api('GET', url).then(function (r) {
      if (seq !== S.seq) { return; }
      if (!r.ok) {
        var d = r.data && r.data.detail;
        document.getElementById('pgp-idle-status').textContent =
          (typeof d === 'string' ? d : '无法读取闲置土地 / could not read idle land') + ' (' + r.status + ')';
        return;
      }
      render(r.data);
    });
  }

  function start(opts) {
    S.map = opts.map;
    S.api = opts.api;
    S.select = opts.select;
    build();
    return load();
  }

  function stop() {
    if (S.layer && S.map) { S.map.removeLayer(S.layer); }
    S.layer = null;
    var list = document.getElementById('pgp-idle-list');
    if (list) { list.textContent = ''; }
  }

  return { start: start, stop: stop, load: load };
}());
