/**
 * Setup file of the `postgres` project: keeps a few fresh databases (copies of the migrated
 * template) ready, so that createTestContext, which is synchronous, can hand one out; drops them
 * after the file.
 */
import { afterAll, beforeAll, beforeEach } from "vitest";
import { dropPostgresTestDatabases, preparePostgresTestDatabases } from "../helpers/postgres-store";

beforeAll(() => preparePostgresTestDatabases());
beforeEach(() => preparePostgresTestDatabases());
afterAll(() => dropPostgresTestDatabases());
