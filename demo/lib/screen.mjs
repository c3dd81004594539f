/**
 * Terminal output of the demo: on a TTY a block redrawn in place; otherwise plain lines, one per update, so
 * logs and pipes stay readable.
 */

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/**
 * @param {NodeJS.WriteStream} stream where the live output goes
 * @returns {{ tty: boolean, line: (text: string) => void, draw: (lines: string[]) => void, final: (lines: string[]) => void }}
 */
export function createScreen(stream) {
  const tty = Boolean(stream.isTTY);
  let drawnRows = 0;
  /** Rows a line takes on the terminal, wrapping included. */
  const rows = (text) => Math.max(1, Math.ceil(text.replace(ANSI, '').length / Math.max(20, stream.columns || 80)));
  return {
    tty,
    /** Prints one line below whatever is on screen (the live block, if any, stays). */
    line(text) {
      drawnRows = 0;
      stream.write(`${text}\n`);
    },
    /** Replaces the previously drawn block with `lines` (TTY only; plain streams just get the lines). */
    draw(lines) {
      const clear = tty && drawnRows > 0 ? `\x1b[${drawnRows}F\x1b[J` : '';
      stream.write(`${clear}${lines.join('\n')}\n`);
      drawnRows = tty ? lines.reduce((n, l) => n + rows(l), 0) : 0;
    },
    /** The end-of-run numbers: a terminal keeps its last block on screen; plain output gets them as lines. */
    final(lines) {
      if (!tty) for (const l of lines) stream.write(`${l}\n`);
      drawnRows = 0;
    },
  };
}
