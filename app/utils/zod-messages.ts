/**
 * Validation messages that do not depend on the zod release: `ifMissing` and `ifWrongType` give a
 * schema its own message when its value is absent, or present but of the wrong type (the other case
 * keeps zod's default), and `stableMessage` words a protocol endpoint's messages.
 */
import type { z } from "zod";

type Issue = { input?: unknown };

/** `message` when the value is absent (undefined). */
export const ifMissing = (message: string) => ({ error: (issue: Issue) => (issue.input === undefined ? message : undefined) });

/** `message` when the value is present but of the wrong type. */
export const ifWrongType = (message: string) => ({ error: (issue: Issue) => (issue.input === undefined ? undefined : message) });

/** A value's type as the messages name it. */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && Number.isNaN(value)) return "nan";
  return typeof value;
}

const quoted = (value: unknown) => `'${String(value).slice(0, 100)}'`;

/**
 * The wording of a protocol endpoint's validation messages (`safeParse(input, { error: stableMessage })`):
 * "Expected string, received number", "String must contain at most 100 character(s)", "Invalid enum
 * value. Expected 'web' | 'native', received 'desktop'". Clients and scripts read these in
 * error_description, so they are written here rather than taken from the zod release of the day.
 */
export function stableMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined ? "Required" : `Expected ${issue.expected}, received ${typeName(issue.input)}`;
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? `at least ${issue.minimum}` : `at most ${issue.maximum}`;
      if (issue.origin === "string") return `String must contain ${bound} character(s)`;
      if (issue.origin === "array") return `Array must contain ${bound} element(s)`;
      return undefined;
    }
    case "invalid_value":
      return `Invalid enum value. Expected ${issue.values.map(quoted).join(" | ")}, received ${quoted(issue.input)}`;
    default:
      return undefined;
  }
}
