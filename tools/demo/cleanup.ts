// What the demo made, recorded as it goes and undone in reverse: the webhook stops before its
// configuration is deleted, the services before their namespaces, the control plane (if the demo
// started it) and the work dir last.
import { out } from './output.ts';

interface Undo {
  readonly what: string;
  readonly undo: () => Promise<void>;
}

export class CleanUp {
  readonly #made: Undo[] = [];
  #running: Promise<void> | undefined;

  /** Records how to undo something the demo is about to make; `what` names it in a warning. */
  add(what: string, undo: () => Promise<void>): void {
    this.#made.push({ what, undo });
  }

  /** Undoes everything recorded, newest first; idempotent, never throws (failures are warned). */
  run(): Promise<void> {
    return (this.#running ??= this.#run());
  }

  async #run(): Promise<void> {
    out('==> cleaning up');
    for (const { what, undo } of [...this.#made].reverse()) {
      try {
        await undo();
      } catch (error) {
        process.stderr.write(
          `demo: cleanup: ${what}: ${error instanceof Error ? error.message : String(error)}\n`,
        );
      }
    }
  }
}
