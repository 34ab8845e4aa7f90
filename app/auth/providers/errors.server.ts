/**
 * Why a provider sign-in was refused. The code travels to the sign-in page in the query string
 * (`?error=<code>`); the page shows the fixed message for it, never text from the provider.
 */
export const providerErrorMessages = {
  denied: "Sign-in was cancelled at the identity provider.",
  state: "This sign-in attempt is no longer valid. Please try again.",
  expired: "This sign-in attempt expired. Please try again.",
  token: "The identity provider's response could not be verified. Please try again.",
  unverified: "Your identity provider did not confirm your email address, so it cannot be used to sign in.",
  refused: "Your account is not allowed to sign in to this workspace. Ask the workspace owner for an invitation.",
  exists:
    "An account with this email already exists. Sign in with your password; signing in to it through a provider is not allowed here.",
  provider: "The identity provider could not complete the sign-in. Please try again later.",
  form: "This sign-in form has expired. Please try again.",
} as const;

export type ProviderErrorCode = keyof typeof providerErrorMessages;

export class ProviderSignInError extends Error {
  override name = "ProviderSignInError";
  constructor(
    readonly code: ProviderErrorCode,
    /** Logged, never shown: what exactly went wrong. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options);
  }
}

export function providerErrorMessage(code: string | null): string | null {
  if (!code || !Object.hasOwn(providerErrorMessages, code)) return null;
  return providerErrorMessages[code as ProviderErrorCode];
}

/** Where a refused provider sign-in lands: the sign-in page with a fixed message and the returnTo kept. */
export function signInErrorUrl(code: ProviderErrorCode, returnTo: string): string {
  const params = new URLSearchParams({ error: code });
  if (returnTo !== "/") params.set("returnTo", returnTo);
  return `/sign-in?${params.toString()}`;
}
