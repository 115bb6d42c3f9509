// The trust policy the browser verifies with: the log verifier key, the witness cosignature keys and
// the quorum, all chosen by the user and pinned in localStorage, which is per origin: per log when
// the log serves the UI, but one pin for every log read through one `tmuxtrail ui` port (reading
// another log with it then fails verification until the user pins that log's policy). Verification uses only the pinned policy: neither the server (GET /, whose keys
// only prefill an empty form) nor a bundle (whose `keys` are hints) can lower it. The user changes
// it only by saving the trust form, which shows what is pinned.

import { cosignatureVerifierKey, parseLogVerifierKey, parseVerifierKey } from "../core/keys.ts";
import { quorumWarning as quorumRuleWarning } from "../core/quorum.ts";
import { h } from "./dom.ts";

export interface TrustPolicy {
  logKey: string;
  witnessKeys: string[];
  quorum: number;
}

const LOG_KEY = "tmuxtrail.logKey";
const WITNESS_KEYS = "tmuxtrail.witnessKeys";
const QUORUM = "tmuxtrail.quorum";

/** The pinned policy, or undefined when no log key is pinned (or what is stored is not valid). */
export function pinnedPolicy(): TrustPolicy | undefined {
  const logKey = localStorage.getItem(LOG_KEY);
  if (!logKey) return undefined;
  try {
    const witnessKeys = JSON.parse(localStorage.getItem(WITNESS_KEYS) ?? "[]") as unknown;
    const quorum = Number(localStorage.getItem(QUORUM) ?? "0");
    return checkPolicy(logKey, Array.isArray(witnessKeys) ? witnessKeys.map(String) : [], quorum);
  } catch {
    return undefined;
  }
}

export function pinPolicy(p: TrustPolicy): void {
  localStorage.setItem(LOG_KEY, p.logKey);
  localStorage.setItem(WITNESS_KEYS, JSON.stringify(p.witnessKeys));
  localStorage.setItem(QUORUM, String(p.quorum));
}

/** A policy from the user's input; throws an Error saying what is wrong with it. */
export function checkPolicy(logKey: string, witnessKeys: string[], quorum: number): TrustPolicy {
  try {
    parseLogVerifierKey(logKey);
  } catch (e) {
    throw new Error(`not a log verifier key: ${(e as Error).message}`);
  }
  const seen = new Set<string>();
  for (const k of witnessKeys) {
    // cosignatureVerifierKey would accept a signer key too: never keep a private key here.
    if (k.startsWith("PRIVATE+KEY+")) {
      throw new Error("that is a witness's private signer key: paste its public verifier key");
    }
    try {
      const key = cosignatureVerifierKey(k);
      parseVerifierKey(key);
      if (seen.has(key)) throw new Error("listed twice");
      seen.add(key);
    } catch (e) {
      throw new Error(`not a witness verifier key (${k.slice(0, 40)}): ${(e as Error).message}`);
    }
  }
  if (!Number.isInteger(quorum) || quorum < 0 || quorum > witnessKeys.length) {
    throw new Error(
      `the quorum must be a whole number from 0 to the number of witness keys (${witnessKeys.length})`,
    );
  }
  return { logKey, witnessKeys, quorum };
}

/** The key's name (the text before the first "+"). */
export const keyName = (key: string) => key.slice(0, Math.max(0, key.indexOf("+"))) || key;

/** One line naming a policy, for the badge and the trust page. */
export function describePolicy(p: TrustPolicy): string {
  const witnesses =
    p.witnessKeys.length === 0
      ? "no witnesses"
      : `${p.quorum} of ${p.witnessKeys.length} witnesses (${p.witnessKeys.map(keyName).join(", ")})`;
  return `log key ${keyName(p.logKey)}, ${witnesses}`;
}

/** Why the policy cannot rule out a split view (src/core/quorum.ts, the rule 2k > n), or undefined. */
export function quorumWarning(p: TrustPolicy): string | undefined {
  if (p.witnessKeys.length === 0) {
    return "No witnesses are required: this browser cannot tell whether the log shows others another history.";
  }
  const w = quorumRuleWarning(p.quorum, p.witnessKeys.length);
  return w && w.charAt(0).toUpperCase() + w.slice(1);
}

/**
 * The trust form's fields, prefilled with the pinned policy or else with what the log announces
 * (a suggestion the user confirms by saving). `read()` returns the checked policy or throws.
 */
export function trustFields(suggested?: {
  verifierKey?: string;
  witnesses?: string[];
  witnessQuorum?: number;
}): {
  fields: HTMLElement[];
  read(): TrustPolicy;
} {
  const pinned = pinnedPolicy();
  const logKey = h("input", {
    type: "text",
    name: "logKey",
    id: "logKey",
    value: pinned?.logKey ?? suggested?.verifierKey ?? "",
    required: true,
  }) as HTMLInputElement;
  const witnesses = h(
    "textarea",
    { name: "witnessKeys", id: "witnessKeys", rows: 3, spellcheck: "false" },
    (pinned?.witnessKeys ?? suggested?.witnesses ?? []).join("\n"),
  ) as HTMLTextAreaElement;
  const quorum = h("input", {
    type: "number",
    name: "quorum",
    id: "quorum",
    min: 0,
    value: pinned?.quorum ?? suggested?.witnessQuorum ?? 0,
  }) as HTMLInputElement;
  return {
    fields: [
      h("label", { for: "logKey" }, "Log verifier key to trust"),
      logKey,
      h(
        "p.muted",
        {},
        "Verification in this browser trusts only this key. Paste the key your operator gave you out of band; a key prefilled from what the log announces is only as good as the log.",
      ),
      h("label", { for: "witnessKeys" }, "Witness verifier keys to require (one per line)"),
      witnesses,
      h("label", { for: "quorum" }, "Witness cosignatures required (quorum)"),
      quorum,
      h(
        "p.muted",
        {},
        "A checkpoint counts only with this many cosignatures from these witnesses, whatever a session bundle or the log says. Require more than half of them, so that no two groups of witnesses can each be shown another tree.",
      ),
    ],
    read: () =>
      checkPolicy(
        logKey.value.trim(),
        witnesses.value
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean),
        quorum.value.trim() === "" ? 0 : Number(quorum.value),
      ),
  };
}
