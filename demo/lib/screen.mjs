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
  // After a resize the terminal may have re-wrapped the old block, so its row count is unknown: clear the screen.
  let resized = false;
  if (tty) stream.on('resize', () => { resized = true; });
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
      let clear = '';
      if (tty && resized) clear = '\x1b[H\x1b[2J';
      else if (tty && drawnRows > 0) clear = `\x1b[${drawnRows}F\x1b[J`;
      resized = false;
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
