// How an exam's series get their roles: the role rules plus the per-exam overrides. Ingest records the
// choice it made in the work folder; train stores it in the bundle; predict applies it (or a site's own),
// so that training and prediction pick series the same way.
import { createHash } from "node:crypto";
import { LiverstiffError } from "../core/index.ts";
import { loadSeriesOverrides, parseSeriesOverrides, type SeriesOverride } from "./overrides.ts";
import {
  buildRoleRules,
  DEFAULT_RULES,
  loadRoleRules,
  type RoleRules,
  type RoleRulesFile,
  rulesAsFile,
} from "./rules.ts";

export interface SeriesChoice {
  rules: RoleRules;
  /** Where the rules came from: "defaults", a file name, or "bundle". */
  rulesSource: string;
  overrides: SeriesOverride[];
  /** The overrides files, in the order they were layered (empty: none). */
  overridesSources: string[];
}

/** The JSON form, as the catalog and the bundle store it: complete rules, overrides as rows. */
export interface SeriesChoiceRecord {
  rules: RoleRulesFile;
  rulesSource: string;
  overrides: SeriesOverride[];
  overridesSources: string[];
  /** sha256 of the rules and overrides (hex, first 16): the same digest means the same choice. */
  digest: string;
}

/** The choice from the default rules and no overrides. */
export function defaultSeriesChoice(): SeriesChoice {
  return { rules: DEFAULT_RULES, rulesSource: "defaults", overrides: [], overridesSources: [] };
}

/** A rules or overrides file as a choice names its source: the file name alone, never a machine path. */
export const sourceName = (path: string) => path.split(/[\\/]/).pop() ?? path;

/** Reads a rules file and an overrides file (either optional) into one choice. */
export function loadSeriesChoice(
  files: { rulesPath?: string; overridesPath?: string },
  loadRules: (path: string) => RoleRules = loadRoleRules,
): SeriesChoice {
  const choice = defaultSeriesChoice();
  if (files.rulesPath) {
    choice.rules = loadRules(files.rulesPath);
    choice.rulesSource = sourceName(files.rulesPath);
  }
  if (files.overridesPath) {
    choice.overrides = loadSeriesOverrides(files.overridesPath);
    choice.overridesSources = [sourceName(files.overridesPath)];
  }
  return choice;
}

export function seriesChoiceRecord(choice: SeriesChoice): SeriesChoiceRecord {
  const rules = rulesAsFile(choice.rules);
  const overrides = choice.overrides.map((o) => ({ ...o }));
  const digest = createHash("sha256")
    .update(JSON.stringify({ rules, overrides: overrides.map(({ source: _s, ...o }) => o) }))
    .digest("hex")
    .slice(0, 16);
  return {
    rules,
    rulesSource: choice.rulesSource,
    overrides,
    overridesSources: choice.overridesSources,
    digest,
  };
}

/** A stored record back into a choice, every rule and row checked again; errors name `where`. */
export function seriesChoiceFromRecord(record: unknown, where: string): SeriesChoice {
  const r = record as Partial<SeriesChoiceRecord> | null;
  if (!r || typeof r !== "object" || !Array.isArray(r.overrides) || typeof r.rulesSource !== "string")
    throw new LiverstiffError("the stored series choice is malformed", {
      file: where,
      field: "seriesChoice",
    });
  const rules = buildRoleRules(r.rules, `${where} (seriesChoice.rules)`);
  const rows = r.overrides.map((o) => ({
    accession: o.accession,
    study_instance_uid: o.studyInstanceUid,
    series_number: o.seriesNumber,
    series_instance_uid: o.seriesInstanceUid,
    role: o.role,
    echo_time_ms: o.echoTimeMs,
  }));
  const checked = parseSeriesOverrides(
    JSON.stringify(rows.map((row) => JSON.parse(JSON.stringify(row)))),
    `${where}.json`,
  );
  const overrides = checked.map((o, i) => ({ ...o, source: r.overrides![i]!.source ?? o.source }));
  return {
    rules,
    rulesSource: r.rulesSource,
    overrides,
    overridesSources: Array.isArray(r.overridesSources) ? r.overridesSources.map(String) : [],
  };
}
