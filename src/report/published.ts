// The published DeepLiverNet 2.0 results, quoted exactly from Ali R, Li H, Zhang H, et al., European
// Radiology 2025, doi:10.1007/s00330-024-11312-3 (the citation below). They come from the authors' own
// clinical cohort, never from ours: the report always labels them that way.
import type { SchemeName } from "../validate/types.ts";

export interface PublishedAuc {
  auc: number;
  ci95: [number, number];
  /** The paper's name for the validation. */
  validation: string;
}

export const DEEPLIVERNET2 = {
  name: "DeepLiverNet 2.0 (published)",
  citation:
    "Ali R, Li H, Zhang H, et al. Multi-site, multi-vendor development and validation of a deep learning model " +
    "for liver stiffness prediction using abdominal biparametric MRI. European Radiology 2025. " +
    "doi:10.1007/s00330-024-11312-3",
  cohort:
    "4 institutions, clinical MRI with MR elastography 2011\u20132022: 4695 exams of 4295 patients, " +
    "age 47.6 \u00b1 18.7 y, 10.0% pediatric",
  ciMethod: "not stated in the paper",
  thresholdKpa: 3.0,
  auc: {
    cv10: { auc: 0.83, ci95: [0.82, 0.84], validation: "internal multi-site 10-fold CV" },
    temporal: { auc: 0.82, ci95: [0.8, 0.84], validation: "temporal hold-out" },
    loso: { auc: 0.79, ci95: [0.75, 0.81], validation: "external leave-one-site-out CV" },
  } satisfies Record<SchemeName, PublishedAuc>,
} as const;
