// Peak memory of one CNN-GAP kernel block for a 10,000-image kernel (issue 3): the inputs must be
// in memory (10,000 × 32×32×3 float64 = 246 MB); the block computation itself should add memory
// proportional to the block (rows × cols pairs, P² = 1,048,576 covariances per pair), not to n.
//   node --import tsx bench/kernel-memory.bench.ts [blockRows]
import fs from 'node:fs';
import { computeKernelBlock } from '@ntk/kernels';
import { zeros } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';

const n = 10_000;
const block = Number(process.argv[2] ?? 4);
const arch = parseArchitecture({ kind: 'cnn', readout: 'gap', depth: 5, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: Math.SQRT2, b_std: 0.1 });
const random = mulberry32(1);
const x = zeros(n, 32 * 32 * 3);
for (let i = 0; i < x.data.length; i++) x.data[i] = random() * 2 - 1;
const rss = () => process.memoryUsage().rss / 2 ** 20;
const beforeMiB = rss();
const start = performance.now();
computeKernelBlock(arch, x, undefined, [0, block], [block, 2 * block], ['nngp', 'ntk'], { inputShape: [32, 32, 3] });
const seconds = (performance.now() - start) / 1000;
const peakMiB = process.resourceUsage().maxRSS / 1024;
const record = { date: new Date().toISOString().slice(0, 10), n, block: `${block}×${block}`, inputsMiB: (x.data.byteLength / 2 ** 20).toFixed(0), rssBeforeBlockMiB: beforeMiB.toFixed(0), peakRssMiB: peakMiB.toFixed(0), blockAddsMiB: (peakMiB - beforeMiB).toFixed(0), seconds: seconds.toFixed(1) };
console.log(JSON.stringify(record));
fs.appendFileSync(new URL('./results/kernel-memory.jsonl', import.meta.url), `${JSON.stringify(record)}\n`);
