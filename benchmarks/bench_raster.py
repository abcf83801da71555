"""Speed of the raster products: prints figures, asserts nothing.

Run: ``python benchmarks/bench_raster.py [GPKG]`` (default ``output/atlas.gpkg``;
run ``atlas build`` first). The imagery for the chips is synthetic, generated
in a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

import atlas


def timed(func, *args, repeat: int = 3, **kwargs) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    gpkg = Path(sys.argv[1]) if len(sys.argv) > 1 else atlas.default_gpkg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("density of the mines (quartic, edge-corrected), best of 3:")
        for cell_km, bandwidth_km in ((5, 25), (2, 25), (1, 25), (0.5, 25), (5, 100)):
            secs, tif = timed(atlas.density, cell_km=cell_km, bandwidth_km=bandwidth_km,
                              gpkg=gpkg, out=tmp / f"d_{cell_km}_{bandwidth_km}.tif")
            with rasterio.open(tif) as src:
                shape, size = (src.height, src.width), tif.stat().st_size
            print(f"  cell {cell_km:>4} km, h {bandwidth_km:>3} km: {secs:6.2f} s, "
                  f"{shape[0]}x{shape[1]} cells, {size / 1024:8.1f} KiB")

        secs, _ = timed(atlas.province_density, gpkg=gpkg)
        print(f"province_density: {secs:.3f} s")

        # synthetic 4-band uint8 scene in UTM 52N covering central South Pyongan
        w = h = 6000
        path = tmp / "synthetic_scene.tif"
        data = np.random.default_rng(0).integers(0, 255, (4, h, w), dtype=np.uint8)
        with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=4, dtype="uint8",
                           crs="EPSG:32652", transform=Affine(10, 0, 200000, 0, -10, 4420000),
                           tiled=True, compress="deflate") as dst:
            dst.write(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for size_km in (2, 5, 10):
                secs, result = timed(atlas.chips, path, size_km=size_km, gpkg=gpkg,
                                     out_dir=tmp / f"chips_{size_km}")
                print(f"chips of {size_km:>2} km from a 6000x6000x4 scene at 10 m: {secs:5.2f} s "
                      f"for {len(result)} chips ({secs / max(len(result), 1) * 1000:.0f} ms each), "
                      f"{len(result.outside)} sites outside")


if __name__ == "__main__":
    main()
