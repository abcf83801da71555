"""Open atlas exports in a real headless QGIS and print what QGIS sees, as JSON.

Run with Debian's ``/usr/bin/python3`` (the only Python that imports
``qgis.core``), ``QT_QPA_PLATFORM=offscreen`` and a throwaway HOME; the tests
in ``test_qgis.py`` do this. Uses only QGIS and the standard library.

Usage::

    qgis_probe.py gpkg PATH            # every table of a GeoPackage, as a user adds it
    qgis_probe.py project PATH [--render PNG] [--samples JSON]
    qgis_probe.py raster PATH          # a raster with its sidecar .qml, as a user adds it
    qgis_probe.py layers JSON          # [[name, uri, provider], ...]: any vector sources
                                       # (a KMZ's folders, PostGIS tables), as a user adds them

``--samples`` is a JSON list of ``[lon, lat]`` (EPSG:4326) whose rendered
colour is reported. Per layer: validity, feature count, fields, renderer
(type, attribute, categories, ranges, symbol properties) and which legend
entry each feature is drawn with, labels, map tip, form. Checks
``isValid()`` before anything else: QGIS 3.22 segfaults when
``dataProvider().error()`` is read on an invalid layer.
"""

from __future__ import annotations

import json
import sqlite3
import sys

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDateTimeRange,
    QgsExpression,
    QgsExpressionContext,
    QgsExpressionContextUtils,
    QgsFeatureRequest,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsRenderContext,
    QgsVectorLayer,
    QgsVectorLayerTemporalContext,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, QSize, QTime
from qgis.PyQt.QtGui import QColor, QImage

MESSAGES: list[list] = []


def _symbol(sym) -> dict:
    if sym is None:
        return {}
    layers = []
    for i in range(sym.symbolLayerCount()):
        sl = sym.symbolLayer(i)
        props = sl.properties()
        layers.append({"class": sl.layerType(),
                       **{k: props.get(k) for k in ("name", "color", "style", "outline_color",
                                                     "outline_style", "outline_width", "size")
                          if k in props}})
    return {"type": sym.type(), "color": sym.color().name(), "layers": layers}


def _key(f) -> str:
    """A feature's id: its first attribute after the GeoPackage ``fid``."""
    names = f.fields().names()
    if not names:
        return str(f.id())
    return str(f.attribute(1 if names[0] == "fid" and len(names) > 1 else 0))


def _renderer(lyr: QgsVectorLayer) -> dict:
    r = lyr.renderer()
    if r is None:
        return {}
    out: dict = {"type": r.type()}
    if r.type() == "categorizedSymbol":
        out["attribute"] = r.classAttribute()
        out["categories"] = [{"value": str(c.value()), "label": c.label(),
                              "render": c.renderState(), "symbol": _symbol(c.symbol())}
                             for c in r.categories()]
    elif r.type() == "graduatedSymbol":
        out["attribute"] = r.classAttribute()
        out["ranges"] = [{"lower": g.lowerValue(), "upper": g.upperValue(), "label": g.label(),
                          "render": g.renderState(), "symbol": _symbol(g.symbol())}
                         for g in r.ranges()]
    elif r.type() == "singleSymbol":
        out["symbol"] = _symbol(r.symbol())
    # Which legend entry each feature is drawn with (empty list: not drawn).
    ctx = QgsRenderContext()
    ctx.expressionContext().appendScopes(QgsExpressionContextUtils.globalProjectLayerScopes(lyr))
    labels = {item.ruleKey(): item.label() for item in r.legendSymbolItems()}
    r.startRender(ctx, lyr.fields())
    per_feature = {}
    for f in lyr.getFeatures():
        ctx.expressionContext().setFeature(f)
        keys = r.legendKeysForFeature(f, ctx)
        per_feature[_key(f)] = sorted(labels.get(k, k) for k in keys)
    r.stopRender(ctx)
    out["features"] = per_feature
    return out


def _form(lyr: QgsVectorLayer) -> dict:
    cfg = lyr.editFormConfig()
    tabs, relations, fields = [], [], []

    def walk(el):
        for child in el.children():
            kind = child.type()
            if kind == 0:  # container
                tabs.append(child.name())
                walk(child)
            elif kind == 1:  # field
                fields.append(child.name())
            elif kind == 2:  # relation
                rel = child.relation()
                relations.append({"id": rel.id(), "valid": rel.isValid(),
                                  "referencing": rel.referencingLayerId()})

    walk(cfg.invisibleRootContainer())
    return {"layout": int(cfg.layout()), "tabs": tabs, "fields": fields, "relations": relations}


