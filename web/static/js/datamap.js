/* ParkGIS data maps (the offline brief, the fit map).
 *
 * The features come from a <script type="application/json"> block, never from a script:
 * Folium's scripts only create the empty layer groups and call PGD.init. Tooltips and popups
 * are DOM nodes filled with textContent, so a stored name shows literally and never runs.
 */
/* global L */
(function () {
  'use strict';
  var PGD = window.PGD = {};

  function node(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text != null) { e.textContent = String(text); }
    return e;
  }
  function popupNode(lines) {
    var div = node('div', 'pg-pop');
    lines.forEach(function (line, i) { div.appendChild(node(i ? 'div' : 'b', null, line)); });
    return div;
  }

  PGD.init = function (o) {
    var el = document.getElementById(o.data);
    var data = JSON.parse(el.textContent);
    PGD.layers = {};
    data.layers.forEach(function (ly) {
      var group = o.groups[ly.group];
      if (!group) { return; }
      var gl = L.geoJSON(ly.features, {
        style: function (f) { return f.properties._style || {}; },
        pointToLayer: function (f, ll) {
          return L.circleMarker(ll, Object.assign({}, ly.marker, f.properties._marker || {}));
        },
        onEachFeature: function (f, layer) {
          var p = f.properties || {};
          if (p._tip != null && p._tip !== '') {
            layer.bindTooltip(function () { return node('span', 'pg-tip', p._tip); }, ly.tooltip);
          }
          if (ly.popup && p._popup) {
            layer.bindPopup(function () { return popupNode(p._popup); }, { maxWidth: 320 });
          }
        },
      });
      group.addLayer(gl);
      PGD.layers[ly.group] = gl;
    });
    document.body.setAttribute('data-pgd-ready', '1');
  };
}());
