// Choosing one series per role for an exam when several qualify.
import { classifySeries, selectFrames } from "./classify.ts";
import { overrideMatchesSeries, type SeriesOverride } from "./overrides.ts";
import { DEFAULT_RULES, type RoleRules } from "./rules.ts";
import { type MrFrame, type RoleDecision, SERIES_ROLES, type SeriesInfo, type SeriesRole } from "./types.ts";

export interface RoleCandidate {
  series: SeriesInfo;
  decision: RoleDecision;
  /** The frames the decision takes (one echo of a dual-echo series, or the whole series). */
  frames: MrFrame[];
}

export interface RoleChoice extends RoleCandidate {
  role: SeriesRole;
  /** Why this candidate won over the others (empty when it was the only one). */
  reasons: string[];
  /** The other candidates, best first, each with the rule that ranked it lower. */
  alternatives: (RoleCandidate & { whyNot: string })[];
}

export interface ExamRoles {
  chosen: Partial<Record<SeriesRole, RoleChoice>>;
  /** Every decision for every series, in input order (for `inspect`). */
  decisions: { series: SeriesInfo; decisions: RoleDecision[] }[];
}

function isDerived(s: SeriesInfo): boolean {
  return s.imageType[0] === "DERIVED" || s.imageType[1] === "SECONDARY";
}

function fatSuppressed(s: SeriesInfo): boolean {
  const d = `${s.seriesDescription ?? ""} ${s.protocolName ?? ""}`.toLowerCase().replace(/_/g, " ");
  return (
    (s.scanOptions ?? []).some((o) => /^(FS|SFS|FAT|FATSAT|FAT_SAT|SAT_FAT|CHESS|SPAIR|SPIR|IR)$/.test(o)) ||
    /\b(fs|fat ?sat\w*|fat ?supp\w*|spair|spir|chess|stir)\b/.test(d)
  );
}

// Ranking rules in order; the first that separates two candidates decides, and names itself.
type Rule = { name: string; key: (c: RoleCandidate, role: SeriesRole) => number };

function rankingRules(rules: RoleRules): Rule[] {
  const list: Rule[] = [
    {
      name: "stronger evidence for the role (forced > ImageType > echo time > description)",
      key: (c) => c.decision.strength ?? 0,
    },
    { name: "original acquisition preferred over a derived one", key: (c) => (isDerived(c.series) ? 0 : 1) },
  ];
  if (rules.preferT2FatSuppressed !== undefined) {
    list.push({
      name: rules.preferT2FatSuppressed
        ? "fat-suppressed T2w preferred"
        : "T2w without fat suppression preferred",
      key: (c, role) => (role !== "t2" ? 0 : fatSuppressed(c.series) === rules.preferT2FatSuppressed ? 1 : 0),
    });
  }
  list.push(
    {
      name: "more slices",
      key: (c) => new Set(c.frames.map((f) => f.imagePositionPatientMm.join(","))).size,
    },
    // A repeated acquisition is usually repeated because the first one failed (motion, breath-hold).
    {
      name: "later series (a repeat usually replaces a failed acquisition)",
      key: (c) => c.series.seriesNumber ?? 0,
    },
  );
  return list;
}

/** Evidence strength of a per-exam override: above the rules file's forced roles (4). */
export const OVERRIDE_STRENGTH = 5;

const sameEcho = (a?: number, b?: number) => a !== undefined && b !== undefined && Math.abs(a - b) < 0.01;

/**
 * The classifier's decisions for one series with the exam's overrides applied: "none" takes every role
 * from the series; a role replaces the series' decision for that role (or for that echo) and leaves its
 * other echoes' decisions as they were.
 */
function withOverrides(
  s: SeriesInfo,
  decisions: RoleDecision[],
  overrides: readonly SeriesOverride[],
): RoleDecision[] {
  const mine = overrides.filter((o) => overrideMatchesSeries(o, s));
  if (mine.length === 0) return decisions;
  const none = mine.find((o) => o.role === "none");
  if (none) return [{ role: null, reasons: [`no role: per-exam override ${none.source}`] }];
  let out = decisions;
  for (const o of mine) {
    const role = o.role as SeriesRole;
    const d: RoleDecision = {
      role,
      strength: OVERRIDE_STRENGTH,
      reasons: [
        `${role} by per-exam override ${o.source}${o.echoTimeMs !== undefined ? ` (echo ${o.echoTimeMs} ms)` : ""}`,
      ],
    };
    if (o.echoTimeMs !== undefined) d.echoTimeMs = o.echoTimeMs;
    out = [
      ...out.filter((x) => x.role !== null && x.role !== role && !sameEcho(x.echoTimeMs, o.echoTimeMs)),
      d,
    ];
  }
  return out;
}

/**
 * Classifies every series of one exam and picks the best candidate per role. Ranking, in order: evidence
 * strength; original over derived; the T2 fat-suppression preference of the rules (when set); more
 * slices; later series number. Each choice says which rule beat each alternative. `overrides` (the
 * exam's own rows of a per-exam overrides file) beat every rule: a role an override gives goes to that
 * series alone.
 */
export function pickSeriesForRoles(
  series: SeriesInfo[],
  rules: RoleRules = DEFAULT_RULES,
  overrides: readonly SeriesOverride[] = [],
): ExamRoles {
  const decisions = series.map((s) => ({
    series: s,
    decisions: withOverrides(s, classifySeries(s, rules), overrides),
  }));
  const ranking = rankingRules(rules);
  const chosen: ExamRoles["chosen"] = {};
  for (const role of SERIES_ROLES) {
    let cands: RoleCandidate[] = [];
    for (const { series: s, decisions: ds } of decisions) {
      for (const d of ds)
        if (d.role === role) cands.push({ series: s, decision: d, frames: selectFrames(s, d) });
    }
    if (cands.length === 0) continue;
    // An overridden role is not a contest: the other candidates are not alternatives to a person's choice.
    const forced = cands.filter((c) => c.decision.strength === OVERRIDE_STRENGTH);
    if (forced.length > 0) cands = forced;
    const compare = (a: RoleCandidate, b: RoleCandidate): { diff: number; rule?: string } => {
      for (const r of ranking) {
        const diff = r.key(b, role) - r.key(a, role);
        if (diff !== 0) return { diff, rule: r.name };
      }
      const ida = a.series.seriesId ?? a.series.seriesInstanceUid;
      const idb = b.series.seriesId ?? b.series.seriesInstanceUid;
      return { diff: ida < idb ? -1 : ida > idb ? 1 : 0 };
    };
    cands.sort((a, b) => compare(a, b).diff);
    const best = cands[0]!;
    const alternatives = cands
      .slice(1)
      .map((c) => ({ ...c, whyNot: compare(best, c).rule ?? "tie, broken by UID" }));
    const reasons = alternatives.length
      ? [
          `chosen over ${alternatives.length} other candidate(s): ${[...new Set(alternatives.map((a) => a.whyNot))].join("; ")}`,
        ]
      : [];
    chosen[role] = { role, ...best, reasons, alternatives };
  }
  return { chosen, decisions };
}
