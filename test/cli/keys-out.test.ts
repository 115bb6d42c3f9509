// `keys create --out FILE`: the README's one line that gives an agent or an auditor its token,
// with no copy and paste and no JSON filter: the token goes, alone, into a new owner-only file, is
// printed nowhere, and an existing file is never overwritten (nor is a key created then).

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { agentBed, tempDir } from "../support/agent.ts";
import { runCli } from "../support/cli.ts";
import { ADMIN } from "../support/log.ts";
import { serve } from "../support/serve.ts";

const started = agentBed();

it("writes the token alone into a new mode-600 file and refuses an existing one", {
  timeout: 60_000,
}, async () => {
  const dir = tempDir("tt-keys-out-");
  const s = await serve({ data: join(dir, "log"), schema: started.db?.schema });
  started.procs.push(s.proc);
  process.env.TMUXTRAIL_ADMIN_TOKEN = ADMIN;
  try {
    const file = join(dir, "config", "tmuxtrail", "token");
    const r = await runCli([
      "keys",
      "create",
      "--log",
      s.url,
      "--name",
      "agent web-1",
      "--scope",
      "submit",
      "--host",
      "web-1",
      "--out",
      file,
    ]);
    expect(r.code, r.err).toBe(0);
    const token = readFileSync(file, "utf8");
    expect(token).toMatch(/^tt_\S+\n$/);
    expect(r.out).not.toContain(token.trim());
    expect(r.out).toContain(`token written to ${file}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "config", "tmuxtrail")).mode & 0o777).toBe(0o700);
    // The token is the new key's.
    const self = await fetch(`${s.url}/v1/keys/self`, {
      headers: { Authorization: `Bearer ${token.trim()}` },
    });
    expect(self.status).toBe(200);
    expect(((await self.json()) as { host: string }).host).toBe("web-1");

    // An existing file: exit 2, the file untouched, no key created.
    const before = await runCli(["keys", "list", "--log", s.url, "--json"]);
    const other = join(dir, "existing");
    writeFileSync(other, "keep me\n");
    const again = await runCli([
      "keys",
      "create",
      "--log",
      s.url,
      "--name",
      "x",
      "--scope",
      "read",
      "--out",
      other,
    ]);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/exists; a token file is never overwritten/);
    expect(readFileSync(other, "utf8")).toBe("keep me\n");
    const after = await runCli(["keys", "list", "--log", s.url, "--json"]);
    expect(JSON.parse(after.out)).toHaveLength(JSON.parse(before.out).length);

    // A refused request leaves no empty token file behind.
    const refused = join(dir, "refused");
    process.env.TMUXTRAIL_ADMIN_TOKEN = "tt_not_the_admin";
    const bad = await runCli([
      "keys",
      "create",
      "--log",
      s.url,
      "--name",
      "y",
      "--scope",
      "read",
      "--out",
      refused,
    ]);
    expect(bad.code).toBe(2);
    expect(() => statSync(refused)).toThrow();
  } finally {
    delete process.env.TMUXTRAIL_ADMIN_TOKEN;
  }
});
