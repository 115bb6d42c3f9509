// The bare-HTTP limits for `npm run bench`: a hono endpoint that parses the same JSON bodies as
// POST /v1/events and answers an array of the same shape, without validation, hashing or storage;
// and a GET that answers a proof-sized JSON body, for the read figures.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.post("/v1/events", async (c) => {
  const body = (await c.req.json()) as unknown[];
  return c.json(body.map((_, i) => ({ index: i, leafHash: "", duplicate: false })));
});
const proofLike = JSON.stringify({ index: 1, size: 2, proof: Array(20).fill("x".repeat(44)) });
app.get("/bare", (c) => c.body(proofLike, 200, { "Content-Type": "application/json" }));
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
