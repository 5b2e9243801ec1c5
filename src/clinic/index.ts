// clinic/: `liverstiff serve`, a long-running service that composes deploy/. It receives studies (an upload
// to its web app or JSON API, new MR studies found on a PACS through DICOMweb, or studies pushed to its
// DICOM C-STORE listener), keeps one job per received version of a study in SQLite, predicts them one at
// a time with the bundle loaded once, sends the SR and Secondary Capture back (STOW-RS into the PACS
// study, or C-STORE to a DICOM node), and logs every action in an audit table. It never trains, and
// reaches the outside world only through DICOMweb, DIMSE and HTTP on addresses the user gives it. See
// docs/deploy.md, "The hospital set-up: liverstiff serve".
export {
  type DicomJson,
  DicomWebClient,
  jsonNumber,
  jsonString,
  multipartBoundary,
  multipartParts,
  TAG,
} from "./dicomweb.ts";
export {
  checkAeTitle,
  cStore,
  DEFAULT_AE_TITLE,
  DEFAULT_STUDY_IDLE_SECONDS,
  type DicomNode,
  type DimseOptions,
  DimseReceiver,
  type DimseStatus,
  dimseAttachment,
  parseDicomNode,
} from "./dimse.ts";
export { CONTENT_SECURITY_POLICY, type HttpContext, requestHandler } from "./http.ts";
export { escapeHtml, html, NOTICE } from "./pages.ts";
export {
  DEFAULT_POLL_SECONDS,
  type PacsOptions,
  PacsPoller,
  type PacsStatus,
  pacsAttachment,
} from "./poller.ts";
export type { OrgansFrom } from "./predict-process.ts";
export { instanceDigest, jobPaths, type ReceivedStudy, receiveFiles, stagingDir } from "./receive.ts";
export {
  type AttachContext,
  type Attached,
  type Attachment,
  type AttachmentName,
  checkToken,
  DEFAULT_HOST,
  DEFAULT_PORT,
  isLoopbackHost,
  MIN_TOKEN_LENGTH,
  type RunningService,
  type ServiceOptions,
  startService,
} from "./service.ts";
export {
  type Admission,
  type AuditEntry,
  JOBS_FILE,
  type Job,
  type JobSource,
  type JobState,
  JobStore,
  type NewStudy,
  type StoreState,
} from "./store.ts";
export {
  checkEntryName,
  DEFAULT_UPLOAD_LIMITS,
  stageUpload,
  UploadError,
  type UploadLimits,
} from "./upload.ts";
export { MAX_ATTEMPTS, PredictionWorker, type WorkerOptions } from "./worker.ts";
