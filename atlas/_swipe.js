/* Before/after imagery pairs with a swipe handle (atlas map --imagery): written for the atlas, no library.
   Each pair is two L.imageOverlay in the images pane, "before" under "after"; the "after" image is clipped
   (CSS clip-path) left of one vertical handle that spans the map. The handle is a slider: drag it with a
   pointer (mouse, pen, touch) or focus it and press Left/Right (5 %), Shift+Left/Right (1 %), Home, End. */
function atlasSwipe(map, group, feats, words) {
  "use strict";
  var pairs = [], frac = 0.5, shown = false;
  var handle = document.createElement("div");
  handle.className = "atlas-swipe";
  handle.setAttribute("role", "slider");
  handle.setAttribute("tabindex", "0");
  handle.setAttribute("aria-label", words.label);
  handle.setAttribute("aria-valuemin", "0");
  handle.setAttribute("aria-valuemax", "100");
  handle.innerHTML = '<span class="atlas-swipe-knob" aria-hidden="true">\u2039 \u203a</span>' +
    '<span class="atlas-swipe-l" aria-hidden="true"></span><span class="atlas-swipe-r" aria-hidden="true"></span>';
  handle.querySelector(".atlas-swipe-l").textContent = words.before;
  handle.querySelector(".atlas-swipe-r").textContent = words.after;
  function clip() {
    var box = map.getContainer().getBoundingClientRect();
    var x = box.left + frac * box.width;
    handle.style.left = (frac * 100).toFixed(2) + "%";
    handle.setAttribute("aria-valuenow", String(Math.round(frac * 100)));
    handle.setAttribute("aria-valuetext", Math.round(frac * 100) + "% before, left; after, right");
    pairs.forEach(function (p) {
      var img = p.after.getElement();
      if (!img) return;
      var r = img.getBoundingClientRect();
      var scale = r.width / (img.offsetWidth || r.width || 1);  /* during a zoom animation */
      var left = Math.max(0, (x - r.left) / (scale || 1));
      img.style.clipPath = "inset(0 0 0 " + left.toFixed(1) + "px)";
      img.dataset.clipLeft = left.toFixed(1);
    });
  }
  function set(f) { frac = Math.min(1, Math.max(0, f)); clip(); }
  feats.forEach(function (f) {
    var b = String(f.before), a = String(f.after);
    if (b.indexOf("data:image/png;base64,") !== 0 || a.indexOf("data:image/png;base64,") !== 0) return;
    var before = L.imageOverlay(b, f.bounds, { pane: "atlas-images", interactive: false, className: "atlas-swipe-before" });
    var after = L.imageOverlay(a, f.bounds, { pane: "atlas-images", interactive: false, className: "atlas-swipe-after" });
    after.on("load", clip);
    group.addLayer(before); group.addLayer(after);
    pairs.push({ before: before, after: after, spec: f });
  });
  group.atlasCount = function () { return pairs.length; };
  group.atlasPairs = pairs;
  group.atlasSwipeSet = set;
  function show(on) {
    if (on === shown) return;
    shown = on;
    var c = map.getContainer();
    if (on) { c.appendChild(handle); clip(); } else if (handle.parentNode) handle.parentNode.removeChild(handle);
  }
  group.on("add", function () { show(true); });
  group.on("remove", function () { show(false); });
  map.on("move zoom zoomend viewreset resize", clip);
  handle.addEventListener("keydown", function (e) {
    var step = e.shiftKey ? 0.01 : 0.05;
    if (e.key === "ArrowLeft" || e.key === "ArrowDown") set(frac - step);
    else if (e.key === "ArrowRight" || e.key === "ArrowUp") set(frac + step);
    else if (e.key === "Home") set(0);
    else if (e.key === "End") set(1);
    else return;
    e.preventDefault(); e.stopPropagation();
  });
  var dragging = false;
  function at(e) {
    var box = map.getContainer().getBoundingClientRect();
    set((e.clientX - box.left) / (box.width || 1));
  }
  handle.addEventListener("pointerdown", function (e) {
    dragging = true; handle.setPointerCapture(e.pointerId); map.dragging.disable();
    e.preventDefault(); e.stopPropagation();
  });
  handle.addEventListener("pointermove", function (e) { if (dragging) { at(e); e.stopPropagation(); } });
  function stop(e) {
    if (!dragging) return;
    dragging = false; map.dragging.enable();
    try { handle.releasePointerCapture(e.pointerId); } catch (err) { /* already released */ }
  }
  handle.addEventListener("pointerup", stop);
  handle.addEventListener("pointercancel", stop);
  ["click", "dblclick", "mousedown", "touchstart", "wheel"].forEach(function (t) {
    handle.addEventListener(t, function (e) { e.stopPropagation(); });
  });
  return group;
}