def _temporal(lyr: QgsVectorLayer) -> dict:
    """The layer's temporal properties, and how many features each year's frame keeps."""
    tp = lyr.temporalProperties()
    out = {"active": tp.isActive(), "mode": int(tp.mode()), "start_field": tp.startField(),
           "end_field": tp.endField(), "frames": {}}
    if tp.isActive():
        ctx = QgsVectorLayerTemporalContext()
        ctx.setLayer(lyr)
        for year in (1967, 1990, 2010, 2014, 2020):
            frame = QgsDateTimeRange(QDateTime(QDate(year, 1, 1), QTime(0, 0, 0)),
                                     QDateTime(QDate(year, 12, 31), QTime(23, 59, 59)))
            expr = tp.createFilterString(ctx, frame)
            out["frames"][str(year)] = sum(
                1 for _ in lyr.getFeatures(QgsFeatureRequest().setFilterExpression(expr)))
    return out


def _styles(lyr: QgsVectorLayer) -> dict:
    """Every named style of the layer, with its renderer (the current style is restored)."""
    manager = lyr.styleManager()
    current = manager.currentStyle()
    out = {"current": current, "styles": {}}
    for name in manager.styles():
        manager.setCurrentStyle(name)
        out["styles"][name] = _renderer(lyr) if lyr.isSpatial() else {}
    manager.setCurrentStyle(current)
    return out


def describe_vector(lyr: QgsVectorLayer) -> dict:
    d: dict = {"kind": "vector", "valid": lyr.isValid(), "name": lyr.name()}
    if not lyr.isValid():
        return d
    d["source_layername"] = lyr.source().split("layername=")[-1].split("|")[0]
    d["features"] = lyr.featureCount()
    d["fields"] = [f.name() for f in lyr.fields()]
    d["geometry"] = QgsWkbTypes.displayString(lyr.wkbType())
    d["crs"] = lyr.crs().authid()
    d["spatial"] = lyr.isSpatial()
    d["renderer"] = _renderer(lyr) if lyr.isSpatial() else {}
    d["labels_enabled"] = lyr.labelsEnabled()
    if lyr.labelsEnabled() and lyr.labeling() is not None:
        s = lyr.labeling().settings()
        d["label_expression"] = s.fieldName
        d["label_is_expression"] = s.isExpression
        expr = QgsExpression(s.fieldName if s.isExpression else QgsExpression.quotedColumnRef(
            s.fieldName))
        ctx = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(lyr))
        labels = {}
        for f in lyr.getFeatures():
            ctx.setFeature(f)
            labels[_key(f)] = expr.evaluate(ctx)
        d["labels"] = labels
        d["label_error"] = expr.evalErrorString()
    d["map_tip"] = lyr.mapTipTemplate()
    if lyr.mapTipTemplate() and lyr.featureCount() <= 100:  # the map tip each feature shows
        ctx = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(lyr))
        tips = {}
        for f in lyr.getFeatures():
            ctx.setFeature(f)
            tips[_key(f)] = QgsExpression.replaceExpressionText(lyr.mapTipTemplate(), ctx)
        d["map_tips"] = tips
    d["display_expression"] = lyr.displayExpression()
    d["field_types"] = {f.name(): f.typeName() for f in lyr.fields()}
    d["temporal"] = _temporal(lyr)
    d["styles"] = _styles(lyr)
    d["form"] = _form(lyr)
    md = lyr.metadata()
    d["metadata"] = {"title": md.title(), "licenses": md.licenses(), "rights": md.rights()}
    return d


def describe_raster(lyr: QgsRasterLayer) -> dict:
    d: dict = {"kind": "raster", "valid": lyr.isValid(), "name": lyr.name()}
    if not lyr.isValid():
        return d
    r = lyr.renderer()
    d["crs"] = lyr.crs().authid()
    d["bands"] = lyr.bandCount()
    d["renderer"] = {"type": r.type(), "opacity": r.opacity()}
    if r.type() == "singlebandpseudocolor":
        ramp = r.shader().rasterShaderFunction()
        d["renderer"].update(
            band=r.band(), min=r.classificationMin(), max=r.classificationMax(),
            items=[{"value": it.value, "color": it.color.name(), "alpha": it.color.alpha(),
                    "lightness": it.color.lightness()} for it in ramp.colorRampItemList()])
    return d


def _tables(path: str) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return [r[0] for r in con.execute(
            "SELECT table_name FROM gpkg_contents ORDER BY table_name")]


def probe_gpkg(path: str) -> dict:
    layers = {}
    for name in _tables(path):
        lyr = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        layers[name] = describe_vector(lyr)
    return {"layers": layers}


def probe_layers(spec: list) -> dict:
    layers = {}
    for name, uri, provider in spec:
        layers[name] = describe_vector(QgsVectorLayer(uri, name, provider))
    return {"layers": layers}


def probe_raster(path: str, png: str | None, samples: list) -> dict:
    lyr = QgsRasterLayer(path, "raster", "gdal")
    out = {"raster": describe_raster(lyr)}
    if png and lyr.isValid():
        project = QgsProject.instance()
        project.addMapLayer(lyr)
        project.setCrs(lyr.crs())
        out["render"] = render(project, png, samples, lyr.extent())
    return out


