// Headless Chromium for tests of pages we write or serve (the sweep report, the dashboard): Debian's
// `chromium` (installed by `npm test`'s setup) driven by playwright-core, with the network cut off
// except for origins a test names, so a page that needs the internet fails here as it would offline.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** CHROMIUM_PATH, else the first system Chromium found. */
export function chromiumPath(): string {
  const found = process.env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
  if (!found || !fs.existsSync(found)) {
    throw new Error(`no Chromium at ${process.env.CHROMIUM_PATH ?? CHROMIUM_CANDIDATES.join(', ')}: \`npm test\` installs Debian's chromium as root (apt-get install -y chromium), or set CHROMIUM_PATH`);
  }
  return found;
}

export interface OpenedPage {
  page: Page;
  /** Uncaught exceptions and console errors of the page, in order. */
  errors: string[];
}

export interface BrowserSession {
  /** A new tab on a file path, a URL (file:, http: of an allowed origin) or an HTML string. */
  open(target: { file: string } | { url: string } | { html: string }): Promise<OpenedPage>;
  /** Every request the session refused (anything not file:, data:, blob: or an allowed origin). */
  blockedRequests: string[];
  close(): Promise<void>;
}

/**
 * Launches headless Chromium with the network off. `allowOrigins` (e.g. "http://127.0.0.1:8123") lets a
 * test reach a server of its own; without it the context is also offline, as a laptop on a plane.
 */
export async function openBrowser(options: { allowOrigins?: string[] } = {}): Promise<BrowserSession> {
  const allowed = options.allowOrigins ?? [];
  // Root (CI) cannot use Chromium's user-namespace sandbox.
  const browser: Browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  let context: BrowserContext;
  try {
    context = await browser.newContext({ offline: allowed.length === 0, viewport: { width: 1280, height: 900 } });
  } catch (err) {
    await browser.close();
    throw err;
  }
  const blockedRequests: string[] = [];
  await context.route(
    (url) => !['file:', 'data:', 'blob:'].includes(url.protocol) && !allowed.includes(url.origin),
    (route) => {
      blockedRequests.push(route.request().url());
      return route.abort('internetdisconnected');
    },
  );
  return {
    blockedRequests,
    async open(target) {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
      });
      if ('html' in target) await page.setContent(target.html);
      else await page.goto('file' in target ? pathToFileURL(target.file).href : target.url);
      return { page, errors };
    },
    close: () => browser.close(),
  };
}

/**
 * Distinct colours in a PNG (a screenshot), decoded by the browser itself: 1 means a blank picture.
 * Counts at most `limit` (enough to tell a drawing from a fill).
 */
export async function distinctColors(page: Page, png: Buffer, limit = 64): Promise<number> {
  // A string, not a function: this package type-checks without the DOM library.
  return page.evaluate(`(async () => {
    const image = new Image();
    image.src = 'data:image/png;base64,${png.toString('base64')}';
    await image.decode();
    const canvas = document.createElement('canvas');
    canvas.width = image.width;
    canvas.height = image.height;
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const pixels = new Uint32Array(context.getImageData(0, 0, image.width, image.height).data.buffer);
    const colors = new Set();
    for (const p of pixels) if (colors.add(p).size >= ${limit}) break;
    return colors.size;
  })()`);
}
