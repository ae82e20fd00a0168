// Docker and buildx print progress before the error; people need the error line only.

/** The last line that says ERROR/error, else the last non-empty line, with progress noise cut. */
export function lastErrorLine(output: string): string {
  const lines = output
    .split('\n')
    .map(l => l.replace(/^#\d+\s+(?:\d+\.\d+\s+)?/, '').trim())
    .filter(Boolean)
  const error = [...lines].reverse().find(l => /^(ERROR|error)\b|^Error response|^denied|^unauthorized/i.test(l))
  return (error ?? lines[lines.length - 1] ?? 'no output').replace(/^ERROR:\s*/, '')
}
