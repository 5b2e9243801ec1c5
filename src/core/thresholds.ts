// The five MRE stiffness thresholds the project predicts, in kPa, with the suffixes of column and field
// names (p_ge_3_0). The one domain constant every stage shares, from the synthetic cohort's oracle to the
// report, so it lives here rather than in a stage that half of them may not import.
export const THRESHOLDS_KPA = [2.5, 3.0, 3.5, 4.0, 5.0] as const;
export type ThresholdKpa = (typeof THRESHOLDS_KPA)[number];
export const THRESHOLD_SUFFIXES = ["2_5", "3_0", "3_5", "4_0", "5_0"] as const;
export type ThresholdSuffix = (typeof THRESHOLD_SUFFIXES)[number];
