// A plain static file server, as a mirror would be served by any web server: GET of a regular
// file under the root answers its bytes, anything else (directories, dotfiles, paths leaving the
// root, other methods) is 404. It knows nothing about tlog-tiles.

import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { join, resolve, sep } from "node:path";

export interface StaticServer {
  url: string;
  /** Every path asked for, in order. */
  paths: string[];
  close(): Promise<void>;
}

export async function staticServer(root: string): Promise<StaticServer> {
  const base = resolve(root);
  const paths: string[] = [];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    paths.push(path);
    const notFound = () => {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found\n");
    };
    const parts = path.split("/").filter(Boolean);
    if (req.method !== "GET" || parts.some((p) => p.startsWith("."))) return notFound();
    const file = resolve(join(base, ...parts));
    if (!file.startsWith(base + sep)) return notFound();
    try {
      if (!(await stat(file)).isFile()) return notFound();
      const body = await readFile(file);
      res.writeHead(200, {
        "Content-Type": "application/octet-stream",
        "Content-Length": String(body.length),
      });
      res.end(body);
    } catch {
      notFound();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
