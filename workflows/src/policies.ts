// Timeouts and retries shared by the workflows' activity proxies, by profile.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { ActivityCancellationType, ActivityFailure, ApplicationFailure } from '@temporalio/workflow';

/**
 * Errors that no retry can fix (bad configuration or data, or an activity that has failed too often):
 * recorded at once. The names are those of the error classes the libs throw.
 */
export const DETERMINISTIC_ERRORS = ['SpecError', 'ScheduleError', 'DatasetError', 'NpyError', 'RangeError', 'AttemptsExhausted'];

/**
 * A stored artifact failed verification (libs/store ArtifactIntegrityError): the activity removed it, so retrying
 * the activity cannot help, but planning again recomputes it. Workflows that read artifacts loop on it.
 */
export const ARTIFACT_INTEGRITY_ERROR = 'ArtifactIntegrityError';
/** Rounds of recompute-and-retry after a failed verification before the workflow fails (a disk that keeps corrupting). */
export const MAX_INTEGRITY_ROUNDS = 3;

/** The activity found a stored artifact missing or corrupt (and removed it): plan again. */
export const isArtifactIntegrityFailure = (err: unknown): boolean =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === ARTIFACT_INTEGRITY_ERROR;

/**
 * Work that may run for minutes to hours (training, kernel blocks, solves). It heartbeats, so a dead worker
 * is noticed within the heartbeat timeout (a worker starting on the same host fails its lost attempts at
 * once). Interruptions are not failures, so Temporal retries without a cap; the activity counts its own
 * failures and gives up (AttemptsExhausted) after a few. Cancellation waits for the activity to stop, so a
 * training's checkpoint is written before its trial is recorded as interrupted.
 */
export const LONG_RUNNING: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [...DETERMINISTIC_ERRORS, ARTIFACT_INTEGRITY_ERROR],
  },
};

/** Store reads and writes: seconds at most. */
export const BOOKKEEPING: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10, nonRetryableErrorTypes: DETERMINISTIC_ERRORS },
};

/** Planning a sweep (expansion written to the store): one transaction, up to a minute for 10⁵ trials. */
export const PLANNING: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10, nonRetryableErrorTypes: DETERMINISTIC_ERRORS },
};

/**
 * A quick read of this store on the workflow's own worker (the cpu queue's, which serves the store's
 * bookkeeping anyway): a local activity, recorded in the workflow task that asked for it, with no
 * activity task round trip through the server. Too slow for anything that writes or computes.
 */
export const LOCAL_CHECK: LocalActivityOptions = { startToCloseTimeout: '1 minute', retry: BOOKKEEPING.retry };
