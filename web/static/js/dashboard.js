/* The land ledger dashboard (/dashboard).
 *
 * The page is public HTML; every figure comes from /api/ledger/* with the bearer token kept in
 * sessionStorage after POST /api/auth/token (the same keys as the planner workbench, so a
 * planner signed in there is signed in here). All values are written with textContent: firm
 * names and approval numbers come from uploaded files. No inline scripts (CSP).
 */
(function () {
  'use strict';
  var TOKEN = 'parkgis.token', WHO = 'parkgis.user', ROLE = 'parkgis.role';
  var GRADE_COLOURS = { A: '#1a7f37', B: '#2f81c7', C: '#e3a008', D: '#b42318' };
  var STATUS_COLOURS = { present: '#1a7f37', weak: '#e3a008', missing: '#b42318' };
  var STATUS_NAMES = {
    available: '可供 available', reserved: '预留 reserved', listed: '挂牌 listed',
    allocated: '已出让 allocated', under_construction: '在建 under construction',
    operational: '投产 operational', not_for_supply: '不供 not for supply'
  };
  var charts = {};
  var map = null, gradeLayer = null;

  function $(id) { return document.getElementById(id); }
  function token() { return sessionStorage.getItem(TOKEN); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function num(v, d) {
    if (v === null || v === undefined) { return '—'; }
    return Number(v).toLocaleString('zh-CN', { minimumFractionDigits: d === undefined ? 1 : d,
                                                maximumFractionDigits: d === undefined ? 1 : d });
  }
  function pct(v) { return v === null || v === undefined ? '—' : (100 * v).toFixed(1) + '%'; }
  function status(msg) { $('pgd-status').textContent = msg || ''; }

  function api(method, url, body) {
    var h = {};
    if (token()) { h.Authorization = 'Bearer ' + token(); }
    return fetch(url, { method: method, headers: h, body: body }).then(function (r) {
      var ct = r.headers.get('content-type') || '';
      var p = ct.indexOf('json') >= 0 ? r.json() : r.blob();
      return p.then(function (data) {
        if (r.status === 401 && url !== '/api/auth/token') { signedOut(); }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }
  function problem(r) {
    return (r.data && (r.data.detail || r.data.title)) || ('HTTP ' + r.status);
  }

  // ------------------------------------------------------------------ sign in

  function signedIn() {
    $('pgd-login').hidden = true;
    $('pgd-main').hidden = false;
    $('pgd-who').hidden = false;
    $('pgd-user').textContent = (sessionStorage.getItem(WHO) || '') + ' · ' +
      (sessionStorage.getItem(ROLE) || '');
    loadAll();
  }
  function signedOut() {
    sessionStorage.removeItem(TOKEN);
    $('pgd-login').hidden = false;
    $('pgd-main').hidden = true;
    $('pgd-who').hidden = true;
  }

  $('pgd-login').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var form = new FormData();
    form.append('username', $('pgd-username').value);
    form.append('password', $('pgd-password').value);
    $('pgd-login-error').textContent = '';
    api('POST', '/api/auth/token', form).then(function (r) {
      if (!r.ok) { $('pgd-login-error').textContent = problem(r); return; }
      if (r.data.role !== 'planner' && r.data.role !== 'admin') {
        $('pgd-login-error').textContent = '需要规划或管理员账户 / a planner or admin account is needed';
        return;
      }
      sessionStorage.setItem(TOKEN, r.data.access_token);
      sessionStorage.setItem(WHO, $('pgd-username').value);
      sessionStorage.setItem(ROLE, r.data.role);
      signedIn();
    });
  });
  $('pgd-logout').addEventListener('click', function () {
    sessionStorage.removeItem(WHO);
    sessionStorage.removeItem(ROLE);
    signedOut();
  });

  // ------------------------------------------------------------------ loading

  function query() {
    var q = [];
    if ($('pgd-asof').value) { q.push('as_of=' + encodeURIComponent($('pgd-asof').value)); }
    return q.length ? '?' + q.join('&') : '';
  }
  function yearQuery() {
    var y = $('pgd-year').value;
    return y ? '?year=' + encodeURIComponent(y) : '';
  }

  function loadAll() {
    status('加载中… / loading…');
    Promise.all([
      api('GET', '/api/ledger/stock' + query()),
      api('GET', '/api/ledger/performance' + yearQuery()),
      api('GET', '/api/ledger/chains'),
      api('GET', '/api/ledger/townships')
    ]).then(function (rs) {
      var bad = rs.filter(function (r) { return !r.ok && r.status !== 400; });
      if (bad.length) { status(problem(bad[0])); return; }
      var s = rs[0].data, p = rs[1].ok ? rs[1].data : null;
      drawKpis(s, p);
      drawStock(s);
      drawAbsorption(s);
      drawGrades(p);
      drawChains(rs[2].data);
      drawTownships(rs[3].data);
      tableStock(s);
      tablePerformance(p);
      tableChains(rs[2].data);
      tableTownships(rs[3].data);
      drawDefinitions(s, p, rs[2].data, rs[3].data);
      if (p) { fillYears(p); loadGradeMap(p.year); } else { loadGradeMap(null); }
      status('截至 / as of ' + s.as_of);
    });
  }

  function fillYears(p) {
    var sel = $('pgd-year');
    if (sel.options.length) { return; }
    (p.years || []).slice().reverse().forEach(function (y) {
      var o = el('option', y);
      o.value = y;
      if (y === p.year) { o.selected = true; }
      sel.appendChild(o);
    });
  }

  // ------------------------------------------------------------------ KPI cards

  function card(value, zh, en, na) {
    var c = el('div', null, 'pgd-kpi' + (na ? ' pgd-na' : ''));
    c.appendChild(el('b', value));
    c.appendChild(el('span', zh + ' / ' + en));
    $('pgd-kpis').appendChild(c);
  }
  function drawKpis(s, p) {
    $('pgd-kpis').textContent = '';
    var t = s.zones[s.zones.length - 1];
    var avail = t.by_status.available ? t.by_status.available.area_mu : 0;
    card(num(t.area_mu, 0) + ' 亩', '土地总量', 'Land in the ledger (mu)');
    card(num(avail, 0) + ' 亩', '可供土地', 'Available (mu)');
    card(num(t.supplied_mu, 0) + ' 亩', '已供地', 'Supplied (mu)');
    card(pct(t.supply_rate), '供地率', 'Supply rate');
    card(pct(t.development_rate), '建成率', 'Development rate');
    card(num(t.unsupplied_mu, 0) + ' 亩', '批而未供', 'Approved, not supplied');
    card(num(t.unsupplied_over_2y_mu, 0) + ' 亩', '批而未供超2年', '… over 2 years');
    card(num(t.unsupplied_over_5y_mu, 0) + ' 亩', '批而未供超5年', '… over 5 years');
    s.figures.forEach(function (f) {
      if (f.key !== 'unused' && f.key !== 'idle') { return; }
      if (f.value === null) { card(f.note || '—', f.name_zh, f.name_en, true); } else {
        card(num(f.value, 0) + ' 亩', f.name_zh, f.name_en);
      }
    });
    if (p) {
      var n = p.grade_counts || {};
      card(['A', 'B', 'C', 'D'].map(function (g) { return g + ' ' + (n[g] || 0); }).join(' · '),
           '亩均等级 ' + p.year, 'Per-mu grades');
    }
  }

  // ------------------------------------------------------------------ charts

  function chart(id) {
    if (!charts[id]) { charts[id] = echarts.init($(id), null, { renderer: 'canvas' }); }
    return charts[id];
  }
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    if (map) { map.invalidateSize(); }
  });

  function drawStock(s) {
    var zones = s.zones.filter(function (z) { return z.zone_code !== 'ALL'; });
    var series = Object.keys(STATUS_NAMES).map(function (st) {
      return { name: STATUS_NAMES[st], type: 'bar', stack: 'mu',
               data: zones.map(function (z) {
                 return z.by_status[st] ? Math.round(z.by_status[st].area_mu) : 0; }) };
    });
    chart('chart-stock').setOption({
      animation: false, tooltip: { trigger: 'axis' }, legend: { type: 'scroll', bottom: 0 },
      grid: { left: 60, right: 10, top: 10, bottom: 50 },
      xAxis: { type: 'category', data: zones.map(function (z) { return z.name_zh; }) },
      yAxis: { type: 'value', name: '亩' }, series: series
    }, true);
  }

  function drawAbsorption(s) {
    var q = s.absorption.filter(function (r) { return r.zone_code === 'ALL'; });
    chart('chart-absorption').setOption({
      animation: false, tooltip: { trigger: 'axis' }, legend: { bottom: 0 },
      grid: { left: 60, right: 60, top: 20, bottom: 50 },
      xAxis: { type: 'category', data: q.map(function (r) { return r.quarter; }) },
      yAxis: [{ type: 'value', name: '亩' }, { type: 'value', name: '天 days' }],
      series: [
        { name: '供地面积 allocated (mu)', type: 'bar', data: q.map(function (r) { return Math.round(r.area_mu); }) },
        { name: '中位天数 median days', type: 'line', yAxisIndex: 1,
          data: q.map(function (r) { return r.median_days; }) }
      ]
    }, true);
  }

  function drawGrades(p) {
    var n = (p && p.grade_counts) || {};
    chart('chart-grades').setOption({
      animation: false, tooltip: {},
      grid: { left: 40, right: 10, top: 20, bottom: 30 },
      xAxis: { type: 'category', data: ['A', 'B', 'C', 'D'] },
      yAxis: { type: 'value', name: '家 firms', minInterval: 1 },
      series: [{ type: 'bar', data: ['A', 'B', 'C', 'D'].map(function (g) {
        return { value: n[g] || 0, itemStyle: { color: GRADE_COLOURS[g] } }; }) }]
    }, true);
  }

  function drawChains(c) {
    var nodes = [], links = [];
    c.chains.forEach(function (ch, i) {
      ch.links.forEach(function (lk, j) {
        var id = ch.code + ':' + lk.code;
        nodes.push({ id: id, name: lk.name_zh + '\n' + lk.status_zh + ' · ' + lk.n_firms,
                     x: j * 180, y: i * 120, symbolSize: 26 + 6 * Math.min(lk.n_firms, 5),
                     itemStyle: { color: STATUS_COLOURS[lk.status] } });
        if (j > 0) { links.push({ source: ch.code + ':' + ch.links[j - 1].code, target: id }); }
      });
    });
    chart('chart-chains').setOption({
      animation: false, tooltip: { formatter: function (x) { return x.data && x.data.name ? echarts.format.encodeHTML(x.data.name) : ''; } },
      series: [{ type: 'graph', layout: 'none', roam: false, data: nodes, links: links,
                 edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 8,
                 label: { show: true, position: 'bottom', fontSize: 11 },
                 lineStyle: { color: '#8896a4', width: 2 } }]
    }, true);
  }

  function drawTownships(t) {
    var rows = t.townships.filter(function (x) { return x.listed; });
    chart('chart-townships').setOption({
      animation: false, tooltip: { trigger: 'axis' }, legend: { bottom: 0 },
      grid: { left: 70, right: 70, top: 20, bottom: 60 },
      xAxis: { type: 'category', data: rows.map(function (x) { return x.name_zh; }),
               axisLabel: { interval: 0, rotate: 30 } },
      yAxis: [{ type: 'value', name: '万元' }, { type: 'value', name: '个 projects', minInterval: 1 }],
      series: [
        { name: '签约投资 investment signed (万元)', type: 'bar', data: rows.map(function (x) { return x.investment_wan; }) },
        { name: '寄养税收分成 fostered tax share (万元/年)', type: 'bar', data: rows.map(function (x) { return x.fostered_tax_wan; }) },
        { name: '线索 leads', type: 'line', yAxisIndex: 1, data: rows.map(function (x) { return x.leads; }) }
      ]
    }, true);
  }

  // ------------------------------------------------------------------ grade map

  function loadGradeMap(year) {
    if (!map) {
      map = L.map('grade-map', { attributionControl: true, zoomControl: true });
      map.attributionControl.setPrefix('');
      map.setView([35.4, 114.07], 12);
    }
    if (year === null) { return; }
    api('GET', '/api/ledger/performance/map?year=' + encodeURIComponent(year)).then(function (r) {
      if (!r.ok) { return; }
      if (gradeLayer) { map.removeLayer(gradeLayer); }
      gradeLayer = L.geoJSON(r.data, {
        style: function (f) {
          var g = f.properties.grade;
          return { color: '#333', weight: 1, fillOpacity: 0.75,
                   fillColor: g ? GRADE_COLOURS[g] : '#9aa5b1' };
        },
        onEachFeature: function (f, layer) {
          var p = f.properties, box = el('div');
          box.appendChild(el('b', p.code));
          box.appendChild(el('div', p.name_zh));
          box.appendChild(el('div', '等级 / grade: ' + (p.grade || '不评 / not graded')));
          layer.bindPopup(box);
        }
      }).addTo(map);
      map.invalidateSize();
      if (r.data.features.length) { map.fitBounds(gradeLayer.getBounds(), { padding: [10, 10] }); }
    });
  }

  // ------------------------------------------------------------------ tables

  function table(target, headers, rows) {
    var t = el('table'), thead = el('thead'), tr = el('tr');
    headers.forEach(function (h) { tr.appendChild(el('th', h)); });
    thead.appendChild(tr);
    t.appendChild(thead);
    var tb = el('tbody');
    rows.forEach(function (r) {
      var row = el('tr');
      r.forEach(function (c) {
        var td;
        if (c && typeof c === 'object') { td = el('td', c.text, c.cls); } else {
          td = el('td', c, typeof c === 'number' || /^[\d,.\-—%]+$/.test(String(c)) ? 'num' : null);
        }
        row.appendChild(td);
      });
      tb.appendChild(row);
    });
    t.appendChild(tb);
    $(target).textContent = '';
    $(target).appendChild(t);
  }

  function tableStock(s) {
    table('tbl-stock', ['园区 Zone', '宗数 Parcels', '面积（亩）', '面积（公顷）', '可供（亩）',
                        '已供（亩）', '供地率', '建成率', '批而未供（亩）', '>2年', '>5年',
                        '供而未用（亩）', '闲置（亩）'],
      s.zones.map(function (z) {
        return [z.name_zh + ' ' + z.name_en, z.parcels, num(z.area_mu), num(z.area_ha, 2),
                num(z.by_status.available ? z.by_status.available.area_mu : 0),
                num(z.supplied_mu), pct(z.supply_rate), pct(z.development_rate),
                num(z.unsupplied_mu), num(z.unsupplied_over_2y_mu), num(z.unsupplied_over_5y_mu),
                num(z.unused_mu), num(z.idle_mu)];
      }));
    table('tbl-batches', ['批准文号 Approval no.', '批准日期', '园区', '面积（亩）', '已供（亩）',
                          '未供（亩）', '供地率', '年限（年）'],
      s.batches.map(function (b) {
        return [b.approval_no, b.approved_on, b.zone_code || '—', num(b.area_mu),
                num(b.supplied_mu), num(b.unsupplied_mu), pct(b.supply_rate), num(b.age_years, 2)];
      }));
  }

  function tablePerformance(p) {
    if (!p) { $('tbl-performance').textContent = '尚无亩均数据 / no per-mu figures yet'; return; }
    var inds = p.scheme.definition.indicators;
    var headers = ['企业 Enterprise', '分组 Group', '用地（亩）'];
    inds.forEach(function (i) { headers.push(i.name_zh + '（' + i.unit + '）', '得分'); });
    headers.push('总分 Score', '排名 Rank', '等级 Grade', '上年 Last year', '变化 Change');
    table('tbl-performance', headers, p.firms.map(function (m) {
      var r = [m.name_zh, m.group, num(m.land_mu)];
      inds.forEach(function (i) { r.push(num(m.values[i.key], 3), num(m.scores[i.key], 2)); });
      r.push(num(m.score, 2), m.rank === null ? '—' : m.rank,
             { text: m.grade || '不评', cls: m.grade ? 'grade-' + m.grade : null },
             m.previous_grade || '—',
             m.score_change === null || m.score_change === undefined ? '—' : num(m.score_change, 2));
      return r;
    }));
  }

  function tableChains(c) {
    table('tbl-chains', ['产业链 Chain', '环节 Link', '状态 Status', '企业数 Firms',
                         '可补链项目 Projects'],
      c.targets.map(function (t) {
        return [t.chain_zh, t.link_zh + ' ' + t.link_en,
                { text: t.status_zh + ' ' + t.status, cls: 'st-' + t.status }, t.n_firms,
                t.projects.join('、') || '—'];
      }));
  }

  function tableTownships(t) {
    table('tbl-townships', ['排名', '乡镇 Township', '线索 Leads', '签约 Signed',
                            '签约投资（万元）', '供地（亩）', '寄养项目', '寄养税收分成（万元/年）'],
      t.townships.map(function (x) {
        return [x.rank, x.name_zh + ' ' + x.name_en, x.leads, x.signed, num(x.investment_wan),
                num(x.land_mu), x.fostered, num(x.fostered_tax_wan, 2)];
      }));
  }

  function drawDefinitions(s, p, c, t) {
    var box = $('pgd-defs');
    box.textContent = '';
    function add(title, def, sql) {
      var d = el('details');
      d.appendChild(el('summary', title));
      d.appendChild(el('p', def));
      d.appendChild(el('pre', sql));
      box.appendChild(d);
    }
    s.figures.forEach(function (f) {
      add(f.name_zh + ' / ' + f.name_en, f.definition_zh + ' ' + f.definition_en, f.sql);
    });
    if (p) { add('亩均效益评价 / Per-mu grading', p.definition_zh + ' ' + p.definition_en, p.sql); }
    add('产业链 / Chains', c.definition_zh + ' ' + c.definition_en, c.sql);
    add('乡镇 / Townships', t.definition_zh + ' ' + t.definition_en, t.sql);
  }

  // ------------------------------------------------------------------ downloads and upload

  function download(url, name) {
    api('GET', url).then(function (r) {
      if (!r.ok) { status(problem(r)); return; }
      var a = el('a');
      a.href = URL.createObjectURL(r.data);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-xlsx]'), function (b) {
    b.addEventListener('click', function () {
      var kind = b.getAttribute('data-xlsx');
      var q = kind === 'stock' ? query() : kind === 'performance' ? yearQuery() : '';
      download('/api/ledger/' + kind + (q ? q + '&' : '?') + 'format=xlsx',
               'ledger-' + kind + '.xlsx');
    });
  });
  $('pgd-report').addEventListener('click', function () {
    var m = $('pgd-month').value;
    if (!/^\d{4}-\d{2}$/.test(m)) { status('请选择月份 / pick a month'); return; }
    download('/api/ledger/report.pdf?month=' + encodeURIComponent(m), 'ledger-' + m + '.pdf');
  });
  $('pgd-controls').addEventListener('submit', function (ev) { ev.preventDefault(); loadAll(); });
  $('pgd-year').addEventListener('change', loadAll);
  $('pgd-upload').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = $('pgd-file').files[0];
    if (!f) { return; }
    var form = new FormData();
    form.append('file', f);
    $('pgd-upload-msg').textContent = '导入中… / loading…';
    api('POST', '/api/ledger/performance', form).then(function (r) {
      if (!r.ok) {
        var errs = (r.data && r.data.errors) || [];
        $('pgd-upload-msg').textContent = problem(r) + (errs.length > 1 ? ' (+' + (errs.length - 1) + ')' : '');
        return;
      }
      $('pgd-upload-msg').textContent = '已导入 / loaded: ' + r.data.rows;
      loadAll();
    });
  });

  var today = new Date();
  $('pgd-month').value = today.getFullYear() + '-' + String(today.getMonth() + 1).padStart(2, '0');
  if (token()) { signedIn(); }
}());
