import { createHash } from "node:crypto";

/** Environment variable holding the site's salt for patient-id hashing (the CLI's --id-salt wins). */
export const ID_SALT_ENV = "LIVERSTIFF_ID_SALT";

/**
 * The key a patient is stored under: the patient id itself, or, when a site-held salt is given, the
 * first 16 hex digits of SHA-256(salt + ":" + id), which cannot be reversed without the salt.
 */
export function patientKey(patientId: string, salt?: string): string {
  if (!salt) return patientId;
  return `p_${createHash("sha256").update(`${salt}:${patientId}`).digest("hex").slice(0, 16)}`;
}

/** A stable, short exam id derived from the StudyInstanceUID (salted too when a salt is given). */
export function examIdFor(studyInstanceUid: string, salt?: string): string {
  return `ex_${createHash("sha256")
    .update(`${salt ?? ""}:${studyInstanceUid}`)
    .digest("hex")
    .slice(0, 12)}`;
}
