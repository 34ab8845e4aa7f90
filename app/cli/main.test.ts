import { parseArgs } from "node:util";
import { describe, expect, it } from "vitest";
import { attachDashValues } from "./main.server";

const options = { server: { type: "string" as const }, name: { type: "string" as const }, json: { type: "boolean" as const } };

describe("CLI option values that start with a dash (ids are base64url)", () => {
  it("reads `--server -abc` as the value -abc", () => {
    const args = attachDashValues(["--server", "-Ab3_x", "--name", "ping", "--json"], options);
    const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
    expect(values).toEqual({ server: "-Ab3_x", name: "ping", json: true });
  });

  it("leaves a missing value missing when the next word is another option", () => {
    expect(attachDashValues(["--server", "--json"], options)).toEqual(["--server", "--json"]);
    expect(() => parseArgs({ args: ["--server", "--json"], options, strict: true })).toThrow();
  });

  it("does not touch boolean options, --opt=value forms or unknown options", () => {
    expect(attachDashValues(["--json", "-x"], options)).toEqual(["--json", "-x"]);
    expect(attachDashValues(["--server=-a", "--name", "n"], options)).toEqual(["--server=-a", "--name", "n"]);
    expect(attachDashValues(["--constructor", "-a"], options)).toEqual(["--constructor", "-a"]);
  });
});
