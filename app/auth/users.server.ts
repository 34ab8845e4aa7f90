import { count, eq } from "drizzle-orm";
import { z } from "zod";
import { ifMissing } from "~/utils/zod-messages";
import type { AppContext } from "~/context.server";
import { isUniqueViolation } from "~/db/errors.server";
import type { Tx } from "~/db/store.server";
import { hashPassword, newId } from "~/utils/crypto.server";

export const emailSchema = z
  .string(ifMissing("Email is required"))
  .trim()
  .min(1, "Email is required")
  .max(254, "Email must be at most 254 characters")
  .email("Enter a valid email address")
  .transform((e) => e.toLowerCase());

export const passwordSchema = z
  .string(ifMissing("Password is required"))
  .min(10, "Password must be at least 10 characters")
  .max(256, "Password must be at most 256 characters");

export class UserExistsError extends Error {
  override name = "UserExistsError";
}

/** The first-run form lost to another account creation: the workspace has its owner already. */
export class SetupDoneError extends Error {
  override name = "SetupDoneError";
}

export async function countUsers(ctx: AppContext, tx: Tx = ctx.db): Promise<number> {
  const { users } = ctx.store.tables;
  return (await tx.select({ n: count() }).from(users).limit(1))[0]?.n ?? 0;
}

export async function findUserByEmail(ctx: AppContext, email: string) {
  const { users } = ctx.store.tables;
  return (await ctx.db.select().from(users).where(eq(users.email, email.trim().toLowerCase())).limit(1))[0] ?? null;
}

/**
 * Creates an account. The email is normalised to lower case; it must be unused. The insert runs in
 * one BEGIN IMMEDIATE transaction with what must hold or happen with it, so no other writer (another
 * request, the CLI in another process) can come between the check and the insert:
 * - `onlyFirst`: the workspace has no account yet (the first-run owner), else SetupDoneError;
 * - `alsoWrite`: further writes that belong to the new account (a provider identity, a used-up
 *   invitation), rolled back with it.
 */
export async function createUser(
  ctx: AppContext,
  input: { email: string; password?: string | null; name?: string | null; role?: "owner" | "member" },
  options: { onlyFirst?: boolean; alsoWrite?: (tx: Tx, userId: string) => Promise<void> } = {},
) {
  const { users } = ctx.store.tables;
  const email = emailSchema.parse(input.email);
  // Hashing yields to the event loop, so it happens before the transaction, never inside it.
  const passwordHash = input.password ? await hashPassword(passwordSchema.parse(input.password)) : null;
  const now = ctx.now();
  const row = {
    id: newId(),
    email,
    name: input.name?.trim() || null,
    passwordHash,
    role: input.role ?? "member",
    createdAt: now,
    updatedAt: now,
  } as const;
  try {
    await ctx.store.transaction(async (tx) => {
      if (options.onlyFirst && (await countUsers(ctx, tx)) > 0) throw new SetupDoneError("The workspace already has an owner");
      await tx.insert(users).values(row);
      await options.alsoWrite?.(tx, row.id);
    });
  } catch (error) {
    if (isUniqueViolation(error, { name: "users_email_unique", sqliteColumns: "users.email" })) {
      throw new UserExistsError(`A user with the email ${email} already exists`);
    }
    throw error;
  }
  return row;
}
