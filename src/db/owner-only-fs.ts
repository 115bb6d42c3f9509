// PGlite's file system on a data directory, owner-only: every file and directory the embedded
// database creates or changes the mode of is 0600 / 0700, whatever the process's umask.
//
// Why a umask is not enough: PGlite runs PostgreSQL compiled to WebAssembly over Emscripten's
// NODEFS, whose open(O_CREAT) creates the file and then chmods it to the mode asked for, and
// chmod ignores the umask. Its first start (initdb) asks for 0666 and 0777: measured, 968 of the
// 975 files of a new data directory were world-writable and its 26 directories 0777, so another
// user of the host could read every recorded event from the WAL and edit the log's state. Here the NODEFS node operations that
// create a node or set a mode (`mknod`, `setattr`, the stream's `setattr`: Emscripten's interface
// for file systems, which every path through FS.open, FS.chmod and FS.mkdir goes through) drop
// the group and other bits before they reach node:fs. test/adversarial/local-user-log.test.ts
// checks every mode in a data directory a log wrote under umask 000.

import type { PGlite } from "@electric-sql/pglite";
import { NodeFS } from "@electric-sql/pglite/nodefs";

interface NodeOps {
  mknod?: (parent: unknown, name: string, mode: number, dev: number) => unknown;
  setattr?: (node: unknown, attr: { mode?: number }) => void;
}

const OWNER_ONLY = ~0o077;
const masked = (attr: { mode?: number }) =>
  attr.mode === undefined || attr.mode === null ? attr : { ...attr, mode: attr.mode & OWNER_ONLY };

/** Wraps NODEFS's operations once (the object is shared by every NODEFS mount of the module). */
function restrict(nodefs: { node_ops: NodeOps; stream_ops: NodeOps }): void {
  const ops = nodefs.node_ops as NodeOps & { ownerOnly?: true };
  if (ops.ownerOnly) return;
  ops.ownerOnly = true;
  const { mknod, setattr } = ops;
  if (!mknod || !setattr) throw new Error("PGlite's NODEFS has no mknod/setattr to restrict");
  ops.mknod = (parent, name, mode, dev) => mknod(parent, name, mode & OWNER_ONLY, dev);
  ops.setattr = (node, attr) => setattr(node, masked(attr));
  const stream = nodefs.stream_ops;
  const streamSetattr = stream.setattr;
  if (streamSetattr) stream.setattr = (s, attr) => streamSetattr(s, masked(attr));
}

export class OwnerOnlyNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS["init"]>[1]) {
    const r = await super.init(pg, opts);
    const preRun = r.emscriptenOpts.preRun ?? [];
    r.emscriptenOpts.preRun = [
      (mod: { NODEFS?: { node_ops: NodeOps; stream_ops: NodeOps } }) => {
        if (!mod.NODEFS) throw new Error("PGlite's module has no NODEFS to restrict");
        restrict(mod.NODEFS);
      },
      ...(Array.isArray(preRun) ? preRun : [preRun]),
    ] as typeof preRun;
    return r;
  }
}
