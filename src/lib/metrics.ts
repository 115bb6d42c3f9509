// A small Prometheus text-format registry (exposition format 0.0.4): counters, gauges and
// histograms with labels. Enough for /metrics without a dependency.

type Labels = Record<string, string>;

const labelKey = (l: Labels) =>
  Object.keys(l)
    .sort()
    .map(
      (k) =>
        `${k}="${String(l[k]).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`,
    )
    .join(",");

export abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge" | "histogram",
  ) {}
  abstract lines(): string[];
}

export class Counter extends Metric {
  private values = new Map<string, number>();
  constructor(name: string, help: string) {
    super(name, help, "counter");
  }
  inc(labels: Labels = {}, n = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + n);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  lines(): string[] {
    if (this.values.size === 0) return [`${this.name} 0`];
    return [...this.values].map(([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${v}`);
  }
}

export class Gauge extends Metric {
  private values = new Map<string, number | (() => number)>();
  constructor(name: string, help: string) {
    super(name, help, "gauge");
  }
  set(value: number | (() => number), labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }
  lines(): string[] {
    return [...this.values].map(
      ([k, v]) => `${this.name}${k ? `{${k}}` : ""} ${typeof v === "function" ? v() : v}`,
    );
  }
}

export class Histogram extends Metric {
  private counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    name: string,
    help: string,
    readonly buckets: number[],
  ) {
    super(name, help, "histogram");
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
  lines(): string[] {
    return [
      ...this.buckets.map((b, i) => `${this.name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    ];
  }
}

export class Registry {
  private metrics: Metric[] = [];
  register<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return `${this.metrics
      .flatMap((m) => [`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...m.lines()])
      .join("\n")}\n`;
  }
}

/** Resident memory and V8 heap of this process, by kind, in bytes (read when scraped). */
export function memoryGauge(): Gauge {
  const g = new Gauge(
    "tmuxtrail_process_memory_bytes",
    "Memory of this process: rss, heap_used, heap_total, external",
  );
  g.set(() => process.memoryUsage.rss(), { kind: "rss" });
  g.set(() => process.memoryUsage().heapUsed, { kind: "heap_used" });
  g.set(() => process.memoryUsage().heapTotal, { kind: "heap_total" });
  g.set(() => process.memoryUsage().external, { kind: "external" });
  return g;
}
