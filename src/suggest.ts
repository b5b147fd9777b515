/**
 * "Did you mean …?" for a misspelt name (an option, a config key, a command
 * flag): the one known name within a small edit distance.
 */

/**
 * The known name closest to `name`, or `undefined` when none is close enough.
 * Case is ignored; swapping two neighbouring letters counts as one edit. Names
 * of up to four characters allow one edit, longer ones two, so short typos
 * are not "corrected" into unrelated words. Failing that, a name of three or
 * more characters that begins exactly one known name suggests that name.
 */
export function closest(name: string, known: Iterable<string>): string | undefined {
  const names = [...known];
  const typed = name.toLowerCase();
  const allowed = typed.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const k of names) {
    const d = editDistance(typed, k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  if (best !== undefined || typed.length < 3) return best;
  // A cut-short name (`--port` for `--port-offset`) is far in edits but plain to a reader, when only one name starts so.
  const longer = names.filter((k) => k.toLowerCase().startsWith(typed));
  return longer.length === 1 ? longer[0] : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function editDistance(a: string, b: string): number {
  // Three rows suffice: a swap looks two rows back.
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] as number) + 1);
      row[j] = d;
    }
    [before, prev, row] = [prev, row, before];
  }
  return prev[b.length] as number;
}

/** `"did you mean port? "` for a close known name, else `""`: a prefix for the rest of a message. */
export function didYouMean(name: string, known: Iterable<string>, show: (guess: string) => string = (g) => g): string {
  const guess = closest(name, known);
  return guess === undefined ? '' : `did you mean ${show(guess)}? `;
}
