// The Node bundle of tfjs-core (dist/tf-core.node.js) ships no gradient definitions; the umbrella
// @tensorflow/tfjs package normally adds them. They exist only as the ES-module tree under dist/,
// whose extensionless and file-vs-directory imports ('./gradients') Node's ESM resolver rejects, so
// they are loaded through require (CommonJS resolution; tsx converts the ES syntax). That tree is a
// second copy of tfjs-core, which is supported: the engine, kernel and gradient registries live on
// globalThis. Loading it costs ~2 s, so it happens once, and only where gradients are needed.
import { createRequire } from 'node:module';

let registered = false;

export function ensureGradients(): void {
  if (registered) return;
  createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients');
  registered = true;
}
