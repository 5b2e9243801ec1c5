// Worker thread for indexDicom: reads the headers of the files it is sent and answers with the outcomes.
import { parentPort } from "node:worker_threads";
import { indexOneFile } from "./indexer.ts";

parentPort?.on("message", (files: string[]) => {
  parentPort?.postMessage(files.map((f) => indexOneFile(f)));
});
