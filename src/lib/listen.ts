// The one way a tmuxtrail service starts listening: resolves once the port is bound, with the
// server and its URL (port 0 gives a free port); an address in use or refused is one clear error.

import { type ServerType, serve } from "@hono/node-server";

export interface Listening {
  server: ServerType;
  port: number;
  /** http://host:port, an IPv6 host in brackets. */
  url: string;
}

export function listen(
  fetch: (request: Request) => Response | Promise<Response>,
  port: number,
  host: string,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname: host }, () => {
      const addr = server.address();
      const bound = typeof addr === "object" && addr ? addr.port : port;
      resolve({
        server,
        port: bound,
        url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
      });
    });
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot listen on ${host}:${port}: ${e.code === "EADDRINUSE" ? "the address is in use (another log or service; choose another with --port)" : e.message}`,
        ),
      ),
    );
  });
}
