/**
 * The Activity page's reads that decision 026 bounds (activity-bounded.test.ts on SQLite,
 * activity-bounded-postgres.test.ts on PostgreSQL), each made through the file's own measure.
 */
import { expect } from "vitest";
import { listActivity } from "~/access/activity.server";
import type { AppContext } from "~/context.server";

/** What a measure gives back: the read's value and what it cost, as the file counts it. */
export type Measured<T, C> = { value: T; cost: C };

/**
 * The first page, a page of one kind, a page of one client and the page before the first, with
 * their answers checked. `clients[0]` made the many events, the others one approval each.
 */
export async function boundedActivityReads<C>(
  ctx: AppContext,
  serverId: string,
  clients: string[],
  measure: <T>(read: () => Promise<T>) => Promise<Measured<T, C>>,
): Promise<C[]> {
  const first = await measure(() => listActivity(ctx, { serverId }));
  expect(first.value.events).toHaveLength(50);
  const rare = await measure(() => listActivity(ctx, { serverId, kind: "authorization.approved" }));
  expect(rare.value.events).toHaveLength(clients.length - 1);
  const quiet = await measure(() => listActivity(ctx, { serverId, clientId: clients[1] }));
  expect(quiet.value.events).toHaveLength(1);
  const older = await measure(() => listActivity(ctx, { serverId, before: first.value.nextBefore }));
  expect(older.value.events[0]!.id).toBeLessThan(first.value.events.at(-1)!.id);
  return [first.cost, rare.cost, quiet.cost, older.cost];
}
