/** The redirect URI policy (decision 006): registration rules and request-time matching. */
import { describe, expect, it } from "vitest";
import { checkRedirectUriForRegistration, redirectUriMatches } from "~/oauth/redirect-uri.server";

describe("RFC 8252 §7.3 / OAuth 2.1 §2.3.1 redirect URI matching", () => {
  const registered = [
    "https://app.example/callback",
    "http://127.0.0.1/callback",
    "http://localhost:8080/cb?x=1",
    "http://[::1]/cb",
    "cursor://anysphere.cursor-retrieval/oauth/callback",
  ];

  it("matches exact strings", async () => {
    for (const uri of registered) expect(redirectUriMatches(registered, uri), uri).toBe(true);
  });

  it("lets the port of a loopback redirect URI differ", async () => {
    expect(redirectUriMatches(registered, "http://127.0.0.1:53412/callback")).toBe(true);
    expect(redirectUriMatches(registered, "http://localhost/cb?x=1")).toBe(true);
    expect(redirectUriMatches(registered, "http://localhost:9/cb?x=1")).toBe(true);
    expect(redirectUriMatches(registered, "http://[::1]:4000/cb")).toBe(true);
  });

  it("still compares everything else of a loopback URI exactly", async () => {
    for (const uri of [
      "http://127.0.0.1:53412/callback/",
      "http://127.0.0.1:53412/callback?x=1",
      "http://localhost:53412/callback", // another loopback host than the registered one
      "http://localhost:9/cb?x=2",
      "https://127.0.0.1:53412/callback",
      "http://127.0.0.1:53412/callback#x",
      "http://127.0.0.1.evil.example/callback",
      "http://127.0.0.1:53412@evil.example/callback",
    ]) {
      expect(redirectUriMatches(registered, uri), uri).toBe(false);
    }
  });

  it("never lets the port of a non-loopback URI differ, nor normalises", async () => {
    for (const uri of [
      "https://app.example:444/callback",
      "https://APP.example/callback",
      "https://app.example/callback/",
      "https://app.example/callback?",
      "https://app.example/Callback",
      "https://app.example/callback/../callback",
      "cursor://anysphere.cursor-retrieval/oauth/callback2",
    ]) {
      expect(redirectUriMatches(registered, uri), uri).toBe(false);
    }
  });
});

describe("RFC 7591 §2 / RFC 8252 §7 redirect URIs a client may register", () => {
  it("accepts https, loopback http and private-use schemes", async () => {
    for (const uri of [
      "https://app.example/callback",
      "https://app.example:8443/cb?tenant=1",
      "http://127.0.0.1/callback",
      "http://localhost:3334/oauth/callback",
      "http://[::1]:80/cb",
      "cursor://anysphere.cursor-retrieval/oauth/callback",
      "com.example.app:/oauth2redirect",
    ]) {
      expect(checkRedirectUriForRegistration(uri), uri).toBeNull();
    }
  });

  it("refuses dangerous or ambiguous URIs with a reason", async () => {
    expect(checkRedirectUriForRegistration("JavaScript:alert(1)")).toBe("The javascript scheme is not allowed in a redirect URI");
    expect(checkRedirectUriForRegistration("blob:https://x/1")).toBe("The blob scheme is not allowed in a redirect URI");
    expect(checkRedirectUriForRegistration("http://10.0.0.1/cb")).toBe(
      "An http redirect URI is only allowed for loopback addresses (localhost, 127.0.0.1, [::1]); use https",
    );
    expect(checkRedirectUriForRegistration("http://localhost.evil.example/cb")).toBe(
      "An http redirect URI is only allowed for loopback addresses (localhost, 127.0.0.1, [::1]); use https",
    );
    expect(checkRedirectUriForRegistration("https://app.example/cb#")).toBe("A redirect URI must not contain a fragment");
    expect(checkRedirectUriForRegistration("https://app.example/*")).toBe("A redirect URI must not contain wildcards");
    expect(checkRedirectUriForRegistration("")).toBe("A redirect URI must be a non-empty string");
    expect(checkRedirectUriForRegistration("https://app.example/" + "a".repeat(2000))).toBe("A redirect URI must be at most 2000 characters");
    expect(checkRedirectUriForRegistration("https://app.example/\ncb")).toBe("A redirect URI must not contain whitespace or control characters");
  });
});
