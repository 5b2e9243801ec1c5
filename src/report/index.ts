// report/: turns a validation run folder (metrics.json, manifest.json, predictions.csv) into report.html,
// one self-contained page (inline CSS and SVG, no scripts, no network) that opens offline. See docs/report.md.
// It also renders a work folder's QC page (qc.html: each exam's chosen series, central slices and why; one
// small inline script for its filter). See docs/ingest.md.
import { join } from "node:path";
import { writeFileAtomic } from "../core/index.ts";
import { readRunFolder } from "./load.ts";
import { type RenderOptions, renderReport } from "./render.ts";

export { checkMetrics, type KpaPoint, type RunFolder, readKpaPoints, readRunFolder } from "./load.ts";
export { DEEPLIVERNET2 } from "./published.ts";
export {
  examWarnings,
  preparationsIn,
  QC_NOTICE,
  QC_ROLES,
  type QcCounts,
  type QcOptions,
  type QcPage,
  renderQcPage,
  type WriteQcOptions,
  writeQcPage,
} from "./qc.ts";
export { type RenderOptions, renderReport } from "./render.ts";
export { headlineText } from "./sections/headline.ts";
export {
  centralSliceIndex,
  percentileWindow,
  sliceThumbnail,
  THUMBNAIL_MAX_PX,
  type Thumbnail,
} from "./thumbnail.ts";

export interface WriteReportOptions extends Omit<RenderOptions, "kpaPoints"> {
  /** Where to write the page (default RUN_DIR/report.html). */
  out?: string;
}

/** Reads a run folder and writes its report.html atomically; returns the path written. */
export async function writeReport(runDir: string, opts: WriteReportOptions = {}): Promise<{ path: string }> {
  const { metrics, manifest, kpaPoints } = readRunFolder(runDir);
  const { out, ...render } = opts;
  const html = await renderReport(metrics, manifest, { runDir, ...render, kpaPoints });
  const path = out ?? join(runDir, "report.html");
  writeFileAtomic(path, html);
  return { path };
}
