// The deployment files (infra/deploy: Docker Compose, Kubernetes, the image) against the real CLI. They cannot
// run here (no Docker daemon, no cluster), so this pins what a change to the CLI would otherwise break silently:
// the worker command lines, the environment, the artifact mount, GPUs, the drain deadline, the Temporal version.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { parseYaml } from '@ntk/spec';
import type { QueueName } from '@ntk/workflows';
import { REPO_ROOT } from '../test/cli.ts';
import { WORKER_ENVIRONMENT, workerCommand } from './commands/worker.ts';

/** Parsed YAML, checked field by field. */
type Yaml = Record<string, any>;
const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
const DOCKERFILE = 'infra/deploy/Dockerfile';
const compose: Yaml = parseYaml(read('infra/deploy/compose.yaml'));
const k8sFiles = fs.readdirSync(path.join(REPO_ROOT, 'infra/deploy/k8s')).filter((f) => f.endsWith('.yaml'));
const manifests: Yaml[] = k8sFiles.map((f) => parseYaml(read(`infra/deploy/k8s/${f}`)));
const ofKind = (kind: string) => manifests.filter((m) => m.kind === kind);

/** One worker as a deployment file runs it. */
interface DeployedWorker {
  where: string;
  args: string[];
  env: Record<string, string>;
  /** Volume mounts: a shared source (a named volume, a claim) and the path inside the container. */
  mounts: { source: string; target: string }[];
  gpus: number;
  graceSeconds: number;
  /** An override of the image's entrypoint (compose `entrypoint`, k8s `command`): there should be none. */
  entrypoint?: unknown;
}

function composeSeconds(duration: string): number {
  const match = /^(\d+)(s|m)$/.exec(duration);
  assert.ok(match, `stop_grace_period "${duration}": expected like 60s or 2m`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

function composeWorkers(): DeployedWorker[] {
  const services = Object.entries(compose.services as Yaml).filter(([, s]) => s.build?.dockerfile === DOCKERFILE);
  return services.map(([name, s]) => ({
    where: `compose.yaml services.${name}`,
    args: s.command,
    env: s.environment,
    mounts: (s.volumes as string[]).map((v) => ({ source: v.split(':')[0]!, target: v.split(':')[1]! })),
    gpus: ((s.deploy?.resources?.reservations?.devices ?? []) as Yaml[]).filter((d) => d.driver === 'nvidia').reduce((n, d) => n + d.count, 0),
    graceSeconds: composeSeconds(s.stop_grace_period ?? '10s'),
    entrypoint: s.entrypoint,
  }));
}

/** envFrom's ConfigMaps and Secrets, resolved against the manifests, plus explicit env entries. */
function k8sEnvironment(container: Yaml): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const source = ofKind(from.configMapRef ? 'ConfigMap' : 'Secret').find((m) => m.metadata.name === ref.name);
    assert.ok(source, `envFrom names ${ref.name}, which no manifest in infra/deploy/k8s defines`);
    Object.assign(env, source.data, source.stringData);
  }
  for (const { name, value } of container.env ?? []) env[name] = value;
  return env;
}

function k8sWorkers(): DeployedWorker[] {
  return ofKind('Deployment').flatMap((d) => {
    const pod = d.spec.template.spec;
    const claims = new Map<string, string>((pod.volumes ?? []).map((v: Yaml) => [v.name, v.persistentVolumeClaim?.claimName]));
    return (pod.containers as Yaml[]).map((c) => ({
      where: `k8s Deployment ${d.metadata.name}`,
      args: c.args,
      env: k8sEnvironment(c),
      mounts: (c.volumeMounts ?? []).map((m: Yaml) => ({ source: `claim ${claims.get(m.name)}`, target: m.mountPath })),
      gpus: Number(c.resources?.limits?.['nvidia.com/gpu'] ?? 0),
      graceSeconds: pod.terminationGracePeriodSeconds ?? 30,
      entrypoint: c.command,
    }));
  });
}

/** Read inside each test, so a file the helpers cannot follow fails that test with its message. */
const allWorkers = () => [...composeWorkers(), ...k8sWorkers()];

interface WorkerOptions {
  queues: QueueName[];
  backend: string;
  concurrency: number;
  drainTimeout: number;
}

