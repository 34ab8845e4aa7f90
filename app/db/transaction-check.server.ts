/**
 * The test suite's check that every statement made inside a transaction goes through that
 * transaction's handle (docs/decisions/056-explicit-transaction-handles.md).
 *
 * A transaction is an argument: `ctx.store.transaction(async (tx) => …)` and everything the callback
 * calls uses `tx`. A statement on the store's own handle (`ctx.db`, a hot-path function given
 * `ctx.db`) belongs to no transaction. Made inside a callback by mistake, on SQLite it waits for the
 * transaction it was meant to be part of (a deadlock), and on PostgreSQL it runs on another
 * connection, outside the transaction's atomicity and behind its row locks.
 *
 * Nothing in production needs to know which transaction a continuation belongs to, so nothing
 * there tracks it: AsyncLocalStorage costs every promise in the process (Node 20 implements it
 * with promise hooks), about a fifth of an MCP request's CPU. With TOOLGATE_CHECK_TRANSACTIONS=1
 * (set by the test configurations) the stores enter each transaction's frame here, and a statement
 * or a transaction started on the store's own handle inside an open frame throws at once, naming
 * the mistake, instead of hanging the test.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** Whether the transaction of the callback being run is still open (each store tells it its way). */
type IsOpen = () => boolean;

const scope = process.env.TOOLGATE_CHECK_TRANSACTIONS === "1" ? new AsyncLocalStorage<IsOpen>() : null;

export class TransactionHandleError extends Error {
  constructor(what: string) {
    super(`${what} inside an open transaction: pass the transaction's handle (tx) instead`);
    this.name = "TransactionHandleError";
  }
}

/** Runs a transaction's callback; under the check, inside a frame that knows whether it is open. */
export function inCheckedFrame<T>(isOpen: IsOpen, work: () => T): T {
  return scope ? scope.run(isOpen, work) : work();
}

/** Under the check, throws when called inside an open transaction's callback. */
export function assertOutsideTransaction(what: string): void {
  if (scope?.getStore()?.()) throw new TransactionHandleError(what);
}
