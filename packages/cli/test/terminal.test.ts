import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Service, startService } from '../src/service.js';
import { repository } from './support/processes.js';

// The output as a real terminal shows it: tmux panes of 80 columns, read with capture-pane.
const tmux = spawnSync('tmux', ['-V']).status === 0;
const reason = 'tmux is not installed (apt-get install tmux): the terminal checks need a real terminal';
if (!tmux) console.warn(`terminal.test.ts skipped: ${reason}`);

const session = `walstream-cli-${process.pid}`;
let service: Service;

beforeAll(async () => {
  if (!tmux) return;
  service = await startService({ pchannels: 3, nodes: 2, listen: '127.0.0.1:0' });
  execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '80', '-y', '40', '-c', repository]);
}, 30_000);

afterAll(async () => {
  if (!tmux) return;
  spawnSync('tmux', ['kill-session', '-t', session]);
  await service?.close();
});

/** Runs `walstream <args>` in a new 80-column tmux window; returns the window's target. */
function window(name: string, command: string): string {
  execFileSync('tmux', [
    'new-window',
    '-t',
    session,
    '-n',
    name,
    '-c',
    repository,
    '-e',
    'TSX_TSCONFIG_PATH=tsconfig.tests.json',
    `${command}; sleep 600`,
  ]);
  return `${session}:${name}`;
}

function screen(target: string): string[] {
  // -J joins wrapped lines: a line wider than the terminal shows up as one line over 80 characters.
  return execFileSync('tmux', ['capture-pane', '-p', '-J', '-t', target], { encoding: 'utf8' }).split('\n');
}

/** Polls the window every 50 ms until `condition` holds of its screen; fails after `timeoutMs`. */
async function waitForScreen(
  target: string,
  condition: (lines: string[]) => boolean,
  what: string,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = screen(target);
    if (condition(lines)) return lines;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; screen:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const walstream = `${process.execPath} --import tsx packages/cli/src/bin.ts`;

describe.skipIf(!tmux)('walstream in an 80-column terminal (tmux)', () => {
  it('status --watch redraws in place and fits 80 columns', async () => {
    const target = window(
      'status',
      `${walstream} status --watch --interval 200ms --coord ${service.address}`,
    );
    const clock = (lines: string[]) => /(\d\d:\d\d:\d\d)$/.exec(lines[0] ?? '')?.[1];
    const first = await waitForScreen(
      target,
      (lines) => lines.some((l) => l.startsWith('PCHANNEL')),
      'the table',
    );
    // A later round (its clock moved on) has replaced the first one on the screen, not been added below it.
    const later = await waitForScreen(
      target,
      (lines) => clock(lines) !== undefined && clock(lines) !== clock(first),
      'a redraw',
    );
    expect(later.filter((line) => line.startsWith('PCHANNEL'))).toHaveLength(1);
    expect(later.filter((line) => /^walstream-\d /.test(line))).toHaveLength(3);
    expect(later.filter((line) => / ok$/.test(line))).toHaveLength(2);
    for (const line of later) expect(line.length).toBeLessThanOrEqual(80);
  }, 30_000);

  it('produce redraws one progress line on stderr, then leaves only the summary', async () => {
    // 40 lines paced by the shell, so that the producer runs long enough for several redraws.
    const input = `for i in $(seq 1 40); do echo "{\\"body\\": $i}"; sleep 0.05; done`;
    const target = window(
      'produce',
      `${input} | ${walstream} produce --coord ${service.address} --vchannel walstream-0_termv0 --create`,
    );
    const progress = (lines: string[]) => lines.filter((line) => line.includes(' acknowledged ('));
    const during = await waitForScreen(target, (lines) => progress(lines).length > 0, 'a progress line');
    expect(progress(during)).toHaveLength(1);
    const after = await waitForScreen(
      target,
      (lines) => lines.some((l) => l.startsWith('produced ')),
      'the summary',
    );
    expect(after.find((line) => line.startsWith('produced '))).toMatch(
      /^produced 40 message\(s\) to walstream-0_termv0/,
    );
    expect(progress(after)).toHaveLength(0);
    for (const line of after) expect(line.length).toBeLessThanOrEqual(80);
  }, 30_000);
});