/** Parses `ntk worker …` with the CLI's own definition of the command, its action replaced by a no-op. */
function parseWorkerArgs(where: string, args: string[]): WorkerOptions | undefined {
  assert.equal(args[0], 'worker', `${where}: runs \`ntk ${args.join(' ')}\`, not \`ntk worker\``);
  let parsed: WorkerOptions | undefined;
  const command = workerCommand()
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .action((options) => {
      parsed = options;
    });
  try {
    command.parse(args.slice(1), { from: 'user' });
  } catch (err) {
    // `ntk worker --help` is a valid line that runs nothing.
    if (err instanceof CommanderError && err.code === 'commander.helpDisplayed') return undefined;
    assert.fail(`${where}: \`ntk ${args.join(' ')}\`: ${(err as Error).message}`);
  }
  return parsed;
}

describe('deployment files (infra/deploy) agree with the CLI', () => {
  it('finds the compose and Kubernetes workers, one cpu and one gpu of each', () => {
    assert.deepEqual(allWorkers().map((w) => w.where).sort(), [
      'compose.yaml services.worker-cpu',
      'compose.yaml services.worker-gpu',
      'k8s Deployment ntk-worker-cpu',
      'k8s Deployment ntk-worker-gpu',
    ]);
  });

  it('the image runs the ntk bin directly (exec form), so SIGTERM reaches ntk', () => {
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(read(DOCKERFILE));
    assert.ok(entrypoint, `${DOCKERFILE}: no exec-form ENTRYPOINT ["…"]`);
    const bin = path.posix.join('apps/cli', (JSON.parse(read('apps/cli/package.json')) as { bin: { ntk: string } }).bin.ntk);
    assert.deepEqual(JSON.parse(entrypoint[1]!), ['node', bin]);
    for (const w of allWorkers()) assert.equal(w.entrypoint, undefined, `${w.where}: overrides the image's entrypoint`);
  });

  it("every worker command line parses with `ntk worker`'s own options", () => {
    for (const w of allWorkers()) parseWorkerArgs(w.where, w.args);
  });

  it("docs/DEPLOY.md's `ntk worker` lines parse too", () => {
    const lines = [...read('docs/DEPLOY.md').matchAll(/\bntk (worker\b[^`\n#|]*)/g)].map((m) => m[1]!.trim().split(/\s+/));
    assert.ok(lines.length >= 2, `docs/DEPLOY.md shows ${lines.length} \`ntk worker\` lines`);
    for (const args of lines) parseWorkerArgs('docs/DEPLOY.md', args);
  });

  it('every worker gets the variables a worker needs, and only ones ntk reads', () => {
    const known: string[] = WORKER_ENVIRONMENT.map((v) => v.name);
    for (const w of allWorkers()) {
      for (const name of Object.keys(w.env)) assert.ok(known.includes(name), `${w.where} sets ${name}, which ntk does not read (WORKER_ENVIRONMENT: ${known.join(', ')})`);
      for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'NTK_DATABASE_URL', 'NTK_ARTIFACTS']) assert.ok(w.env[name], `${w.where} does not set ${name}`);
      assert.match(w.env.NTK_DATABASE_URL!, /^postgres(ql)?:\/\//, `${w.where}: NTK_DATABASE_URL`);
    }
  });

  it('each variable of WORKER_ENVIRONMENT is read in the file it names', () => {
    for (const { name, readIn } of WORKER_ENVIRONMENT) {
      assert.match(read(readIn), new RegExp(`\\benv\\.${name}\\b|\\benv\\[['"]${name}['"]\\]`), `${readIn} does not read ${name}`);
    }
  });

  it('the artifact store is one shared volume, mounted at NTK_ARTIFACTS in every worker', () => {
    for (const group of [composeWorkers(), k8sWorkers()]) {
      const sources = group.map((w) => {
        const mount = w.mounts.find((m) => m.target === w.env.NTK_ARTIFACTS);
        assert.ok(mount, `${w.where}: nothing is mounted at NTK_ARTIFACTS=${w.env.NTK_ARTIFACTS}`);
        return mount.source;
      });
      assert.equal(new Set(sources).size, 1, `one artifact volume for all: ${group.map((w, i) => `${w.where} mounts ${sources[i]}`).join('; ')}`);
    }
    assert.ok(Object.keys(compose.volumes).includes(composeWorkers()[0]!.mounts[0]!.source), 'compose: the artifact volume is a named volume');
    const claim = ofKind('PersistentVolumeClaim').find((c) => `claim ${c.metadata.name}` === k8sWorkers()[0]!.mounts[0]!.source);
    assert.ok(claim, 'k8s: the workers mount a PersistentVolumeClaim defined in infra/deploy/k8s');
    assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany'], 'k8s: pods on several nodes mount the artifacts at once');
  });

  it('a gpu worker takes one GPU and runs one gpu-queue task at a time; a cpu worker takes no GPU', () => {
    for (const w of allWorkers()) {
      const options = parseWorkerArgs(w.where, w.args);
      assert.ok(options, `${w.where}: runs no worker`);
      if (options.queues.includes('gpu')) {
        assert.deepEqual(options.queues, ['gpu'], `${w.where}: a GPU process serves only the gpu queue`);
        assert.equal(options.concurrency, 1, `${w.where}: --concurrency`);
        assert.equal(w.gpus, 1, `${w.where}: GPUs requested`);
      } else {
        assert.equal(w.gpus, 0, `${w.where}: a cpu worker holds no GPU`);
      }
    }
  });

  it("workers get longer than their drain timeout before SIGKILL", () => {
    for (const w of allWorkers()) {
      const drain = parseWorkerArgs(w.where, w.args)!.drainTimeout;
      assert.ok(w.graceSeconds > drain, `${w.where}: ${w.graceSeconds} s grace ≤ the worker's --drain-timeout ${drain} s`);
    }
  });

  it('compose runs the Temporal server and web UI versions the bootstrap builds', () => {
    const version = /go\.temporal\.io\/server\/cmd\/server@v([0-9.]+)/.exec(read('infra/scripts/bootstrap.mjs'))?.[1];
    assert.ok(version, 'infra/scripts/bootstrap.mjs names no go.temporal.io/server/cmd/server@v… module');
    const temporalImages = Object.entries(compose.services as Yaml).filter(([, s]) => /^temporalio\/(server|admin-tools):/.test(s.image ?? ''));
    assert.ok(temporalImages.some(([, s]) => s.image.startsWith('temporalio/server:')), 'compose runs temporalio/server');
    for (const [name, s] of temporalImages) assert.equal(s.image.split(':')[1], version, `compose.yaml services.${name}.image`);
    // The web UI is the ui-server version `ntk cluster` runs.
    const uiVersion = /ui-server\/v2\/cmd\/server@v([0-9.]+)/.exec(read('infra/scripts/bootstrap.mjs'))?.[1];
    const ui = Object.entries(compose.services as Yaml).find(([, s]) => (s.image ?? '').startsWith('temporalio/ui:'));
    assert.equal(ui?.[1].image.split(':')[1], uiVersion, 'compose.yaml runs temporalio/ui at the version the bootstrap builds');
  });

  it("compose's addresses name its own services, databases and files", () => {
    const services = compose.services as Yaml;
    const created = [...read('infra/deploy/postgres-init.sql').matchAll(/CREATE DATABASE (\w+)/g)].map((m) => m[1]);
    for (const w of composeWorkers()) {
      const url = new URL(w.env.NTK_DATABASE_URL!);
      assert.ok(services[url.hostname], `${w.where}: NTK_DATABASE_URL host ${url.hostname} is no compose service`);
      assert.ok(created.includes(url.pathname.slice(1)), `${w.where}: database ${url.pathname} is not made by postgres-init.sql`);
      const host = w.env.TEMPORAL_ADDRESS!.split(':')[0]!;
      assert.equal(services[host]?.image?.split(':')[0], 'temporalio/server', `${w.where}: TEMPORAL_ADDRESS ${w.env.TEMPORAL_ADDRESS}`);
    }
    const temporal = services.temporal.environment;
    for (const db of [temporal.DBNAME, temporal.VISIBILITY_DBNAME]) assert.ok(created.includes(db), `temporal's database ${db} is not made by postgres-init.sql`);
    const mounted = (services.temporal.volumes as string[]).map((v) => v.split(':'));
    const config = mounted.find(([, target]) => target === temporal.DYNAMIC_CONFIG_FILE_PATH);
    assert.ok(config && fs.existsSync(path.join(REPO_ROOT, 'infra/deploy', config[0]!)), `DYNAMIC_CONFIG_FILE_PATH ${temporal.DYNAMIC_CONFIG_FILE_PATH} is not a mounted file`);
  });
});
