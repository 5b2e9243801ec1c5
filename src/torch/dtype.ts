// Element types and devices, with the codes libtorch uses for them (c10::ScalarType).

export type DType =
  | "float32"
  | "float64"
  | "float16"
  | "bfloat16"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "uint8"
  | "bool";

/** "cpu", "cuda" or "cuda:N" (CUDA only when the linked libtorch has it: see `cuda.isAvailable()`). */
export type Device = "cpu" | "cuda" | `cuda:${number}`;

export const dtypeCode: Readonly<Record<DType, number>> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

const byCode: DType[] = [];
for (const [name, code] of Object.entries(dtypeCode)) byCode[code] = name as DType;

export function dtypeFromCode(code: number): DType {
  const d = byCode[code];
  if (d === undefined) throw new Error(`unsupported libtorch scalar type ${code}`);
  return d;
}

export function isFloatingDType(d: DType): boolean {
  return d === "float32" || d === "float64" || d === "float16" || d === "bfloat16";
}

export const bytesPerElement: Readonly<Record<DType, number>> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | BigInt64Array;

/** The dtype a typed array holds as-is (Uint16Array is taken as float16 bits). */
export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int16Array) return "int16";
  if (a instanceof Int8Array) return "int8";
  if (a instanceof Uint16Array) return "float16";
  return "uint8";
}
