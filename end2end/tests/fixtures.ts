import { test as base, expect } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Repository root (end2end/tests/ -> ../..). */
export const repoRoot = path.resolve(__dirname, '../..');

/** A running `portcullis serve` on a fresh SQLite database. */
export interface Server {
  /** e.g. http://127.0.0.1:40123 (no trailing slash) */
  baseURL: string;
  /** the first-owner set-up link the server printed, e.g. http://127.0.0.1:40123/setup?token=… */
  setupURL: string;
  /** the SQLite file behind DATABASE_URL */
  dbPath: string;
  /** everything the server printed so far (stdout and stderr) */
  output(): string;
  /** with demo data: the demo owner's credentials (the set-up link is then empty) */
  demoOwner?: { email: string; password: string };
}

export const OWNER_EMAIL = 'owner@e2e.example';
const START_DEADLINE_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const MAX_LOG_CHARS = 1_000_000;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
const LISTENING = /listening on (https?:\/\/[^\s"'<>]+)/;
const SETUP = /(https?:\/\/[^\s"'<>]+\/setup\?token=[^\s"'<>]+)/;

function serverBinary(): string {
  const fromEnv = process.env.PORTCULLIS_BIN;
  const bin = fromEnv
    ? path.resolve(process.cwd(), fromEnv)
    : path.join(repoRoot, 'target', 'release', 'portcullis');
  if (!fs.existsSync(bin)) {
    throw new Error(`server binary not found at ${bin}: run \`scripts/build-site.sh\` (or make e2e) or set PORTCULLIS_BIN`);
  }
  return bin;
}

export interface Running extends Server {
  stop(): Promise<void>;
}

const DEMO_OWNER = /Sign in as (\S+) with password (\S+)/;

/**
 * Spawns the server and resolves once it has printed its URL and the
 * set-up link. With `demo`, `portcullis demo` loads the sample data first;
 * the server then has an owner and prints no set-up link.
 */
export async function startServer(
  demo = false,
  extraEnv: Record<string, string> = {},
  { alone = false }: { alone?: boolean } = {},
): Promise<Running> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'portcullis-e2e-'));
  const dbPath = path.join(tmp, 'p.db');
  // `alone`: the binary copied into an empty folder and run there with
  // nothing but DATABASE_URL (and a free port) in its environment, as a
  // single-file deployment would run it: no site folder, no repository.
  let bin = serverBinary();
  if (alone) {
    const copy = path.join(tmp, 'portcullis');
    fs.copyFileSync(bin, copy);
    fs.chmodSync(copy, 0o755);
    bin = copy;
  }
  const env: NodeJS.ProcessEnv = alone
    ? { DATABASE_URL: `sqlite:${dbPath}?mode=rwc`, PORTCULLIS_ADDR: '127.0.0.1:0' }
    : {
        ...process.env,
        DATABASE_URL: `sqlite:${dbPath}?mode=rwc`,
        PORTCULLIS_ADDR: '127.0.0.1:0',
        PORTCULLIS_BOOTSTRAP_OWNER_EMAIL: OWNER_EMAIL,
        PORTCULLIS_CONFIG: '',
        NO_COLOR: '1',
        ...extraEnv,
      };
  const cwd = alone ? tmp : repoRoot;
  let demoOwner: { email: string; password: string } | undefined;
  if (demo) {
    const run = spawnSync(bin, ['demo'], { cwd, env, encoding: 'utf8' });
    const m = `${run.stdout}`.match(DEMO_OWNER);
    if (run.status !== 0 || !m) {
      throw new Error(`portcullis demo failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
    }
    demoOwner = { email: m[1], password: m[2] };
  }
  const child: ChildProcess = spawn(bin, ['serve'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let log = '';
  let exited: string | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
      resolve();
    });
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  };

  return new Promise<Running>((resolve, reject) => {
    let baseURL: string | undefined;
    let setupURL: string | undefined;
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      void stop().finally(() =>
        reject(new Error(`portcullis serve ${why}\n--- server output ---\n${log}`)),
      );
    };
    const deadline = setTimeout(
      () => fail(`did not print its URL and set-up link within ${START_DEADLINE_MS / 1000}s`),
      START_DEADLINE_MS,
    );

    // Keep reading both pipes for the whole run so the server never blocks on a full pipe.
    let pending = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8').replace(ANSI, '');
      if (log.length < MAX_LOG_CHARS) log += text;
      if (settled) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        baseURL ??= line.match(LISTENING)?.[1]?.replace(/\/+$/, '');
        setupURL ??= line.match(SETUP)?.[1];
      }
      if (baseURL && (setupURL || demoOwner)) {
        settled = true;
        clearTimeout(deadline);
        resolve({ baseURL, setupURL: setupURL ?? '', dbPath, output: () => log, stop, demoOwner });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => fail(`could not be started: ${err.message}`));
    // 'close' comes after 'exit' once the pipes are drained, so the log is complete.
    child.once('close', () => fail(exited ?? 'exited'));
  });
}

type ServerPool = { get(file: string): Promise<Running> };

export const test = base.extend<
  { server: Server },
  { serverPool: ServerPool; demoData: boolean; serverEnv: Record<string, string> }
>({
  // `test.use({ demoData: true })` in a file: its server starts with `portcullis demo` data.
  demoData: [false, { option: true, scope: 'worker' }],
  // `test.use({ serverEnv: { … } })` in a file: extra environment for its server.
  serverEnv: [{}, { option: true, scope: 'worker' }],

  // One server per test file. Files run one after another in the single worker,
  // so the pool stops the previous file's server when the next file begins,
  // and stops the last one when the worker ends.
  serverPool: [
    async ({ demoData, serverEnv }, use) => {
      let current: { file: string; server: Promise<Running> } | undefined;
      const stopCurrent = async () => {
        const s = await current?.server.catch(() => undefined);
        current = undefined;
        await s?.stop();
      };
      await use({
        async get(file: string) {
          if (current?.file !== file) {
            await stopCurrent();
            current = { file, server: startServer(demoData, serverEnv) };
          }
          return current.server;
        },
      });
      await stopCurrent();
    },
    { scope: 'worker' },
  ],

  server: async ({ serverPool }, use, testInfo) => {
    const server = await serverPool.get(testInfo.file);
    await use(server);
    if (testInfo.status !== testInfo.expectedStatus) {
      await testInfo.attach('server-output.txt', { body: server.output(), contentType: 'text/plain' });
    }
  },

  // page.goto('/…') resolves against the test file's server.
  baseURL: async ({ server }, use) => {
    await use(server.baseURL);
  },
});

export { expect };

/** Signs in as the demo owner through the sign-in page; returns once the Overview is interactive. */
export async function signInAsDemoOwner(page: import('@playwright/test').Page, server: Server) {
  if (!server.demoOwner) throw new Error('this server has no demo data: test.use({ demoData: true })');
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(server.demoOwner.email);
  await page.getByLabel('Password', { exact: true }).fill(server.demoOwner.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  // Interactive before the test goes on: a sidebar link then navigates in
  // the page, and the next page's buttons have their handlers.
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
}

/**
 * Opens a page and waits until it has hydrated. Until then its buttons are
 * server-rendered HTML with no handlers, so a click that opens a dialog or a
 * drawer is lost; on a slow machine the wasm takes seconds to start.
 */
export async function gotoHydrated(page: import('@playwright/test').Page, path: string) {
  await page.goto(path);
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
}

/** `<repo>/artifacts/screenshots/<name>.png`, with the folder created. */
export function screenshotPath(name: string): string {
  const file = path.join(repoRoot, 'artifacts', 'screenshots', `${name}.png`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return file;
}

/** A full-page screenshot of the current page, scrolled to the top. */
export async function shot(page: import('@playwright/test').Page, name: string) {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: screenshotPath(name), fullPage: true });
}

/** Light, dark and phone-width (390 px) screenshots of the current page. */
export async function shots(page: import('@playwright/test').Page, name: string) {
  await shot(page, name);
  // Buttons animate their colours (transition-colors): let a scheme switch
  // finish before the picture, or they are caught half-way.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForTimeout(300);
  await shot(page, `${name}-dark`);
  await page.emulateMedia({ colorScheme: 'light' });
  await page.waitForTimeout(300);
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, `${name}-phone`);
  if (size) await page.setViewportSize(size);
}
