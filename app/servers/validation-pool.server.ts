import os from "node:os";
import { Worker } from "node:worker_threads";

/**
 * A small pool of worker threads that validate tool arguments whose cost is not provably small
 * (docs/decisions/025-bounded-argument-validation.md). A job still waiting for a worker when its
 * budget is over is answered "timeout" and dropped; a job still running when its budget is over
 * (counted after the schema is compiled, which has its own bound) is answered "timeout" and its
 * worker is terminated (the only way to stop synchronous JavaScript) and replaced. The event loop of the server only posts and receives
 * messages, so a hostile schema/argument pair costs one worker for at most the budget.
 */

export type PoolAnswer = (
  | { kind: "valid" }
  | { kind: "invalid"; errors: { instancePath: string; message: string }[] }
  | { kind: "schema_error"; message: string }
  | { kind: "timeout" }
  | { kind: "busy" }
) & {
  /** Ajv's standalone code of the schema, when asked for and it compiled. */
  code?: string;
};

type Job = {
  id: number;
  key: string;
  schema: string;
  input: string;
  wantCode: boolean;
  budgetMs: number;
  timer: NodeJS.Timeout | undefined;
  settle: (answer: PoolAnswer) => void;
};

type Slot = { worker: Worker; ready: boolean; job: Job | null };

/**
 * At most two workers, and always one core left for the event loop: a worker spinning on a
 * hostile job must not take the CPU the other requests need (on 2 cores: one worker).
 */
export const POOL_SIZE = Math.max(1, Math.min(2, os.availableParallelism() - 1));
/** Jobs waiting beyond this are refused at once ("busy") rather than queued. */
export const MAX_QUEUED = 64;
/** A worker that allocates past this is stopped by V8 and replaced; the job fails as a timeout. */
const WORKER_HEAP_MB = 128;
/** Extra waiting allowed while no worker has started yet (loading Ajv takes a few hundred ms). */
const STARTUP_ALLOWANCE_MS = 5_000;
/**
 * Time for compiling a schema the worker has not compiled yet, before the validation budget
 * starts: compiling the largest schema a tool may have takes up to about a second, and a tool
 * whose first call always timed out while compiling could never be called at all.
 */
export const COMPILE_BUDGET_MS = 10_000;

class ValidationPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;

  constructor(private readonly source: () => string) {}

  /**
   * A job waits at most `budgetMs` for a worker (plus a start-up allowance while none is ready)
   * and runs at most `budgetMs`: a call is answered within twice its budget whatever others send.
   */
  submit(
    key: string,
    schema: string,
    input: string,
    budgetMs: number,
    wantCode: boolean,
  ): Promise<PoolAnswer> {
    if (this.queue.length >= MAX_QUEUED) return Promise.resolve({ kind: "busy" });
    return new Promise((resolve) => {
      const job: Job = {
        id: this.nextId++,
        key,
        schema,
        input,
        wantCode,
        budgetMs,
        timer: undefined,
        settle: (answer) => {
          clearTimeout(job.timer);
          job.settle = () => undefined;
          resolve(answer);
        },
      };
      const wait = budgetMs + (this.slots.some((s) => s.ready) ? 0 : STARTUP_ALLOWANCE_MS);
      job.timer = setTimeout(() => this.expire(job), wait);
      this.queue.push(job);
      this.drain();
    });
  }

  /**
   * Spawns the workers so that the first job does not wait for them to load, and with `spare` the
   * spare too. The server starts without the spare (8 MiB it would hold idle); the first job
   * starts it, and it has loaded (~250 ms) long before that job could overrun its budget.
   */
  warm(spare: boolean): void {
    while (this.slots.length < POOL_SIZE + (spare ? 1 : 0)) this.slots.push(this.spawn());
  }

  /** The time is over: drop a waiting job, or stop the worker running it. */
  private expire(job: Job): void {
    const waiting = this.queue.indexOf(job);
    if (waiting >= 0) this.queue.splice(waiting, 1);
    const slot = this.slots.find((s) => s.job === job);
    if (slot) this.replace(slot);
    job.settle({ kind: "timeout" });
    this.drain();
  }

  private drain(): void {
    while (this.queue.length > 0) {
      // One spare worker beyond those that may run at once: a worker stopped for overrunning is
      // replaced by one that has already loaded, so the next job does not wait for a start.
      this.warm(true);
      if (this.slots.filter((s) => s.job !== null).length >= POOL_SIZE) return;
      const slot = this.slots.find((s) => s.ready && s.job === null);
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      clearTimeout(job.timer);
      // The worker says "compiled" when it had to compile; the validation budget starts then.
      job.timer = setTimeout(() => this.expire(job), COMPILE_BUDGET_MS + job.budgetMs);
      slot.worker.postMessage({
        id: job.id,
        key: job.key,
        schema: job.schema,
        input: job.input,
        wantCode: job.wantCode,
      });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(this.source(), {
      eval: true,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    const slot: Slot = { worker, ready: false, job: null };
    worker.on(
      "message",
      (answer: (PoolAnswer & { id: number }) | { ready: true } | { id: number; compiled: true }) => {
        if ("ready" in answer) {
          slot.ready = true;
          this.drain();
          return;
        }
        if ("compiled" in answer) {
          const job = slot.job;
          if (job?.id === answer.id) {
            clearTimeout(job.timer);
            job.timer = setTimeout(() => this.expire(job), job.budgetMs);
          }
          return;
        }
        if (!slot.job || slot.job.id !== answer.id) return;
        const job = slot.job;
        slot.job = null;
        const { id: _id, ...rest } = answer;
        void _id;
        job.settle(rest as PoolAnswer);
        this.drain();
      },
    );
    const lost = () => {
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      this.slots.splice(index, 1);
      // Out of memory or a crash: the job cannot finish; report it like an overrun.
      slot.job?.settle({ kind: "timeout" });
      // A worker that dies before it is ready would die again: leave the waiting jobs to time out.
      if (slot.ready) this.drain();
    };
    worker.on("error", lost);
    worker.on("exit", lost);
    // Workers must not keep a stopping server, a CLI command or a test process alive. After the
    // listeners: adding a "message" listener refs the worker's port again.
    worker.unref();
    return slot;
  }

  private replace(slot: Slot): void {
    const old = slot.worker;
    this.slots.splice(this.slots.indexOf(slot), 1);
    old.removeAllListeners("exit");
    old.removeAllListeners("error");
    old.on("error", () => undefined);
    void old.terminate();
    this.slots.push(this.spawn());
  }
}

let pool: ValidationPool | undefined;

/** Starts the workers now rather than on the first call that needs one (the server does at start). */
export function startValidationPool(source: () => string): void {
  pool ??= new ValidationPool(source);
  pool.warm(false);
}

/**
 * Validates `input` (JSON text) against `schema` (JSON text) in a worker within `budgetMs`;
 * `wantCode` asks for the schema's standalone validation code too.
 */
export function validateInPool(
  source: () => string,
  key: string,
  schema: string,
  input: string,
  budgetMs: number,
  wantCode = false,
): Promise<PoolAnswer> {
  pool ??= new ValidationPool(source);
  return pool.submit(key, schema, input, budgetMs, wantCode);
}
