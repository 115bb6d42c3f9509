// tmuxtrail command line: dispatches to one module per command.
export async function main(argv: string[]): Promise<number> {
  console.log(`tmuxtrail ${argv.join(" ")}`);
  return 0;
}
