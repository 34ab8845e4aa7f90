import { Authenticator } from "remix-auth";
import { FormStrategy } from "remix-auth-form";
import type { AppContext } from "~/context.server";
import { dummyPasswordHash, verifyPassword } from "~/utils/crypto.server";
import { readDeviceCookie } from "./device-cookie.server";
import { deviceKeys, recordFailure, recordSuccess, retryAfterMs, untrustedKeys } from "./throttle.server";
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
export async function createAuthenticator(ctx: AppContext, clientAddress: string) {
  const authenticator = new Authenticator<AuthUser>();
  authenticator.use(
    new FormStrategy(async ({ form, request }) => {
      const email = String(form.get("email") ?? "").trim().toLowerCase();
      const password = String(form.get("password") ?? "");
      if (!email) throw new SignInError("Enter your email address", 400);
      if (!password) throw new SignInError("Enter your password", 400);
      if (email.length > 254 || password.length > 256) throw new SignInError("Email or password is incorrect");
      const user = await findUserByEmail(ctx, email);
      // A browser the account's owner signed in with before is judged on its own failures (decision
      // 030); a device cookie that has seen too many is no longer trusted, and neither is one for
      // another account, a forged one or none.
      const device = readDeviceCookie(ctx, request);
      const ownDevice = device !== null && user && device.userId === user.id ? deviceKeys(device.nonce) : null;
      const trusted = ownDevice !== null && await retryAfterMs(ctx, ownDevice) === 0;
      const keys = trusted ? ownDevice : untrustedKeys(email, clientAddress);
      const wait = trusted ? 0 : await retryAfterMs(ctx, keys);
      if (wait > 0) {
        const seconds = Math.ceil(wait / 1000);
        throw new SignInError(
          `Too many failed sign-in attempts. Try again in ${seconds} second${seconds === 1 ? "" : "s"}.`,
          429,
          seconds,
        );
      }
      // Always spend one scrypt so response time does not tell whether the account exists.
      const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash()));
      if (!user || !user.passwordHash || !ok) {
        await recordFailure(ctx, keys);
        ctx.logger.info("sign-in failed", { client: clientAddress, trustedDevice: trusted });
        throw new SignInError("Email or password is incorrect");
      }
      await recordSuccess(ctx, keys);
      return { id: user.id };
    }),
    "password",
  );
  return authenticator;
}