def _tree(node) -> dict:
    from qgis.core import QgsLayerTree

    if QgsLayerTree.isGroup(node):
        return {"group": node.name(), "checked": node.isVisible(),
                "children": [_tree(c) for c in node.children()]}
    lyr = node.layer()
    return {"layer": node.name(), "id": node.layerId(), "resolved": lyr is not None,
            "valid": bool(lyr is not None and lyr.isValid()), "checked": node.isVisible()}


def render(project: QgsProject, png: str, samples: list, extent=None) -> dict:
    root = project.layerTreeRoot()
    layers = [lyr for lyr in root.layerOrder() if root.findLayer(lyr.id()).isVisible()]
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(project.crs())
    settings.setTransformContext(project.transformContext())
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setOutputSize(QSize(1100, 1200))
    extent = QgsRectangle(extent or project.viewSettings().defaultViewExtent())
    if extent.isEmpty():
        extent = QgsRectangle()
        for lyr in layers:
            tr = QgsCoordinateTransform(lyr.crs(), project.crs(), project)
            extent.combineExtentWith(tr.transformBoundingBox(lyr.extent()))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    img = job.renderedImage().convertToFormat(QImage.Format_RGB32)
    img.save(png)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    words = memoryview(bytes(ptr)).cast("I")
    background = QColor(255, 255, 255).rgb()
    non_bg = sum(1 for w in words if w != background)
    colours = len(set(words))
    m2p = settings.mapToPixel()
    wgs = QgsCoordinateReferenceSystem("EPSG:4326")
    tr = QgsCoordinateTransform(wgs, project.crs(), project)
    sampled = []
    for lon, lat in samples:
        pt = m2p.transform(tr.transform(QgsPointXY(lon, lat)))
        x, y = round(pt.x()), round(pt.y())
        c = QColor(img.pixel(x, y)) if img.valid(x, y) else QColor(255, 255, 255)
        sampled.append({"lonlat": [lon, lat], "pixel": [x, y], "rgb": [c.red(), c.green(),
                                                                       c.blue()]})
    return {"png": png, "width": img.width(), "height": img.height(), "pixels": len(words),
            "non_background": non_bg, "colours": colours, "layers_drawn": len(layers),
            "samples": sampled, "errors": [str(e.message) for e in job.errors()]}


def probe_project(path: str, png: str | None, samples: list) -> dict:
    project = QgsProject.instance()
    ok = project.read(path)
    out: dict = {"read": ok, "crs": project.crs().authid(), "crs_valid": project.crs().isValid(),
                 "title": project.title()}
    md = project.metadata()
    out["metadata"] = {"title": md.title(), "abstract": md.abstract(),
                       "keywords": {k: v for k, v in md.keywords().items()}}
    out["tree"] = _tree(project.layerTreeRoot())
    layers = {}
    for lid, lyr in project.mapLayers().items():
        d = describe_vector(lyr) if isinstance(lyr, QgsVectorLayer) else describe_raster(lyr)
        d["id"] = lid
        d["source"] = lyr.source()
        layers[lid] = d
    out["layers"] = layers
    out["relations"] = [
        {"id": r.id(), "name": r.name(), "valid": r.isValid(),
         "referenced": r.referencedLayerId(), "referencing": r.referencingLayerId(),
         "pairs": [[k, v] for k, v in r.fieldPairs().items()]}
        for r in project.relationManager().relations().values()]
    camps = [lyr for lyr in project.mapLayers().values() if isinstance(lyr, QgsVectorLayer)
             and lyr.isValid() and lyr.source().endswith("layername=camps")]
    if camps:
        # The findings a camp's form lists: the related features of each camp.
        related = {}
        for r in project.relationManager().referencedRelations(camps[0]):
            for f in camps[0].getFeatures():
                related.setdefault(r.id(), {})[str(f["site_id"])] = sum(
                    1 for _ in r.getRelatedFeatures(f))
        out["related_counts"] = related
    if png:
        out["render"] = render(project, png, samples)
    return out


def main(argv: list[str]) -> int:
    app = QgsApplication([], False)
    app.initQgis()
    QgsApplication.messageLog().messageReceived.connect(
        lambda msg, tag, level: MESSAGES.append([tag, int(level), msg]))
    kind, path = argv[1], argv[2]
    png = argv[argv.index("--render") + 1] if "--render" in argv else None
    samples = json.loads(argv[argv.index("--samples") + 1]) if "--samples" in argv else []
    if kind == "gpkg":
        result = probe_gpkg(path)
    elif kind == "layers":
        result = probe_layers(json.loads(path))
    elif kind == "raster":
        result = probe_raster(path, png, samples)
    else:
        result = probe_project(path, png, samples)
    app.processEvents()
    result["messages"] = MESSAGES
    result["qgis_version"] = __import__("qgis.core", fromlist=["Qgis"]).Qgis.QGIS_VERSION
    print(json.dumps(result, ensure_ascii=False, default=str))
    sys.stdout.flush()
    QgsProject.instance().clear()
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
