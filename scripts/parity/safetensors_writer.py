"""The safetensors writer the PyTorch parity scripts share: sorted by (itemsize desc, name), header padded
to 8 bytes, written to a temporary file and renamed into place."""
import json
import os
import struct

import torch

DTYPES = {
    torch.float64: ("F64", 8), torch.float32: ("F32", 4), torch.float16: ("F16", 2), torch.bfloat16: ("BF16", 2),
    torch.int64: ("I64", 8), torch.int32: ("I32", 4), torch.uint8: ("U8", 1), torch.bool: ("BOOL", 1),
}


def save_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer: sorted by (itemsize desc, name), header padded to 8 bytes."""
    items = sorted(tensors.items(), key=lambda kv: (-DTYPES[kv[1].dtype][1], kv[0]))
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs = []
    offset = 0
    for name, t in items:
        t = t.detach().contiguous().cpu()
        # numpy has no bfloat16; go through a same-size integer view
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    js = json.dumps(header, separators=(",", ":")).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
