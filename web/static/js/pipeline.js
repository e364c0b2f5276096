/* The full-width pipeline board at /planner/pipeline.
 *
 * Every stage is a column; a card shows the project's names, the parks of its parcels (by
 * name), its dates, an overdue mark when it is past its start date short of construction, and
 * its open bottlenecks (kind, owner, due date). Planners create and edit leads, bottlenecks
 * and complaints here through the workbench API, with the bearer token the planner page keeps
 * in sessionStorage. Strict CSP: no inline script, no inline handlers, text set with
 * textContent only (no HTML parsing of any value), so a stored name cannot become markup.
 */
(function () {
  'use strict';
  var TOKEN = 'parkgis.token', ROLE = 'parkgis.role', WHO = 'parkgis.user';
  var STAGE_EN = { lead: 'Lead', negotiating: 'Negotiating', signed: 'Signed',
    land_supplied: 'Land supplied', under_construction: 'Under construction',
    operational: 'Operational', lost: 'Lost' };
  var KIND = { land: ['用地', 'land'], eia: ['环评', 'EIA'], approvals: ['审批', 'approvals'],
    other: ['其他', 'other'] };
  var B_STATUS = { open: '待处理 open', in_progress: '处理中 in progress', resolved: '已解决 resolved' };
  var C_STATUS = { received: '已收到 received', in_progress: '处理中 in progress',
    resolved: '已解决 resolved', closed: '已关闭 closed' };
  var S = { board: null, bottlenecks: {}, complaints: [], stageZh: {}, editing: null };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function token() { return sessionStorage.getItem(TOKEN); }
  function today() {
    // The park's calendar day (Asia/Shanghai), as the server judges "past start".
    return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  }
  function msg(text, kind) {
    var m = $('pp-msg');
    m.textContent = text || '';
    m.className = 'pp-msg' + (kind ? ' ' + kind : '');
  }
  function problem(r) {
    var d = r.data || {};
    return (d.title ? d.title + ': ' : '') + (d.detail || ('HTTP ' + r.status));
  }
  function api(method, url, body) {
    var opts = { method: method, headers: { Accept: 'application/json' }, cache: 'no-store' };
    if (token()) { opts.headers.Authorization = 'Bearer ' + token(); }
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (r.status === 401) { signedOut(); }
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }
  function signedOut() {
    $('pp-main').hidden = true;
    $('pp-login-needed').hidden = false;
    $('pp-new-lead').hidden = true;
    $('pp-new-complaint').hidden = true;
  }
  function fmtNum(v, d) {
    if (v === null || v === undefined || v === '') { return '—'; }
    return Number(v).toLocaleString('zh-CN', { maximumFractionDigits: d || 0 });
  }

  // ------------------------------------------------------------------ board

  function load() {
    return Promise.all([api('GET', '/api/pipeline/board'), api('GET', '/api/pipeline/bottlenecks'),
                        api('GET', '/api/pipeline/complaints')]).then(function (rs) {
      for (var i = 0; i < rs.length; i++) {
        if (!rs[i].ok) { if (rs[i].status !== 401) { msg(problem(rs[i]), 'error'); } return; }
      }
      S.board = rs[0].data;
      S.bottlenecks = {};
      rs[1].data.bottlenecks.forEach(function (b) {
        (S.bottlenecks[b.project_code] = S.bottlenecks[b.project_code] || []).push(b);
      });
      S.complaints = rs[2].data.complaints;
      (S.board.stages || []).forEach(function (s) { S.stageZh[s] = S.board.stage_names_zh[s]; });
      renderBoard();
      renderComplaints();
      projectOptions();
      document.body.setAttribute('data-pp-ready', '1');
    });
  }

  function renderBoard() {
    var board = $('pp-board');
    board.replaceChildren();
    S.board.columns.forEach(function (col) {
      var c = el('section', 'pp-col');
      c.setAttribute('data-stage', col.stage);
      var h = el('h2');
      var title = el('span', null, col.name_zh + ' ');
      title.appendChild(el('small', null, STAGE_EN[col.stage] || col.stage));
      h.appendChild(title);
      h.appendChild(el('b', null, col.projects.length));
      c.appendChild(h);
      col.projects.forEach(function (p) { c.appendChild(card(p)); });
      board.appendChild(c);
    });
  }

  function row(dl, label, value) {
    dl.appendChild(el('dt', null, label));
    var dd = el('dd', null, value);
    dl.appendChild(dd);
    return dd;
  }

  function card(p) {
    var c = el('article', 'pp-card' + (p.past_start ? ' pp-late' : ''));
    c.setAttribute('data-code', p.code);
    c.appendChild(el('h3', null, p.name_zh));
    c.appendChild(el('small', null, p.name_en + ' · ' + p.code));
    if (p.past_start) {
      c.appendChild(el('div')).appendChild(
        el('span', 'pp-flag pp-flag-overdue', '逾期未开工 / past start ' + (p.start_date || '')));
    }
    // The chain gaps the project would fill (延链补链), as the ledger's target list says.
    (p.fills || []).forEach(function (f) {
      var fl = el('div', 'pp-fills');
      fl.setAttribute('data-link', f.chain_code + '/' + f.link_code);
      fl.setAttribute('data-status', f.status);
      fl.appendChild(el('span', 'pp-flag pp-flag-fill pp-flag-fill-' + f.status, f.text_zh));
      fl.appendChild(el('small', null, ' / ' + f.text_en));
      c.appendChild(fl);
    });
    var dl = el('dl');
    if (p.zones && p.zones.length) {
      row(dl, '园区 Park', p.zones.map(function (z) { return z.name_zh + ' / ' + z.name_en; }).join('；'));
    }
    row(dl, '计划开工 Start', p.start_date || '—');
    if (p.target_quarter) { row(dl, '目标季度 Target', p.target_quarter); }
    if (p.min_area_mu || p.max_area_mu) {
      row(dl, '面积 Area', fmtNum(p.min_area_mu, 1) + '–' + fmtNum(p.max_area_mu, 1) + ' 亩 mu');
    }
    if (p.investment_wan !== null && p.investment_wan !== undefined) {
      row(dl, '投资 Invest.', fmtNum(p.investment_wan) + ' 万元');
    }
    if (p.source_township) {
      row(dl, '来源乡镇 Township', (p.fostered ? '寄养 fostered · ' : '') + p.source_township);
    }
    row(dl, '更新 Updated', (p.updated_at || '').slice(0, 10) || '—');
    c.appendChild(dl);

    var open = (S.bottlenecks[p.code] || []).filter(function (b) { return b.status !== 'resolved'; });
    if (open.length) {
      var ul = el('ul', 'pp-bottlenecks');
      open.forEach(function (b) {
        var li = el('li');
        li.appendChild(el('span', 'pp-flag pp-flag-' + b.kind, (KIND[b.kind] || [b.kind, b.kind]).join(' ')));
        li.appendChild(document.createTextNode(' ' + b.description + ' · ' + b.owner + ' · '));
        var due = el('span', b.due_date && b.due_date < today() ? 'pp-due-late' : null,
                     b.due_date ? '限期 due ' + b.due_date : '无限期 no due date');
        li.appendChild(due);
        li.appendChild(document.createTextNode(' '));
        var eb = el('button', 'pp-mini', '编辑 Edit');
        eb.type = 'button';
        eb.setAttribute('data-act', 'edit-bottleneck');
        eb.setAttribute('data-id', b.id);
        li.appendChild(eb);
        ul.appendChild(li);
      });
      c.appendChild(ul);
    }
    var acts = el('div', 'pp-card-actions');
    [['edit-project', '编辑 Edit'], ['add-bottleneck', '＋瓶颈 Bottleneck']].forEach(function (a) {
      var b = el('button', 'pp-mini', a[1]);
      b.type = 'button';
      b.setAttribute('data-act', a[0]);
      b.setAttribute('data-code', p.code);
      acts.appendChild(b);
    });
    (p.allowed_stages || []).forEach(function (s) {
      var b = el('button', 'pp-mini', '→ ' + (S.stageZh[s] || s) + ' ' + (STAGE_EN[s] || s));
      b.type = 'button';
      b.setAttribute('data-act', 'stage');
      b.setAttribute('data-code', p.code);
      b.setAttribute('data-to', s);
      acts.appendChild(b);
    });
    c.appendChild(acts);
    return c;
  }

  function projectOptions() {
    var sel = $('pp-complaint-form').elements.project_code;
    var keep = sel.value;
    sel.replaceChildren(el('option', null, '—'));
    sel.options[0].value = '';
    S.board.columns.forEach(function (col) {
      col.projects.forEach(function (p) {
        var o = el('option', null, p.code + ' ' + p.name_zh);
        o.value = p.code;
        sel.appendChild(o);
      });
    });
    sel.value = keep;
  }

  // ------------------------------------------------------------------ complaints

  function renderComplaints() {
    var tb = $('pp-complaints');
    tb.replaceChildren();
    var cats = {};
    Array.prototype.forEach.call($('pp-complaint-form').elements.category.options, function (o) {
      cats[o.value] = o.textContent;
    });
    S.complaints.forEach(function (c) {
      var tr = el('tr');
      tr.setAttribute('data-id', c.id);
      [c.received, c.complainant, cats[c.category] || c.category, c.project_code || '—', c.summary,
       C_STATUS[c.status] || c.status, c.handler || '—'].forEach(function (v) {
        tr.appendChild(el('td', null, v));
      });
      var td = el('td');
      var b = el('button', 'pp-mini', '处理 Handle');
      b.type = 'button';
      b.setAttribute('data-act', 'edit-complaint');
      b.setAttribute('data-id', c.id);
      td.appendChild(b);
      tr.appendChild(td);
      tb.appendChild(tr);
    });
    if (!S.complaints.length) {
      var tr = el('tr');
      var td = el('td', null, '暂无投诉 / no complaints');
      td.colSpan = 8;
      tr.appendChild(td);
      tb.appendChild(tr);
    }
  }

  // ------------------------------------------------------------------ forms

  function fill(form, values) {
    Array.prototype.forEach.call(form.elements, function (f) {
      if (!f.name) { return; }
      var v = values[f.name];
      f.value = v === null || v === undefined ? '' : String(v);
    });
  }
  function read(form, names) {
    var out = {};
    names.forEach(function (n) {
      var f = form.elements[n];
      if (!f || f.disabled) { return; }
      var v = f.value.trim();
      if (f.type === 'number') { out[n] = v === '' ? null : Number(v); } else { out[n] = v === '' ? null : v; }
    });
    return out;
  }
  function open(dialog, title, text) {
    $(title).textContent = text;
    dialog.querySelector('.pp-error').textContent = '';
    dialog.showModal();
  }
  function lock(form, names, disabled) {
    names.forEach(function (n) { form.elements[n].disabled = disabled; });
  }

  var PROJECT_FIELDS = ['name_zh', 'name_en', 'industry', 'chain_role', 'min_area_mu',
    'max_area_mu', 'start_date', 'target_quarter', 'investment_wan', 'expected_tax_wan',
    'land_budget_wan', 'contact', 'negotiation_notes'];
  var BOTTLENECK_FIELDS = ['kind', 'description', 'owner', 'due_date', 'status', 'resolution'];
  var COMPLAINT_NEW = ['received', 'complainant', 'category', 'project_code', 'summary', 'handler'];
  var COMPLAINT_EDIT = ['category', 'status', 'handler', 'resolution'];

  function newLead() {
    var f = $('pp-project-form');
    f.reset();
    f.elements.code.disabled = false;
    S.editing = { kind: 'project', code: null };
    open($('pp-project-dialog'), 'pp-project-title', '新建线索 / New lead');
  }
  function editProject(code) {
    api('GET', '/api/pipeline/projects/' + encodeURIComponent(code)).then(function (r) {
      if (!r.ok) { msg(problem(r), 'error'); return; }
      var f = $('pp-project-form');
      f.reset();
      fill(f, r.data.project);
      f.elements.code.disabled = true;
      S.editing = { kind: 'project', code: code };
      open($('pp-project-dialog'), 'pp-project-title', '编辑项目 / Edit project ' + code);
    });
  }
  function saveProject(ev) {
    ev.preventDefault();
    var f = $('pp-project-form');
    if (!f.reportValidity()) { return; }
    var body = read(f, PROJECT_FIELDS);
    var req;
    if (S.editing.code) {
      req = api('PATCH', '/api/pipeline/projects/' + encodeURIComponent(S.editing.code), body);
    } else {
      body.code = f.elements.code.value.trim();
      Object.keys(body).forEach(function (k) { if (body[k] === null) { delete body[k]; } });
      req = api('POST', '/api/pipeline/projects', body);
    }
    done(req, $('pp-project-dialog'), function (d) {
      return '已保存 / saved ' + d.project.code;
    });
  }

  function addBottleneck(code) {
    var f = $('pp-bottleneck-form');
    f.reset();
    lock(f, ['resolution'], true);
    S.editing = { kind: 'bottleneck', code: code, id: null };
    open($('pp-bottleneck-dialog'), 'pp-bottleneck-title', '登记瓶颈 / New bottleneck · ' + code);
  }
  function editBottleneck(id) {
    var b = null;
    Object.keys(S.bottlenecks).forEach(function (k) {
      S.bottlenecks[k].forEach(function (x) { if (String(x.id) === String(id)) { b = x; } });
    });
    if (!b) { return; }
    var f = $('pp-bottleneck-form');
    f.reset();
    lock(f, ['resolution'], false);
    fill(f, b);
    S.editing = { kind: 'bottleneck', code: b.project_code, id: b.id };
    open($('pp-bottleneck-dialog'), 'pp-bottleneck-title', '更新瓶颈 / Update bottleneck · ' + b.project_code);
  }
  function saveBottleneck(ev) {
    ev.preventDefault();
    var f = $('pp-bottleneck-form');
    if (!f.reportValidity()) { return; }
    var body = read(f, BOTTLENECK_FIELDS);
    var req = S.editing.id
      ? api('PATCH', '/api/pipeline/bottlenecks/' + S.editing.id, body)
      : api('POST', '/api/pipeline/projects/' + encodeURIComponent(S.editing.code) + '/bottlenecks', body);
    done(req, $('pp-bottleneck-dialog'), function () { return '瓶颈已保存 / bottleneck saved'; });
  }

  function newComplaint() {
    var f = $('pp-complaint-form');
    f.reset();
    lock(f, COMPLAINT_NEW, false);
    lock(f, ['status', 'resolution'], true);
    f.elements.received.value = today();
    S.editing = { kind: 'complaint', id: null };
    open($('pp-complaint-dialog'), 'pp-complaint-title', '登记投诉 / Log a complaint');
  }
  function editComplaint(id) {
    var c = S.complaints.filter(function (x) { return String(x.id) === String(id); })[0];
    if (!c) { return; }
    var f = $('pp-complaint-form');
    f.reset();
    fill(f, c);
    lock(f, COMPLAINT_NEW, true);
    lock(f, COMPLAINT_EDIT, false);
    S.editing = { kind: 'complaint', id: c.id };
    open($('pp-complaint-dialog'), 'pp-complaint-title', '处理投诉 / Handle complaint #' + c.id);
  }
  function saveComplaint(ev) {
    ev.preventDefault();
    var f = $('pp-complaint-form');
    if (!f.reportValidity()) { return; }
    var req = S.editing.id
      ? api('PATCH', '/api/pipeline/complaints/' + S.editing.id, read(f, COMPLAINT_EDIT))
      : api('POST', '/api/pipeline/complaints', read(f, COMPLAINT_NEW));
    done(req, $('pp-complaint-dialog'), function () { return '投诉已保存 / complaint saved'; });
  }

  function done(req, dialog, okText) {
    req.then(function (r) {
      if (!r.ok) { dialog.querySelector('.pp-error').textContent = problem(r); return; }
      dialog.close();
      msg(okText(r.data), 'ok');
      load();
    });
  }

  function moveStage(code, to) {
    api('POST', '/api/pipeline/projects/' + encodeURIComponent(code) + '/stage', { to: to })
      .then(function (r) {
        if (!r.ok) { msg(problem(r), 'error'); return; }
        msg(code + ' → ' + (S.stageZh[to] || to) + ' / ' + (STAGE_EN[to] || to), 'ok');
        load();
      });
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    $('pp-new-lead').addEventListener('click', newLead);
    $('pp-new-complaint').addEventListener('click', newComplaint);
    $('pp-project-form').addEventListener('submit', saveProject);
    $('pp-bottleneck-form').addEventListener('submit', saveBottleneck);
    $('pp-complaint-form').addEventListener('submit', saveComplaint);
    Array.prototype.forEach.call(document.querySelectorAll('.pp-cancel'), function (b) {
      b.addEventListener('click', function () { b.closest('dialog').close(); });
    });
    document.addEventListener('click', function (ev) {
      var b = ev.target.closest ? ev.target.closest('button[data-act]') : null;
      if (!b) { return; }
      var act = b.getAttribute('data-act');
      if (act === 'edit-project') { editProject(b.getAttribute('data-code')); }
      else if (act === 'add-bottleneck') { addBottleneck(b.getAttribute('data-code')); }
      else if (act === 'edit-bottleneck') { editBottleneck(b.getAttribute('data-id')); }
      else if (act === 'edit-complaint') { editComplaint(b.getAttribute('data-id')); }
      else if (act === 'stage') { moveStage(b.getAttribute('data-code'), b.getAttribute('data-to')); }
    });
  }

  function start() {
    wire();
    var role = sessionStorage.getItem(ROLE);
    if (!token() || (role !== 'planner' && role !== 'admin')) {
      signedOut();
      document.body.setAttribute('data-pp-ready', '1');
      return;
    }
    $('pp-who').hidden = false;
    $('pp-who').textContent = (sessionStorage.getItem(WHO) || '') + ' · ' + role;
    $('pp-new-lead').hidden = false;
    $('pp-new-complaint').hidden = false;
    $('pp-main').hidden = false;
    load();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
