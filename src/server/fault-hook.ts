// The durable step boundaries of the log, where a test injects a fault (a thrown error, or kill -9
// of the process). The hook is passed in at start-up (startLogServer, Sequencer, Publisher options),
// never read from the environment; production passes none.
//
// The guarantee each boundary is tested for: a fault there loses nothing that was acknowledged,
// leaves nothing partial in the tree, and signs nothing that is not stored.

export type DurableStep =
  /** Sequencer step 2 committed: the batch's entry bytes and payloads are stored, not in the tree. */
  | "staged"
  /** Sequencer step 3: every statement of the integration sent and checked, before COMMIT. */
  | "integrating"
  /** Sequencer step 3 committed; no submitter answered yet. */
  | "integrated"
  /** Publisher: the committed tree re-derived from the stored tiles and checked; not signed yet. */
  | "verified"
  /** Publisher: the checkpoint signed; not stored (so not served) yet. */
  | "signed";

/** Called at each boundary; what it throws fails the step in progress. */
export type FaultHook = (step: DurableStep) => void | Promise<void>;
