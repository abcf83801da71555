/* Gulag, Inc. atlas: the interactive map's own script (MIT, written for this repository).
 *
 * atlasInit(map, spec) turns the spec built by atlas/webmap.py and atlas/map_layers.py into Leaflet layers, a layer
 * control, a legend, name search, a measure tool, a fullscreen button and the attribution.
 * Popup and tooltip HTML in the spec was escaped in Python; every other string from data is
 * put into the page with textContent, never parsed as HTML.
 */
"use strict";

/* ---- name keys: a port of atlas/names.py (tests check both give the same keys) ---- */
var ATLAS_HANGUL_SUFFIXES = /(특별시|직할시|특급시|구역|지구|군|시|구|읍|리|동|도)$/;
var ATLAS_LATIN_SUFFIXES = /(county|city|district|province|gun|si|guyok|kuyok|up|ri|dong|do|ku|nodongjagu)$/;
var ATLAS_BREVE = { "ŏ": "eo", "ŭ": "eu", "Ŏ": "eo", "Ŭ": "eu" };

function atlasIsHangul(ch) {
  var c = ch.codePointAt(0);
  return (c >= 0xac00 && c <= 0xd7a3) || (c >= 0x1100 && c <= 0x11ff) || (c >= 0x3130 && c <= 0x318f);
}

function atlasNormalize(text) {
  text = String(text == null ? "" : text).normalize("NFC");
  var out = "";
  for (var ch of text) {
    if (atlasIsHangul(ch)) { out += ch; continue; }
    out += ch.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
  }
  return out.replace(/[^0-9a-z\uac00-\ud7a3]/g, "");
}

function atlasRrFold(s) {
  s = s.split("eo").join("o").split("eu").join("u").split("oo").join("u").split("oi").join("oe");
  s = s.replace(/^g/, "k").replace(/^d/, "t").replace(/^b/, "p").replace(/^j/, "ch");
  s = s.split("ng").join("N");
  s = s.replace(/(?<=[aeiouwyN])g/g, "k");
  s = s.replace(/(?<=[aeiouwyN])d/g, "t");
  s = s.replace(/(?<=[aeiouwyN])b/g, "p");
  s = s.replace(/(?<=[aeiouwyN])j/g, "ch");
  s = s.split("N").join("ng");
  s = s.replace(/^r(?=[aeiouy])/, "");
  return s.split("ph").join("p").split("kh").join("k").split("th").join("t").split("chh").join("ch");
}

function atlasKeys(text) {
  text = String(text == null ? "" : text).normalize("NFC").replace(/[ŏŭŎŬ]/g, function (c) { return ATLAS_BREVE[c]; });
  var base = atlasNormalize(text);
  if (!base) return [];
  var out = new Set([base]);
  var words = text.split(/[\s;,/()]+/).map(atlasNormalize);
  var candidates = [Array.from(base).filter(atlasIsHangul).join("")].concat(words);
  candidates.forEach(function (h) {
    if (!h || !Array.from(h).every(atlasIsHangul)) return;
    out.add(h);
    var trimmed = h.replace(ATLAS_HANGUL_SUFFIXES, "");
    if (Array.from(trimmed).length >= 2) out.add(trimmed);
  });
  var latin = base.replace(/[^a-z0-9]/g, "");
  if (latin) {
    new Set([latin, latin.replace(ATLAS_LATIN_SUFFIXES, "")]).forEach(function (form) {
      if (form.length >= 3) { out.add(form); out.add(atlasRrFold(form)); }
    });
  }
  return Array.from(out).sort();
}

/* ---- geodesic distance on the WGS84 ellipsoid (Vincenty's inverse formula) ---- */
function atlasGeodesicMetres(lat1, lon1, lat2, lon2) {
  var a = 6378137, f = 1 / 298.257223563, b = a * (1 - f), rad = Math.PI / 180;
  var dLon = (lon2 - lon1) * rad;
  var U1 = Math.atan((1 - f) * Math.tan(lat1 * rad)), U2 = Math.atan((1 - f) * Math.tan(lat2 * rad));
  var sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
  var lambda = dLon, prev, iter = 0, sinSigma, cosSigma, sigma, cosSqAlpha, cos2SigmaM;
  do {
    var sinL = Math.sin(lambda), cosL = Math.cos(lambda);
    sinSigma = Math.sqrt(Math.pow(cosU2 * sinL, 2) + Math.pow(cosU1 * sinU2 - sinU1 * cosU2 * cosL, 2));
    if (sinSigma === 0) return 0;
    cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    sigma = Math.atan2(sinSigma, cosSigma);
    var sinAlpha = cosU1 * cosU2 * sinL / sinSigma;
    cosSqAlpha = 1 - sinAlpha * sinAlpha;
    cos2SigmaM = cosSqAlpha !== 0 ? cosSigma - 2 * sinU1 * sinU2 / cosSqAlpha : 0;
    var C = f / 16 * cosSqAlpha * (4 + f * (4 - 3 * cosSqAlpha));
    prev = lambda;
    lambda = dLon + (1 - C) * f * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
  } while (Math.abs(lambda - prev) > 1e-12 && ++iter < 200);
  if (iter >= 200) {  // nearly antipodal: fall back to the sphere
    return L.latLng(lat1, lon1).distanceTo(L.latLng(lat2, lon2));
  }
  var uSq = cosSqAlpha * (a * a - b * b) / (b * b);
  var A = 1 + uSq / 16384 * (4096 + uSq * (-768 + uSq * (320 - 175 * uSq)));
  var B = uSq / 1024 * (256 + uSq * (-128 + uSq * (74 - 47 * uSq)));
  var dSigma = B * sinSigma * (cos2SigmaM + B / 4 * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) -
    B / 6 * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
  return b * A * (sigma - dSigma);
}

