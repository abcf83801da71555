"""Time and evidence in a real headless QGIS: the findings animate, the camps show their tier."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import atlas
from atlas import style
from atlas.evidence import TIERS


@pytest.fixture(scope="module")
def found(gpkg, tmp_path_factory, qgis) -> dict:
    out = atlas.export_qgis(tmp_path_factory.mktemp("time_qgis"), gpkg=gpkg)
    result, _ = qgis(tmp_path_factory.mktemp("time_probe"), "project", str(out))
    return {lyr["source_layername"]: lyr for lyr in result["layers"].values()
            if lyr.get("kind") == "vector" and lyr.get("valid")}


def _in_frame(start, end, year: int) -> bool:
    """QGIS's start/end-fields filter: start <= the frame's end and end > its start; NULL is open."""
    lo, hi = datetime(year, 1, 1), datetime(year, 12, 31, 23, 59, 59)
    s = datetime.fromisoformat(start) if isinstance(start, str) else None
    e = datetime.fromisoformat(end) if isinstance(end, str) else None
    return (s is None or s <= hi) and (e is None or e > lo)


def test_findings_have_temporal_properties_that_qgis_reads_back(found, layers):
    t = found["camp_findings"]["temporal"]
    assert t["active"] is True
    assert t["mode"] == 2  # QgsVectorLayerTemporalProperties.ModeFeatureDateTimeStartAndEndFromFields
    assert (t["start_field"], t["end_field"]) == ("date_start", "date_end")
    assert found["camp_findings"]["field_types"]["date_start"] == "Date"
    assert found["camp_findings"]["field_types"]["date_end"] == "Date"
    f = layers["camp_findings"]
    assert set(t["frames"]) == {"1967", "1990", "2010", "2014", "2020"}
    for year, n in t["frames"].items():
        assert n == sum(_in_frame(s, e, int(year)) for s, e in zip(f["date_start"], f["date_end"])), year
    # a 1967 frame holds the findings QGIS reads as dated before 1970
    pre_1970 = [s for s in f["date_start"] if isinstance(s, str) and s < "1970"]
    assert pre_1970 and t["frames"]["1967"] > 0
    assert date.fromisoformat(min(pre_1970)).year < 1970


def test_camps_carry_tier_columns_and_a_named_style_by_tier(found, layers):
    camps = found["camps"]
    types = camps["field_types"]
    assert types["latest_evidence_date"] == "Date"
    assert types["evidence_tier"].startswith("Integer")
    assert types["sources_disagree"] == "Boolean"
    styles = camps["styles"]
    assert styles["current"] == "default" and set(styles["styles"]) == {"default", "evidence tier"}
    tier = styles["styles"]["evidence tier"]
    assert "evidence_tier" in tier["attribute"]
    camps_all = layers["camps"]
    want = {f"{k} | {t}" for k, t in zip(camps_all["kind"], camps_all["evidence_tier"].astype(int))}
    assert {c["value"] for c in tier["categories"]} == want
    labels = dict(((t, lab) for t, lab, _ in TIERS))
    for c in tier["categories"]:
        t = int(c["value"].split(" | ")[1])
        assert f"tier {t}, {labels[t]}" in c["label"]
        assert c["symbol"]["color"].lower() == style.TIER_COLOURS[t]
    # every camp falls in exactly one category of the tier style, the one of its own tier
    assert len(tier["features"]) == len(layers["camps"])
    by_id = layers["camps"].set_index("site_id")
    for site, legend in tier["features"].items():
        assert len(legend) == 1 and f"tier {int(by_id.at[site, 'evidence_tier'])}," in legend[0]
