/** Quotes a path for the shell commands that error messages suggest (`chmod 600 '<path>'`). */
export function shellQuote(path: string): string {
  if (/^[A-Za-z0-9_./,:@%+=-]+$/.test(path)) return path;
  return `'${path.replaceAll("'", `'\\''`)}'`;
}
