// The coded concepts and content-item builders of the prediction SR (dicom-results.ts). Concepts come
// from DCM, SCT, UCUM, LN and UMLS where DICOM's own templates use them; the rest from liverstiff's
// private scheme 99LIVERSTIFF. Items are dcmjs "naturalized" datasets (DICOM keywords as keys).
import type { NaturalDataset } from "dcmjs";

export interface Code {
  value: string;
  scheme: string;
  meaning: string;
}

export const PRIVATE_SCHEME = "99LIVERSTIFF";

export const PRIVATE_SCHEME_IDENTIFICATION: NaturalDataset = {
  CodingSchemeDesignator: PRIVATE_SCHEME,
  CodingSchemeName: "liverstiff private codes",
  CodingSchemeResponsibleOrganization: "liverstiff project",
};

const dcm = (value: string, meaning: string): Code => ({ value, scheme: "DCM", meaning });
const sct = (value: string, meaning: string): Code => ({ value, scheme: "SCT", meaning });
const own = (value: string, meaning: string): Code => ({ value, scheme: PRIVATE_SCHEME, meaning });
const ucum = (value: string, meaning: string): Code => ({ value, scheme: "UCUM", meaning });

export const CODES = {
  imagingMeasurementReport: dcm("126000", "Imaging Measurement Report"),
  language: dcm("121049", "Language of Content Item and Descendants"),
  englishUs: { value: "en-US", scheme: "RFC5646", meaning: "English (United States)" },
  observerType: dcm("121005", "Observer Type"),
  device: dcm("121007", "Device"),
  deviceObserverUid: dcm("121012", "Device Observer UID"),
  deviceObserverName: dcm("121013", "Device Observer Name"),
  deviceObserverManufacturer: dcm("121014", "Device Observer Manufacturer"),
  deviceObserverModelName: dcm("121015", "Device Observer Model Name"),
  procedureReported: dcm("121058", "Procedure reported"),
  mriUnspecifiedBodyRegion: { value: "25056-3", scheme: "LN", meaning: "MRI unspecified body region" },
  imageLibrary: dcm("111028", "Image Library"),
  imageLibraryGroup: dcm("126200", "Image Library Group"),
  modality: dcm("121139", "Modality"),
  magneticResonance: dcm("MR", "Magnetic Resonance"),
  imagingMeasurements: dcm("126010", "Imaging Measurements"),
  measurementGroup: dcm("125007", "Measurement Group"),
  trackingIdentifier: dcm("112039", "Tracking Identifier"),
  trackingUid: dcm("112040", "Tracking Unique Identifier"),
  findingSite: sct("363698007", "Finding Site"),
  liver: sct("10200004", "Liver"),
  algorithmName: dcm("111001", "Algorithm Name"),
  algorithmVersion: dcm("111003", "Algorithm Version"),
  derivation: dcm("121401", "Derivation"),
  mean: sct("373098007", "Mean"),
  minimum: sct("255605001", "Minimum"),
  maximum: sct("56851009", "Maximum"),
  yes: sct("373066001", "Yes"),
  no: sct("373067005", "No"),
  qualitativeEvaluations: { value: "C0034375", scheme: "UMLS", meaning: "Qualitative Evaluations" },
  percent: ucum("%", "percent"),
  kilopascal: ucum("kPa", "kilopascal"),
  // Private: no standard concept says these.
  bundleDigest: own("BUNDLE_DIGEST", "Model bundle digest"),
  bundleCreated: own("BUNDLE_CREATED", "Model bundle creation date-time"),
  seriesRole: own("SERIES_ROLE", "Series role in the model"),
  stiffnessThreshold: own("KPA_THRESHOLD", "MRE liver stiffness threshold"),
  probabilityAtOrAbove: own("P_AT_OR_ABOVE", "Probability of MRE liver stiffness at or above threshold"),
  cutoff: own("CUTOFF", "Decision cut-off for the probability"),
  aboveCutoff: own("ABOVE_CUTOFF", "Probability above cut-off"),
  countedInCategory: own("COUNTED", "Counted toward the category"),
  predictedStiffness: own("KPA_PRED", "Predicted MRE liver stiffness"),
  predictionIntervalLow: own("PI80_LOW", "80% prediction interval, lower limit"),
  predictionIntervalHigh: own("PI80_HIGH", "80% prediction interval, upper limit"),
  agreesWithCategory: own("KPA_AGREES", "Predicted stiffness agrees with category"),
  stiffnessCategory: own("CATEGORY", "MRE liver stiffness category"),
  warning: own("WARNING", "Prediction warning"),
  intendedUse: own("INTENDED_USE", "Intended use"),
} as const satisfies Record<string, Code>;

