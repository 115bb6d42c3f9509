// A lying log operator for the agent's tests: an HTTP proxy in front of a real `serve` that
// forwards every request (POST /v1/events with its body and token included) and lets the test
// rewrite any answer, answer 503 itself, or never answer at all (a request that times out).
// test/support/lying-proxy.ts does the same for GETs only.

import { createServer } from "node:http";

export interface Exchange {
  method: string;
  path: string;
  /** The real log's answer. */
  status: number;
  body: Uint8Array;
}

/** What the proxy answers instead: another answer, "hang" (never), or undefined (the real one). */
export type Lie = (
  x: Exchange,
) => { status: number; body: Uint8Array | string } | "hang" | undefined;

export interface OperatorProxy {
  url: string;
  close(): Promise<void>;
}

export async function operatorProxy(target: string, lie: Lie): Promise<OperatorProxy> {
  const server = createServer(async (req, res) => {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers: Record<string, string> = {};
      for (const h of ["authorization", "content-type"])
        if (req.headers[h]) headers[h] = String(req.headers[h]);
      const method = req.method ?? "GET";
      const up = await fetch(`${target}${req.url ?? "/"}`, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? undefined : Buffer.concat(chunks),
      });
      const x = {
        method,
        path: req.url ?? "/",
        status: up.status,
        body: new Uint8Array(await up.arrayBuffer()),
      };
      const answer = lie(x) ?? x;
      if (answer === "hang") return; // the socket stays open until the client gives up
      res.writeHead(answer.status, { "Content-Type": "application/octet-stream" });
      res.end(answer.body);
    } catch (e) {
      res.writeHead(502);
      res.end(String(e));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
