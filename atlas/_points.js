/* Gulag, Inc. atlas: big point layers on one canvas (MIT, written for this repository).
 *
 * A user layer of N points arrives packed by atlas/_packing.py: coordinates as micro-degree
 * integers, each attribute column once per distinct value (dictionary codes), as plain
 * integers or as a JSON array; every part a deflate stream in base64, inflated here by the
 * browser's own DecompressionStream. The points are drawn into one canvas as pixel stamps (no
 * Leaflet object per point); a grid index over their Web Mercator coordinates answers hover and
 * click. The canvas takes no pointer event: the map decides, per event, whether a user point is
 * under the pointer, so the provinces, counties, camps and mines under and above a user layer
 * keep their own tooltips and popups. Attribute text is only ever put into the page with
 * textContent.
 */
"use strict";

/* ---- decoding ---- */

function atlasBase64Bytes(text) {
  var bin = atob(String(text)), n = bin.length, out = new Uint8Array(n);
  for (var i = 0; i < n; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function atlasInflate(text) {
  var stream = new Blob([atlasBase64Bytes(text)]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Response(stream).arrayBuffer().then(function (buf) { return new Uint8Array(buf); });
}

var ATLAS_TYPED = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i32: Int32Array };

/* One packed section: a typed array (byte-shuffled, maybe as differences) or a JSON array. */
function atlasSection(sec) {
  return Promise.resolve(sec.z).then(atlasInflate).then(function (bytes) {  /* errors reject, never throw */
    if (sec.t === "json") return JSON.parse(new TextDecoder().decode(bytes));
    var Typed = ATLAS_TYPED[sec.t];
    if (!Typed) throw new Error("unknown section type " + sec.t);
    var width = Typed.BYTES_PER_ELEMENT, n = bytes.length / width;
    if (sec.shuffle && width > 1) {  /* all first bytes, then all second bytes, ... (little-endian) */
      var plain = new Uint8Array(bytes.length);
      for (var b = 0; b < width; b++) {
        var from = b * n;
        for (var i = 0; i < n; i++) plain[i * width + b] = bytes[from + i];
      }
      bytes = plain;
    }
    var arr = new Typed(bytes.buffer, bytes.byteOffset, n);
    if (sec.delta) {
      if (Typed === Uint32Array) { for (var k = 1; k < n; k++) arr[k] = (arr[k] + arr[k - 1]) >>> 0; }
      else { for (var j = 1; j < n; j++) arr[j] = (arr[j] + arr[j - 1]) | 0; }
    }
    return arr;
  });
}

/* The columns of one packed entry (atlas/_packing.py): [{name, get(row)}], get giving the row's
 * value (string, number, boolean or null). coords: {x: longitudes, y: latitudes}. */
function atlasColumns(col, coords) {
  var names = col.names || [];
  function each(get) { return names.map(function (nm) { return { name: nm, get: get }; }); }
  if (col.enc === "dict") {
    return Promise.all([atlasSection(col.values), atlasSection(col.codes)]).then(function (r) {
      var values = r[0], codes = r[1];
      return names.map(function (nm, k) {
        var vals = values[k];
        return { name: nm, get: function (i) { return vals[codes[i]]; } };
      });
    });
  }
  if (col.enc === "coord") {
    var axis = coords[col.axis === "y" ? "y" : "x"];
    return Promise.resolve(each(col.text ? function (i) { return String(axis[i]); } : function (i) { return axis[i]; }));
  }
  return atlasSection(col.data).then(function (a) {
    if (col.enc === "int") {
      var scale = Math.pow(10, Number(col.decimals) || 0);
      var num = scale === 1 ? function (i) { return a[i]; } : function (i) { return a[i] / scale; };
      return each(col.text ? function (i) { return String(num(i)); } : num);
    }
    if (col.enc === "numbered") {
      var prefix = String(col.prefix), width = Number(col.width) || 0;
      return each(function (i) { return prefix + String(a[i]).padStart(width, "0"); });
    }
    return each(function (i) { return a[i]; });
  });
}

/* Decode a packed user layer: {n, x, y (Web Mercator in [0, 1]), lat, lon, columns (in the layer's order)}. */
function atlasDecodePoints(spec) {
  var xy = spec.xy, none = Promise.resolve(new Uint32Array(0));
  return Promise.all([xy ? atlasSection(xy.x) : none, xy ? atlasSection(xy.y) : none]).then(function (q) {
    var qx = q[0], qy = q[1], n = qx.length, x0 = xy ? Number(xy.x0) : 0, y0 = xy ? Number(xy.y0) : 0;
    var lon = new Float64Array(n), lat = new Float64Array(n), wx = new Float64Array(n), wy = new Float64Array(n);
    var maxLat = 85.0511287798, d = Math.PI / 180;
    for (var i = 0; i < n; i++) {
      lon[i] = (x0 + qx[i]) / 1e6; lat[i] = (y0 + qy[i]) / 1e6;
      var s = Math.sin(Math.max(Math.min(maxLat, lat[i]), -maxLat) * d);
      wx[i] = 0.5 + lon[i] / 360;
      wy[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
    }
    var coords = { x: lon, y: lat };
    return Promise.all((spec.cols || []).map(function (c) { return atlasColumns(c, coords); })).then(function (parts) {
      var byName = {}, columns = [];
      parts.forEach(function (p) { p.forEach(function (c) { byName[c.name] = c; }); });
      (spec.columns || Object.keys(byName)).forEach(function (nm) { if (byName[nm]) columns.push(byName[nm]); });
      return { n: n, lon: lon, lat: lat, x: wx, y: wy, columns: columns };
    });
  });
}

/* ---- a grid index over Web Mercator coordinates ---- */

function AtlasGrid(x, y, n) {
  var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (var i = 0; i < n; i++) {
    if (x[i] < minX) minX = x[i]; if (x[i] > maxX) maxX = x[i];
    if (y[i] < minY) minY = y[i]; if (y[i] > maxY) maxY = y[i];
  }
  var side = Math.max(1, Math.min(2048, Math.ceil(Math.sqrt(n / 2))));
  this.minX = minX; this.minY = minY;
  this.cw = Math.max((maxX - minX) / side, 1e-12); this.ch = Math.max((maxY - minY) / side, 1e-12);
  this.side = side; this.x = x; this.y = y;
  var cell = new Uint32Array(n), start = new Uint32Array(side * side + 1);
  for (var k = 0; k < n; k++) {
    cell[k] = this.cellY(y[k]) * side + this.cellX(x[k]);
    start[cell[k] + 1]++;
  }
  for (var c = 0; c < side * side; c++) start[c + 1] += start[c];
  var fill = start.slice(0, side * side), items = new Uint32Array(n);
  for (var j = 0; j < n; j++) items[fill[cell[j]]++] = j;  /* rows ascending within a cell */
  this.start = start; this.items = items;
}
AtlasGrid.prototype.cellX = function (v) { return Math.max(0, Math.min(this.side - 1, Math.floor((v - this.minX) / this.cw))); };
AtlasGrid.prototype.cellY = function (v) { return Math.max(0, Math.min(this.side - 1, Math.floor((v - this.minY) / this.ch))); };
/* The row nearest to (wx, wy) within radius r (world units), the later row on a tie; -1 if none. */
AtlasGrid.prototype.nearest = function (wx, wy, r) {
  var best = -1, bestD = r * r;
  var cx0 = this.cellX(wx - r), cx1 = this.cellX(wx + r), cy0 = this.cellY(wy - r), cy1 = this.cellY(wy + r);
  if (wx + r < this.minX || wy + r < this.minY || wx - r > this.minX + this.cw * this.side ||
      wy - r > this.minY + this.ch * this.side) return -1;
  for (var cy = cy0; cy <= cy1; cy++) {
    for (var cx = cx0; cx <= cx1; cx++) {
      var c = cy * this.side + cx;
      for (var k = this.start[c], end = this.start[c + 1]; k < end; k++) {
        var i = this.items[k], dx = this.x[i] - wx, dy = this.y[i] - wy, d = dx * dx + dy * dy;
        if (d < bestD || (d === bestD && i > best)) { bestD = d; best = i; }
      }
    }
  }
  return best;
};

/* ---- the layer ---- */

function atlasColourInt(hex) {  /* "#rrggbb" as a little-endian RGBA pixel, opaque */
  var m = /^#([0-9a-fA-F]{6})$/.exec(String(hex)) || [null, "888888"];
  var v = parseInt(m[1], 16);
  return ((255 << 24) | ((v & 255) << 16) | (((v >> 8) & 255) << 8) | ((v >> 16) & 255)) >>> 0;
}

/* Pixel offsets of a round marker of radius r: fill inside, a white rim of about 1 px. */
function atlasStamp(r, fill) {
  var dx = [], dy = [], col = [], white = 0xffffffff, rim = r + 0.5, inner = r - 0.7;
  var R = Math.ceil(rim);
  for (var y = -R; y <= R; y++) {
    for (var x = -R; x <= R; x++) {
      var d = Math.sqrt(x * x + y * y);
      if (d > rim) continue;
      dx.push(x); dy.push(y); col.push(d > inner ? white : fill);
    }
  }
  return { dx: dx, dy: dy, col: new Uint32Array(col), reach: R };
}

/* A point far outside the DPRK: a dashed ring in the layer's colour around a white centre. */
function atlasStampOutside(r, fill) {
  var dx = [], dy = [], col = [], white = 0xffffffff, rim = r + 0.5, inner = r - 1.3;
  var R = Math.ceil(rim);
  for (var y = -R; y <= R; y++) {
    for (var x = -R; x <= R; x++) {
      var d = Math.sqrt(x * x + y * y);
      if (d > rim) continue;
      if (d > inner && Math.floor((Math.atan2(y, x) + Math.PI) / (Math.PI / 4)) % 2) continue;  /* dashes */
      dx.push(x); dy.push(y); col.push(d > inner ? fill : white);
    }
  }
  return { dx: dx, dy: dy, col: new Uint32Array(col), reach: R };
}

var AtlasPoints = L.Layer.extend({
  options: { pane: "atlas-user", padding: 0.1, colour: "#0b7285" },

  initialize: function (data, options) {
    L.setOptions(this, options);
    this._data = data;
    this._grid = new AtlasGrid(data.x, data.y, data.n);
    this._fill = atlasColourInt(this.options.colour);
    this._outside = new Uint8Array(data.n);  /* rows drawn as outside the DPRK */
    (this.options.outside || []).forEach(function (i) { if (i >= 0 && i < data.n) this._outside[i] = 1; }, this);
  },

  /* marker radius in CSS pixels at a zoom: small when the whole country is in view */
  radius: function (zoom) { return zoom <= 6 ? 2 : zoom <= 9 ? 3 : 4; },

  onAdd: function (map) {
    var c = this._canvas = L.DomUtil.create("canvas", "atlas-points-canvas");
    c.style.pointerEvents = "none";
    if (map._zoomAnimated) L.DomUtil.addClass(c, "leaflet-zoom-animated");
    this.getPane().appendChild(c);
    this._drawn = null;
    this._update();
    atlasPointsRegistry(map).add(this);
  },

  onRemove: function (map) {
    atlasPointsRegistry(map).remove(this);
    L.DomUtil.remove(this._canvas);
    this._canvas = null;
  },

  getEvents: function () {
    var ev = { viewreset: this._reset, zoom: this._onZoom, moveend: this._update, resize: this._update };
    if (this._map && this._map._zoomAnimated) ev.zoomanim = this._onAnimZoom;
    return ev;
  },

  _onAnimZoom: function (e) { this._updateTransform(e.center, e.zoom); },
  _onZoom: function () { this._updateTransform(this._map.getCenter(), this._map.getZoom()); },
  _reset: function () { this._update(); this._updateTransform(this._center, this._zoom); },

  _updateTransform: function (center, zoom) {
    if (!this._canvas || this._zoom == null) return;
    var map = this._map, scale = map.getZoomScale(zoom, this._zoom),
      viewHalf = map.getSize().multiplyBy(0.5 + this.options.padding),
      topLeft = viewHalf.multiplyBy(-scale).add(map.project(this._center, zoom))
        .subtract(map._getNewPixelOrigin(center, zoom));
    L.DomUtil.setTransform(this._canvas, topLeft, scale);
  },

  _update: function () {
    var map = this._map;
    if (!map || !this._canvas) return;
    var p = this.options.padding, size = map.getSize(),
      min = map.containerPointToLayerPoint(size.multiplyBy(-p)).round(),
      max = min.add(size.multiplyBy(1 + p * 2)).round();
    this._center = map.getCenter(); this._zoom = map.getZoom();
    L.DomUtil.setPosition(this._canvas, min);
    var origin = min.add(map.getPixelOrigin()), key = [this._zoom, origin.x, origin.y, max.x - min.x, max.y - min.y].join();
    if (key === this._drawn) return;
    this._drawn = key;
    this.draw(origin, max.subtract(min), this._zoom);
  },

  /* Draw every point inside the canvas (origin: its top-left in global pixels at the zoom). */
  draw: function (origin, size, zoom) {
    var ratio = window.devicePixelRatio || 1, w = Math.round(size.x * ratio), h = Math.round(size.y * ratio);
    var c = this._canvas, ctx;
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    c.style.width = size.x + "px"; c.style.height = size.y + "px";
    ctx = c.getContext("2d");
    if (!this._img || this._img.width !== w || this._img.height !== h) {
      this._img = ctx.createImageData(w, h);
      this._buf = new Uint32Array(this._img.data.buffer);
    } else {
      this._buf.fill(0);
    }
    var buf = this._buf, inside = atlasStamp(this.radius(zoom) * ratio, this._fill);
    var outside = atlasStampOutside(this.radius(zoom) * ratio + ratio, this._fill);
    function offsets(t) {
      var o = new Int32Array(t.col.length);
      for (var s = 0; s < o.length; s++) o[s] = t.dy[s] * w + t.dx[s];
      return o;
    }
    var offIn = offsets(inside), offOut = offsets(outside), flag = this._outside;
    var S = 256 * Math.pow(2, zoom) * ratio, ox = origin.x * ratio - 0.5, oy = origin.y * ratio - 0.5;
    var x = this._data.x, y = this._data.y, n = this._data.n, drawn = 0;
    /* a stamp at a pixel already stamped changes nothing: skip it (most points, country-wide) */
    if (!this._seen || this._seen.length !== w * h) this._seen = new Uint8Array(w * h);
    else this._seen.fill(0);
    var seen = this._seen;
    for (var i = 0; i < n; i++) {
      var st = flag[i] ? outside : inside, off = flag[i] ? offOut : offIn, m = st.col.length, R = st.reach;
      var col = st.col;
      var px = Math.floor(x[i] * S - ox), py = Math.floor(y[i] * S - oy);
      if (px < -R || py < -R || px >= w + R || py >= h + R) continue;
      drawn++;
      if (px >= R && py >= R && px < w - R && py < h - R) {
        var at = py * w + px;
        if (seen[at] === 1) continue;
        seen[at] = 1;
        for (var k = 0; k < m; k++) buf[at + off[k]] = col[k];
      } else {
        for (var q = 0; q < m; q++) {
          var xx = px + st.dx[q], yy = py + st.dy[q];
          if (xx >= 0 && yy >= 0 && xx < w && yy < h) buf[yy * w + xx] = col[q];
        }
      }
    }
    ctx.putImageData(this._img, 0, 0);
    this.drawnCount = drawn;
    return drawn;
  },

  /* The row under a container point (nearest centre within the marker's radius + 2 px), or -1. */
  hit: function (cp) {
    var map = this._map;
    if (!map) return -1;
    var zoom = map.getZoom(), S = 256 * Math.pow(2, zoom);
    var g = map.containerPointToLayerPoint(cp).add(map.getPixelOrigin());
    return this._grid.nearest(g.x / S, g.y / S, (this.radius(zoom) + 2) / S);
  },

  count: function () { return this._data.n; },
  latLng: function (i) { return L.latLng(this._data.lat[i], this._data.lon[i]); },
  /* the attributes of a row, as [name, value] pairs (empty values left out) */
  record: function (i) {
    var out = [];
    this._data.columns.forEach(function (col) {
      var v = col.get(i);
      if (v != null && v !== "") out.push([col.name, v]);
    });
    return out;
  },
  label: function (i) {
    var cols = this._data.columns, want = ["name", "title", "label", "site", "site_name", "placemark"];
    for (var k = 0; k < want.length; k++) {
      for (var j = 0; j < cols.length; j++) {
        if (String(cols[j].name).toLowerCase() === want[k]) {
          var v = cols[j].get(i);
          if (v != null && v !== "") return String(v);
        }
      }
    }
    return cols.length && cols[0].get(i) != null ? String(cols[0].get(i)) : "";
  }
});

/* One per map: decides, for each pointer event, whether a user point is under the pointer. */
function atlasPointsRegistry(map) {
  if (map._atlasPoints) return map._atlasPoints;
  var layers = [], container = map.getContainer(), tip = null, ring = null, current = null;
  var reg = map._atlasPoints = {
    layers: layers,
    onClick: null,  /* function (layer, row, latlng) set by the page */
    add: function (layer) { if (layers.indexOf(layer) < 0) layers.push(layer); },
    remove: function (layer) {
      var i = layers.indexOf(layer);
      if (i >= 0) layers.splice(i, 1);
      if (current && current.layer === layer) hover(null);
    },
    /* the topmost user point under a container point: {layer, row} or null */
    hit: function (cp) {
      for (var k = layers.length - 1; k >= 0; k--) {
        var row = layers[k].hit(cp);
        if (row >= 0) return { layer: layers[k], row: row };
      }
      return null;
    }
  };

  /* events on controls, popups, tooltips and on panes drawn above the user points are theirs */
  var userZ = Number(map.getPane("atlas-user").style.zIndex) || 560;
  function above(target) {
    if (!target || !target.closest) return false;
    if (target.closest(".leaflet-control, .leaflet-popup, .leaflet-tooltip")) return true;
    var pane = target.closest(".leaflet-pane");
    while (pane && pane !== map.getPane("mapPane")) {
      if ((Number(pane.style.zIndex) || 0) > userZ) return true;
      pane = pane.parentElement && pane.parentElement.closest(".leaflet-pane");
    }
    return false;
  }
  function point(e) {
    var rect = container.getBoundingClientRect();
    return L.point(e.clientX - rect.left - container.clientLeft, e.clientY - rect.top - container.clientTop);
  }
  function hover(h) {
    current = h;
    container.classList.toggle("atlas-on-user-point", !!h);
    if (!h) {
      if (tip) map.closeTooltip(tip);
      if (ring) map.removeLayer(ring);
      return;
    }
    var ll = h.layer.latLng(h.row), r = h.layer.radius(map.getZoom()) + 3;
    var box = document.createElement("div");
    var b = document.createElement("b"); b.textContent = h.layer.label(h.row); box.appendChild(b);
    var sub = document.createElement("div"); sub.textContent = h.layer.options.title || ""; box.appendChild(sub);
    tip = tip || L.tooltip({ direction: "top", className: "atlas-tip atlas-user-tip", offset: [0, -r] });
    tip.setLatLng(ll).setContent(box);
    if (!map.hasLayer(tip)) map.openTooltip(tip);
    if (!ring) ring = L.marker(ll, { interactive: false, keyboard: false, pane: "atlas-user",
      icon: L.divIcon({ className: "atlas-user-ring", iconSize: [2 * r, 2 * r] }) });
    ring.setLatLng(ll);
    ring.setIcon(L.divIcon({ className: "atlas-user-ring", iconSize: [2 * r, 2 * r] }));
    if (!map.hasLayer(ring)) ring.addTo(map);
  }
  container.addEventListener("mousemove", function (e) {
    var drag = map.dragging && map.dragging._draggable;
    var h = layers.length && !above(e.target) && !(drag && drag._moving) ? reg.hit(point(e)) : null;
    if (h && current && h.layer === current.layer && h.row === current.row) return;
    if (h || current) hover(h);
  }, true);
  container.addEventListener("mouseleave", function () { if (current) hover(null); });
  container.addEventListener("click", function (e) {
    if (!layers.length || above(e.target) || container.classList.contains("atlas-measuring")) return;
    if (map.dragging && map.dragging.moved()) return;
    var h = reg.hit(point(e));
    if (!h) return;
    e.stopPropagation(); e.stopImmediatePropagation();  /* the point's popup, not the province's */
    if (reg.onClick) reg.onClick(h.layer, h.row, h.layer.latLng(h.row));
  }, true);
  map.on("zoomstart movestart", function () { if (current) hover(null); });
  return reg;
}

/* A user layer's lines or polygons (atlas.map_layers.pack_shapes) on one canvas, as AtlasPoints draws
   points: one path per redraw, only the features in view, a feature smaller than a pixel or two drawn
   as a dot. Hover and click are found by hit() (a grid of cells, then point in polygon or within 4 px
   of a line) through the registry the points use. Rows follow the layer's points (first + j). */
var AtlasShapes = L.Layer.extend({
  options: { pane: "atlas-user", padding: 0.1, colour: "#0b7285" },

  initialize: function (packed, points, first, options) {
    L.setOptions(this, options);
    this._pts = points; this._first = first;
    this.lines = packed.t === "lines";
    var c = packed.c, nc = c.length / 2, lon = new Float64Array(nc), lat = new Float64Array(nc);
    var r = this._r = Int32Array.from(packed.r);
    for (var k = 0; k + 1 < r.length; k++) {  /* each ring: its first vertex absolute, the others as steps */
      var x = 0, y = 0;
      for (var m = r[k]; m < r[k + 1]; m++) {
        if (m === r[k]) { x = c[2 * m]; y = c[2 * m + 1]; } else { x += c[2 * m]; y += c[2 * m + 1]; }
        lon[m] = x / 1e6; lat[m] = y / 1e6;
      }
    }
    this._lon = lon; this._lat = lat;
    /* every feature's rings: [first ring, end) through p (polygons) or directly (lines) */
    var g = packed.g, p = packed.p, n = this.count = g.length - 1;
    this._ringStart = new Int32Array(n); this._ringEnd = new Int32Array(n);
    for (var i = 0; i < n; i++) {
      this._ringStart[i] = p ? p[g[i]] : g[i];
      this._ringEnd[i] = p ? p[g[i + 1]] : g[i + 1];
    }
    /* Web Mercator (0..1) of every vertex, and each feature's box in it and in lon/lat */
    var mx = this._mx = new Float64Array(nc), my = this._my = new Float64Array(nc);
    for (var v = 0; v < nc; v++) {
      mx[v] = (lon[v] + 180) / 360;
      var s = Math.sin(lat[v] * Math.PI / 180);
      my[v] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
    }
    var box = this._box = new Float64Array(4 * n), ll = this._ll = new Float64Array(4 * n), area = 0;
    for (var f = 0; f < n; f++) {
      var a = r[this._ringStart[f]], b = r[this._ringEnd[f]];
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, l0 = Infinity, b0 = Infinity, l1 = -Infinity, b1 = -Infinity;
      for (var q = a; q < b; q++) {
        if (mx[q] < x0) x0 = mx[q]; if (mx[q] > x1) x1 = mx[q]; if (my[q] < y0) y0 = my[q]; if (my[q] > y1) y1 = my[q];
        if (lon[q] < l0) l0 = lon[q]; if (lon[q] > l1) l1 = lon[q]; if (lat[q] < b0) b0 = lat[q]; if (lat[q] > b1) b1 = lat[q];
      }
      box.set([x0, y0, x1, y1], 4 * f); ll.set([l0, b0, l1, b1], 4 * f);
      if (b > a) area += (l1 - l0) * (b1 - b0);
    }
    var cell = this._cell = Math.min(1, Math.max(1e-3, 2 * Math.sqrt(area / Math.max(n, 1))));
    var grid = this._grid = new Map(), big = this._big = [];
    for (var j = 0; j < n; j++) {
      var i0 = Math.floor(ll[4 * j] / cell), i1 = Math.floor(ll[4 * j + 2] / cell);
      var j0 = Math.floor(ll[4 * j + 1] / cell), j1 = Math.floor(ll[4 * j + 3] / cell);
      if (!isFinite(i0)) continue;
      if ((i1 - i0 + 1) * (j1 - j0 + 1) > 400) { big.push(j); continue; }
      for (var gi = i0; gi <= i1; gi++) for (var gj = j0; gj <= j1; gj++) {
        var key = gi * 1e6 + gj, list = grid.get(key);
        if (list) list.push(j); else grid.set(key, [j]);
      }
    }
    this._last = null;
  },

  /* the rings of feature j as [[lat, lon], ...] each (for tests and tools) */
  rings: function (j) {
    var out = [];
    for (var k = this._ringStart[j]; k < this._ringEnd[j]; k++) {
      var ring = [];
      for (var m = this._r[k]; m < this._r[k + 1]; m++) ring.push([this._lat[m], this._lon[m]]);
      out.push(ring);
    }
    return out;
  },

  onAdd: function (map) {
    var c = this._canvas = L.DomUtil.create("canvas", "atlas-shapes-canvas");
    c.style.pointerEvents = "none";
    if (map._zoomAnimated) L.DomUtil.addClass(c, "leaflet-zoom-animated");
    this.getPane().appendChild(c);
    this._drawn = null;
    this._update();
    var reg = atlasPointsRegistry(map);
    if (reg.layers.indexOf(this) < 0) reg.layers.unshift(this);  /* under every layer's points */
  },

  onRemove: function (map) {
    atlasPointsRegistry(map).remove(this);
    L.DomUtil.remove(this._canvas);
    this._canvas = null;
  },

  getEvents: AtlasPoints.prototype.getEvents,
  _onAnimZoom: AtlasPoints.prototype._onAnimZoom,
  _onZoom: AtlasPoints.prototype._onZoom,
  _reset: AtlasPoints.prototype._reset,
  _updateTransform: AtlasPoints.prototype._updateTransform,
  _update: AtlasPoints.prototype._update,

  draw: function (origin, size, zoom) {
    var ratio = window.devicePixelRatio || 1, w = Math.round(size.x * ratio), h = Math.round(size.y * ratio);
    var c = this._canvas;
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    c.style.width = size.x + "px"; c.style.height = size.y + "px";
    var ctx = c.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var S = 256 * Math.pow(2, zoom) * ratio, ox = origin.x * ratio, oy = origin.y * ratio;
    var box = this._box, mx = this._mx, my = this._my, r = this._r, n = this.count, drawn = 0;
    var dot = 1.5 * ratio, path = new Path2D(), dots = new Path2D();
    var gw = Math.ceil(w / 2) + 2, seen = new Uint8Array(gw * (Math.ceil(h / 2) + 2));  /* a dot per 2-px cell */
    for (var j = 0; j < n; j++) {
      var x0 = box[4 * j] * S - ox, y0 = box[4 * j + 1] * S - oy, x1 = box[4 * j + 2] * S - ox, y1 = box[4 * j + 3] * S - oy;
      if (x1 < -2 || y1 < -2 || x0 > w + 2 || y0 > h + 2 || !(x1 >= x0)) continue;
      drawn++;
      if (x1 - x0 < dot && y1 - y0 < dot) {
        var cx = Math.floor((x0 + x1) / 2), cy = Math.floor((y0 + y1) / 2), at = ((cy >> 1) + 1) * gw + (cx >> 1) + 1;
        if (at >= 0 && at < seen.length && !seen[at]) { seen[at] = 1; dots.rect(cx - ratio, cy - ratio, 2 * ratio, 2 * ratio); }
        continue;
      }
      for (var k = this._ringStart[j]; k < this._ringEnd[j]; k++) {
        for (var m = r[k]; m < r[k + 1]; m++) {
          var px = mx[m] * S - ox, py = my[m] * S - oy;
          if (m === r[k]) path.moveTo(px, py); else path.lineTo(px, py);
        }
        if (!this.lines) path.closePath();
      }
    }
    var col = this.options.colour;
    if (!this.lines) { ctx.globalAlpha = 0.3; ctx.fillStyle = col; ctx.fill(path, "evenodd"); }
    ctx.globalAlpha = 1; ctx.strokeStyle = col; ctx.lineWidth = 1.5 * ratio; ctx.lineJoin = "round";
    ctx.stroke(path);
    ctx.fillStyle = col; ctx.fill(dots);
    this.drawnCount = drawn;
    return drawn;
  },

  /* what the registry asks of a layer it hit-tests */
  record: function (row) { return this._pts.record(row); },
  label: function (row) { return this._pts.label(row); },
  radius: function () { return 4; },
  latLng: function () { return this._last; },

  hit: function (cp) {
    var map = this._map;
    if (!map) return -1;
    var ll = map.containerPointToLatLng(cp), x = ll.lng, y = ll.lat;
    var d = map.containerPointToLatLng(L.point(cp.x + 4, cp.y + 4)), tx = Math.abs(d.lng - x), ty = Math.abs(d.lat - y);
    var cell = this._cell, seen = new Set(), cand = this._big.slice(), box = this._ll;
    for (var i = Math.floor((x - tx) / cell); i <= Math.floor((x + tx) / cell); i++)
      for (var j = Math.floor((y - ty) / cell); j <= Math.floor((y + ty) / cell); j++) {
        var list = this._grid.get(i * 1e6 + j) || [];
        for (var q = 0; q < list.length; q++) if (!seen.has(list[q])) { seen.add(list[q]); cand.push(list[q]); }
      }
    var lon = this._lon, lat = this._lat, r = this._r;
    for (var c = cand.length - 1; c >= 0; c--) {
      var f = cand[c];
      if (x < box[4 * f] - tx || x > box[4 * f + 2] + tx || y < box[4 * f + 1] - ty || y > box[4 * f + 3] + ty) continue;
      var found = false;
      for (var k = this._ringStart[f]; k < this._ringEnd[f] && !(found && this.lines); k++) {
        if (this.lines) {
          var prev = null;
          for (var m = r[k]; m < r[k + 1]; m++) {
            var pt = map.latLngToContainerPoint([lat[m], lon[m]]);
            if ((prev && L.LineUtil.pointToSegmentDistance(cp, prev, pt) <= 4) || cp.distanceTo(pt) <= 4) { found = true; break; }
            prev = pt;
          }
        } else {  /* even-odd over every ring of the feature */
          for (var a = r[k], b = r[k + 1] - 1; a < r[k + 1]; b = a++) {
            if ((lat[a] > y) !== (lat[b] > y) && x < (lon[b] - lon[a]) * (y - lat[a]) / (lat[b] - lat[a]) + lon[a]) found = !found;
          }
        }
      }
      if (found) { this._last = ll; return this._first + f; }
    }
    return -1;
  }
});
