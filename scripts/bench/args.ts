// Command-line options of the bench scripts: --help prints `help`; an unknown option, or a value
// that is not a whole number (or, for a list, comma-separated whole numbers), ends the run with
// exit code 2 and says which.
import { parseArgs } from "node:util";

type Spec = Record<string, { default?: string; min?: number } | "flag" | "list">;
type Parsed<S extends Spec> = {
  [K in keyof S]: S[K] extends "flag"
    ? boolean
    : S[K] extends "list"
      ? number[] | undefined
      : number;
};

export function benchArgs<S extends Spec>(name: string, help: string, spec: S): Parsed<S> {
  const fail = (why: string): never => {
    process.stderr.write(`${name}: ${why}\n\n${help}`);
    process.exit(2);
  };
  let values: Record<string, string | boolean | undefined> = {};
  try {
    const options = Object.fromEntries(
      Object.entries(spec).map(([k, v]) => [
        k,
        typeof v === "string"
          ? { type: v === "flag" ? ("boolean" as const) : ("string" as const) }
          : { type: "string" as const, default: v.default },
      ]),
    );
    values = parseArgs({ options: { ...options, help: { type: "boolean", short: "h" } } }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(help);
    process.exit(0);
  }
  const out: Record<string, number | number[] | boolean | undefined> = {};
  for (const [k, v] of Object.entries(spec)) {
    if (v === "flag") {
      out[k] = values[k] === true;
      continue;
    }
    if (v === "list") {
      const list = values[k] === undefined ? undefined : String(values[k]).split(",").map(Number);
      if (list?.some((n) => !Number.isInteger(n) || n < 1))
        fail(`--${k} must be whole numbers ≥ 1 separated by commas, not "${values[k]}"`);
      out[k] = list;
      continue;
    }
    const n = Number(values[k]);
    const min = v.min ?? 1;
    if (!Number.isInteger(n) || n < min)
      fail(`--${k} must be a whole number ≥ ${min}, not "${values[k]}"`);
    out[k] = n;
  }
  return out as Parsed<S>;
}