/** The private code of a category label: ">= 3.0 kPa" -> GE3.0KPA, "< 2.5 kPa" -> LT2.5KPA. */
export function categoryCode(label: string): Code {
  const m = /^(>=|<) (\d+\.\d) kPa$/.exec(label);
  if (!m) return own("NONE", `no category (${label})`);
  return own(`${m[1] === ">=" ? "GE" : "LT"}${m[2]}KPA`, `MRE liver stiffness ${label}`);
}

export type Relationship = "CONTAINS" | "HAS OBS CONTEXT" | "HAS CONCEPT MOD" | "HAS ACQ CONTEXT";

export const codeSequence = (c: Code): NaturalDataset[] => [
  { CodeValue: c.value, CodingSchemeDesignator: c.scheme, CodeMeaning: c.meaning },
];

/**
 * A DS value (at most 16 characters) as close to `x` as fits; the exact double goes beside it in
 * FloatingPointValue.
 */
export function decimalString(x: number): string {
  for (let digits = 15; digits > 1; digits--) {
    const s = Number.parseFloat(x.toPrecision(digits)).toString();
    if (s.length <= 16) return s;
  }
  return x.toExponential(6);
}

const item = (relationship: Relationship, valueType: string, concept: Code): NaturalDataset => ({
  RelationshipType: relationship,
  ValueType: valueType,
  ConceptNameCodeSequence: codeSequence(concept),
});

export function container(rel: Relationship, concept: Code, children: NaturalDataset[]): NaturalDataset {
  return { ...item(rel, "CONTAINER", concept), ContinuityOfContent: "SEPARATE", ContentSequence: children };
}

export function num(
  rel: Relationship,
  concept: Code,
  value: number,
  unit: Code,
  modifiers: NaturalDataset[] = [],
): NaturalDataset {
  const out: NaturalDataset = {
    ...item(rel, "NUM", concept),
    MeasuredValueSequence: [
      {
        MeasurementUnitsCodeSequence: codeSequence(unit),
        NumericValue: decimalString(value),
        FloatingPointValue: value,
      },
    ],
  };
  if (modifiers.length > 0) out.ContentSequence = modifiers;
  return out;
}

export const text = (rel: Relationship, concept: Code, value: string): NaturalDataset => ({
  ...item(rel, "TEXT", concept),
  TextValue: value,
});

export const code = (rel: Relationship, concept: Code, value: Code): NaturalDataset => ({
  ...item(rel, "CODE", concept),
  ConceptCodeSequence: codeSequence(value),
});

export const uidref = (rel: Relationship, concept: Code, uid: string): NaturalDataset => ({
  ...item(rel, "UIDREF", concept),
  UID: uid,
});

export const datetime = (rel: Relationship, concept: Code, dicomDateTime: string): NaturalDataset => ({
  ...item(rel, "DATETIME", concept),
  DateTime: dicomDateTime,
});

/** An IMAGE item without a concept name (as in TID 1601's image library entries). */
export const image = (sopClassUid: string, sopInstanceUid: string): NaturalDataset => ({
  RelationshipType: "CONTAINS",
  ValueType: "IMAGE",
  ReferencedSOPSequence: [{ ReferencedSOPClassUID: sopClassUid, ReferencedSOPInstanceUID: sopInstanceUid }],
});

export const yesNo = (b: boolean): Code => (b ? CODES.yes : CODES.no);
