// One fuzz worker process: reads each mutant it is sent (header, frames, pixels) and answers with the
// outcome. It runs under the parent's watchdog (time, heap and resident memory), so it decodes without
// the in-process size cap of the tests.
import { checkFile } from "../../test/dicom/fuzz/check.ts";

process.on("message", async (m: { index: number; path: string }) => {
  const result = await checkFile(m.path, { maxFrames: 4, maxFrameBytes: Number.POSITIVE_INFINITY });
  process.send?.({ index: m.index, result });
});
process.send?.({ ready: true });
