// Transfer syntaxes this reader understands, and how each one's pixel data is stored.

export type PixelEncoding =
  | "native"
  | "deflate"
  | "rle"
  | "jpeg-baseline"
  | "jpeg-extended"
  | "jpeg-lossless"
  | "jpeg-ls"
  | "jpeg2000";

interface SyntaxInfo {
  name: string;
  encoding: PixelEncoding;
  explicitVr: boolean;
  bigEndian: boolean;
}

export const IMPLICIT_LE = "1.2.840.10008.1.2";
export const EXPLICIT_LE = "1.2.840.10008.1.2.1";
export const DEFLATED_LE = "1.2.840.10008.1.2.1.99";
export const EXPLICIT_BE = "1.2.840.10008.1.2.2";

const SUPPORTED: Record<string, SyntaxInfo> = {
  [IMPLICIT_LE]: {
    name: "Implicit VR Little Endian",
    encoding: "native",
    explicitVr: false,
    bigEndian: false,
  },
  [EXPLICIT_LE]: {
    name: "Explicit VR Little Endian",
    encoding: "native",
    explicitVr: true,
    bigEndian: false,
  },
  [DEFLATED_LE]: {
    name: "Deflated Explicit VR Little Endian",
    encoding: "deflate",
    explicitVr: true,
    bigEndian: false,
  },
  [EXPLICIT_BE]: { name: "Explicit VR Big Endian", encoding: "native", explicitVr: true, bigEndian: true },
  "1.2.840.10008.1.2.5": { name: "RLE Lossless", encoding: "rle", explicitVr: true, bigEndian: false },
  "1.2.840.10008.1.2.4.50": {
    name: "JPEG Baseline (Process 1)",
    encoding: "jpeg-baseline",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.51": {
    name: "JPEG Extended (Process 2 & 4, 12-bit lossy)",
    encoding: "jpeg-extended",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.57": {
    name: "JPEG Lossless, Non-Hierarchical (Process 14)",
    encoding: "jpeg-lossless",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.70": {
    name: "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, SV1)",
    encoding: "jpeg-lossless",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.80": {
    name: "JPEG-LS Lossless",
    encoding: "jpeg-ls",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.81": {
    name: "JPEG-LS Lossy (Near-Lossless)",
    encoding: "jpeg-ls",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.90": {
    name: "JPEG 2000 (Lossless Only)",
    encoding: "jpeg2000",
    explicitVr: true,
    bigEndian: false,
  },
  "1.2.840.10008.1.2.4.91": { name: "JPEG 2000", encoding: "jpeg2000", explicitVr: true, bigEndian: false },
};

// Named only so that an unsupported syntax can be reported by name rather than by a bare UID.
const KNOWN_UNSUPPORTED: Record<string, string> = {
  "1.2.840.10008.1.2.4.52": "JPEG Extended (Process 3 & 5, retired)",
  "1.2.840.10008.1.2.4.100": "MPEG2 Main Profile",
  "1.2.840.10008.1.2.4.101": "MPEG2 High Profile",
  "1.2.840.10008.1.2.4.102": "MPEG-4 AVC/H.264",
  "1.2.840.10008.1.2.4.103": "MPEG-4 AVC/H.264 BD",
  "1.2.840.10008.1.2.4.201": "High-Throughput JPEG 2000 (Lossless Only)",
  "1.2.840.10008.1.2.4.202": "High-Throughput JPEG 2000 with RPCL (Lossless Only)",
  "1.2.840.10008.1.2.4.203": "High-Throughput JPEG 2000",
  "1.2.840.10008.1.2.4.100.1": "MPEG2 Main Profile (fragmentable)",
};

export function transferSyntaxInfo(uid: string): SyntaxInfo | undefined {
  return SUPPORTED[uid];
}

export function transferSyntaxName(uid: string): string {
  return SUPPORTED[uid]?.name ?? KNOWN_UNSUPPORTED[uid] ?? "unknown";
}

export function isSupportedTransferSyntax(uid: string): boolean {
  return uid in SUPPORTED;
}

export const SUPPORTED_TRANSFER_SYNTAXES: readonly string[] = Object.keys(SUPPORTED);
