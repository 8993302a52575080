// `ntk dashboard`'s web server: node:http on 127.0.0.1 only. Pages and a JSON API over the result store
// and, when it answers, Temporal. It can read every result and error of the store, so it is not for the
// network: it binds the loopback address, and a request naming any other host (DNS rebinding) is refused.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequest, NotFound, resultsQuery, sweepAttacks, sweepDetail, sweepList, sweepReport, sweepResults, temporalInfo, trialDetail, type DashboardContext } from './data.ts';
import { errorPage, progressPart, resultsPart, sweepPage, sweepsPage, sweepsPart, trialPage, trialStatusPart, type Part } from './pages.ts';

export const DASHBOARD_HOST = '127.0.0.1';
export const DEFAULT_DASHBOARD_PORT = 8265;

type Reply = { status: number; type: 'html' | 'json'; body: string; final?: boolean };

const json = (value: unknown, status = 200): Reply => ({ status, type: 'json', body: JSON.stringify(value, null, 2) });
const htmlReply = (body: string, status = 200): Reply => ({ status, type: 'html', body });
const partReply = (part: Part): Reply => ({ status: 200, type: 'html', body: part.body.text, final: part.final });

/** Host headers this server answers: its own loopback names with its port. */
const allowedHosts = (port: number) => new Set([`${DASHBOARD_HOST}:${port}`, `localhost:${port}`]);

function route(ctx: DashboardContext, url: URL): Promise<Reply> | undefined {
  const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const part = url.searchParams.get('part');
  const [first, id, sub] = segments;
  if (first === 'api') {
    const [, what, ref, more] = segments;
    if (what === 'sweeps' && !ref) return sweepList(ctx).then((v) => json(v));
    if (what === 'sweeps' && ref && !more) return sweepDetail(ctx, ref).then((v) => json(v));
    if (what === 'sweeps' && ref && more === 'results' && segments.length === 4) return sweepResults(ctx, ref, resultsQuery(url.searchParams)).then((v) => json(v));
    if (what === 'sweeps' && ref && more === 'attacks' && segments.length === 4) return sweepAttacks(ctx, ref, resultsQuery(url.searchParams)).then((v) => json(v));
    if (what === 'trials' && ref && !more) return trialDetail(ctx, ref).then((v) => json(v));
    return undefined;
  }
  if (!first) {
    if (part === 'sweeps') return sweepList(ctx).then((l) => partReply(sweepsPart(l.sweeps)));
    if (part !== null) return Promise.reject(new BadRequest(`part: "${part}" is not one of sweeps`));
    return sweepList(ctx).then((l) => htmlReply(sweepsPage(l)));
  }
  if (first === 'sweeps' && id && !sub) return sweepRoute(ctx, id, url.searchParams);
  if (first === 'sweeps' && id && sub === 'report' && segments.length === 3) return sweepReport(ctx, id, resultsQuery(url.searchParams)).then((page) => htmlReply(page));
  if (first === 'trials' && id && !sub) return trialRoute(ctx, id, part);
  return undefined;
}

async function sweepRoute(ctx: DashboardContext, ref: string, params: URLSearchParams): Promise<Reply> {
  const part = params.get('part');
  if (part !== null && part !== 'progress' && part !== 'results') throw new BadRequest(`part: "${part}" is not one of progress, results`);
  const q = resultsQuery(params);
  const detail = await sweepDetail(ctx, ref);
  if (part === 'progress') return partReply(progressPart(detail));
  const results = await sweepResults(ctx, detail.sweep.id, q);
  if (part === 'results') return partReply(resultsPart(results, detail.sweep.status));
  const carried = new URLSearchParams(params);
  carried.delete('part');
  const attacks = await sweepAttacks(ctx, detail.sweep.id, q);
  return htmlReply(sweepPage(detail, results, attacks, q, carried.toString(), await temporalInfo(ctx)));
}

async function trialRoute(ctx: DashboardContext, trialId: string, part: string | null): Promise<Reply> {
  const detail = await trialDetail(ctx, trialId);
  if (part === 'status') return partReply(trialStatusPart(detail));
  if (part !== null) throw new BadRequest(`part: "${part}" is not one of status`);
  return htmlReply(trialPage(detail, await temporalInfo(ctx)));
}

async function answer(ctx: DashboardContext, port: number, request: http.IncomingMessage): Promise<Reply> {
  const url = new URL(request.url ?? '/', `http://${DASHBOARD_HOST}:${port}`);
  const wantsJson = url.pathname.startsWith('/api/');
  const failure = async (status: number, message: string) => (wantsJson ? json({ error: message }, status) : htmlReply(errorPage(status, message, await temporalInfo(ctx)), status));
  if (!allowedHosts(port).has(request.headers.host ?? '')) {
    // No page, no Temporal call: a page that is not ours is asking.
    return { status: 403, type: 'json', body: JSON.stringify({ error: `host "${request.headers.host ?? ''}" refused: the dashboard answers ${[...allowedHosts(port)].join(' and ')} only` }) };
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') return json({ error: `method ${request.method} not allowed: the dashboard only reads` }, 405);
  try {
    const reply = route(ctx, url);
    return reply ? await reply : await failure(404, `no page at ${url.pathname}`);
  } catch (err) {
    if (err instanceof NotFound) return failure(404, err.message);
    if (err instanceof BadRequest) return failure(400, err.message);
    return failure(500, (err as Error).message);
  }
}

export interface Dashboard {
  url: string;
  /** The address the server is bound to, as the OS reports it. */
  address: string;
  port: number;
  close(): Promise<void>;
}

/** Serves the dashboard on 127.0.0.1:`port` (0: any free port) until `close()`. */
export async function startDashboard(ctx: DashboardContext, port: number = DEFAULT_DASHBOARD_PORT): Promise<Dashboard> {
  let bound = port;
  const server = http.createServer((request, response) => {
    answer(ctx, bound, request).then(
      (reply) => {
        response.writeHead(reply.status, {
          'Content-Type': reply.type === 'json' ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
          'X-Frame-Options': 'SAMEORIGIN',
          'Referrer-Policy': 'no-referrer',
          ...(reply.final && { 'X-Live': 'final' }),
        });
        response.end(request.method === 'HEAD' ? undefined : reply.body);
      },
      (err: Error) => {
        response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        response.end(err.message);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${port} on ${DASHBOARD_HOST} is in use: --port picks another (0: any free port)`) : err),
    );
    server.listen(port, DASHBOARD_HOST, () => resolve());
  });
  const { address, port: boundPort } = server.address() as AddressInfo;
  bound = boundPort;
  return {
    url: `http://${DASHBOARD_HOST}:${bound}/`,
    address,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open keep-alive connections (a browser tab) would hold close() forever.
        server.closeAllConnections();
      }),
  };
}
