import { WorkflowExecutionAlreadyStartedError, type Workflow, type WorkflowResultType } from '@temporalio/common';
import { executeChild, sleep, type ChildWorkflowOptions } from '@temporalio/workflow';

/**
 * Runs a child workflow (on this workflow's task queue) under a content-derived id. If another parent is
 * already running that id (two trials needing one kernel, two sweeps sharing a trial), wait and start
 * again: by then the work is stored, so the new run only finds it and returns.
 */
export async function executeChildOnce<W extends Workflow>(workflow: W, workflowId: string, args: Parameters<W>): Promise<WorkflowResultType<W>> {
  const options = { workflowId, args } as ChildWorkflowOptions & { args: Parameters<W> };
  for (;;) {
    try {
      return await executeChild(workflow, options as never);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await sleep('2 seconds');
    }
  }
}
