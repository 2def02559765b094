// SPDX-License-Identifier: Apache-2.0
// Undo steps for a multi-step ADD: each step that made something registers how to unmake it, and a failure
// unwinds them newest first, so a failed ADD leaves neither an interface nor an address behind.

export class Rollback {
  private readonly steps: { what: string; undo: () => unknown }[] = [];

  push(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Runs every undo step even if some fail; returns the failures so the caller can report them with the cause. */
  async unwind(): Promise<string[]> {
    const failures: string[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.undo();
      } catch (err) {
        failures.push(`${step.what}: ${(err as Error).message}`);
      }
    }
    this.steps.length = 0;
    return failures;
  }
}
