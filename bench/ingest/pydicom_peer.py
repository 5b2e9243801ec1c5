#!/usr/bin/python3
"""The usual Python peer for `npm run bench -- ingest`: pydicom + numpy.

  pydicom_peer.py index ROOT          headers only (stop_before_pixels), grouped into series
  pydicom_peer.py assemble ROOT OUT   full read, series sorted along the slice normal, stacked with
                                      rescale applied (float32), written as .npy per series/echo

Prints one JSON line: {"files": n, "bytes": b, "series": s, "seconds": t}.
"""
import json
import os
import sys
import time

import numpy as np
import pydicom


def walk(root):
    for d, _, names in os.walk(root):
        for n in sorted(names):
            yield os.path.join(d, n)


def index(root):
    t0 = time.perf_counter()
    series = {}
    files = 0
    size = 0
    for p in walk(root):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        if getattr(ds, "Modality", "") != "MR":
            continue
        files += 1
        size += os.path.getsize(p)
        series.setdefault(ds.SeriesInstanceUID, []).append(p)
    return {"files": files, "bytes": size, "series": len(series), "seconds": time.perf_counter() - t0}


def frames_of(ds, path):
    """(position, orientation, echo, pixels) for each frame, classic or enhanced."""
    arr = ds.pixel_array.astype(np.float32)
    if hasattr(ds, "PerFrameFunctionalGroupsSequence"):
        shared = ds.SharedFunctionalGroupsSequence[0]
        out = []
        for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
            pos = [float(x) for x in fg.PlanePositionSequence[0].ImagePositionPatient]
            po = fg.PlaneOrientationSequence[0] if "PlaneOrientationSequence" in fg else shared.PlaneOrientationSequence[0]
            iop = [float(x) for x in po.ImageOrientationPatient]
            te = None
            if "MREchoSequence" in fg:
                te = float(fg.MREchoSequence[0].EffectiveEchoTime)
            pvt = fg.PixelValueTransformationSequence[0] if "PixelValueTransformationSequence" in fg else (
                shared.PixelValueTransformationSequence[0] if "PixelValueTransformationSequence" in shared else None)
            slope = float(pvt.RescaleSlope) if pvt is not None else 1.0
            icpt = float(pvt.RescaleIntercept) if pvt is not None else 0.0
            out.append((pos, iop, te, arr[i] * slope + icpt))
        return out
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    icpt = float(getattr(ds, "RescaleIntercept", 0) or 0)
    pos = [float(x) for x in ds.ImagePositionPatient]
    iop = [float(x) for x in ds.ImageOrientationPatient]
    te = float(ds.EchoTime) if "EchoTime" in ds and ds.EchoTime is not None else None
    return [(pos, iop, te, arr * slope + icpt)]


def assemble(root, out):
    t0 = time.perf_counter()
    os.makedirs(out, exist_ok=True)
    stacks = {}
    files = 0
    size = 0
    for p in walk(root):
        try:
            ds = pydicom.dcmread(p)
        except Exception:
            continue
        if getattr(ds, "Modality", "") != "MR":
            continue
        files += 1
        size += os.path.getsize(p)
        for pos, iop, te, px in frames_of(ds, p):
            stacks.setdefault((ds.SeriesInstanceUID, te), []).append((pos, iop, px))
    n = 0
    for (uid, te), frames in stacks.items():
        iop = np.array(frames[0][1])
        normal = np.cross(iop[:3], iop[3:])
        frames.sort(key=lambda f: float(np.dot(normal, f[0])))
        vol = np.stack([f[2] for f in frames])
        np.save(os.path.join(out, f"{n:05d}.npy"), vol)
        n += 1
    return {"files": files, "bytes": size, "series": n, "seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "index":
        print(json.dumps(index(sys.argv[2])))
    elif mode == "assemble":
        print(json.dumps(assemble(sys.argv[2], sys.argv[3])))
    else:
        sys.exit("usage: pydicom_peer.py index ROOT | assemble ROOT OUT")
