import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/witness/schema.ts",
  out: "./drizzle/witness",
});
