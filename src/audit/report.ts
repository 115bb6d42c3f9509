// The result of an audit, and its two renderings: one JSON object (--json) and a short human
// summary that puts the first finding where a reader looks first.

import { printable } from "../core/printable.ts";
import type { Finding } from "./findings.ts";

export interface AuditReport {
  ok: boolean;
  /** Where the log was read: the database, or a served log's tiles. */
  source: "database" | "http";
  /** The audited tree size (log_state.size, or the served checkpoint's size). */
  size: number;
  /** Leaves whose hashes were recomputed. */
  leaves: number;
  /** Hash tiles compared with the rebuilt ones. */
  tiles: number;
  /** Checkpoints whose signature, size and root were checked. */
  checkpoints: number;
  /** Streams (host, server, pane) checked for gaps and duplicates. */
  streams: number;
  /** Payloads whose commitment was recomputed; null when payloads cannot be checked (over tiles). */
  payloads: number | null;
  /** Missing payloads excused by an erasure event at a later index. */
  erased: number;
  /** The first findings, in the order found (the first one first). */
  findings: Finding[];
  /** Findings past those listed, counted only. */
  omitted: number;
  elapsedMs: number;
  /** Set when no --log-key was given and the data directory's own key was trusted. */
  trustedKeyFile?: string;
}

const n = (x: number) => x.toLocaleString("en-US");

export function leavesPerSecond(r: Pick<AuditReport, "leaves" | "elapsedMs">): number {
  return r.elapsedMs > 0 ? Math.round((r.leaves * 1000) / r.elapsedMs) : 0;
}

export function formatReport(r: AuditReport, where: string): string {
  const lines = [
    `audit of ${where}: ${r.ok ? "OK, everything holds" : "FAILED"}`,
    `  tree size    ${n(r.size)}`,
    `  leaves       ${n(r.leaves)} hashed${r.source === "database" ? ", indexed columns compared" : ""}`,
    `  tiles        ${n(r.tiles)} compared`,
    `  checkpoints  ${n(r.checkpoints)} verified`,
    `  streams      ${n(r.streams)} gap- and duplicate-checked`,
    r.payloads === null
      ? "  payloads     not checked: entry bundles carry no payloads (audit the database for that)"
      : `  payloads     ${n(r.payloads)} commitments checked, ${n(r.erased)} erased under an erasure event`,
    `  elapsed      ${(r.elapsedMs / 1000).toFixed(2)}s (${n(leavesPerSecond(r))} leaves/s)`,
  ];
  if (r.trustedKeyFile)
    lines.push(
      `  log key      trusted from ${r.trustedKeyFile} (pass --log-key to check against a key held elsewhere)`,
    );
  if (r.findings.length > 0) {
    const [first, ...rest] = r.findings;
    lines.push("", `FIRST FINDING: [${first!.kind}] ${first!.message}`);
    if (rest.length > 0)
      lines.push("further findings:", ...rest.map((f) => `  [${f.kind}] ${f.message}`));
    if (r.omitted > 0) lines.push(`  … and ${n(r.omitted)} more`);
  }
  // Findings quote hosts, panes and keys from the leaves: escaped before the terminal.
  return lines.map(printable).join("\n");
}
