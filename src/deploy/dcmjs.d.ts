// The part of dcmjs (no type declarations of its own) that deploy/'s DICOM results use: reading a file's
// header into a naturalized dataset, and writing a naturalized dataset as a Part-10 file.
declare module "dcmjs" {
  /** A dataset with DICOM keywords as keys (dcmjs's "naturalized" form); sequences are arrays of these. */
  export type NaturalDataset = Record<string, unknown>;
  /** The tag-keyed form dcmjs reads and writes ({ "00100010": { vr, Value } }). */
  export type DenaturalDataset = Record<string, { vr: string; Value: unknown[] }>;

  export class DicomDict {
    constructor(meta: DenaturalDataset);
    meta: DenaturalDataset;
    dict: DenaturalDataset;
    write(options?: { allowInvalidVRLength?: boolean }): ArrayBuffer;
  }

  const dcmjs: {
    data: {
      DicomDict: typeof DicomDict;
      DicomMessage: {
        readFile(
          buffer: ArrayBuffer,
          options?: { untilTag?: string; includeUntilTagValue?: boolean; ignoreErrors?: boolean },
        ): DicomDict;
      };
      DicomMetaDictionary: {
        naturalizeDataset(dataset: DenaturalDataset): NaturalDataset;
        denaturalizeDataset(dataset: NaturalDataset): DenaturalDataset;
      };
    };
    log: { getLevel(): number; setLevel(level: string | number): void };
  };
  export default dcmjs;
}
