/* ParkGIS planner workbench (/planner).
 *
 * The page is public HTML; every data call carries the bearer token kept in sessionStorage
 * after POST /api/auth/token. Parcels come from GET /api/planner/parcels (exact outlines) and
 * are edited with Leaflet.draw (vendored): a line drawn across the selected parcel splits it
 * (POST /api/parcels/{code}/split), picked neighbours are merged (POST /api/parcels/merge);
 * lifecycle actions send If-Match with the ETag of GET /api/parcels/{code}.
 * Chinese first, English second, everywhere.
 */
/* global L */
var PGP = (function () {
  'use strict';

  var TOKEN = 'parkgis.token', WHO = 'parkgis.user', ROLE = 'parkgis.role';
  var S = {
    map: null, config: {}, layer: null, byCode: {}, selected: null, etag: null, feature: null,
    drawer: null, blade: null, merging: false, mergePick: [], mergeSeen: {}, projects: [],
    loadSeq: 0
  };
  var ACTION_ZH = {
    reserve: '预留', list: '挂牌公告', allocate: '出让', start_construction: '开工',
    complete: '竣工投产', release: '释放', withdraw: '暂不供应', restore: '恢复供应',
    expire: '预留到期', split: '分割', merge: '合并', create: '新建',
    listing_open: '挂牌期开始', listing_sold: '挂牌成交', listing_failed: '流拍',
    idle_flag: '认定闲置', idle_reclaimable: '闲置满两年可收回', government_delay: '政府原因延误',
    progress: '开发进度'
  };
  var STATUS_ZH = {
    available: '可供应', reserved: '已预留', listed: '挂牌中', allocated: '已出让',
    under_construction: '在建', operational: '已投产', not_for_supply: '暂不供应',
    historic: '已注销'
  };
  var STAGE_ZH = {
    lead: '线索', negotiating: '洽谈中', signed: '已签约', land_supplied: '已供地',
    under_construction: '在建', operational: '已投产', lost: '已流失'
  };

  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s === null || s === undefined ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function fmt(n, d) {
    if (n === null || n === undefined || n === '') { return '—'; }
    return Number(n).toLocaleString('zh-CN', { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function msg(text, kind) {
    var el = $('pgp-msg');
    el.textContent = text || '';
    el.className = 'pgp-msg' + (kind ? ' pgp-' + kind : '');
  }
  function token() { return sessionStorage.getItem(TOKEN); }

  /* fetch with the bearer token; resolves {status, ok, data, headers}; problem+json detail
   * becomes the message. A 401 means the session ran out: back to the login form. */
  function api(method, url, body, headers) {
    var h = Object.assign({ Accept: 'application/json' }, headers || {});
    if (token()) { h.Authorization = 'Bearer ' + token(); }
    var opts = { method: method, headers: h };
    if (body !== undefined && body !== null) {
      if (body instanceof URLSearchParams) {
        opts.body = body;
      } else {
        h['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
    }
    return fetch(url, opts).then(function (r) {
      var ct = r.headers.get('content-type') || '';
      var p = ct.indexOf('json') >= 0 ? r.json() : r.text();
      return p.then(function (data) {
        var out = { status: r.status, ok: r.ok, data: data, headers: r.headers };
        if (r.status === 401 && url !== '/api/auth/token') {
          logout('登录已失效，请重新登录 / your session ended; sign in again');
        }
        return out;
      });
    });
  }
  function problem(r) {
    var d = r.data && r.data.detail;
    return (typeof d === 'string' ? d : JSON.stringify(r.data)) + ' (' + r.status + ')';
  }

  // ------------------------------------------------------------------ session

  function showWork(on) {
    $('pgp-login').hidden = on;
    $('pgp-work').hidden = !on;
    $('pgp-who').hidden = !on;
    if (on) {
      $('pgp-user').textContent = sessionStorage.getItem(WHO) + ' · ' + sessionStorage.getItem(ROLE);
    }
  }
  function login(ev) {
    ev.preventDefault();
    $('pgp-login-error').textContent = '';
    var form = new URLSearchParams();
    form.set('grant_type', 'password');
    form.set('username', $('pgp-username').value.trim());
    form.set('password', $('pgp-password').value);
    api('POST', '/api/auth/token', form).then(function (r) {
      if (!r.ok) {
        $('pgp-login-error').textContent = '登录失败 / sign-in failed: ' + problem(r);
        return;
      }
      if (r.data.role !== 'planner' && r.data.role !== 'admin') {
        $('pgp-login-error').textContent = '此账户无规划权限 / this account is not a planner (' +
          r.data.role + ')';
        return;
      }
      sessionStorage.setItem(TOKEN, r.data.access_token);
      sessionStorage.setItem(WHO, form.get('username'));
      sessionStorage.setItem(ROLE, r.data.role);
      $('pgp-password').value = '';
      start();
    }).catch(function (e) { $('pgp-login-error').textContent = String(e); });
  }
  function logout(reason) {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(WHO);
    sessionStorage.removeItem(ROLE);
    if (S.layer) { S.map.removeLayer(S.layer); S.layer = null; }
    if (window.PGPIdle) { window.PGPIdle.stop(); }
    S.byCode = {};
    showWork(false);
    if (reason) { $('pgp-login-error').textContent = reason; }
  }
  function start() {
    showWork(true);
    loadParcels();
    loadBoard();
    loadInbox();
    if (window.PGPIdle) { window.PGPIdle.start({ map: S.map, api: api, select: select }); }
  }

  // ------------------------------------------------------------------ parcels

  function style(f) {
    var st = S.config.statusStyle[f.properties.status] || { fillColor: '#999', fillOpacity: 0.4 };
    var sel = S.selected === f.properties.code;
    var picked = S.mergePick.indexOf(f.properties.code) >= 0;
    return {
      color: sel ? S.config.selected : (picked ? S.config.highlight : '#333'),
      weight: sel || picked ? 4 : 1, fillColor: st.fillColor,
      fillOpacity: picked ? 0.9 : st.fillOpacity
    };
  }
  function loadParcels() {
    var b = S.map.getBounds().pad(0.5);
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
      return v.toFixed(6);
    }).join(',');
    var seq = ++S.loadSeq;
    return api('GET', '/api/planner/parcels?bbox=' + bbox).then(function (r) {
      if (!r.ok || seq !== S.loadSeq) { return; }
      if (S.layer) { S.map.removeLayer(S.layer); }
      S.byCode = {};
      S.layer = L.geoJSON(r.data, {
        pane: 'pgpParcels', style: style,
        onEachFeature: function (f, layer) {
          S.byCode[f.properties.code] = layer;
          // Leaflet sets tooltip strings as HTML: every stored value escaped.
          layer.bindTooltip(esc(f.properties.code) + ' · ' + esc(STATUS_ZH[f.properties.status] || '') +
            ' · ' + esc(fmt(f.properties.area_mu, 1)) + ' 亩', { sticky: true });
          layer.on('click', function () { onParcelClick(f.properties.code); });
        }
      }).addTo(S.map);
      document.body.setAttribute('data-parcels-loaded', String(r.data.features.length));
      if (r.data.truncated) { msg('视图内地块过多，仅显示部分 / too many parcels in view; zoom in', 'warn'); }
    });
  }
  function restyle() { if (S.layer) { S.layer.setStyle(style); } }

  function onParcelClick(code) {
    if (S.drawer) { return; } // drawing a split line: clicks belong to Leaflet.draw
    if (S.merging) { toggleMerge(code); return; }
    select(code);
  }
  function select(code, zoom) {
    S.selected = code;
    restyle();
    return api('GET', '/api/parcels/' + encodeURIComponent(code)).then(function (r) {
      if (!r.ok) { msg(problem(r), 'error'); return; }
      S.etag = r.headers.get('ETag');
      S.feature = r.data;
      renderParcel(r.data);
      if (zoom) {
        var lyr = L.geoJSON(r.data);
        S.map.fitBounds(lyr.getBounds(), { padding: [60, 60], maxZoom: 19 });
      }
      loadEvents(code);
      document.body.setAttribute('data-selected', code);
    });
  }
  /* A zone's name (Chinese / English) from the zones layer already on the map; the code only
   * when the layer does not know it. */
  function zoneName(code) {
    var z = (S.zoneNames || {})[code];
    return z ? esc(z[0]) + ' / ' + esc(z[1]) : esc(code || '—');
  }
  function renderParcel(f) {
    var p = f.properties;
    var rows = [
      ['编号 / Code', esc(p.code)],
      ['状态 / Status', esc(STATUS_ZH[p.status] || p.status) + ' / ' + esc(p.status)],
      ['面积 / Area', fmt(p.area_mu, 2) + ' 亩 mu · ' + fmt(p.area_ha, 4) + ' 公顷 ha · ' +
        fmt(p.area_m2, 1) + ' m²'],
      ['用地 / Land use', esc(p.landuse_code) + (p.landuse_alias ? ' (' + esc(p.landuse_alias) + ')' : '')],
      ['园区 / Zone', zoneName(p.zone_code)],
      ['项目 / Project', esc(p.project_code || '—')],
      ['预留至 / Reserved until', esc(p.reserved_until || '—')],
      ['来源 / Parents', esc((p.parent_codes || []).join(', ') || '—')],
      ['内部备注 / Internal note', esc(p.note_internal || '—')]
    ];
    $('pgp-parcel').innerHTML = '<table class="pgp-kv">' + rows.map(function (r) {
      return '<tr><th>' + r[0] + '</th><td>' + r[1] + '</td></tr>';
    }).join('') + '</table>';
    var acts = p.allowed_actions || [];
    $('pgp-actions').innerHTML = acts.length ? acts.map(function (a) {
      return '<button type="button" class="pgp-btn" data-action="' + esc(a) + '">' +
        esc(ACTION_ZH[a] || a) + ' / ' + esc(a) + '</button>';
    }).join('') : '<em>无可用操作 / no action available</em>';
    $('pgp-action-form').hidden = false;
    $('pgp-split').disabled = !(p.status === 'available' || p.status === 'not_for_supply');
  }
  function loadEvents(code) {
    return api('GET', '/api/parcels/' + encodeURIComponent(code) + '/events').then(function (r) {
      if (!r.ok) { $('pgp-events').innerHTML = ''; return; }
      $('pgp-events').innerHTML = r.data.events.slice().reverse().map(function (e) {
        var when = new Date(e.at).toLocaleString('zh-CN', { hour12: false });
        return '<li><b>' + esc(ACTION_ZH[e.action] || e.action) + ' / ' + esc(e.action) + '</b> ' +
          esc(e.from_status || '∅') + ' → ' + esc(e.to_status || '∅') +
          '<br><small>' + esc(when) + ' · ' + esc(e.actor || '') +
          (e.project_code ? ' · ' + esc(e.project_code) : '') +
          (e.note ? ' · ' + esc(e.note) : '') + '</small></li>';
      }).join('') || '<li>—</li>';
    });
  }
  function doAction(action) {
    if (!S.selected) { return; }
    var body = {};
    var v = function (id) { return $(id).value.trim(); };
    if (v('pgp-act-project')) { body.project = v('pgp-act-project'); }
    if (v('pgp-act-until')) { body.until = v('pgp-act-until'); }
    if (v('pgp-act-notice')) { body.notice_start = v('pgp-act-notice'); }
    if (v('pgp-act-notice-no')) { body.notice_no = v('pgp-act-notice-no'); }
    if (v('pgp-act-price')) { body.start_price_wan = v('pgp-act-price'); }
    if (v('pgp-act-increment')) { body.increment_wan = v('pgp-act-increment'); }
    if (v('pgp-act-contract')) { body.contract_no = v('pgp-act-contract'); }
    if (v('pgp-act-lease')) { body.lease_years = parseInt(v('pgp-act-lease'), 10); }
    if (v('pgp-act-note')) { body.note = v('pgp-act-note'); }
    var code = S.selected;
    api('POST', '/api/parcels/' + encodeURIComponent(code) + '/' + action, body,
      { 'If-Match': S.etag || '' }).then(function (r) {
      if (!r.ok) { msg(problem(r), 'error'); if (r.status === 412) { select(code); } return; }
      msg('已' + (ACTION_ZH[action] || action) + ' ' + code + ' / ' + action + ' done', 'ok');
      loadParcels().then(function () { select(code); });
    });
  }

  // ------------------------------------------------------------------ split

  function startSplit() {
    if (!S.selected || S.drawer) { return; }
    cancelMerge();
    msg('在地图上点击两点画一条穿过地块的线，然后点“完成” / click two points across the parcel, ' +
      'then “Finish”', 'info');
    S.drawer = new L.Draw.Polyline(S.map, {
      shapeOptions: { color: '#e8112d', weight: 3, opacity: 0.9 }, showLength: true,
      metric: true, repeatMode: false
    });
    S.map.once(L.Draw.Event.CREATED, function (e) {
      S.blade = e.layer.addTo(S.map);
      S.drawer = null;
      $('pgp-split-finish') && $('pgp-split-finish').remove();
      $('pgp-split-text').textContent = '用这条线分割 ' + S.selected + '？/ Split ' + S.selected +
        ' along this line?';
      $('pgp-split-confirm').hidden = false;
      document.body.setAttribute('data-blade', 'drawn');
    });
    S.drawer.enable();
    var fin = document.createElement('button');
    fin.type = 'button'; fin.id = 'pgp-split-finish'; fin.className = 'pgp-btn';
    fin.textContent = '完成 / Finish';
    fin.onclick = function () { if (S.drawer) { S.drawer.completeShape(); } };
    $('pgp-split').insertAdjacentElement('afterend', fin);
  }
  function cancelSplit() {
    if (S.drawer) { S.drawer.disable(); S.drawer = null; }
    if (S.blade) { S.map.removeLayer(S.blade); S.blade = null; }
    $('pgp-split-finish') && $('pgp-split-finish').remove();
    $('pgp-split-confirm').hidden = true;
    document.body.removeAttribute('data-blade');
  }
  function confirmSplit() {
    if (!S.blade || !S.selected) { return; }
    var code = S.selected;
    var body = { blade: S.blade.toGeoJSON().geometry };
    if ($('pgp-split-note').value.trim()) { body.note = $('pgp-split-note').value.trim(); }
    $('pgp-split-ok').disabled = true;
    api('POST', '/api/parcels/' + encodeURIComponent(code) + '/split', body,
      { 'If-Match': S.etag || '' }).then(function (r) {
      $('pgp-split-ok').disabled = false;
      if (!r.ok) { msg('分割失败 / split refused: ' + problem(r), 'error'); return; }
      var kids = (r.data.children || []).map(function (c) { return c.code; });
      cancelSplit();
      msg('已分割 ' + code + ' → ' + kids.join('、') + ' / split into ' + kids.join(', '), 'ok');
      document.body.setAttribute('data-split-result', kids.join(','));
      loadParcels().then(function () { if (kids.length) { select(kids[0]); } });
    });
  }

  // ------------------------------------------------------------------ merge
  // If-Match carries each parcel's version as it was when picked (S.mergeSeen), so a parcel
  // someone else changed in the meantime is refused (412), not merged unseen.

  function layerTag(code) {
    var lyr = S.byCode[code];
    return lyr ? '"' + code + '-' + lyr.feature.properties.version + '"' : null;
  }
  function startMerge() {
    cancelSplit();
    S.merging = true;
    S.mergePick = S.selected ? [S.selected] : [];
    S.mergeSeen = {};
    if (S.selected) { S.mergeSeen[S.selected] = S.etag || layerTag(S.selected); }
    $('pgp-merge-box').hidden = false;
    updateMerge();
  }
  function toggleMerge(code) {
    var i = S.mergePick.indexOf(code);
    if (i >= 0) {
      S.mergePick.splice(i, 1);
      delete S.mergeSeen[code];
    } else {
      S.mergePick.push(code);
      S.mergeSeen[code] = layerTag(code);
    }
    updateMerge();
  }
  function updateMerge() {
    $('pgp-merge-list').textContent = S.mergePick.join('、') || '—';
    $('pgp-merge-ok').disabled = S.mergePick.length < 2;
    restyle();
  }
  function cancelMerge() {
    S.merging = false;
    S.mergePick = [];
    S.mergeSeen = {};
    $('pgp-merge-box').hidden = true;
    restyle();
  }
  function confirmMerge() {
    var codes = S.mergePick.slice();
    var tags = codes.map(function (c) { return S.mergeSeen[c]; }).filter(Boolean).join(', ');
    var body = { codes: codes };
    if ($('pgp-merge-note').value.trim()) { body.note = $('pgp-merge-note').value.trim(); }
    $('pgp-merge-ok').disabled = true; // one request per confirmation
    api('POST', '/api/parcels/merge', body, { 'If-Match': tags }).then(function (r) {
      if (!r.ok) {
        msg('合并失败 / merge refused: ' + problem(r), 'error');
        if (r.status === 412) {
          // show the parcels as they are now; confirming again merges these versions
          loadParcels().then(function () {
            S.mergePick = S.mergePick.filter(function (c) { return !!S.byCode[c]; });
            S.mergePick.forEach(function (c) { S.mergeSeen[c] = layerTag(c); });
            updateMerge();
          });
        } else {
          updateMerge();
        }
        return;
      }
      var code = r.data.feature.id;
      cancelMerge();
      msg('已合并为 ' + code + ' / merged into ' + code, 'ok');
      loadParcels().then(function () { select(code); });
    });
  }

  // ------------------------------------------------------------------ inbox

  function loadInbox() {
    var st = $('pgp-inbox-filter').value;
    api('GET', '/api/inquiries' + (st ? '?status=' + st : '')).then(function (r) {
      if (!r.ok) { $('pgp-inbox').innerHTML = '<li>' + esc(problem(r)) + '</li>'; return; }
      var list = r.data.inquiries;
      if (st === 'new') { $('pgp-inbox-n').textContent = list.length ? '(' + list.length + ')' : ''; }
      $('pgp-inbox').innerHTML = list.map(function (q) {
        return '<li class="pgp-card"><b>' + esc(q.name) + '</b> ' + esc(q.company || '') +
          ' · ' + esc(q.contact) + '<br><small>' +
          esc(new Date(q.created_at).toLocaleString('zh-CN', { hour12: false })) + ' · ' +
          esc((q.parcel_codes || []).join(', ')) + ' · ' + esc(q.status) + '</small>' +
          '<p>' + esc(q.message) + '</p>' +
          (q.reply_note ? '<p class="pgp-note">' + esc(q.reply_note) + ' — ' + esc(q.handled_by) + '</p>' : '') +
          '<button type="button" class="pgp-btn pgp-btn-light" data-inq="' + esc(q.id) +
          '" data-st="answered">已回复 / Answered</button> ' +
          '<button type="button" class="pgp-btn pgp-btn-light" data-inq="' + esc(q.id) +
          '" data-st="closed">关闭 / Close</button></li>';
      }).join('') || '<li>没有咨询 / no inquiries</li>';
    });
  }
  function markInquiry(id, status) {
    var note = window.prompt('处理说明（可选） / note (optional)') || null;
    api('PATCH', '/api/inquiries/' + id, { status: status, note: note }).then(function (r) {
      if (!r.ok) { msg(problem(r), 'error'); return; }
      msg('咨询 #' + id + ' 已标记为 ' + status + ' / inquiry marked ' + status, 'ok');
      loadInbox();
    });
  }

  // ------------------------------------------------------------------ pipeline board

  function loadBoard() {
    api('GET', '/api/pipeline/board').then(function (r) {
      if (!r.ok) { $('pgp-board').textContent = problem(r); return; }
      S.projects = [];
      $('pgp-board').innerHTML = r.data.columns.map(function (col) {
        return '<div class="pgp-col"><h4>' + esc(col.name_zh) + '<br><small>' + esc(col.stage) +
          '</small></h4>' + col.projects.map(function (p) {
          S.projects.push(p);
          var flags = (p.bottlenecks || []).map(function (b) {
            return '<span class="pgp-flag pgp-flag-' + esc(b.kind) + '" title="' +
              esc(b.next_due || '') + '">' + esc(b.kind_zh) + ' ' + esc(b.kind) + ' ×' + esc(b.open) + '</span>';
          }).join('');
          var town = p.source_township ? '<div class="pgp-town">' + (p.fostered ? '寄养 fostered · ' : '') +
            esc(p.source_township) + (p.township_tax_share !== null && p.township_tax_share !== undefined
            ? ' · 乡镇分成 ' + fmt(p.township_tax_share * 100, 0) + '%' : '') + '</div>' : '';
          var moves = (p.allowed_stages || []).map(function (s) {
            return '<button type="button" class="pgp-mini" data-proj="' + esc(p.code) + '" data-to="' +
              esc(s) + '">→ ' + esc(STAGE_ZH[s] || s) + '</button>';
          }).join('');
          var late = p.past_start ? '<span class="pgp-flag pgp-flag-overdue" title="' +
            esc(p.start_date || '') + '">逾期未开工 past start</span>' : '';
          return '<div class="pgp-card" data-code="' + esc(p.code) + '"><b>' + esc(p.name_zh) +
            '</b><br><small>' + esc(p.name_en) + ' · ' + esc(p.code) + '</small>' + town + late +
            (flags ? '<div>' + flags + '</div>' : '') + '<div>' + moves + '</div></div>';
        }).join('') + '</div>';
      }).join('');
      var towns = r.data.townships || {};
      $('pgp-townships').innerHTML = Object.keys(towns).length ? '乡镇引荐 / township sources: ' +
        Object.keys(towns).map(function (t) { return esc(t) + ' ' + esc(towns[t]); }).join('，') : '';
      var opts = S.projects.map(function (p) {
        return '<option value="' + esc(p.code) + '">' + esc(p.code) + ' ' + esc(p.name_zh) + '</option>';
      }).join('');
      $('pgp-review-project').innerHTML = opts;
      $('pgp-act-project').innerHTML = '<option value="">—</option>' + opts;
    });
  }
  function moveStage(code, to) {
    api('POST', '/api/pipeline/projects/' + encodeURIComponent(code) + '/stage', { to: to })
      .then(function (r) {
        if (!r.ok) { msg(problem(r), 'error'); return; }
        msg(code + ' → ' + (STAGE_ZH[to] || to) + ' / ' + to, 'ok');
        loadBoard();
      });
  }

  // ------------------------------------------------------------------ pre-review

  function reviewUrl(fmtName) {
    var p = $('pgp-review-project').value;
    var parcels = $('pgp-review-parcels').value.replace(/\s+/g, '');
    return '/api/review/' + encodeURIComponent(p) + (parcels ? '/' + encodeURIComponent(parcels) : '') +
      '?format=' + fmtName;
  }
  function runReview(ev) {
    if (ev) { ev.preventDefault(); }
    api('GET', reviewUrl('json')).then(function (r) {
      if (!r.ok) { $('pgp-review').innerHTML = '<p class="pgp-error">' + esc(problem(r)) + '</p>'; return; }
      var b = r.data;
      $('pgp-review').innerHTML = '<p class="pgp-verdict pgp-v-' + esc(b.verdict) + '">' + esc(b.summary_zh) +
        '<br><small>' + esc(b.summary_en) + '</small></p><p><small>' + esc(b.parcels.join('、')) + ' · ' +
        fmt(b.area_mu, 2) + ' 亩 · ' + esc(b.indicator_set.name_zh) +
        (b.site_note ? ' · ' + esc(b.site_note) : '') + '</small></p><table class="pgp-rev"><tr>' +
        '<th>指标 / Indicator</th><th>结果 / Result</th><th>说明 / Explanation</th></tr>' +
        b.items.map(function (i) {
          return '<tr><td>' + esc(i.name_zh) + '<br><small>' + esc(i.name_en) + '</small></td>' +
            '<td class="pgp-v-' + esc(i.verdict) + '">' + esc(i.verdict_zh) + '<br><small>' +
            esc(i.verdict) + '</small></td><td>' + esc(i.sentence_zh) + '<br><small>' +
            esc(i.sentence_en) + (i.is_assumption ? ' ※' : '') + '</small></td></tr>';
        }).join('') + '</table>';
      if (b.parcels.length === 1 && S.byCode[b.parcels[0]]) { select(b.parcels[0], true); }
    });
  }
  function download(fmtName) {
    fetch(reviewUrl(fmtName), { headers: { Authorization: 'Bearer ' + token() } })
      .then(function (r) {
        if (!r.ok) { return r.json().then(function (d) { msg(d.detail, 'error'); }); }
        return r.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          if (fmtName === 'html') { window.open(url, '_blank'); return; }
          var a = document.createElement('a');
          a.href = url; a.download = 'review-' + $('pgp-review-project').value + '.csv';
          document.body.appendChild(a); a.click(); a.remove();
        });
      });
  }

  // ------------------------------------------------------------------ wiring

  function tab(name) {
    Array.prototype.forEach.call(document.querySelectorAll('.pgp-tab'), function (b) {
      b.classList.toggle('active', b.getAttribute('data-tab') === name);
    });
    ['parcel', 'inbox', 'board', 'review'].forEach(function (t) { $('pgp-tab-' + t).hidden = t !== name; });
    if (name === 'review' && S.selected && !$('pgp-review-parcels').value) {
      $('pgp-review-parcels').value = S.selected;
    }
  }
  function wire() {
    $('pgp-login').addEventListener('submit', login);
    $('pgp-logout').addEventListener('click', function () { logout(); });
    Array.prototype.forEach.call(document.querySelectorAll('.pgp-tab'), function (b) {
      b.addEventListener('click', function () { tab(b.getAttribute('data-tab')); });
    });
    $('pgp-find').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var code = $('pgp-find-code').value.trim();
      if (code) { select(code, true).then(function () { return loadParcels(); }); }
    });
    $('pgp-split').addEventListener('click', startSplit);
    $('pgp-split-ok').addEventListener('click', confirmSplit);
    $('pgp-split-cancel').addEventListener('click', function () { cancelSplit(); msg(''); });
    $('pgp-merge-mode').addEventListener('click', startMerge);
    $('pgp-merge-ok').addEventListener('click', confirmMerge);
    $('pgp-merge-cancel').addEventListener('click', cancelMerge);
    $('pgp-actions').addEventListener('click', function (ev) {
      var a = ev.target.getAttribute('data-action');
      if (a) { doAction(a); }
    });
    $('pgp-inbox').addEventListener('click', function (ev) {
      var id = ev.target.getAttribute('data-inq');
      if (id) { markInquiry(id, ev.target.getAttribute('data-st')); }
    });
    $('pgp-inbox-filter').addEventListener('change', loadInbox);
    $('pgp-inbox-reload').addEventListener('click', loadInbox);
    $('pgp-board').addEventListener('click', function (ev) {
      var to = ev.target.getAttribute('data-to');
      if (to) { moveStage(ev.target.getAttribute('data-proj'), to); return; }
      var card = ev.target.closest('.pgp-card');
      if (card) { $('pgp-review-project').value = card.getAttribute('data-code'); }
    });
    $('pgp-review-form').addEventListener('submit', runReview);
    $('pgp-review-csv').addEventListener('click', function () { download('csv'); });
    $('pgp-review-html').addEventListener('click', function () { download('html'); });
  }

  function legend() {
    var ctl = L.control({ position: 'bottomright' });
    ctl.onAdd = function () {
      var div = L.DomUtil.create('div', 'pgp-legend');
      div.innerHTML = Object.keys(S.config.statusStyle || {}).filter(function (k) {
        return k !== 'historic';
      }).map(function (k) {
        return '<div><i style="background:' + S.config.statusStyle[k].fillColor + '"></i>' +
          esc(STATUS_ZH[k] || k) + ' / ' + esc(k) + '</div>';
      }).join('');
      return div;
    };
    ctl.addTo(S.map);
  }

  // The public context (county, parks, roads and rail) is fetched, never part of the page's
  // scripts; it is drawn without popups or names (issue 11).
  function loadContext(overlays) {
    var fills = { county: null, zones: { fillOpacity: 0.03 }, roads_rail: null };
    var source = { county: 'county', zones: 'zones', roads_rail: 'context' };
    return Promise.all(Object.keys(fills).filter(function (k) { return overlays[k]; }).map(function (k) {
      return fetch(S.config.layers + source[k], { headers: { Accept: 'application/geo+json' } })
        .then(function (r) {
          if (!r.ok) { throw new Error('layer ' + k + ': HTTP ' + r.status); }
          return r.json();
        }).then(function (fc) {
          overlays[k].addLayer(L.geoJSON(fc, {
            interactive: false,
            style: function (f) { return Object.assign({}, f.properties._style, fills[k] || {}); },
            pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 5, interactive: false }); }
          }));
        });
    })).catch(function (e) { console.error(e); });
  }

  function init(opts) {
    S.map = opts.map;
    S.config = opts.config || {};
    S.zoneNames = {};
    S.contextLoaded = loadContext(opts.overlays || {}).then(function () {
      // the zones' names, for the panel (the layer arrives from /api/map/layers/zones)
      if (opts.overlays && opts.overlays.zones && opts.overlays.zones.eachLayer) {
        (function walk(l) {
          var q = (l.feature || {}).properties || {};
          if (q.code) { S.zoneNames[q.code] = [q.name_zh || q.code, q.name_en || q.code]; }
          else if (l.eachLayer) { l.eachLayer(walk); }
        })(opts.overlays.zones);
      }
      document.body.setAttribute('data-pgp-context', '1');
    });
    var boot = function () {
      wire();
      legend();
      var moved = null;
      S.map.on('moveend', function () {
        if (!token()) { return; }
        clearTimeout(moved);
        moved = setTimeout(loadParcels, 250);
      });
      if (token()) { start(); } else { showWork(false); }
      document.body.setAttribute('data-pgp-ready', '1');
    };
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', boot);
    } else {
      boot();
    }
  }

  return { init: init, state: S, select: select, loadParcels: loadParcels };
}());
