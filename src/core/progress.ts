/**
 * Stages report progress through a sink passed in by the caller; only cli/ turns events into bars.
 * `total` may be unknown (undefined) while a stage is still discovering its work.
 */
export interface ProgressEvent {
  stage: string;
  done: number;
  total?: number;
  message?: string;
}

export type ProgressSink = (event: ProgressEvent) => void;

export const silentProgress: ProgressSink = () => {};
