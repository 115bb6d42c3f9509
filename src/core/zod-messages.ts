// How src/core words a zod error: its first issue, as "path: message", in zod's English. The
// schemas of src/core are zod/mini (zod's small build: the browser UI verifies bundles with them
// and carries only the parts they use), which, unlike full zod, loads no messages by itself. This
// module loads the English ones, so the texts (in HTTP answers, the CLI and the UI) are the same
// wherever a schema parses, whether or not full zod (the server's routes) is in the same process.

import { config, type core } from "zod/mini";
import en from "zod/v4/locales/en.js";

config(en());

/** The first issue of `error`, as "path: message" (`whole` when it is about the whole value). */
export function issueText(error: core.$ZodError, whole: string): string {
  const i = error.issues[0]!;
  return `${i.path.length ? i.path.join(".") : whole}: ${i.message}`;
}
