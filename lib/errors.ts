// The few error classes of inforge. Each carries data; messages are one sentence:
// lowercase, the bad value quoted, what was expected and how to fix it.

export type Posture = "root" | "ci";

/** A problem with what the operator gave us: arguments, config, region files, identities. */
export class InputError extends Error {
  override name = "InputError";
}

/** The operation needs an identity (posture) that this environment does not hold. */
export class PostureError extends Error {
  override name = "PostureError";
  readonly posture: Posture;
  constructor(message: string, posture: Posture) {
    super(message);
    this.posture = posture;
  }
}

/** The state on disk is not what the tool expects (corrupt, foreign, tampered, inconsistent). */
export class StateError extends Error {
  override name = "StateError";
}

/** One broken rule, as data (the checker collects these; it never throws). */
export interface Issue {
  readonly code: string;
  readonly message: string;
  readonly step?: number;
  readonly origin?: string;
}

/** A plan or a state broke one or more trust invariants; nothing was applied. */
export class CheckError extends Error {
  override name = "CheckError";
  readonly issues: readonly Issue[];
  constructor(message: string, issues: readonly Issue[]) {
    super(message);
    this.issues = issues;
  }
}
