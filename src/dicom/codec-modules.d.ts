// The cornerstone WASM codecs and jpeg-lossless-decoder-js ship without type declarations; these cover
// the small part of their API that pixels.ts uses.
interface WasmFrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned?: boolean;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): WasmFrameInfo;
  delete(): void;
}

declare module "@cornerstonejs/codec-charls/decodewasmjs" {
  const factory: (module?: {
    print?: (s: string) => void;
    printErr?: (s: string) => void;
  }) => Promise<{ JpegLSDecoder: new () => WasmDecoder }>;
  export default factory;
}

declare module "@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs" {
  const factory: (module?: {
    print?: (s: string) => void;
    printErr?: (s: string) => void;
  }) => Promise<{ JPEGDecoder: new () => WasmDecoder }>;
  export default factory;
}

declare module "@cornerstonejs/codec-openjpeg/decodewasmjs" {
  const factory: (module?: {
    print?: (s: string) => void;
    printErr?: (s: string) => void;
  }) => Promise<{ J2KDecoder: new () => WasmDecoder }>;
  export default factory;
}

declare module "jpeg-lossless-decoder-js" {
  export class Decoder {
    constructor(buffer?: ArrayBuffer | null, numBytes?: number);
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
  }
}
