import { describe, expect, it } from "vitest";
import { checkPageForm, MAX_PAGE_FORM_BYTES } from "~/http/page-form.server";

const post = (path: string, form: FormData) => new Request(`http://localhost:3000${path}`, { method: "POST", body: form });
const withFiles = (n: number, size = 10) => {
  const form = new FormData();
  form.set("csrf", "x");
  for (let i = 0; i < n; i++) form.append("file", new File(["a".repeat(size)], `doc${i}.yaml`));
  return form;
};

describe("page forms and the one upload page (decision 044)", () => {
  it("the import page takes one document, larger than other forms may be; not two", async () => {
    const one = await checkPageForm(post("/servers/s1/import", withFiles(1, MAX_PAGE_FORM_BYTES + 10)));
    expect(one).toBeInstanceOf(Request);
    const form = await (one as Request).formData();
    expect((form.get("file") as File).size).toBe(MAX_PAGE_FORM_BYTES + 10);
    const two = (await checkPageForm(post("/servers/s1/import", withFiles(2)))) as Response;
    expect([two.status, await two.text()]).toEqual([400, "Upload one document."]);
  });

  it("every other page still takes no files and at most 1 MiB", async () => {
    const file = (await checkPageForm(post("/servers/s1", withFiles(1)))) as Response;
    expect([file.status, await file.text()]).toEqual([400, "This form takes no files."]);
    const big = new FormData();
    big.set("document", "a".repeat(MAX_PAGE_FORM_BYTES + 10));
    expect(((await checkPageForm(post("/servers/s1/tools/new", big))) as Response).status).toBe(413);
    const nested = (await checkPageForm(post("/servers/s1/import/x", withFiles(1)))) as Response;
    expect(nested.status).toBe(400);
  });
});
