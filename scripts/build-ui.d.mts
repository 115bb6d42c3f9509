export const DEFAULT_UI_DIR: string;
export function buildUi(outDir?: string): Promise<string>;
