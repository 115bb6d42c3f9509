// `tmuxtrail keys create|list|revoke`: manages API keys of a running log over its admin API.

import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { type Command, parseFlags, UsageError } from "./command.ts";
import { adminToken, requestJson } from "./log-api.ts";

const common = {
  log: { type: "string" as const },
  "token-file": { type: "string" as const },
  json: { type: "boolean" as const },
};

interface Key {
  id: string;
  name: string;
  scopes: string[];
  host: string | null;
  created: string;
  revoked?: string | null;
  token?: string;
}

export const keys: Command = {
  name: "keys",
  help: `Usage:
  tmuxtrail keys create --name NAME --scope submit|read|admin [--scope ...] [--host HOST]
                        [--out FILE]
  tmuxtrail keys list
  tmuxtrail keys revoke ID

Flags (all subcommands):
  --log URL          the log (default http://127.0.0.1:8080)
  --token-file FILE  admin token (default $TMUXTRAIL_ADMIN_TOKEN, else ./data/admin.token,
                     else $TMUXTRAIL_TOKEN)
  --json             print JSON
  --out FILE         create: write the new token, alone, into FILE (a new file, mode 600; its
                     directory is created mode 700), and print it nowhere

A submit key is bound to one host (--host): the log refuses its events for any other host.
The token of a new key is printed once; the log stores only its hash.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === "create") {
      const { values: v } = parseFlags(rest, {
        ...common,
        name: { type: "string" },
        scope: { type: "string", multiple: true },
        host: { type: "string" },
        out: { type: "string" },
      });
      if (!v.name) throw new UsageError("--name is required");
      if (!v.scope?.length) throw new UsageError("at least one --scope is required");
      // The token file exists (empty, owner-only) before the key does: a key is never created
      // whose token has nowhere to go.
      const out = v.out === undefined ? undefined : createTokenFile(v.out);
      let key: Key;
      try {
        key = await requestJson<Key>(v.log ?? "http://127.0.0.1:8080", "/v1/keys", {
          method: "POST",
          ...adminToken(v["token-file"]),
          json: { name: v.name, scopes: v.scope, ...(v.host ? { host: v.host } : {}) },
        });
      } catch (e) {
        if (out) {
          closeSync(out.fd);
          rmSync(out.file, { force: true });
        }
        throw e;
      }
      if (out) {
        writeSync(out.fd, `${key.token}\n`);
        fsyncSync(out.fd);
        closeSync(out.fd);
        const { token: _, ...shown } = key;
        if (v.json) console.log(JSON.stringify({ ...shown, tokenFile: out.file }));
        else
          console.log(
            `created ${key.id} (${key.name}, scopes ${key.scopes.join(",")}${key.host ? `, host ${key.host}` : ""}); token written to ${out.file}`,
          );
      } else if (v.json) console.log(JSON.stringify(key));
      else {
        console.log(
          `created ${key.id} (${key.name}, scopes ${key.scopes.join(",")}${key.host ? `, host ${key.host}` : ""})`,
        );
        console.log(`token: ${key.token}`);
        console.log("(shown once: store it now, e.g. in a file with mode 600)");
      }
      return 0;
    }
    if (sub === "list") {
      const { values: v } = parseFlags(rest, common);
      const list = await requestJson<Key[]>(v.log ?? "http://127.0.0.1:8080", "/v1/keys", {
        ...adminToken(v["token-file"]),
      });
      if (v.json) console.log(JSON.stringify(list));
      else {
        for (const k of list) {
          console.log(
            `${k.id}  ${k.name}  ${k.scopes.join(",")}  ${k.host ?? "-"}  created ${k.created}${k.revoked ? `  REVOKED ${k.revoked}` : ""}`,
          );
        }
      }
      return 0;
    }
    if (sub === "revoke") {
      const { values: v, positionals } = parseFlags(rest, common, true);
      if (positionals.length !== 1) throw new UsageError("expected exactly one key ID");
      const key = await requestJson<Key>(
        v.log ?? "http://127.0.0.1:8080",
        `/v1/keys/${encodeURIComponent(positionals[0]!)}`,
        {
          method: "DELETE",
          ...adminToken(v["token-file"]),
        },
      );
      console.log(v.json ? JSON.stringify(key) : `revoked ${key.id} (${key.name})`);
      return 0;
    }
    throw new UsageError(sub ? `unknown subcommand "${sub}"` : "expected create, list or revoke");
  },
};

/** A new, empty, owner-only file for a token; an existing file is never overwritten. */
function createTokenFile(file: string): { file: string; fd: number } {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    return { file, fd: openSync(file, "wx", 0o600) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "EEXIST"
        ? `--out ${file}: the file exists; a token file is never overwritten (remove it, or revoke its key first)`
        : `--out ${file}: ${(e as Error).message}`,
    );
  }
}