function atlasInit(map, spec) {
  /* interface strings: each is its English original, marked _("..."); a page in another language
     carries their translations from the atlas's one catalogue (spec.i18n, atlas/i18n.py), and
     _() fills in its %(name)s parts */
  var I18N = spec.i18n || {};
  function _(s, args) {
    var t = Object.prototype.hasOwnProperty.call(I18N, s) && I18N[s] ? String(I18N[s]) : String(s);
    return args ? t.replace(/%\(([a-z_]+)\)s/g, function (m, k) { return args[k] == null ? "" : String(args[k]); }) : t;
  }
  function term(word) { return _(word); }  /* a word the spec chose (a status): no marker, so no nesting in a marked call */
  var SHAPES = { circle: 1, square: 1, triangle: 1, diamond: 1, star: 1 };
  var layers = {}, byId = {}, overlays = {}, bases = {};

  function colour(c) { return /^#[0-9a-fA-F]{3,8}$/.test(String(c)) ? c : "#888888"; }
  function num(x, d) { x = Number(x); return isFinite(x) ? x : d; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  /* symbols: SVG from validated values only */
  function symbolSvg(s) {
    var size = Math.max(6, Math.min(40, num(s.size, 14))), c = size / 2, r = c - 2;
    var shape = SHAPES[s.shape] ? s.shape : "circle";
    var fill = colour(s.fill), stroke = colour(s.stroke), op = Math.max(0, Math.min(1, num(s.opacity, 1)));
    var attrs = ' fill="' + fill + '" fill-opacity="' + op + '" stroke="' + stroke + '" stroke-width="' +
      (s.dash ? 2 : 1.5) + '"' + (s.dash ? ' stroke-dasharray="3 2"' : "");
    var body;
    if (shape === "circle") body = '<circle cx="' + c + '" cy="' + c + '" r="' + r + '"' + attrs + "/>";
    else if (shape === "square") body = '<rect x="2.5" y="2.5" width="' + (size - 5) + '" height="' + (size - 5) + '"' + attrs + "/>";
    else if (shape === "triangle") body = '<polygon points="' + c + ",1.5 " + (size - 1.5) + "," + (size - 2) + " 1.5," + (size - 2) + '"' + attrs + "/>";
    else if (shape === "diamond") body = '<polygon points="' + c + ",1.5 " + (size - 1.5) + "," + c + " " + c + "," + (size - 1.5) + " 1.5," + c + '"' + attrs + "/>";
    else {
      var pts = [];
      for (var k = 0; k < 10; k++) {
        var rr = k % 2 ? r * 0.45 : r, ang = Math.PI / 5 * k - Math.PI / 2;
        pts.push((c + rr * Math.cos(ang)).toFixed(2) + "," + (c + rr * Math.sin(ang) + 1).toFixed(2));
      }
      body = '<polygon points="' + pts.join(" ") + '"' + attrs + "/>";
    }
    var outer = size + (s.halo ? 12 : 0), off = s.halo ? 6 : 0;
    var halo = s.halo ? '<circle cx="' + (outer / 2) + '" cy="' + (outer / 2) + '" r="' + (outer / 2 - 1) +
      '" fill="none" stroke="#1a1a1a" stroke-width="1" stroke-dasharray="2 2"/>' : "";
    var mark = s.mark === "T" || s.mark === "?" ?
      '<text x="' + (outer / 2) + '" y="' + (outer / 2 + 4) + '" text-anchor="middle" font-size="10" font-weight="bold" fill="' +
      (op > 0.6 ? "#ffffff" : stroke) + '" font-family="sans-serif">' + s.mark + "</text>" : "";
    return { html: '<svg xmlns="http://www.w3.org/2000/svg" data-shape="' + shape + '" width="' + outer + '" height="' + outer + '" viewBox="0 0 ' +
      outer + " " + outer + '">' + halo + '<g transform="translate(' + off + "," + off + ')">' + body + "</g>" + mark + "</svg>",
      size: outer };
  }

  function pathStyle(st, pane) {
    st = st || {};
    var o = { pane: pane, color: colour(st.color || "#333333"), weight: num(st.weight, 1),
      fillColor: colour(st.fillColor || st.color || "#333333"), fillOpacity: num(st.fillOpacity, 0.2),
      fill: st.fill !== false, opacity: num(st.opacity, 1) };
    if (st.dashArray && /^[0-9 ]+$/.test(st.dashArray)) o.dashArray = st.dashArray;
    return o;
  }

  /* panes: basemap < polygons < lines < points */
  [["atlas-base", 150], ["atlas-polys", 400], ["atlas-images", 420], ["atlas-lines", 450],
   ["atlas-user", 560], ["atlas-points", 610]].forEach(function (p) { map.createPane(p[0]).style.zIndex = p[1]; });
  map.getPane("atlas-base").style.pointerEvents = "none";
  map.getPane("atlas-images").style.pointerEvents = "none";

  /* base layers */
  spec.bases.forEach(function (b, i) {
    var layer;
    if (b.kind === "vector") {
      layer = L.featureGroup();
      spec.context.forEach(function (c) {
        L.geoJSON(c.g, { pane: "atlas-base", interactive: false, style: function () {
          return { color: "#9c9385", weight: 0.8, fillColor: c.prk ? "#fbf9f3" : "#e9e4d8", fillOpacity: 1 };
        } }).addTo(layer);
      });
      layer.atlasVector = true;
    } else {
      layer = L.tileLayer(String(b.url), { maxZoom: num(b.maxZoom, 18), attribution: b.attribution,
        crossOrigin: false });
    }
    bases[b.label] = layer;
    if (i === 0) layer.addTo(map);
  });
  function setSea(e) { map.getContainer().classList.toggle("atlas-sea", !!(e.layer || e).atlasVector); }
  setSea(bases[spec.bases[0].label]);
  map.on("baselayerchange", setSea);

  /* name labels, placed by importance: the kwan-li-so first, then the kyo-hwa-so, then the rest
     (the spec's `pr`), each to the right of its marker or, where that collides, to its left, above
     or below; a label that fits nowhere is hidden (its marker still takes a tap). Nothing may cover
     a control, a label placed before, or a camp's marker. The town-proxy warnings come last and
     only from zoom PROXY_ZOOM: at the country view the symbol (hollow, dashed) and the popup say it. */
  var PROXY_ZOOM = 9, MERGE_PX = 14, labelled = [], proxies = [], labelTimer = null;
  function declutter() {
    labelTimer = null;
    var box = map.getContainer().getBoundingClientRect(), taken = [], pad = 2;
    document.querySelectorAll(".leaflet-control").forEach(function (e) {
      if (getComputedStyle(e).display !== "none") taken.push(e.getBoundingClientRect());
    });
    function hits(r) {
      if (r.right > box.right || r.left < box.left || r.top < box.top || r.bottom > box.bottom) return true;
      return taken.some(function (o) {
        return r.left < o.right + pad && r.right > o.left - pad && r.top < o.bottom + pad && r.bottom > o.top - pad;
      });
    }
    function shift(r, dx, dy) {
      return { left: r.left + dx, right: r.right + dx, top: r.top + dy, bottom: r.bottom + dy, width: r.width, height: r.height };
    }
    var shown = labelled.filter(function (m) { return map.hasLayer(m) && m.atlasLabel.getElement(); });
    var icons = shown.map(function (m) { var e = m.getElement(); return e ? e.getBoundingClientRect() : null; });
    /* sites of one rank drawn within MERGE_PX of each other share the first one's label */
    var merged = shown.map(function () { return null; });
    shown.forEach(function (m, k) {
      m.atlasLabel.setContent(el("span", null, m.atlasLabelText).outerHTML);
      if (merged[k] !== null || !icons[k]) return;
      var group = [k];
      shown.forEach(function (o, j) {
        if (j <= k || merged[j] !== null || !icons[j] || o.atlasLabelPr !== m.atlasLabelPr) return;
        var dx = (icons[j].left + icons[j].right - icons[k].left - icons[k].right) / 2;
        var dy = (icons[j].top + icons[j].bottom - icons[k].top - icons[k].bottom) / 2;
        if (Math.sqrt(dx * dx + dy * dy) <= MERGE_PX) { group.push(j); merged[j] = k; }
      });
      if (group.length > 1) {
        var nos = group.map(function (j) { return shown[j].atlasLabelNo; });
        var uniq = nos.filter(function (n, j) { return nos.indexOf(n) === j; });
        var nums = { list: uniq.slice(0, -1).join(", "), last: uniq[uniq.length - 1] };
        var text = nos.every(Boolean) && uniq.length > 1 ?
          (m.atlasLabelPr === 0 ? _("Camps %(list)s and %(last)s", nums) :
            m.atlasLabelPr === 1 ? _("Kyo-hwa-so Nos. %(list)s and %(last)s", nums) : _("Nos. %(list)s and %(last)s", nums)) :
          _("%(name)s (%(n)s sites)", { name: m.atlasLabelText, n: group.length });
        m.atlasLabel.setContent(el("span", null, text).outerHTML);
        m.atlasLabel.getElement().dataset.merged = group.map(function (j) { return shown[j].atlasLabelText; }).join("\n");
      } else {
        delete m.atlasLabel.getElement().dataset.merged;
      }
    });
    var cores = icons.map(function (r) {  /* a marker's core, not its halo: what a label may not cover */
      if (!r) return null;
      var x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2, h = Math.min(6, r.width / 2);
      return { left: x - h, right: x + h, top: y - h, bottom: y + h };
    });
    shown.forEach(function (m, k) {
      var e = m.atlasLabel.getElement();
      e.style.marginLeft = ""; e.style.marginTop = "";
      e.classList.remove("atlas-label-hidden");
      if (merged[k] !== null) { e.classList.add("atlas-label-hidden"); e.dataset.side = "with " + shown[merged[k]].atlasLabelText; return; }
      var r = e.getBoundingClientRect(), ic = icons[k], cs = getComputedStyle(e);
      var base = [parseFloat(cs.marginLeft) || 0, parseFloat(cs.marginTop) || 0];
      if (!ic) { e.classList.add("atlas-label-hidden"); return; }
      var ax = (ic.left + ic.right) / 2, ay = (ic.top + ic.bottom) / 2, half = ic.height / 2, gap = Math.max(2, r.left - ax);
      var right = 0, left = ax - gap - r.width - r.left, up = ay - half - 1 - r.height - r.top, down = ay + half + 1 - r.top;
      var mid = ax - r.width / 2 - r.left, upR = ax + 4 - r.left, upL = ax - 4 - r.width - r.left;
      var tries = [[right, 0], [left, 0], [mid, up], [mid, down], [upR, up], [upR, down], [upL, up], [upL, down]];
      var others = cores.filter(function (o, j) {  /* a label may cover a less important marker */
        return o && j !== k && merged[j] !== k && shown[j].atlasLabelPr <= m.atlasLabelPr;
      });
      for (var t = 0; t < tries.length; t++) {
        var c = shift(r, tries[t][0], tries[t][1]);
        var onIcon = others.some(function (o) {
          return c.left < o.right && c.right > o.left && c.top < o.bottom && c.bottom > o.top;
        });
        if (onIcon || hits(c)) continue;
        if (t) {  /* added to Leaflet's own margin for the side it draws the label on */
          e.style.marginLeft = (base[0] + tries[t][0]) + "px";
          e.style.marginTop = (base[1] + tries[t][1]) + "px";
        }
        e.dataset.side = ["right", "left", "above", "below", "above right", "below right", "above left", "below left"][t];
        taken.push(e.getBoundingClientRect());
        return;
      }
      e.classList.add("atlas-label-hidden");
    });
    var near = map.getZoom() >= PROXY_ZOOM;
    proxies.forEach(function (m) {
      var tip = m.getTooltip && m.getTooltip(), e = tip && tip.getElement && tip.getElement();
      if (!e) return;
      e.classList.remove("atlas-label-hidden");
      if (!near || !map.hasLayer(m) || hits(e.getBoundingClientRect())) { e.classList.add("atlas-label-hidden"); return; }
      taken.push(e.getBoundingClientRect());
    });
  }
  function declutterSoon() { if (!labelTimer) labelTimer = setTimeout(declutter, 0); }
  map.on("zoomend moveend overlayadd overlayremove resize", declutterSoon);

  /* a popup fits the screen: on a phone (375 px) a 440 px popup ran off both sides; there it stays
     narrower than the map, and while it is open the controls step aside (CSS: .atlas-popup-open),
     so no button covers its text */
  function popupOpts(w, h) {
    var el = map.getContainer(), narrow = el.clientWidth < 600;
    var o = { maxWidth: Math.max(180, Math.min(w, el.clientWidth - 70)),
      autoPanPaddingTopLeft: L.point(10, narrow ? 12 : 10),
      autoPanPaddingBottomRight: L.point(10, narrow ? 12 : 10) };
    if (h) o.maxHeight = Math.max(160, Math.min(h, el.clientHeight - (narrow ? 200 : 90)));
    return o;
  }
  map.on("popupopen popupclose", function (e) {
    var el = map.getContainer();
    el.classList.toggle("atlas-popup-open", e.type === "popupopen" && el.clientWidth < 600);
  });

  /* overlays (user layers decode asynchronously: the page is ready when they are) */
  var pending = [];
  map.getPane("atlas-user").style.pointerEvents = "none";
  function buildLayer(spec1) {
    var group = L.featureGroup(), feats = spec1.features || [];
    group.atlasFeatures = [];
    if (spec1.kind === "polygons") {
      var styles = spec1.styles || [];
      feats.forEach(function (f, i) {
        var l = L.geoJSON(f.g, { style: function () { return pathStyle(styles[f.s], "atlas-polys"); } });
        if (f.t) l.bindTooltip(f.t, { sticky: true, className: "atlas-tip" });
        if (f.p) l.bindPopup(f.p, popupOpts(420, 440));
        group.addLayer(l); group.atlasFeatures[i] = l;
      });
    } else if (spec1.kind === "points") {
      var icons = (spec1.symbols || []).map(function (s) {
        var svg = symbolSvg(s);
        return L.divIcon({ html: svg.html, className: "atlas-sym", iconSize: [svg.size, svg.size],
          iconAnchor: [svg.size / 2, svg.size / 2], popupAnchor: [0, -svg.size / 2], tooltipAnchor: [svg.size / 2, 0] });
      });
      group.atlasIcons = icons;
      feats.forEach(function (f, i) {
        var m = L.marker(f.c, { icon: icons[f.s], pane: "atlas-points", riseOnHover: true });
        if (f.p) m.bindPopup(f.p, popupOpts(440, 460));
        if (f.label) {
          m.bindTooltip(f.label, { permanent: true, direction: "auto", className: "atlas-proxy",
            offset: [0, num(f.dy, 0)] });
          proxies.push(m);
        }
        else if (f.t) m.bindTooltip(f.t, { direction: "top", className: "atlas-tip" });
        if (f.lbl) {  /* a name label, shown where it collides with no other (see declutter) */
          m.atlasLabel = L.tooltip({ permanent: true, direction: "right", className: "atlas-label",
            offset: [8, 0], interactive: false }).setContent(el("span", null, f.lbl).outerHTML);
          m.on("add", function () { m.atlasLabel.setLatLng(m.getLatLng()).addTo(map); declutterSoon(); });
          m.on("remove", function () { map.removeLayer(m.atlasLabel); });
          m.atlasLabelPr = num(f.pr, 2); m.atlasLabelText = String(f.lbl); m.atlasLabelNo = /^[0-9]+$/.test(String(f.no || "")) ? String(f.no) : "";
          if (f.pr === 0) m.atlasLabel.options.className += " atlas-label-major";
          labelled.push(m);
          labelled.sort(function (a, b) { return a.atlasLabelPr - b.atlasLabelPr; });  /* stable: feature order within a rank */
        }
        group.addLayer(m); group.atlasFeatures[i] = m;
      });
    } else if (spec1.kind === "rings") {
      feats.forEach(function (f, i) {
        var g = L.featureGroup();
        f.rings.forEach(function (ring, k) {
          L.polygon(ring, pathStyle(spec1.style, "atlas-lines"))
            .bindTooltip(f.t + _(" · this ring: %(km)s km", { km: num(f.km[k], "") }), { sticky: true, className: "atlas-tip" })
            .addTo(g);
        });
        group.addLayer(g); group.atlasFeatures[i] = g;
      });
    } else if (spec1.kind === "candidates") {
      feats.forEach(function (f, i) {
        var g = L.featureGroup();
        if (f.to) L.polyline([f.c, f.to], { pane: "atlas-lines", color: "#8a4b00", weight: 1.5, dashArray: "2 4",
          interactive: false }).addTo(g);
        var m = L.circleMarker(f.c, { pane: "atlas-lines", radius: 5, color: "#8a4b00", weight: 1.5,
          fillColor: f.same ? "#ffffff" : "#ff9f1c", fillOpacity: 1 }).addTo(g);
        m.bindPopup(f.p, popupOpts(380));
        m.bindTooltip(f.t, { className: "atlas-tip" });
        group.addLayer(g); group.atlasFeatures[i] = g;
      });
    } else if (spec1.kind === "images") {
      feats.forEach(function (f, i) {
        var url = String(f.url);
        if (url.indexOf("data:image/png;base64,") !== 0) return;
        var l = L.imageOverlay(url, f.bounds, { opacity: num(f.opacity, 0.8), pane: "atlas-images",
          interactive: false });
        group.addLayer(l); group.atlasFeatures[i] = l;
      });
    } else if (spec1.kind === "swipe") {  /* before/after imagery pairs (_swipe.js) */
      atlasSwipe(map, group, feats, { label: _("Swipe between the before and after images (Left and Right arrows)"),
        before: _("before"), after: _("after") });
    } else if (spec1.kind === "user") {
      /* packed columns, decoded once; points drawn on one canvas (_points.js), lines and polygons on another */
      var col = colour(spec1.colour), n = Number(spec1.n) || 0, nShapes = spec1.shapes ? spec1.shapes.g.length - 1 : 0;
      group.atlasCount = function () { return n + nShapes; };
      pending.push(atlasDecodePoints(spec1).then(function (data) {
        var pts = new AtlasPoints(data, { colour: col, title: spec1.title, consts: spec1.consts || [],
          outside: spec1.out || [] });
        group.atlasPoints = pts;
        if (n) group.addLayer(pts);
        if (spec1.shapes) {  /* lines or polygons: one canvas of their own, hit-tested as the points are */
          var shapes = new AtlasShapes(spec1.shapes, pts, n, { colour: col, title: spec1.title, consts: spec1.consts || [] });
          group.atlasShapes = shapes;
          group.addLayer(shapes);
        }
      }).catch(function (err) {  /* say so in the legend; the rest of the map works */
        spec1.legend = { items: [], note: _("This layer could not be unpacked in this browser (%(error)s): the map needs " +
          "a browser from 2023 or later (Chrome 80, Firefox 113, Safari 16.4).", { error: String(err && err.message || err) }) };
        throw err;
      }));
    }
    return group;
  }

  /* the popup of a user feature: every attribute as text */
  function userPopup(layer, row, latlng) {
    var box = el("div", "atlas-rec-box"), table = el("table", "atlas-rec");
    box.appendChild(el("h3", null, layer.options.title));
    layer.record(row).concat(layer.options.consts.filter(function (kv) {  /* one value for every feature */
      return kv[1] != null && kv[1] !== "";
    })).forEach(function (kv) {
      var tr = el("tr"); tr.appendChild(el("th", null, kv[0])); tr.appendChild(el("td", null, kv[1]));
      table.appendChild(tr);
    });
    box.appendChild(table);
    L.popup(popupOpts(420, 400)).setLatLng(latlng).setContent(box).openOn(map);
  }
  atlasPointsRegistry(map).onClick = userPopup;

  spec.layers.forEach(function (s) {
    var group = buildLayer(s);
    group.atlasSpec = s;
    layers[s.id] = group; byId[s.id] = s;
    overlays[s.label] = group;
    if (s.show) group.addTo(map);
  });

  /* features at one coordinate (a mine and the report's named mine; at Taehung a camp too): a
     click or Enter on any of them opens a chooser that lists every one shown there, each a button
     to its own popup. No coordinate is moved. */
  var stacks = {};
  function plainText(html) {  /* the text of the spec's tooltip HTML (escaped in Python), never run */
    var doc = new DOMParser().parseFromString("<body>" + String(html || "").replace(/<br\s*\/?>/gi, " · ") + "</body>", "text/html");
    return doc.body.textContent;
  }
  spec.layers.forEach(function (s) {
    if (s.kind !== "points") return;
    (s.features || []).forEach(function (f, i) {
      var m = layers[s.id].atlasFeatures[i];
      if (!m || !m.getPopup || !m.getPopup()) return;
      var key = Number(f.c[0]).toFixed(6) + "," + Number(f.c[1]).toFixed(6);
      (stacks[key] = stacks[key] || []).push({ m: m, layer: s.id, i: i, f: f, title: s.title.replace(/ \(.*$/, "") });
    });
  });
  function stackChooser(key, latlng) {
    var here = stacks[key].filter(function (x) { return map.hasLayer(layers[x.layer]); });
    if (here.length === 1) { here[0].m.openPopup(); return; }
    var box = el("div", "atlas-stack");
    box.appendChild(el("h3", null, _("%(n)s features at this point", { n: here.length })));
    box.appendChild(el("p", "atlas-sub", _("They share one coordinate in their sources; the map draws them on top of " +
      "each other and moves none. Open one:")));
    var ul = el("ul", "atlas-stack-list");
    here.forEach(function (x) {
      var li = el("li"), btn = el("button", "atlas-stack-pick");
      btn.type = "button";
      btn.appendChild(el("span", "atlas-stack-name", plainText(x.f.tn || x.f.t)));
      btn.appendChild(el("span", "atlas-hit-layer", x.title));
      btn.dataset.layer = x.layer; btn.dataset.index = String(x.i);
      btn.addEventListener("click", function (e) { L.DomEvent.stopPropagation(e); map.closePopup(); x.m.openPopup(); });
      li.appendChild(btn); ul.appendChild(li);
    });
    box.appendChild(ul);
    L.popup(popupOpts(360)).setLatLng(latlng).setContent(box).openOn(map);
    var first = box.querySelector("button");
    if (first) first.focus({ preventScroll: true });
  }
  Object.keys(stacks).forEach(function (key) {
    if (stacks[key].length < 2) { delete stacks[key]; return; }
    stacks[key].forEach(function (x) {
      x.m.off("click", x.m._openPopup, x.m);  /* Leaflet's own click and Enter to open, replaced */
      x.m.off("keypress", x.m._onKeyPress, x.m);
      x.m.on("click", function (e) {
        if (measure && measure._on) return;
        L.DomEvent.stop(e);
        stackChooser(key, x.m.getLatLng());
      });
      x.m.on("keypress", function (e) {
        if (e.originalEvent && e.originalEvent.keyCode === 13) stackChooser(key, x.m.getLatLng());
      });
      x.m.on("add", function () {  /* a badge: how many features the point holds */
        var e = x.m.getElement();
        if (e) e.dataset.stack = String(stacks[key].length);
      });
      if (x.m.getElement()) x.m.getElement().dataset.stack = String(stacks[key].length);
    });
  });

  /* layer control, with a button that folds its list away */
  var control = L.control.layers(bases, overlays, { collapsed: false, position: "topright" }).addTo(map);
  var layersBox = control.getContainer();
  layersBox.classList.add("atlas-layers");
  var layersHead = el("button", "atlas-fold-head", _("Layers"));
  layersHead.type = "button";
  layersHead.setAttribute("aria-expanded", "true");
  layersHead.addEventListener("click", function () { fold(layersBox, !layersBox.classList.contains("atlas-folded")); });
  layersBox.insertBefore(layersHead, layersBox.firstChild);
  L.DomEvent.disableClickPropagation(layersHead);
  function fold(box, folded) {
    box.classList.toggle("atlas-folded", folded);
    var head = box.querySelector(".atlas-fold-head");
    if (head) head.setAttribute("aria-expanded", String(!folded));
  }

  /* title and network note */
  var Info = L.Control.extend({ options: { position: "topright" }, onAdd: function () {
    var box = el("div", "atlas-info leaflet-bar");
    box.appendChild(el("div", "atlas-title", spec.title));
    box.appendChild(el("div", "atlas-net" + (spec.online ? " atlas-online" : ""), spec.network_note));
    return box;
  } });
  new Info().addTo(map);
  // keep the title above the layer list
  var corner = control.getContainer().parentNode;
  corner.insertBefore(corner.lastChild, corner.firstChild);

  /* legend: one section per visible layer */
  var Legend = L.Control.extend({ options: { position: "bottomright" }, onAdd: function () {
    var box = el("div", "atlas-legend leaflet-bar");
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    var head = el("button", "atlas-legend-head atlas-fold-head", _("Legend"));
    head.type = "button";
    head.setAttribute("aria-expanded", "true");
    var body = el("div", "atlas-legend-body");
    head.addEventListener("click", function () { fold(box, !box.classList.contains("atlas-folded")); });
    box.appendChild(head); box.appendChild(body);
    this._body = body;
    return box;
  }, refresh: function () {
    var body = this._body;
    body.textContent = "";
    spec.layers.slice().reverse().forEach(function (s) {  /* the layer drawn on top first, as in QGIS */
      if (!s.legend || !map.hasLayer(layers[s.id])) return;
      var sec = el("section", "atlas-legend-sec");
      sec.dataset.layer = s.id;
      sec.appendChild(el("h4", null, s.title));
      (s.legend.items || []).forEach(function (it) {
        var row = el("div", "atlas-legend-row"), key = el("span", "atlas-key");
        if (it.sym) { key.innerHTML = symbolSvg(it.sym).html; }
        else if (it.swatch) {
          var sw = el("span", "atlas-swatch"), st = pathStyle(it.swatch);
          sw.style.background = st.fillColor; sw.style.opacity = String(Math.max(0.25, st.fillOpacity));
          sw.style.borderColor = st.color; if (st.dashArray) sw.style.borderStyle = "dashed";
          key.appendChild(sw);
        } else if (it.line) {
          var ln = el("span", "atlas-line"), ls = pathStyle(it.line);
          ln.style.borderTopColor = ls.color; if (ls.dashArray) ln.style.borderTopStyle = "dashed";
          key.appendChild(ln);
        } else if (it.gradient) {
          var gr = el("span", "atlas-gradient");
          gr.style.background = "linear-gradient(to right, " + it.gradient.map(colour).join(", ") + ")";
          key.appendChild(gr);
          row.appendChild(key);
          row.appendChild(el("span", "atlas-legend-label", String(it.min) + " … " + String(it.max)));
          sec.appendChild(row);
          return;
        }
        row.appendChild(key);
        row.appendChild(el("span", "atlas-legend-label", it.label));
        sec.appendChild(row);
      });
      if (s.legend.note) sec.appendChild(el("p", "atlas-legend-note", s.legend.note));
      body.appendChild(sec);
    });
    if (!body.firstChild) body.appendChild(el("p", "atlas-legend-note", _("Turn on a layer to see its symbols.")));
  } });
  var legend = new Legend().addTo(map);
  legend.refresh();
  /* fold the panels on a small screen, and fold more until the panels cover at most a quarter
     of the map: first the layer list, then the legend (each one click away) */
  function panelsCover() {
    var rect = map.getContainer().getBoundingClientRect(), area = rect.width * rect.height, sum = 0;
    [layersBox, legend.getContainer()].forEach(function (box) {
      var r = box.getBoundingClientRect();
      var w = Math.max(0, Math.min(r.right, rect.right) - Math.max(r.left, rect.left));
      var h = Math.max(0, Math.min(r.bottom, rect.bottom) - Math.max(r.top, rect.top));
      sum += w * h;
    });
    return area ? sum / area : 0;
  }
  var small = window.innerWidth < 700 || window.innerHeight < 560;
  if (small) { fold(layersBox, true); fold(legend.getContainer(), true); }
  if (panelsCover() > 0.25) fold(layersBox, true);
  if (panelsCover() > 0.25) fold(legend.getContainer(), true);
  document.documentElement.classList.toggle("atlas-small", small);
  map.on("overlayadd overlayremove", function () { legend.refresh(); });

  /* scale bar (metric) */
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  /* search */
  var entries = spec.search.map(function (s) { return { s: s, keys: new Set(s.k), list: s.k }; });
  function search(q) {
    var qn = atlasNormalize(q);
    if (qn.length < 2) return [];
    var qk = atlasKeys(q), hits = [];
    entries.forEach(function (e) {
      var score = 0;
      qk.forEach(function (k) { if (e.keys.has(k)) score = Math.max(score, 3); });
      if (!score) e.list.forEach(function (k) {
        qk.concat([qn]).forEach(function (q1) {
          if (q1.length >= 2 && k.indexOf(q1) === 0) score = Math.max(score, 2);
          else if (q1.length >= 4 && k.indexOf(q1) > 0) score = Math.max(score, 1);
        });
      });
      if (score) hits.push({ e: e.s, score: score });
    });
    /* the user layers' features, by their name (normalised once per layer, on the first search) */
    spec.layers.forEach(function (s1) {
      var pts = s1.kind === "user" && layers[s1.id] && layers[s1.id].atlasPoints, found = 0;
      if (!pts) return;
      if (!pts._names) {
        pts._names = new Array(pts.count());
        for (var r = 0; r < pts.count(); r++) pts._names[r] = atlasNormalize(pts.label(r));
      }
      for (var i = 0; i < pts._names.length && found < 15; i++) {
        var nm = pts._names[i], score = nm === qn ? 3 : nm.indexOf(qn) === 0 ? 2 : qn.length >= 4 && nm.indexOf(qn) > 0 ? 1 : 0;
        if (!score) continue;
        found++;
        hits.push({ e: { l: s1.id, i: i, n: pts.label(i), x: _("your layer"), user: true }, score: score });
      }
    });
    hits.sort(function (a, b) { return b.score - a.score || (a.e.n < b.e.n ? -1 : a.e.n > b.e.n ? 1 : 0); });
    return hits.slice(0, 15).map(function (h) { return h.e; });
  }
  function reveal(s) {
    if (s.user) {  /* a feature of a user layer: go there and open its record */
      var g = layers[s.l];
      if (!g || !g.atlasPoints) return;
      if (!map.hasLayer(g)) map.addLayer(g);
      legend.refresh();
      map.setView(g.atlasPoints.latLng(s.i), Math.max(map.getZoom(), 11), { animate: false });
      openUserRecord(s.l, s.i);
      return;
    }
    var group = layers[s.l], f = group && group.atlasFeatures[s.i];
    if (!f) return;
    if (!map.hasLayer(group)) map.addLayer(group);
    legend.refresh();
    if (f.getLatLng) { map.setView(f.getLatLng(), Math.max(map.getZoom(), 10), { animate: false }); f.openPopup(); }
    else if (f.getBounds) {
      map.fitBounds(f.getBounds(), { maxZoom: 10, animate: false });
      var target = f.getLayers ? f.getLayers()[0] : f;
      if (target && target.openPopup) target.openPopup(f.getBounds().getCenter());
    }
  }
  /* the search box is a combobox: arrow keys move through the results, Enter picks, Escape
     closes, Tab walks through them; a pick (pointer or key) closes the list. Its corner of the
     page is stacked above the others (CSS), so no control covers a result. */
  var searchBox = null;
  var Search = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var box = el("div", "atlas-search leaflet-bar");
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    var input = el("input");
    input.type = "search"; input.placeholder = _("Find: Yodok, 요덕, Kaech'ŏn…");
    input.setAttribute("aria-label", _("Find a name in any romanization or in Hangul"));
    input.setAttribute("role", "combobox"); input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", "atlas-results"); input.setAttribute("aria-expanded", "false");
    var list = el("ul", "atlas-results");
    list.id = "atlas-results"; list.setAttribute("role", "listbox"); list.setAttribute("aria-label", _("Places found"));
    box.appendChild(input); box.appendChild(list);
    var active = -1;
    function items() { return Array.prototype.slice.call(list.querySelectorAll("li[data-pick]")); }
    function setActive(k) {
      var all = items();
      if (!all.length) { active = -1; input.removeAttribute("aria-activedescendant"); return; }
      active = (k + all.length) % all.length;
      all.forEach(function (li, j) {
        li.classList.toggle("atlas-hit-active", j === active);
        li.setAttribute("aria-selected", String(j === active));
      });
      input.setAttribute("aria-activedescendant", all[active].id);
      all[active].scrollIntoView({ block: "nearest" });
    }
    function close() {
      list.textContent = ""; active = -1;
      input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
    }
    function pick(s) { close(); reveal(s); }
    input.addEventListener("input", function () {
      close();
      search(input.value).forEach(function (s, k) {
        var li = el("li", s.i >= 0 ? "atlas-hit" : "atlas-hit atlas-nogeom");
        li.id = "atlas-hit-" + k; li.setAttribute("role", "option");
        li.appendChild(el("span", "atlas-hit-name", s.n));
        li.appendChild(el("span", "atlas-hit-layer", (byId[s.l] ? byId[s.l].title.replace(/ \(.*$/, "") : s.l) +
          (s.x ? " · " + s.x : "")));
        if (s.i >= 0) {
          li.dataset.pick = String(k); li.tabIndex = 0;
          /* stopped here: the list is emptied by the pick, and Leaflet would take a click from an
             element no longer in the page for a click on the map (and close the popup just opened) */
          li.addEventListener("click", function (e) { L.DomEvent.stopPropagation(e); pick(s); });
          li.addEventListener("keydown", function (e) {
            if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(s); input.focus(); }
            else if (e.key === "Escape") { close(); input.focus(); }
          });
          li.atlasEntry = s;
        } else {
          li.setAttribute("aria-disabled", "true");
        }
        list.appendChild(li);
      });
      if (input.value && !list.firstChild) list.appendChild(el("li", "atlas-hit atlas-nogeom", _("No match")));
      input.setAttribute("aria-expanded", String(!!list.firstChild));
      setActive(0);  /* Enter picks the first result; ArrowDown moves to the second */
    });
    input.addEventListener("keydown", function (e) {
      var all = items();
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        if (!all.length) return;
        e.preventDefault();
        setActive(active + (e.key === "ArrowDown" ? 1 : -1));
      } else if (e.key === "Enter") {
        if (active >= 0 && all[active]) { e.preventDefault(); pick(all[active].atlasEntry); }
      } else if (e.key === "Escape") {
        if (list.firstChild) { e.preventDefault(); close(); }
      }
    });
    searchBox = { input: input, list: list, close: close };
    return box;
  } });
  new Search().addTo(map);

  /* measure tool: geodesic distance along clicked points */
  var Measure = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var box = el("div", "atlas-measure leaflet-bar"), self = this;
    L.DomEvent.disableClickPropagation(box);
    var btn = el("a", "atlas-btn");
    btn.href = "#"; btn.title = _("Measure a distance (geodesic)"); btn.setAttribute("role", "button");
    btn.innerHTML = '<svg width="18" height="18" viewBox="0 0 18 18"><rect x="1" y="6" width="16" height="6" fill="none" stroke="#333" stroke-width="1.5"/>' +
      '<path d="M4 6v3M7 6v2M10 6v3M13 6v2" stroke="#333" stroke-width="1.2"/></svg>';
    var out = el("div", "atlas-measure-out");
    box.appendChild(btn); box.appendChild(out);
    this._out = out; this._pts = []; this._layer = L.featureGroup().addTo(map); this._on = false;
    L.DomEvent.on(btn, "click", function (e) { L.DomEvent.preventDefault(e); self.toggle(); });
    map.on("click", function (e) { if (self._on) self.add(e.latlng); });
    return box;
  }, toggle: function () {
    this._on = !this._on;
    map.getContainer().classList.toggle("atlas-measuring", this._on);
    if (this._on) { this._pts = []; this._layer.clearLayers(); map.doubleClickZoom.disable(); }
    else map.doubleClickZoom.enable();
    this.show();
  }, add: function (ll) {
    this._pts.push(ll);
    L.circleMarker(ll, { radius: 3, color: "#000", weight: 1, fillColor: "#fff", fillOpacity: 1, pane: "atlas-points" }).addTo(this._layer);
    if (this._line) this._layer.removeLayer(this._line);
    this._line = L.polyline(this._pts, { color: "#000", weight: 2, dashArray: "5 4", pane: "atlas-lines" }).addTo(this._layer);
    this.show();
  }, total: function () {
    var t = 0;
    for (var i = 1; i < this._pts.length; i++) {
      t += atlasGeodesicMetres(this._pts[i - 1].lat, this._pts[i - 1].lng, this._pts[i].lat, this._pts[i].lng);
    }
    return t;
  }, show: function () {
    var t = this.total();
    this._out.textContent = this._on ? (this._pts.length < 2 ? _("Click points on the map; click the ruler to finish.") :
      _("%(km)s km (geodesic, WGS84), %(n)s points", { km: (t / 1000).toFixed(2), n: this._pts.length })) :
      (this._pts.length >= 2 ? _("%(km)s km measured", { km: (t / 1000).toFixed(2) }) : "");
  } });
  var measure = new Measure().addTo(map);

  /* fullscreen */
  var Full = L.Control.extend({ options: { position: "topleft" }, onAdd: function () {
    var box = el("div", "atlas-full leaflet-bar"), btn = el("a", "atlas-btn");
    btn.href = "#"; btn.title = _("Full screen"); btn.setAttribute("role", "button");
    btn.innerHTML = '<svg width="18" height="18" viewBox="0 0 18 18"><path d="M2 7V2h5M11 2h5v5M16 11v5h-5M7 16H2v-5" fill="none" stroke="#333" stroke-width="2"/></svg>';
    L.DomEvent.on(btn, "click", function (e) {
      L.DomEvent.stop(e);
      if (document.fullscreenElement) document.exitFullscreen();
      else if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen();
    });
    document.addEventListener("fullscreenchange", function () { map.invalidateSize(); });
    box.appendChild(btn);
    return box;
  } });
  new Full().addTo(map);

  /* attribution: every source and its licence */
  map.attributionControl.addAttribution(spec.attribution);
  var Sources = L.Control.extend({ options: { position: "bottomright" }, onAdd: function () {
    var box = el("details", "atlas-sources");
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    var sum = el("summary", null, _("Sources"));  /* on a phone: "Sources (28 files)" */
    sum.appendChild(el("span", "atlas-long", _(" & licences")));
    sum.appendChild(document.createTextNode(_(" (%(n)s files)", { n: spec.sources.length })));
    box.appendChild(sum);
    var list = el("ul");
    spec.sources.forEach(function (s) {
      var li = el("li");
      li.appendChild(el("b", null, s.path));
      li.appendChild(el("span", null, _(" — %(attribution)s — licence: %(licence)s", s)));
      list.appendChild(li);
    });
    box.appendChild(list);
    box.appendChild(el("p", "atlas-legend-note", spec.credit));
    return box;
  } });
  new Sources().addTo(map);

  /* about: what this page is, what it was made from, which of your layers it holds */
  var About = L.Control.extend({ options: { position: "bottomright" }, onAdd: function () {
    var box = el("details", "atlas-about");
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    var a = spec.about || {};
    var sumA = el("summary", null, _("About"));
    sumA.appendChild(el("span", "atlas-long", _(" this map")));
    box.appendChild(sumA);
    box.appendChild(el("p", "atlas-about-title", spec.title));
    var dl = el("dl");
    function row(k, v) { if (v == null || v === "") return; dl.appendChild(el("dt", null, k)); dl.appendChild(el("dd", null, v)); }
    row(_("Atlas version"), a.atlas_version);
    row(_("Built"), a.build_date);
    row(_("GeoPackage"), a.gpkg);
    row(_("GeoPackage sha256"), a.gpkg_sha256);
    row(_("Map written"), a.written);
    var users = a.user_layers || [];
    if (a.user_layers) row(_("Your layers included"), users.length ? users.map(function (u) {
      var priv = u.private ? _(", PRIVATE") : "", coarse = u.coarsen_km ? _(", points coarsened to a %(km)s km grid", { km: u.coarsen_km }) : "";
      return _("%(layer)s (%(n)s features, from %(file)s, sha256 %(sha)s…%(private)s%(coarsened)s)", { layer: u.layer,
        n: u.features, file: u.source_file, sha: String(u.source_sha256 || "").slice(0, 12), private: priv, coarsened: coarse });
    }).join("; ") : _("none"));
    row(_("Private layers"), a.banner);
    row(_("Private GeoPackage"), a.private_gpkg);
    row(_("Private GeoPackage sha256"), a.private_gpkg_sha256);
    box.appendChild(dl);
    box.appendChild(el("p", "atlas-legend-note", spec.network_note));
    return box;
  } });
  new About().addTo(map);
  /* the attribution: one line and a button that opens the rest (Leaflet rewrites the line when a
     base layer changes: the button is put back each time) */
  var attrCtl = map.attributionControl, attrBox = attrCtl.getContainer(), attrUpdate = attrCtl._update;
  function attrToggle(open) {
    attrBox.classList.toggle("atlas-open", open);
    var b = attrBox.querySelector(".atlas-attr-more");
    if (b) { b.textContent = open ? _("less") : _("more"); b.setAttribute("aria-expanded", String(open)); }
  }
  attrCtl._update = function () {
    attrUpdate.call(this);
    if (!attrBox.querySelector(".atlas-attr-more")) {
      var b = el("button", "atlas-attr-more", _("more"));
      b.type = "button"; b.setAttribute("aria-label", _("Show every source and licence"));
      attrBox.insertBefore(b, attrBox.firstChild);
    }
    attrToggle(attrBox.classList.contains("atlas-open"));
  };
  attrCtl._update();
  attrBox.addEventListener("click", function (e) {
    if (e.target.tagName !== "A") attrToggle(!attrBox.classList.contains("atlas-open"));
  });

  /* Leaflet's own words (the zoom buttons, the layer list's toggle, a popup's close button) in the page's
     language; its credit stays as Leaflet words it, marked English. An English page leaves them be. */
  if (spec.i18n) {
    var zc = map.zoomControl;
    [[zc && zc._zoomInButton, _("Zoom in")], [zc && zc._zoomOutButton, _("Zoom out")],
     [layersBox.querySelector(".leaflet-control-layers-toggle"), _("Layers")]].forEach(function (b) {
      if (b[0]) { b[0].title = b[1]; b[0].setAttribute("aria-label", b[1]); }
    });
    map.on("popupopen", function (e) {
      var close = e.popup.getElement() && e.popup.getElement().querySelector(".leaflet-popup-close-button");
      if (close) close.setAttribute("aria-label", _("Close popup"));
    });
    attrCtl.setPrefix('<span lang="en">' + attrCtl.options.prefix + "</span>");
  }

  /* time: a year slider (native range input: the keyboard works), play, and "all time".
     A year filters the camps' findings to those on the record by then and recolours the camps
     by their status as of 31 December of that year, or, for the last year, as of the build date
     (T.asof), precomputed in Python (atlas.evidence): this script applies no rule of its own.
     The map opens at the build date, whatever the viewer's clock says. */
  var timeApi = null;
  spec.layers.forEach(function (s) {
    if (!s.time || !layers[s.id]) return;
    var T = s.time, group = layers[s.id], feats = s.features || [];
    var first = Math.round(num(T.first, 0)), last = Math.round(num(T.last, first));
    var asof = String(T.asof || ""), top = last, asofText = String(T.asof_text || asof);  /* the day in the page's language */
    var words = {};
    Object.keys(T.codes || {}).forEach(function (w) { words[T.codes[w]] = w; });
    var state = { year: top, all: false, timer: null };
    function asOf(y) { return asof && y === top ? _("As of %(date)s", { date: asofText }) : _("As of 31 December %(year)s", { year: y }); }
    function statusOf(f, y) {
      var codes = String(f.ys || ""), k = Math.min(y, last) - first;
      var c = k < 0 ? "u" : codes.charAt(Math.min(k, codes.length - 1));
      return words[c] ? c : "u";
    }
    function countFindings(y) {
      return (T.finding_years || []).filter(function (fy) { return fy <= y; }).length;
    }
    function filterPopup(root, f) {
      if (!root) return;
      root.querySelectorAll("li.atlas-finding").forEach(function (li) {
        var fy = li.getAttribute("data-y");
        li.hidden = !state.all && (fy === "" || Number(fy) > state.year);
      });
      var asof = root.querySelector(".atlas-asof");
      if (asof) asof.textContent = state.all ? _("All time: every finding, undated ones included.") :
        _("%(asof)s: %(status)s (findings on the record by then; undated ones under \u201call time\u201d).",
          { asof: asOf(state.year), status: term(words[statusOf(f, state.year)]) });
    }
    function stepAt(steps, y) {
      var text = "";
      (steps || []).forEach(function (st) { if (num(st[0], 0) <= y) text = String(st[1]); });
      return text;
    }
    function fillMine(root, f) {
      var p = root && root.querySelector(".atlas-asof-mine");
      if (!p) return;
      p.textContent = "";
      if (state.all) { p.textContent = _("All time: see UN sanctions and Global Energy Monitor above."); return; }
      p.appendChild(el("b", null, asOf(state.year) + ": "));
      if (f.ys && f.ys.length) p.appendChild(el("span", "atlas-asof-status", _("status %(status)s. ", { status: term(stepAt(f.ys, state.year)) })));
      if (f.yw && f.yw.length) p.appendChild(el("span", "atlas-asof-un", _("UN sanctions: %(text)s. ", { text: stepAt(f.yw, state.year) })));
      if (f.yg && f.yg.length) p.appendChild(el("span", "atlas-asof-gem", _("GEM: %(text)s.", { text: stepAt(f.yg, state.year) })));
    }
    var mineHooks = [];
    spec.layers.forEach(function (ms) {
      var mg = layers[ms.id];
      (ms.features || []).forEach(function (f, i) {
        if (!f.yw && !f.yg && !Array.isArray(f.ys)) return;
        var m = mg.atlasFeatures[i];
        if (!m || !m.on) return;
        m.on("popupopen", function (e) { fillMine(e.popup.getElement(), f); });
        mineHooks.push(function () { if (m.isPopupOpen()) fillMine(m.getPopup().getElement(), f); });
      });
    });
    function apply() {
      mineHooks.forEach(function (h) { h(); });
      feats.forEach(function (f, i) {
        var m = group.atlasFeatures[i];
        if (!m || !m.setIcon) return;
        var c = state.all ? null : statusOf(f, state.year);
        var sym = c === null ? f.s : f.yt[s.time.statuses.indexOf(words[c])];
        m.setIcon(group.atlasIcons[sym == null ? f.s : sym]);
        m.atlasStatus = c === null ? "" : words[c];
        var e = m.getElement && m.getElement();
        if (e) e.dataset.status = m.atlasStatus;
        if (f.tn && m.getTooltip && m.getTooltip()) {
          m.setTooltipContent(c === null ? f.t : f.tn + " · " + term(words[c]) + " " + asOf(state.year).toLowerCase());
        }
        if (m.isPopupOpen && m.isPopupOpen()) filterPopup(m.getPopup().getElement(), f);
      });
      slider.value = String(state.year);
      slider.setAttribute("aria-valuetext", state.all ? _("all time") : String(state.year));
      out.textContent = state.all ? _("all time") : String(state.year);
      allBtn.setAttribute("aria-pressed", String(state.all));
      box.classList.toggle("atlas-alltime", state.all);
      var buildDate = _("the build date");
      note.textContent = state.all ?
        _("All %(n)s findings; camps coloured by their status as of %(date)s.", { n: num(T.findings, 0), date: asof ? asofText : buildDate }) :
        _("%(k)s of %(n)s findings on the record by %(year)s; camps coloured by status %(asof)s (window %(window)s years).",
          { k: countFindings(state.year), n: num(T.findings, 0), year: state.year, asof: asOf(state.year).toLowerCase(), window: num(T.window, 5) });
    }
    feats.forEach(function (f, i) {
      var m = group.atlasFeatures[i];
      if (m && m.on) m.on("popupopen", function (e) { filterPopup(e.popup.getElement(), f); });
    });
    var box = el("div", "atlas-time leaflet-bar");
    L.DomEvent.disableClickPropagation(box); L.DomEvent.disableScrollPropagation(box);
    var label = el("label", "atlas-time-label", _("Year "));
    var slider = el("input");
    slider.type = "range"; slider.min = String(first); slider.max = String(top); slider.step = "1";
    slider.id = "atlas-year"; slider.setAttribute("aria-label", _("Year: findings and camp status as of then"));
    label.htmlFor = "atlas-year";
    var out = el("output", "atlas-time-year");
    out.htmlFor = "atlas-year";
    var play = el("button", "atlas-time-play", _("Play")), allBtn = el("button", "atlas-time-all", _("All time"));
    play.type = "button"; allBtn.type = "button";
    var note = el("p", "atlas-time-note");
    [label, slider, out, play, allBtn, note].forEach(function (x) { box.appendChild(x); });
    function setYear(y) {
      state.year = Math.max(first, Math.min(top, Math.round(num(y, top))));
      state.all = false; apply();
    }
    function setAll(on) { state.all = on !== false; apply(); }
    function stop() {
      if (state.timer) clearInterval(state.timer);
      state.timer = null; play.textContent = _("Play"); play.setAttribute("aria-pressed", "false");
    }
    slider.addEventListener("input", function () { stop(); setYear(slider.value); });
    allBtn.addEventListener("click", function () { stop(); setAll(!state.all); });
    play.addEventListener("click", function () {
      if (state.timer) { stop(); return; }
      if (state.all || state.year >= top) setYear(first);
      play.textContent = _("Pause"); play.setAttribute("aria-pressed", "true");
      state.timer = setInterval(function () {
        if (state.year >= top) { stop(); return; }
        setYear(state.year + 1);
      }, 700);
    });
    var Time = L.Control.extend({ options: { position: "bottomleft" }, onAdd: function () { return box; } });
    new Time().addTo(map);
    apply();
    timeApi = { layer: s.id, asofText: asofText, setYear: setYear, setAll: setAll, stop: stop, state: state, first: first, last: last, top: top, asof: asof,
      statusOf: function (i, y) { return words[statusOf(feats[i], y == null ? state.year : y)]; },
      sanctionsAt: stepAt };
  });

  /* keyboard order: the controls (search first among them) before the markers, whose stacking is
     set by z-index, not by their place in the page */
  map.getContainer().insertBefore(map._controlContainer, map.getContainer().firstChild);
  map.fitBounds(spec.bounds, { animate: false });  /* the opening view at once: labels are placed for it */
  /* print: the open popup is printed beside the map (a copy, its folded parts opened) */
  var printBox = el("div", "atlas-print-popup");
  document.body.appendChild(printBox);
  map.on("popupopen", function (e) {
    printBox.textContent = "";
    var content = e.popup.getElement() && e.popup.getElement().querySelector(".leaflet-popup-content");
    if (!content) return;
    var copy = content.cloneNode(true);
    copy.removeAttribute("style");  /* Leaflet sizes the popup for the screen */
    copy.querySelectorAll("details").forEach(function (d) { d.open = true; });
    printBox.appendChild(copy);
  });
  map.on("popupclose", function () { printBox.textContent = ""; });
  function forPrint() {
    map.invalidateSize({ pan: false });
    var p = printBox.firstChild && map._popup;
    if (p && map.hasLayer(p)) map.panTo(p.getLatLng(), { animate: false });
  }
  var printQuery = window.matchMedia("print");
  if (printQuery.addEventListener) printQuery.addEventListener("change", forPrint);
  window.addEventListener("beforeprint", forPrint);
  window.addEventListener("afterprint", forPrint);

  declutter();
  requestAnimationFrame(declutterSoon);  /* and once more when the page has been laid out */
  /* open the popup of row `row` of user layer `lid` (search results, tests) */
  function openUserRecord(lid, row) {
    var pts = layers[lid] && layers[lid].atlasPoints;
    if (!pts || !(row >= 0 && row < pts.count())) return false;
    userPopup(pts, row, pts.latLng(row));
    return true;
  }
  var api = { map: map, openUserRecord: openUserRecord, layers: layers, keys: atlasKeys, normalize: atlasNormalize, search: search,
    declutter: declutter, panelsCover: panelsCover, fold: fold, searchBox: function () { return searchBox; },
    reveal: reveal, measure: measure, stacks: stacks, stackChooser: stackChooser, geodesic: atlasGeodesicMetres, legend: legend, time: timeApi };
  /* links: atlas.html#KLS-15@2014-06 opens the site's popup with the year control at that date's
     year (the map shows status by year: 31 December, or the build date in its year, and says so
     when the link asked for another day). A retired id says what became of it. Works from disk. */
  var linkNote = el("div", "atlas-link-note");
  linkNote.setAttribute("role", "status");
  linkNote.hidden = true;
  map.getContainer().appendChild(linkNote);
  var pendingNote = "";  /* what the link could not show exactly: said at the top of the popup it opens */
  function sayLink(text) { linkNote.textContent = text; linkNote.hidden = !text; }
  linkNote.addEventListener("click", function () { sayLink(""); });
  function findId(id) {
    var hit = null;
    spec.layers.forEach(function (s) {
      (s.features || []).forEach(function (f, i) { if (!hit && f.id && String(f.id).toUpperCase() === id) hit = { l: s.id, i: i, id: f.id }; });
    });
    return hit;
  }
  function linkTo(id, date) {
    var t = timeApi;
    return "#" + encodeURIComponent(id) + (date ? "@" + date : (t && !t.state.all && t.state.year !== t.top ? "@" + t.state.year : ""));
  }
  function openLink(hash) {
    var m = /^#([^@]+)(?:@(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?)?$/.exec(hash || "");
    if (!m) return false;
    var id = decodeURIComponent(m[1]).trim().toUpperCase(), said = [];
    map.closePopup();
    var gone = (spec.retired || {})[id];  /* keyed in upper case, as ids are matched */
    if (gone && gone.state === "merged") {
      said.push(_("%(id)s was merged into %(into)s in release %(release)s (%(reason)s): showing %(into)s.",
                  { id: id, into: gone.into, release: gone.retired_in, reason: gone.reason }));
      id = String(gone.into).toUpperCase();
    } else if (gone) {
      sayLink(_("%(id)s was withdrawn in release %(release)s: %(reason)s", { id: id, release: gone.retired_in, reason: gone.reason }));
      return true;
    }
    var hit = findId(id);
    if (!hit) { sayLink(_("No site %(id)s on this map (the link may be from another release).", { id: id })); return true; }
    if (m[2] && timeApi) {
      var y = Number(m[2]), asked = m[2] + (m[3] ? "-" + m[3] : "") + (m[4] ? "-" + m[4] : "");
      var tops = timeApi.top, shown;
      timeApi.stop();
      timeApi.setYear(y);
      shown = timeApi.state.year;
      if (shown !== y) said.push(_("The link asks for %(asked)s; the map's years run %(first)s to %(last)s: showing %(shown)s.",
                                   { asked: asked, first: timeApi.first, last: tops, shown: shown }));
      else if (m[3] && !(y === tops && timeApi.asof && timeApi.asof.indexOf(asked) === 0) && !(m[3] === "12" && (!m[4] || m[4] === "31"))) {
        var dec31 = _("31 December %(year)s", { year: y });
        said.push(_("The link asks for %(asked)s; the map shows status by year: as of %(date)s.", { asked: asked,
                    date: y === tops && timeApi.asof ? timeApi.asofText : dec31 }));
      }
      if (hit.l === timeApi.layer && shown !== tops)
        said.push(_("Status as of 31 December %(year)s: %(status)s (by the atlas's rule; the status line below is the build date's).",
                    { year: shown, status: term(timeApi.statusOf(hit.i)) }));
    }
    sayLink("");
    pendingNote = said.join(" ");
    reveal(hit);
    if (pendingNote) { sayLink(pendingNote); pendingNote = ""; }  /* no popup opened: say it over the map */
    return true;
  }
  /* every popup offers its link: this site, at the year shown */
  map.on("popupopen", function (e) {
    var src = e.popup._source, id = src && src.atlasId;
    var root = e.popup.getElement() && e.popup.getElement().querySelector(".leaflet-popup-content");
    if (root && pendingNote) {
      root.insertBefore(el("p", "atlas-link-note atlas-in-popup", pendingNote), root.firstChild);
      pendingNote = "";
    }
    if (!id || !root || root.querySelector(".atlas-link")) return;
    var p = el("p", "atlas-link"), a = el("a", null, _("Link to this site on the map"));
    a.href = linkTo(id);
    a.title = timeApi ? _("This map, opened at %(id)s and the year shown: copy or bookmark it", { id: id }) :
      _("This map, opened at %(id)s: copy or bookmark it", { id: id });
    p.appendChild(a);
    root.appendChild(p);  /* after the content Leaflet rendered (update() would render it again, without this) */
  });
  spec.layers.forEach(function (s) {
    var g = layers[s.id];
    (s.features || []).forEach(function (f, i) { var mk = g && g.atlasFeatures && g.atlasFeatures[i]; if (f.id && mk) mk.atlasId = f.id; });
  });
  window.addEventListener("hashchange", function () { openLink(window.location.hash); });
  api.openLink = openLink;
  api.linkTo = linkTo;
  window.atlasLayers = layers;
  window.atlas = api;
  api.ready = Promise.all(pending).then(function () {
    if (window.location.hash) openLink(window.location.hash);
    window.atlasReady = true;
  }, function (err) {
    window.atlasError = String(err);
    legend.refresh();
    throw err;
  });
  return api;
}
