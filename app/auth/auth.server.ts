import { Authenticator } from "remix-auth";
import { FormStrategy } from "remix-auth-form";
import type { AppContext } from "~/context.server";
import { dummyPasswordHash, verifyPassword } from "~/utils/crypto.server";
import { recordFailure, recordSuccess, retryAfterMs, throttleKeys } from "./throttle.server";
import { findUserByEmail } from "./users.server";

/** A sign-in refusal whose message is safe to show on the page. */
export class SignInError extends Error {
  override name = "SignInError";
  constructor(
    message: string,
    readonly status: 400 | 401 | 429 = 401,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export type AuthUser = { id: string };

/**
 * The remix-auth authenticator for one request. It is cheap to build, and building it per request
 * lets the form strategy see the client address (for throttling) from the load context.
 */
export function createAuthenticator(ctx: AppContext, clientAddress: string) {
  const authenticator = new Authenticator<AuthUser>();
  authenticator.use(
    new FormStrategy(async ({ form }) => {
      const email = String(form.get("email") ?? "").trim().toLowerCase();
      const password = String(form.get("password") ?? "");
      if (!email) throw new SignInError("Enter your email address", 400);
      if (!password) throw new SignInError("Enter your password", 400);
      if (email.length > 254 || password.length > 256) throw new SignInError("Email or password is incorrect");
      const keys = throttleKeys(email, clientAddress);
      const wait = retryAfterMs(ctx, keys);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        throw new SignInError(
          `Too many failed sign-in attempts. Try again in ${seconds} second${seconds === 1 ? "" : "s"}.`,
          429,
          seconds,
        );
      }
      const user = findUserByEmail(ctx, email);
      // Always spend one scrypt so response time does not tell whether the account exists.
      const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash()));
      if (!user || !user.passwordHash || !ok) {
        recordFailure(ctx, keys);
        ctx.logger.info("sign-in failed", { client: clientAddress });
        throw new SignInError("Email or password is incorrect");
      }
      recordSuccess(ctx, keys);
      return { id: user.id };
    }),
    "password",
  );
  return authenticator;
}
